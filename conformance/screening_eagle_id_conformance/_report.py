"""Results of a run: the human summary, JUnit XML, JSON and Markdown reports."""

from __future__ import annotations

import json
import socket
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

__all__ = [
    "Outcome",
    "Profile",
    "Report",
    "Result",
    "Source",
    "printable",
    "verdict_for",
    "write_json",
    "write_junit",
    "write_markdown",
]


# Control characters a hostile server could put in a body we quote (terminal escapes, \r).
_CONTROL = {c: "\ufffd" for c in [*range(0x20), 0x7F] if c != 0x0A}


def printable(text: str) -> str:
    """`text` safe for a terminal or CI log: control characters (not newlines) replaced."""
    return text.translate(_CONTROL)


class Outcome(StrEnum):
    """How one check ended."""

    PASSED = "PASS"
    FAILED = "FAIL"
    WARNED = "WARN"
    NOT_APPLICABLE = "N/A"


class Source(StrEnum):
    """What a rule rests on: the contract, an RFC MUST, or a SHOULD / advice."""

    SPEC = "openapi.yaml"
    MUST = "RFC MUST"
    SHOULD = "SHOULD/advice"


class Profile(StrEnum):
    """Which sources make a check FAIL (the others only WARN)."""

    SCREENING_EAGLE = "screening-eagle"
    OAUTH2 = "oauth2"


def verdict_for(profile: Profile, source: Source) -> Outcome:
    """FAIL or WARN for a broken rule of `source` under `profile`.

    screening-eagle: everything openapi.yaml states, and every RFC MUST, is required.
    oauth2: only RFC MUSTs are; spec-only deviations and SHOULDs are warnings.
    """
    if source is Source.MUST:
        return Outcome.FAILED
    if source is Source.SPEC and profile is Profile.SCREENING_EAGLE:
        return Outcome.FAILED
    return Outcome.WARNED


