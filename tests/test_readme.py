"""README.md: its snippets run, close what they open, and it reads well as the PyPI page."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from live_server import LiveServer

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
MARKER = "<!-- tests/test_readme.py runs this snippet under `python -X dev` -->"
SNIPPETS = re.findall(re.escape(MARKER) + r"\n```python\n(.*?)```", README, re.DOTALL)


def _run(code: str, server: LiveServer, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`code` with its placeholders pointed at the live reference server, under `-X dev` (every
    ResourceWarning shown, e.g. an unclosed socket) with warnings as errors."""
    code = (
        code.replace("https://api.example.com/…", server.url + "/resource")
        .replace("https://id.example.com", server.url)
        .replace("my-client", server.client_id)
        .replace("my-secret", server.client_secret)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("EAGLE_ID_")}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    return subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_marked_snippets_are_found() -> None:
    assert len(SNIPPETS) == README.count(MARKER) == 3


@pytest.mark.parametrize("index", range(3), ids=["sync", "async", "generated client"])
def test_a_snippet_runs_and_leaks_nothing(
    reference_server: LiveServer, tmp_path: Path, index: int
) -> None:
    result = _run(SNIPPETS[index], reference_server, tmp_path)
    assert result.returncode == 0, result.stderr
    # No ResourceWarning, no "Exception ignored in ...". asyncio's debug mode also reports a
    # slow first step (imports on a loaded machine), which is no leak.
    slow_step = re.compile(r"Executing <.*> took \d+\.\d+ seconds")
    assert [line for line in result.stderr.splitlines() if not slow_step.fullmatch(line)] == []


def test_the_generated_client_snippet_returns_errors_as_values(
    reference_server: LiveServer, tmp_path: Path
) -> None:
    (snippet,) = [s for s in SNIPPETS if "screening_eagle_id_client" in s]
    ok = _run(snippet, reference_server, tmp_path)
    assert ok.stdout.startswith("200 Bearer ")
    wrong = _run(snippet.replace("my-secret", "not-the-secret"), reference_server, tmp_path)
    assert wrong.returncode == 0, wrong.stderr
    assert wrong.stdout.startswith("401 invalid_client ")


def test_links_are_absolute_for_the_pypi_page() -> None:
    targets = re.findall(r"\]\(([^)]+)\)", README)
    assert targets
    assert all(re.match(r"https://", target) for target in targets), targets


def test_a_pip_user_sees_pip_install_first() -> None:
    first_block = re.search(r"```\w*\n(.*?)```", README, re.DOTALL)
    assert first_block is not None
    assert first_block.group(1).startswith("pip install screening-eagle-id")
    assert README.index("## Install") < README.index("## Usage") < README.index("make demo")
