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
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from ._entry import (
    MAX_LIFETIME,
    Entry,
    EntryError,
    check_access_token,
    check_optional_token,
    check_scope,
    check_token_type,
    from_mapping,
    sign,
    to_mapping,
)
from ._exceptions import TokenError
from ._expiry import CLOCK_SKEW, hard_expiry
from ._frozen import Frozen, replace

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

#: The refresh-ahead point, as a fraction of the lifetime, drawn uniformly from this range.
REFRESH_AHEAD = (0.75, 0.90)
#: (first, maximum) seconds to wait before retrying a failed refresh-ahead; doubles per failure.
REFRESH_BACKOFF = (1.0, 60.0)


def _to_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


class Token(Frozen):
    """An access token as issued by the token endpoint.

    `issued_at` and `expires_at` are timezone-aware UTC datetimes (wall clock); `issued_at`
    is when the request was *sent*. The token strings are bearer secrets and stay out of repr.
    `binding` ties a fetched token to the client secret for caches (see `_entry.py`): a MAC
    tag, not a secret, and None on a token no client has bound. `client_id` is the client it
    was fetched for (None when not known). Immutable, compared by value (not `binding` or
    `client_id`); `copy.replace()` (Python 3.13+) makes a changed copy.
    """

    __slots__ = (
        "access_token",
        "binding",
        "client_id",
        "expires_at",
        "id_token",
        "issued_at",
        "refresh_token",
        "scope",
        "token_type",
    )
    _NO_EQ = frozenset({"binding", "client_id"})
    _NO_REPR = frozenset({"access_token", "id_token", "refresh_token", "binding"})

    access_token: str
    token_type: str
    scope: frozenset[str]
    issued_at: datetime
    expires_at: datetime
    id_token: str | None
    refresh_token: str | None
    binding: str | None
    client_id: str | None

    def __init__(
        self,
        access_token: str,
        token_type: str,
        scope: frozenset[str],
        issued_at: datetime,
        expires_at: datetime,
        id_token: str | None = None,
        refresh_token: str | None = None,
        binding: str | None = None,
        client_id: str | None = None,
    ) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "access_token", access_token)
        setattr_(self, "token_type", token_type)
        setattr_(self, "scope", scope)
        setattr_(self, "issued_at", issued_at)
        setattr_(self, "expires_at", expires_at)
        setattr_(self, "id_token", id_token)
        setattr_(self, "refresh_token", refresh_token)
        setattr_(self, "binding", binding)
        setattr_(self, "client_id", client_id)

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

    def to_entry(self) -> Entry:
        """The token as a cache `Entry` (wall-clock times as seconds since the epoch)."""
        return Entry(
            access_token=self.access_token,
            token_type=self.token_type,
            scope=self.scope,
            issued_at=self.issued_at.timestamp(),
            expires_at=self.expires_at.timestamp(),
            id_token=self.id_token,
            refresh_token=self.refresh_token,
            binding=self.binding,
            client_id=self.client_id,
        )

    @classmethod
    def from_entry(cls, entry: Entry) -> Token:
        """The token in a decoded (so well-formed) cache `Entry`."""
        return cls(
            access_token=entry.access_token,
            token_type=entry.token_type,
            scope=entry.scope,
            issued_at=_to_datetime(entry.issued_at),
            expires_at=_to_datetime(entry.expires_at),
            id_token=entry.id_token,
            refresh_token=entry.refresh_token,
            binding=entry.binding,
            client_id=entry.client_id,
        )

    def bound(self, key: bytes) -> Token:
        """This token with its `binding` for the client whose `binding_key()` is `key`."""
        return replace(self, binding=sign(self.to_entry(), key).binding)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-safe cache-entry dict (see `_entry.py`). Never the client secret."""
        return to_mapping(self.to_entry())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Token:
        """The inverse of `to_dict()`, every field checked; ValueError on anything malformed
        (the message never holds a field's value)."""
        return cls.from_entry(from_mapping(data))


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
    except RecursionError:
        raise ValueError("not a JWT: JSON nested too deeply") from None
    except ValueError as exc:
        # binascii.Error, UnicodeDecodeError, JSONDecodeError, non-ASCII base64, and an
        # integer too long to convert (without Python's advice for programmers).
        raise ValueError(f"not a JWT: {str(exc).partition(';')[0]}") from None


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

    Every field gets the checks a cached entry gets (`_entry.py`): a Bearer `token_type`, an
    `access_token` that is a valid header value, bounded lengths, no control characters. A
    missing, ill-typed or unusable field raises `TokenError`, whose message never holds a
    token. RFC 6749 §5.1: an omitted `scope` means the requested scope was granted.
    """
    if not isinstance(data, Mapping):
        raise _invalid("the body is not a JSON object")
    expires_in = data.get("expires_in")
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in < 1:
        raise _invalid("expires_in is not a positive integer")
    if expires_in > MAX_LIFETIME:
        raise _invalid(f"expires_in {expires_in} is more than {MAX_LIFETIME} s (10 years)")
    scope = data.get("scope")
    try:
        access_token = check_access_token(data.get("access_token"))
        token_type = check_token_type(data.get("token_type"))
        scopes = check_scope(scope) if scope is not None else requested_scope
        id_token = check_optional_token("id_token", data.get("id_token"))
        refresh_token = check_optional_token("refresh_token", data.get("refresh_token"))
    except EntryError as exc:
        raise _invalid(str(exc)) from None
    return Token(
        access_token=access_token,
        token_type=token_type,
        scope=scopes,
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
    last = hard_expiry(anchor, lifetime)
    return Schedule(min(anchor + lifetime * fraction, last), last)


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
