"""`python -m screening_eagle_id_server` and `eagle-id serve`."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import secrets
import sys
from collections.abc import Mapping, MutableMapping, Sequence

from starlette.applications import Starlette

from ._app import create_app
from ._registry import Registry, RegistryError
from ._settings import DEFAULT_TOKEN_LIFETIME, MIN_SIGNING_KEY_BYTES, Settings

__all__ = [
    "ENV_CLIENTS",
    "ENV_DEV",
    "ENV_DEV_KEY",
    "ENV_LIFETIME",
    "ENV_SIGNING_KEY",
    "app_from_env",
    "main",
    "settings_from_env",
]

ENV_SIGNING_KEY = "EAGLE_ID_SIGNING_KEY"
# How the parent hands its validated configuration to uvicorn's worker processes: workers
# import the app by name, so everything they need, the dev key included, travels in the env.
ENV_CLIENTS = "EAGLE_ID_SERVER_CLIENTS"
ENV_DEV = "EAGLE_ID_SERVER_DEV"
# The parent's throw-away dev key, for its workers only: a private name, so that it can never be
# confused with a key the user set (--dev must never sign with a possibly real key).
ENV_DEV_KEY = "EAGLE_ID_SERVER_DEV_KEY"
ENV_LIFETIME = "EAGLE_ID_SERVER_LIFETIME"
_FACTORY = "screening_eagle_id_server._cli:app_from_env"
_LOG_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


class _ConfigError(Exception):
    pass


def settings_from_env(environ: Mapping[str, str]) -> Settings:
    """Settings from the environment prepared by `main` (also what each worker runs)."""
    dev = environ.get(ENV_DEV) == "1"
    if dev:
        key = environ.get(ENV_DEV_KEY, "")
        if not key:
            raise _ConfigError(f"{ENV_DEV_KEY} is not set: dev workers take the parent's key")
    else:
        key = environ.get(ENV_SIGNING_KEY, "")
    if not key:
        raise _ConfigError(
            f"{ENV_SIGNING_KEY} is not set: refusing to start without a signing key"
            " (use --dev for a throw-away key)"
        )
    if len(key.encode()) < MIN_SIGNING_KEY_BYTES:
        raise _ConfigError(f"{ENV_SIGNING_KEY} must be at least {MIN_SIGNING_KEY_BYTES} bytes")
    clients = environ.get(ENV_CLIENTS, "")
    try:
        registry = Registry.from_file(clients) if clients else None
    except RegistryError as exc:
        raise _ConfigError(str(exc)) from exc
    if dev:
        registry = Registry.demo() if registry is None else registry.merged(Registry.demo())
    if registry is None:
        raise _ConfigError("no client registry: pass --clients FILE (or --dev for the demo client)")
    try:
        lifetime = int(environ.get(ENV_LIFETIME, str(DEFAULT_TOKEN_LIFETIME)))
        return Settings(signing_key=key.encode(), registry=registry, token_lifetime=lifetime)
    except ValueError as exc:
        raise _ConfigError(str(exc)) from exc


def app_from_env() -> Starlette:
    """The uvicorn factory: each worker builds the same app from the same environment."""
    _configure_logging()
    return create_app(settings_from_env(os.environ))


def _configure_logging() -> None:
    logger = logging.getLogger("screening_eagle_id_server")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_LOG_FORMAT))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m screening_eagle_id_server",
        description="Reference server for Screening Eagle ID's token endpoint.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    parser.add_argument("--clients", metavar="FILE", help="client registry (TOML, see README)")
    parser.add_argument(
        "--dev",
        action="store_true",
        help="dev mode: random signing key, demo client, loopback only",
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--lifetime",
        type=int,
        default=DEFAULT_TOKEN_LIFETIME,
        metavar="S",
        help=f"access token lifetime in seconds (default {DEFAULT_TOKEN_LIFETIME})",
    )
    return parser


def prepare_environment(args: argparse.Namespace, environ: MutableMapping[str, str]) -> Settings:
    """Validate the arguments and write the workers' environment; return the settings."""
    if args.workers < 1:
        raise _ConfigError("--workers must be at least 1")
    if not 0 <= args.port <= 65535:
        raise _ConfigError("--port must be 0-65535")
    if args.dev:
        if not _is_loopback(args.host):
            raise _ConfigError(f"--dev binds loopback only, not {args.host!r}")
        # Always a fresh key, even when EAGLE_ID_SIGNING_KEY is set (it may be a production
        # key, and the demo client's secret is public). Generated once, here in the parent,
        # so that every worker signs with it.
        environ[ENV_DEV_KEY] = secrets.token_urlsafe(MIN_SIGNING_KEY_BYTES)
    else:
        environ.pop(ENV_DEV_KEY, None)
    environ[ENV_DEV] = "1" if args.dev else "0"
    environ[ENV_CLIENTS] = os.path.abspath(args.clients) if args.clients else ""
    environ[ENV_LIFETIME] = str(args.lifetime)
    # Fail here, once, with a clear message, rather than in every worker.
    return settings_from_env(environ)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until interrupted; return the exit status."""
    args = _parser().parse_args(argv)
    if args.dev and os.environ.get(ENV_SIGNING_KEY):
        print(
            f"screening_eagle_id_server: warning: {ENV_SIGNING_KEY} is set but ignored in"
            " --dev mode (dev mode always signs with a random key)",
            file=sys.stderr,
        )
    try:
        settings = prepare_environment(args, os.environ)
    except _ConfigError as exc:
        print(f"screening_eagle_id_server: {exc}", file=sys.stderr)
        return 2
    if args.dev:
        print(
            "screening_eagle_id_server: DEV MODE — random signing key, demo client"
            " 'demo-client' / 'demo-secret'. Not for production.",
            file=sys.stderr,
        )
    clients = ", ".join(sorted(c.client_id for c in settings.registry))
    print(
        f"screening_eagle_id_server: http://{args.host}:{args.port} clients: {clients}",
        file=sys.stderr,
    )
    # Imported here: only the serving path needs them.
    import uvicorn

    from ._nodelay import NoDelayH11Protocol

    uvicorn.run(
        _FACTORY,
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        # h11 with TCP_NODELAY on every connection: uvicorn leaves it off with several
        # workers (issue #3149), and each keep-alive response then waits ~40 ms.
        http=NoDelayH11Protocol,
        # Our own access log replaces uvicorn's (which would log the query string).
        access_log=False,
        lifespan="off",
        ws="none",
        server_header=False,
        log_level="info",
    )
    return 0
