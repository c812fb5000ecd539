"""TokenClient / AsyncTokenClient: the real reference server for happy paths, single flight and
errors; httpx.MockTransport for faults a real server does not produce; an injected clock for
expiry (nothing here sleeps)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from live_server import LiveServer, start_server
from screening_eagle_id import (
    AccessDeniedError,
    AsyncTokenClient,
    ClientCredentials,
    ConfigurationError,
    EndpointNotFoundError,
    InsecureTransportError,
    InvalidClientError,
    InvalidRequestError,
    MemoryCache,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    Token,
    TokenClient,
    TokenError,
    TokenTransportError,
    cache_key,
)
from screening_eagle_id._entry import binding_key
from screening_eagle_id_client.api.auth import generate_auth_access_token
from screening_eagle_id_server import Registry, Settings

URL = "https://id.example.com"
TOKEN_URL = URL + "/api/id/v1/auth/token"
SECRET = "SENTINEL-SECRET-d41d8c"
CREDS = ClientCredentials("client-1", SECRET)


class FakeClock:
    """Monotonic and wall clocks that move only when told to."""

    def __init__(self) -> None:
        self.mono = 1000.0
        self.wall = 1_800_000_000.0

    def monotonic(self) -> float:
        return self.mono

    def time(self) -> float:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


ISSUE = None  # an Endpoint reply: issue the next token ("t1", "t2", ...)


class Endpoint:
    """A scripted token endpoint for MockTransport: each request pops the next reply; once
    they run out, every request is issued a new token."""

    def __init__(self, *replies: httpx.Response | Exception | None, lifetime: int = 1000) -> None:
        self.replies = list(replies)
        self.lifetime = lifetime
        self.requests: list[httpx.Request] = []
        self.issued = 0

    def token(self) -> httpx.Response:
        self.issued += 1
        body = {"access_token": f"t{self.issued}", "token_type": "Bearer"}
        return httpx.Response(200, json={**body, "expires_in": self.lifetime, "scope": "openid"})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if self.replies else ISSUE
        if isinstance(reply, Exception):
            raise reply
        return self.token() if reply is None else reply


def mock_client(
    endpoint: Endpoint,
    *,
    clock: FakeClock | None = None,
    sleeps: list[float] | None = None,
    retry: RetryPolicy | None = None,
    random: Callable[[], float] = lambda: 0.0,
    **kwargs: Any,
) -> TokenClient:
    recorded = sleeps if sleeps is not None else []

    def sleep(seconds: float) -> None:
        recorded.append(seconds)
        if clock is not None:
            clock.advance(seconds)

    return TokenClient(
        URL,
        CREDS,
        scope="openid",
        http_client=httpx.Client(transport=httpx.MockTransport(endpoint)),
        clock=clock or FakeClock(),
        sleep=sleep,
        retry=retry,
        random=random,
        **kwargs,
    )


def html(status: int) -> httpx.Response:
    return httpx.Response(status, text="<html>oops</html>", headers={"content-type": "text/html"})


def creds_of(server: LiveServer) -> ClientCredentials:
    return ClientCredentials(server.client_id, server.client_secret)


# --- the real server: happy paths ---------------------------------------------------------


def test_gets_a_verifiable_token_from_the_reference_server(reference_server: LiveServer) -> None:
    with TokenClient(reference_server.url, creds_of(reference_server), scope="openid email") as tc:
        token = tc.get_token()
    assert token.token_type == "Bearer"
    assert token.scope == {"openid", "email"}
    claims = jwt.decode(
        token.access_token,
        reference_server.signing_key,
        algorithms=["HS256"],
        audience=reference_server.client_id,
    )
    assert claims["scp"] == "openid email"
    assert token.claims() == claims
    # Wall-clock times anchored before sending: issued_at is not after the server's iat.
    assert token.issued_at.timestamp() <= claims["iat"] + 1
    assert token.lifetime == claims["exp"] - claims["iat"]
    assert token.id_token is not None


def test_second_call_is_served_from_cache(reference_server: LiveServer) -> None:
    with TokenClient(reference_server.url, creds_of(reference_server), scope="inspect") as tc:
        before = reference_server.token_requests()
        first = tc.get_token()
        assert tc.get_token() is first
        assert reference_server.token_requests() == before + 1
        fresh = tc.fetch_token()
        assert reference_server.token_requests() == before + 2
        assert fresh.access_token != first.access_token
        assert tc.get_token() is fresh


def test_async_client_gets_and_caches_a_token(reference_server: LiveServer) -> None:
    async def main() -> tuple[Token, Token, Token]:
        async with AsyncTokenClient(
            reference_server.url, creds_of(reference_server), scope="openid profile"
        ) as tc:
            first = await tc.get_token()
            return first, await tc.get_token(), await tc.fetch_token()

    before = reference_server.token_requests()
    first, second, third = asyncio.run(main())
    assert second is first
    assert third.access_token != first.access_token
    assert first.scope == {"openid", "profile"}
    assert reference_server.token_requests() == before + 2


def test_every_request_goes_through_the_generated_operation(
    reference_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The generated operation builds every request and parses every response; the overlay
    # only sends it and reads the body (bounded).
    calls: list[str] = []
    build, parse = (
        generate_auth_access_token._get_kwargs,
        generate_auth_access_token._build_response,
    )

    def spy_build(**kwargs: Any) -> Any:
        calls.append("build")
        return build(**kwargs)

    def spy_parse(**kwargs: Any) -> Any:
        calls.append("parse")
        return parse(**kwargs)

    monkeypatch.setattr(generate_auth_access_token, "_get_kwargs", spy_build)
    monkeypatch.setattr(generate_auth_access_token, "_build_response", spy_parse)
    before = reference_server.token_requests()
    with TokenClient(reference_server.url, creds_of(reference_server), scope="email") as tc:
        tc.fetch_token()
        tc.fetch_token()

    async def main() -> None:
        async with AsyncTokenClient(
            reference_server.url, creds_of(reference_server), scope="email"
        ) as atc:
            await atc.fetch_token()

    asyncio.run(main())
    assert calls == ["build", "parse"] * 3
    assert reference_server.token_requests() == before + 3


def test_caller_owned_http_client_carries_the_request_but_never_the_secret(
    reference_server: LiveServer,
) -> None:
    seen: list[httpx.Request] = []
    with httpx.Client(event_hooks={"request": [seen.append]}) as http:
        headers_before = dict(http.headers)
        tc = TokenClient(
            reference_server.url, creds_of(reference_server), scope="openid", http_client=http
        )
        token = tc.get_token()
        tc.close()
        assert not http.is_closed  # the caller owns it
        assert dict(http.headers) == headers_before  # no Authorization left behind
        assert token.access_token
    assert [r.url.path for r in seen] == ["/api/id/v1/auth/token"]
    assert seen[0].headers["authorization"].startswith("Basic ")


def test_caller_owned_async_http_client(reference_server: LiveServer) -> None:
    async def main() -> Token:
        async with httpx.AsyncClient() as http:
            tc = AsyncTokenClient(
                reference_server.url, creds_of(reference_server), scope="openid", http_client=http
            )
            token = await tc.get_token()
            await tc.aclose()
            assert not http.is_closed
            assert "authorization" not in http.headers
            return token

    assert asyncio.run(main()).scope == {"openid"}


# --- the real server: single flight --------------------------------------------------------


def test_single_flight_1000_threads_one_request(reference_server: LiveServer) -> None:
    tc = TokenClient(reference_server.url, creds_of(reference_server), scope="openid inspect")
    barrier = threading.Barrier(1000)
    results: list[Token] = []

    def worker() -> None:
        barrier.wait()
        results.append(tc.get_token())

    before = reference_server.token_requests()
    threads = [threading.Thread(target=worker) for _ in range(1000)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tc.close()
    assert reference_server.token_requests() - before == 1
    assert len(results) == 1000
    assert len({id(t) for t in results}) == 1


def test_single_flight_1000_tasks_one_request(reference_server: LiveServer) -> None:
    async def main() -> list[Token]:
        async with AsyncTokenClient(
            reference_server.url, creds_of(reference_server), scope="openid email inspect"
        ) as tc:
            return await asyncio.gather(*(tc.get_token() for _ in range(1000)))

    before = reference_server.token_requests()
    results = asyncio.run(main())
    assert reference_server.token_requests() - before == 1
    assert len({id(t) for t in results}) == 1


def test_clients_sharing_a_cache_fetch_once(reference_server: LiveServer) -> None:
    cache = MemoryCache()
    clients = [
        TokenClient(reference_server.url, creds_of(reference_server), scope="profile", cache=cache)
        for _ in range(4)
    ]
    before = reference_server.token_requests()
    tokens = {tc.get_token().access_token for tc in clients}
    for tc in clients:
        tc.close()
    assert len(tokens) == 1
    assert reference_server.token_requests() - before == 1


# --- the real server: errors ----------------------------------------------------------------


def test_wrong_secret_is_invalid_client_and_not_retried(reference_server: LiveServer) -> None:
    sleeps: list[float] = []
    tc = TokenClient(
        reference_server.url,
        ClientCredentials(reference_server.client_id, SECRET),
        scope="openid",
        sleep=sleeps.append,
    )
    before = reference_server.token_requests()
    with tc, pytest.raises(InvalidClientError) as info:
        tc.get_token()
    err = info.value
    assert (err.status_code, err.error, err.retryable) == (401, "invalid_client", False)
    assert err.error_description  # read from the server's camelCase errorDescription
    assert reference_server.token_requests() - before == 1
    assert sleeps == []
    assert SECRET not in str(err) + repr(err)


def test_scope_not_allowed_is_access_denied(reference_server: LiveServer) -> None:
    tc = TokenClient(reference_server.url, creds_of(reference_server), scope="admin")
    with tc, pytest.raises(AccessDeniedError) as info:
        tc.get_token()
    assert info.value.status_code == 403
    assert info.value.error == "access_denied"


def test_malformed_scope_is_invalid_request(reference_server: LiveServer) -> None:
    tc = TokenClient(reference_server.url, creds_of(reference_server), scope='open"id')
    with tc, pytest.raises(InvalidRequestError) as info:
        tc.get_token()
    assert info.value.status_code == 400
    assert info.value.error == "invalid_scope"


def test_wrong_base_path_is_endpoint_not_found(reference_server: LiveServer) -> None:
    tc = TokenClient(reference_server.url + "/nope", creds_of(reference_server), scope="openid")
    with tc, pytest.raises(EndpointNotFoundError) as info:
        tc.get_token()
    assert info.value.status_code == 404
    assert "check the base URL" in str(info.value)
    assert f"from {reference_server.url}/nope/api/id/v1/auth/token" in str(info.value)


def test_async_wrong_secret(reference_server: LiveServer) -> None:
    async def main() -> None:
        async with AsyncTokenClient(
            reference_server.url, ClientCredentials(reference_server.client_id, "x"), scope="openid"
        ) as tc:
            await tc.get_token()

    with pytest.raises(InvalidClientError):
        asyncio.run(main())


def test_connection_refused_is_a_transport_error() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        sleeps: list[float] = []
        tc = TokenClient(f"http://127.0.0.1:{port}", CREDS, scope="openid", sleep=sleeps.append)
        with tc, pytest.raises(TokenTransportError) as info:
            tc.get_token()
    assert info.value.retryable
    assert info.value.status_code is None
    assert len(sleeps) == RetryPolicy().attempts - 1
    assert info.value.__cause__ is None  # the httpx error holds the request and its headers
    assert f"from http://127.0.0.1:{port}/api/id/v1/auth/token: ConnectError" in str(info.value)


# --- client authentication: RFC 6749 §2.3.1 against the real server ----------------------

ODD_ID = "odd client:1"
ODD_SECRET = "p@ss:w/rd +100% é"


@pytest.fixture(scope="module")
def odd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    import hashlib
    import secrets

    path: Path = tmp_path_factory.mktemp("odd") / "clients.toml"
    path.write_text(
        f"""
