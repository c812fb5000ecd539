"""Token parsing, serialisation and the pure freshness functions (no clock is read here)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from screening_eagle_id import Token, TokenError
from screening_eagle_id._token import (
    CLOCK_SKEW,
    REFRESH_AHEAD,
    REFRESH_BACKOFF,
    decode_jwt_unverified,
    parse_token_response,
    refresh_fraction,
    retry_refresh_at,
    schedule,
    schedule_cached,
)


def _b64(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


JWT = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64({'sub': '1302', 'scp': 'openid'})}.c2ln"
ISSUED = 1_700_000_000.0


def _token(**overrides: object) -> Token:
    body: dict[str, object] = {
        "access_token": JWT,
        "token_type": "Bearer",
        "expires_in": 3600,
        "scope": "openid email",
        "id_token": "id.tok.en",
    }
    body.update(overrides)
    return parse_token_response(body, requested_scope=frozenset({"x"}), issued_at=ISSUED)


def test_parse_anchors_times_to_the_send_time() -> None:
    token = _token()
    assert token.issued_at == datetime.fromtimestamp(ISSUED, tz=UTC)
    assert token.expires_at.timestamp() == ISSUED + 3600
    assert token.lifetime == 3600
    assert token.scope == frozenset({"openid", "email"})
    assert token.id_token == "id.tok.en"
    assert token.refresh_token is None


def test_omitted_scope_means_the_requested_scope() -> None:
    body = {"access_token": "a", "token_type": "Bearer", "expires_in": 10}
    token = parse_token_response(body, requested_scope=frozenset({"inspect"}), issued_at=0.0)
    assert token.scope == frozenset({"inspect"})


@pytest.mark.parametrize(
    ("overrides", "detail"),
    [
        ({"access_token": None}, "access_token"),
        ({"access_token": ""}, "access_token"),
        ({"access_token": 12}, "access_token"),
        ({"token_type": None}, "token_type"),
        ({"expires_in": None}, "expires_in"),
        ({"expires_in": "3600"}, "expires_in"),
        ({"expires_in": 0}, "expires_in"),
        ({"expires_in": True}, "expires_in"),
        ({"scope": ["openid"]}, "scope"),
        ({"id_token": 5}, "id_token"),
        ({"refresh_token": {}}, "refresh_token"),
    ],
)
def test_unusable_200_bodies_raise_token_error(overrides: dict[str, object], detail: str) -> None:
    body: dict[str, object] = {"access_token": JWT, "token_type": "Bearer", "expires_in": 60}
    body.update(overrides)
    body = {k: v for k, v in body.items() if v is not None}  # None: the field is absent
    with pytest.raises(TokenError, match=detail) as info:
        parse_token_response(body, requested_scope=frozenset(), issued_at=0.0)
    assert info.value.status_code == 200
    assert info.value.error == "invalid_response"
    assert not info.value.retryable


def test_round_trip_through_json() -> None:
    token = _token(refresh_token="r.e.f")
    data = json.loads(json.dumps(token.to_dict()))
    assert Token.from_dict(data) == token
    assert data["issued_at"] == ISSUED
    assert data["scope"] == "email openid"


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"access_token": "a"},
        {**_token().to_dict(), "issued_at": "yesterday"},
        {**_token().to_dict(), "expires_at": True},
        {**_token().to_dict(), "access_token": ""},
        {**_token().to_dict(), "scope": ["openid"]},
        {**_token().to_dict(), "id_token": 1},
        {**_token().to_dict(), "expires_at": float("inf")},
        {**_token().to_dict(), "expires_at": float("nan")},
        {**_token().to_dict(), "issued_at": -float("inf")},
        {**_token().to_dict(), "expires_at": 1e300},
        {**_token().to_dict(), "issued_at": -(10**20)},
        {**_token().to_dict(), "expires_at": 10**400},
    ],
)
def test_from_dict_rejects_malformed_entries(data: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"\w") as info:
        Token.from_dict(data)
    assert JWT not in str(info.value)


def test_repr_hides_the_token_strings() -> None:
    token = _token(refresh_token="REFRESH-SENTINEL")
    text = repr(token) + str(token)
    assert JWT not in text
    assert "REFRESH-SENTINEL" not in text
    assert "id.tok.en" not in text
    assert "Bearer" in text


def test_claims_are_decoded_unverified() -> None:
    assert _token().claims() == {"sub": "1302", "scp": "openid"}
    assert decode_jwt_unverified(JWT)[0] == {"alg": "HS256", "typ": "JWT"}
    assert "UNVERIFIED" in (Token.claims.__doc__ or "").upper() or "WITHOUT" in (
        Token.claims.__doc__ or ""
    )


@pytest.mark.parametrize("bad", ["opaque-token", "a.b", "a.!!!.c", f"{_b64([1])}.{_b64([1])}.x"])
def test_claims_of_a_non_jwt_raise_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match="JWT"):
        decode_jwt_unverified(bad)


def test_schedule_long_lived_token() -> None:
    refresh_at, hard = schedule(100.0, 3600.0, 0.8)
    assert hard == 100.0 + 3600 - CLOCK_SKEW
    assert refresh_at == 100.0 + 3600 * 0.8


def test_schedule_short_lived_token_is_not_born_expired() -> None:
    refresh_at, hard = schedule(0.0, 10.0, 0.9)
    assert hard == 5.0
    assert refresh_at == 5.0  # refresh-ahead never later than hard expiry
    assert refresh_at > 0.0


@pytest.mark.parametrize("rand", [0.0, 0.5, 0.999999])
def test_refresh_fraction_stays_in_range(rand: float) -> None:
    assert REFRESH_AHEAD[0] <= refresh_fraction(rand) <= REFRESH_AHEAD[1]


def test_refresh_fraction_spans_the_range() -> None:
    assert refresh_fraction(0.0) == REFRESH_AHEAD[0]
    assert refresh_fraction(1.0) == pytest.approx(REFRESH_AHEAD[1])


def test_schedule_cached_translates_wall_clock_to_monotonic() -> None:
    token = _token()  # issued at ISSUED (wall), lifetime 3600
    # 600 s after issue on the wall clock; our monotonic clock reads 50.
    sched = schedule_cached(token, now=50.0, wall_now=ISSUED + 600, fraction=0.8)
    assert sched.hard_expiry == pytest.approx(50.0 - 600 + 3600 - CLOCK_SKEW)
    assert sched.refresh_at == pytest.approx(50.0 - 600 + 2880)


def test_retry_refresh_backs_off_exponentially_and_caps() -> None:
    first, cap = REFRESH_BACKOFF
    delays = [retry_refresh_at(0.0, n, 1e9, 1.0) for n in range(1, 12)]
    assert delays[0] == first
    assert delays[1] == 2 * first
    assert delays == sorted(delays)
    assert delays[-1] == cap
    assert retry_refresh_at(0.0, 1, 1e9, 0.0) == first / 2  # jitter on the upper half


def test_retry_refresh_never_past_hard_expiry() -> None:
    assert retry_refresh_at(100.0, 10, 110.0, 1.0) == 110.0
