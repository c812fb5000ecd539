"""Run every check against one server, print the summary, write the reports, set the exit code."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

from screening_eagle_id._stdout import Output, OutputError, reader_gone, silence_stdout

from ._checks import (
    CERTIFICATE_INVALID,
    CHECKS,
    Check,
    Context,
    Failed,
    NotApplicable,
    error_code,
)
from ._context import RecordingProber, resolve
from ._fuzz import (
    BUILTIN_CHECKS,
    BUILTIN_SOURCES,
    CUSTOM_CHECKS,
    DEFAULT_FUZZ_SECONDS,
    DEFAULT_SEED,
    FuzzResult,
    run_schemathesis,
)
from ._http import TOKEN_PATH, Prober, Target, check_url, split_url, to_curl
from ._report import (
    Outcome,
    Profile,
    Report,
    Result,
    Source,
    verdict_for,
    write_json,
    write_junit,
    write_markdown,
)

__all__ = [
    "DEFAULT_JUNIT_PATH",
    "DEFAULT_MAX_EXAMPLES",
    "DEFAULT_SCOPE",
    "EXIT_CANNOT_RUN",
    "EXIT_CONFORMANT",
    "EXIT_NOT_CONFORMANT",
    "CannotRun",
    "Options",
    "Unreachable",
    "main",
    "run",
]

# Enough for every phase to exercise the endpoint while a default run against the reference
# server stays under 10 s. Raise it (--max-examples) for a deeper soak of a real environment.
DEFAULT_MAX_EXAMPLES = 25
DEFAULT_JUNIT_PATH = Path("reports/conformance.xml")
# The spec's own example scope (openapi.yaml, TokenRequest example).
DEFAULT_SCOPE = "openid email profile inspect"
EXIT_CONFORMANT, EXIT_NOT_CONFORMANT, EXIT_CANNOT_RUN = 0, 1, 2


# Built-in checks that only judge sequences of calls (or several identities); schemathesis runs
# them on every response, but with one operation and no links they cannot find anything.
_STATEFUL_ONLY = {
    "use_after_free": "needs a DELETE followed by a read: the stateful phase did not apply",
    "ensure_resource_availability": "needs a create followed by a read: the stateful phase did "
    "not apply",
    "object_level_authorization": "needs several identities reading each other's objects",
}


_FUZZED = "found by fuzzing: "


TLS_CHECK = next(c for c in CHECKS if c.id == "tls")


class CannotRun(Exception):
    """The suite cannot judge this server as configured: one line says why, exit status 2."""


class Unreachable(CannotRun):
    """The server cannot be reached at all."""


@dataclass(frozen=True)
class Options:
    """One run: the target, the profile, how hard to fuzz, and whether to fuzz at all."""

    target: Target
    max_examples: int = DEFAULT_MAX_EXAMPLES
    # schemathesis's seed: fixed unless told, so a server gets the same verdicts every run.
    seed: int | None = DEFAULT_SEED
    schemathesis: bool = True
    profile: Profile = Profile.SCREENING_EAGLE
    # A scope the server knows but does not allow this client (disallowed-scope; None: N/A).
    disallowed_scope: str | None = None
    # The whole schemathesis phase's time budget.
    fuzz_seconds: float = DEFAULT_FUZZ_SECONDS


def _preflight(ctx: Context) -> None:
    """Is there an endpoint, and does it accept the given credentials? Else CannotRun."""
    target = ctx.target
    exchange = ctx.prober.send("POST", authorization=None)
    if exchange.reply is None:
        raise Unreachable(f"cannot reach {target.token_url}: {exchange.transport_error}")
    if exchange.reply.status == 404:
        raise CannotRun(
            f"{target.token_url} answered 404: is --url the server's base URL or its token "
            "endpoint (see --token-path)?"
        )
    reply = ctx.token().reply
    if reply is None:
        raise Unreachable(f"cannot reach {target.token_url}: {ctx.token().transport_error}")
    error = error_code(reply)
    # 400 invalid_client breaks RFC 6749 §5.2 (a Basic client gets 401), but it still means
    # the credentials were refused: invalid-client judges that once they are right.
    if reply.status == 401 or (reply.status == 400 and error == "invalid_client"):
        answer = f"{reply.status} {error}" if error else str(reply.status)
        raise CannotRun(
            f"the server answered {answer} for {target.client_id}: check the id and secret"
        )
    if (reply.status == 400 and error == "invalid_scope") or reply.status == 403:
        raise CannotRun(
            f"the server refused scope {target.scope!r} for {target.client_id!r} "
            f"({reply.status} error={error!r}): pass --scope with scopes this client is allowed"
        )


def _schemathesis_results(fuzz: FuzzResult, target: Target, profile: Profile) -> list[Result]:
    results = []
    for name in BUILTIN_CHECKS:
        finding = fuzz.failures.get(name)
        source = BUILTIN_SOURCES[name]
        got = behaviour = None
        if finding is not None:
            source, got, behaviour = finding.source, finding.got, finding.behaviour
            outcome, detail, curl = verdict_for(profile, source), finding.message, finding.curl
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
                source=source,
                detail=target.redact(detail),
                curl=target.redact(curl) if curl else None,
                group="schemathesis",
                got=target.redact(got) if got else None,
                behaviour=target.redact(behaviour) if behaviour else None,
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
        source=Source.SPEC,
        detail=target.redact("\n".join(problems)),
        group="schemathesis",
    )
    return [engine, *results]


def _judge_check(
    check: Check, ctx: Context, fuzz_finding: Failed | None, profile: Profile
) -> Result:
    """Run one check; its verdict is the worst of its findings under `profile`."""
    started = time.perf_counter()
    ctx.notes.clear()
    ctx.findings.clear()
    findings: list[Failed] = []
    applicable = True
    reason = ""
    try:
        check.probe(ctx)
    except Failed as exc:
        findings.append(exc)
    except NotApplicable as exc:
        applicable, reason = False, str(exc)
    findings = ctx.findings + findings
    if fuzz_finding is not None:
        findings.append(fuzz_finding)
    target = ctx.target
    base = Result(
        name=check.id,
        title=check.title,
        reference=check.rfc,
        outcome=Outcome.PASSED,
        source=resolve(check.source, profile),
        seconds=time.perf_counter() - started,
    )
    if not findings:
        if not applicable:
            return replace(base, outcome=Outcome.NOT_APPLICABLE, detail=reason)
        return replace(base, detail=target.redact("\n".join(ctx.notes)))

    def source_of(f: Failed) -> Source:
        return resolve(f.source or check.source, profile)

    def rank(f: Failed) -> int:
        failed = verdict_for(profile, source_of(f)) is Outcome.FAILED
        return (0 if failed else 1) * 10 + (0 if source_of(f) is Source.MUST else 1)

    findings.sort(key=rank)
    worst = findings[0]
    source = source_of(worst)
    detail = [worst.message]
    seen = {worst.message.removeprefix(_FUZZED)}
    for finding in findings[1:]:
        text = finding.message.removeprefix(_FUZZED)
        if text not in seen:
            seen.add(text)
            detail.append(f"also: {finding.message}")
    exchange = worst.exchange
    got: str | None = exchange.got() if exchange is not None else getattr(worst, "got", None)
    return replace(
        base,
        outcome=verdict_for(profile, source),
        source=source,
        detail=target.redact("\n".join(detail)),
        curl=target.redact(to_curl(exchange)) if exchange is not None else None,
        got=target.redact(got) if got else None,
        behaviour=target.redact(exchange.behaviour()) if exchange is not None else None,
    )


class _FuzzFailed(Failed):
    """A custom schemathesis check's finding, reported under its named check."""

    def __init__(self, message: str, source: Source, got: str | None, curl: str | None) -> None:
        super().__init__(f"{_FUZZED}{message}", None, source)
        self.got = got
        self.curl = curl


