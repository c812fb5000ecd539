"""`python -m screening_eagle_id_server` and `eagle-id serve`."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import ipaddress
import logging
import os
import secrets
import socket
import sys
from collections.abc import Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, NoReturn

from ._limits import ConnectionLimits, connection_cap
from ._registry import Registry, RegistryError
from ._settings import DEFAULT_TOKEN_LIFETIME, MIN_SIGNING_KEY_BYTES, Settings

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = [
    "ENV_CLIENTS",
    "ENV_DEV",
    "ENV_DEV_KEY",
    "ENV_LIFETIME",
    "ENV_SIGNING_KEY",
    "app_from_env",
    "limits_from_args",
    "main",
    "settings_from_env",
    "uvicorn_log_config",
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
# How the command is typed (its usage line); messages start with the name without `python -m`.
# `eagle-id serve` passes its own.
_PROG = "python -m screening_eagle_id_server"
# What `pip install 'screening-eagle-id[server]'` brings; uvloop is used when present.
_SERVER_EXTRA = ("starlette", "uvicorn", "httptools")
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
    # The key's own bytes, even when they are not valid UTF-8 (os.environ holds them as
    # surrogate escapes).
    key_bytes = os.fsencode(key)
    if len(key_bytes) < MIN_SIGNING_KEY_BYTES:
        raise _ConfigError(f"{ENV_SIGNING_KEY} must be at least {MIN_SIGNING_KEY_BYTES} bytes")
    if "\x00" in key:
        raise _ConfigError(f"{ENV_SIGNING_KEY} must not contain NUL")
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
        return Settings(signing_key=key_bytes, registry=registry, token_lifetime=lifetime)
    except ValueError as exc:
        raise _ConfigError(str(exc)) from exc


def app_from_env() -> Starlette:
    """The uvicorn factory: each worker builds the same app from the same environment."""
    from ._app import create_app

    _configure_logging()
    return create_app(settings_from_env(os.environ))


def _configure_logging() -> None:
    from ._accesslog import use_sink
    from ._logsink import SinkHandler

    logger = logging.getLogger("screening_eagle_id_server")
    if not logger.handlers:
        # This process is the server: its lines go through its bounded sink, written by a
        # thread, off the request path and never in the way of shutdown.
        handler = SinkHandler()
        handler.setFormatter(logging.Formatter(_LOG_FORMAT))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        use_sink()


def uvicorn_log_config() -> dict[str, object]:
    """uvicorn's own records (in the parent and in each worker), and every other record,
    through the process's sink: a blocked stderr must not stop the event loop or the
    supervisor at "Shutting down"."""
    handler = {"()": "screening_eagle_id_server._logsink.server_handler", "formatter": "default"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "default": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(levelprefix)s %(message)s",
                "use_colors": False,
            },
        },
        "handlers": {"default": handler},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": [], "level": "INFO", "propagate": False},
        },
        # Everything else (asyncio's errors, warnings): without a root handler, `logging`
        # would write them to stderr itself, on the event loop.
        "root": {"handlers": ["default"], "level": "WARNING"},
    }


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (no usage block)."""

    def error(self, message: str) -> NoReturn:
        """Print one line and exit 2."""
        self.exit(2, f"{_name(self.prog)}: {_one_line(message)} (see --help)\n")


def _name(prog: str) -> str:
    """What messages start with: the command, without `python -m`."""
    return prog.removeprefix("python -m ")


