"""The real server (`python -m screening_eagle_id_server --dev`) as a subprocess on a free
127.0.0.1 port, with its memory (VmRSS from /proc) and its stop on SIGINT observable: for the
tests of what one connection may cost."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["LiveServer", "live_server", "rss_kib"]


def rss_kib(pid: int) -> int:
    """The resident set of process `pid`, in KiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


@dataclass
class LiveServer:
    proc: subprocess.Popen[bytes]
    address: tuple[str, int]
    log: Path

    def rss_kib(self) -> int:
        return rss_kib(self.proc.pid)

    def stop(self, within: float) -> float:
        """SIGINT, then how long the process took to exit (fails past `within` seconds)."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=within)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            tail = self.log.read_text(errors="replace")[-2000:]
            pytest.fail(f"the server did not stop within {within} s of SIGINT: {tail}")
        return time.monotonic() - started


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def live_server(log: Path, *flags: str) -> Iterator[LiveServer]:
    """The server on a free port, its output (access log included) going to `log`."""
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc (Linux) to read the server's memory")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EAGLE_ID")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "screening_eagle_id_server",
                "--dev",
                "--port",
                str(port),
                *flags,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    server = LiveServer(proc, ("127.0.0.1", port), log)
    try:
        for _ in range(400):
            if proc.poll() is not None:
                pytest.fail(f"the server exited: {log.read_text(errors='replace')[-2000:]}")
            try:
                with socket.create_connection(server.address, timeout=1):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("the server did not start")
        yield server
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
