"""panva's `oidc-provider` (Node): the bench's peer, and an independent server the conformance
tests run the suite against (`tests/oidc_provider_server.py` loads this file).

Installed from npm the first time, with `npm ci` from the lockfile in `benchmarks/oidc-provider/`
(every package pinned, integrity-checked), into a cache folder outside the checkout:
`$XDG_CACHE_HOME/screening-eagle-id/oidc-provider-<hash of the lockfile>` (default `~/.cache/...`).
The install runs in a staging folder renamed into place when complete, under a file lock, so
parallel runs (bench, tests, several checkouts) neither race nor see half an install. Without
`node` and `npm`, or when the install fails, the caller gets None and a reason, never an error.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["OIDC_PROVIDER", "ensure_oidc_provider", "oidc_provider_command"]

OIDC_PROVIDER = "oidc-provider@9.13.3"
SCRIPT = Path(__file__).with_name("oidc_provider.mjs")
PACKAGE_DIR = Path(__file__).with_name("oidc-provider")
_PACKAGE_FILES = ("package.json", "package-lock.json")
_INSTALL_TIMEOUT = 300


def _cache_dir(cache_home: str | None = None) -> Path:
    lock = PACKAGE_DIR.joinpath("package-lock.json").read_bytes()
    base = cache_home or os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    name = f"oidc-provider-{hashlib.sha256(lock).hexdigest()[:16]}"
    return Path(base) / "screening-eagle-id" / name


def _installed(folder: Path) -> bool:
    package = folder / "node_modules" / "oidc-provider" / "package.json"
    version = OIDC_PROVIDER.rpartition("@")[2]
    return package.is_file() and f'"version": "{version}"' in package.read_text("utf-8")


@contextlib.contextmanager
def _locked(path: Path, deadline: float) -> Iterator[None]:
    """An exclusive lock on `path`, waited for until `deadline` (TimeoutError after)."""
    with path.open("a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another install held {path}") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _npm_ci(npm: str, folder: Path, timeout: float) -> None:
    """Install into a staging folder beside `folder`, then rename it into place."""
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        for name in _PACKAGE_FILES:
            shutil.copyfile(PACKAGE_DIR / name, staging / name)
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error", "--ignore-scripts"],
            cwd=staging,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        if folder.exists():  # a broken earlier install: replaced
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def ensure_oidc_provider(
    *, cache_home: str | None = None, timeout: float = _INSTALL_TIMEOUT
) -> tuple[Path | None, str]:
    """(the folder oidc-provider is installed in, or None; what happened, for the report).

    `cache_home` replaces $XDG_CACHE_HOME; `timeout` bounds the wait for the lock plus the install.
    """
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None, "skipped: `node` and `npm` are needed to run oidc-provider"
    folder = _cache_dir(cache_home)
    if _installed(folder):
        return folder, f"{OIDC_PROVIDER} from {folder}"
    deadline = time.monotonic() + timeout
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        with _locked(folder.parent / f"{folder.name}.lock", deadline):
            if _installed(folder):  # installed by whoever held the lock
                return folder, f"{OIDC_PROVIDER} from {folder}"
            _npm_ci(npm, folder, max(1.0, deadline - time.monotonic()))
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or exc.stdout or "").strip().splitlines()[-1:]
        return None, f"skipped: `npm ci` of {OIDC_PROVIDER} failed: {' '.join(tail)}"
    except (OSError, subprocess.TimeoutExpired, TimeoutError) as exc:
        return None, f"skipped: `npm ci` of {OIDC_PROVIDER} failed: {exc}"
    return folder, f"{OIDC_PROVIDER}, installed now into {folder}"


def oidc_provider_command(folder: Path, port: int) -> tuple[str, list[str], dict[str, str]]:
    """(program, arguments, environment) that serve oidc-provider on 127.0.0.1:port."""
    node = shutil.which("node")
    assert node is not None
    return node, [str(SCRIPT), str(port)], {"OIDC_DIR": str(folder), "NODE_ENV": "production"}
