"""Tokens, and when they are fresh: pure functions, no I/O, every clock reading passed in.

Freshness in three numbers (google-auth's `credentials.py` keeps it this small too):

* hard expiry      = issued + lifetime - leeway, leeway = min(CLOCK_SKEW, lifetime / 2);
                     no caller ever receives a token past it.
* refresh-ahead    = issued + lifetime * uniform(*REFRESH_AHEAD), never later than hard expiry;
                     the first caller past it refreshes, the others keep the current token.
* after a failed refresh-ahead the next attempt waits REFRESH_BACKOFF (doubling, capped),
  so an outage costs one request per backoff step, not one per call.

"issued" is the clock reading taken *before* the request was sent, so a slow response never
stretches a token's life. Inside one process the anchor is `time.monotonic()`; a `Token` itself
carries wall-clock times (`issued_at`, `expires_at`) because it may be shared between processes
and hosts through a cache, and monotonic time means nothing outside its own process.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from attrs import field, frozen

from ._exceptions import TokenError

__all__ = [
    "CLOCK_SKEW",
    "MAX_LIFETIME",
    "REFRESH_AHEAD",
    "REFRESH_BACKOFF",
    "Schedule",
    "Token",
    "decode_jwt_unverified",
    "parse_token_response",
    "refresh_fraction",
    "retry_refresh_at",
    "schedule",
    "schedule_cached",
]

#: Seconds before `expires_at` at which a token stops being handed out (clock-skew leeway).
CLOCK_SKEW = 30.0
#: The refresh-ahead point, as a fraction of the lifetime, drawn uniformly from this range.
REFRESH_AHEAD = (0.75, 0.90)
#: The longest `expires_in` accepted (10 years): anything longer is a broken server.
MAX_LIFETIME = 10 * 365 * 86400
#: (first, maximum) seconds to wait before retrying a failed refresh-ahead; doubles per failure.
REFRESH_BACKOFF = (1.0, 60.0)


def _to_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def _cached_time(ts: float) -> datetime:
    """A timestamp from a cache as a datetime; ValueError for inf, NaN or out of range."""
    try:
        value = float(ts)
        if not math.isfinite(value):
            raise ValueError("not finite")
        return _to_datetime(value)
    except (ValueError, OverflowError, OSError):
        raise ValueError("not a cached token: issued_at or expires_at out of range") from None


@frozen
class Token:
    """An access token as issued by the token endpoint.

    `issued_at` and `expires_at` are timezone-aware UTC datetimes (wall clock); `issued_at`
    is when the request was *sent*. The token strings are bearer secrets and stay out of repr.
    """

    access_token: str = field(repr=False)
    token_type: str
    scope: frozenset[str]
    issued_at: datetime
    expires_at: datetime
    id_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)

    @property
    def lifetime(self) -> float:
        """Seconds between `issued_at` and `expires_at`."""
        return (self.expires_at - self.issued_at).total_seconds()

    def claims(self) -> dict[str, Any]:
        """The access token's JWT payload, decoded WITHOUT verifying its signature.

        For display and debugging only: nothing here is authenticated, so never base an
        authorization decision on it. Raises ValueError when the token is not a JWT.
        """
        return decode_jwt_unverified(self.access_token)[1]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict for caches (times as seconds since the epoch). No client secret."""
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "scope": " ".join(sorted(self.scope)),
            "issued_at": self.issued_at.timestamp(),
            "expires_at": self.expires_at.timestamp(),
            "id_token": self.id_token,
            "refresh_token": self.refresh_token,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Token:
        """The inverse of `to_dict()`; raises ValueError on anything malformed."""
        try:
            access_token = data["access_token"]
            token_type = data["token_type"]
            scope = data["scope"]
            issued_at = data["issued_at"]
            expires_at = data["expires_at"]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a cached token: missing {exc}") from None
        id_token = data.get("id_token")
        refresh_token = data.get("refresh_token")
        if not (isinstance(access_token, str) and access_token and isinstance(token_type, str)):
            raise ValueError("not a cached token: bad access_token or token_type")
        if not isinstance(scope, str):
            raise ValueError("not a cached token: bad scope")
        times = []
        for ts in (issued_at, expires_at):
            if isinstance(ts, bool) or not isinstance(ts, int | float):
                raise ValueError("not a cached token: bad issued_at or expires_at")
            times.append(_cached_time(ts))
        for optional in (id_token, refresh_token):
            if optional is not None and not isinstance(optional, str):
                raise ValueError("not a cached token: bad id_token or refresh_token")
        return cls(
            access_token=access_token,
            token_type=token_type,
            scope=frozenset(scope.split()),
            issued_at=times[0],
            expires_at=times[1],
            id_token=id_token,
            refresh_token=refresh_token,
        )


