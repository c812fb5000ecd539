"""The TokenError hierarchy and the pure response-to-error mapping."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest
import screening_eagle_id
from screening_eagle_id import (
    AccessDeniedError,
    ConfigurationError,
    EndpointNotFoundError,
    InsecureTransportError,
    InvalidClientError,
    InvalidRequestError,
    RateLimitedError,
    ServerError,
    TokenError,
    TokenTransportError,
)
from screening_eagle_id._exceptions import MAX_SERVER_TEXT, scrub
from screening_eagle_id._response import (
    error_fields,
    error_for_status,
    error_from_body,
    parse_retry_after,
    transport_error,
)

URL = "https://id.example.com/api/id/v1/auth/token"
SUBCLASSES = [
    InvalidRequestError,
    InvalidClientError,
    AccessDeniedError,
    EndpointNotFoundError,
    RateLimitedError,
    ServerError,
    TokenTransportError,
    InsecureTransportError,
    ConfigurationError,
]


@pytest.mark.parametrize("cls", SUBCLASSES)
def test_every_error_is_a_token_error(cls: type[TokenError]) -> None:
    assert issubclass(cls, TokenError)
    assert cls.__doc__


def test_the_module_docstring_draws_the_whole_tree() -> None:
    from screening_eagle_id import _exceptions

    tree = _exceptions.__doc__ or ""
    for cls in [TokenError, *SUBCLASSES]:
        assert cls.__name__ in tree


@pytest.mark.parametrize(
    ("cls", "retryable"),
    [
        (TokenError, False),
        (InvalidRequestError, False),
        (InvalidClientError, False),
        (AccessDeniedError, False),
        (EndpointNotFoundError, False),
        (RateLimitedError, True),
        (ServerError, True),
        (TokenTransportError, True),
        (InsecureTransportError, False),
        (ConfigurationError, False),
    ],
)
def test_retryable_defaults(cls: type[TokenError], retryable: bool) -> None:
    assert cls("x").retryable is retryable
    assert cls("x", retryable=not retryable).retryable is (not retryable)


def test_attributes_and_repr() -> None:
    err = InvalidClientError(
        "nope", status_code=401, error="invalid_client", error_description="bad", retry_after=3
    )
    assert (err.status_code, err.error, err.error_description, err.retry_after) == (
        401,
        "invalid_client",
        "bad",
        3,
    )
    assert str(err) == "nope"
    assert repr(err) == "InvalidClientError('nope', status_code=401, error='invalid_client')"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, InvalidRequestError),
        (401, InvalidClientError),
        (403, AccessDeniedError),
        (404, EndpointNotFoundError),
        (429, RateLimitedError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (599, ServerError),
        (405, TokenError),
        (418, TokenError),
        (302, TokenError),
    ],
)
def test_status_maps_to_its_class(status: int, cls: type[TokenError]) -> None:
    err = error_for_status(status, "code", "text", url=URL)
    assert type(err) is cls
    assert err.status_code == status
    assert str(err).startswith(f"{status} ")
    assert "code" in str(err)
    assert "text" in str(err)
    assert URL in str(err)


def test_a_redirect_says_to_use_the_final_url() -> None:
    assert "redirected" in str(error_for_status(307, None, None, url=URL))


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"error": "e", "errorDescription": "camel"}, ("e", "camel")),
        ({"error": "e", "error_description": "snake"}, ("e", "snake")),
        ({"error": "e", "errorDescription": "camel", "error_description": "snake"}, ("e", "camel")),
        ({"error": "e", "errorDescription": 5, "error_description": "snake"}, ("e", "snake")),
        ({"error": 1}, (None, None)),
        (["error"], (None, None)),
        (None, (None, None)),
    ],
)
def test_error_fields_are_read_tolerantly(
    body: object, fields: tuple[str | None, str | None]
) -> None:
    assert error_fields(body) == fields


def test_error_from_body_with_html() -> None:
    err = error_from_body(
        500, {"content-type": "text/html; charset=utf-8"}, b"<html>", url=URL, wall_now=0
    )
    assert type(err) is ServerError
    assert "not JSON (text/html, 6 bytes)" in str(err)
    assert err.error is None


def test_error_from_body_reads_json_and_retry_after() -> None:
    err = error_from_body(
        429,
        {"retry-after": "4"},
        b'{"error":"slow_down","errorDescription":"later"}',
        url=URL,
        wall_now=0,
    )
    assert isinstance(err, RateLimitedError)
    assert (err.error, err.error_description, err.retry_after) == ("slow_down", "later", 4.0)


def test_error_from_body_for_a_200() -> None:
    err = error_from_body(200, {}, b'{"access_token": 1', url=URL, wall_now=0)
    assert (type(err), err.status_code, err.error) == (TokenError, 200, "invalid_response")
    assert "not a usable token response" in str(err)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("0", 0.0),
        ("120", 120.0),
        (" 5 ", 5.0),
        ("-3", None),
        ("soon", None),
        ("1.5", None),
        (format_datetime(datetime.fromtimestamp(1_000_030, tz=UTC), usegmt=True), 30.0),
        (format_datetime(datetime.fromtimestamp(999_000, tz=UTC), usegmt=True), 0.0),
        ("Sun, 06 Nov 1994 08:49:37", None),  # no zone: ambiguous
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, 1_000_000.0) == seconds


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        (httpx.ConnectError("refused"), True),
        (httpx.ReadTimeout("slow"), True),
        (httpx.PoolTimeout("busy"), True),
        (httpx.RemoteProtocolError("truncated"), True),
        (httpx.ProxyError("proxy"), True),
        (httpx.UnsupportedProtocol("gopher"), False),
        (httpx.DecodingError("gzip"), False),
    ],
)
def test_transport_errors(exc: httpx.RequestError, retryable: bool) -> None:
    err = transport_error(exc, url=URL)
    assert isinstance(err, TokenTransportError)
    assert err.retryable is retryable
    assert err.status_code is None
    assert type(exc).__name__ in str(err)


def test_errors_are_exported() -> None:
    for cls in [TokenError, *SUBCLASSES]:
        assert getattr(screening_eagle_id, cls.__name__) is cls


# --- scrub: server text before it reaches a message -----------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "before SECRET-1 after",
        "before secret-1 after",  # case does not hide it
        "SEC\x00RET-1 and SE\u200bCRET-1",  # nor a control or zero-width character inside
        "\x00" * 70_000 + "SECRET-1" * 3,  # nor padding that would push a cut into it
        "x" * 1020 + "SECRET-1",  # nor the cap
    ],
)
def test_scrub_leaves_no_part_of_a_secret(text: str) -> None:
    out = scrub(text, ["SECRET-1"])
    assert "SECRET" not in out.upper()
    assert "SEC" not in out[-10:]
    assert len(out) <= MAX_SERVER_TEXT


def test_scrub_drops_control_and_format_characters() -> None:
    out = scrub("a\r\nb\x1b[31mc\u202ed\u2028e\x85f")
    assert out == "ab[31mcdef"


def test_error_text_passes_the_clean_function() -> None:
    err = error_for_status(
        401, "E\nRR", "desc " + "y" * 5000, url=URL, detail="d\x00", clean=lambda t: scrub(t)
    )
    assert "\n" not in str(err)
    assert len(err.error_description or "") == MAX_SERVER_TEXT
    assert err.error == "ERR"
