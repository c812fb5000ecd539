"""Hostile token endpoints on real loopback sockets (tests/hostile_server.py): whatever they
send, a client ends with a typed TokenError, bounded memory and time, and no secret in sight."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import subprocess
import sys
import textwrap
import time

import pytest
from hostile_server import (
    bomb,
    chunked_forever,
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
)

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

# Run in a child process, so its peak memory (ru_maxrss) is the client's alone.
_MEMORY_PROBE = textwrap.dedent(
    """
    import asyncio, json, resource, sys
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
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

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
