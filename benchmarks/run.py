"""`make bench` (`python -m benchmarks`): every section, one table, benchmarks/RESULTS.md.

Sections are bounded in time; every server runs on 127.0.0.1 and is stopped on success, failure
and Ctrl-C alike. A section that fails is reported as failed and the run goes on; the exit
status is then 1.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from ._apps import ENV_STORM_DELAY, TOKEN_PATH
from ._harness import Section, machine_facts, progress, render_markdown, render_text
from ._procs import Processes, free_port

__all__ = ["main"]

RESULTS = Path(__file__).with_name("RESULTS.md")


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwind through every `finally`, stopping the servers


def _run_section(sections: list[Section], title: str, body: Callable[[], Section]) -> bool:
    started = time.monotonic()
    try:
        section = body()
    except Exception as exc:
        traceback.print_exc()
        section = Section(title, ["status"], [["failed"]], notes=[f"failed: {exc!r}"])
        ok = False
    else:
        ok = True
    section.seconds = time.monotonic() - started
    progress(f"{section.title}: done in {section.seconds:.1f} s")
    sections.append(section)
    return ok


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; print the table; write RESULTS.md. Returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="fewer rounds, 100 callers, 1 s loads (a dry run)"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=["lookup", "overhead", "storms", "server", "generate", "cli"],
        help="run only these sections (repeatable)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the markdown")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)

    # Imported here, after argument parsing: these need the `bench` extra.
    from ._lookup import Endpoint, bench_lookup, bench_overhead
    from ._server import bench_server
    from ._storm import STORM_SIZE, bench_storms

    rounds = 3 if args.quick else 7
    storm_size = 100 if args.quick else STORM_SIZE
    load_seconds = 1.0 if args.quick else 8.0
    wanted = set(args.only or ["lookup", "overhead", "storms", "server", "generate", "cli"])
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    sections: list[Section] = []
    ok = True
    try:
        with Processes() as procs:
            if wanted & {"lookup", "overhead", "storms"}:
                port = free_port()
                progress(f"starting the 50 ms stand-in token endpoint on 127.0.0.1:{port}")
                storm = procs.start(
                    "storm",
                    ["-m", "benchmarks._serve", "storm", "--port", str(port)],
                    port,
                    env={ENV_STORM_DELAY: "0.05"},
                    ready_path="/stats",
                )
                endpoint = Endpoint(storm.url, storm.url + TOKEN_PATH)
                if "lookup" in wanted:
                    ok &= _run_section(
                        sections,
                        "1. Cached token lookup",
                        lambda: bench_lookup(endpoint, 2 * rounds),
                    )
                if "overhead" in wanted:
                    ok &= _run_section(
                        sections,
                        "2. Request overhead",
                        lambda: bench_overhead(endpoint, 8 * rounds),
                    )
                if "storms" in wanted:
                    ok &= _run_section(
                        sections,
                        "3. Cold-cache storms",
                        lambda: bench_storms(endpoint, storm.url, storm_size),
                    )
                procs.stop(storm)
            if "server" in wanted:
                ok &= _run_section(
                    sections, "4. Reference server", lambda: bench_server(procs, load_seconds)
                )
        if "generate" in wanted:
            from ._generate import bench_generate

            ok &= _run_section(sections, "5. Code generation", bench_generate)
        if "cli" in wanted:
            from ._cli import bench_cli

            ok &= _run_section(
                sections, "6. eagle-id token from the command line", lambda: bench_cli(2 * rounds)
            )
    except KeyboardInterrupt:
        progress("interrupted: every server was stopped; no RESULTS.md written")
        return 130
    load_after = os.getloadavg()[0]
    cpus = os.cpu_count() or 1
    busy = load_before > 0.5 * cpus
    facts = machine_facts(
        [
            ("total time", f"{time.monotonic() - started:.0f} s"),
            (
                "measured under load?",
                f"{'yes' if busy else 'no'}: 1-min load average {load_before:.2f} before, "
                f"{load_after:.2f} after, on {cpus} CPUs (the runs add their own load)",
            ),
            ("mode", "quick (--quick)" if args.quick else "full"),
        ]
    )
    print(render_text(sections))
    args.out.write_text(render_markdown(sections, facts), encoding="utf-8")
    checks = [c for s in sections for c in s.checks]
    missed = [c for c in checks if c.met is False]
    progress(
        f"wrote {args.out} in {time.monotonic() - started:.0f} s; "
        f"targets met {sum(c.met is True for c in checks)}/{len(checks)}"
        + (f", missed: {', '.join(c.name for c in missed)}" if missed else "")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
