"""`python -m benchmarks._serve {bare,storm} --port N [--workers N]`: the comparison servers.

They run on the uvicorn settings the reference server's own CLI uses
(`screening_eagle_id_server._cli.main`), so a throughput ratio compares the apps, not uvicorn
configurations.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

__all__ = ["UVICORN_SETTINGS", "main"]

# Mirrors screening_eagle_id_server._cli.main's uvicorn.run(...) keyword arguments.
UVICORN_SETTINGS: dict[str, Any] = {
    "access_log": False,
    "lifespan": "off",
    "ws": "none",
    "server_header": False,
    "log_level": "info",
}

_APPS = {
    "bare": ("benchmarks._apps:bare_app", False),
    "storm": ("benchmarks._apps:storm_app", True),
}


def main() -> None:
    """Parse the arguments and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._serve")
    parser.add_argument("app", choices=sorted(_APPS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    target, factory = _APPS[args.app]
    uvicorn.run(
        target,
        factory=factory,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        **UVICORN_SETTINGS,
    )


if __name__ == "__main__":
    main()
