"""Results of a run: the one-line-per-check summary and the JUnit XML file."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

__all__ = ["Outcome", "Report", "Result", "write_junit"]


class Outcome(StrEnum):
    """How one check ended."""

    PASSED = "PASS"
    FAILED = "FAIL"
    NOT_APPLICABLE = "N/A"


@dataclass(frozen=True)
class Result:
    """One check's verdict; `detail` says why it failed or did not apply."""

    name: str
    title: str
    reference: str
    outcome: Outcome
    detail: str = ""
    curl: str | None = None
    seconds: float = 0.0
    group: str = "oauth"

    def lines(self) -> list[str]:
        """The summary line, plus indented detail and curl lines when there are any."""
        head = f"{self.outcome.value:<4}  {self.name:<48} {self.reference}"
        out = [head]
        if self.detail:
            # On a PASS line the detail is a note: something allowed but worth knowing.
            lead = "note: " if self.outcome is Outcome.PASSED else ""
            out += [f"      {lead}{line}" for line in self.detail.splitlines()[:24]]
        if self.curl and self.outcome is Outcome.FAILED:
            out.append(f"      reproduce: {self.curl}")
        return out


@dataclass
class Report:
    """Every result of one run against one server."""

    url: str
    results: list[Result] = field(default_factory=list)
    seconds: float = 0.0
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> list[Result]:
        """The failed checks."""
        return [r for r in self.results if r.outcome is Outcome.FAILED]

    @property
    def ok(self) -> bool:
        """True when every applicable check passed."""
        return not self.failed

    def outcome(self, name: str) -> Outcome:
        """The outcome of the check called `name`."""
        for result in self.results:
            if result.name == name:
                return result.outcome
        raise KeyError(name)

    def summary(self) -> str:
        """`N passed, M failed, K not applicable in Xs`."""
        count = {o: sum(1 for r in self.results if r.outcome is o) for o in Outcome}
        return (
            f"{count[Outcome.PASSED]} passed, {count[Outcome.FAILED]} failed, "
            f"{count[Outcome.NOT_APPLICABLE]} not applicable in {self.seconds:.1f}s"
        )


def write_junit(report: Report, path: Path) -> None:
    """Write `report` as JUnit XML (one <testcase> per check; N/A is <skipped>)."""
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
    for key, value in {"url": report.url, **report.properties}.items():
        ET.SubElement(properties, "property", name=key, value=value)
    for result in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"conformance.{result.group}",
            name=result.name,
            time=f"{result.seconds:.3f}",
        )
        ET.SubElement(
            ET.SubElement(case, "properties"), "property", name="reference", value=result.reference
        )
        if result.outcome is Outcome.FAILED:
            element = ET.SubElement(
                case,
                "failure",
                message=result.detail.splitlines()[0] if result.detail else "failed",
                type=result.reference,
            )
            element.text = result.detail + (f"\n\nreproduce:\n{result.curl}" if result.curl else "")
        elif result.outcome is Outcome.NOT_APPLICABLE:
            ET.SubElement(case, "skipped", message=result.detail or "not applicable")
        elif result.detail:
            ET.SubElement(case, "system-out").text = result.detail
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
