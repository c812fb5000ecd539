"""The wheel users install: four packages, typed, the demo registry and the spec inside, httpx +
attrs only."""

from __future__ import annotations

import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "screening_eagle_id",
    "screening_eagle_id_client",
    "screening_eagle_id_conformance",
    "screening_eagle_id_server",
)


@pytest.fixture(scope="module")
def wheel(wheel_file: Path) -> zipfile.ZipFile:
    return zipfile.ZipFile(wheel_file)


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


def test_client_side_needs_only_httpx_and_attrs(wheel: zipfile.ZipFile) -> None:
    (meta_name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    meta = Parser().parsestr(wheel.read(meta_name).decode())
    unconditional = [r for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r]
    assert sorted(r.split(">")[0].split("<")[0].split("=")[0].strip() for r in unconditional) == [
        "attrs",
        "httpx",
    ]
    assert {"server", "redis", "dev", "bench", "conformance"} <= set(
        meta.get_all("Provides-Extra") or []
    )


def test_console_script(wheel: zipfile.ZipFile) -> None:
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    assert "eagle-id = screening_eagle_id._cli:main" in wheel.read(entry_points).decode()
