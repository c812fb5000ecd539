"""The Starlette application."""

from __future__ import annotations

from http import HTTPStatus

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._endpoints import TOKEN_PATH, TokenEndpoint, token
from ._middleware import EdgeMiddleware
from ._responses import error_response
from ._settings import Settings
from ._tokens import TokenIssuer

__all__ = ["create_app"]

# RFC 6749 codes where one fits; otherwise the status phrase in snake case.
_ERROR_CODES = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed"}


async def _http_exception(request: Request, exc: Exception) -> Response:
    # Starlette's own errors (the router's 404, ...) in the spec's error shape.
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    code = _ERROR_CODES.get(status) or HTTPStatus(status).phrase.lower().replace(" ", "_")
    if status == 404:
        description = "No such endpoint."
    elif status == 405:
        description = f"{request.method} is not allowed here; use POST."
    else:
        description = str(exc.detail)
    return error_response(status, code, description, headers=exc.headers)


def create_app(settings: Settings) -> Starlette:
    """A reference server for the token endpoint, configured by `settings`."""
    issuer = TokenIssuer(settings)
    endpoint = TokenEndpoint(settings.registry, issuer, settings.max_body_bytes)
    app = Starlette(
        routes=[Route(TOKEN_PATH, token, methods=["POST"])],
        middleware=[Middleware(EdgeMiddleware, token_endpoint=endpoint)],
        exception_handlers={HTTPException: _http_exception},
    )
    # A trailing slash is another path (404), not a redirect to the token endpoint.
    app.router.redirect_slashes = False
    app.state.settings = settings
    app.state.registry = settings.registry
    app.state.max_body_bytes = settings.max_body_bytes
    app.state.issuer = issuer
    app.state.token_endpoint = endpoint
    return app
