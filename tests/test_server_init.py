"""The public surface of screening_eagle_id_server."""

from __future__ import annotations

import importlib
import pkgutil

import screening_eagle_id_server


def test_exported_names() -> None:
    assert screening_eagle_id_server.__all__ == [
        "DEMO_CLIENT_ID",
        "DEMO_CLIENT_SECRET",
        "TOKEN_PATH",
        "ConnectionLimits",
        "EagleIdServer",
        "RegisteredClient",
        "Registry",
        "RegistryError",
        "Settings",
        "create_app",
        "main",
        "serve_in_thread",
    ]
    # Sorted as ruff's RUF022 sorts it: constants, then classes, then functions.
    names = screening_eagle_id_server.__all__
    assert names == sorted(names, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    for name in screening_eagle_id_server.__all__:
        assert hasattr(screening_eagle_id_server, name)


def test_demo_constants() -> None:
    assert screening_eagle_id_server.DEMO_CLIENT_ID == "demo-client"
    assert screening_eagle_id_server.DEMO_CLIENT_SECRET == "demo-secret"
    assert screening_eagle_id_server.TOKEN_PATH == "/api/id/v1/auth/token"


def test_every_private_module_declares_all() -> None:
    for info in pkgutil.iter_modules(screening_eagle_id_server.__path__):
        if info.name == "__main__":
            continue
        module = importlib.import_module(f"screening_eagle_id_server.{info.name}")
        assert isinstance(module.__all__, list), info.name
        for name in module.__all__:
            assert hasattr(module, name), (info.name, name)
