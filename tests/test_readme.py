"""README.md and docs/: their runnable snippets run and close what they open; the README reads
well as the PyPI page."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from live_server import LiveServer
from readme_snippets import Block, runnable, snippet

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
RUNNABLE = runnable()


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
    where = {block.path.relative_to(ROOT).as_posix() for block in RUNNABLE}
    assert {"README.md", "docs/start/api.md", "docs/guide/generated-client.md"} <= where


@pytest.mark.parametrize("block", RUNNABLE, ids=[block.where for block in RUNNABLE])
def test_a_snippet_runs_and_leaks_nothing(
    reference_server: LiveServer, tmp_path: Path, block: Block
) -> None:
    result = _run(block.code, reference_server, tmp_path)
    assert result.returncode == 0, result.stderr
    # No ResourceWarning, no "Exception ignored in ...". asyncio's debug mode also reports a
    # slow first step (imports on a loaded machine), which is no leak.
    slow_step = re.compile(r"Executing <.*> took \d+\.\d+ seconds")
    assert [line for line in result.stderr.splitlines() if not slow_step.fullmatch(line)] == []


def test_the_generated_client_snippet_returns_errors_as_values(
    reference_server: LiveServer, tmp_path: Path
) -> None:
    (snippet,) = [b.code for b in RUNNABLE if "screening_eagle_id_client" in b.code]
    ok = _run(snippet, reference_server, tmp_path)
    assert ok.stdout.startswith("200 Bearer ")
    wrong = _run(snippet.replace("my-secret", "not-the-secret"), reference_server, tmp_path)
    assert wrong.returncode == 0, wrong.stderr
    assert wrong.stdout.startswith("401 invalid_client ")


def test_links_are_absolute_for_the_pypi_page() -> None:
    targets = re.findall(r"\]\(([^)]+)\)", README)
    assert targets
    assert all(re.match(r"https://", target) for target in targets), targets


REPO = "https://github.com/screening-eagle/screening-eagle-id/blob/main/"


def test_links_into_the_repository_name_files_that_exist() -> None:
    targets = re.findall(r"\]\((" + re.escape(REPO) + r"[^)#]+)", README)
    assert len(targets) >= 20  # the front page links into every page of the documentation
    missing = [t for t in targets if not (ROOT / t.removeprefix(REPO)).is_file()]
    assert missing == []
    linked = {t.removeprefix(REPO) for t in targets}
    quick_starts = {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs" / "start").glob("*.md")}
    assert (
        quick_starts
        | {
            "docs/index.md",
            "docs/install.md",
            "docs/security.md",
            "docs/performance.md",
            "docs/api/client.md",
            "docs/contributing.md",
        }
        <= linked
    )


def test_the_front_page_is_short() -> None:
    assert len(README.splitlines()) <= 200


def test_the_first_screen_gets_a_newcomer_going_honestly() -> None:
    first_screen = "\n".join(README.splitlines()[:40])
    # The package is not published: no command on the front page pretends it is.
    assert "Not on PyPI yet" in first_screen
    commands = [b for b in re.findall(r"```sh\n(.*?)```", README, re.DOTALL)]
    assert not any(
        line.startswith("pip install screening-eagle-id")
        for b in commands
        for line in b.splitlines()
    )
    for needed in (
        "make demo",
        "make test",
        "eagle-id serve --dev",
        "demo-client",
        "demo-secret",
        "eagle-id token",
        "eagle-id conformance",
    ):
        assert needed in first_screen, needed
    assert "about 5 minutes" in first_screen  # what `make test` takes, not "about two"


def _run_shell(script: str, server: LiveServer, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """A documented shell session, against the reference server with the demo client (on a
    free port instead of 8000, and this venv's scripts instead of .venv/bin)."""
    script = script.replace("http://127.0.0.1:8000", server.url).replace(
        ".venv/bin/", f"{Path(sys.executable).parent}/"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("EAGLE_ID_")}
    env.update(
        PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}",
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_first_screen_commands_get_a_token_and_a_conformance_run(
    reference_server: LiveServer, tmp_path: Path
) -> None:
    """Terminal 2 of the README's "Try it", as written."""
    done = _run_shell(snippet("try-it"), reference_server, tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    token = done.stdout.splitlines()[0]
    assert token.count(".") == 2  # a JWT
    assert "all applicable checks passed" in done.stdout


def test_the_conformance_quick_start_passes_against_the_dev_server(
    reference_server: LiveServer, tmp_path: Path
) -> None:
    done = _run_shell(snippet("conformance-quick"), reference_server, tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "conformance: all applicable checks passed — " in done.stdout
    assert (tmp_path / "reports" / "conformance.xml").is_file()
