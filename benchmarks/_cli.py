"""Section 6: a cached `eagle-id token` against `python -c pass`, and what importing costs
(`from screening_eagle_id import TokenClient, BearerAuth` against `import httpx`, interleaved).

Each round runs every command once, as a shell script would (a fresh process each time), in
rotated order; the ratio is the median over rounds of (command ÷ `python -c pass`) within the
round. Import times come from `python -X importtime` (cumulative, best of the rounds).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ._harness import Check, Section, Timing, fmt_ns, fmt_ratio, paired_ratio, progress

__all__ = ["IMPORT_TARGET", "TARGET", "bench_cli", "cli_checks", "import_ns"]

#: The issue's target: a cached `eagle-id token` within this many `python -c pass`.
TARGET = 3.0
#: Issue 20: importing a usable sync client within this many `import httpx` (fresh processes).
IMPORT_TARGET = 1.2

PASS = "python -c pass"
CACHED = "eagle-id token (cached)"
CACHED_JSON = "eagle-id token --json (cached)"
FETCH = "eagle-id token --cache memory (fetch)"
IMPORT_HTTPX = "python -c 'import httpx'"
IMPORT_CLIENT = "python -c 'from screening_eagle_id import TokenClient, BearerAuth'"
# Both import rows run as with httpx installed without its `cli` extra, as a user's
# `pip install screening-eagle-id` gets it: in the bench venv click and rich are there (other
# tools bring them), and `import httpx` would import its command line too, doubling its time
# and flattering the ratio.
_WITHOUT_HTTPX_CLI = "import sys; sys.modules['click'] = None; "


def _wall_ns(args: Sequence[str], env: Mapping[str, str]) -> int:
    start = time.perf_counter_ns()
    subprocess.run(args, env=env, check=True, capture_output=True, timeout=60)
    return time.perf_counter_ns() - start


def import_ns(module: str, env: Mapping[str, str]) -> int:
    """Cumulative import time of `module` in a fresh interpreter, per `-X importtime`."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    for line in reversed(done.stderr.splitlines()):
        _, cumulative, name = (part.strip() for part in line.split("|"))
        if name == module:
            return int(cumulative) * 1000
    raise RuntimeError(f"-X importtime did not report {module}")


def cli_checks(by_name: Mapping[str, Timing]) -> list[Check]:
    """The targets, judged on paired ratios: the plain cached call to `python -c pass`, and
    importing a sync client to `import httpx`."""
    checks = []
    for name, subject, baseline, target in (
        ("cached eagle-id token", CACHED, PASS, TARGET),
        ("import TokenClient, BearerAuth", IMPORT_CLIENT, IMPORT_HTTPX, IMPORT_TARGET),
    ):
        wanted = f"≤ {target:g}x {baseline}"
        if subject not in by_name or baseline not in by_name:
            checks.append(Check(name, wanted, "-", None))
            continue
        measured = paired_ratio(by_name[subject], by_name[baseline])
        checks.append(Check(name, wanted, fmt_ratio(measured), measured <= target))
    return checks


def bench_cli(rounds: int = 15) -> Section:
    """Cached `eagle-id token` (plain and --json) and a fetching one vs `python -c pass`."""
    from screening_eagle_id_server import (
        DEMO_CLIENT_ID,
        DEMO_CLIENT_SECRET,
        Settings,
        create_app,
        serve_in_thread,
    )

    section = Section(
        "6. eagle-id token from the command line",
        ["command", "median wall time", "best", "vs python -c pass"],
    )
    script = str(Path(sys.executable).with_name("eagle-id"))
    with (
        tempfile.TemporaryDirectory(prefix="eagle-bench-cli-") as tmp,
        serve_in_thread(create_app(Settings.dev())) as url,
    ):
        # Bytecode written and reused, as for an installed package (pip compiles it): with
        # PYTHONDONTWRITEBYTECODE every call would compile the package from source.
        env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith("EAGLE_ID_") and k != "PYTHONDONTWRITEBYTECODE"
            },
            "XDG_CACHE_HOME": str(Path(tmp) / "cache"),
            "XDG_CONFIG_HOME": str(Path(tmp) / "config"),
            "EAGLE_ID_URL": url,
            "EAGLE_ID_CLIENT_ID": DEMO_CLIENT_ID,
            "EAGLE_ID_CLIENT_SECRET": DEMO_CLIENT_SECRET,
            "EAGLE_ID_SCOPE": "openid inspect",
        }
        for warm_up in ([script, "token"], [script, "token", "--cache", "memory"]):
            subprocess.run(warm_up, env=env, check=True, capture_output=True, timeout=60)
        commands = {
            PASS: [sys.executable, "-c", "pass"],
            CACHED: [script, "token"],
            CACHED_JSON: [script, "token", "--json"],
            FETCH: [script, "token", "--cache", "memory"],
            IMPORT_HTTPX: [sys.executable, "-c", _WITHOUT_HTTPX_CLI + "import httpx"],
            IMPORT_CLIENT: [
                sys.executable,
                "-c",
                _WITHOUT_HTTPX_CLI + "from screening_eagle_id import TokenClient, BearerAuth",
            ],
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        names = list(commands)
        for round_no in range(rounds):
            if round_no % 5 == 0:
                progress(f"cli: round {round_no + 1}/{rounds}")
            start = round_no % len(names)
            for name in names[start:] + names[:start]:
                samples[name].append(float(_wall_ns(commands[name], env)))
        imports = {
            module: min(import_ns(module, env) for _ in range(max(3, rounds // 3)))
            for module in ("screening_eagle_id", "httpx")
        }
    by_name = {name: Timing(name, tuple(values)) for name, values in samples.items()}
    for name, timing in by_name.items():
        section.rows.append(
            [
                name,
                fmt_ns(statistics.median(timing.samples_ns)),
                fmt_ns(timing.best_ns),
                fmt_ratio(paired_ratio(timing, by_name[PASS])),
            ]
        )
    for module, ns in imports.items():
        section.rows.append([f"import {module} (-X importtime)", fmt_ns(ns), "-", "-"])
    section.checks = cli_checks(by_name)
    section.notes.append(
        'A fresh process per call, as in `curl -H "Authorization: Bearer $(eagle-id token)"`; '
        "ratios are medians of within-round quotients. The cached call imports neither httpx, "
        "attrs nor the generated client (tests/test_quick.py asserts it). The two import rows "
        "run in the same rounds, both without httpx's command line (click, rich), as users "
        "install httpx; what a sync import loads beyond httpx is asserted in "
        "tests/test_import_cost.py (no asyncio; httpcore and the generated client come later)."
    )
    return section
