"""The connection layer on a real loopback socket: timeouts (408), idle keep-alive close, head
limits however the bytes arrive (431), the connection cap (shed the longest-waiting, else 503),
malformed HTTP (our JSON 400), and a flood of idle and slow connections under `ulimit -n 1024`."""

from __future__ import annotations

import base64
import json
import logging
import os
import resource
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from screening_eagle_id_server import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    TOKEN_PATH,
    ConnectionLimits,
    Settings,
    create_app,
    serve_in_thread,
)

BASIC = "Basic " + base64.b64encode(f"{DEMO_CLIENT_ID}:{DEMO_CLIENT_SECRET}".encode()).decode()
BODY = b"grant_type=client_credentials&scope=inspect"
FAST = ConnectionLimits(header_timeout=0.5, body_timeout=0.5, keep_alive_timeout=0.5)
READ_TIMEOUT = 5.0


def head(*extra: str, path: str = TOKEN_PATH, length: int = len(BODY)) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Authorization: {BASIC}",
        "Content-Type: application/x-www-form-urlencoded",
        f"Content-Length: {length}",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool  # the server closed the connection after it

    def json(self) -> dict[str, str]:
        data: dict[str, str] = json.loads(self.body)
        return data


def read_answer(sock: socket.socket, timeout: float = READ_TIMEOUT) -> Answer:
    """One response; then whether the server closed the connection (within `timeout`)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"closed before a response: {data!r}")
        data += chunk
    raw_head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *lines = raw_head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    length = int(headers["content-length"])
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed in the middle of the body"
        rest += chunk
    closed = headers.get("connection") == "close" and _closed(sock, timeout)
    return Answer(int(status_line.split()[1]), headers, rest[:length], closed)


def _closed(sock: socket.socket, timeout: float) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def assert_error(answer: Answer, status: int, error: str) -> None:
    assert answer.status == status, answer
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["pragma"] == "no-cache"
    body = answer.json()
    assert body["error"] == error
    assert body["errorDescription"]
    assert answer.closed


@contextmanager
def server(limits: ConnectionLimits) -> Iterator[tuple[str, int]]:
    with serve_in_thread(create_app(Settings.dev(limits=limits))) as url:
        parts = urlsplit(url)
        assert parts.hostname is not None
        assert parts.port is not None
        yield parts.hostname, parts.port


@pytest.fixture(scope="module")
def fast() -> Iterator[tuple[str, int]]:
    with server(FAST) as address:
        yield address


def connect(address: tuple[str, int]) -> socket.socket:
    return socket.create_connection(address, timeout=READ_TIMEOUT)


# --- timeouts ------------------------------------------------------------------------------


def test_a_head_that_never_ends_gets_408(
    fast: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="screening_eagle_id_server.access")
    with connect(fast) as sock:
        sock.sendall(head()[:40])
        assert_error(read_answer(sock), 408, "invalid_request")
    assert any("status=408" in r.getMessage() for r in caplog.records)


def test_a_dripped_head_gets_408_at_its_deadline_not_per_byte(fast: tuple[str, int]) -> None:
    data = head(*(f"X-Drip-{i}: {i}" for i in range(40)))
    with connect(fast) as sock:
        for byte in data[:-4]:
            sock.sendall(bytes([byte]))
            if select.select([sock], [], [], 0.05)[0]:
                break
        else:
            pytest.fail("the server waited for a head dripped over several timeouts")
        # Before the drip ended (40 header lines at up to 50 ms per byte): the deadline is for
        # the whole head, not for each byte.
        assert_error(read_answer(sock), 408, "invalid_request")


def test_a_body_that_never_ends_gets_408(
    fast: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="screening_eagle_id_server.access")
    with connect(fast) as sock:
        sock.sendall(head(length=len(BODY) + 100) + BODY)
        assert_error(read_answer(sock), 408, "invalid_request")
    lines = [r.getMessage() for r in caplog.records if r.name.endswith(".access")]
    # One line for the request, with the status the client got.
    assert len(lines) == 1, lines
    assert f"method=POST path={TOKEN_PATH} status=408" in lines[0]


def test_an_idle_keep_alive_connection_is_closed(fast: tuple[str, int]) -> None:
    with connect(fast) as sock:
        sock.sendall(head() + BODY)
        answer = read_answer(sock)
        assert answer.status == 200
        assert not answer.closed  # kept alive ...
        assert _closed(sock, READ_TIMEOUT)  # ... until idle too long


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(
    fast: tuple[str, int],
) -> None:
    with connect(fast) as sock:
        sock.settimeout(READ_TIMEOUT)
        assert sock.recv(1024) == b""


def test_a_kept_alive_connection_serves_the_next_request(fast: tuple[str, int]) -> None:
    with connect(fast) as sock:
        for _ in range(3):
            sock.sendall(head() + BODY)
            assert read_answer(sock, timeout=0.1).status == 200


# --- head limits ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(("X-Big: " + "a" * 20_000,), id="20 KB header"),
        pytest.param(("X-Big: " + "a" * 100_000,), id="100 KB header"),
        pytest.param(tuple(f"X-{i}: {i}" for i in range(101)), id="101 headers"),
        pytest.param(tuple(f"X-{i}: {i}" for i in range(10_000)), id="10000 headers"),
    ],
)
@pytest.mark.parametrize("chunk", [None, 1000], ids=["one write", "dripped"])
def test_an_oversized_head_gets_431_however_it_arrives(
    fast: tuple[str, int], extra: tuple[str, ...], chunk: int | None
) -> None:
    data = head(*extra) + BODY
    with connect(fast) as sock:
        if chunk is None:
            _send_all(sock, data)
        else:
            for i in range(0, len(data), chunk):
                if not _send_all(sock, data[i : i + chunk]) or _readable(sock):
                    break
                time.sleep(0.002)
        assert_error(read_answer(sock), 431, "invalid_request")


def test_a_long_request_target_gets_431(fast: tuple[str, int]) -> None:
    with connect(fast) as sock:
        _send_all(sock, head(path=TOKEN_PATH + "?" + "q" * 20_000) + BODY)
        assert_error(read_answer(sock), 431, "invalid_request")


def test_a_head_within_the_limits_is_served(fast: tuple[str, int]) -> None:
    extra = ("X-Big: " + "a" * 15_000, *(f"X-{i}: {i}" for i in range(90)))
    with connect(fast) as sock:
        sock.sendall(head(*extra) + BODY)
        assert read_answer(sock).status == 200


def test_the_limits_are_configurable() -> None:
    with server(ConnectionLimits(max_head_bytes=2048, max_header_fields=10)) as address:
        for extra in [("X-Big: " + "a" * 2100,), tuple(f"X-{i}: {i}" for i in range(8))]:
            with connect(address) as sock:
                sock.sendall(head(*extra) + BODY)
                assert_error(read_answer(sock), 431, "invalid_request")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_limit_gets_413(chunked: bool) -> None:
    """The connection layer's own body limit (the token endpoint's, 8 KiB, is larger here)."""
    body = BODY + b"&x=" + b"a" * 3000
    if chunked:
        data = head("Transfer-Encoding: chunked").replace(b"Content-Length: 43\r\n", b"")
        data += b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:1000], body[1000:]))
    else:
        data = head(length=len(body)) + body
    with server(ConnectionLimits(max_body_bytes=2048)) as address, connect(address) as sock:
        _send_all(sock, data)
        assert_error(read_answer(sock), 413, "invalid_request")


def test_malformed_http_gets_our_json_400(fast: tuple[str, int]) -> None:
    with connect(fast) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nBad Header\r\n\r\n")
        assert_error(read_answer(sock), 400, "invalid_request")


def _send_all(sock: socket.socket, data: bytes) -> bool:
    """False when the server closed before taking everything (it answered early)."""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        return False
    return True


def _readable(sock: socket.socket) -> bool:
    return bool(select.select([sock], [], [], 0)[0])


# --- the connection cap --------------------------------------------------------------------


def test_past_the_cap_a_waiting_connection_makes_room() -> None:
    limits = ConnectionLimits(max_connections=2)
    with server(limits) as address, connect(address) as idle, connect(address) as partial:
        partial.sendall(head()[:30])
        time.sleep(0.2)  # both admitted, oldest first
        with connect(address) as sock:
            sock.sendall(head() + BODY)
            assert read_answer(sock).status == 200
        # The one that had waited longest (sent nothing) was closed, silently.
        assert _closed(idle, READ_TIMEOUT)


def test_past_the_cap_with_every_connection_busy_503() -> None:
    limits = ConnectionLimits(max_connections=2, body_timeout=30)
    with server(limits) as address, ExitStack() as stack:
        busy = [stack.enter_context(connect(address)) for _ in range(2)]
        for sock in busy:  # a request in progress on each: its body has not arrived yet
            sock.sendall(head(length=len(BODY) + 10) + BODY)
        time.sleep(0.2)
        with connect(address) as sock:
            _send_all(sock, head() + BODY)
            assert_error(read_answer(sock), 503, "temporarily_unavailable")
        busy[0].sendall(b"&x=1234567")  # finish one request: a slot frees up
        assert read_answer(busy[0]).status == 200
        busy[0].close()
        time.sleep(0.2)
        with connect(address) as sock:
            sock.sendall(head() + BODY)
            assert read_answer(sock).status == 200


# --- a flood, on the real command line, under `ulimit -n 1024` ------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _limit_open_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


@pytest.mark.slow
def test_idle_and_slow_floods_do_not_lock_out_a_normal_client(tmp_path: Path) -> None:
    """1,100 idle and 400 slow connections against one worker limited to 1,024 open files: a
    normal client still gets its tokens quickly, and the log is not flooded."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2000:
        if hard != resource.RLIM_INFINITY and hard < 2000:
            pytest.skip("this test's own process needs 2,000 open files")
        resource.setrlimit(resource.RLIMIT_NOFILE, (2000, hard))
    port = _free_port()
    log = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EAGLE_ID")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "screening_eagle_id_server", "--dev", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_limit_open_files,  # only setrlimit, before exec
        )
    address = ("127.0.0.1", port)
    try:
        _wait_until_serving(address, proc)
        with ExitStack() as stack:
            for i in range(400):  # slow: half in their body, half in their head
                sock = stack.enter_context(connect(address))
                sock.sendall(head(length=1000) + BODY if i % 2 else head()[:50])
            for _ in range(1100):
                stack.enter_context(connect(address))
            latencies = []
            with httpx.Client(timeout=READ_TIMEOUT) as http:
                for _ in range(50):
                    started = time.perf_counter()
                    # A new connection each time: the hardest case, the cap is full.
                    response = http.post(
                        f"http://127.0.0.1:{port}{TOKEN_PATH}",
                        content=BODY,
                        headers={
                            "Authorization": BASIC,
                            "Content-Type": "application/x-www-form-urlencoded",
                            "Connection": "close",
                        },
                    )
                    latencies.append(time.perf_counter() - started)
                    assert response.status_code == 200, response.text
            latencies.sort()
            assert latencies[int(len(latencies) * 0.99) - 1] < 1.0, latencies[-5:]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "Too many open files" not in text
    assert "Traceback" not in text
    assert text.count("\n") < 1000, text[-2000:]


