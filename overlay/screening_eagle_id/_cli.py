"""The `eagle-id` command: `token`, `cache list|clear`, `decode`, `serve`, `conformance`, and
`--version`.

Kept light on purpose: up front it imports only the standard library and the stdlib-only
modules (`_config`, `_cachedir`, `_entry`, `_quick`), so a cached `eagle-id token` is answered
without httpx, attrs or the generated client (see `_quick.py`). Everything else is imported
inside the function that needs it (`cache` and `decode` are in `_subcommands.py`).
Subcommands that belong to another package are delegated before any parsing, and imported
only then: add one to `DELEGATED`.

Errors are one line on stderr and an exit status, never a traceback: 1 when getting a token
failed (`TokenError`), 2 for a usage or configuration error. Messages name command-line
options (`--url`, `--allow-insecure-http`), not Python arguments.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from types import SimpleNamespace

from . import _config
from ._config import CLI_NAMES
from ._entry import MAX_LIFETIME, Entry, to_mapping
from ._exceptions import ConfigurationError, TokenError
from ._stdout import Output, OutputError, output_failed, reader_gone
from ._version import __version__

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: a cache hit skips it
if TYPE_CHECKING:
    from argparse import ArgumentParser, HelpFormatter
    from typing import Any, TextIO

    from ._cache import TokenCache

__all__ = ["CACHE_KINDS", "DELEGATED", "main"]


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


def _serve(argv: list[str]) -> int:
    try:
        import screening_eagle_id_server
    except ImportError as exc:
        print(
            f"eagle-id serve: the reference server is not installed ({exc.name} missing); "
            "install the extra: pip install 'screening-eagle-id[server]'",
            file=sys.stderr,
        )
        return 2
    return screening_eagle_id_server.main(list(argv), prog="eagle-id serve")


def _conformance(argv: list[str]) -> int:
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


#: Subcommands another package runs: name -> runner of the arguments after the name.
DELEGATED: dict[str, Callable[[list[str]], int]] = {
    "serve": _serve,
    "conformance": _conformance,
}


def _formatter(prog: str) -> HelpFormatter:
    """argparse's help formatter, minus its `import shutil` (several ms on every run, for the
    terminal width): the width comes from $COLUMNS or the terminal, as shutil would find it."""
    import argparse

    return argparse.HelpFormatter(prog, width=_columns() - 2)


def _columns() -> int:
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def _add_settings(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        help="token endpoint: its base URL or the full URL ending in "
        f"{_config.TOKEN_PATH} (default $EAGLE_ID_URL, then the profile)",
    )
    parser.add_argument("--scope", help="space-separated scopes (default $EAGLE_ID_SCOPE, profile)")
    parser.add_argument(
        "--token-path",
        help=f"the token endpoint's path under the base URL, for any OAuth 2.0 server "
        f"(default $EAGLE_ID_TOKEN_PATH, then the profile's with its URL, then "
        f"{_config.TOKEN_PATH})",
    )
    parser.add_argument(
        "--profile", help="profile in the credentials file (skips the EAGLE_ID_* variables)"
    )


_PRINT_DESCRIPTION = (
    "Print an access token. Credentials, URL and scope come from the options, then EAGLE_ID_* "
    "environment variables, then the profile ($XDG_CONFIG_HOME/eagle-id/credentials.toml)."
)


def _token_arguments(token: ArgumentParser) -> ArgumentParser:
    _add_settings(token)
    token.add_argument(
        "--cache",
        choices=sorted(CACHE_KINDS),
        default="file",
        help="'file' (default) reuses a token across calls and processes, kept in "
        "$XDG_CACHE_HOME/eagle-id; 'memory' asks for a new token on every call",
    )
    token.add_argument(
        "--refresh",
        action="store_true",
        help="fetch a new token even if one is cached, and cache it in place of the old one",
    )
    token.add_argument("--json", action="store_true", help="print the whole token as JSON")
    token.add_argument(
        "--assume-lifetime",
        type=_seconds,
        metavar="SECONDS",
        help="accept a token response without expires_in and cache its token this long "
        "(default $EAGLE_ID_ASSUME_LIFETIME, then the profile's with its URL; else refused)",
    )
    token.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="allow plain http:// to a host that is not loopback",
    )
    token.set_defaults(command="token", run=_token)
    return token


def _token_parser() -> ArgumentParser:
    """`eagle-id token` alone, as the full parser's subcommand parses it: building every
    subcommand's parser costs more than the rest of a cached call."""
    import argparse

    return _token_arguments(
        argparse.ArgumentParser(
            prog="eagle-id token", description=_PRINT_DESCRIPTION, formatter_class=_formatter
        )
    )


