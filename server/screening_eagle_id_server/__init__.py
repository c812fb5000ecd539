"""Reference server for Screening Eagle ID's token endpoint (Starlette + uvicorn).

`create_app(Settings(...))` builds the ASGI app; `main(argv)` is the command line
(`python -m screening_eagle_id_server`, `eagle-id serve`); `serve_in_thread(app)` runs it
inside your own tests.
"""

from ._app import create_app
from ._cli import main
from ._embedded import serve_in_thread
from ._endpoints import TOKEN_PATH
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
    "EagleIdServer",
    "RegisteredClient",
    "Registry",
    "RegistryError",
    "Settings",
    "create_app",
    "main",
    "serve_in_thread",
]
