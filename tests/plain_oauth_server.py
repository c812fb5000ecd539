"""A minimal OAuth 2.0 token endpoint, not shaped like Screening Eagle ID, on a free 127.0.0.1
port: the kind of local stand-in a team runs (a mock IdP at `/token`).

It answers POSTs to `path` only (404 elsewhere), with Basic client authentication, issuing a
new opaque token per request. `expires_in=None` leaves the field out of its answers, as some
servers do (RFC 6749 §5.1: RECOMMENDED, not required). `hang=N` accepts the first N
requests and never answers them. Each token request is counted.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["PlainServer", "start_plain_server"]


@dataclass
class PlainServer:
    path: str
    client_id: str
    client_secret: str
    expires_in: int | None
    hang: int = 0
    hung: int = 0
    url: str = ""
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    released: threading.Event = field(default_factory=threading.Event)

    def answer(self, path: str, authorization: str) -> tuple[int, dict[str, object]]:
        if path != self.path:
            return 404, {"error": "not_found"}
        with self.lock:
            self.requests += 1
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if authorization != f"Basic {expected}":
            return 401, {"error": "invalid_client"}
        body: dict[str, object] = {
            "access_token": secrets.token_urlsafe(24),
            "token_type": "Bearer",
        }
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return 200, body


def _handler(state: PlainServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            with state.lock:
                hang = state.hung < state.hang
                state.hung += hang
            if hang:
                state.released.wait(60)
                return
            self.rfile.read(int(self.headers.get("content-length") or 0))
            status, body = state.answer(self.path, self.headers.get("authorization", ""))
            reply = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    return Handler


@contextmanager
def start_plain_server(
    path: str = "/token",
    *,
    client_id: str = "plain-client",
    client_secret: str = "plain-secret-0123456789",
    expires_in: int | None = 3600,
    hang: int = 0,
) -> Iterator[PlainServer]:
    """Serve until the block exits."""
    state = PlainServer(path, client_id, client_secret, expires_in, hang)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        state.released.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