[[clients]]
client_id = "{ODD_ID}"
secret_sha256 = "{hashlib.sha256(ODD_SECRET.encode()).hexdigest()}"
scopes = ["openid"]
grant_types = ["client_credentials"]

[clients.claims]
sub = "7"
""",
        encoding="utf-8",
    )
    settings = Settings(signing_key=secrets.token_bytes(32), registry=Registry.from_file(path))
    with start_server(settings) as server:
        yield server


def test_basic_form_encodes_reserved_characters(odd_server: LiveServer) -> None:
    with TokenClient(odd_server.url, ClientCredentials(ODD_ID, ODD_SECRET), scope="openid") as tc:
        assert tc.get_token().claims()["aud"] == ODD_ID


def test_basic_raw_does_not_encode(odd_server: LiveServer) -> None:
    tc = TokenClient(
        odd_server.url,
        ClientCredentials(ODD_ID, ODD_SECRET),
        scope="openid",
        client_auth="basic_raw",
    )
    # The server decodes as the RFC says, so the raw "%" and ":" break authentication.
    with tc, pytest.raises(InvalidClientError):
        tc.get_token()


def test_basic_raw_sends_the_credentials_verbatim() -> None:
    endpoint = Endpoint()
    mock_client(endpoint, client_auth="basic_raw").get_token()
    sent = endpoint.requests[0].headers["authorization"].removeprefix("Basic ")
    assert base64.b64decode(sent).decode() == f"client-1:{SECRET}"


# --- URL checks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["http://id.example.com", "http://10.0.0.1:8000", "http://[2001:db8::1]", "http://a.localhost"],
)
def test_plain_http_to_a_remote_host_is_refused_before_sending(url: str) -> None:
    endpoint = Endpoint()
    with pytest.raises(InsecureTransportError, match="allow_insecure_http"):
        TokenClient(
            url,
            CREDS,
            scope="openid",
            http_client=httpx.Client(transport=httpx.MockTransport(endpoint)),
        )
    with pytest.raises(InsecureTransportError):
        AsyncTokenClient(url, CREDS, scope="openid")
    assert endpoint.requests == []


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://localhost", "http://[::1]:9", "http://127.1.2.3"]
)
def test_plain_http_to_loopback_is_allowed(url: str) -> None:
    assert TokenClient(url, CREDS, scope="openid").base_url == url.rstrip("/")


def test_plain_http_can_be_allowed_explicitly() -> None:
    endpoint = Endpoint()
    tc = TokenClient(
        "http://id.example.com",
        CREDS,
        scope="openid",
        allow_insecure_http=True,
        http_client=httpx.Client(transport=httpx.MockTransport(endpoint)),
    )
    assert tc.get_token().access_token == "t1"
    assert str(endpoint.requests[0].url) == "http://id.example.com/api/id/v1/auth/token"


@pytest.mark.parametrize(
    "url",
    ["ftp://id.example.com", "https://user:pw@id.example.com", "https://id.example.com/?a=1", "x"],
)
def test_bad_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError):
        TokenClient(url, CREDS, scope="openid")


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("https://ID.Example.com", "https://id.example.com"),
        ("https://id.example.com:443/", "https://id.example.com"),
        ("https://id.example.com/api/id/v1/auth/token", "https://id.example.com"),
        ("https://id.example.com/api/id/v1/auth/token/", "https://id.example.com"),
        ("https://id.example.com:8443/id/api/id/v1/auth/token", "https://id.example.com:8443/id"),
        ("http://[::1]:8000/api/id/v1/auth/token", "http://[::1]:8000"),
    ],
)
def test_the_url_is_canonical_and_may_be_the_full_token_url(given: str, canonical: str) -> None:
    endpoint = Endpoint()
    tc = TokenClient(
        given,
        CREDS,
        scope="openid",
        http_client=httpx.Client(transport=httpx.MockTransport(endpoint)),
    )
    assert tc.base_url == canonical
    assert tc.url == canonical + "/api/id/v1/auth/token" == tc.base_url + tc.token_path
    assert tc.cache_key == TokenClient(canonical, CREDS, scope="openid").cache_key
    tc.get_token()
    assert str(endpoint.requests[0].url) == tc.url


def test_the_full_token_url_of_a_live_server(reference_server: LiveServer) -> None:
    creds = ClientCredentials(reference_server.client_id, reference_server.client_secret)
    with TokenClient(reference_server.token_url, creds, scope="openid") as tc:
        assert tc.get_token().scope == {"openid"}


def test_empty_scope_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="scope"):
        TokenClient(URL, CREDS, scope="  ")


def test_scope_may_be_an_iterable_and_is_sent_space_separated() -> None:
    endpoint = Endpoint()
    tc = TokenClient(
        URL,
        CREDS,
        scope=["openid", "email openid"],
        http_client=httpx.Client(transport=httpx.MockTransport(endpoint)),
    )
    tc.get_token()
    assert endpoint.requests[0].content == b"grant_type=client_credentials&scope=openid+email"
    assert tc.scope == {"openid", "email"}


# --- faults through MockTransport -----------------------------------------------------------


def test_500_with_html_is_retried_then_succeeds() -> None:
    endpoint = Endpoint(html(500))
    sleeps: list[float] = []
    token = mock_client(endpoint, sleeps=sleeps, random=lambda: 0.5).get_token()
    assert token.access_token == "t1"
    assert len(endpoint.requests) == 2
    assert sleeps == [RetryPolicy().backoff * 0.5]  # full jitter: uniform(0, backoff)


def test_retries_are_bounded_and_back_off_exponentially() -> None:
    endpoint = Endpoint(*[html(503)] * 10)
    sleeps: list[float] = []
    policy = RetryPolicy(attempts=4, backoff=1.0, max_backoff=3.0, total_timeout=100)
    with pytest.raises(ServerError) as info:
        mock_client(endpoint, sleeps=sleeps, retry=policy, random=lambda: 0.999).get_token()
    assert len(endpoint.requests) == 4
    assert sleeps == pytest.approx([0.999, 1.998, 2.997])  # caps 1, 2, then 3 (max_backoff)
    err = info.value
    assert (err.status_code, err.retryable) == (503, True)
    assert "not JSON (text/html" in str(err)


def test_total_retry_time_is_bounded() -> None:
    endpoint = Endpoint(*[html(502)] * 10)
    sleeps: list[float] = []
    clock = FakeClock()
    policy = RetryPolicy(attempts=10, backoff=4.0, max_backoff=4.0, total_timeout=10)
    with pytest.raises(ServerError):
        mock_client(
            endpoint, clock=clock, sleeps=sleeps, retry=policy, random=lambda: 0.999
        ).get_token()
    assert sum(sleeps) <= 10
    assert len(endpoint.requests) == 3  # 0 + 4 + 4 = 8 s; one more wait would pass 10 s


def test_429_retry_after_is_honoured() -> None:
    endpoint = Endpoint(httpx.Response(429, headers={"retry-after": "7"}, text="slow down"))
    sleeps: list[float] = []
    assert mock_client(endpoint, sleeps=sleeps).get_token().access_token == "t1"
    assert sleeps == [7.0]


def test_retry_after_is_capped_and_reported() -> None:
    endpoint = Endpoint(
        *[httpx.Response(429, headers={"retry-after": "3600"}, json={"error": "slow_down"})] * 3
    )
    sleeps: list[float] = []
    policy = RetryPolicy(attempts=3, max_retry_after=5.0)
    with pytest.raises(RateLimitedError) as info:
        mock_client(endpoint, sleeps=sleeps, retry=policy).get_token()
    assert sleeps == [5.0, 5.0]
    assert info.value.retry_after == 3600
    assert info.value.error == "slow_down"
    assert info.value.status_code == 429


def test_retry_after_as_http_date() -> None:
    clock = FakeClock()
    when = datetime.fromtimestamp(clock.wall + 12, tz=UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    endpoint = Endpoint(httpx.Response(503, headers={"retry-after": when}))
    sleeps: list[float] = []
    mock_client(endpoint, clock=clock, sleeps=sleeps).get_token()
    assert sleeps == [12.0]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409])
def test_4xx_is_never_retried(status: int) -> None:
    endpoint = Endpoint(httpx.Response(status, json={"error": "nope"}))
    sleeps: list[float] = []
    with pytest.raises(TokenError) as info:
        mock_client(endpoint, sleeps=sleeps).get_token()
    assert len(endpoint.requests) == 1
    assert sleeps == []
    assert info.value.status_code == status
    assert not info.value.retryable


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.ConnectTimeout("slow"),
        httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
    ],
)
def test_transport_errors_are_retried_and_typed(exc: Exception) -> None:
    endpoint = Endpoint(*[exc] * 10)
    sleeps: list[float] = []
    with pytest.raises(TokenTransportError) as info:
        mock_client(endpoint, sleeps=sleeps, retry=RetryPolicy(attempts=3)).get_token()
    assert len(endpoint.requests) == 3
    assert len(sleeps) == 2
    assert info.value.retryable
    assert info.value.__cause__ is None
    assert type(exc).__name__ in str(info.value)


def test_timeout_then_success() -> None:
    endpoint = Endpoint(httpx.ReadTimeout("slow"))
    assert mock_client(endpoint).get_token().access_token == "t1"
    assert len(endpoint.requests) == 2


@pytest.mark.parametrize(
    ("reply", "detail"),
    [
        (httpx.Response(200, text='{"access_token": "abc", "tok'), "not JSON"),
        (httpx.Response(200, text="<html/>"), "not JSON"),
        (httpx.Response(200, json={"token_type": "Bearer", "expires_in": 5}), "missing access_t"),
        (httpx.Response(200, json=["access_token"]), "not a JSON object"),
        (httpx.Response(200, json="token"), "not a JSON object"),
        (httpx.Response(200, json={"access_token": "a", "token_type": "Bearer"}), "missing expi"),
        (
            httpx.Response(200, json={"access_token": "a", "token_type": "B", "expires_in": "9"}),
            "expires_in is not a positive integer",
        ),
    ],
)
def test_unusable_200_is_a_clear_token_error(reply: httpx.Response, detail: str) -> None:
    endpoint = Endpoint(reply)
    with pytest.raises(TokenError, match=detail) as info:
        mock_client(endpoint).get_token()
    assert type(info.value) is TokenError
    assert info.value.status_code == 200
    assert info.value.error == "invalid_response"
    assert len(endpoint.requests) == 1  # a broken 200 is not retried


@pytest.mark.parametrize(
    ("reply", "cls", "error", "description"),
    [
        (httpx.Response(401, text="denied"), InvalidClientError, None, None),
        (httpx.Response(400, json={"nope": 1}), InvalidRequestError, None, None),
        (
            httpx.Response(403, json={"error": "access_denied", "error_description": "rfc"}),
            AccessDeniedError,
            "access_denied",
            "rfc",
        ),
        (
            httpx.Response(403, json={"error": "Forbidden", "errorDescription": "seed"}),
            AccessDeniedError,
            "Forbidden",
            "seed",
        ),
        (httpx.Response(418, json={"error": "teapot"}), TokenError, "teapot", None),
        (
            httpx.Response(302, headers={"location": "https://elsewhere"}),
            TokenError,
            None,
            None,
        ),
    ],
)
def test_error_bodies_are_read_tolerantly(
    reply: httpx.Response, cls: type[TokenError], error: str | None, description: str | None
) -> None:
    with pytest.raises(cls) as info:
        mock_client(Endpoint(reply)).get_token()
    assert type(info.value) is cls
    assert info.value.error == error
    assert info.value.error_description == description
    assert info.value.status_code == reply.status_code


@pytest.mark.parametrize("status", [500, 502, 503, 504, 520, 599])
def test_5xx_including_unknown_codes_are_server_errors(status: int) -> None:
    endpoint = Endpoint(*[httpx.Response(status, text="")] * 2)
    with pytest.raises(ServerError) as info:
        mock_client(endpoint, retry=RetryPolicy(attempts=2)).get_token()
    assert info.value.status_code == status
    assert len(endpoint.requests) == 2


def test_async_faults_are_mapped_and_retried_the_same_way() -> None:
    replies = [html(500), httpx.Response(429, headers={"retry-after": "2"}), httpx.ReadTimeout("x")]
    endpoint = Endpoint(*replies)
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def handler(request: httpx.Request) -> httpx.Response:
        return endpoint(request)

    async def main() -> Token:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            tc = AsyncTokenClient(
                URL, CREDS, scope="openid", http_client=http, sleep=sleep, random=lambda: 0.0
            )
            return await tc.get_token()

    assert asyncio.run(main()).access_token == "t1"
    assert sleeps == [0.0, 2.0, 0.0]
    assert len(endpoint.requests) == 4


def test_async_unusable_200() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="{truncated")

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            await AsyncTokenClient(URL, CREDS, scope="openid", http_client=http).get_token()

    with pytest.raises(TokenError, match="not JSON"):
        asyncio.run(main())


# --- expiry, refresh-ahead and backoff on an injected clock ---------------------------------
# Lifetime 1000 s, random() == 0.0: refresh-ahead at 750 s, hard expiry at 970 s.


def test_token_is_reused_until_the_refresh_ahead_point() -> None:
    clock, endpoint = FakeClock(), Endpoint()
    tc = mock_client(endpoint, clock=clock)
    assert tc.get_token().access_token == "t1"
    clock.advance(749.9)
    assert tc.get_token().access_token == "t1"
    assert len(endpoint.requests) == 1
    clock.advance(0.1)
    assert tc.get_token().access_token == "t2"  # the caller past the point refreshes
    assert len(endpoint.requests) == 2


def test_refresh_ahead_point_is_jittered_between_75_and_90_percent() -> None:
    for rand, due in [(0.0, 750.0), (0.5, 825.0), (1.0, 900.0)]:
        clock, endpoint = FakeClock(), Endpoint()
        tc = mock_client(endpoint, clock=clock, random=lambda r=rand: r)
        tc.get_token()
        clock.advance(due - 0.01)
        tc.get_token()
        assert len(endpoint.requests) == 1
        clock.advance(0.01)
        tc.get_token()
        assert len(endpoint.requests) == 2


def test_failed_refresh_ahead_is_invisible_and_backs_off() -> None:
    clock = FakeClock()
    endpoint = Endpoint(ISSUE, *[html(500)] * 20)
    tc = mock_client(endpoint, clock=clock)
    assert tc.get_token().access_token == "t1"
    clock.advance(750)
    assert tc.get_token().access_token == "t1"  # refresh failed: still served, no error
    assert len(endpoint.requests) == 2  # a single try, no retries on refresh-ahead
    for _ in range(100):
        assert tc.get_token().access_token == "t1"
    assert len(endpoint.requests) == 2  # not one request per call
    clock.advance(0.5)  # REFRESH_BACKOFF[0] with jitter 0 -> 0.5 s
    tc.get_token()
    assert len(endpoint.requests) == 3
    clock.advance(0.99)  # the second backoff is twice as long
    tc.get_token()
    assert len(endpoint.requests) == 3
    clock.advance(0.01)
    tc.get_token()
    assert len(endpoint.requests) == 4


def test_refresh_ahead_recovers_when_the_endpoint_comes_back() -> None:
    clock = FakeClock()
    endpoint = Endpoint(ISSUE, html(503))
    tc = mock_client(endpoint, clock=clock)
    tc.get_token()
    clock.advance(750)
    assert tc.get_token().access_token == "t1"
    clock.advance(1)
    assert tc.get_token().access_token == "t2"


def test_no_token_is_handed_out_past_hard_expiry() -> None:
    clock = FakeClock()
    endpoint = Endpoint(ISSUE, *[html(500)] * 50)
    tc = mock_client(endpoint, clock=clock)
    tc.get_token()
    clock.advance(969.9)
    assert tc.get_token().access_token == "t1"
    clock.advance(0.1)
    with pytest.raises(ServerError):
        tc.get_token()  # past hard expiry: the caller waits for a fetch, which fails


def test_expiry_is_anchored_before_the_request_was_sent() -> None:
    clock = FakeClock()
    issued = Endpoint()

    def slow(request: httpx.Request) -> httpx.Response:
        clock.advance(100)  # the response takes 100 s to arrive
        return issued(request)

    tc = TokenClient(
        URL,
        CREDS,
        scope="openid",
        http_client=httpx.Client(transport=httpx.MockTransport(slow)),
        clock=clock,
        random=lambda: 0.0,
    )
    sent_at = clock.mono
    token = tc.get_token()
    assert token.issued_at.timestamp() == clock.wall - 100
    clock.mono = sent_at + 749.9
    assert tc.get_token() is token  # still before the refresh-ahead point of the *send* time
    clock.mono = sent_at + 750
    assert tc.get_token() is not token  # 750 s after sending, not after the response


def test_threads_keep_the_current_token_while_one_refreshes() -> None:
    clock = FakeClock()
    in_refresh, release = threading.Event(), threading.Event()
    issued = Endpoint()

    def handler(request: httpx.Request) -> httpx.Response:
        if issued.issued == 1:  # the refresh-ahead request: hold it
            in_refresh.set()
            assert release.wait(10)
        return issued(request)

    tc = TokenClient(
        URL,
        CREDS,
        scope="openid",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        clock=clock,
        random=lambda: 0.0,
    )
    tc.get_token()
    clock.advance(800)
    refresher = threading.Thread(target=tc.get_token)
    refresher.start()
    assert in_refresh.wait(10)
    others: list[str] = []
    workers = [
        threading.Thread(target=lambda: others.append(tc.get_token().access_token))
        for _ in range(50)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()  # they return while the refresh is still in flight
    release.set()
    refresher.join()
    assert others == ["t1"] * 50
    assert tc.get_token().access_token == "t2"
    assert len(issued.requests) == 2


def test_tasks_keep_the_current_token_while_one_refreshes() -> None:
    clock = FakeClock()
    issued = Endpoint()

    async def main() -> tuple[list[str], str, int]:
        release = asyncio.Event()

        async def handler(request: httpx.Request) -> httpx.Response:
            if issued.issued == 1:
                await release.wait()
            return issued(request)

        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            tc = AsyncTokenClient(
                URL, CREDS, scope="openid", http_client=http, clock=clock, random=lambda: 0.0
            )
            await tc.get_token()
            clock.advance(800)
            refresher = asyncio.create_task(tc.get_token())
            await asyncio.sleep(0)  # let it start the refresh
            others = [
                t.access_token for t in await asyncio.gather(*(tc.get_token() for _ in range(50)))
            ]
            release.set()
            refreshed = (await refresher).access_token
            return others, refreshed, len(issued.requests)

    others, refreshed, requests = asyncio.run(main())
    assert others == ["t1"] * 50
    assert refreshed == "t2"
    assert requests == 2


def test_async_failed_refresh_ahead_is_invisible() -> None:
    clock = FakeClock()
    issued = Endpoint()
    failing = {"on": False}

    async def handler(request: httpx.Request) -> httpx.Response:
        return html(500) if failing["on"] else issued(request)

    async def main() -> list[str]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            tc = AsyncTokenClient(
                URL, CREDS, scope="openid", http_client=http, clock=clock, random=lambda: 0.0
            )
            seen = [(await tc.get_token()).access_token]
            failing["on"] = True
            clock.advance(800)
            seen.append((await tc.get_token()).access_token)
            failing["on"] = False
            clock.advance(1)
            seen.append((await tc.get_token()).access_token)
            return seen

    assert asyncio.run(main()) == ["t1", "t1", "t2"]


def test_short_lived_tokens_still_work() -> None:
    clock, endpoint = FakeClock(), Endpoint(lifetime=10)
    tc = mock_client(endpoint, clock=clock)
    assert tc.get_token().access_token == "t1"
    clock.advance(4.9)
    assert tc.get_token().access_token == "t1"
    clock.advance(0.1)  # leeway capped at half the lifetime: hard expiry at 5 s
    assert tc.get_token().access_token == "t2"


# --- caches, invalidation -----------------------------------------------------------------


def test_a_fresh_token_in_a_shared_cache_is_adopted_without_a_request() -> None:
    clock, endpoint, cache = FakeClock(), Endpoint(), MemoryCache()
    # Written by "another process" 100 s ago (wall clock), lifetime 1000 s.
    issued_wall = clock.wall - 100
    tc = mock_client(endpoint, clock=clock, cache=cache)
    shared = _bound(
        tc,
        Token.from_dict(
            {
                "v": 1,
                "access_token": "from-elsewhere",
                "token_type": "Bearer",
                "scope": "openid",
                "issued_at": issued_wall,
                "expires_at": issued_wall + 1000,
            }
        ),
    )
    cache.set(tc.cache_key, shared)
    assert tc.get_token() is shared
    assert endpoint.requests == []
    clock.advance(649.9)
    assert tc.get_token() is shared  # its refresh point is 750 s after *its* issue time
    clock.advance(0.1)
    assert tc.get_token().access_token == "t1"
    assert cache.get(tc.cache_key) == tc.get_token()


def _bound(tc: TokenClient | AsyncTokenClient, token: Token) -> Token:
    """`token` as a client with `tc`'s secret would have cached it (bound to the secret)."""
    return token.bound(binding_key(SECRET, tc.cache_key))


