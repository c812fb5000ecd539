"""The real server (`python -m screening_eagle_id_server`, one worker and two) whose standard
error is a pipe nobody drains, or drains slowly, under a generated load of long hostile paths
and random headers: memory stays in budget, a normal client is served within a second, SIGINT
or SIGTERM ends it within a few seconds, and what reaches the pipe is whole lines, every request
either logged or counted in a "lines dropped" line."""

from __future__ import annotations

import http.client
import os
import random
import signal
import socket
import string
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from urllib.parse import unquote

import httpx
import pytest
from accesslog_lines import AccessLine, parse_line
from screening_eagle_id_server import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, TOKEN_PATH

pytestmark = pytest.mark.slow

# What the log may cost a server process, over what it held once warmed up: the sink's queue
# is at most 1 MiB of line text (10,000 lines); the rest is slack for the allocator (about
# 2 MiB is seen). Without the bound, the same load grows a worker by 16 to 25 MiB.
RSS_BUDGET_KIB = 8 * 1024
LOAD_SECONDS = 3.0
EXIT_SECONDS = 5.0
_SAFE = string.ascii_letters + string.digits + "-._~/"


def _paths(rng: random.Random, count: int) -> list[str]:
    """Paths up to 12,000 bytes (under the 16 KiB head limit), with percent-encoded bytes
    anywhere: newlines, NULs, escape sequences, bidi overrides, invalid UTF-8."""
    nasty = ["%0A", "%0D", "%00", "%1B[2J", "%E2%80%AE", "%FF", "%22", "%20", "%5C"]
    paths = []
    for _ in range(count):
        length = rng.choice([1, 300, 3000, 12000, 12000])
        chars = [
            rng.choice(nasty) if rng.random() < 0.05 else rng.choice(_SAFE) for _ in range(length)
        ]
        paths.append("/" + "".join(chars))
    return paths


def _headers(rng: random.Random) -> dict[str, str]:
    return {
        "X-" + "".join(rng.choices(string.ascii_letters + "-", k=rng.randint(1, 20))): "".join(
            rng.choices(string.printable[:94] + " ", k=rng.randint(0, 200))
        )
        for _ in range(rng.randint(0, 5))
    }


