"""TCP_NODELAY on every connection the server accepts."""

from __future__ import annotations

import asyncio
import socket

__all__ = ["set_nodelay"]


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle's algorithm off on the transport's TCP socket (no-op for other sockets).

    Why: with `--workers N` (N > 1) uvicorn binds the listening socket itself with protocol 0,
    so asyncio, which sets TCP_NODELAY only on sockets that say IPPROTO_TCP, leaves Nagle on,
    and every keep-alive response waits ~40 ms for the client's delayed ACK (uvicorn issue
    #3149). With one worker asyncio already sets it; setting it again is harmless.
    """
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