def _parser() -> ArgumentParser:
    import argparse

    from ._subcommands import cache_clear, cache_list, decode_jwt_command

    parser = argparse.ArgumentParser(
        prog="eagle-id",
        description="Screening Eagle ID tokens from the command line.",
        formatter_class=_formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    token = commands.add_parser(
        "token",
        help="print an access token",
        description=_PRINT_DESCRIPTION,
        formatter_class=_formatter,
    )
    _token_arguments(token)

    cache = commands.add_parser(
        "cache",
        help="list or clear the cached tokens",
        description="The tokens `eagle-id token` keeps in $XDG_CACHE_HOME/eagle-id.",
        formatter_class=_formatter,
    )
    actions = cache.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list",
        help="key, client id, scope and expiry of each cached token (never the token)",
        description="Key, client id, scope and expiry of each cached token (never the token).",
        formatter_class=_formatter,
    )
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.set_defaults(run=cache_list)
    clear = actions.add_parser(
        "clear",
        help="remove the cached token of the current settings, or --all",
        description="Remove the cached token `eagle-id token` would use with the same options "
        "(URL, client and scope from the options, EAGLE_ID_* variables or the profile), or "
        "every cached token with --all.",
        formatter_class=_formatter,
    )
    clear.add_argument("--all", action="store_true", help="remove every cached token")
    _add_settings(clear)
    clear.set_defaults(run=cache_clear)

    decode_jwt = commands.add_parser(
        "decode",
        help="print a JWT's header and claims (UNVERIFIED)",
        description="Print a JWT's header and claims. The signature is NOT verified.",
        formatter_class=_formatter,
    )
    decode_jwt.add_argument(
        "jwt",
        metavar="TOKEN",
        help="the JWT, alone or as 'Bearer TOKEN' or 'Authorization: Bearer TOKEN' "
        "('-' reads standard input)",
    )
    decode_jwt.add_argument(
        "--json", action="store_true", help='print {"verified": false, "header", "claims"}'
    )
    decode_jwt.set_defaults(run=decode_jwt_command)

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


def _seconds(text: str) -> int:
    """`--assume-lifetime`'s value: whole seconds from 1 to MAX_LIFETIME, checked before a
    cached token is served (the client checks it again)."""
    seconds = _whole_seconds(text)
    if seconds is None:
        import argparse  # only argparse calls this

        raise argparse.ArgumentTypeError(
            f"takes whole seconds from 1 to {MAX_LIFETIME}, not {text[:40]!r}"
        )
    return seconds


def _whole_seconds(text: str) -> int | None:
    if text.isascii() and text.isdigit() and len(text) <= 12 and 1 <= int(text) <= MAX_LIFETIME:
        return int(text)
    return None


def _settings(args: SimpleNamespace) -> _config.Settings:
    return _config.resolve(
        args.url,
        None,
        None,
        args.scope,
        token_path=args.token_path,
        assume_lifetime=getattr(args, "assume_lifetime", None),
        profile=args.profile,
        names=CLI_NAMES,
    )


# -- token ------------------------------------------------------------------------------------


def _token(args: SimpleNamespace, out: TextIO) -> int:
    settings = _settings(args)
    url, path = _config.endpoint_of(
        settings, allow_insecure_http=args.allow_insecure_http, names=CLI_NAMES
    )
    scopes = _config.normalise_scope(settings.scope)
    entry = None
    if args.cache == "file" and not args.refresh:
        from ._quick import cached_entry

        entry = cached_entry(
            url, settings.client_id, settings.client_secret, scopes, token_path=path
        )
    if entry is None:
        from ._tokenfetch import from_the_client

        cache = CACHE_KINDS[args.cache]()
        entry = from_the_client(args, settings, (url, path), scopes, cache)
    out.write(_token_text(entry, as_json=args.json))
    return 0


