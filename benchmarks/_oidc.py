"""panva's `oidc-provider` (Node), the peer the reference server is compared with.

Installed from npm into a cache folder the first time (`$XDG_CACHE_HOME/screening-eagle-id-bench`,
default `~/.cache/...`) when `node` and `npm` exist; otherwise the comparison is skipped with a
reason, never failing the bench.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

__all__ = ["OIDC_PROVIDER", "ensure_oidc_provider", "oidc_provider_command"]

OIDC_PROVIDER = "oidc-provider@9.13.3"
SCRIPT = Path(__file__).with_name("oidc_provider.mjs")
_INSTALL_TIMEOUT = 300


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "screening-eagle-id-bench" / "oidc-provider"


def ensure_oidc_provider() -> tuple[Path | None, str]:
    """(the folder oidc-provider is installed in, or None; what happened, for the report)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None, "skipped: `node` and `npm` are needed to run oidc-provider"
    folder = _cache_dir()
    version = OIDC_PROVIDER.rpartition("@")[2]
    installed = folder / "node_modules" / "oidc-provider" / "package.json"
    if installed.is_file() and f'"version": "{version}"' in installed.read_text("utf-8"):
        return folder, f"{OIDC_PROVIDER} from {folder}"
    folder.mkdir(parents=True, exist_ok=True)
    package = folder / "package.json"
    if not package.exists():
        package.write_text('{"name": "eagle-bench-oidc", "private": true}\n', encoding="utf-8")
    try:
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", OIDC_PROVIDER],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=_INSTALL_TIMEOUT,
            check=True,
        )
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or exc.stdout or "").strip().splitlines()[-1:]
        return None, f"skipped: `npm install {OIDC_PROVIDER}` failed: {' '.join(tail)}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"skipped: `npm install {OIDC_PROVIDER}` failed: {exc}"
    return folder, f"{OIDC_PROVIDER}, installed now into {folder}"


def oidc_provider_command(folder: Path, port: int) -> tuple[str, list[str], dict[str, str]]:
    """(program, arguments, environment) that serve oidc-provider on 127.0.0.1:port."""
    node = shutil.which("node")
    assert node is not None
    return node, [str(SCRIPT), str(port)], {"OIDC_DIR": str(folder), "NODE_ENV": "production"}
