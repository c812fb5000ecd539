"""The wheel users install: four packages, typed, the demo registry and the spec inside, httpx +
attrs only, and metadata ready for PyPI (license, classifiers, URLs, a description twine
accepts)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest
import screening_eagle_id

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "screening_eagle_id",
    "screening_eagle_id_client",
    "screening_eagle_id_conformance",
    "screening_eagle_id_server",
)


@pytest.fixture(scope="module")
def wheel_path(wheel_file: Path) -> Path:
    return wheel_file


@pytest.fixture(scope="module")
def wheel(wheel_path: Path) -> zipfile.ZipFile:
    return zipfile.ZipFile(wheel_path)


@pytest.fixture(scope="module")
def meta(wheel: zipfile.ZipFile) -> Message:
    (meta_name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    return Parser().parsestr(wheel.read(meta_name).decode())


def test_ships_exactly_the_four_packages(wheel: zipfile.ZipFile) -> None:
    tops = {
        name.split("/")[0]
        for name in wheel.namelist()
        if not name.startswith("screening_eagle_id-")
    }
    assert tops == set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_is_typed(wheel: zipfile.ZipFile, package: str) -> None:
    assert f"{package}/py.typed" in wheel.namelist()


def test_demo_registry_is_inside_the_server_package(wheel: zipfile.ZipFile) -> None:
    assert "screening_eagle_id_server/demo_clients.toml" in wheel.namelist()


def test_the_conformance_package_carries_the_spec_it_fuzzes(wheel: zipfile.ZipFile) -> None:
    shipped = wheel.read("screening_eagle_id_conformance/openapi.yaml")
    assert shipped == (ROOT / "openapi.yaml").read_bytes()


def test_client_side_needs_only_httpx_and_attrs(meta: Message) -> None:
    unconditional = [r for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r]
    assert sorted(r.split(">")[0].split("<")[0].split("=")[0].strip() for r in unconditional) == [
        "attrs",
        "httpx",
    ]
    assert {"server", "redis", "conformance"} <= set(meta.get_all("Provides-Extra") or [])


def test_dev_tools_are_dependency_groups_not_pinned_extras(meta: Message) -> None:
    extras = set(meta.get_all("Provides-Extra") or [])
    assert not extras & {"dev", "bench"}
    for requirement in meta.get_all("Requires-Dist") or []:
        version = requirement.partition(";")[0]
        assert "==" not in version, requirement  # a library never pins its users
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    assert {"dev", "bench"} <= set(groups)
    assert {"include-group": "dev"} in groups["bench"]


def test_license_classifiers_and_urls(wheel: zipfile.ZipFile, meta: Message) -> None:
    assert meta["License-Expression"] == "MIT"
    (license_name,) = [n for n in wheel.namelist() if n.endswith("licenses/LICENSE")]
    license_text = wheel.read(license_name).decode()
    assert license_text.startswith("MIT License")
    assert license_text == (ROOT / "LICENSE").read_text()
    classifiers = set(meta.get_all("Classifier") or [])
    assert "Operating System :: POSIX :: Linux" in classifiers
    assert f"Programming Language :: Python :: {sys.version_info[0]}.{sys.version_info[1]}" in (
        classifiers
    ), "the suite runs on a Python the classifiers do not claim"
    urls = dict(url.split(", ", 1) for url in meta.get_all("Project-URL") or [])
    assert {"Homepage", "Source", "Issues", "Changelog"} <= set(urls)
    assert all(url.startswith("https://") for url in urls.values())
    assert meta["Version"] == screening_eagle_id.__version__


def test_the_changelog_covers_every_release() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{screening_eagle_id.__version__}]" in changelog
    assert "## [0.1.0]" in changelog


def test_twine_check_passes(wheel_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(wheel_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED" in result.stdout


def test_console_script(wheel: zipfile.ZipFile) -> None:
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    assert "eagle-id = screening_eagle_id._cli:main" in wheel.read(entry_points).decode()


def test_the_dependency_ends_are_the_bounds_of_the_range(tmp_path: Path) -> None:
    """`make test-deps` installs these: the lower bounds, then the ranges (newest)."""
    from dependency_ends import requirements

    assert requirements("oldest") == ["httpx==0.27", "attrs==23.1"]
    assert requirements("newest") == ["httpx>=0.27,<1", "attrs>=23.1"]
    unbounded = tmp_path / "pyproject.toml"
    unbounded.write_text('[project]\ndependencies = ["httpx<1"]\n', encoding="utf-8")
    with pytest.raises(ValueError, match="httpx has no lower bound"):
        requirements("oldest", unbounded)
