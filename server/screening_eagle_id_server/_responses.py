"""JSON responses shared by every module: the error body and the no-store headers."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from http import HTTPStatus

from starlette.responses import JSONResponse

__all__ = ["NO_STORE_HEADERS", "WWW_AUTHENTICATE", "error_response", "raw_error_response"]

# RFC 6749 §5.1: token responses must not be cached. Added to every response by the edge
# middleware, so that no path (404, 405, 500, Starlette's own) can miss them.
NO_STORE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
)
WWW_AUTHENTICATE = 'Basic realm="Screening Eagle ID"'


def error_response(
    status_code: int,
    error: str,
    description: str,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """An error in the spec's shape: `{"error", "errorDescription"}` (camelCase, as the seed)."""
    return JSONResponse(
        {"error": error, "errorDescription": description},
        status_code=status_code,
        headers=headers,
    )


def raw_error_response(
    status_code: int,
    error: str,
    description: str,
    extra_headers: Iterable[tuple[bytes, bytes]] = (),
) -> bytes:
    """The same error as a whole HTTP/1.1 response that closes the connection: for what the
    connection layer answers itself (408, 431, 503, malformed HTTP), where no app runs."""
    body = json.dumps(
        {"error": error, "errorDescription": description}, ensure_ascii=False, separators=(",", ":")
    ).encode()
    lines = [
        f"HTTP/1.1 {status_code} {HTTPStatus(status_code).phrase}".encode("ascii"),
        *(name + b": " + value for name, value in extra_headers),
        b"content-type: application/json",
        b"content-length: " + str(len(body)).encode("ascii"),
        *(name + b": " + value for name, value in NO_STORE_HEADERS),
        b"connection: close",
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
