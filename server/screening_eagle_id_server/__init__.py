"""Reference server for Screening Eagle ID's token endpoint (Starlette + uvicorn).

`create_app(Settings(...))` builds the ASGI app; `main(argv)` is the command line
(`python -m screening_eagle_id_server`, `eagle-id serve`); `serve_in_thread(app)` runs it
inside your own tests.

Names are imported on first use: the package (and its command line, which says so in one line)
loads without the `server` extra; only what needs Starlette or uvicorn requires it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._app import create_app
    from ._cli import main
    from ._embedded import serve_in_thread
    from ._endpoints import TOKEN_PATH
    from ._limits import ConnectionLimits
    from ._registry import (
        DEMO_CLIENT_ID,
        DEMO_CLIENT_SECRET,
        RegisteredClient,
        Registry,
        RegistryError,
    )
    from ._settings import Settings
    from ._testing import EagleIdServer

__all__ = [
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

_MODULES = {
    "DEMO_CLIENT_ID": "_registry",
    "DEMO_CLIENT_SECRET": "_registry",
    "TOKEN_PATH": "_endpoints",
    "ConnectionLimits": "_limits",
    "EagleIdServer": "_testing",
    "RegisteredClient": "_registry",
    "Registry": "_registry",
    "RegistryError": "_registry",
    "Settings": "_settings",
    "create_app": "_app",
    "main": "_cli",
    "serve_in_thread": "_embedded",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
