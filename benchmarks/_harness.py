"""Timing, statistics, ratios and the report: stdlib only, so the smoke test can import it.

Every number the report prints is a ratio against a baseline measured in the same run: the
absolute times are shown too, but only the ratios are comparable across machines.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

__all__ = [
    "Check",
    "Section",
    "Timing",
    "fmt_ns",
    "fmt_ratio",
    "machine_facts",
    "markdown_table",
    "paired_ratio",
    "percentile",
    "progress",
    "ratio",
    "render_markdown",
    "render_text",
    "text_table",
    "time_async_interleaved",
    "time_interleaved",
]

# Each timed batch should last about this long: long enough to swamp perf_counter's resolution
# and a scheduler tick, short enough that many interleaved rounds fit in a few seconds.
_BATCH_NS = 20_000_000


def progress(message: str) -> None:
    """One progress line on stderr (stdout carries the table)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Timing:
    """Per-operation times (ns) of one subject, one sample per interleaved round."""

    name: str
    samples_ns: tuple[float, ...]

    @property
    def best_ns(self) -> float:
        """The minimum: the least disturbed round (noise only ever adds time)."""
        return min(self.samples_ns)

    @property
    def median_ns(self) -> float:
        """The median round."""
        ordered = sorted(self.samples_ns)
        mid = len(ordered) // 2
        if len(ordered) % 2:
            return ordered[mid]
        return (ordered[mid - 1] + ordered[mid]) / 2


def paired_ratio(subject: Timing, baseline: Timing) -> float:
    """The median over rounds of subject ÷ baseline within the same round.

    Both were timed milliseconds apart in every round, so the machine's drift between rounds
    cancels in each quotient: steadier than comparing two independent minimums."""
    quotients = [ratio(s, b) for s, b in zip(subject.samples_ns, baseline.samples_ns, strict=True)]
    return statistics.median(quotients)


def ratio(value: float, baseline: float) -> float:
    """value / baseline; infinite when the baseline is zero."""
    if baseline == 0:
        return math.inf
    return value / baseline


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100) of a non-empty sequence."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError("q must be within 0-100")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def fmt_ratio(value: float) -> str:
    """A ratio as `2.31x` (two significant decimals below 10, none above 100)."""
    if math.isinf(value):
        return "inf"
    if value >= 100:
        return f"{value:,.0f}x"
    if value >= 10:
        return f"{value:.1f}x"
    return f"{value:.2f}x"


def fmt_ns(ns: float) -> str:
    """A duration with a readable unit."""
    if ns < 1_000:
        return f"{ns:.0f} ns"
    if ns < 1_000_000:
        return f"{ns / 1_000:.1f} µs"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:.1f} ms"
    return f"{ns / 1_000_000_000:.2f} s"


def _batch_size(elapsed_for: Callable[[int], int], batch_ns: int) -> int:
    """How many calls make one batch of about batch_ns."""
    number = 1
    while True:
        elapsed = elapsed_for(number)
        if elapsed >= batch_ns // 10 or number >= 10_000_000:
            break
        number *= 10
    return max(1, int(number * batch_ns / max(elapsed, 1)))


def _sync_batch(func: Callable[[], object]) -> Callable[[int], int]:
    def run_batch(number: int) -> int:
        loop = itertools.repeat(None, number)
        start = time.perf_counter_ns()
        for _ in loop:
            func()
        return time.perf_counter_ns() - start

    return run_batch


def _async_batch(func: Callable[[], object]) -> Callable[[int], Awaitable[int]]:
    if inspect.iscoroutinefunction(func):
        coro_func: Callable[[], Awaitable[object]] = func

        async def run_awaited(number: int) -> int:
            loop = itertools.repeat(None, number)
            start = time.perf_counter_ns()
            for _ in loop:
                await coro_func()
            return time.perf_counter_ns() - start

        return run_awaited

    # A plain function (a library with no async API) is called, not awaited, inside the
    # running loop, as that library's own async code path calls it.
    async def run_called(number: int) -> int:
        loop = itertools.repeat(None, number)
        start = time.perf_counter_ns()
        for _ in loop:
            func()
        return time.perf_counter_ns() - start

    return run_called


def time_interleaved(
    subjects: Sequence[tuple[str, Callable[[], object]]],
    rounds: int = 7,
    batch_ns: int = _BATCH_NS,
) -> list[Timing]:
    """Time zero-argument callables in interleaved rounds of batches of about batch_ns.

    Interleaving (A B C, A B C, ...) spreads the noise of a shared machine over every subject
    alike, so ratios stay meaningful even when absolute times drift.
    """
    batches = [(run, _batch_size(run, batch_ns)) for run in (_sync_batch(f) for _, f in subjects)]
    samples: list[list[float]] = [[] for _ in subjects]
    for round_no in range(rounds):
        for index in _rotated(len(batches), round_no):
            run_batch, number = batches[index]
            samples[index].append(run_batch(number) / number)
    return [Timing(name, tuple(s)) for (name, _), s in zip(subjects, samples, strict=True)]


def _rotated(count: int, round_no: int) -> list[int]:
    """Subject order for one round: each round starts one further along, so whatever favours
    or hurts a position in the round (a GC cycle, a cold cache) falls on every subject alike."""
    start = round_no % count
    return [*range(start, count), *range(start)]


