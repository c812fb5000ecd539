"""The command line's arguments: the parser, its value types, and where secrets may come from
(a file or the environment, never argv)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from ._fuzz import DEFAULT_FUZZ_SECONDS, DEFAULT_SEED
from ._preflight import CannotRun
from ._report import Profile
from ._runner import DEFAULT_MAX_EXAMPLES

__all__ = [
    "DEFAULT_JUNIT_PATH",
    "DEFAULT_SCOPE",
    "build_parser",
    "env",
    "read_secret",
    "secret_on_argv",
]

DEFAULT_JUNIT_PATH = Path("reports/conformance.xml")
# The spec's own example scope (openapi.yaml, TokenRequest example).
DEFAULT_SCOPE = "openid email profile inspect"


def env(name: str) -> str | None:
    """`$name` stripped; None when unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None


_SECRET_OPTIONS = ("--client-secret", "--special-client-secret")


class _Parser(argparse.ArgumentParser):
    """argparse, except that arguments it does not know are never echoed: one may be a secret
    typed in the wrong place (`--client-sec VALUE`)."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments"):
            message = "unrecognized arguments (not shown: they may hold a secret); see --help"
        super().error(message)


def build_parser(prog: str) -> argparse.ArgumentParser:
    """The suite's argument parser; `prog` names the command in its usage and errors."""
    parser = _Parser(
        prog=prog,
        # No abbreviations: `--client-secret VALUE` must never be taken for --client-secret-file.
        allow_abbrev=False,
        description="Check a Screening Eagle ID token endpoint against openapi.yaml and OAuth 2.0. "
        "Secrets never go on the command line (every local user can read it in the process "
        "list): EAGLE_ID_CLIENT_SECRET / EAGLE_ID_SPECIAL_CLIENT_SECRET, or --client-secret-file. "
        "Exit status: 0 conformant, 1 not conformant, 2 could not run.",
    )
    parser.add_argument(
        "--url",
        help="the server's base URL or its full token-endpoint URL (default: $EAGLE_ID_URL; "
        "neither: an embedded reference server, if installed)",
    )
    parser.add_argument(
        "--token-path",
        help="where the endpoint is mounted below --url (default: openapi.yaml's "
        "/api/id/v1/auth/token), e.g. /oauth2/token",
    )
    parser.add_argument("--client-id", help="client id (default: $EAGLE_ID_CLIENT_ID)")
    parser.add_argument(
        "--client-secret-file",
        type=Path,
        help="read the client secret from this file (default: $EAGLE_ID_CLIENT_SECRET)",
    )
    parser.add_argument(
        "--scope",
        help=f"scope the client is allowed (default: $EAGLE_ID_SCOPE, else {DEFAULT_SCOPE!r})",
    )
    parser.add_argument(
        "--special-client-id",
        help="a client whose id/secret hold reserved characters (default: "
        "$EAGLE_ID_SPECIAL_CLIENT_ID; secret: $EAGLE_ID_SPECIAL_CLIENT_SECRET or "
        "--special-client-secret-file)",
    )
    parser.add_argument(
        "--special-client-secret-file", type=Path, help="read the special client's secret here"
    )
    parser.add_argument(
        "--special-scope", help="scope the special client is allowed (default: --scope)"
    )
    parser.add_argument(
        "--disallowed-scope",
        help="a scope the server knows but does not allow this client, for disallowed-scope "
        "(default: $EAGLE_ID_DISALLOWED_SCOPE; neither: that check is N/A)",
    )
    parser.add_argument(
        "--profile",
        choices=[p.value for p in Profile],
        default=env("EAGLE_ID_CONFORMANCE_PROFILE") or Profile.SCREENING_EAGLE.value,
        help="screening-eagle (default): everything openapi.yaml states is required; "
        "oauth2: only RFC MUSTs fail, spec-only deviations and SHOULDs warn",
    )
    parser.add_argument(
        "--max-examples",
        type=_positive_int,
        help=f"schemathesis examples per phase (default {DEFAULT_MAX_EXAMPLES})",
    )
    parser.add_argument(
        "--seed",
        type=_positive_int,
        help=f"schemathesis seed (default {DEFAULT_SEED}, fixed: the same server gets the same "
        "verdicts every run; each finding of the fuzz phase names the seed that found it)",
    )
    parser.add_argument(
        "--fuzz-seconds",
        type=_seconds,
        default=DEFAULT_FUZZ_SECONDS,
        help=f"time budget of the whole schemathesis phase (default {DEFAULT_FUZZ_SECONDS:g})",
    )
    parser.add_argument(
        "--insecure", action="store_true", help="allow plain http:// to a host that is not loopback"
    )
    parser.add_argument("--ca-file", help="CA bundle for a server with a private CA")
    parser.add_argument(
        "--no-schemathesis", action="store_true", help="only the named OAuth checks"
    )
    parser.add_argument("--junit", default=str(DEFAULT_JUNIT_PATH), help="JUnit XML path")
    parser.add_argument("--report-json", type=Path, help="write a JSON report here")
    parser.add_argument("--report-md", type=Path, help="write a Markdown report here")
    parser.add_argument(
        "--timeout", type=_seconds, default=10.0, help="seconds per request (default 10)"
    )
    return parser


def _positive_int(value: str) -> int | None:
    """argparse type: a positive integer, or None for an empty string (an unset make variable)."""
    if not value.strip():
        return None
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {number}")
    return number


def _seconds(value: str) -> float:
    """argparse type: a finite positive number of seconds."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {value!r}") from None
    if not 0 < number < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {value}")
    return number


def secret_on_argv(argv: Sequence[str]) -> str | None:
    """The secret option someone put on the command line (its value is never echoed)."""
    for arg in argv:
        name = arg.split("=", 1)[0]
        if name in _SECRET_OPTIONS:
            return name
    return None


def read_secret(path: Path | None, variable: str) -> str | None:
    """The secret from `path` (first line, stripped) or else from `$variable`; CannotRun if bad."""
    if path is None:
        return env(variable)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problem = type(exc).__name__
        raise CannotRun(f"cannot read the secret file {str(path)!r}: {problem}") from None
    secret = text.strip("\r\n")
    if not secret or "\n" in secret:
        raise CannotRun(f"the secret file {str(path)!r} must hold exactly one non-empty line")
    return secret
