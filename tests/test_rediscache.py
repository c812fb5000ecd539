"""RedisCache / AsyncRedisCache: many hosts through a real `redis-server` (started here on a
free loopback port), the real reference server, real processes."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
import redis.asyncio
from cache_support import assert_valid, secret_forms, sentinel_server, spawn, worker_env
from cache_worker import synthetic_token
from live_server import LiveServer
from readme_snippets import run_snippet
from redis_server import RedisServer, start_redis
from screening_eagle_id import (
    AsyncRedisCache,
    AsyncTokenCache,
    AsyncTokenClient,
    ClientCredentials,
    ConfigurationError,
    RedisCache,
    Token,
    TokenCache,
    TokenClient,
    cache_key,
)

KEY = "cd" * 32
LOGGER = "screening_eagle_id"


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with start_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def r(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A raw client on an empty database (to look at what the cache stored)."""
    with redis_server.client() as client:
        client.flushdb()
        yield client


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server this test alone may stop and restart."""
    with start_redis(tmp_path) as server:
        yield server


def creds(server: LiveServer) -> ClientCredentials:
    return ClientCredentials(server.client_id, server.client_secret)


def key_of(server: LiveServer, scope: str = "openid") -> str:
    return cache_key(server.url, server.client_id, scope.split())


class RecordingRedisCache(RedisCache):
    """A RedisCache that remembers what each `lock()` yielded."""

    def __init__(self, url: str, **kwargs: float) -> None:
        super().__init__(url, **kwargs)
        self.acquired: list[bool] = []

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[bool]:  # type: ignore[override]
        with super().lock(key) as acquired:
            self.acquired.append(acquired)
            yield acquired


# --- construction ---------------------------------------------------------------------------


def test_without_the_redis_package_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ConfigurationError, match=r"screening-eagle-id\[redis\]"):
        RedisCache("redis://127.0.0.1:1/0")
    with pytest.raises(ConfigurationError, match=r"screening-eagle-id\[redis\]"):
        AsyncRedisCache("redis://127.0.0.1:1/0")


def test_protocols_and_client_kinds(redis_server: RedisServer) -> None:
    with RedisCache(redis_server.url) as cache:
        assert isinstance(cache, TokenCache)
    assert isinstance(AsyncRedisCache(redis_server.url), AsyncTokenCache)
    with pytest.raises(TypeError, match="AsyncRedisCache"):
        RedisCache(redis.asyncio.Redis(port=redis_server.port))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="RedisCache"):
        AsyncRedisCache(redis.Redis(port=redis_server.port))  # type: ignore[arg-type]


def test_the_password_never_shows(caplog: pytest.LogCaptureFixture) -> None:
    cache = RedisCache("redis://user:hunter2-SENTINEL@127.0.0.1:1/0")
    assert "hunter2" not in repr(cache)
    assert "user:***@127.0.0.1:1" in repr(cache)
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        assert cache.get(KEY) is None  # nothing listens on port 1
    assert "failed" in caplog.text
    assert "hunter2" not in caplog.text
    cache.close()


@pytest.mark.parametrize(
    "url",
    [
        "redis://user:PW-SENTINEL@127.0.0.1:1/0",
        "redis://:PW-SENTINEL@127.0.0.1:1/0",
        "redis://127.0.0.1:1/0?password=PW-SENTINEL",
        "redis://127.0.0.1:1/0?db=0&password=PW-SENTINEL%21",
        "redis://user@127.0.0.1:1/0?password=PW-SENTINEL#frag",
    ],
)
def test_a_password_in_userinfo_or_query_never_shows(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache = RedisCache(url)
    assert "SENTINEL" not in repr(cache)
    assert "127.0.0.1:1/0" in repr(cache)
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        assert cache.get(KEY) is None  # nothing listens on port 1
        assert cache.get(KEY) is None
    assert "failed" in caplog.text
    assert "SENTINEL" not in caplog.text
    cache.close()


# --- entries and TTLs -----------------------------------------------------------------------


def test_round_trip_with_a_ttl_of_the_remaining_lifetime(
    redis_server: RedisServer, r: redis.Redis
) -> None:
    with RedisCache(redis_server.url, prefix="app1:") as cache:
        token = synthetic_token("ROUND-TRIP")  # expires in an hour
        assert cache.get(KEY) is None
        cache.set(KEY, token)
        ttl_ms = r.pttl(f"app1:token:{KEY}")
        assert 3_500_000 < ttl_ms <= 3_600_000
        got = cache.get(KEY)
        assert got is not None
        assert got.to_dict() == token.to_dict()
        assert json.loads(r.get(f"app1:token:{KEY}")) == token.to_dict()  # type: ignore[arg-type]
        cache.delete(KEY)
        cache.delete(KEY)
        assert cache.get(KEY) is None
        # A token already past its expiry is not stored at all (and replaces nothing).
        cache.set(KEY, token)
        past = datetime.now(tz=UTC) - timedelta(hours=2)
        cache.set(KEY, Token("OLD", "Bearer", frozenset(), past, past + timedelta(hours=1)))
        assert r.exists(f"app1:token:{KEY}") == 0


def test_async_round_trip(redis_server: RedisServer, r: redis.Redis) -> None:
    async def main() -> tuple[Token | None, Token | None]:
        async with AsyncRedisCache(redis_server.url) as cache:
            await cache.aset(KEY, synthetic_token("ASYNC"))
            async with cache.alock(KEY) as acquired:
                assert acquired is True
                got = await cache.aget(KEY)
            await cache.adelete(KEY)
            return got, await cache.aget(KEY)

    got, gone = asyncio.run(main())
    assert got is not None
    assert got.access_token == "ASYNC"
    assert gone is None
    assert r.dbsize() == 0  # the lock was released, the entry deleted


def test_a_corrupt_entry_is_ignored_then_replaced(
    reference_server: LiveServer,
    redis_server: RedisServer,
    r: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = key_of(reference_server)
    r.set(f"eagle-id:token:{key}", b"\x00{not json CORRUPT-CONTENT")
    with (
        RedisCache(redis_server.url) as cache,
        caplog.at_level(logging.WARNING, logger=LOGGER),
        TokenClient(
            reference_server.url, creds(reference_server), scope="openid", cache=cache
        ) as c,
    ):
        token = c.get_token()
        stored = cache.get(key)
    assert_valid(token, reference_server)
    assert "ignoring" in caplog.text
    assert "CORRUPT-CONTENT" not in caplog.text
    assert stored is not None
    assert stored.access_token == token.access_token


# --- the lock -------------------------------------------------------------------------------


def test_the_lock_expires_by_itself_and_only_its_owner_releases_it(
    redis_server: RedisServer, r: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    holder = RedisCache(redis_server.url, lock_timeout=30)
    impatient = RedisCache(redis_server.url, lock_timeout=0.05)
    name = f"eagle-id:lock:{KEY}"
    with holder.lock(KEY) as acquired:
        assert acquired is True
        assert 0 < r.pttl(name) <= 30_000  # a crashed holder's lock dies on its own
        with caplog.at_level(logging.WARNING, logger=LOGGER), impatient.lock(KEY) as second:
            # The holder is alive (heartbeat within ITS lock_timeout): the waiter gives up
            # waiting after its own, shorter budget and proceeds without taking the lock over.
            assert second is False
        assert "fetching without it" in caplog.text
        # Our lock expired and someone else took it: leaving must not delete theirs.
        r.set(name, "someone-else")
    assert r.get(name) == b"someone-else"
    r.delete(name)
    with holder.lock(KEY) as again:
        assert again is True
    assert r.exists(name) == 0  # released by its owner
    holder.close()
    impatient.close()


@pytest.mark.parametrize("lock_timeout", [2.0, 60.0])
def test_a_planted_lock_claiming_a_huge_holder_ttl_is_not_believed(
    redis_server: RedisServer, r: redis.Redis, lock_timeout: float
) -> None:
    # Another writer's value: a heartbeat 61 s ago (by Redis's clock), a holder TTL of ~31,000
    # years, and a key TTL of a day. Judged with min(its TTL, our bound), it is stale.
    seconds, micros = r.time()
    beat = seconds * 1000 + micros // 1000 - 61_000
    name = f"eagle-id:lock:{KEY}"
    r.set(name, f"planted:{beat}:999999999999999", px=86_400_000)
    with RedisCache(redis_server.url, lock_timeout=lock_timeout) as cache:
        with cache.lock(KEY) as acquired:
            assert acquired is True  # taken over, not waited out and fetched without
            value = r.get(name)
            assert value is not None
            assert not value.startswith(b"planted:")
        assert r.exists(name) == 0


def test_a_live_holder_with_a_long_lock_timeout_is_not_taken_over(
    redis_server: RedisServer, r: redis.Redis
) -> None:
    # Its claimed TTL (1 h) is more than a waiter believes, but its heartbeat is recent.
    with RedisCache(redis_server.url, lock_timeout=3600) as holder, holder.lock(KEY) as held:
        assert held is True
        with RedisCache(redis_server.url, lock_timeout=0.05) as waiter, waiter.lock(KEY) as got:
            assert got is False
        assert r.get(f"eagle-id:lock:{KEY}") is not None


def test_kill_9_of_the_lock_holder_a_waiter_takes_over_when_it_expires(
    reference_server: LiveServer, redis_server: RedisServer, r: redis.Redis
) -> None:
    key = key_of(reference_server)
    before = reference_server.token_requests()
    with spawn("hold-lock", key, "--redis", redis_server.url, "--lock-timeout", "1") as (holder,):
        assert holder.line() == "locked"
        cache = RecordingRedisCache(redis_server.url, lock_timeout=20)
        got: list[str] = []
        client = TokenClient(
            reference_server.url, creds(reference_server), scope="openid", cache=cache
        )
        waiter = threading.Thread(target=lambda: got.append(client.get_token().access_token))
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive()  # waiting for the holder's lock
        assert got == []
        holder.kill9()
        waiter.join(60)
    assert not waiter.is_alive()
    assert cache.acquired == [True]  # it took the dead holder's lock after its PX ran out
    assert reference_server.token_requests() - before == 1
    stored = cache.get(key)
    assert stored is not None
    assert stored.access_token == got[0]
    assert_valid(stored, reference_server)
    client.close()
    cache.close()


def test_four_processes_on_a_cold_cache_make_one_request(
    reference_server: LiveServer, redis_server: RedisServer, r: redis.Redis
) -> None:
    before = reference_server.token_requests()
    with spawn(
        "storm",
        "--redis",
        redis_server.url,
        "--threads",
        "10",
        count=4,
        env=worker_env(reference_server, scope="openid email"),
    ) as workers:
        assert [w.line() for w in workers] == ["ready"] * 4
        for worker in workers:
            worker.send("go")
        results = [json.loads(w.line()) for w in workers]
        assert [w.process.wait(timeout=60) for w in workers] == [0] * 4
    assert [res["errors"] for res in results] == [[]] * 4
    hashes = {h for res in results for h in res["tokens"]}
    assert len(hashes) == 1
    assert reference_server.token_requests() - before == 1
    with RedisCache(redis_server.url) as cache:
        stored = cache.get(key_of(reference_server, "openid email"))
    assert stored is not None
    assert hashlib.sha256(stored.access_token.encode()).hexdigest() in hashes


def test_async_tasks_and_clients_share_one_token(
    reference_server: LiveServer, redis_server: RedisServer, r: redis.Redis
) -> None:
    before = reference_server.token_requests()

    async def storm() -> set[str]:
        async with (
            AsyncRedisCache(redis_server.url) as cache,
            AsyncTokenClient(
                reference_server.url, creds(reference_server), scope="openid", cache=cache
            ) as client,
        ):
            tokens = await asyncio.gather(*(client.get_token() for _ in range(50)))
        return {t.access_token for t in tokens}

    first = asyncio.run(storm())
    second = asyncio.run(storm())  # another client: adopts the token from Redis
    assert len(first) == 1
    assert first == second
    assert reference_server.token_requests() - before == 1


# --- Redis away -----------------------------------------------------------------------------


def test_redis_stopped_mid_run_callers_still_get_tokens(
    reference_server: LiveServer, own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    key = key_of(reference_server)
    cache = RedisCache(own_redis.url, outage_backoff=0)

    def client() -> TokenClient:
        return TokenClient(
            reference_server.url, creds(reference_server), scope="openid", cache=cache
        )

    with client() as c:
        first = c.get_token()
    assert cache.get(key) is not None

    own_redis.stop()
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        with client() as c:  # cold: Redis get, lock, get and set all fail
            during = c.get_token()
            fresh = c.fetch_token()
            assert c.invalidate() is True
        assert_valid(during, reference_server)
        assert_valid(fresh, reference_server)
        assert during.access_token != first.access_token  # fetched directly
        warnings = [rec for rec in caplog.records if rec.levelno == logging.WARNING]
        assert len(warnings) == 1  # one warning per outage, the rest at debug level
        assert "fetching tokens directly" in warnings[0].getMessage()
        for token in (first, during, fresh):
            assert token.access_token not in caplog.text
        assert reference_server.client_secret not in caplog.text

        own_redis.start()  # back on the same port: used again at once (outage_backoff=0)
        with client() as c:
            after = c.get_token()
        stored = cache.get(key)
        assert stored is not None
        assert stored.access_token == after.access_token
        assert "is back" in caplog.text
    cache.close()


def test_after_an_error_redis_is_left_alone_for_the_outage_backoff(
    own_redis: RedisServer,
) -> None:
    cache = RedisCache(own_redis.url, outage_backoff=3600)
    own_redis.stop()
    assert cache.get(KEY) is None  # fails: Redis is skipped from now on
    own_redis.start()
    with own_redis.client() as raw:
        raw.set(f"eagle-id:token:{KEY}", json.dumps(synthetic_token("SKIPPED").to_dict()))
    assert cache.get(KEY) is None  # not asked: still inside the backoff
    with cache.lock(KEY) as acquired:
        assert acquired is False
    with RedisCache(own_redis.url) as fresh:  # another cache object does see it
        got = fresh.get(KEY)
    assert got is not None
    assert got.access_token == "SKIPPED"
    cache.close()


def test_async_client_with_redis_away(reference_server: LiveServer) -> None:
    async def main() -> Token:
        async with (
            AsyncRedisCache("redis://127.0.0.1:1/0") as cache,
            AsyncTokenClient(
                reference_server.url, creds(reference_server), scope="openid", cache=cache
            ) as client,
        ):
            return await client.get_token()

    assert_valid(asyncio.run(main()), reference_server)


# --- secrets --------------------------------------------------------------------------------


def test_nothing_secret_in_any_redis_key_or_value(
    redis_server: RedisServer, r: redis.Redis
) -> None:
    with sentinel_server() as server, RedisCache(redis_server.url) as cache:
        key = cache_key(server.url, server.client_id, ["openid", "offline"])
        with TokenClient(server.url, creds(server), scope="openid offline", cache=cache) as c:
            token = c.get_token()
            assert_valid(token, server)
            with cache.lock(key):  # a lock key exists while we look
                names = list(r.scan_iter(match="*", count=100))
                assert len(names) == 2
                for name in names:
                    dumped = r.dump(name)
                    assert dumped is not None
                    for blob in (name, r.get(name) or b"", dumped):
                        for form in secret_forms(server.client_id, server.client_secret):
                            assert form not in blob
                stored = r.get(f"eagle-id:token:{key}")
                assert stored is not None
                assert token.access_token.encode() in stored  # we looked at the right thing


def test_the_documented_many_processes_snippet_runs(
    redis_server: RedisServer, r: redis.Redis, reference_server: LiveServer
) -> None:
    before = reference_server.token_requests()
    run_snippet(
        "many-processes",
        url=reference_server.url,
        creds=creds(reference_server),
        redis_url=redis_server.url,
    )
    # One fetch for the FileCache client, one for the Redis one; the token is in Redis.
    assert reference_server.token_requests() - before == 2
    key = cache_key(reference_server.url, reference_server.client_id, ["inspect"])
    assert r.get(f"eagle-id:token:{key}") is not None


# --- the fixture itself ---------------------------------------------------------------------


def test_no_redis_server_skips_locally_but_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    import redis_server as helper

    monkeypatch.setattr(helper.shutil, "which", lambda _name: None)
    monkeypatch.setattr(helper.os, "access", lambda _path, _mode: False)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        helper.redis_server_binary()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run"):
        helper.redis_server_binary()


def test_waiters_stop_waiting_once_the_holder_stores_a_token(
    reference_server: LiveServer,
    redis_server: RedisServer,
    r: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = key_of(reference_server)
    holder = RedisCache(redis_server.url, lock_timeout=60)
    waiting = RecordingRedisCache(redis_server.url, lock_timeout=60)
    before = reference_server.token_requests()
    with (
        caplog.at_level(logging.WARNING, logger=LOGGER),
        TokenClient(reference_server.url, creds(reference_server), scope="openid") as fetcher,
        TokenClient(
            reference_server.url, creds(reference_server), scope="openid", cache=waiting
        ) as client,
        holder.lock(key) as held,  # another host is fetching...
    ):
        assert held is True
        got: list[str] = []
        waiter = threading.Thread(target=lambda: got.append(client.get_token().access_token))
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive()  # ...so this one waits
        token = fetcher.get_token()
        holder.set(key, token)  # ...and stores its token, still holding the lock
        waiter.join(60)
        assert not waiter.is_alive()  # done before the lock was released
        assert r.exists(f"eagle-id:lock:{key}") == 1
    assert got == [token.access_token]
    assert waiting.acquired == [False]
    assert "fetching without it" not in caplog.text  # it did not time out
    assert reference_server.token_requests() - before == 1  # only the holder's fetch
    holder.close()
    waiting.close()


class _SlowExtend(redis.Redis):
    """A client whose first lock-extending call (the heartbeat's one command) takes 0.2 s."""

    slowed = False

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: object) -> object:  # type: ignore[override]
        if threading.current_thread().name == "eagle-id-lock-heartbeat" and not self.slowed:
            self.slowed = True
            threading.Event().wait(0.2)
        return super().evalsha(sha, numkeys, *keys_and_args)


def test_the_heartbeat_has_ended_when_the_lock_is_released(redis_server: RedisServer) -> None:
    # The holder's heartbeat may be inside a Redis call when the fetch ends; the lock is
    # released, and the caller may close the client, only once the heartbeat is over (a
    # heartbeat still running then died on a closed socket: an unhandled thread exception).
    client = _SlowExtend.from_url(redis_server.url)
    cache = RedisCache(client, lock_timeout=0.3)  # a beat every 0.1 s
    try:
        with cache.lock("heartbeat-race") as locked:
            assert locked
            threading.Event().wait(0.15)  # the first beat (at 0.1 s) is inside its slow call
        beating = [t for t in threading.enumerate() if t.name == "eagle-id-lock-heartbeat"]
        assert beating == []
    finally:
        client.close()