def _not_sent(check: Check, reason: str) -> Result:
    return Result(
        name=check.id,
        title=check.title,
        reference=check.rfc,
        outcome=Outcome.NOT_APPLICABLE,
        source=resolve(check.source, Profile.SCREENING_EAGLE),
        detail=reason,
    )


def _named_results(
    ctx: Context,
    fuzz: FuzzResult | None,
    profile: Profile,
    emit: Callable[[Result], None],
    done: dict[str, Result],
) -> None:
    evidence: dict[str, Failed] = {}
    behaviours: dict[str, str | None] = {}
    if fuzz is not None:
        for name, found in fuzz.failures.items():
            if name in CUSTOM_CHECKS:
                check_id = CUSTOM_CHECKS[name]
                evidence[check_id] = _FuzzFailed(found.message, found.source, found.got, found.curl)
                behaviours[check_id] = found.behaviour
    for check in CHECKS:
        if check.id in done:
            emit(done[check.id])
            continue
        fuzzed = evidence.get(check.id)
        result = _judge_check(check, ctx, fuzzed, profile)
        if fuzzed is not None and result.curl is None and isinstance(fuzzed, _FuzzFailed):
            result = replace(
                result,
                curl=ctx.target.redact(fuzzed.curl) if fuzzed.curl else None,
                behaviour=ctx.target.redact(behaviours.get(check.id) or "") or None,
            )
        emit(result)


