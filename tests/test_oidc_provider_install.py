"""oidc-provider's install (benchmarks/_oidc.py): once for parallel runs, never seen half done,
bounded, and a reason instead of an error when it cannot happen.

`npm` here is a stand-in script on PATH (it logs its calls and writes the package's manifest):
what is tested is the install's bookkeeping, not npm. The real install is exercised by
test_conformance_oidc_provider.py.
"""

from __future__ import annotations

import fcntl
import threading
from pathlib import Path
from types import ModuleType

import pytest
from oidc_provider_server import installer

FAKE_NPM = """#!/bin/sh
echo "$*" >> "$FAKE_NPM_LOG"
sleep 0.3
if [ -n "$FAKE_NPM_FAIL" ]; then echo "npm ERR! $FAKE_NPM_FAIL" >&2; exit 1; fi
test -f package-lock.json || exit 3
mkdir -p node_modules/oidc-provider
printf '{\\n  "version": "%s"\\n}\\n' "$FAKE_NPM_VERSION" > node_modules/oidc-provider/package.json
"""


@pytest.fixture
def oidc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module = installer()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("npm", FAKE_NPM), ("node", "#!/bin/sh\nexit 0\n")):
        (bin_dir / name).write_text(text, encoding="utf-8")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_NPM_LOG", str(tmp_path / "npm.log"))
    monkeypatch.setenv("FAKE_NPM_VERSION", module.OIDC_PROVIDER.rpartition("@")[2])
    return module


def _calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "npm.log"
    return log.read_text("utf-8").splitlines() if log.exists() else []


def test_parallel_runs_install_once_and_all_get_the_folder(
    oidc: ModuleType, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    results: list[tuple[Path | None, str]] = []

    def ensure() -> None:
        results.append(oidc.ensure_oidc_provider(cache_home=str(cache), timeout=60))

    threads = [threading.Thread(target=ensure) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(_calls(tmp_path)) == 1
    assert _calls(tmp_path)[0].startswith("ci ")  # from the committed lockfile
    folders = {folder for folder, _ in results}
    assert len(folders) == 1
    (folder,) = folders
    assert folder is not None
    assert folder.is_relative_to(cache / "screening-eagle-id")
    assert (folder / "package-lock.json").read_bytes() == (
        oidc.PACKAGE_DIR / "package-lock.json"
    ).read_bytes()
    # Installed: the next run only looks.
    assert oidc.ensure_oidc_provider(cache_home=str(cache))[0] == folder
    assert len(_calls(tmp_path)) == 1


def test_a_failed_install_leaves_nothing_and_says_why(
    oidc: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("FAKE_NPM_FAIL", "E404 Not Found - GET oidc-provider")
    folder, note = oidc.ensure_oidc_provider(cache_home=str(cache), timeout=60)
    assert folder is None
    assert note.startswith("skipped: `npm ci` of oidc-provider@")
    assert "E404 Not Found" in note
    # No half install for the next run to take for a whole one: only the lock file is left.
    assert [p.name for p in (cache / "screening-eagle-id").iterdir()] == [
        oidc._cache_dir(str(cache)).name + ".lock"
    ]
    monkeypatch.delenv("FAKE_NPM_FAIL")
    folder, note = oidc.ensure_oidc_provider(cache_home=str(cache), timeout=60)
    assert folder is not None
    assert "installed now" in note


def test_a_lock_held_past_the_budget_gives_up_with_a_reason(
    oidc: ModuleType, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    folder = oidc._cache_dir(str(cache))
    folder.parent.mkdir(parents=True)
    with (folder.parent / f"{folder.name}.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        found, note = oidc.ensure_oidc_provider(cache_home=str(cache), timeout=0.5)
    assert found is None
    assert "another install held" in note
    assert _calls(tmp_path) == []


def test_without_node_or_npm_the_reason_is_given(
    oidc: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bin" / "npm").unlink()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # node alone
    folder, note = oidc.ensure_oidc_provider(cache_home=str(tmp_path / "cache"))
    assert folder is None
    assert note == "skipped: `node` and `npm` are needed to run oidc-provider"
