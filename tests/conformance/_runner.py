"""Run every check against one server, print the summary, write JUnit XML, set the exit code."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

from ._checks import CHECKS, Context, Failed, NotApplicable
from ._fuzz import BUILTIN_CHECKS, CUSTOM_CHECKS, FuzzResult, run_schemathesis
from ._http import TOKEN_PATH, Prober, Target, check_url, to_curl
from ._report import Outcome, Report, Result, write_junit

__all__ = [
    "DEFAULT_JUNIT_PATH",
    "DEFAULT_MAX_EXAMPLES",
    "DEFAULT_SCOPE",
    "Options",
    "Unreachable",
    "main",
    "run",
]

# Enough for every phase to exercise the endpoint; a run against the reference server stays
# well under a minute. Raise it (MAX_EXAMPLES=…) for a deeper soak of a real environment.
DEFAULT_MAX_EXAMPLES = 50
DEFAULT_JUNIT_PATH = Path("reports/conformance.xml")
# The spec's own example scope (openapi.yaml, TokenRequest example).
DEFAULT_SCOPE = "openid email profile inspect"
EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2


# Built-in checks that only judge sequences of calls (or several identities); schemathesis runs
# them on every response, but with one operation and no links they cannot find anything.
_STATEFUL_ONLY = {
    "use_after_free": "needs a DELETE followed by a read: the stateful phase did not apply",
    "ensure_resource_availability": "needs a create followed by a read: the stateful phase did "
    "not apply",
    "object_level_authorization": "needs several identities reading each other's objects",
}


class Unreachable(Exception):
    """The server cannot be reached at all: one line says why, no check runs."""


@dataclass(frozen=True)
class Options:
    """One run: the target, how hard to fuzz, and whether to fuzz at all."""

    target: Target
    max_examples: int = DEFAULT_MAX_EXAMPLES
    seed: int | None = None
    schemathesis: bool = True


def _preflight(prober: Prober) -> None:
    exchange = prober.send("POST", authorization=None)
    if exchange.reply is None:
        raise Unreachable(f"cannot reach {prober.target.token_url}: {exchange.transport_error}")
    if exchange.reply.status == 404:
        raise Unreachable(
            f"{prober.target.token_url} answered 404: is URL the server's base URL "
            f"(the suite appends {TOKEN_PATH})?"
        )


def _schemathesis_results(fuzz: FuzzResult, target: Target) -> list[Result]:
    results = []
    for name in BUILTIN_CHECKS:
        finding = fuzz.failures.get(name)
        if finding is not None:
            outcome, detail, curl = Outcome.FAILED, finding.message, finding.curl
        elif name in _STATEFUL_ONLY and fuzz.phases.get("stateful", "").startswith("skipped"):
            outcome, detail, curl = Outcome.NOT_APPLICABLE, _STATEFUL_ONLY[name], None
        elif fuzz.passed.get(name):
            outcome, detail, curl = Outcome.PASSED, "", None
        else:
            outcome, detail, curl = Outcome.NOT_APPLICABLE, "never exercised by this spec", None
        results.append(
            Result(
                name=f"schemathesis/{name}",
                title=f"schemathesis built-in check {name}",
                reference="openapi.yaml",
                outcome=outcome,
                detail=target.redact(detail),
                curl=target.redact(curl) if curl else None,
                group="schemathesis",
            )
        )
    problems = list(fuzz.errors)
    if not fuzz.successes:
        problems.append(
            f"none of the {fuzz.requests} fuzzed requests got a 2xx: no fuzzed request got past"
            " client authentication (or the configured scope), so the checks above judged"
            " error responses only — see token-request and special-credentials"
        )
    engine = Result(
        name="schemathesis/run",
        title="the schemathesis run completed without errors and got at least one token",
        reference="openapi.yaml",
        outcome=Outcome.FAILED if problems else Outcome.PASSED,
        detail=target.redact("\n".join(problems)),
        group="schemathesis",
    )
    return [engine, *results]


def _named_results(ctx: Context, fuzz: FuzzResult | None, emit: Callable[[Result], None]) -> None:
    evidence = {}
    if fuzz is not None:
        evidence = {CUSTOM_CHECKS[n]: f for n, f in fuzz.failures.items() if n in CUSTOM_CHECKS}
    target = ctx.target
    for check in CHECKS:
        started = time.perf_counter()
        detail, curl = "", None
        ctx.notes.clear()
        try:
            check.probe(ctx)
            outcome, detail = Outcome.PASSED, "\n".join(ctx.notes)
        except Failed as exc:
            outcome, detail = Outcome.FAILED, exc.message
            curl = to_curl(exc.exchange) if exc.exchange is not None else None
        except NotApplicable as exc:
            outcome, detail = Outcome.NOT_APPLICABLE, str(exc)
        found = evidence.get(check.id)
        if found is not None and outcome is not Outcome.FAILED:
            outcome, detail, curl = Outcome.FAILED, f"found by fuzzing: {found.message}", found.curl
        emit(
            Result(
                name=check.id,
                title=check.title,
                reference=check.rfc,
                outcome=outcome,
                detail=target.redact(detail),
                curl=target.redact(curl) if curl else None,
                seconds=time.perf_counter() - started,
            )
        )


def run(options: Options, *, emit: Callable[[str], None] | None = None) -> Report:
    """Run the suite against `options.target`; `emit` receives each summary line as it is ready."""
    target = options.target
    say = emit or (lambda line: None)
    report = Report(url=target.url)
    started = time.perf_counter()

    def add(result: Result) -> None:
        report.results.append(result)
        for line in result.lines():
            say(line)

    prober = Prober(target)
    try:
        _preflight(prober)
        fuzz = None
        if options.schemathesis:
            say(f"schemathesis: every phase, every check, max {options.max_examples} examples …")
            fuzz_started = time.perf_counter()
            fuzz = run_schemathesis(target, max_examples=options.max_examples, seed=options.seed)
            report.properties["schemathesis.seed"] = str(fuzz.seed)
            report.properties["schemathesis.requests"] = str(fuzz.requests)
            fuzz_seconds = time.perf_counter() - fuzz_started
            for result in _schemathesis_results(fuzz, target):
                if result.name == "schemathesis/run":
                    result = replace(result, seconds=fuzz_seconds)
                add(result)
            phases = ", ".join(f"{name} {status}" for name, status in fuzz.phases.items())
            say(
                f"      ({fuzz.requests} requests in {fuzz_seconds:.1f}s, "
                f"seed {fuzz.seed}; phases: {phases})"
            )
        _named_results(Context(target=target, prober=prober), fuzz, add)
    finally:
        prober.close()
    report.seconds = time.perf_counter() - started
    return report


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.conformance",
        description="Check a Screening Eagle ID token endpoint against openapi.yaml and OAuth 2.0. "
        "Secrets are read from the environment only: EAGLE_ID_CLIENT_SECRET, "
        "EAGLE_ID_SPECIAL_CLIENT_SECRET.",
    )
    parser.add_argument(
        "--url",
        help="base URL of the server (default: $EAGLE_ID_URL; "
        "neither: an embedded reference server)",
    )
    parser.add_argument("--client-id", help="client id (default: $EAGLE_ID_CLIENT_ID)")
    parser.add_argument(
        "--scope", help=f"scope to request (default: $EAGLE_ID_SCOPE, else {DEFAULT_SCOPE!r})"
    )
    parser.add_argument(
        "--max-examples",
        type=_positive_int,
        help=f"schemathesis examples per phase (default {DEFAULT_MAX_EXAMPLES})",
    )
    parser.add_argument("--seed", type=_positive_int, help="schemathesis seed, to replay a run")
    parser.add_argument(
        "--special-client-id",
        help="a client whose id/secret hold reserved "
        "characters (secret: $EAGLE_ID_SPECIAL_CLIENT_SECRET)",
    )
    parser.add_argument(
        "--insecure", action="store_true", help="allow plain http:// to a host that is not loopback"
    )
    parser.add_argument(
        "--no-schemathesis", action="store_true", help="only the named OAuth checks"
    )
    parser.add_argument("--junit", default=str(DEFAULT_JUNIT_PATH), help="JUnit XML path")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
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


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status (0 ok, 1 failures, 2 unusable)."""
    args = _parser().parse_args(argv)
    url = args.url or _env("EAGLE_ID_URL")
    client_id = args.client_id or _env("EAGLE_ID_CLIENT_ID")
    secret = _env("EAGLE_ID_CLIENT_SECRET")
    with ExitStack() as stack:
        if url is None:
            from screening_eagle_id_server import (
                DEMO_CLIENT_ID,
                DEMO_CLIENT_SECRET,
                Settings,
                create_app,
                serve_in_thread,
            )

            url = stack.enter_context(serve_in_thread(create_app(Settings.dev())))
            client_id, secret = DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
            print(f"conformance: no URL given — testing an embedded reference server at {url}")
        return _main(args, url, client_id, secret)


