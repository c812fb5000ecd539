"""`eagle-id` when its standard output is closed or full: one line on stderr and exit 1, not
'unexpected AttributeError; this is a bug' nor Python's 'Exception ignored … OSError'."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import pytest

_JWT = ".".join(
    base64.urlsafe_b64encode(part).decode().rstrip("=")
    for part in (b'{"alg":"HS256"}', b'{"sub":"x"}', b"sig")
)
_CLI = [sys.executable, "-c", "from screening_eagle_id._cli import main; raise SystemExit(main())"]


def _run(redirect: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", f'exec "$@" {redirect}', "sh", *_CLI, "decode", _JWT],
        capture_output=False,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_closed_stdout_is_one_line_and_exit_1() -> None:
    done = _run(">&-")
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("eagle-id: cannot write to standard output"), done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_stdout_is_one_line_and_exit_1() -> None:
    done = _run(">/dev/full")
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("eagle-id: cannot write to standard output"), done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
