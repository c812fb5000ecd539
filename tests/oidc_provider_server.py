"""An OAuth 2.0 server nobody here wrote, of another family than django-oauth-toolkit: panva's
`oidc-provider` (Node, from npm), for the conformance suite to be proven against.

`install()` installs it pinned (every package, from `benchmarks/oidc-provider/package-lock.json`)
into the user's cache folder, once, under a lock: the bench's installer (`benchmarks/_oidc.py`),
loaded from its file. `serve(directory)` starts `oidc_provider_server.mjs` on a free 127.0.0.1
port and yields its base URL; the token endpoint is oidc-provider's own `/token`, with two
registered confidential clients (Basic authentication, client_secret_basic, its default): the
plain one and one whose id and secret hold characters Basic must form-urlencode.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

__all__ = [
    "CLIENT_ID",
    "CLIENT_SECRET",
    "SCOPE",
    "SPECIAL_CLIENT_ID",
    "SPECIAL_CLIENT_SECRET",
    "TOKEN_PATH",
    "install",
    "installer",
    "serve",
]

CLIENT_ID = "conformance-client"
CLIENT_SECRET = "oidc-provider-secret-0123456789abcdef"
# RFC 6749 §2.3.1: the id and secret are form-urlencoded before Basic's base64. Printable ASCII
# only: Appendix A makes both VSCHAR, and oidc-provider refuses anything else (400).
SPECIAL_CLIENT_ID = "special:client/ +&%="
SPECIAL_CLIENT_SECRET = "s3cr:t +&%/=-0123456789"
SCOPE = "openid email profile inspect"
TOKEN_PATH = "/token"

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "oidc_provider_server.mjs"
# The real cache, read before tests/conftest.py points $XDG_CACHE_HOME at a temp folder per test:
# the install is kept across sessions, as npm's own cache is.
_CACHE_HOME = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
# A cold install (npm's cache empty) takes ~20 s here; a warm one is a file check.
INSTALL_TIMEOUT = 90.0
START_TIMEOUT = 30.0


def installer() -> ModuleType:
    """benchmarks/_oidc.py, the installer the bench uses too."""
    # benchmarks/ runs from the checkout, not installed: loaded from its file.
    path = HERE.parent / "benchmarks" / "_oidc.py"
    spec = importlib.util.spec_from_file_location("_eagle_bench_oidc", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def install() -> tuple[Path | None, str]:
    """(the folder oidc-provider is installed in, or None; why not)."""
    folder: Path | None
    folder, note = installer().ensure_oidc_provider(cache_home=_CACHE_HOME, timeout=INSTALL_TIMEOUT)
    return folder, note


def _clients() -> str:
    pairs = [(CLIENT_ID, CLIENT_SECRET), (SPECIAL_CLIENT_ID, SPECIAL_CLIENT_SECRET)]
    return json.dumps([{"client_id": i, "client_secret": s, "scope": SCOPE} for i, s in pairs])


def _first_line(process: subprocess.Popen[bytes], out: Path, err: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        text = out.read_text("utf-8", "replace")
        if "\n" in text:
            return text.partition("\n")[0]
        if process.poll() is not None:
            break
        time.sleep(0.05)
    tail = err.read_text("utf-8", "replace")[-3000:]
    raise RuntimeError(f"oidc-provider did not start (exit {process.poll()}):\n{tail}")


@contextmanager
def serve(folder: Path, directory: Path) -> Iterator[str]:
    """Serve the oidc-provider installed in `folder`; yield its base URL; stop it on exit.

    Its output goes to files in `directory` (no pipe to fill up and block it).
    """
    node = shutil.which("node")
    assert node is not None
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "OIDC_DIR": str(folder),
        "OIDC_CLIENTS": _clients(),
        "NODE_ENV": "production",
    }
    out, err = directory / "stdout.txt", directory / "stderr.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen([node, str(SCRIPT)], stdout=stdout, stderr=stderr, env=env)
    try:
        yield json.loads(_first_line(process, out, err))["url"]
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