def run(options: Options, *, emit: Callable[[str], None] | None = None) -> Report:
    """Run the suite against `options.target`; `emit` receives each summary line as it is ready.

    Raises CannotRun (or Unreachable) when the server cannot be judged as configured.
    """
    target = options.target
    say = emit or (lambda line: None)
    report = Report(url=target.token_url, profile=options.profile, redact=target.redact)
    started = time.perf_counter()

    def add(result: Result) -> None:
        report.results.append(result)
        for line in report.lines(result):
            say(line)

    prober = RecordingProber(target)
    try:
        ctx = Context(
            target=target,
            prober=prober,
            profile=options.profile,
            disallowed_scope=options.disallowed_scope,
        )
        # TLS first: with a certificate the client must not trust, no request is sent at all.
        tls = _judge_check(TLS_CHECK, ctx, None, options.profile)
        if tls.outcome is Outcome.FAILED and CERTIFICATE_INVALID in tls.detail:
            add(tls)
            for check in CHECKS:
                if check is not TLS_CHECK:
                    add(_not_sent(check, "no request sent: the TLS certificate is not valid"))
            report.seconds = time.perf_counter() - started
            return report
        _preflight(ctx)
        fuzz = None
        if options.schemathesis:
            say(f"schemathesis: every phase, every check, max {options.max_examples} examples …")
            fuzz_started = time.perf_counter()
            fuzz = run_schemathesis(
                target,
                max_examples=options.max_examples,
                seed=options.seed,
                seconds=options.fuzz_seconds,
            )
            report.properties["schemathesis.seed"] = str(fuzz.seed)
            report.properties["schemathesis.requests"] = str(fuzz.requests)
            fuzz_seconds = time.perf_counter() - fuzz_started
            for result in _schemathesis_results(fuzz, target, options.profile):
                if result.name == "schemathesis/run":
                    result = replace(result, seconds=fuzz_seconds)
                add(result)
            phases = ", ".join(f"{name} {status}" for name, status in fuzz.phases.items())
            say(
                f"      ({fuzz.requests} requests in {fuzz_seconds:.1f}s, "
                f"seed {fuzz.seed}; phases: {phases})"
            )
        _named_results(ctx, fuzz, options.profile, add, done={TLS_CHECK.id: tls})
    finally:
        prober.close()
    report.seconds = time.perf_counter() - started
    return report


def _env(name: str) -> str | None:
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


