"""Run the reference server on a real 127.0.0.1 socket in a background thread (for tests)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from screening_eagle_id_server import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    TOKEN_PATH,
    Settings,
    create_app,
    serve_in_thread,
)
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["LiveServer", "start_server"]


class _RequestCounter:
    """Counts POSTs to the token endpoint, to check single-flight behaviour of clients."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.count = 0
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == TOKEN_PATH:
            with self._lock:
                self.count += 1
        await self.app(scope, receive, send)


@dataclass(frozen=True)
class LiveServer:
    """A running reference server: where it is, and the demo client's credentials."""

    url: str
    settings: Settings = field(repr=False)
    _counter: _RequestCounter = field(repr=False)
    client_id: str = DEMO_CLIENT_ID
    client_secret: str = field(default=DEMO_CLIENT_SECRET, repr=False)

    @property
    def signing_key(self) -> bytes:
        """The HS256 key the server signs with (to verify tokens in tests)."""
        return self.settings.signing_key

    @property
    def token_url(self) -> str:
        """The full URL of the token endpoint."""
        return self.url + TOKEN_PATH

    def token_requests(self) -> int:
        """POSTs to the token endpoint handled so far."""
        return self._counter.count


@contextmanager
def start_server(settings: Settings) -> Iterator[LiveServer]:
    """Serve `create_app(settings)` with uvicorn on a free 127.0.0.1 port until exit."""
    counter = _RequestCounter(create_app(settings))
    with serve_in_thread(counter) as url:
        yield LiveServer(url=url, settings=settings, _counter=counter)