def _shared_token(clock: FakeClock, age: float, lifetime: float = 1000) -> Token:
    """A token another client with the same secret cached `age` seconds ago."""
    issued_wall = clock.wall - age
    token = Token.from_dict(
        {
            "v": 1,
            "access_token": "from-elsewhere",
            "token_type": "Bearer",
            "scope": "openid",
            "issued_at": issued_wall,
            "expires_at": issued_wall + lifetime,
        }
    )
    return token.bound(binding_key(SECRET, cache_key(URL, "client-1", ["openid"])))


def test_a_cached_token_due_a_refresh_is_served_through_an_outage() -> None:
    clock, cache = FakeClock(), MemoryCache()
    shared = _shared_token(clock, age=920)  # past any refresh point, 50 s before hard expiry
    endpoint = Endpoint(*[html(503)] * 10)
    tc = mock_client(endpoint, clock=clock, cache=cache, retry=RetryPolicy(attempts=2))
    cache.set(tc.cache_key, shared)
    assert tc.get_token() is shared  # no exception although the endpoint is down
    assert endpoint.requests == []
    # The next call refreshes ahead: one try, invisible, then it backs off.
    assert tc.get_token() is shared
    assert len(endpoint.requests) == 1
    assert tc.get_token() is shared
    assert len(endpoint.requests) == 1
    clock.advance(10)
    endpoint.replies.clear()
    assert tc.get_token().access_token == "t1"