def _parser(prog: str) -> argparse.ArgumentParser:
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
        default=_env("EAGLE_ID_CONFORMANCE_PROFILE") or Profile.SCREENING_EAGLE.value,
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


def _secret_on_argv(argv: Sequence[str]) -> str | None:
    """The secret option someone put on the command line (its value is never echoed)."""
    for arg in argv:
        name = arg.split("=", 1)[0]
        if name in _SECRET_OPTIONS:
            return name
    return None


def _read_secret(path: Path | None, variable: str) -> str | None:
    """The secret from `path` (first line, stripped) or else from `$variable`; CannotRun if bad."""
    if path is None:
        return _env(variable)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problem = type(exc).__name__
        raise CannotRun(f"cannot read the secret file {str(path)!r}: {problem}") from None
    secret = text.strip("\r\n")
    if not secret or "\n" in secret:
        raise CannotRun(f"the secret file {str(path)!r} must hold exactly one non-empty line")
    return secret


class _Stdout(Output):
    """sys.stdout while the suite runs: a write that fails raises OutputError."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Command line entry point; returns 0 conformant, 1 not conformant, 2 could not run.

    An output that cannot be written (`> /dev/full`) is one line on stderr and 2: nothing
    was reported; a reader that went away (`| head`) is quiet, 141, like any Unix filter."""
    stdout = sys.stdout
    sys.stdout = _Stdout(stdout)
    try:
        status = _command(argv, prog)
        sys.stdout.flush()
        return status
    except OutputError as exc:
        print(f"conformance: cannot write to standard output: {exc.reason}", file=sys.stderr)
        silence_stdout()
        return EXIT_CANNOT_RUN
    except BrokenPipeError:
        return reader_gone()
    finally:
        sys.stdout = stdout


