"""Turning token-endpoint responses into `TokenError`s: pure functions, no I/O."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from http import HTTPStatus

import httpx

from ._exceptions import (
    AccessDeniedError,
    EndpointNotFoundError,
    InvalidClientError,
    InvalidRequestError,
    RateLimitedError,
    ServerError,
    TokenError,
    TokenTransportError,
    scrub,
)

#: Makes one piece of server text fit for a message (`scrub()` with the client's secrets).
Clean = Callable[[str], str]

__all__ = [
    "NO_LIFETIME",
    "Clean",
    "error_fields",
    "error_for_status",
    "error_from_body",
    "parse_retry_after",
    "transport_error",
]

_BY_STATUS: dict[int, type[TokenError]] = {
    400: InvalidRequestError,
    401: InvalidClientError,
    403: AccessDeniedError,
    404: EndpointNotFoundError,
    429: RateLimitedError,
}

_HINTS: dict[type[TokenError], str] = {
    InvalidClientError: "check the client id and secret (and client_auth)",
    AccessDeniedError: "the client may not use this grant type or scope",
    EndpointNotFoundError: "check the base URL and the token path (token_path, --token-path)",
}

_SNIPPET = 120

#: Why a 200 without `expires_in` is refused, and what to do about it.
NO_LIFETIME = (
    "missing expires_in (the server states no lifetime; to use its tokens, say how long to "
    "assume: assume_lifetime=SECONDS, or --assume-lifetime on the command line)"
)


def _no_secrets(text: str) -> str:
    return scrub(text)


def parse_retry_after(value: str | None, wall_now: float) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP-date)."""
    if value is None:
        return None
    value = value.strip()
    # ASCII only: str.isdigit() is also true for "²" and other digits float() rejects.
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:
            return None
        return max(0.0, when.timestamp() - wall_now)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def error_fields(body: object) -> tuple[str | None, str | None]:
    """(error, description) from a decoded error body, reading the seed's camelCase
    `errorDescription` as well as RFC 6749's `error_description`."""
    if not isinstance(body, Mapping):
        return None, None
    error = body.get("error")
    description = body.get("errorDescription")
    if not isinstance(description, str):
        description = body.get("error_description")
    return (
        error if isinstance(error, str) else None,
        description if isinstance(description, str) else None,
    )


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown Status"


def error_for_status(
    status: int,
    error: str | None,
    description: str | None,
    *,
    url: str,
    retry_after: float | None = None,
    detail: str | None = None,
    clean: Clean = _no_secrets,
) -> TokenError:
    """The `TokenError` subclass for a non-200 status, with a readable message. `error`,
    `description` and `detail` come from the server: each passes `clean` first."""
    error = clean(error) if error else None
    description = clean(description) if description else None
    detail = clean(detail) if detail else None
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else TokenError)
    parts = [f"{status} {_reason(status)} from {url}"]
    if error:
        parts.append(f": {error}")
    if description:
        parts.append(f" ({description})")
    if detail:
        parts.append(f"; {detail}")
    if 300 <= status < 400:
        parts.append("; the token endpoint redirected, use the final URL")
    elif hint := _HINTS.get(cls):
        parts.append(f"; {hint}")
    return cls(
        "".join(parts),
        status_code=status,
        error=error,
        error_description=description,
        retry_after=retry_after,
    )


def error_from_body(
    status: int,
    headers: Mapping[str, str],
    content: bytes,
    *,
    url: str,
    wall_now: float,
    clean: Clean = _no_secrets,
) -> TokenError:
    """A `TokenError` from a raw response the generated parser could not or did not parse:
    an undocumented status, a non-JSON, too deeply nested or truncated body, a 200 that is
    no token. Server text in it passes `clean`."""
    try:
        body: object = json.loads(content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        body = None
    error, description = error_fields(body)
    detail = None
    if body is None:
        kind = clean(headers.get("content-type", "no content type").split(";")[0])
        detail = f"body is not JSON ({kind}, {len(content)} bytes)"
    if status == 200:
        if detail is not None:
            problem = detail
        elif not isinstance(body, Mapping):
            problem = "body is not a JSON object"
        else:
            required = ("access_token", "token_type", "expires_in")
            missing = [key for key in required if key not in body]
            problem = f"missing {', '.join(missing)}" if missing else "malformed token fields"
            if missing == ["expires_in"]:
                problem = NO_LIFETIME
        return TokenError(
            f"200 OK from {url} but not a usable token response: {problem}",
            status_code=200,
            error="invalid_response",
            error_description=problem,
        )
    return error_for_status(
        status,
        error,
        description,
        url=url,
        retry_after=parse_retry_after(headers.get("retry-after"), wall_now),
        detail=detail,
        clean=clean,
    )


def transport_error(exc: httpx.RequestError, *, url: str, clean: Clean = _no_secrets) -> TokenError:
    """A `TokenTransportError` for a request that got no usable response. The exception's
    text may quote the request (a header value) or the server: it passes `clean`."""
    retryable = isinstance(
        exc,
        httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError | httpx.ProxyError,
    )
    what = type(exc).__name__
    text = clean(str(exc))[:_SNIPPET]
    return TokenTransportError(
        f"no usable response from {url}: {what}" + (f" ({text})" if text else ""),
        retryable=retryable,
    )
