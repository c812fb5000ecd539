"""Section 5: `make generate` wall time, into a temporary folder (the checkout is untouched)."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from ._harness import Section, fmt_ns, fmt_ratio, progress, ratio

__all__ = ["bench_generate"]

ROOT = Path(__file__).resolve().parents[1]


_GEN_STAMP = ".venv-gen/.installed"


def _wall_ns(args: list[str]) -> int:
    start = time.perf_counter_ns()
    subprocess.run(args, cwd=ROOT, check=True, capture_output=True, timeout=120)
    return time.perf_counter_ns() - start


def bench_generate(runs: int = 3) -> Section:
    """`make generate GEN_OUT=<tmp>` wall time vs the generator's bare start-up."""
    section = Section(
        "5. Code generation", ["command", "median wall time", "min", "vs generator start-up"]
    )
    # The generator lives in its own venv (`make generate` builds it): built before timing.
    subprocess.run(["make", "-s", _GEN_STAMP], cwd=ROOT, check=True, capture_output=True)
    generator = str(ROOT / ".venv-gen" / "bin" / "openapi-python-client")
    startup = [_wall_ns([generator, "--version"]) for _ in range(runs)]
    generate: list[int] = []
    with tempfile.TemporaryDirectory(prefix="eagle-bench-gen-") as tmp:
        out = os.path.join(tmp, "screening_eagle_id_client")
        # -o: never let the venv stamp trigger a reinstall inside the timed command.
        command = ["make", "--no-print-directory", "-o", _GEN_STAMP, "generate"]
        for run in range(runs):
            progress(f"generate: run {run + 1}/{runs}")
            generate.append(_wall_ns([*command, f"GEN_OUT={out}"]))
    base = statistics.median(startup)
    for name, samples in (
        ("openapi-python-client --version", startup),
        ("make generate", generate),
    ):
        median = statistics.median(samples)
        section.rows.append(
            [name, fmt_ns(median), fmt_ns(min(samples)), fmt_ratio(ratio(median, base))]
        )
    section.notes.append(
        f"Median of {runs} runs into a temporary GEN_OUT; the baseline is the generator's own "
        "start-up (interpreter + imports), so the ratio shows how much is generation proper."
    )
    return section
