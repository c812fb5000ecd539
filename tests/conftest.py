"""Shared fixtures: the reference server on a real loopback socket."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixed_ports import REAL_PORTS_ONLY, forbid_documented_ports
from live_server import LiveServer, start_server
from screening_eagle_id_server import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Registry, Settings

DEMO_REGISTRY_TOML = f"""
[[clients]]
client_id = "{DEMO_CLIENT_ID}"
secret_sha256 = "{hashlib.sha256(DEMO_CLIENT_SECRET.encode()).hexdigest()}"
scopes = ["openid", "email", "profile", "inspect", "offline"]
grant_types = ["client_credentials"]

[clients.claims]
sub = "1302"
email = "test@example.com"
name = "Test User"
"""


def pytest_configure(config: pytest.Config) -> None:
    """Hermetic runs: the caller's `EAGLE_ID_*` variables (say `EAGLE_ID_SCOPE=admin` exported
    in their shell) and their credentials file (`~/.config/eagle-id`) never reach a test or a
    subprocess it starts. Tests that want them set them."""
    for name in [name for name in os.environ if name.startswith("EAGLE_ID_")]:
        del os.environ[name]
    config_home = tempfile.mkdtemp(prefix="eagle-id-tests-config-")
    os.environ["XDG_CONFIG_HOME"] = config_home
    config.add_cleanup(lambda: shutil.rmtree(config_home, ignore_errors=True))
    # Nor does a port a user may be using (`make serve` holds 127.0.0.1:8000): binding one of
    # the documented ports in-process fails as if it were taken, on every run.
    # (test_hermetic.py turns this off in a subprocess that runs with those ports really held.)
    if os.environ.get(REAL_PORTS_ONLY) != "1":
        forbid_documented_ports()


@pytest.fixture(scope="session")
def reference_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The reference server with the demo client, from a temp registry file, for the session."""
    path = tmp_path_factory.mktemp("registry") / "clients.toml"
    path.write_text(DEMO_REGISTRY_TOML, encoding="utf-8")
    settings = Settings(signing_key=secrets.token_bytes(32), registry=Registry.from_file(path))
    with start_server(settings) as server:
        yield server


@pytest.fixture(scope="session")
def wheel_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built once per session (pip wheel, no dependencies)."""
    out = tmp_path_factory.mktemp("wheel")
    root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(root)],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("screening_eagle_id-*.whl")
    return path


@pytest.fixture(autouse=True)
def _isolated_cache_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Each test gets its own empty `$XDG_CACHE_HOME`: `eagle-id token` caches tokens in files
    by default (FileCache), and a test must neither touch the real ~/.cache nor reuse a token
    another test cached (a cached token is served whatever secret the next call presents)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