def _token_text(entry: Entry, *, as_json: bool) -> str:
    """What `eagle-id token` prints, the same for a cached and a fetched token."""
    if not as_json:
        return entry.access_token + "\n"
    # The entry's public fields: not its format version, cache binding or client id.
    private = ("v", "binding", "client_id")
    shown = {name: value for name, value in to_mapping(entry).items() if name not in private}
    return json.dumps(shown, indent=2) + "\n"


# -- main -------------------------------------------------------------------------------------

_FLAGS = {"--json": "json", "--refresh": "refresh", "--allow-insecure-http": "allow_insecure_http"}
_VALUED = {
    "--url": "url",
    "--scope": "scope",
    "--profile": "profile",
    "--cache": "cache",
    "--token-path": "token_path",
    "--assume-lifetime": "assume_lifetime",
}


def _plain_token_args(argv: list[str]) -> SimpleNamespace | None:
    """`eagle-id token` in the plain shapes scripts use (whole option names, each at most
    once, values not starting with "-"), parsed without argparse, whose import and parser cost
    more than answering from the cache; what argparse would make of it (a test compares). None
    for anything else (`--help`, `--opt=value`, abbreviations, repeats...): argparse parses it."""
    if argv[:1] != ["token"]:
        return None
    values: dict[str, Any] = {"url": None, "scope": None, "profile": None, "cache": "file"}
    values.update(token_path=None, assume_lifetime=None)
    values.update(dict.fromkeys(_FLAGS.values(), False))
    rest, seen = argv[1:], set()
    while rest:
        option = rest.pop(0)
        if option in seen:
            return None
        seen.add(option)
        if option in _FLAGS:
            values[_FLAGS[option]] = True
        elif option in _VALUED and rest and not rest[0].startswith("-"):
            values[_VALUED[option]] = rest.pop(0)
        else:
            return None
    if values["cache"] not in CACHE_KINDS:
        return None
    if values["assume_lifetime"] is not None:
        values["assume_lifetime"] = _whole_seconds(values["assume_lifetime"])
        if values["assume_lifetime"] is None:
            return None  # argparse reports it
    return SimpleNamespace(**values, command="token", run=_token)


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run `eagle-id`; return the exit status (1 for a token error, 2 for a usage error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    delegate = DELEGATED.get(argv[0]) if argv else None
    if delegate is not None:
        return delegate(argv[1:])
    args = _plain_token_args(argv)
    if args is None:
        parser = _token_parser() if argv[:1] == ["token"] else _parser()
        args = SimpleNamespace(
            **vars(parser.parse_args(argv[1:] if argv[:1] == ["token"] else argv))
        )
    run: Callable[[SimpleNamespace, TextIO], int] = args.run
    if out is None:  # `eagle-id … >&-`: the interpreter has no sys.stdout
        return output_failed("it is closed")
    try:
        status = run(args, Output(out))  # type: ignore[arg-type]
    except OutputError as exc:
        return output_failed(exc.reason)
    except ConfigurationError as exc:
        print(f"eagle-id: {exc}", file=sys.stderr)
        return 2
    except TokenError as exc:
        print(f"eagle-id: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"eagle-id: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return reader_gone()
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"eagle-id: {exc.strerror or type(exc).__name__}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line, never a traceback (nor a secret in one)
        print(
            f"eagle-id: unexpected {type(exc).__name__}; this is a bug, please report it",
            file=sys.stderr,
        )
        return 1
    # What is still buffered is written here, where a failure can be reported (a full disk,
    # /dev/full), not by the interpreter at exit as 'Exception ignored … OSError'.
    try:
        out.flush()
    except BrokenPipeError:
        return reader_gone()
    except OSError as exc:
        return output_failed(exc.strerror or type(exc).__name__)
    return status
