"""The ports users are told about (README, docs, Makefile, the server's default): no test may
depend on them, because a user's `make serve` or anything else on the machine may hold them.

`forbid_documented_ports()` (conftest) makes every in-process bind of one of them fail as if
it were taken, for the whole session; `test_hermetic.py` runs the server CLI tests in a
subprocess while they are really held."""

from __future__ import annotations

import errno
import re
import socket
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# `127.0.0.1:8000`, `localhost:8000`, `[::1]:8000`, `--port 8000`, `PORT ?= 8000`.
_PORT = re.compile(
    r"(?:(?:127\.0\.0\.1|localhost|\[::1\]):|--port[ =]|PORT \?= ?)(?P<port>[0-9]{2,5})\b"
)
# Set to "1" in a test run's environment: no tripwire (the ports are really held instead).
REAL_PORTS_ONLY = "SCREENING_EAGLE_ID_TESTS_REAL_PORTS_ONLY"
# The real bind, for the tests that hold a documented port on purpose.
real_bind = socket.socket.bind

__all__ = ["REAL_PORTS_ONLY", "documented_ports", "forbid_documented_ports", "real_bind"]


def documented_ports() -> frozenset[int]:
    """Every loopback port the README, the docs and the Makefile mention, and the server's
    default port."""
    from screening_eagle_id_server._cli import _parser

    texts = [ROOT / "README.md", ROOT / "Makefile", *sorted((ROOT / "docs").rglob("*.md"))]
    ports = {
        int(m["port"])
        for path in texts
        if path.is_file()
        for m in _PORT.finditer(path.read_text(encoding="utf-8"))
    }
    ports.add(_parser().get_default("port"))
    return frozenset(port for port in ports if 0 < port < 65536)


def forbid_documented_ports() -> None:
    """From now on, binding a documented port in this process fails with EADDRINUSE."""
    ports = documented_ports()

    def bind(sock: socket.socket, address: object) -> None:
        if (
            sock.family in (socket.AF_INET, socket.AF_INET6)
            and isinstance(address, tuple)
            and len(address) >= 2
            and address[1] in ports
        ):
            raise OSError(
                errno.EADDRINUSE,
                f"port {address[1]} is documented for users (it may be taken): tests bind port 0",
            )
        real_bind(sock, address)

    socket.socket.bind = bind  # type: ignore[method-assign]