def test_async_a_cached_token_due_a_refresh_is_served_through_an_outage() -> None:
    clock, cache = FakeClock(), MemoryCache()
    shared = _shared_token(clock, age=920)
    endpoint = Endpoint(*[html(503)] * 10)

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(endpoint)) as http:
            tc = AsyncTokenClient(
                URL, CREDS, scope="openid", http_client=http, cache=cache, clock=clock
            )
            await cache.aset(tc.cache_key, shared)
            assert await tc.get_token() is shared
            assert endpoint.requests == []
            assert await tc.get_token() is shared
            assert len(endpoint.requests) == 1

    asyncio.run(main())


def test_a_cached_token_past_its_hard_expiry_is_not_adopted() -> None:
    clock, cache = FakeClock(), MemoryCache()
    endpoint = Endpoint()
    tc = mock_client(endpoint, clock=clock, cache=cache)
    cache.set(tc.cache_key, _shared_token(clock, age=975))  # 25 s left: inside the 30 s leeway
    assert tc.get_token().access_token == "t1"
    assert len(endpoint.requests) == 1


def test_invalidate_only_the_token_still_cached() -> None:
    endpoint, cache = Endpoint(), MemoryCache()
    tc = mock_client(endpoint, cache=cache)
    first = tc.get_token()
    stranger = Token.from_dict({**first.to_dict(), "access_token": "other"})
    assert tc.invalidate(stranger) is False
    assert tc.get_token() is first
    assert tc.invalidate(first) is True
    assert cache.get(tc.cache_key) is None
    assert tc.get_token().access_token == "t2"
    assert tc.invalidate() is True
    assert tc.get_token().access_token == "t3"