def _b64url_json(segment: str) -> dict[str, Any]:
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("JWT segment is not a JSON object")
    return value


def decode_jwt_unverified(jwt: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a compact JWS, UNVERIFIED: the signature is not checked."""
    parts = jwt.split(".")
    if len(parts) != 3:
        raise ValueError("not a JWT: expected three dot-separated segments")
    try:
        return _b64url_json(parts[0]), _b64url_json(parts[1])
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a JWT: {exc}") from None


def _invalid(detail: str) -> TokenError:
    return TokenError(
        f"200 OK but not a usable token response: {detail}",
        status_code=200,
        error="invalid_response",
        error_description=detail,
    )


def parse_token_response(
    data: Mapping[str, Any], *, requested_scope: frozenset[str], issued_at: float
) -> Token:
    """Build a `Token` from a 200 body; `issued_at` is the wall clock read before sending.

    A missing or ill-typed field raises `TokenError` (never KeyError/TypeError). RFC 6749
    §5.1: an omitted `scope` means the requested scope was granted.
    """
    access_token = data.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise _invalid("no access_token")
    token_type = data.get("token_type")
    if not isinstance(token_type, str) or not token_type:
        raise _invalid("no token_type")
    expires_in = data.get("expires_in")
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in < 1:
        raise _invalid("expires_in is not a positive integer")
    if expires_in > MAX_LIFETIME:
        raise _invalid(f"expires_in {expires_in} is more than {MAX_LIFETIME} s (10 years)")
    scope = data.get("scope")
    if scope is not None and not isinstance(scope, str):
        raise _invalid("scope is not a string")
    id_token = data.get("id_token")
    refresh_token = data.get("refresh_token")
    if id_token is not None and not isinstance(id_token, str):
        raise _invalid("id_token is not a string")
    if refresh_token is not None and not isinstance(refresh_token, str):
        raise _invalid("refresh_token is not a string")
    return Token(
        access_token=access_token,
        token_type=token_type,
        scope=frozenset(scope.split()) if scope is not None else requested_scope,
        issued_at=_to_datetime(issued_at),
        expires_at=_to_datetime(issued_at + expires_in),
        id_token=id_token,
        refresh_token=refresh_token,
    )


class Schedule(NamedTuple):
    """When to refresh ahead and when a token is no longer handed out (one clock)."""

    refresh_at: float
    hard_expiry: float


def refresh_fraction(rand: float) -> float:
    """Map `rand` in [0, 1) onto the REFRESH_AHEAD range."""
    low, high = REFRESH_AHEAD
    return low + (high - low) * rand


def schedule(anchor: float, lifetime: float, fraction: float) -> Schedule:
    """Refresh-ahead point and hard expiry of a token issued at `anchor`.

    The leeway is capped at half the lifetime so a short-lived token is not born expired.
    """
    hard_expiry = anchor + lifetime - min(CLOCK_SKEW, lifetime / 2)
    return Schedule(min(anchor + lifetime * fraction, hard_expiry), hard_expiry)


def schedule_cached(token: Token, *, now: float, wall_now: float, fraction: float) -> Schedule:
    """`schedule()` on the clock behind `now` for a token carrying wall-clock times
    (e.g. one read from a shared cache)."""
    anchor = now + (token.issued_at.timestamp() - wall_now)
    return schedule(anchor, token.lifetime, fraction)


def retry_refresh_at(now: float, failures: int, hard_expiry: float, rand: float) -> float:
    """When to try again after `failures` (>= 1) failed refresh-aheads in a row.

    Exponential from REFRESH_BACKOFF[0], capped at REFRESH_BACKOFF[1], with the upper half
    jittered; never later than the hard expiry (past it callers wait for a fetch anyway).
    """
    first, cap = REFRESH_BACKOFF
    delay = min(cap, first * 2.0 ** (failures - 1))
    return min(now + delay * (0.5 + rand / 2), hard_expiry)
