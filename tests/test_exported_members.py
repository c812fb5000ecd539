"""The public surface: one sorted `__all__`, every private module with its own `__all__`."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import types

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
    public = {
        name
        for name, value in vars(screening_eagle_id).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    # Integrations with optional dependencies are imported on first use (module __getattr__).
    lazy = set(screening_eagle_id._OPTIONAL)
    assert public - lazy == set(screening_eagle_id.__all__) - lazy
    assert lazy <= set(screening_eagle_id.__all__)


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
