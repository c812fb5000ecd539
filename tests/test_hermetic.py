"""The suite is hermetic: what the caller exported or keeps in ~/.config never reaches a test,
and neither does what else runs on the machine (a server on a documented port)."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest
from fixed_ports import REAL_PORTS_ONLY, documented_ports, real_bind

ROOT = Path(__file__).resolve().parents[1]


def test_no_eagle_id_variable_and_no_user_credentials_file_reach_a_test() -> None:
    assert [name for name in os.environ if name.startswith("EAGLE_ID_")] == []
    config_home = Path(os.environ["XDG_CONFIG_HOME"])
    assert config_home != Path.home() / ".config"
    assert not (config_home / "eagle-id" / "credentials.toml").exists()


def test_a_run_with_hostile_settings_exported_still_passes(tmp_path: Path) -> None:
    config = tmp_path / "config" / "eagle-id"
    config.mkdir(parents=True)
    (config / "credentials.toml").write_text("[default\nbroken", encoding="utf-8")
    env = {
        **os.environ,
        "EAGLE_ID_SCOPE": "admin",
        "EAGLE_ID_URL": "http://192.0.2.1",
        "EAGLE_ID_CLIENT_ID": "someone-else",
        "EAGLE_ID_CLIENT_SECRET": "not-the-secret",
        "EAGLE_ID_PROFILE": "nope",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    tests = [
        "tests/test_hermetic.py::test_no_eagle_id_variable_and_no_user_credentials_file_reach_a_test",
        "tests/test_cli.py::test_token_json",
    ]
    result = subprocess.run(
        # Without the schemathesis and hypothesis plugins: they take seconds to import.
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:schemathesis",
            "-p",
            "no:hypothesispytest",
            *tests,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]


def _hold(stack: ExitStack, port: int) -> None:
    """Listen on 127.0.0.1:`port`, unless something else already does (taken either way)."""
    sock = stack.enter_context(socket.socket())
    try:
        real_bind(sock, ("127.0.0.1", port))
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        return
    sock.listen()


def test_the_documented_ports_are_found() -> None:
    assert 8000 in documented_ports()


def test_binding_a_documented_port_in_a_test_fails_as_if_it_were_taken() -> None:
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        with (
            socket.socket(family) as sock,
            pytest.raises(OSError, match="tests bind port 0") as exc,
        ):
            sock.bind((host, 8000))
        assert exc.value.errno == errno.EADDRINUSE
    with socket.socket() as sock:  # any other port binds as usual
        sock.bind(("127.0.0.1", 0))


def test_a_run_with_the_documented_ports_taken_still_passes() -> None:
    """As with `make serve` running beside `make test`: the tests that start the server (or
    reach its command line) pass while every port users are told about is held."""
    tests = ["tests/test_server_cli.py", "tests/test_cli.py", "tests/test_server_startup.py"]
    with ExitStack() as stack:
        for port in sorted(documented_ports()):
            _hold(stack, port)
        result = subprocess.run(
            [
                *(sys.executable, "-m", "pytest", "-q", "-m", "not slow"),
                *("-p", "no:schemathesis", "-p", "no:hypothesispytest", *tests),
            ],
            cwd=ROOT,
            env={**os.environ, REAL_PORTS_ONLY: "1"},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert result.returncode == 0, result.stdout[-3000:]
