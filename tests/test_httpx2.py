"""httpx2: the same cases with httpx and with httpx2 clients, sync and async, on real sockets.

BearerAuth in `Client(auth=...)`, and a caller's client as `http_client=` of the token
clients; against the reference server and a real resource server that answers 401 once.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import Iterator
from types import ModuleType

import httpx
import httpx2
import pytest
from live_server import LiveServer
from readme_snippets import run_snippet
from resource_server import start_resource_server
from screening_eagle_id import (
    AsyncTokenClient,
    BearerAuth,
    ClientCredentials,
    ConfigurationError,
    RetryPolicy,
    TokenClient,
    TokenTransportError,
)

LIBS = [pytest.param(httpx, id="httpx"), pytest.param(httpx2, id="httpx2")]


@pytest.fixture(params=LIBS)
def lib(request: pytest.FixtureRequest) -> ModuleType:
    module: ModuleType = request.param
    return module


@pytest.fixture
def creds(reference_server: LiveServer) -> ClientCredentials:
    return ClientCredentials(reference_server.client_id, reference_server.client_secret)


@pytest.fixture
def tokens(reference_server: LiveServer, creds: ClientCredentials) -> Iterator[TokenClient]:
    with TokenClient(reference_server.url, creds, scope="inspect") as client:
        yield client


# --- BearerAuth ---------------------------------------------------------------------------


def test_bearer_auth_is_accepted_and_sends_the_token(lib: ModuleType, tokens: TokenClient) -> None:
    with start_resource_server() as api, lib.Client(auth=BearerAuth(tokens)) as client:
        assert client.get(api.url + "/a").status_code == 200
        assert client.get(api.url + "/b").status_code == 200
    expected = f"Bearer {tokens.get_token().access_token}"
    assert [auth for auth, _ in api.seen] == [expected, expected]


def test_bearer_auth_retries_once_after_a_401(
    lib: ModuleType, tokens: TokenClient, reference_server: LiveServer
) -> None:
    with start_resource_server(reject_first=1) as api, lib.Client(auth=BearerAuth(tokens)) as c:
        rejected = tokens.get_token()
        before = reference_server.token_requests()
        response = c.post(api.url + "/things", json={"n": 1})
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert api.seen[0] == (f"Bearer {rejected.access_token}", b'{"n":1}')
    assert api.seen[1] == (f"Bearer {tokens.get_token().access_token}", b'{"n":1}')
    assert rejected != tokens.get_token()
    assert reference_server.token_requests() - before == 1


def test_bearer_auth_gives_up_after_one_retry(lib: ModuleType, tokens: TokenClient) -> None:
    with start_resource_server(reject_first=10) as api, lib.Client(auth=BearerAuth(tokens)) as c:
        assert c.get(api.url + "/things").status_code == 401
    assert len(api.seen) == 2


def test_bearer_auth_does_not_resend_a_one_shot_body(lib: ModuleType, tokens: TokenClient) -> None:
    def body() -> Iterator[bytes]:
        yield b"once"

    with start_resource_server(reject_first=1) as api, lib.Client(auth=BearerAuth(tokens)) as c:
        response = c.post(api.url + "/things", content=body())
    assert response.status_code == 401
    assert len(api.seen) == 1


def test_bearer_auth_async(
    lib: ModuleType, reference_server: LiveServer, creds: ClientCredentials
) -> None:
    async def main(url: str) -> tuple[int, list[int], str]:
        async with (
            AsyncTokenClient(reference_server.url, creds, scope="inspect") as tokens,
            lib.AsyncClient(auth=BearerAuth(tokens)) as client,
        ):
            response = await client.post(url + "/things", json={"n": 2})
            token = await tokens.get_token()
        return response.status_code, [r.status_code for r in response.history], token.access_token

    with start_resource_server(reject_first=1) as api:
        status, history, current = asyncio.run(main(api.url))
    assert (status, history) == (200, [401])
    assert api.seen[-1] == (f"Bearer {current}", b'{"n":2}')


def test_bearer_auth_of_the_wrong_kind_is_refused(lib: ModuleType, tokens: TokenClient) -> None:
    async def main() -> None:
        async with lib.AsyncClient(auth=BearerAuth(tokens)) as client:
            await client.get("http://127.0.0.1:9/")

    with pytest.raises(TypeError, match=r"needs an httpx\.Client"):
        asyncio.run(main())


# --- http_client= -------------------------------------------------------------------------


def test_http_client_carries_the_token_request(
    lib: ModuleType, reference_server: LiveServer, creds: ClientCredentials
) -> None:
    seen: list[str] = []
    hooks = {"request": [lambda request: seen.append(str(request.url))]}
    with lib.Client(event_hooks=hooks) as http:
        with TokenClient(reference_server.url, creds, scope="inspect", http_client=http) as tokens:
            token = tokens.get_token()
        assert not http.is_closed  # ours to close, not the token client's
        assert "authorization" not in http.headers
    assert token.scope == {"inspect"}
    assert seen == [reference_server.token_url]


def test_async_http_client_carries_the_token_request(
    lib: ModuleType, reference_server: LiveServer, creds: ClientCredentials
) -> None:
    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(str(request.url))

    async def main() -> frozenset[str]:
        async with lib.AsyncClient(event_hooks={"request": [hook]}) as http:
            async with AsyncTokenClient(
                reference_server.url, creds, scope="inspect", http_client=http
            ) as tokens:
                token = await tokens.get_token()
            assert not http.is_closed
        return token.scope

    assert asyncio.run(main()) == {"inspect"}
    assert seen == [reference_server.token_url]


def test_http_client_errors_are_token_errors_without_the_secret(
    lib: ModuleType, creds: ClientCredentials
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nobody listens there
    with (
        lib.Client() as http,
        TokenClient(
            f"http://127.0.0.1:{port}",
            creds,
            scope="inspect",
            http_client=http,
            retry=RetryPolicy(attempts=1),
        ) as tokens,
        pytest.raises(TokenTransportError) as caught,
    ):
        tokens.get_token()
    assert caught.value.retryable
    assert "ConnectError" in str(caught.value)
    chain: BaseException | None = caught.value
    while chain is not None:
        assert creds.client_secret not in repr(chain.args)
        assert chain.__traceback__ is None or chain is caught.value
        chain = chain.__cause__ or chain.__context__


def test_http_client_of_the_wrong_kind_is_a_clear_error(
    lib: ModuleType, reference_server: LiveServer, creds: ClientCredentials
) -> None:
    url = reference_server.url
    with pytest.raises(ConfigurationError, match=r"takes an httpx\.Client or httpx2\.Client"):
        TokenClient(url, creds, scope="inspect", http_client=lib.AsyncClient())
    with pytest.raises(ConfigurationError, match=r"httpx\.AsyncClient or httpx2\.AsyncClient"):
        AsyncTokenClient(url, creds, scope="inspect", http_client=lib.Client())


def test_httpx_users_never_import_httpx2() -> None:
    code = (
        "import sys, httpx, screening_eagle_id as s\n"
        "auth = s.BearerAuth(s.TokenClient('https://id.example.com', "
        "s.ClientCredentials('a', 'b'), scope='x'))\n"
        "assert type(auth) is s.BearerAuth, type(auth).__mro__\n"
        "httpx.Client(auth=auth).close()\n"
        "print('httpx2' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_an_application_that_aliases_httpx_to_httpx2() -> None:
    """`httpx2.alias_httpx()` makes `import httpx` give httpx2: everything is httpx2 then."""
    code = (
        "import httpx2; httpx2.alias_httpx()\n"
        "import httpx, screening_eagle_id as s\n"
        "assert httpx is httpx2\n"
        "tokens = s.TokenClient('https://id.example.com', s.ClientCredentials('a', 'b'), "
        "scope='x', http_client=httpx2.Client())\n"
        "httpx2.Client(auth=s.BearerAuth(tokens)).close()\n"
        "print(type(s.BearerAuth(tokens)) is s.BearerAuth)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_the_readme_snippet_runs(reference_server: LiveServer, creds: ClientCredentials) -> None:
    with start_resource_server(reject_first=1) as api:
        run_snippet("httpx2", url=reference_server.url, creds=creds, api_url=api.url)
    assert len(api.seen) == 2  # the snippet's request, and its retry after the 401


def test_one_client_for_the_api_and_the_token_requests(
    lib: ModuleType, reference_server: LiveServer, creds: ClientCredentials
) -> None:
    """The caller's client may carry a BearerAuth of the very token client it serves: the token
    requests bypass its auth (no recursion) and redirects, and never get its bearer header."""
    seen: list[str | None] = []
    hooks = {"request": [lambda request: seen.append(request.headers.get("authorization"))]}
    with (
        start_resource_server() as api,
        lib.Client(event_hooks=hooks) as http,
        TokenClient(reference_server.url, creds, scope="inspect", http_client=http) as tokens,
    ):
        http.auth = BearerAuth(tokens)
        assert http.get(api.url + "/things").status_code == 200
    token_request, api_request = seen
    assert token_request is not None
    assert token_request.startswith("Basic ")
    assert api_request == f"Bearer {tokens.get_token().access_token}"