def time_async_interleaved(
    subjects: Sequence[tuple[str, Callable[[], object]]],
    rounds: int = 7,
    batch_ns: int = _BATCH_NS,
) -> list[Timing]:
    """`time_interleaved` inside one running event loop: coroutine functions are awaited,
    plain functions called."""

    async def main() -> list[Timing]:
        batches: list[tuple[Callable[[int], Awaitable[int]], int]] = []
        for _, func in subjects:
            run_batch = _async_batch(func)
            number = 1
            while True:
                elapsed = await run_batch(number)
                if elapsed >= batch_ns // 10 or number >= 10_000_000:
                    break
                number *= 10
            batches.append((run_batch, max(1, int(number * batch_ns / max(elapsed, 1)))))
        samples: list[list[float]] = [[] for _ in subjects]
        for round_no in range(rounds):
            for index in _rotated(len(batches), round_no):
                run_batch, number = batches[index]
                samples[index].append(await run_batch(number) / number)
        return [Timing(name, tuple(s)) for (name, _), s in zip(subjects, samples, strict=True)]

    return asyncio.run(main())


@dataclass(frozen=True)
class Check:
    """One target from the issue: what was asked, what was measured, and whether it was met."""

    name: str
    target: str
    measured: str
    met: bool | None  # None: could not be measured in this run

    @property
    def verdict(self) -> str:
        """MET / MISSED / n/a."""
        if self.met is None:
            return "n/a"
        return "MET" if self.met else "MISSED"


@dataclass
class Section:
    """One part of the report: a table, the targets it checks, notes and an optional profile."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profile: str | None = None
    seconds: float = 0.0


def text_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A fixed-width table for the terminal; first column left-aligned, the rest right."""
    widths = [len(c) for c in columns]
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"row {row!r} has {len(row)} cells, expected {len(columns)}")
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        first, *rest = cells
        parts = [first.ljust(widths[0])]
        parts += [cell.rjust(width) for cell, width in zip(rest, widths[1:], strict=True)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(columns), rule, *(line(row) for row in rows)])


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The same table as GitHub markdown."""

    def esc(cell: str) -> str:
        return cell.replace("|", "\\|")

    head = "| " + " | ".join(esc(c) for c in columns) + " |"
    align = "|" + "|".join([":---", *(["---:"] * (len(columns) - 1))]) + "|"
    body = ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join([head, align, *body])


def _checks_rows(checks: Sequence[Check]) -> list[list[str]]:
    return [[c.name, c.target, c.measured, c.verdict] for c in checks]


_CHECK_COLUMNS = ["target", "asked", "measured", "verdict"]


def render_text(sections: Sequence[Section]) -> str:
    """The whole report for the terminal."""
    out: list[str] = []
    for section in sections:
        out += ["", f"== {section.title} ({section.seconds:.0f} s)", ""]
        out.append(text_table(section.columns, section.rows))
        if section.checks:
            out += ["", text_table(_CHECK_COLUMNS, _checks_rows(section.checks))]
        out += [f"  note: {note}" for note in section.notes]
    return "\n".join(out) + "\n"


def render_markdown(sections: Sequence[Section], facts: Sequence[tuple[str, str]]) -> str:
    """RESULTS.md: machine facts, then every section with its table, targets, notes, profile."""
    out = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`python -m benchmarks`); do not edit by hand. Every ratio is",
        "against a baseline measured in the same run, on the same machine, interleaved with it.",
        "",
        markdown_table(["", ""], [[k, v] for k, v in facts]),
    ]
    all_checks = [c for s in sections for c in s.checks]
    if all_checks:
        out += ["", "## Targets", "", markdown_table(_CHECK_COLUMNS, _checks_rows(all_checks))]
    for section in sections:
        out += ["", f"## {section.title}", "", markdown_table(section.columns, section.rows)]
        if section.notes:
            out.append("")
            out += [f"- {note}" for note in section.notes]
        if section.profile:
            out += [
                "",
                "<details><summary>pyinstrument profile</summary>",
                "",
                "```",
                section.profile.rstrip(),
                "```",
                "",
                "</details>",
            ]
    return "\n".join(out) + "\n"


_PACKAGES = (
    "screening-eagle-id",
    "httpx",
    "httpcore",
    "h11",
    "starlette",
    "uvicorn",
    "httptools",
    "uvloop",
    "httpx-auth",
    "authlib",
    "pyinstrument",
    "openapi-python-client",
)


# The generator is installed in its own venv (`make generate`), not in the bench venv.
_GEN_SITE = [
    str(p) for p in (Path(__file__).resolve().parents[1] / ".venv-gen").glob("lib/*/site-packages")
]


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        found = [d.version for d in metadata.distributions(name=name, path=_GEN_SITE)]
        return found[0] if found else "absent"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_facts(extra: Sequence[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """Machine, Python and package versions for the report header."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    facts = [
        ("date (UTC)", time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())),
        ("machine", f"{platform.system()} {platform.release()} {platform.machine()}"),
        ("cpu", f"{_cpu_model()} x {os.cpu_count()}"),
        ("load average (1/5/15 min)", " / ".join(f"{x:.2f}" for x in load)),
        ("python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("packages", ", ".join(f"{name} {_version(name)}" for name in _PACKAGES)),
    ]
    return facts + list(extra)
