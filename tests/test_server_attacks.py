"""The attacks of issue 18, each against the real server process on 127.0.0.1, bounded in time
and bytes: an endless trailer section, an endless chunk extension, a pipelining flood (read
and not read), clients that never read filling the connection cap. Each one leaves the server
within its memory bound and serving a normal client."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from pathlib import Path

import pytest
from budget_server import LiveServer, live_server
from test_server_limits import BODY, head, read_answer

pytestmark = pytest.mark.slow  # each attack runs for a couple of seconds

# What one attacking connection may add to the server's resident memory, with margin: the
# documented budget is well under 1 MiB per connection (docs/guide/server.md).
MAX_GROWTH_KIB = 8 * 1024
ATTACK_SECONDS = 2.0
CHUNKED = head("Transfer-Encoding: chunked").replace(b"Content-Length: 43\r\n", b"")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    log = tmp_path_factory.mktemp("attacks") / "server.log"
    with live_server(
        log, "--limit-concurrency", "20", "--write-timeout", "1", "--keep-alive-timeout", "1"
    ) as server:
        yield server
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]


def _token(address: tuple[str, int], timeout: float = 1.0) -> int:
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(head("Connection: close") + BODY)
        return read_answer(sock, timeout=timeout).status


def _warm(live: LiveServer) -> int:
    for _ in range(20):
        assert _token(live.address) == 200
    return live.rss_kib()


def _send_for(sock: socket.socket, chunks: Iterator[bytes], seconds: float) -> tuple[int, bytes]:
    """Send until the server closes, answers, or `seconds` pass: (bytes sent, bytes read)."""
    sock.setblocking(False)
    sent, got = 0, b""
    deadline = time.monotonic() + seconds
    pending = b""
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            pass
        except OSError:
            break
        else:
            got += data
            if not data or b"\r\n\r\n" in got:
                break
        if not pending:
            pending = next(chunks)
        try:
            n = sock.send(pending)
        except BlockingIOError:
            time.sleep(0.001)
            continue
        except OSError:
            break
        sent += n
        pending = pending[n:]
    sock.setblocking(True)
    return sent, got


def _repeat(first: bytes, then: bytes) -> Iterator[bytes]:
    yield first
    while True:
        yield then


@pytest.mark.parametrize(
    "attack",
    [
        pytest.param(_repeat(CHUNKED + b"0\r\n", b"X: " + b"v" * 4000 + b"\r\n"), id="trailers"),
        pytest.param(_repeat(CHUNKED + b"0\r\nX: ", b"v" * 4096), id="one endless trailer"),
        pytest.param(_repeat(CHUNKED + b"1;", b"e" * 4096), id="endless chunk extension"),
        pytest.param(
            _repeat(CHUNKED, b"1;e=" + b"x" * 1000 + b"\r\na\r\n"), id="many chunk extensions"
        ),
    ],
)
def test_a_body_phase_that_never_ends_is_refused_within_the_budget(
    live: LiveServer, attack: Iterator[bytes]
) -> None:
    before = _warm(live)
    with socket.create_connection(live.address, timeout=5) as sock:
        sent, got = _send_for(sock, attack, ATTACK_SECONDS)
        growth = live.rss_kib() - before
        if b"\r\n\r\n" not in got:
            sock.settimeout(2)
            with suppress(OSError):
                got += sock.recv(65536)
    assert growth < MAX_GROWTH_KIB, (growth, sent)
    assert got.startswith((b"HTTP/1.1 431 ", b"HTTP/1.1 413 ")), (got[:200], sent)
    assert _token(live.address) == 200


@pytest.mark.parametrize("reads", [True, False], ids=["reading", "never reading"])
def test_a_pipelining_flood_is_read_one_request_ahead(live: LiveServer, reads: bool) -> None:
    before = _warm(live)
    one = head() + BODY
    with socket.create_connection(live.address, timeout=5) as sock:
        if not reads:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        sent = answered = 0
        deadline = time.monotonic() + ATTACK_SECONDS
        burst = one * 200
        while time.monotonic() < deadline:
            if reads:
                try:
                    answered += sock.recv(1 << 20).count(b"HTTP/1.1 200 ")
                except BlockingIOError:
                    pass
                except OSError:
                    break
            try:
                sent += sock.send(burst)
            except BlockingIOError:
                time.sleep(0.002)
            except OSError:
                break
        growth = live.rss_kib() - before
        # Meanwhile a normal client is served.
        assert _token(live.address) == 200
    assert growth < MAX_GROWTH_KIB, (growth, sent // len(one), answered)


def test_clients_that_never_read_do_not_lock_out_a_normal_client(live: LiveServer) -> None:
    """20 connections (the cap) each pipelining 300 requests whose answers it never reads:
    while the server answers them they are busy (503 for others is fair), but once their
    answers back up they are evicted for a new client, or dropped by the write timeout; they
    do not hold every slot for as long as they stay open."""
    _warm(live)
    with ExitStack() as stack:
        for _ in range(20):
            sock = stack.enter_context(socket.socket())
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(live.address)
            sock.setblocking(False)
            with suppress(BlockingIOError):
                sock.send((head() + BODY) * 300)
        deadline = time.monotonic() + 10
        while _token(live.address, timeout=2) != 200:
            assert time.monotonic() < deadline, "still 503 after 10 s"
            time.sleep(0.1)
        for _ in range(5):
            started = time.monotonic()
            assert _token(live.address) == 200
            assert time.monotonic() - started < 1.0


def test_the_server_stops_on_sigint_with_attackers_connected(tmp_path: Path) -> None:
    with live_server(tmp_path / "server.log") as server, ExitStack() as stack:
        for i in range(10):
            sock = stack.enter_context(socket.create_connection(server.address))
            sock.setblocking(False)
            with suppress(BlockingIOError):
                sock.send((head() + BODY) * 300 if i % 2 else CHUNKED + b"0\r\nX: y\r\n")
        time.sleep(0.3)
        assert server.stop(within=5.0) < 5.0
