"""Run a real `redis-server` on a free 127.0.0.1 port for the RedisCache tests.

No persistence (`--save ''`, `--appendonly no`), its files in a temp dir, stopped (and
restartable on the same port) by the test. Without a `redis-server` binary the tests are
skipped with a reason, except under CI (the `CI` environment variable), where that is a
failure: `.ci/run` installs the Debian package, so a skip there would hide a broken setup.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

__all__ = ["RedisServer", "redis_server_binary", "start_redis"]

_START_TIMEOUT = 10.0


def redis_server_binary() -> str:
    """The path of `redis-server`, or skip (fail under CI) when it is not installed."""
    found = shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if os.access(p, os.X_OK)),
        None,
    )
    if found is None:
        message = "redis-server is not installed (apt-get install redis-server; .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message + " -- CI must run the RedisCache tests, not skip them")
        pytest.skip(message)
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One redis-server process; `stop()` and `start()` again on the same port."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self._binary = binary
        self._dir = workdir
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """`redis://127.0.0.1:PORT/0`."""
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        """A new synchronous client (close it)."""
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def extra_args(self) -> list[str]:
        """More command-line options (for subclasses: a cluster node, ...)."""
        return []

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        log = open(self._dir / "redis.log", "ab")  # noqa: SIM115 - handed to the child
        with log:
            self._process = subprocess.Popen(
                [
                    self._binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self._dir),
                    "--daemonize",
                    "no",
                    *self.extra_args(),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + _START_TIMEOUT
        with self.client() as probe:
            while True:
                try:
                    if probe.ping():
                        return
                except redis.ConnectionError:
                    pass
                if self._process.poll() is not None or time.monotonic() > deadline:
                    log_text = (self._dir / "redis.log").read_text(errors="replace")[-2000:]
                    self.stop()
                    raise RuntimeError(f"redis-server did not start:\n{log_text}")
                time.sleep(0.02)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and wait for it to exit."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def start_redis(workdir: Path) -> Iterator[RedisServer]:
    """A running redis-server for the duration of the block (skips if not installed)."""
    server = RedisServer(redis_server_binary(), workdir)
    try:
        server.start()
    except RuntimeError:
        # The free port may have been taken between probing and binding: one more try.
        server = RedisServer(server._binary, workdir)
        server.start()
    try:
        yield server
    finally:
        server.stop()
