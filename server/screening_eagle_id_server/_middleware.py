"""The outermost layer of the app: no-store headers, JSON 500s, the access log, and the
token endpoint's hot path."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._accesslog import ACCESS_LOGGER, ANSWERED, METHOD_BYTES, PATH_BYTES, field, log_access
from ._endpoints import TOKEN_PATH, Answer, TokenEndpoint, error_answer
from ._responses import NO_STORE_HEADERS, error_response

__all__ = ["ACCESS_LOGGER", "ERROR_LOGGER", "EdgeMiddleware"]

ERROR_LOGGER = "screening_eagle_id_server.error"
_error_log = logging.getLogger(ERROR_LOGGER)
_REPLACED = frozenset(name for name, _ in NO_STORE_HEADERS)


class EdgeMiddleware:
    """Wraps the whole app (inside Starlette's ServerErrorMiddleware, which it pre-empts).

    - adds `Cache-Control: no-store` and `Pragma: no-cache` to every response;
    - turns any unexpected exception into a JSON 500 without internals, logged here;
    - writes one access-log line per request: method, path, status, client_id (once the
      endpoint has authenticated it), latency. Never a header, a body, a query or a token;
    - serves POSTs to the token endpoint itself, straight to `TokenEndpoint` without
      Starlette's router, request and response objects: the hot path (everything else,
      404 and 405 included, goes through Starlette).
    """

    __slots__ = ("app", "token_endpoint")

    def __init__(self, app: ASGIApp, token_endpoint: TokenEndpoint | None = None) -> None:
        self.app = app
        self.token_endpoint = token_endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        if (
            scope["path"] == TOKEN_PATH
            and scope["method"] == "POST"
            and not scope.get("root_path")
            and self.token_endpoint is not None
        ):
            await _serve_token(self.token_endpoint, scope, receive, send, started_at)
            return
        status = 0
        logged = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, logged
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", ()) if h[0].lower() not in _REPLACED]
                headers.extend(NO_STORE_HEADERS)
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Logged before the last byte leaves: whoever reads the response can rely
                # on the line being there.
                logged = True
                _log_access(scope, status, started_at)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            _error_log.exception(
                "unhandled exception in %s %s",
                field(scope["method"], METHOD_BYTES),
                field(scope["path"], PATH_BYTES),
            )
            if status == 0:
                response = error_response(
                    500, "server_error", "The server failed to handle the request."
                )
                await response(scope, receive, send_with_headers)
            # Otherwise the response had started: uvicorn closes the connection.
        finally:
            if not logged:
                _log_access(scope, status, started_at)


async def _serve_token(
    endpoint: TokenEndpoint, scope: Scope, receive: Receive, send: Send, started_at: float
) -> None:
    try:
        answer = await endpoint.answer(scope["headers"], receive)
    except Exception:
        _error_log.exception("unhandled exception in POST %s", TOKEN_PATH)
        answer = error_answer(500, "server_error", "The server failed to handle the request.")
    await send(
        {"type": "http.response.start", "status": answer.status, "headers": answer.raw_headers()}
    )
    _log_answer(scope, answer, started_at)
    await send({"type": "http.response.body", "body": answer.body})


def _log_answer(scope: Scope, answer: Answer, started_at: float) -> None:
    state = scope.get("state")
    if state and state.get(ANSWERED):
        return
    latency_ms = (time.perf_counter() - started_at) * 1000
    log_access(scope["method"], scope["path"], answer.status, answer.client_id, latency_ms)


def _log_access(scope: Scope, status: int, started_at: float) -> None:
    state = scope.get("state") or {}
    if state.get(ANSWERED):
        return
    latency_ms = (time.perf_counter() - started_at) * 1000
    log_access(scope["method"], scope["path"], status, state.get("client_id"), latency_ms)