def _command(argv: Sequence[str] | None, prog: str | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = prog or "python -m screening_eagle_id_conformance"
    leaked = _secret_on_argv(argv)
    if leaked is not None:
        print(
            f"conformance: {leaked} is not accepted: a secret on the command line is visible to "
            "every local user in the process list; set EAGLE_ID_CLIENT_SECRET (or "
            "EAGLE_ID_SPECIAL_CLIENT_SECRET) or use --client-secret-file",
            file=sys.stderr,
        )
        return EXIT_CANNOT_RUN
    try:
        args = _parser(prog).parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (argparse exits 2)
        return int(exc.code or 0)
    try:
        with ExitStack() as stack:
            return _main(args, stack)
    except CannotRun as exc:
        print(f"conformance: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except (OutputError, BrokenPipeError):
        raise
    except Exception as exc:  # a crash of the suite is "could not run", never "not conformant"
        text = f"{type(exc).__name__}: {exc}"
        for name in ("EAGLE_ID_CLIENT_SECRET", "EAGLE_ID_SPECIAL_CLIENT_SECRET"):
            secret = _env(name)
            if secret:
                text = text.replace(secret, "[REDACTED]")
        print(f"conformance: the suite itself failed, nothing was judged: {text}", file=sys.stderr)
        return EXIT_CANNOT_RUN


def _embedded(stack: ExitStack) -> tuple[str, str, str]:
    try:
        from screening_eagle_id_server import (
            DEMO_CLIENT_ID,
            DEMO_CLIENT_SECRET,
            Settings,
            create_app,
            serve_in_thread,
        )
    except ImportError:
        raise CannotRun(
            "no URL given (--url or EAGLE_ID_URL), and no embedded reference server to test: "
            "install screening-eagle-id[server] for one"
        ) from None
    url = stack.enter_context(serve_in_thread(create_app(Settings.dev())))
    print(f"conformance: no URL given — testing an embedded reference server at {url}")
    return url, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET


def _endpoint_below(base: str, path: str, timeout: float, ca_file: str | None) -> str:
    """`path` from a `--url` with a path: the endpoint itself, or a prefix the spec's path is below.

    Whichever is not answered 404 by the server wins (one request each, no credentials).
    """
    below = path.rstrip("/") + TOKEN_PATH
    probe = Prober(
        Target(
            url=base,
            client_id="",
            client_secret="",
            scope="",
            timeout=timeout,
            token_path=below,
            ca_file=ca_file,
        )
    )
    try:
        exchange = probe.send("POST", authorization=None)
    finally:
        probe.close()
    if exchange.reply is not None and exchange.reply.status != 404:
        return below
    return path


def _main(args: argparse.Namespace, stack: ExitStack) -> int:
    url = args.url or _env("EAGLE_ID_URL")
    client_id = args.client_id or _env("EAGLE_ID_CLIENT_ID")
    secret = _read_secret(args.client_secret_file, "EAGLE_ID_CLIENT_SECRET")
    if url is None:
        url, client_id, secret = _embedded(stack)
    problem = check_url(url, insecure=args.insecure or _env("EAGLE_ID_INSECURE") == "1")
    if problem is not None:
        raise CannotRun(problem)
    if not client_id or not secret:
        raise CannotRun(
            "credentials missing: pass --client-id (or EAGLE_ID_CLIENT_ID) and set "
            "EAGLE_ID_CLIENT_SECRET (or --client-secret-file)"
        )
    special_id = args.special_client_id or _env("EAGLE_ID_SPECIAL_CLIENT_ID")
    special_secret = _read_secret(args.special_client_secret_file, "EAGLE_ID_SPECIAL_CLIENT_SECRET")
    if bool(special_id) != bool(special_secret):
        raise CannotRun(
            "give both --special-client-id and EAGLE_ID_SPECIAL_CLIENT_SECRET "
            "(or --special-client-secret-file), or neither"
        )
    base, token_path = split_url(url, args.token_path)
    if args.token_path is None and token_path != TOKEN_PATH and token_path.rstrip("/"):
        token_path = _endpoint_below(base, token_path, args.timeout, args.ca_file)
    target = Target(
        url=base,
        token_path=token_path,
        client_id=client_id,
        client_secret=secret,
        scope=args.scope or _env("EAGLE_ID_SCOPE") or DEFAULT_SCOPE,
        special_client_id=special_id,
        special_client_secret=special_secret,
        special_scope=args.special_scope,
        timeout=args.timeout,
        ca_file=args.ca_file,
    )
    options = Options(
        target=target,
        max_examples=args.max_examples or DEFAULT_MAX_EXAMPLES,
        seed=DEFAULT_SEED if args.seed is None else args.seed,
        schemathesis=not args.no_schemathesis,
        profile=Profile(args.profile),
        disallowed_scope=args.disallowed_scope or _env("EAGLE_ID_DISALLOWED_SCOPE"),
        fuzz_seconds=args.fuzz_seconds,
    )
    print(
        f"conformance: {target.token_url} as client {target.client_id!r}, scope "
        f"{target.scope!r}, profile {options.profile.value}"
    )
    try:
        report = run(options, emit=lambda line: print(line, flush=True))
    except CannotRun as exc:
        raise CannotRun(target.redact(str(exc))) from None
    written = [Path(args.junit)]
    write_junit(report, written[0])
    if args.report_json:
        write_json(report, args.report_json)
        written.append(args.report_json)
    if args.report_md:
        write_markdown(report, args.report_md)
        written.append(args.report_md)
    behaviours = report.behaviour_lines()
    if behaviours:
        print("conformance: findings by behaviour (each once, with the checks it broke):")
        for line in behaviours:
            print(line)
    verdict = "all applicable checks passed" if report.ok else "NOT CONFORMANT"
    print(
        f"conformance: {verdict} — {report.summary()}; reports: "
        + ", ".join(str(p) for p in written)
    )
    if report.failed or report.warned:
        print(
            "conformance: in the curl lines, replace [REDACTED] with "
            "'Basic ' + base64(form-urlencoded id ':' form-urlencoded secret)"
        )
    return EXIT_CONFORMANT if report.ok else EXIT_NOT_CONFORMANT
