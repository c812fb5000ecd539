"""Server processes the benchmarks start: free loopback ports, readiness, guaranteed cleanup.

Every process is started in its own session (so uvicorn's worker processes share its process
group) and registered; `Processes.close()` stops each group — on success, failure and Ctrl-C alike.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["HOST", "Processes", "Server", "free_port"]

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Server:
    """A started server process: its URL, its log file and its process."""

    def __init__(self, name: str, url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.name = name
        self.url = url
        self.proc = proc
        self.log = log

    def log_tail(self, lines: int = 20) -> str:
        """The end of its log, to explain a failure."""
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Processes:
    """Owns every process a benchmark starts; a context manager that stops them all."""

    def __init__(self) -> None:
        self._servers: list[Server] = []
        self.logdir = Path(tempfile.mkdtemp(prefix="eagle-bench-"))

    def __enter__(self) -> Processes:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(
        self,
        name: str,
        args: Sequence[str],
        port: int,
        env: Mapping[str, str] | None = None,
        ready_path: str = "/",
        timeout: float = 30.0,
        program: str = sys.executable,
    ) -> Server:
        """Start `program args...` (Python by default) listening on HOST:port and wait until
        it answers HTTP."""
        log = self.logdir / f"{name}.log"
        with log.open("wb") as out:
            # Output to a file, never to a pipe nobody reads: a full pipe would stall the server.
            proc = subprocess.Popen(
                [program, *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                cwd=ROOT,  # `python -m benchmarks._serve` imports from the checkout
                start_new_session=True,
            )
        server = Server(name, f"http://{HOST}:{port}", proc, log)
        self._servers.append(server)
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{server.log_tail()}")
            try:
                with urllib.request.urlopen(server.url + ready_path, timeout=1):  # noqa: S310
                    break
            except urllib.error.HTTPError:
                break  # it answered: any status means it is serving
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop(server)
                raise RuntimeError(f"{name} did not answer within {timeout:.0f} s")
            time.sleep(0.05)
        return server

    def stop(self, server: Server) -> None:
        """Stop one server's whole process group: SIGINT, then SIGKILL after a grace period."""
        if server in self._servers:
            self._servers.remove(server)
        if server.proc.poll() is not None:
            return
        for sig, grace in ((signal.SIGINT, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(server.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                server.proc.wait(grace)
                break
            except subprocess.TimeoutExpired:
                continue
        # uvicorn's workers may outlive their parent by a moment; the group goes with them.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.proc.pid, signal.SIGKILL)

    def close(self) -> None:
        """Stop every server still running, then remove their logs."""
        for server in list(self._servers):
            self.stop(server)
        shutil.rmtree(self.logdir, ignore_errors=True)
