"""The conformance suite's documentation (docs/guide/conformance.md) is true: no secret on a
command line, its CI snippet keeps the exit statuses, and its "Against other servers" table is
what the test asserts."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from live_server import LiveServer
from test_conformance_independent import OAUTH2_VERDICTS, SCREENING_EAGLE_VERDICTS

ROOT = Path(__file__).resolve().parents[1]


def _section() -> str:
    return (ROOT / "docs" / "guide" / "conformance.md").read_text(encoding="utf-8")


def _shell_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", _section(), flags=re.DOTALL)


def test_no_command_line_in_the_section_carries_a_secret() -> None:
    blocks = _shell_blocks()
    assert blocks
    for block in blocks:
        for line in block.splitlines():
            assert not re.search(r"SECRET=\S", line), line
            assert "--client-secret " not in line, line
    # The first block is the quick start: the secret is exported from the environment.
    assert "export EAGLE_ID_CLIENT_SECRET" in blocks[0]


def _ci_snippet() -> str:
    (snippet,) = [b for b in _shell_blocks() if "status=$?" in b]
    return snippet


@pytest.mark.parametrize(("secret_suffix", "expected"), [("", 0), ("-typo", 2)])
def test_the_ci_snippet_keeps_the_exit_status(
    reference_server: LiveServer, tmp_path: Path, secret_suffix: str, expected: int
) -> None:
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "EAGLE_ID_URL": reference_server.url,
        "EAGLE_ID_CLIENT_ID": reference_server.client_id,
        "EAGLE_ID_CLIENT_SECRET": reference_server.client_secret + secret_suffix,
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }
    done = subprocess.run(
        ["bash", "-c", _ci_snippet()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == expected, done.stdout + done.stderr
    if expected == 0:
        summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
        assert summary.startswith("## Conformance: conformant")
        assert (tmp_path / "reports" / "conformance.json").is_file()
    else:
        assert "check the id and secret" in done.stderr


def test_the_against_other_servers_table_is_what_the_test_asserts() -> None:
    section = _section()
    table = section[section.index("## Against other servers") :]
    rows = re.findall(r"^\| `([^`]+)` \| (FAIL|WARN|PASS) \| (FAIL|WARN|PASS) \|", table, re.M)
    assert {name: default for name, default, _ in rows} == {
        k: v for k, v in SCREENING_EAGLE_VERDICTS.items() if v != "N/A"
    }
    assert {name: oauth2 for name, _, oauth2 in rows if oauth2 != "PASS"} == {
        k: v for k, v in OAUTH2_VERDICTS.items() if v != "N/A"
    }
