"""Judging one named check into a `Result`: its probe's findings and the fuzz phase's evidence."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from ._checks import CHECKS, Check, Context, Failed, NotApplicable
from ._context import resolve
from ._fuzz import FuzzResult
from ._fuzz_checks import CUSTOM_CHECKS
from ._http import to_curl
from ._report import Outcome, Profile, Result, Source, verdict_for

__all__ = ["judge_check", "named_results", "not_sent"]

_FUZZED = "found by fuzzing: "


class _FuzzFailed(Failed):
    """A custom schemathesis check's finding, reported under its named check."""

    def __init__(self, message: str, source: Source, got: str | None, curl: str | None) -> None:
        super().__init__(f"{_FUZZED}{message}", None, source)
        self.got = got
        self.curl = curl


def judge_check(
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


def not_sent(check: Check, reason: str) -> Result:
    """`check` as not applicable because no request was sent (`reason` says why)."""
    return Result(
        name=check.id,
        title=check.title,
        reference=check.rfc,
        outcome=Outcome.NOT_APPLICABLE,
        source=resolve(check.source, Profile.SCREENING_EAGLE),
        detail=reason,
    )


def named_results(
    ctx: Context,
    fuzz: FuzzResult | None,
    profile: Profile,
    emit: Callable[[Result], None],
    done: dict[str, Result],
) -> None:
    """Judge every named check not `done` yet, with the fuzz phase's evidence; `emit` each."""
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
        result = judge_check(check, ctx, fuzzed, profile)
        if fuzzed is not None and result.curl is None and isinstance(fuzzed, _FuzzFailed):
            result = replace(
                result,
                curl=ctx.target.redact(fuzzed.curl) if fuzzed.curl else None,
                behaviour=ctx.target.redact(behaviours.get(check.id) or "") or None,
            )
        emit(result)
