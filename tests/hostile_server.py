"""A hostile token endpoint on a real 127.0.0.1 socket: it answers every request with bytes a
test chooses (bombs, endless bodies, dripped headers, poisoned fields), in a background thread.

`serve(respond)` yields the base URL; `respond(conn, request)` writes the answer to the
connection (`request` is the raw request head and body). A client that hangs up ends the
handler (OSError); every handler also stops after `MAX_SECONDS`.
"""

from __future__ import annotations

import gzip
import json
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = [
    "MAX_SECONDS",
    "Respond",
    "bomb",
    "chunked_forever",
    "drip",
    "json_response",
    "raw_response",
    "serve",
    "stream_forever",
]

MAX_SECONDS = 20.0

Respond = Callable[[socket.socket, bytes], None]


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


@contextmanager
def serve(respond: Respond) -> Iterator[str]:
    """Serve `respond` on a free loopback port until the block ends; yields the base URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(MAX_SECONDS)
                request = _read_request(conn)
                if request:
                    respond(conn, request)
            except OSError:
                pass  # the client hung up: what a bounded client does

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()


def raw_response(
    status: int, body: bytes, headers: dict[str, str] | list[tuple[str, str]] | None = None
) -> Respond:
    """A complete response with Content-Length (unless `headers` sets its own framing)."""
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {name.lower() for name, _ in items}
    if "content-length" not in names and "transfer-encoding" not in names:
        items.append(("Content-Length", str(len(body))))
    head = f"HTTP/1.1 {status} X\r\n" + "".join(f"{n}: {v}\r\n" for n, v in items) + "\r\n"

    def respond(conn: socket.socket, request: bytes) -> None:
        conn.sendall(head.encode("latin-1") + body)

    return respond


def json_response(status: int, document: object, headers: dict[str, str] | None = None) -> Respond:
    """`document` as a JSON body (or a str/bytes already encoded)."""
    if isinstance(document, bytes):
        body = document
    elif isinstance(document, str):
        body = document.encode()
    else:
        body = json.dumps(document).encode()
    return raw_response(status, body, {"Content-Type": "application/json", **(headers or {})})


def _deflate_zeros(mib: int) -> bytes:
    """Raw deflate of `mib` MiB of zeros: one full-flushed block, repeated (a full flush
    resets the compressor, so each MiB compresses to the same bytes), then an empty final
    block. Quick to build, where compressing 256 MiB would take seconds."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    packer.compress(bytes(1 << 20))
    packer.flush(zlib.Z_FULL_FLUSH)
    segment = packer.compress(bytes(1 << 20)) + packer.flush(zlib.Z_FULL_FLUSH)
    return segment * mib + b"\x03\x00"


def bomb(decompressed_mib: int, codings: tuple[str, ...] = ("gzip",)) -> bytes:
    """Zeros, `decompressed_mib` MiB of them, compressed by each coding in turn (the order
    of a Content-Encoding header)."""
    block, size = bytes(1 << 20), decompressed_mib << 20
    crc, adler = 0, 1
    for _ in range(decompressed_mib):
        crc, adler = zlib.crc32(block, crc), zlib.adler32(block, adler)
    raw = _deflate_zeros(decompressed_mib)
    if codings[0] == "gzip":
        data = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + raw
        data += struct.pack("<II", crc, size & 0xFFFFFFFF)
    else:
        data = b"\x78\xda" + raw + struct.pack(">I", adler)
    for coding in codings[1:]:
        data = gzip.compress(data, 9) if coding == "gzip" else zlib.compress(data, 9)
    return data


def stream_forever(status: int = 200, headers: dict[str, str] | None = None) -> Respond:
    """A body with no length, zeros until the client hangs up (or `MAX_SECONDS`)."""
    head = f"HTTP/1.1 {status} X\r\nConnection: close\r\n" + "".join(
        f"{n}: {v}\r\n" for n, v in (headers or {}).items()
    )

    def respond(conn: socket.socket, request: bytes) -> None:
        conn.sendall((head + "\r\n").encode())
        block, end = bytes(1 << 16), time.monotonic() + MAX_SECONDS
        while time.monotonic() < end:
            conn.sendall(block)

    return respond


def chunked_forever(status: int = 200) -> Respond:
    """A chunked body that never ends."""

    def respond(conn: socket.socket, request: bytes) -> None:
        conn.sendall(f"HTTP/1.1 {status} X\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        chunk, end = b"10000\r\n" + bytes(1 << 16) + b"\r\n", time.monotonic() + MAX_SECONDS
        while time.monotonic() < end:
            conn.sendall(chunk)

    return respond


def drip(data: bytes, every: float) -> Respond:
    """Send `data` one byte every `every` seconds (a server dripping its status line)."""

    def respond(conn: socket.socket, request: bytes) -> None:
        end = time.monotonic() + MAX_SECONDS
        for byte in data:
            if time.monotonic() > end:
                return
            conn.sendall(bytes([byte]))
            time.sleep(every)

    return respond
