"""Hostile token endpoints on real loopback sockets (tests/hostile_server.py): whatever they
send, a client ends with a typed TokenError, bounded memory and time, and no secret in sight."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import json
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time

import httpx
import pytest
from hostile_server import (
    Respond,
    bomb,
    chunked_forever,
    drip,
    json_response,
    raw_response,
    serve,
    stream_forever,
)
from screening_eagle_id import (
    AsyncTokenClient,
    ClientCredentials,
    RetryPolicy,
    TokenClient,
    TokenError,
    TokenTransportError,
)
from screening_eagle_id._deadline import env_proxy_for

SECRET = "HOSTILE-SECRET-7d1e0c"
CREDS = ClientCredentials("client-1", SECRET)
ONE_TRY = RetryPolicy(attempts=1)
TOKEN_BODY = {"access_token": "abc.def.ghi", "token_type": "Bearer", "expires_in": 3600}


def _client(url: str, **kwargs: object) -> TokenClient:
    return TokenClient(url, CREDS, scope="openid", retry=ONE_TRY, **kwargs)  # type: ignore[arg-type]


def _fetch_error(url: str, **kwargs: object) -> TokenError:
    with _client(url, **kwargs) as tc, pytest.raises(TokenError) as info:
        tc.fetch_token()
    return info.value


async def _afetch_error(url: str) -> TokenError:
    async with AsyncTokenClient(url, CREDS, scope="openid", retry=ONE_TRY) as tc:
        with pytest.raises(TokenError) as info:
            await tc.fetch_token()
    return info.value


# --- 1. bounded reads -------------------------------------------------------------------------

# Run in a child process, so its peak memory (VmHWM) is the client's alone.
_MEMORY_PROBE = textwrap.dedent(
    """
    import asyncio, json, sys
    from screening_eagle_id import (
        AsyncTokenClient, ClientCredentials, RetryPolicy, TokenClient, TokenError,
    )

    creds, one = ClientCredentials("client-1", "s"), RetryPolicy(attempts=1)

    def sync(url):
        with TokenClient(url, creds, scope="openid", retry=one) as tc:
            try:
                tc.fetch_token()
            except TokenError as exc:
                return [type(exc).__name__, exc.error, exc.status_code]
        return None

    async def aio(url):
        async with AsyncTokenClient(url, creds, scope="openid", retry=one) as tc:
            try:
                await tc.fetch_token()
            except TokenError as exc:
                return [type(exc).__name__, exc.error, exc.status_code]
        return None

    def peak_mb():
        # VmHWM: this process's own peak since its exec (ru_maxrss starts at the parent's
        # size at fork, and would hide growth below it).
        with open("/proc/self/status") as status:
            line = next(l for l in status if l.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024

    urls = json.loads(sys.argv[1])
    sync(urls.pop("warm-up"))
    asyncio.run(aio(sys.argv[2]))
    base, results = peak_mb(), {}
    for name, url in urls.items():
        results[name] = [sync(url), asyncio.run(aio(url))]
        results[name].append(peak_mb() - base)
    print(json.dumps(results))
    """
)

_BOMBS = {
    "gzip bomb (256 MiB)": raw_response(200, bomb(256), {"Content-Encoding": "gzip"}),
    "double gzip": raw_response(
        400, bomb(256, ("gzip", "gzip")), {"Content-Encoding": "gzip, gzip"}
    ),
    "deflate bomb": raw_response(503, bomb(256, ("deflate",)), {"Content-Encoding": "deflate"}),
    "1 GiB Content-Length": raw_response(200, b"", {"Content-Length": str(1 << 30)}),
    "endless body, no length": stream_forever(418),
    "endless chunked body": chunked_forever(200),
}


def test_hostile_bodies_cost_no_memory_and_end_in_invalid_response() -> None:
    with contextlib.ExitStack() as stack:
        urls = {name: stack.enter_context(serve(respond)) for name, respond in _BOMBS.items()}
        warm = stack.enter_context(serve(json_response(400, {"error": "invalid_request"})))
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-c", _MEMORY_PROBE, json.dumps({"warm-up": warm, **urls}), warm],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads(result.stdout)
    for name, (sync, aio, growth_mb) in results.items():
        assert sync == ["TokenError", "invalid_response", sync[2]], name
        assert aio == sync, name
        assert growth_mb < 50, (name, growth_mb)
    assert time.monotonic() - started < 60  # none of them ran into a timeout


def test_the_limit_is_counted_after_decoding_and_configurable() -> None:
    body = json.dumps({**TOKEN_BODY, "pad": "x" * 5000}).encode()
    with serve(raw_response(200, body)) as url:
        with _client(url, max_response_bytes=len(body)) as tc:
            assert tc.fetch_token().access_token == "abc.def.ghi"
        error = _fetch_error(url, max_response_bytes=len(body) - 1)
    assert error.error == "invalid_response"
    assert "max_response_bytes" in str(error)


def test_an_encoding_we_cannot_bound_is_refused() -> None:
    with serve(raw_response(200, b"\x00" * 100, {"Content-Encoding": "br"})) as url:
        error = _fetch_error(url)
    assert error.error == "invalid_response"
    assert "Content-Encoding" in str(error)


def test_a_gzip_body_within_the_limit_is_read() -> None:
    body = json.dumps(TOKEN_BODY).encode()
    with serve(raw_response(200, gzip.compress(body), {"Content-Encoding": "gzip"})) as url:
        with _client(url) as tc:
            assert tc.fetch_token().access_token == "abc.def.ghi"
        assert asyncio.run(_afetch_token(url)) == "abc.def.ghi"


async def _afetch_token(url: str) -> str:
    async with AsyncTokenClient(url, CREDS, scope="openid", retry=ONE_TRY) as tc:
        return (await tc.fetch_token()).access_token


# --- 2. deep nesting anywhere in a response is a typed error ---------------------------------

DEEP = b"[" * 100_000


@pytest.mark.parametrize("status", [200, 400, 418, 503])
@pytest.mark.parametrize(
    "body",
    [DEEP, b'{"error": "x", "errorDescription": ' + DEEP, b'{"access_token": ' + DEEP],
    ids=["deep array", "deep description", "deep access_token"],
)
def test_deep_json_is_a_typed_error_sync_and_async(status: int, body: bytes) -> None:
    with serve(json_response(status, body)) as url:
        errors = [_fetch_error(url), asyncio.run(_afetch_error(url))]
    for error in errors:
        assert error.status_code == status
        assert "\n" not in str(error)
        assert len(str(error)) < 400


def test_deep_json_reaches_every_waiting_thread_as_a_token_error() -> None:
    def slow_deep(conn: socket.socket, request: bytes) -> None:
        time.sleep(0.3)  # the other threads queue up behind this fetch
        json_response(200, DEEP)(conn, request)

    outcomes: list[object] = []
    with serve(slow_deep) as url, _client(url) as tc:

        def call() -> None:
            try:
                tc.get_token()
            except TokenError as exc:
                outcomes.append(type(exc))
            except BaseException as exc:
                outcomes.append(exc)

        threads = [threading.Thread(target=call) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert outcomes == [TokenError] * 4


# --- 4. fresh tokens are checked --------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"token_type": "mac"}, "token_type"),
        ({"token_type": "Bearer\r\nX: y"}, "token_type"),
        ({"token_type": 1}, "token_type"),
        ({"access_token": "TOKENSENTINEL\r\nX-Injected: 1"}, "access_token"),
        ({"access_token": "TOKENSENTINEL with space"}, "access_token"),
        ({"access_token": "TOKENSENTINEL\u00e9"}, "access_token"),
        ({"access_token": "TOKENSENTINEL" * 5000}, "access_token"),
        ({"access_token": ["TOKENSENTINEL"]}, "access_token"),
        ({"id_token": "TOKENSENTINEL\x1b[2J"}, "id_token"),
        ({"refresh_token": {"TOKENSENTINEL": 1}}, "refresh_token"),
        ({"refresh_token": "TOKENSENTINEL" * 5000}, "refresh_token"),
        ({"scope": "openid\nadmin"}, "scope"),
        ({"scope": 7}, "scope"),
        ({"expires_in": True}, "expires_in"),
        ({"expires_in": 3600.5}, "expires_in"),
        ({"expires_in": "3600"}, "expires_in"),
        ({"expires_in": 10**30}, "expires_in"),
    ],
)
def test_an_unusable_fresh_token_is_refused_without_echoing_it(
    overrides: dict[str, object], reason: str
) -> None:
    with serve(json_response(200, {**TOKEN_BODY, **overrides})) as url:
        errors = [_fetch_error(url), asyncio.run(_afetch_error(url))]
    for error in errors:
        assert error.error == "invalid_response"
        assert reason in str(error)
        for text in (str(error), repr(error), str(error.error_description)):
            assert "TOKENSENTINEL" not in text
            assert len(text) < 400


def test_bearer_in_any_case_is_accepted() -> None:
    with (
        serve(json_response(200, {**TOKEN_BODY, "token_type": "bEaReR"})) as url,
        _client(url) as tc,
    ):
        assert tc.fetch_token().token_type == "bEaReR"


# --- 6. server text is capped and scrubbed ---------------------------------------------------


def _secret_forms() -> list[str]:
    from urllib.parse import quote, quote_plus

    return [
        SECRET,
        quote_plus(SECRET),
        quote(SECRET),
        SECRET.lower(),
        base64.b64encode(f"client-1:{SECRET}".encode()).decode(),
        base64.b64encode(f"client-1:{quote_plus(SECRET)}".encode()).decode(),
    ]


def _echoing(status: int, pad: int = 0) -> Respond:
    """Echoes the request's Basic value (and the decoded secret) in every text field."""

    def respond(conn: socket.socket, request: bytes) -> None:
        basic = re.search(rb"authorization: Basic (\S+)", request, re.IGNORECASE)
        value = basic.group(1).decode() if basic else ""
        decoded = base64.b64decode(value).decode() if value else ""
        text = "x" * pad + f" Basic {value} = {decoded} \x1b[31m\r\nFORGED-LOG-LINE"
        document = {
            "error": f"invalid_client {decoded}",
            "errorDescription": text,
            "error_description": text,
        }
        json_response(status, document, {"Content-Type": f"application/json; {decoded}"})(
            conn, request
        )

    return respond


@pytest.mark.parametrize("status", [400, 401, 503])
@pytest.mark.parametrize("pad", [0, 1021, 300_000])
def test_server_text_is_capped_and_never_echoes_the_secret(status: int, pad: int) -> None:
    texts: list[str] = []
    for client_auth in ("basic", "basic_raw"):
        with serve(_echoing(status, pad)) as url:
            error = _fetch_error(url, client_auth=client_auth)
        texts += [str(error), repr(error), str(error.error), str(error.error_description)]
        texts += [str(arg) for arg in error.args]
        assert len(str(error)) < 2 * 1024 + 300
        assert len(error.error_description or "") <= 1024
        assert "\n" not in str(error)
        assert "\x1b" not in str(error)
    for text in texts:
        for form in _secret_forms():
            assert form not in text


# --- 7. no cookies ----------------------------------------------------------------------------


def _cookie_setter(seen: list[bytes]) -> Respond:
    def respond(conn: socket.socket, request: bytes) -> None:
        seen.append(request)
        headers = [("Content-Type", "application/json"), ("Set-Cookie", "session=EVIL; Path=/")]
        raw_response(200, json.dumps(TOKEN_BODY).encode(), headers)(conn, request)

    return respond


def _cookie_headers(requests: list[bytes]) -> list[bytes]:
    return [
        line for r in requests for line in r.split(b"\r\n") if line.lower().startswith(b"cookie")
    ]


def test_no_cookie_is_kept_or_sent_on_token_requests() -> None:
    seen: list[bytes] = []
    with serve(_cookie_setter(seen)) as url, _client(url) as tc:
        tc.fetch_token()
        tc.fetch_token()
    assert len(seen) == 2
    assert _cookie_headers(seen) == []


def test_a_callers_cookie_jar_neither_leaks_in_nor_is_written() -> None:
    seen: list[bytes] = []
    with (
        serve(_cookie_setter(seen)) as url,
        httpx.Client(cookies={"theirs": "PRIVATE"}) as http,
        _client(url, http_client=http) as tc,
    ):
        tc.fetch_token()
        tc.fetch_token()
        assert dict(http.cookies) == {"theirs": "PRIVATE"}
    assert _cookie_headers(seen) == []


def test_async_no_cookies() -> None:
    seen: list[bytes] = []

    async def main(url: str) -> dict[str, str]:
        async with httpx.AsyncClient(cookies={"theirs": "PRIVATE"}) as http:
            async with AsyncTokenClient(url, CREDS, scope="openid", http_client=http) as tc:
                await tc.fetch_token()
                await tc.fetch_token()
            async with AsyncTokenClient(url, CREDS, scope="openid") as own:
                await own.fetch_token()
                await own.fetch_token()
            return dict(http.cookies)

    with serve(_cookie_setter(seen)) as url:
        assert asyncio.run(main(url)) == {"theirs": "PRIVATE"}
    assert len(seen) == 4
    assert _cookie_headers(seen) == []


# --- 9. a whole try is bounded by timeout=, whatever the server drips --------------------------

_DRIPPED_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Pad: " + b"p" * 200


@pytest.mark.parametrize("phase", ["status line and headers", "body"])
def test_a_server_dripping_its_response_is_cut_off_at_timeout(phase: str) -> None:
    if phase == "body":
        data = b"HTTP/1.1 200 OK\r\nContent-Length: 400\r\n\r\n" + b" " * 400
    else:
        data = _DRIPPED_HEAD
    with serve(drip(data, every=0.02)) as url:  # about 5-8 s in all, a byte each 20 ms
        started = time.monotonic()
        error = _fetch_error(url, timeout=1.0)
        elapsed = time.monotonic() - started
        astarted = time.monotonic()
        with pytest.raises(TokenError):
            asyncio.run(_afetch_timeout(url))
        aelapsed = time.monotonic() - astarted
    assert isinstance(error, TokenTransportError)
    assert error.retryable
    assert elapsed < 2.0
    assert aelapsed < 2.0


async def _afetch_timeout(url: str) -> None:
    async with AsyncTokenClient(url, CREDS, scope="openid", retry=ONE_TRY, timeout=1.0) as tc:
        await tc.fetch_token()


def test_own_connections_are_bounded_unless_a_proxy_from_the_environment_applies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        for variant in (name, name.lower()):
            monkeypatch.delenv(variant, raising=False)
    assert not env_proxy_for("https://id.example.com")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "localhost, .corp.example,10.0.0.1:8443")
    assert env_proxy_for("https://id.example.com")
    assert not env_proxy_for("http://id.example.com")  # no HTTP_PROXY
    assert not env_proxy_for("https://id.corp.example")
    assert not env_proxy_for("https://10.0.0.1:8443")
    monkeypatch.setenv("NO_PROXY", "*")
    assert not env_proxy_for("https://id.example.com")
