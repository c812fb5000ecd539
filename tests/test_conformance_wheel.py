"""The wheel alone runs the suite: installed with its `conformance` extra into a fresh venv,
outside the checkout, it checks the reference server (started here) and exits 0."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from live_server import LiveServer

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_installed_wheel_runs_the_suite_outside_the_checkout(
    wheel_file: Path, reference_server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    home = tmp_path_factory.mktemp("outside")
    assert ROOT not in home.parents
    venv = home / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # This venv's pip installs into the fresh one (--python): no pip bootstrap, warm caches.
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-compile",
            f"{wheel_file}[conformance]",
        ],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(home),
        "EAGLE_ID_CLIENT_SECRET": reference_server.client_secret,
    }
    where = subprocess.run(
        [str(python), "-c", "import screening_eagle_id_conformance as c; print(c.__file__)"],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(venv)
    report = home / "report.json"
    done = subprocess.run(
        [
            str(venv / "bin" / "eagle-id"),
            "conformance",
            "--url",
            reference_server.url,
            "--client-id",
            reference_server.client_id,
            "--max-examples",
            "5",
            "--report-json",
            str(report),
        ],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads(report.read_text(encoding="utf-8"))
    assert document["conformant"] is True
    assert any(c["check"] == "schemathesis/run" for c in document["checks"])
    # No URL, and no reference server in this install (the `server` extra is not installed):
    # one clear line, exit status 2.
    bare = subprocess.run(
        [str(python), "-m", "screening_eagle_id_conformance"],
        cwd=home,
        env={k: v for k, v in env.items() if k != "EAGLE_ID_CLIENT_SECRET"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bare.returncode == 2, bare.stdout + bare.stderr
    assert "install screening-eagle-id[server]" in bare.stderr