@dataclass(frozen=True)
class Result:
    """One check's verdict; `detail` says why it failed, warned or did not apply."""

    name: str
    title: str
    reference: str
    outcome: Outcome
    source: Source = Source.MUST
    detail: str = ""
    curl: str | None = None
    seconds: float = 0.0
    group: str = "oauth"
    # What the server answered to the request that shows the problem: `400 error='x'`.
    got: str | None = None
    # The behaviour the finding is about (request + answer), to report it once across checks.
    behaviour: str | None = None

    def lines(self) -> list[str]:
        """The summary line, plus indented detail and curl lines when there are any."""
        return [printable(line) for line in self._lines()]

    def _lines(self) -> list[str]:
        shown = self.outcome in (Outcome.FAILED, Outcome.WARNED)
        source = "" if self.outcome is Outcome.NOT_APPLICABLE else f"[{self.source.value}] "
        out = [f"{self.outcome.value:<4}  {self.name:<40} {source}{self.reference}"]
        if shown and self.got:
            out.append(f"      got: {self.got}")
        if self.detail:
            # On a PASS line the detail is a note: something allowed but worth knowing.
            lead = "note: " if self.outcome is Outcome.PASSED else ""
            out += [f"      {lead}{line}" for line in self.detail.splitlines()[:24]]
        if self.curl and shown:
            out.append(f"      reproduce: {self.curl}")
        return out

    def as_dict(self) -> dict[str, object]:
        """The JSON report's entry for this check."""
        return {
            "check": self.name,
            "title": self.title,
            # What the check rests on, and how binding the rule it found broken is.
            "source": self.reference,
            "level": self.source.value,
            "verdict": self.outcome.value,
            "message": self.detail,
            "got": self.got,
            "behaviour": self.behaviour,
            "curl": self.curl,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class Report:
    """Every result of one run against one server."""

    url: str
    profile: Profile = Profile.SCREENING_EAGLE
    results: list[Result] = field(default_factory=list)
    seconds: float = 0.0
    properties: dict[str, str] = field(default_factory=dict)

    def _with(self, outcome: Outcome) -> list[Result]:
        return [r for r in self.results if r.outcome is outcome]

    @property
    def failed(self) -> list[Result]:
        """The failed checks."""
        return self._with(Outcome.FAILED)

    @property
    def warned(self) -> list[Result]:
        """The checks that found a deviation this profile does not fail."""
        return self._with(Outcome.WARNED)

    @property
    def ok(self) -> bool:
        """True when no applicable check failed (warnings do not count)."""
        return not self.failed

    def outcome(self, name: str) -> Outcome:
        """The outcome of the check called `name`."""
        for result in self.results:
            if result.name == name:
                return result.outcome
        raise KeyError(name)

    def result(self, name: str) -> Result:
        """The result of the check called `name`."""
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(name)

    def behaviours(self) -> dict[str, list[Result]]:
        """Failed or warned results grouped by the behaviour they are about, in report order."""
        grouped: dict[str, list[Result]] = {}
        for result in self.results:
            if result.outcome in (Outcome.FAILED, Outcome.WARNED):
                key = result.behaviour or result.name
                grouped.setdefault(key, []).append(result)
        return grouped

    def summary(self) -> str:
        """`N passed, M failed, W warnings, K not applicable in Xs`."""
        count = {o: sum(1 for r in self.results if r.outcome is o) for o in Outcome}
        return (
            f"{count[Outcome.PASSED]} passed, {count[Outcome.FAILED]} failed, "
            f"{count[Outcome.WARNED]} warnings, {count[Outcome.NOT_APPLICABLE]} not applicable "
            f"in {self.seconds:.1f}s"
        )

    def behaviour_lines(self) -> list[str]:
        """Each failing behaviour once, with every check it broke."""
        out = []
        for behaviour, results in self.behaviours().items():
            if not any(r.behaviour for r in results):
                continue
            names = ", ".join(f"{r.name} ({r.outcome.value})" for r in results)
            out.append(f"  {behaviour}\n      broke: {names}")
        return out


def write_junit(report: Report, path: Path) -> None:
    """Write `report` as JUnit XML (one <testcase> per check; N/A is <skipped>, WARN passes)."""
    failures = len(report.failed)
    skipped = sum(1 for r in report.results if r.outcome is Outcome.NOT_APPLICABLE)
    counts = {
        "tests": str(len(report.results)),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(skipped),
        "time": f"{report.seconds:.3f}",
    }
    root = ET.Element("testsuites", {"name": "conformance", **counts})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": "conformance",
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "hostname": socket.gethostname(),
            **counts,
        },
    )
    properties = ET.SubElement(suite, "properties")
    for key, value in {"url": report.url, "profile": report.profile, **report.properties}.items():
        ET.SubElement(properties, "property", name=key, value=printable(value))
    for result in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"conformance.{result.group}",
            name=result.name,
            time=f"{result.seconds:.3f}",
        )
        props = ET.SubElement(case, "properties")
        ET.SubElement(props, "property", name="reference", value=result.reference)
        ET.SubElement(props, "property", name="source", value=result.source.value)
        text = "\n".join(result.lines()[1:])
        if result.outcome is Outcome.FAILED:
            element = ET.SubElement(
                case,
                "failure",
                message=printable(result.detail.splitlines()[0]) if result.detail else "failed",
                type=result.source.value,
            )
            element.text = text
        elif result.outcome is Outcome.NOT_APPLICABLE:
            ET.SubElement(case, "skipped", message=printable(result.detail) or "not applicable")
        elif text:
            ET.SubElement(case, "system-out").text = f"{result.outcome.value}\n{text}"
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def write_json(report: Report, path: Path) -> None:
    """Write `report` as JSON: the run, then each check with source, verdict, message and curl."""
    document = {
        "url": report.url,
        "profile": report.profile.value,
        "conformant": report.ok,
        "summary": report.summary(),
        "seconds": round(report.seconds, 3),
        "properties": report.properties,
        "checks": [r.as_dict() for r in report.results],
        "behaviours": [
            {"behaviour": key, "checks": [r.name for r in results]}
            for key, results in report.behaviours().items()
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _md(text: str) -> str:
    return printable(text).replace("|", "\\|").replace("\n", "<br>")


def write_markdown(report: Report, path: Path) -> None:
    """Write `report` as Markdown, fit for a CI job summary ($GITHUB_STEP_SUMMARY and the like)."""
    verdict = "conformant" if report.ok else "**NOT CONFORMANT**"
    lines = [
        f"## Conformance: {verdict}",
        "",
        f"`{report.url}`, profile `{report.profile.value}`: {report.summary()}.",
        "",
    ]
    grouped = report.behaviours()
    if grouped:
        lines += ["### Findings", "", "| behaviour | checks |", "| --- | --- |"]
        for behaviour, results in grouped.items():
            names = ", ".join(f"`{r.name}` {r.outcome.value}" for r in results)
            lines.append(f"| {_md(behaviour)} | {names} |")
        lines.append("")
    lines += [
        "| verdict | check | source | reference | detail |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in report.results:
        detail = r.detail
        if r.got and r.outcome in (Outcome.FAILED, Outcome.WARNED):
            detail = f"got {r.got}\n{detail}"
        lines.append(
            f"| {r.outcome.value} | `{r.name}` | {r.source.value} | {_md(r.reference)} "
            f"| {_md(detail)} |"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
