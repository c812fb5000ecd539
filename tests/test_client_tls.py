"""TLS of the token clients: one shared, verifying SSL context by default; `verify=`."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import certifi
import httpx
import pytest
import uvicorn
from live_server import LiveServer
from screening_eagle_id import (
    AsyncTokenClient,
    ClientCredentials,
    ConfigurationError,
    RetryPolicy,
    TokenClient,
    TokenTransportError,
)
from screening_eagle_id import _connect as client_module
from screening_eagle_id_server import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Settings, create_app

DEMO = ClientCredentials(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)


def pool_context(client: TokenClient | AsyncTokenClient) -> ssl.SSLContext:
    """The SSL context the generated client's httpx client connects with."""
    api = client._api
    http = (
        api.get_async_httpx_client()
        if isinstance(client, AsyncTokenClient)
        else api.get_httpx_client()
    )
    context: ssl.SSLContext = http._transport._pool._ssl_context  # type: ignore[attr-defined]
    return context


@pytest.fixture
def fresh_shared_context(monkeypatch: pytest.MonkeyPatch) -> list[ssl.SSLContext]:
    """No shared context yet; every one `httpx.create_ssl_context` makes, in order."""
    made: list[ssl.SSLContext] = []
    create = httpx.create_ssl_context

    def counting_create() -> ssl.SSLContext:
        made.append(create())
        return made[-1]

    monkeypatch.setattr(client_module, "_default_ssl_context", None)
    monkeypatch.setattr(client_module.httpx, "create_ssl_context", counting_create)
    return made


def test_clients_share_one_verifying_context_made_on_the_first_fetch(
    reference_server: LiveServer, fresh_shared_context: list[ssl.SSLContext]
) -> None:
    first = TokenClient(reference_server.url, DEMO, scope="openid")
    second = TokenClient(reference_server.url, DEMO, scope="email")
    third = AsyncTokenClient(reference_server.url, DEMO, scope="profile")
    assert fresh_shared_context == []  # nothing built until a token is needed
    with first, second:
        first.get_token()
        second.get_token()

        async def fetch() -> None:
            async with third:
                await third.get_token()
                assert pool_context(third) is made

        made = fresh_shared_context[0]
        asyncio.run(fetch())
        assert pool_context(first) is pool_context(second) is made
    assert len(fresh_shared_context) == 1
    assert made.verify_mode == ssl.CERT_REQUIRED
    assert made.check_hostname


def test_the_shared_context_is_made_once_under_contention(
    fresh_shared_context: list[ssl.SSLContext],
) -> None:
    barrier = threading.Barrier(8)
    got: list[ssl.SSLContext] = []

    def take() -> None:
        barrier.wait()
        got.append(client_module._shared_ssl_context())

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fresh_shared_context) == 1
    assert got == fresh_shared_context * 8


def test_a_caller_http_client_keeps_its_own_tls(
    reference_server: LiveServer, fresh_shared_context: list[ssl.SSLContext]
) -> None:
    with (
        httpx.Client() as http,
        TokenClient(reference_server.url, DEMO, scope="openid", http_client=http) as c,
    ):
        c.get_token()
        assert c._api._verify_ssl is True  # the generated client's default, unused
    assert fresh_shared_context == []
    with pytest.raises(ConfigurationError, match="http_client"), httpx.Client() as http:
        TokenClient(reference_server.url, DEMO, scope="openid", http_client=http, verify=False)


def test_verify_false_warns_once_and_turns_checks_off(
    reference_server: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(client_module, "_warned_unverified", False)
    caplog.set_level(logging.WARNING, logger="screening_eagle_id")
    clients = [
        TokenClient(reference_server.url, DEMO, scope="openid", verify=False) for _ in range(2)
    ]
    warnings = [r for r in caplog.records if "verify=False" in r.getMessage()]
    assert len(warnings) == 1
    assert DEMO_CLIENT_SECRET not in caplog.text
    with clients[0] as client:
        client.get_token()
        assert pool_context(client).verify_mode == ssl.CERT_NONE
    clients[1].close()


def test_verify_takes_a_context_or_a_ca_bundle(reference_server: LiveServer) -> None:
    context = ssl.create_default_context()
    with TokenClient(reference_server.url, DEMO, scope="openid", verify=context) as client:
        client.get_token()
        assert pool_context(client) is context
    with TokenClient(reference_server.url, DEMO, scope="openid", verify=certifi.where()) as client:
        client.get_token()
        assert pool_context(client).verify_mode == ssl.CERT_REQUIRED
        assert pool_context(client) is not client_module._default_ssl_context


@pytest.mark.parametrize("bad", ["/nonexistent/ca.pem", 3])
def test_a_bad_verify_is_a_configuration_error(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="verify"):
        TokenClient("https://id.example.com", DEMO, scope="openid", verify=bad)  # type: ignore[arg-type]


# --- a real https endpoint ------------------------------------------------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that no CA bundle trusts, and its key."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


@contextmanager
def https_server(cert: Path, key: Path) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        create_app(Settings.dev()),
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started or not thread.is_alive():
                break
            thread.join(0.01)
        assert server.started, "the https server did not start"
        yield f"https://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.mark.slow
def test_https_fetches_verify_the_certificate(self_signed: tuple[Path, Path]) -> None:
    cert, key = self_signed
    with https_server(cert, key) as url:
        # The shared default context refuses a certificate no CA vouches for ...
        with (
            TokenClient(url, DEMO, scope="openid", retry=RetryPolicy(attempts=1)) as client,
            pytest.raises(TokenTransportError, match=r"(?i)certificate"),
        ):
            client.get_token()
        # ... and accepts it once it is the CA bundle, as a path or in a context.
        with TokenClient(url, DEMO, scope="openid", verify=cert) as client:
            assert client.get_token().access_token
        with TokenClient(
            url, DEMO, scope="openid", verify=ssl.create_default_context(cafile=cert)
        ) as client:
            assert client.get_token().access_token