def _wait_until_serving(address: tuple[str, int], proc: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            pytest.fail("the server exited")
        try:
            with socket.create_connection(address, timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail("the server did not start")


# --- the cap fits the open-file limit ------------------------------------------------------


@pytest.mark.parametrize(
    ("soft", "hard", "expected", "raised_to"),
    [
        (1024, 1024, (736, 256), None),  # no room to raise: fewer connections
        (256, 256, (160, 64), None),  # a small limit: a smaller accept burst too
        (1024, 4096, (1000, 256), 1288),  # raised towards the hard limit, enough
        (1024, 1200, (912, 256), 1200),  # raised as far as allowed, still short
        (65536, 65536, (1000, 256), None),
    ],
)
def test_the_connection_cap_fits_the_open_file_limit(
    monkeypatch: pytest.MonkeyPatch,
    soft: int,
    hard: int,
    expected: tuple[int, int],
    raised_to: int | None,
) -> None:
    from screening_eagle_id_server import _limits

    limit = [soft, hard]

    def setrlimit(which: int, values: tuple[int, int]) -> None:
        limit[:] = values

    monkeypatch.setattr(_limits.resource, "getrlimit", lambda which: tuple(limit))
    monkeypatch.setattr(_limits.resource, "setrlimit", setrlimit)
    assert _limits.connection_cap(ConnectionLimits()) == expected
    assert limit[0] == (raised_to or soft)


@pytest.mark.parametrize(
    "bad",
    [
        {"header_timeout": 0},
        {"body_timeout": float("nan")},
        {"keep_alive_timeout": True},
        {"max_connections": 0},
        {"max_head_bytes": 100},
        {"max_header_fields": 1.5},
        {"write_timeout": -1},
        {"max_body_bytes": 10},
        {"backlog": "10"},
    ],
)
def test_connection_limits_refuse_nonsense(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        ConnectionLimits(**bad)  # type: ignore[arg-type]