class _Load:
    """A few keep-alive clients sending generated requests until stopped; counts answers."""

    def __init__(self, port: int, seed: int, clients: int = 3) -> None:
        rng = random.Random(seed)
        self.paths = _paths(rng, 150)
        self.expected = {unquote(path) for path in self.paths}
        self.answered = self.failed = 0
        self._port = port
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._client, args=(seed + i,), daemon=True)
            for i in range(clients)
        ]

    def __enter__(self) -> _Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _client(self, seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", self._port, timeout=5)
        while not self._stop.is_set():
            try:
                conn.request(
                    rng.choice(["GET", "POST"]), rng.choice(self.paths), b"", _headers(rng)
                )
                conn.getresponse().read()
                with self._lock:
                    self.answered += 1
            except (OSError, http.client.HTTPException):
                with self._lock:
                    self.failed += 1
                conn.close()
        conn.close()


def _rss_kib(pid: int) -> int:
    with suppress(OSError), open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _servers(pid: int) -> list[int]:
    """The processes that serve: the process itself, or its workers."""
    with suppress(OSError), open(f"/proc/{pid}/task/{pid}/children") as children:
        kids = [int(kid) for kid in children.read().split()]
        if kids:
            return kids
    return [pid]


@contextmanager
def _server(workers: int) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("EAGLE_ID")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "screening_eagle_id_server",
            "--dev",
            "--workers",
            str(workers),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        for _ in range(400):
            with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            assert proc.poll() is None, "the server exited"
            time.sleep(0.05)
        yield port, proc
    finally:
        if proc.poll() is None:
            for pid in _servers(proc.pid):
                with suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()


def _normal_client_is_served_within_a_second(port: int) -> None:
    response = httpx.post(
        f"http://127.0.0.1:{port}{TOKEN_PATH}",
        data={"grant_type": "client_credentials", "scope": "inspect"},
        auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
        timeout=1.0,
    )
    assert response.status_code == 200, response.text


def _stop_within_a_few_seconds(proc: subprocess.Popen[bytes], signum: int) -> None:
    proc.send_signal(signum)
    try:
        proc.wait(timeout=EXIT_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the server did not stop within {EXIT_SECONDS} s of {signum!r}")


def _check_lines(data: bytes, load: _Load) -> tuple[int, int]:
    """Every line whole and known; every access line's path one that was sent (or its start,
    cut). Returns (access lines, lines reported dropped)."""
    logged = dropped = 0
    known = load.expected | {TOKEN_PATH}
    for line in data.decode().split("\n")[:-1]:
        parsed = parse_line(line)
        if isinstance(parsed, AccessLine):
            logged += 1
            if "path" in parsed.cut:
                assert any(path.startswith(parsed.path) for path in known), line
            else:
                assert parsed.path in known, line
        elif isinstance(parsed, int):
            dropped += parsed
    assert data.endswith(b"\n")
    return logged, dropped


@pytest.mark.parametrize(("workers", "signum"), [(1, signal.SIGINT), (2, signal.SIGTERM)])
def test_a_stderr_nobody_reads_costs_a_bounded_amount_and_never_stops_the_server(
    workers: int, signum: int
) -> None:
    with _server(workers) as (port, proc):
        with _Load(port, seed=workers) as load:
            time.sleep(0.5)  # warmed up; by now the pipe is full
            baseline = {pid: _rss_kib(pid) for pid in _servers(proc.pid)}
            peak = dict(baseline)
            deadline = time.monotonic() + LOAD_SECONDS
            while time.monotonic() < deadline:
                time.sleep(0.1)
                for pid in peak:
                    peak[pid] = max(peak[pid], _rss_kib(pid))
            _normal_client_is_served_within_a_second(port)
        assert load.answered > 300  # the pipe (64 KiB) and the queue (1 MiB) are full
        assert load.failed == 0
        for pid, kib in peak.items():
            assert kib - baseline[pid] <= RSS_BUDGET_KIB, (pid, baseline[pid], kib)
        _normal_client_is_served_within_a_second(port)
        _stop_within_a_few_seconds(proc, signum)
        assert proc.stderr is not None
        logged, _ = _check_lines(proc.stderr.read(), load)
        assert logged > 0


def test_two_workers_on_a_slowly_drained_pipe_write_whole_lines_and_count_the_rest() -> None:
    with _server(2) as (port, proc):
        assert proc.stderr is not None
        stderr = proc.stderr.fileno()
        data = bytearray()
        slow = threading.Event()
        slow.set()

        def drain() -> None:
            while chunk := os.read(stderr, 512 if slow.is_set() else 65536):
                data.extend(chunk)
                if slow.is_set():
                    time.sleep(0.02)  # about 25 KB/s: far slower than the lines come

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        with _Load(port, seed=7) as load:
            time.sleep(LOAD_SECONDS)
            _normal_client_is_served_within_a_second(port)
        slow.clear()
        size = -1
        while size != len(data):  # until the workers have written all they queued
            size = len(data)
            time.sleep(0.5)
        _stop_within_a_few_seconds(proc, signal.SIGINT)
        reader.join(timeout=EXIT_SECONDS)
    logged, dropped = _check_lines(bytes(data), load)
    # Both workers wrote their last line (uvicorn's) before SIGTERM ended them.
    assert bytes(data).count(b"Finished server process") == 2
    assert dropped > 0
    assert load.failed == 0
    # Every request is either logged or counted (the token requests of the normal client too).
    assert logged + dropped == load.answered + 1


def test_what_is_queued_when_sigterm_arrives_is_written_before_the_process_dies() -> None:
    """uvicorn shuts down, then lets SIGTERM kill the process: the sink writes first."""
    with _server(1) as (port, proc):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        for i in range(50):
            conn.request("GET", f"/sigterm-{i}")
            conn.getresponse().read()
        conn.close()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=EXIT_SECONDS)
    assert proc.returncode == -signal.SIGTERM
    lines = err.decode().splitlines()
    paths = [parsed.path for parsed in map(parse_line, lines) if isinstance(parsed, AccessLine)]
    assert paths == [f"/sigterm-{i}" for i in range(50)]
    assert lines[-1].endswith(f"Finished server process [{proc.pid}]")


_LOG_EVERYWHERE = """
import logging, logging.config, sys, warnings
from screening_eagle_id_server._cli import _configure_logging, uvicorn_log_config
logging.config.dictConfig(uvicorn_log_config())
_configure_logging()
for name in ("uvicorn.error", "screening_eagle_id_server.error", "asyncio", "anything.else"):
    for _ in range(1000):
        logging.getLogger(name).error("a record on %s", name)
warnings.warn("a warning")
print("logged", flush=True)
"""


def test_no_record_the_server_process_logs_blocks_on_a_full_stderr() -> None:
    """uvicorn's, the server's, asyncio's (root), warnings: all through the sink."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    with suppress(BlockingIOError):
        while True:
            os.write(write_fd, b"x" * 4096)
    os.set_blocking(write_fd, True)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", _LOG_EVERYWHERE], stdout=subprocess.PIPE, stderr=write_fd
        )
        try:
            out, _ = proc.communicate(timeout=EXIT_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail("a record blocked on the full pipe")
        assert out == b"logged\n"
        assert proc.returncode == 0
    finally:
        os.close(write_fd)
        os.close(read_fd)
