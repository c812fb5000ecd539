"""Results of a run: the human summary, JUnit XML, JSON and Markdown reports."""

from __future__ import annotations

import json
import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Callable
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


# Characters a hostile server could put in a body we quote: C0 and C1 controls (terminal
# escapes, \r, CSI), bidirectional overrides (text that reads other than it is), lone
# surrogates (no UTF-8 file can hold them) and the noncharacters XML forbids.
_UNSAFE = [
    *range(0x20),
    *range(0x7F, 0xA0),
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
    *range(0xD800, 0xE000),
    0xFFFE,
    0xFFFF,
]
_CONTROL = {c: "\ufffd" for c in _UNSAFE if c != 0x0A}


def printable(text: str) -> str:
    """`text` safe for a terminal, a CI log or an XML file: unsafe characters (not newlines)
    replaced."""
    return text.translate(_CONTROL)


def _identity(text: str) -> str:
    return text


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
    # Masks every secret in any encoding (`Target.redact`): applied by every writer to every
    # string it writes, whichever check produced it.
    redact: Callable[[str], str] = field(default=_identity, repr=False, compare=False)

    def clean(self, text: str) -> str:
        """`text` as a report may show it: secrets masked, then unsafe characters replaced."""
        return printable(self.redact(text))

    def lines(self, result: Result) -> list[str]:
        """`result`'s summary lines, cleaned (what stdout shows)."""
        return [self.clean(line) for line in result.lines()]

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
        """Each failing behaviour once, with every check it broke (cleaned)."""
        out = []
        for behaviour, results in self.behaviours().items():
            if not any(r.behaviour for r in results):
                continue
            names = ", ".join(f"{r.name} ({r.outcome.value})" for r in results)
            out.append(self.clean(f"  {behaviour}\n      broke: {names}"))
        return out


def write_junit(report: Report, path: Path) -> None:
    """Write `report` as JUnit XML (one <testcase> per check; N/A is <skipped>, WARN passes)."""
    clean = report.clean
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
        ET.SubElement(properties, "property", name=key, value=clean(value))
    for result in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"conformance.{result.group}",
            name=clean(result.name),
            time=f"{result.seconds:.3f}",
        )
        props = ET.SubElement(case, "properties")
        ET.SubElement(props, "property", name="reference", value=clean(result.reference))
        ET.SubElement(props, "property", name="source", value=result.source.value)
        text = "\n".join(report.lines(result)[1:])
        if result.outcome is Outcome.FAILED:
            element = ET.SubElement(
                case,
                "failure",
                message=clean(result.detail.splitlines()[0]) if result.detail else "failed",
                type=result.source.value,
            )
            element.text = text
        elif result.outcome is Outcome.NOT_APPLICABLE:
            ET.SubElement(case, "skipped", message=clean(result.detail) or "not applicable")
        elif text:
            ET.SubElement(case, "system-out").text = f"{result.outcome.value}\n{text}"
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def _cleaned(value: object, clean: Callable[[str], str]) -> object:
    """`value` (a JSON document) with every string in it cleaned, keys included."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean(str(k)): _cleaned(v, clean) for k, v in value.items()}
    if isinstance(value, list):
        return [_cleaned(v, clean) for v in value]
    return value


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
    text = json.dumps(_cleaned(document, report.clean), indent=2, ensure_ascii=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")


def _code(text: str) -> str:
    """One line of text as a Markdown code span: shown as typed, never rendered (no image,
    link or HTML), whatever backticks it holds; `|` escaped for the table it sits in."""
    if not text:
        return ""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or text.strip(" ") == "" else ""
    body = text.replace("|", "\\|")
    return f"{fence}{pad}{body}{pad}{fence}"


def _md(report: Report, text: str) -> str:
    """Server-derived text for a table cell: cleaned, each line a code span, lines joined
    with <br> (the only HTML in the cell is ours)."""
    return "<br>".join(_code(line) for line in report.clean(text).splitlines())


def write_markdown(report: Report, path: Path) -> None:
    """Write `report` as Markdown, fit for a CI job summary ($GITHUB_STEP_SUMMARY and the like).

    Every string a server could have shaped is shown as code (`_md`): it renders as text."""
    verdict = "conformant" if report.ok else "**NOT CONFORMANT**"
    lines = [
        f"## Conformance: {verdict}",
        "",
        f"{_md(report, report.url)}, profile `{report.profile.value}`: {report.summary()}.",
        "",
    ]
    grouped = report.behaviours()
    if grouped:
        lines += ["### Findings", "", "| behaviour | checks |", "| --- | --- |"]
        for behaviour, results in grouped.items():
            names = ", ".join(f"{_md(report, r.name)} {r.outcome.value}" for r in results)
            lines.append(f"| {_md(report, behaviour)} | {names} |")
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
            f"| {r.outcome.value} | {_md(report, r.name)} | {r.source.value} "
            f"| {_md(report, r.reference)} | {_md(report, detail)} |"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
