"""`make demo` end to end: a real server subprocess, real output, clean shutdown."""

from __future__ import annotations

import re
import socket
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_runs_the_whole_story() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "screening_eagle_id._demo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # clean output: no server logs, no warnings
    out = result.stdout
    url = re.search(r"listening on (http://127\.0\.0\.1:(\d+))", out)
    assert url is not None
    assert "fetched from the endpoint" in out
    cached = re.search(r"served from cache in ([\d.]+) µs.*same token: True", out)
    assert cached is not None
    token = re.search(r"access_token (\S+)", out)
    assert token is not None
    assert token.group(1).count(".") == 2
    assert "claims (UNVERIFIED" in out
    assert '"sub": "1302"' in out
    assert '"email": "test@example.com"' in out
    assert "InvalidClientError: status_code=401 error='invalid_client'" in out
    assert "demo-secret" not in out
    assert "Server stopped" in out
    # The server is really gone.
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", int(url.group(2))), timeout=2),
    ):
        pass
