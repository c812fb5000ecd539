"""The socket options of every connection the server accepts: TCP_NODELAY, and a send buffer
of a fixed size."""

from __future__ import annotations

import asyncio
import socket

__all__ = ["set_nodelay", "set_send_buffer"]


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


def set_send_buffer(transport: asyncio.BaseTransport, size: int) -> None:
    """Fix the kernel's send buffer of the transport's TCP socket at `size` bytes.

    Why: Linux grows it (up to 4 MiB) for a client that does not read, and holds the answers
    it never takes there: kernel memory per connection, and answers that look taken, so that
    the write timeout and the connection cap never see a slow reader. Linux doubles the value
    it is given (for its bookkeeping): `size // 2` is asked for.
    """
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size // 2)
