"""BearerAuth: the flow generator driven by hand, then inside httpx clients."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from live_server import LiveServer
from screening_eagle_id import AsyncTokenClient, BearerAuth, ClientCredentials, Token, TokenClient
from screening_eagle_id._auth import _NeedToken

URL = "https://id.example.com"
API = "https://api.example.com/things"
CREDS = ClientCredentials("client-1", "secret-1")


def token(value: str) -> Token:
    now = datetime.now(tz=UTC)
    return Token(
        access_token=value, token_type="Bearer", scope=frozenset(), issued_at=now, expires_at=now
    )


class Issuer:
    """A MockTransport token endpoint issuing t1, t2, ..."""

    def __init__(self) -> None:
        self.issued = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.issued += 1
        body = {"access_token": f"t{self.issued}", "token_type": "Bearer", "expires_in": 3600}
        return httpx.Response(200, json=body)

    async def handle_async(self, request: httpx.Request) -> httpx.Response:
        return self(request)


def token_client(issuer: Issuer) -> TokenClient:
    http = httpx.Client(transport=httpx.MockTransport(issuer))
    return TokenClient(URL, CREDS, scope="openid", http_client=http)


class ResourceServer:
    """A MockTransport API accepting only the bearer tokens in `valid`."""

    def __init__(self, *valid: str) -> None:
        self.valid = set(valid)
        self.seen: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("authorization", "")
        self.seen.append(auth)
        if auth.removeprefix("Bearer ") in self.valid:
            return httpx.Response(200, json={"ok": True})
        return httpx.Response(401, headers={"www-authenticate": 'Bearer error="invalid_token"'})

    async def handle_async(self, request: httpx.Request) -> httpx.Response:
        return self(request)


@pytest.fixture
def auth() -> Iterator[BearerAuth]:
    with token_client(Issuer()) as tokens:
        yield BearerAuth(tokens)


# --- the generator by hand -------------------------------------------------------------


def test_flow_asks_for_a_token_then_sends_the_request(auth: BearerAuth) -> None:
    request = httpx.Request("GET", API)
    flow = auth.flow(request)
    assert next(flow) == _NeedToken(rejected=None)
    assert flow.send(token("a")) is request
    assert request.headers["authorization"] == "Bearer a"
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(200))


def test_flow_on_401_asks_once_for_a_new_token_and_retries_once(auth: BearerAuth) -> None:
    request = httpx.Request("POST", API, json={"x": 1})
    flow = auth.flow(request)
    next(flow)
    rejected = token("a")
    flow.send(rejected)
    assert flow.send(httpx.Response(401)) == _NeedToken(rejected=rejected)
    assert flow.send(token("b")) is request
    assert request.headers["authorization"] == "Bearer b"
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(401))  # a second 401 is returned, not retried again


def test_flow_does_not_retry_with_the_same_token(auth: BearerAuth) -> None:
    flow = auth.flow(httpx.Request("GET", API))
    next(flow)
    flow.send(token("a"))
    flow.send(httpx.Response(401))
    with pytest.raises(StopIteration):
        flow.send(token("a"))


def test_flow_does_not_retry_a_one_shot_body(auth: BearerAuth) -> None:
    def body() -> Iterator[bytes]:
        yield b"chunk"

    flow = auth.flow(httpx.Request("POST", API, content=body()))
    next(flow)
    flow.send(token("a"))
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(401))


@pytest.mark.parametrize("status", [200, 403, 404, 500])
def test_flow_ends_on_anything_but_401(auth: BearerAuth, status: int) -> None:
    flow = auth.flow(httpx.Request("GET", API))
    next(flow)
    flow.send(token("a"))
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(status))


def test_sync_driver_by_hand_invalidates_and_refetches() -> None:
    issuer = Issuer()
    with token_client(issuer) as tokens:
        auth = BearerAuth(tokens)
        request = httpx.Request("GET", API)
        flow = auth.sync_auth_flow(request)
        assert next(flow).headers["authorization"] == "Bearer t1"
        assert flow.send(httpx.Response(401)).headers["authorization"] == "Bearer t2"
        with pytest.raises(StopIteration):
            flow.send(httpx.Response(200))
        assert issuer.issued == 2
        assert tokens.get_token().access_token == "t2"


def test_a_stale_401_does_not_invalidate_a_newer_token() -> None:
    """Two requests sent with t1 both get 401: only the first invalidates; the second
    retries with the t2 the first fetched. Two tokens issued, not three."""
    issuer = Issuer()
    with token_client(issuer) as tokens:
        auth = BearerAuth(tokens)
        first = auth.sync_auth_flow(httpx.Request("GET", API))
        second = auth.sync_auth_flow(httpx.Request("GET", API))
        assert next(first).headers["authorization"] == "Bearer t1"
        assert next(second).headers["authorization"] == "Bearer t1"
        assert first.send(httpx.Response(401)).headers["authorization"] == "Bearer t2"
        assert second.send(httpx.Response(401)).headers["authorization"] == "Bearer t2"
        assert issuer.issued == 2


# --- inside httpx clients ----------------------------------------------------------------


def test_httpx_client_sends_the_bearer_token() -> None:
    issuer, api = Issuer(), ResourceServer("t1")
    with (
        token_client(issuer) as tokens,
        httpx.Client(auth=BearerAuth(tokens), transport=httpx.MockTransport(api)) as client,
    ):
        assert client.get(API).status_code == 200
        assert client.get(API).status_code == 200
    assert api.seen == ["Bearer t1", "Bearer t1"]
    assert issuer.issued == 1


def test_httpx_client_recovers_from_a_revoked_token() -> None:
    issuer, api = Issuer(), ResourceServer("t2")
    with (
        token_client(issuer) as tokens,
        httpx.Client(auth=BearerAuth(tokens), transport=httpx.MockTransport(api)) as client,
    ):
        response = client.post(API, json={"a": 1})
    assert response.status_code == 200
    assert api.seen == ["Bearer t1", "Bearer t2"]
    assert [r.status_code for r in response.history] == [401]


def test_httpx_client_gives_up_after_one_retry() -> None:
    issuer, api = Issuer(), ResourceServer()
    with (
        token_client(issuer) as tokens,
        httpx.Client(auth=BearerAuth(tokens), transport=httpx.MockTransport(api)) as client,
    ):
        assert client.get(API).status_code == 401
    assert api.seen == ["Bearer t1", "Bearer t2"]
    assert issuer.issued == 2


def test_async_client_with_async_tokens() -> None:
    issuer, api = Issuer(), ResourceServer("t2")

    async def main() -> tuple[int, int]:
        async with httpx.AsyncClient(
            transport=httpx.MockTransport(issuer.handle_async)
        ) as token_http:
            tokens = AsyncTokenClient(URL, CREDS, scope="openid", http_client=token_http)
            async with httpx.AsyncClient(
                auth=BearerAuth(tokens), transport=httpx.MockTransport(api.handle_async)
            ) as client:
                first = await client.get(API)
                second = await client.get(API)
                return first.status_code, second.status_code

    assert asyncio.run(main()) == (200, 200)
    assert api.seen == ["Bearer t1", "Bearer t2", "Bearer t2"]
    assert issuer.issued == 2


def test_mismatched_client_kinds_are_refused() -> None:
    with token_client(Issuer()) as tokens, httpx.Client() as sync_http:
        sync_auth = BearerAuth(tokens)

        async def main() -> None:
            async with httpx.AsyncClient(
                auth=sync_auth, transport=httpx.MockTransport(ResourceServer().handle_async)
            ) as client:
                await client.get(API)

        with pytest.raises(TypeError, match=r"a TokenClient needs an httpx\.Client"):
            asyncio.run(main())
        async_tokens = AsyncTokenClient(URL, CREDS, scope="openid")
        with pytest.raises(TypeError, match="AsyncClient"):
            sync_http.get(API, auth=BearerAuth(async_tokens))


def test_against_the_reference_server(reference_server: LiveServer) -> None:
    creds = ClientCredentials(reference_server.client_id, reference_server.client_secret)
    api = ResourceServer()
    with TokenClient(reference_server.url, creds, scope="inspect") as tokens:
        api.valid.add(tokens.get_token().access_token)
        with httpx.Client(auth=BearerAuth(tokens), transport=httpx.MockTransport(api)) as client:
            assert client.get(API).status_code == 200
    assert api.seen[0].startswith("Bearer eyJ")
    assert "secret" not in repr(BearerAuth(tokens))
