"""JSON responses shared by every module: the error body and the no-store headers."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import JSONResponse

__all__ = ["NO_STORE_HEADERS", "WWW_AUTHENTICATE", "error_response"]

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
