"""A tiny real resource server on a free 127.0.0.1 port, for the auth integrations' tests.

It accepts any bearer token except those it has rejected: the first `reject_first` tokens
it sees are answered 401 (and stay rejected), as a token revoked at the identity provider
would be. Each request is recorded (Authorization header, body); 200 responses echo the body.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["ResourceServer", "start_resource_server"]


@dataclass
class ResourceServer:
    """What the server saw, and which tokens it rejects."""

    url: str = ""
    reject_first: int = 0
    seen: list[tuple[str, bytes]] = field(default_factory=list)
    rejected: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, authorization: str, body: bytes) -> int:
        token = authorization.removeprefix("Bearer ")
        with self.lock:
            self.seen.append((authorization, body))
            if token and len(self.rejected) < self.reject_first:
                self.rejected.add(token)
            return 401 if not token or token in self.rejected else 200


def _handler(state: ResourceServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                body = self._read_chunked()
            else:
                body = self.rfile.read(length)
            status = state.answer(self.headers.get("authorization", ""), body)
            reply = body if status == 200 else b'{"error":"invalid_token"}'
            self.send_response(status)
            if status == 401:
                self.send_header("WWW-Authenticate", 'Bearer error="invalid_token"')
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def _read_chunked(self) -> bytes:
            chunks = []
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    return Handler


@contextmanager
def start_resource_server(reject_first: int = 0) -> Iterator[ResourceServer]:
    """Serve until the block exits; the first `reject_first` tokens seen get 401s."""
    state = ResourceServer(reject_first=reject_first)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
