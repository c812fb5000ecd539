"""Run the server inside another program: a test suite, a demo, a benchmark.

`serve_in_thread(app)` serves any ASGI app (usually `create_app(Settings.dev())`) with uvicorn
on a free 127.0.0.1 port in a daemon thread, for as long as the `with` block lasts:

    with serve_in_thread(create_app(Settings.dev())) as url:
        TokenClient(url, ClientCredentials(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET), scope="openid")
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import uvicorn
from starlette.types import ASGIApp

from ._limits import ConnectionLimits, connection_cap
from ._protocol import LimitedHttpToolsProtocol

__all__ = ["serve_in_thread"]

_START_TIMEOUT = 10.0


@contextmanager
def serve_in_thread(
    app: ASGIApp, *, host: str = "127.0.0.1", limits: ConnectionLimits | None = None
) -> Iterator[str]:
    """Serve `app` on a free port of `host` until the block exits; yields its base URL.

    The connection limits are `limits`, else those of the app's settings (an app made by
    `create_app`), else the defaults.
    """
    if limits is None:
        settings = getattr(getattr(app, "state", None), "settings", None)
        limits = getattr(settings, "limits", None) or ConnectionLimits()
    # IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets whose protocol says TCP,
    # and without it every keep-alive response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws="none",
        http=partial(LimitedHttpToolsProtocol, limits=limits),  # type: ignore[arg-type]
        loop="asyncio",
        backlog=connection_cap(limits)[1],
        server_header=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        ready = threading.Event()  # only waited on, never set: a sleep that is not time.sleep
        for _ in range(int(_START_TIMEOUT / 0.01)):
            if server.started or not thread.is_alive():
                break
            ready.wait(0.01)
        if not server.started:
            raise RuntimeError(f"the server did not start on {host}:{port}")
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=_START_TIMEOUT)
        sock.close()