def _main(args: argparse.Namespace, url: str, client_id: str | None, secret: str | None) -> int:
    problem = check_url(url, insecure=args.insecure or _env("EAGLE_ID_INSECURE") == "1")
    if problem is None and (not client_id or not secret):
        problem = (
            "credentials missing: pass CLIENT_ID=… CLIENT_SECRET=… "
            "(or set EAGLE_ID_CLIENT_ID / EAGLE_ID_CLIENT_SECRET)"
        )
    special_id = args.special_client_id or _env("EAGLE_ID_SPECIAL_CLIENT_ID")
    special_secret = _env("EAGLE_ID_SPECIAL_CLIENT_SECRET")
    if problem is None and bool(special_id) != bool(special_secret):
        problem = "give both SPECIAL_CLIENT_ID and SPECIAL_CLIENT_SECRET, or neither"
    if problem is not None or not client_id or not secret:
        print(f"conformance: {problem}", file=sys.stderr)
        return EXIT_UNUSABLE
    target = Target(
        # A URL pasted with the endpoint's path still means the server it is on.
        url=url.rstrip("/").removesuffix(TOKEN_PATH),
        client_id=client_id,
        client_secret=secret,
        scope=args.scope or _env("EAGLE_ID_SCOPE") or DEFAULT_SCOPE,
        special_client_id=special_id,
        special_client_secret=special_secret,
        timeout=args.timeout,
    )
    options = Options(
        target=target,
        max_examples=args.max_examples or DEFAULT_MAX_EXAMPLES,
        seed=args.seed,
        schemathesis=not args.no_schemathesis,
    )
    print(f"conformance: {target.token_url} as client {target.client_id!r}, scope {target.scope!r}")
    try:
        report = run(options, emit=lambda line: print(line, flush=True))
    except Unreachable as exc:
        print(f"conformance: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    junit = Path(args.junit)
    write_junit(report, junit)
    verdict = "all applicable checks passed" if report.ok else "NOT CONFORMANT"
    print(f"conformance: {verdict} — {report.summary()}; JUnit XML: {junit}")
    if report.failed:
        print(
            "conformance: in the curl lines, replace [REDACTED] with "
            "'Basic ' + base64(form-urlencoded id ':' form-urlencoded secret)"
        )
    return EXIT_OK if report.ok else EXIT_FAILED