def test_async_invalidate() -> None:
    issued = Endpoint()

    async def handler(request: httpx.Request) -> httpx.Response:
        return issued(request)

    async def main() -> list[object]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            tc = AsyncTokenClient(URL, CREDS, scope="openid", http_client=http)
            first = await tc.get_token()
            stranger = Token.from_dict({**first.to_dict(), "access_token": "other"})
            return [
                await tc.invalidate(stranger),
                await tc.invalidate(first),
                (await tc.get_token()).access_token,
            ]

    assert asyncio.run(main()) == [False, True, "t2"]


def test_closed_client_refuses_to_fetch() -> None:
    tc = mock_client(Endpoint())
    tc.close()
    with pytest.raises(RuntimeError, match="closed"):
        tc.get_token()


# --- secrets --------------------------------------------------------------------------------


def _secret_forms() -> list[str]:
    from urllib.parse import quote_plus

    return [
        SECRET,
        quote_plus(SECRET),
        base64.b64encode(f"client-1:{SECRET}".encode()).decode(),
        base64.b64encode(f"client-1:{quote_plus(SECRET)}".encode()).decode(),
    ]


def test_the_secret_never_leaks(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    cache = MemoryCache()
    endpoint = Endpoint(
        html(500), httpx.ReadTimeout("t"), ISSUE, httpx.Response(401, json={"error": "x"})
    )
    tc = mock_client(endpoint, cache=cache)
    texts = [repr(tc), str(tc), repr(CREDS), str(CREDS)]
    token = tc.get_token()
    texts += [
        repr(token),
        json.dumps(token.to_dict()),
        json.dumps(cache.get(tc.cache_key).to_dict()),
    ]  # type: ignore[union-attr]
    with pytest.raises(InvalidClientError) as info:
        tc.fetch_token()
    err: BaseException | None = info.value
    while err is not None:
        texts += [str(err), repr(err), repr(err.args)]
        err = err.__cause__ or err.__context__
    texts += [record.getMessage() for record in caplog.records]
    assert any("retrying" in t for t in texts)  # the log records were really captured
    leaked = [form for form in _secret_forms() for text in texts if form in text]
    assert leaked == []


def test_a_failing_shared_cache_is_invisible_during_refresh_ahead() -> None:
    class FlakyCache(MemoryCache):
        broken = False

        def get(self, key: str) -> Token | None:
            if self.broken:
                raise OSError("cache unreachable")
            return super().get(key)

    clock, endpoint, cache = FakeClock(), Endpoint(), FlakyCache()
    tc = mock_client(endpoint, clock=clock, cache=cache)
    assert tc.get_token().access_token == "t1"
    cache.broken = True
    clock.advance(800)
    assert tc.get_token().access_token == "t1"  # refresh-ahead failed on the cache: invisible
    clock.advance(200)  # past hard expiry the failure is the caller's to see
    with pytest.raises(OSError, match="cache unreachable"):
        tc.get_token()


def test_a_url_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(ConfigurationError) as info:
        TokenClient("ftp://user:PASSWORD-SENTINEL@id.example.com", CREDS, scope="openid")
    assert "PASSWORD-SENTINEL" not in str(info.value)


# --- a failed fetch is shared with the callers that waited for it -------------------------


class _CountingLock:
    """A threading.Lock that counts callers trying to enter it (to know all are queued)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._guard = threading.Lock()
        self.entering = 0

    def acquire(self, blocking: bool = True) -> bool:
        return self._lock.acquire(blocking)

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> None:
        with self._guard:
            self.entering += 1
        self._lock.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()


FAILING_REPLIES = [
    pytest.param(lambda: html(500), ServerError, 2, id="500-retried"),
    pytest.param(
        lambda: httpx.Response(401, json={"error": "invalid_client"}),
        InvalidClientError,
        1,
        id="401",
    ),
]


@pytest.mark.parametrize(("reply", "error", "cycle"), FAILING_REPLIES)
def test_threads_waiting_on_a_failed_fetch_share_its_error(
    reply: Callable[[], httpx.Response], error: type[TokenError], cycle: int
) -> None:
    n = 20
    requests: list[httpx.Request] = []
    lock = _CountingLock()

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        # Hold the first request until every thread is queued on the client's lock.
        while len(requests) == 1 and lock.entering < n:
            threading.Event().wait(0.001)
        return reply()

    tc = TokenClient(
        URL,
        CREDS,
        scope="openid",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        retry=RetryPolicy(attempts=2),
        sleep=lambda s: None,
    )
    tc._lock = lock  # type: ignore[assignment]
    errors: list[BaseException] = []

    def call() -> None:
        try:
            tc.get_token()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(requests) == cycle  # one fetch cycle, not one per thread
    assert len(errors) == n
    assert all(type(e) is error for e in errors)
    assert len({id(e) for e in errors}) == n  # each caller raises its own instance
    # A caller arriving after the failure completed fetches again.
    with pytest.raises(error):
        tc.get_token()
    assert len(requests) == 2 * cycle


@pytest.mark.parametrize(("reply", "error", "cycle"), FAILING_REPLIES)
def test_tasks_waiting_on_a_failed_fetch_share_its_error(
    reply: Callable[[], httpx.Response], error: type[TokenError], cycle: int
) -> None:
    requests: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        for _ in range(20):  # let every other task queue on the lock
            await asyncio.sleep(0)
        return reply()

    async def sleep(seconds: float) -> None:
        await asyncio.sleep(0)

    async def main() -> list[BaseException | Token]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            tc = AsyncTokenClient(
                URL,
                CREDS,
                scope="openid",
                http_client=http,
                retry=RetryPolicy(attempts=2),
                sleep=sleep,
            )
            results = await asyncio.gather(
                *(tc.get_token() for _ in range(50)), return_exceptions=True
            )
            assert len(requests) == cycle
            with pytest.raises(error):
                await tc.get_token()
            return results

    results = asyncio.run(main())
    assert all(type(r) is error for r in results)
    assert len({id(r) for r in results}) == len(results)
    assert len(requests) == 2 * cycle


@pytest.mark.parametrize("value", ["\u00b2".encode("latin-1"), "\u00b2".encode(), b"\xd9\xa3"])
def test_retry_after_with_non_ascii_digits_is_ignored(value: bytes) -> None:
    endpoint = Endpoint(httpx.Response(503, headers=[(b"retry-after", value)], text="x"))
    with pytest.raises(ServerError) as caught:
        mock_client(endpoint, retry=RetryPolicy(attempts=1)).get_token()
    assert caught.value.retry_after is None


@pytest.mark.parametrize("expires_in", [10**12, 10 * 365 * 86400 + 1])
def test_absurd_expires_in_is_an_invalid_response(expires_in: int) -> None:
    body = {"access_token": "a", "token_type": "Bearer", "expires_in": expires_in}
    endpoint = Endpoint(httpx.Response(200, json=body))
    with pytest.raises(TokenError) as caught:
        mock_client(endpoint).get_token()
    assert caught.value.error == "invalid_response"
    assert "expires_in" in str(caught.value)
    assert len(endpoint.requests) == 1


def _chain_leaks(exc: BaseException) -> list[str]:
    """Every secret form found on `exc`, its __cause__/__context__ chain, or their requests."""
    found, seen, todo = [], set(), [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        texts = [str(e), repr(e), *map(str, e.args)]
        try:
            request = e.request  # type: ignore[attr-defined]
        except (AttributeError, RuntimeError):
            request = None
        if isinstance(request, httpx.Request):
            texts += [str(v) for v in request.headers.values()]
        found += [form for form in _secret_forms() for text in texts if form in text]
        todo += [e.__cause__, e.__context__]  # type: ignore[list-item]
    return found


TRANSPORT_FAULTS = [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")]


@pytest.mark.parametrize("fault", TRANSPORT_FAULTS, ids=type)
def test_a_transport_error_does_not_carry_the_request(fault: Exception) -> None:
    with pytest.raises(TokenTransportError) as caught:
        mock_client(Endpoint(fault), retry=RetryPolicy(attempts=1)).get_token()
    assert type(fault).__name__ in str(caught.value)  # the detail is kept in the message
    assert _chain_leaks(caught.value) == []


@pytest.mark.parametrize("fault", TRANSPORT_FAULTS, ids=type)
def test_async_a_transport_error_does_not_carry_the_request(fault: Exception) -> None:
    endpoint = Endpoint(fault)

    async def handler(request: httpx.Request) -> httpx.Response:
        return endpoint(request)

    async def main() -> TokenError:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            tc = AsyncTokenClient(
                URL, CREDS, scope="openid", http_client=http, retry=RetryPolicy(attempts=1)
            )
            with pytest.raises(TokenTransportError) as caught:
                await tc.get_token()
            return caught.value

    error = asyncio.run(main())
    assert type(fault).__name__ in str(error)
    assert _chain_leaks(error) == []


# --- a whole try is bounded, not only each read ---------------------------------------------


def _dripped(clock: FakeClock, sent: list[int], chunks: int) -> Iterator[bytes]:
    """A token body in `chunks` pieces, one clock second apart (a server dripping bytes)."""
    body = json.dumps({"access_token": "slow", "token_type": "Bearer", "expires_in": 3600})
    size = -(-len(body) // chunks)
    for start in range(0, len(body), size):
        clock.advance(1.0)
        sent.append(start)
        yield body[start : start + size].encode()


async def _adripped(clock: FakeClock, sent: list[int], chunks: int) -> AsyncIterator[bytes]:
    for chunk in _dripped(clock, sent, chunks):
        yield chunk


def test_a_dripping_response_is_cut_off_after_timeout() -> None:
    clock, sent = FakeClock(), []

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=_dripped(clock, sent, 50))

    tc = TokenClient(
        URL,
        CREDS,
        scope="openid",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        clock=clock,
        timeout=5.0,
        retry=RetryPolicy(attempts=1),
    )
    with pytest.raises(TokenTransportError, match="ReadTimeout") as caught:
        tc.get_token()
    assert caught.value.retryable
    assert len(sent) == 6  # stopped at the first chunk past the 5 s deadline, not after 50


def test_a_slow_but_timely_response_is_accepted() -> None:
    clock, sent = FakeClock(), []

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=_dripped(clock, sent, 4))

    tc = TokenClient(
        URL,
        CREDS,
        scope="openid",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        clock=clock,
        timeout=5.0,
    )
    assert tc.get_token().access_token == "slow"


def test_async_a_dripping_response_is_cut_off_after_timeout() -> None:
    clock, sent = FakeClock(), []

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=_adripped(clock, sent, 50))

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            tc = AsyncTokenClient(
                URL,
                CREDS,
                scope="openid",
                http_client=http,
                clock=clock,
                timeout=5.0,
                retry=RetryPolicy(attempts=1),
            )
            with pytest.raises(TokenTransportError, match="ReadTimeout"):
                await tc.get_token()

    asyncio.run(main())
    assert len(sent) == 6
