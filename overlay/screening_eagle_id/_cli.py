"""The `eagle-id` command: `token`, `decode`, `serve`, `conformance`."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from ._cache import TokenCache
from ._client import TokenClient
from ._exceptions import ConfigurationError, TokenError
from ._token import decode_jwt_unverified

__all__ = ["CACHE_KINDS", "main"]


def _memory_cache() -> TokenCache | None:
    return None  # TokenClient's default MemoryCache: nothing survives the process


def _file_cache() -> TokenCache:
    # A cache that outlives the process, so repeated `eagle-id token` calls reuse one token.
    # Looked up at run time: FileCache is POSIX-only and lives in its own module.
    try:
        module = importlib.import_module("screening_eagle_id._filecache")
    except ImportError:
        module = None
    factory: Callable[[], TokenCache] | None = getattr(module, "FileCache", None)
    if factory is None:
        raise ConfigurationError("--cache file is not available in this installation")
    return factory()


#: `--cache` choices: name -> factory of the cache `eagle-id token` uses.
CACHE_KINDS: dict[str, Callable[[], TokenCache | None]] = {
    "memory": _memory_cache,
    "file": _file_cache,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eagle-id", description="Screening Eagle ID tokens from the command line."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    token = commands.add_parser(
        "token",
        help="print an access token",
        description="Print an access token. Credentials, URL and scope come from the options, "
        "then EAGLE_ID_* environment variables, then the profile "
        "($XDG_CONFIG_HOME/eagle-id/credentials.toml).",
    )
    token.add_argument("--url", help="token endpoint base URL (default $EAGLE_ID_URL, profile)")
    token.add_argument("--scope", help="space-separated scopes (default $EAGLE_ID_SCOPE, profile)")
    token.add_argument("--profile", help="profile name in the credentials file")
    token.add_argument(
        "--cache",
        choices=sorted(CACHE_KINDS),
        default="file",
        help="'file' (default) reuses a token across calls and processes, kept in "
        "$XDG_CACHE_HOME/eagle-id; 'memory' asks for a new token on every call",
    )
    token.add_argument("--json", action="store_true", help="print the whole token as JSON")
    token.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="allow plain http:// to a host that is not loopback",
    )

    decode = commands.add_parser(
        "decode",
        help="print a JWT's header and claims (UNVERIFIED)",
        description="Print a JWT's header and claims. The signature is NOT verified.",
    )
    decode.add_argument("jwt", metavar="TOKEN", help="the JWT ('-' reads standard input)")

    commands.add_parser(
        "serve",
        help="run the reference server (needs the 'server' extra)",
        add_help=False,
        description="Run the reference server; arguments go to screening_eagle_id_server.",
    )
    commands.add_parser(
        "conformance",
        help="check a token endpoint against the spec (needs the 'conformance' extra)",
        add_help=False,
        description="Run the conformance suite; see `eagle-id conformance --help`.",
    )
    return parser


def _token(args: argparse.Namespace, out: TextIO) -> int:
    cache = CACHE_KINDS[args.cache]()
    with TokenClient(
        args.url,
        scope=args.scope,
        profile=args.profile,
        cache=cache,
        allow_insecure_http=args.allow_insecure_http,
    ) as tokens:
        token = tokens.get_token()
    if args.json:
        json.dump(token.to_dict(), out, indent=2)
        out.write("\n")
    else:
        out.write(token.access_token + "\n")
    return 0


def _decode(args: argparse.Namespace, out: TextIO) -> int:
    jwt: str = sys.stdin.read().strip() if args.jwt == "-" else args.jwt
    header, claims = decode_jwt_unverified(jwt)
    out.write("# UNVERIFIED: the signature was not checked; do not trust these claims.\n")
    out.write("# header\n" + json.dumps(header, indent=2, sort_keys=True) + "\n")
    out.write("# claims\n" + json.dumps(claims, indent=2, sort_keys=True) + "\n")
    return 0


def _serve(argv: Sequence[str]) -> int:
    try:
        import screening_eagle_id_server
    except ImportError as exc:
        print(
            f"eagle-id serve: the reference server is not installed ({exc.name} missing); "
            "install the extra: pip install 'screening-eagle-id[server]'",
            file=sys.stderr,
        )
        return 2
    return screening_eagle_id_server.main(list(argv))


def _conformance(argv: Sequence[str]) -> int:
    # Imported only here: the suite pulls in schemathesis, which the token commands never need.
    try:
        import screening_eagle_id_conformance
    except ImportError as exc:
        print(
            f"eagle-id conformance: the conformance suite is not installed ({exc.name} missing); "
            "install screening-eagle-id[conformance]",
            file=sys.stderr,
        )
        return 2
    return screening_eagle_id_conformance.main(list(argv), prog="eagle-id conformance")


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run `eagle-id`; return the exit status (1 for a token error, 2 for a usage error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    if argv[:1] == ["serve"]:
        return _serve(argv[1:])
    if argv[:1] == ["conformance"]:
        return _conformance(argv[1:])
    args = _parser().parse_args(argv)
    try:
        if args.command == "decode":
            return _decode(args, out)
        return _token(args, out)
    except ConfigurationError as exc:
        print(f"eagle-id: {exc}", file=sys.stderr)
        return 2
    except TokenError as exc:
        print(f"eagle-id: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"eagle-id: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # one line, never a traceback (nor a secret in one)
        print(
            f"eagle-id: unexpected {type(exc).__name__}; this is a bug, please report it",
            file=sys.stderr,
        )
        return 1
