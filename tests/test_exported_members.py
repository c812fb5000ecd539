"""The public surface: one sorted `__all__`, every private module with its own `__all__`."""

from __future__ import annotations

import importlib
import pkgutil
import re
import subprocess
import sys
import types

import pytest
import screening_eagle_id


def _isort_key(name: str) -> tuple[int, str]:
    # The order ruff's RUF022 keeps: CONSTANTS, then Classes, then functions.
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return kind, name


def test_all_is_sorted_and_unique() -> None:
    names = screening_eagle_id.__all__
    assert names == sorted(names, key=_isort_key)
    assert len(set(names)) == len(names)


def test_all_imports_are_exported() -> None:
    for name in screening_eagle_id.__all__:  # names load on first use (PEP 562)
        getattr(screening_eagle_id, name)
    public = {
        name
        for name, value in vars(screening_eagle_id).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(screening_eagle_id.__all__)
    assert set(screening_eagle_id.__all__) <= set(dir(screening_eagle_id))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        screening_eagle_id.Nope  # noqa: B018


def test_importing_the_package_loads_no_dependency() -> None:
    """`import screening_eagle_id` stays light: names load on first use (PEP 562)."""
    code = (
        "import sys, screening_eagle_id\n"
        "heavy = {'httpx', 'attrs', 'screening_eagle_id_client', 'screening_eagle_id._client'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_the_version_has_one_source() -> None:
    from importlib.metadata import version

    assert screening_eagle_id.__version__ == version("screening-eagle-id")
    assert re.fullmatch(r"\d+\.\d+\.\d+", screening_eagle_id.__version__)


def test_optional_integrations_are_not_imported_eagerly() -> None:
    code = (
        "import sys, screening_eagle_id; "
        "print(sorted(m for m in ('requests', 'httpx2', 'opentelemetry') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_exported_names_belong_to_the_package() -> None:
    for name in screening_eagle_id.__all__:
        value = getattr(screening_eagle_id, name)
        module = getattr(value, "__module__", None)
        if module is not None and not isinstance(value, int | float | tuple):
            assert module.startswith("screening_eagle_id."), name


def test_the_documented_api_is_exported() -> None:
    documented = {
        "AsyncTokenClient",
        "BearerAuth",
        "ClientCredentials",
        "Token",
        "TokenClient",
        "TokenError",
        "TokenCache",
        "MemoryCache",
        "FileCache",
        "RedisCache",
        "AsyncRedisCache",
    }
    assert documented <= set(screening_eagle_id.__all__)


def test_private_modules_declare_all() -> None:
    for info in pkgutil.iter_modules(screening_eagle_id.__path__):
        assert info.name.startswith("_"), f"public module {info.name}: keep modules private"
        module = importlib.import_module(f"screening_eagle_id.{info.name}")
        exported = getattr(module, "__all__", None)
        assert exported is not None, f"{info.name} has no __all__"
        for name in exported:
            assert hasattr(module, name), f"{info.name}.__all__ names missing {name}"
