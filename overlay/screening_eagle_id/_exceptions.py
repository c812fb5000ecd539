"""Typed errors raised by the overlay.

Our exception hierarchy (caught as `TokenError` when the cause does not matter):

* TokenError                 -- base: status_code, error, error_description, retryable
  + InvalidRequestError        -- 400: the request was malformed (bad scope, grant type, ...)
  + InvalidClientError         -- 401: unknown client or wrong secret
  + AccessDeniedError          -- 403: client not allowed that grant or scope
  + EndpointNotFoundError      -- 404: wrong base URL or path
  + RateLimitedError           -- 429: slow down (retry_after), retryable
  + ServerError                -- 500 and other 5xx, retryable
  + TokenTransportError        -- timeout, connection refused/reset, truncated body, retryable
  + InsecureTransportError     -- plain http:// to a non-loopback host (nothing was sent)
  + ConfigurationError         -- credentials, URL or scope missing or unreadable

Messages never contain the client secret: they are built from the status, the server's
`error`/`errorDescription` and the URL only, and any text from the server passes `scrub()`
first: capped at `MAX_SERVER_TEXT` characters, control and format characters dropped, and
every form of the secret the client could have sent replaced by `***` (a hostile or buggy
server may echo the Basic header back).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "MAX_SERVER_TEXT",
    "AccessDeniedError",
    "ConfigurationError",
    "EndpointNotFoundError",
    "InsecureTransportError",
    "InvalidClientError",
    "InvalidRequestError",
    "RateLimitedError",
    "ServerError",
    "TokenError",
    "TokenTransportError",
    "scrub",
]

#: The most characters of one piece of server text (error, description, ...) kept in a message.
MAX_SERVER_TEXT = 1024

# Unicode Cc (C0/C1 controls: CR/LF, ESC), Cf (zero-width, bidi and other format controls)
# and the line/paragraph separators: nothing that can forge a log line, reorder a terminal
# line or hide inside a secret. Spelled out: deriving it from unicodedata costs an import.
_CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2"
    "\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)


def scrub(text: str, secrets: Iterable[str] = (), *, limit: int = MAX_SERVER_TEXT) -> str:
    """Server `text` made fit for a message or log line: control and format characters
    dropped, each of `secrets` (case-insensitively) replaced by `***`, then cut to `limit`
    characters (with `…`). All of it is scanned before the cut, so no part of a secret
    survives (the text is at most a bounded response)."""
    text = _CONTROL.sub("", text)
    forms = sorted({s for s in secrets if s}, key=len, reverse=True)
    if forms:
        pattern = re.compile("|".join(re.escape(form) for form in forms), re.IGNORECASE)
        text = pattern.sub("***", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class TokenError(Exception):
    """Getting a token failed.

    `status_code` is the HTTP status (None when no response was received), `error` the
    server's RFC 6749 error code, `error_description` its human text, `retryable` whether
    trying again later may succeed, and `retry_after` the seconds the server asked us to
    wait (its `Retry-After` header), if it said.
    """

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error: str | None = None,
        error_description: str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.status_code = status_code
        self.error = error
        self.error_description = error_description
        if retryable is not None:
            self.retryable = retryable

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, status_code={self.status_code!r}, "
            f"error={self.error!r})"
        )


class InvalidRequestError(TokenError):
    """400: the token request was rejected as malformed (scope, grant type, body)."""


class InvalidClientError(TokenError):
    """401: client authentication failed (unknown client id or wrong secret)."""


class AccessDeniedError(TokenError):
    """403: the client may not use this grant type or one of the requested scopes."""


class EndpointNotFoundError(TokenError):
    """404: no token endpoint at this URL; check the base URL and the token path."""


class RateLimitedError(TokenError):
    """429: the server asks to slow down (see `retry_after`)."""

    retryable = True


class ServerError(TokenError):
    """5xx: the token endpoint failed; trying again later may work."""

    retryable = True


class TokenTransportError(TokenError):
    """No usable response: timeout, refused or reset connection, truncated body."""

    retryable = True


class InsecureTransportError(TokenError):
    """Refused to send credentials over plain http:// to a host that is not loopback."""


class ConfigurationError(TokenError):
    """Credentials, URL or scope are missing or unreadable; the message says where we looked."""
