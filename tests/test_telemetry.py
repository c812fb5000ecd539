"""OpenTelemetry's tests (`otel_cases.py`), in a pytest process of their own.

OpenTelemetry allows one global tracer and meter provider per process, and once a real
MeterProvider is set, every token client counts its cache hits (its `get_token` is wrapped):
set in this process, the SDK would change every test that runs after the telemetry tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CASES = Path(__file__).with_name("otel_cases.py")


def test_the_telemetry_cases_pass_in_a_process_of_their_own() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(CASES), "-q", "-p", "no:randomly"],
        cwd=CASES.parent.parent,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
