"""pytest fixtures to test your own service against Screening Eagle ID without the network.

Registered through the `pytest11` entry point, so pytest loads it wherever the package is
installed. It lives in the client package, not in `screening_eagle_id_server`, whose
`__init__` imports Starlette and uvicorn: loading this module imports neither (nor the
client's own modules), so it costs every pytest run next to nothing. The server, from
`screening_eagle_id_server` (`EagleIdServer`), is imported when a fixture is first used; where
the `server` extra is missing, that fails with a message saying what to install.

* `eagle_id_server` (session): a running `EagleIdServer` on a free 127.0.0.1 port; extend
  its registry with `eagle_id_server.add_client(...)`.
* `eagle_id_credentials` (session): the credentials of its default client.
* `eagle_id_scope`: the scope the token clients ask for, "openid"; override it in your
  conftest.py.
* `eagle_id_token_client`, `eagle_id_async_token_client`: a `TokenClient` /
  `AsyncTokenClient` for those, closed after the test (the async one needs an async test
  plugin: anyio, or pytest-asyncio in auto mode).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from screening_eagle_id_server import EagleIdServer

    from ._client import AsyncTokenClient, TokenClient
    from ._credentials import ClientCredentials

__all__ = [
    "eagle_id_async_token_client",
    "eagle_id_credentials",
    "eagle_id_scope",
    "eagle_id_server",
    "eagle_id_token_client",
]

_MISSING_EXTRA = (
    "the eagle_id_* fixtures run the reference server, which needs the 'server' extra: "
    "pip install 'screening-eagle-id[server]'"
)


@pytest.fixture(scope="session")
def eagle_id_server() -> Iterator[EagleIdServer]:
    """The reference server, running for the whole session on a free 127.0.0.1 port."""
    try:
        from screening_eagle_id_server import EagleIdServer
    except ImportError as exc:
        missing = f"{_MISSING_EXTRA} ({exc})"
    else:
        missing = ""
    if missing:
        pytest.fail(missing, pytrace=False)
    with EagleIdServer().running() as server:
        yield server


@pytest.fixture(scope="session")
def eagle_id_credentials(eagle_id_server: EagleIdServer) -> ClientCredentials:
    """The credentials of the server's default client."""
    return eagle_id_server.credentials


@pytest.fixture
def eagle_id_scope() -> str:
    """The scope `eagle_id_token_client` asks for; override to ask for others."""
    return "openid"


@pytest.fixture
def eagle_id_token_client(
    eagle_id_server: EagleIdServer, eagle_id_credentials: ClientCredentials, eagle_id_scope: str
) -> Iterator[TokenClient]:
    """A `TokenClient` for `eagle_id_credentials` at `eagle_id_server`."""
    from ._client import TokenClient

    with TokenClient(eagle_id_server.url, eagle_id_credentials, scope=eagle_id_scope) as client:
        yield client


@pytest.fixture
async def eagle_id_async_token_client(
    eagle_id_server: EagleIdServer, eagle_id_credentials: ClientCredentials, eagle_id_scope: str
) -> AsyncIterator[AsyncTokenClient]:
    """An `AsyncTokenClient` for `eagle_id_credentials` at `eagle_id_server`."""
    from ._client import AsyncTokenClient

    async with AsyncTokenClient(
        eagle_id_server.url, eagle_id_credentials, scope=eagle_id_scope
    ) as client:
        yield client
