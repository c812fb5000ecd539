"""The Makefile's venv belongs to one interpreter: PYTHON=… naming another rebuilds it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _make(
    venv: Path, python: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    # Only the rule that compares interpreters (and wipes the venv), not the install.
    return subprocess.run(
        [
            "make",
            "--no-print-directory",
            f"VENV={venv}",
            f"PYTHON={python}",
            f"{venv}/.interpreter",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_venv_made_with_another_interpreter_is_rebuilt(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    other = venv / "bin" / "python"
    other.write_text("#!/bin/sh\necho cpython 3.99.0 /opt/another-python\n")
    other.chmod(0o755)
    (venv / ".installed").touch()

    result = _make(venv, sys.executable)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "was made with cpython 3.99.0 /opt/another-python; rebuilding it" in result.stdout
    assert not (venv / ".installed").exists()  # so `make venv` installs anew
    assert not other.exists()
    recorded = (venv / ".interpreter").read_text()
    assert recorded.startswith(f"cpython {sys.version.split()[0]} ")

    (venv / ".installed").touch()
    again = _make(venv, sys.executable)
    assert again.returncode == 0, again.stderr
    assert "rebuilding" not in again.stdout
    assert (venv / ".installed").exists()  # the same interpreter keeps its venv


def test_a_python_older_than_3_11_is_refused(tmp_path: Path) -> None:
    old = tmp_path / "python3.10"
    old.write_text('#!/bin/sh\n[ "$2" = pass ]\n')  # runs, but fails the version check
    old.chmod(0o755)
    result = _make(tmp_path / "venv", str(old))
    assert result.returncode != 0
    assert "Python 3.11+ is required" in result.stdout
    missing = _make(tmp_path / "venv", str(tmp_path / "no-such-python"))
    assert missing.returncode != 0
    assert "does not run" in missing.stdout


def test_a_venv_from_before_the_rule_is_kept_and_not_reinstalled(tmp_path: Path) -> None:
    code = "import os, sys; print(sys.implementation.name, sys.version.split()[0], "
    code += "os.path.realpath(sys.base_prefix))"
    same = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(f"#!/bin/sh\necho {same}\n")
    python.chmod(0o755)
    (venv / ".installed").touch()
    result = _make(venv, sys.executable)
    assert result.returncode == 0, result.stderr
    assert python.exists()
    recorded = venv / ".interpreter"
    assert recorded.read_text().strip() == same
    # Older than the stamp: `make venv` does not reinstall.
    assert recorded.stat().st_mtime < (venv / ".installed").stat().st_mtime


def test_python_by_name_is_not_the_venvs_own(tmp_path: Path) -> None:
    """After `make … PYTHON=python3.12`, a plain `make` (PYTHON=python3) with the venv's bin on
    PATH (an activated venv) must not take the venv's python3 for the one asked for."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    made_with = "cpython 3.99.0 /opt/another-python"
    for name in ("python", "python3"):
        shim = venv / "bin" / name
        shim.write_text(f"#!/bin/sh\necho {made_with}\n")
        shim.chmod(0o755)
    (venv / ".interpreter").write_text(made_with + "\n")
    (venv / ".installed").touch()
    real_python3 = Path(sys.executable).parent  # a python3 that runs, after the venv's
    path = os.pathsep.join([str(venv / "bin"), str(real_python3), os.environ["PATH"]])
    result = _make(venv, "python3", env={**os.environ, "PATH": path})
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"was made with {made_with}; rebuilding it" in result.stdout
    assert not (venv / ".installed").exists()
