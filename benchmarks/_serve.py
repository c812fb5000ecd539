"""`python -m benchmarks._serve APP --port N [--workers N] [--stack STACK]`.

The comparison servers run on the uvicorn settings the reference server's own CLI uses
(`screening_eagle_id_server._cli.main`): httptools with the server's connection limits and
TCP_NODELAY (`LimitedHttpToolsProtocol`), uvloop, so a throughput ratio compares the apps, not
uvicorn configurations. `reference` serves the reference server's own app factory (in dev mode,
as `python -m screening_eagle_id_server --dev` does) so that other stacks can be tried on it.

`reference-no-access-log` is the same with its access-log line switched off.

`--stack` serves on another stack instead:
- `uvicorn-httptools`: uvicorn's own httptools protocol, without our limits and without
  TCP_NODELAY: uvicorn's `--workers N` (N > 1) binds the listening socket with `proto` 0, so
  the event loop never sets TCP_NODELAY on the connections it accepts, and each keep-alive
  response waits ~40 ms for the client's delayed ACK (uvicorn issue #3149);
- `h11-asyncio`: uvicorn's pure-Python h11 on the asyncio loop, the server's previous stack.
"""

from __future__ import annotations

import argparse
import logging
import os
from functools import partial
from typing import Any

import uvicorn
from screening_eagle_id_server._cli import uvicorn_log_config
from screening_eagle_id_server._limits import ConnectionLimits, connection_cap
from screening_eagle_id_server._protocol import LimitedHttpToolsProtocol

__all__ = [
    "ACCESS_LOGGER",
    "STACKS",
    "UVICORN_SETTINGS",
    "main",
    "reference_without_access_log",
]

# Mirrors screening_eagle_id_server._cli.main's uvicorn.run(...) keyword arguments.
UVICORN_SETTINGS: dict[str, Any] = {
    "http": partial(LimitedHttpToolsProtocol, limits=ConnectionLimits()),
    "loop": "auto",
    "backlog": connection_cap(ConnectionLimits())[1],
    "access_log": False,
    "lifespan": "off",
    "ws": "none",
    "server_header": False,
    "log_level": "info",
    "log_config": uvicorn_log_config(),
}

# Other stacks to compare with (see the module's docstring).
STACKS: dict[str, dict[str, Any]] = {
    "uvicorn-httptools": {"http": "httptools", "loop": "auto"},
    "h11-asyncio": {"http": "h11", "loop": "asyncio"},
}

_APPS = {
    "bare": ("benchmarks._apps:bare_app", False),
    "storm": ("benchmarks._apps:storm_app", True),
    "reference": ("screening_eagle_id_server._cli:app_from_env", True),
    "reference-no-access-log": ("benchmarks._serve:reference_without_access_log", True),
}

# screening_eagle_id_server._middleware.ACCESS_LOGGER
ACCESS_LOGGER = "screening_eagle_id_server.access"


def reference_without_access_log() -> Any:
    """The reference app exactly as its CLI builds it, with only its access-log line off:
    to measure what that line costs under load."""
    from screening_eagle_id_server._cli import app_from_env

    app = app_from_env()
    logging.getLogger(ACCESS_LOGGER).disabled = True
    return app


def _prepare_reference(port: int, workers: int) -> None:
    # The reference CLI's own preparation: dev key and demo client, written to the environment
    # its workers read.
    from screening_eagle_id_server import _cli

    args = _cli._parser().parse_args(["--dev", "--port", str(port), "--workers", str(workers)])
    _cli.prepare_environment(args, os.environ)


def main() -> None:
    """Parse the arguments and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._serve")
    parser.add_argument("app", choices=sorted(_APPS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--stack", choices=["shipped", *STACKS], default="shipped")
    args = parser.parse_args()
    target, factory = _APPS[args.app]
    if args.app.startswith("reference"):
        _prepare_reference(args.port, args.workers)
    settings = {**UVICORN_SETTINGS, **STACKS.get(args.stack, {})}
    uvicorn.run(
        target,
        factory=factory,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        **settings,
    )


if __name__ == "__main__":
    main()
