"""One run of the suite against one server: TLS, the preflight, the schemathesis phase, then
every named check, each result handed on as soon as it is judged."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from ._checks import CERTIFICATE_INVALID, CHECKS, Context
from ._context import RecordingProber
from ._fuzz import (
    BUILTIN_CHECKS,
    BUILTIN_SOURCES,
    DEFAULT_FUZZ_SECONDS,
    DEFAULT_SEED,
    FuzzResult,
    run_schemathesis,
)
from ._http import Target
from ._judge import judge_check, named_results, not_sent
from ._preflight import preflight
from ._report import Outcome, Profile, Report, Result, Source, verdict_for

__all__ = ["DEFAULT_MAX_EXAMPLES", "Options", "run"]

# Enough for every phase to exercise the endpoint while a default run against the reference
# server stays under 10 s. Raise it (--max-examples) for a deeper soak of a real environment.
DEFAULT_MAX_EXAMPLES = 25


# Built-in checks that only judge sequences of calls (or several identities); schemathesis runs
# them on every response, but with one operation and no links they cannot find anything.
_STATEFUL_ONLY = {
    "use_after_free": "needs a DELETE followed by a read: the stateful phase did not apply",
    "ensure_resource_availability": "needs a create followed by a read: the stateful phase did "
    "not apply",
    "object_level_authorization": "needs several identities reading each other's objects",
}


TLS_CHECK = next(c for c in CHECKS if c.id == "tls")


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
        tls = judge_check(TLS_CHECK, ctx, None, options.profile)
        if tls.outcome is Outcome.FAILED and CERTIFICATE_INVALID in tls.detail:
            add(tls)
            for check in CHECKS:
                if check is not TLS_CHECK:
                    add(not_sent(check, "no request sent: the TLS certificate is not valid"))
            report.seconds = time.perf_counter() - started
            return report
        preflight(ctx)
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
        named_results(ctx, fuzz, options.profile, add, done={TLS_CHECK.id: tls})
    finally:
        prober.close()
    report.seconds = time.perf_counter() - started
    return report
