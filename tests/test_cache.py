"""Token caches: `cache_key`, the `TokenCache` protocol and `MemoryCache`.

FileCache/RedisCache tests live below the MemoryCache section (another module owner).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from datetime import UTC, datetime

import pytest
from screening_eagle_id import (
    DEFAULT_TIMEOUT,
    AsyncRedisCache,
    AsyncTokenCache,
    FileCache,
    MemoryCache,
    RedisCache,
    RetryPolicy,
    Token,
    TokenCache,
    cache_key,
)

# --- cache_key -------------------------------------------------------------------------------


def test_cache_key_ignores_scope_order_and_duplicates_and_trailing_slash() -> None:
    a = cache_key("https://id.example.com/", "client", ["openid", "email", "email"])
    b = cache_key("https://id.example.com", "client", ("email", "openid"))
    assert a == b
    assert len(a) == 64
    assert int(a, 16) >= 0  # hex


def test_cache_key_separates_url_client_and_scopes() -> None:
    base = cache_key("https://id.example.com", "client", ["openid"])
    assert base != cache_key("https://id2.example.com", "client", ["openid"])
    assert base != cache_key("https://id.example.com", "client2", ["openid"])
    assert base != cache_key("https://id.example.com", "client", ["openid", "email"])
    # No ambiguity from concatenation: ("a b", "c") vs ("a", "b c").
    assert cache_key("u", "a b", ["c"]) != cache_key("u", "a", ["b c"])


# --- MemoryCache ------------------------------------------------------------------------------


def _token(value: str = "tok") -> Token:
    now = datetime.now(tz=UTC)
    return Token(
        access_token=value, token_type="Bearer", scope=frozenset(), issued_at=now, expires_at=now
    )


def test_memory_cache_implements_both_protocols() -> None:
    cache = MemoryCache()
    assert isinstance(cache, TokenCache)
    assert isinstance(cache, AsyncTokenCache)


def test_memory_cache_get_set_delete() -> None:
    cache = MemoryCache()
    assert cache.get("k") is None
    token = _token("ACCESS-SENTINEL")
    cache.set("k", token)
    assert cache.get("k") is token
    assert "ACCESS-SENTINEL" not in repr(cache)
    other = _token("other")
    cache.set("k", other)
    assert cache.get("k") is other
    cache.delete("k")
    cache.delete("k")  # idempotent
    assert cache.get("k") is None


def test_memory_cache_async_methods() -> None:
    cache = MemoryCache()
    token = _token()

    async def main() -> tuple[Token | None, Token | None]:
        await cache.aset("k", token)
        async with cache.alock("k"):
            got = await cache.aget("k")
        await cache.adelete("k")
        return got, await cache.aget("k")

    assert asyncio.run(main()) == (token, None)


def test_memory_cache_lock_is_per_key_and_excludes_other_threads() -> None:
    cache = MemoryCache()
    assert cache.lock("a") is cache.lock("a")
    assert cache.lock("a") is not cache.lock("b")
    entered = threading.Event()
    with cache.lock("a"):

        def take() -> None:
            with cache.lock("a"):
                entered.set()

        worker = threading.Thread(target=take)
        worker.start()
        assert not entered.wait(0.05)
        with cache.lock("b"):  # another key is not blocked
            pass
    assert entered.wait(5)
    worker.join()


# --- shared caches: the lock outlives one fetch ---------------------------------------------


@pytest.mark.parametrize("cache_class", [FileCache, RedisCache, AsyncRedisCache])
def test_default_lock_timeout_outlasts_a_fetch_with_default_retries(cache_class: type) -> None:
    default = inspect.signature(cache_class).parameters["lock_timeout"].default
    # The last try may start just before total_timeout and take a whole timeout itself.
    assert default > RetryPolicy().total_timeout + DEFAULT_TIMEOUT