def _one_line(text: str) -> str:
    # Messages quote what came from outside (registry keys, paths): keep them on one line.
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _parser(prog: str = _PROG) -> argparse.ArgumentParser:
    parser = _Parser(
        prog=prog,
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
    limits = ConnectionLimits()
    group = parser.add_argument_group("connection limits (per worker)")
    group.add_argument(
        "--header-timeout",
        type=float,
        default=limits.header_timeout,
        metavar="S",
        help="408 and close when a request's headers are not complete within S seconds"
        f" (default {limits.header_timeout:g})",
    )
    group.add_argument(
        "--body-timeout",
        type=float,
        default=limits.body_timeout,
        metavar="S",
        help="408 and close when a body is not complete S seconds after its headers"
        f" (default {limits.body_timeout:g})",
    )
    group.add_argument(
        "--keep-alive-timeout",
        type=float,
        default=limits.keep_alive_timeout,
        metavar="S",
        help="close idle keep-alive connections after S seconds"
        f" (default {limits.keep_alive_timeout:g})",
    )
    group.add_argument(
        "--write-timeout",
        type=float,
        default=limits.write_timeout,
        metavar="S",
        help="drop a connection whose client has not taken its answer within S seconds"
        f" (default {limits.write_timeout:g})",
    )
    group.add_argument(
        "--limit-concurrency",
        type=int,
        default=limits.max_connections,
        metavar="N",
        help="open connections at most (lowered to fit the open-file limit); past it the"
        " longest-waiting one (idle, its head incomplete, or not taking its answers) is"
        " closed, or 503 when all are busy"
        f" (default {limits.max_connections})",
    )
    group.add_argument(
        "--max-head-bytes",
        type=int,
        default=limits.max_head_bytes,
        metavar="N",
        help="431 for a request line plus headers over N bytes, and for a chunked body's"
        f" framing and trailers over N bytes (default {limits.max_head_bytes})",
    )
    group.add_argument(
        "--max-header-fields",
        type=int,
        default=limits.max_header_fields,
        metavar="N",
        help=f"431 for more than N header fields (default {limits.max_header_fields})",
    )
    group.add_argument(
        "--max-body-bytes",
        type=int,
        default=limits.max_body_bytes,
        metavar="N",
        help=f"413 for a request body over N bytes (default {limits.max_body_bytes})",
    )
    group.add_argument(
        "--backlog",
        type=int,
        default=limits.backlog,
        metavar="N",
        help=f"listen queue length (default {limits.backlog})",
    )
    return parser


# ConnectionLimits' field names as the flags that set them, for error messages.
_LIMIT_FLAGS = {
    "header_timeout": "--header-timeout",
    "body_timeout": "--body-timeout",
    "keep_alive_timeout": "--keep-alive-timeout",
    "write_timeout": "--write-timeout",
    "max_connections": "--limit-concurrency",
    "max_head_bytes": "--max-head-bytes",
    "max_header_fields": "--max-header-fields",
    "max_body_bytes": "--max-body-bytes",
    "backlog": "--backlog",
}


def limits_from_args(args: argparse.Namespace) -> ConnectionLimits:
    """The connection limits the arguments ask for (ValueError when one is out of range)."""
    return ConnectionLimits(
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        keep_alive_timeout=args.keep_alive_timeout,
        write_timeout=args.write_timeout,
        max_connections=args.limit_concurrency,
        max_head_bytes=args.max_head_bytes,
        max_header_fields=args.max_header_fields,
        max_body_bytes=args.max_body_bytes,
        backlog=args.backlog,
    )


def prepare_environment(args: argparse.Namespace, environ: MutableMapping[str, str]) -> Settings:
    """Validate the arguments and write the workers' environment; return the settings."""
    if args.workers < 1:
        raise _ConfigError("--workers must be at least 1")
    if not 0 <= args.port <= 65535:
        raise _ConfigError("--port must be 0-65535")
    try:
        limits = limits_from_args(args)
    except ValueError as exc:
        message = str(exc)
        for field, flag in _LIMIT_FLAGS.items():
            message = message.replace(field, flag)
        raise _ConfigError(message) from exc
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
    return dataclasses.replace(settings_from_env(environ), limits=limits)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _missing_extra() -> str | None:
    for name in _SERVER_EXTRA:
        try:
            importlib.import_module(name)
        except ImportError:
            return name
    return None


def _check_bind(host: str, port: int) -> None:
    # uvicorn would report a bad address in its own words and exit 1; say it here, once.
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
    except (OSError, UnicodeError, ValueError) as exc:
        raise _ConfigError(f"cannot listen on {host}:{port}: {exc}") from exc


def main(argv: Sequence[str] | None = None, prog: str = _PROG) -> int:
    """Run the server until interrupted; return the exit status. `prog` is how the command was
    typed (`eagle-id serve`), for the usage line and messages."""
    args = _parser(prog).parse_args(argv)
    name = _name(prog)
    missing = _missing_extra()
    if missing:
        print(
            f"{name}: the server extra is not installed ({missing} is missing):"
            " pip install 'screening-eagle-id[server]'",
            file=sys.stderr,
        )
        return 2
    if args.dev and os.environ.get(ENV_SIGNING_KEY):
        print(
            f"{name}: warning: {ENV_SIGNING_KEY} is set but ignored in"
            " --dev mode (dev mode always signs with a random key)",
            file=sys.stderr,
        )
    try:
        settings = prepare_environment(args, os.environ)
        _check_bind(args.host, args.port)
    except _ConfigError as exc:
        print(f"{name}: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    if args.dev:
        print(
            f"{name}: DEV MODE — random signing key, demo client"
            " 'demo-client' / 'demo-secret'. Not for production.",
            file=sys.stderr,
        )
    clients = ", ".join(sorted(c.client_id for c in settings.registry))
    print(
        f"{name}: http://{args.host}:{args.port} clients: {_one_line(clients)}",
        file=sys.stderr,
    )
    limits = settings.limits
    cap, backlog = connection_cap(limits)
    if cap < limits.max_connections:
        print(
            f"{name}: at most {cap} connections per worker (not {limits.max_connections}):"
            " the open-file limit (ulimit -n) allows no more",
            file=sys.stderr,
        )
    # Imported here: only the serving path needs them.
    from functools import partial

    import uvicorn

    from ._protocol import LimitedHttpToolsProtocol

    uvicorn.run(
        _FACTORY,
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        # httptools with our limits and TCP_NODELAY on every connection (uvicorn leaves it
        # off with several workers, issue #3149). A partial, so that it pickles to workers.
        http=partial(LimitedHttpToolsProtocol, limits=limits),  # type: ignore[arg-type]
        loop="auto",  # uvloop when installed
        backlog=backlog,
        # Our own access log replaces uvicorn's (which would log the query string).
        access_log=False,
        log_config=uvicorn_log_config(),
        lifespan="off",
        ws="none",
        server_header=False,
        log_level="info",
    )
    return 0
