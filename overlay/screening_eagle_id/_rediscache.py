"""`RedisCache` / `AsyncRedisCache`: tokens shared by many hosts through Redis.

Needs the optional `redis` package (`pip install 'screening-eagle-id[redis]'`), imported only
when a Redis cache is built, so the client itself depends on httpx and attrs alone.

In Redis, under a prefix (default `eagle-id:`):

* `<prefix>token:<key>` -- the entry format of `_entry.py` (never the client secret; one that
  does not decode is a miss, replaced by the next fetch), with a TTL equal
  to the token's remaining lifetime, so Redis drops it when it expires.
* `<prefix>lock:<key>` -- the fetch lock: `<owner>:<Redis TIME, ms, of its last heartbeat>`,
  set if absent with a TTL of `lock_timeout`. While it fetches, the holder extends it every
  third of that, at most every 10 s (a heartbeat thread or task), so a long fetch keeps it
  and a crashed holder's lapses; a lock with no TTL, not a string, or no heartbeat for longer
  than its holder's `lock_timeout` (believed up to max(ours, 30 s)) is stale and taken
  over. Released only by its owner (a Lua compare-and-delete: a holder whose lock already
  expired must not delete its successor's). Waiters poll with short,
  growing sleeps, each poll one round trip that also reads the token entry: once the holder
  has stored a new token they stop waiting (without the lock) and read it, rather than
  queueing one by one behind the lock. The scripts and every decision are in
  `_rediscore.py`; the two classes here only carry its commands out.

Redis Cluster: pass a `redis.cluster.RedisCluster` (`redis.asyncio.cluster.RedisCluster` for
`AsyncRedisCache`) or a `redis+cluster://host:port` URL (`rediss+cluster://` for TLS; any node
of the cluster will do). The key then carries a hash tag, `<prefix>token:{<key>}` and
`<prefix>lock:{<key>}`, so a token and its lock live in one hash slot: the lock's scripts
(which read the token entry too) touch a single node, and single flight holds as on one
Redis. A cluster client built from a URL connects on first use, not in the constructor, so a
cluster that is down at start-up is an outage like any other (below).

Redis being down, slow or failing never fails the caller: every Redis error is logged (a
warning once per outage, no secrets) and treated as a miss, a no-op `set`, or a lock that
is not held, so the client fetches from the token endpoint directly. After an error Redis
is left alone for `outage_backoff` seconds, so a hung server costs one socket timeout, not
one per call. This deliberately
departs from the `TokenCache` rule that errors propagate: a shared cache is an optimisation,
and an outage of it must not become an outage of every service that uses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from functools import partial
from typing import TYPE_CHECKING, Any

from ._cache import DEFAULT_LOCK_TIMEOUT
from ._drive import adrive, drive
from ._effects import Sleep
from ._rediscore import (
    Call,
    Pause,
    RedisCacheBase,
    RedisEffect,
    RunScript,
)
from ._redisurl import connector, is_cluster_url
from ._token import Token

if TYPE_CHECKING:
    import redis
    import redis.asyncio
    import redis.asyncio.cluster
    import redis.cluster

__all__ = ["AsyncRedisCache", "RedisCache"]


class RedisCache(RedisCacheBase):
    """Tokens shared by many hosts through Redis; implements `TokenCache` (for `TokenClient`).

    `url_or_client` is a `redis://` / `rediss://` / `unix://` URL, or `redis+cluster://` /
    `rediss+cluster://` for a Redis Cluster (this cache then owns the connection pool:
    `close()` it), or a `redis.Redis` or `redis.cluster.RedisCluster` you own.
    `lock_timeout` is how long a fetch lock lives (and how long a waiter waits for it). Redis
    errors are logged and never reach the caller; after one, Redis is skipped for
    `outage_backoff` seconds (see the module docstring). Thread-safe.
    """

    def __init__(
        self,
        url_or_client: str | redis.Redis | redis.cluster.RedisCluster,
        *,
        prefix: str = "eagle-id:",
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        outage_backoff: float = 5.0,
    ) -> None:
        super().__init__(url_or_client, prefix, lock_timeout, outage_backoff)
        if isinstance(url_or_client, str):
            self._connect = connector(self._redis, url_or_client)
            cluster = is_cluster_url(url_or_client)
            self._use(None if cluster else self._connect(), cluster)
        elif isinstance(url_or_client, self._redis.Redis | self._redis.cluster.RedisCluster):
            self._use(url_or_client, isinstance(url_or_client, self._redis.cluster.RedisCluster))
        else:
            raise TypeError(
                "RedisCache takes a URL, a redis.Redis or a redis.cluster.RedisCluster (use "
                f"AsyncRedisCache with redis.asyncio), not {type(url_or_client).__name__}"
            )

    def get(self, key: str) -> Token | None:
        """The token stored under `key`, or None (also when Redis is away)."""
        return drive(self._get(key), self._do)

    def set(self, key: str, token: Token) -> None:
        """Store `token` under `key` until it expires (nothing when Redis is away)."""
        drive(self._set(key, token), self._do)

    def delete(self, key: str) -> None:
        """Forget `key` (no error when absent or when Redis is away)."""
        drive(self._delete(key), self._do)

    def lock(self, key: str) -> AbstractContextManager[bool]:
        """Serialise token fetches for `key` across hosts; yields whether it was locked
        (False when the holder stored a token meanwhile, the wait timed out or Redis is
        away: the caller proceeds anyway, re-reading first)."""
        return self._lock(key)

    @contextlib.contextmanager
    def _lock(self, key: str) -> Iterator[bool]:
        held = drive(self._acquire(key), self._do)
        if not held.locked:
            yield False
            return
        done = threading.Event()

        def beat() -> None:
            try:
                drive(self._heartbeat(held), partial(self._beat, done))
            except Exception:
                # A beat cut short by the client closing after the holder was done (the
                # join below is bounded) changes nothing; before that, it is a bug to show.
                if not done.is_set():
                    raise

        heartbeat = threading.Thread(target=beat, name="eagle-id-lock-heartbeat", daemon=True)
        heartbeat.start()
        try:
            yield True
        finally:
            done.set()
            # The beat may be inside a Redis call: let it end before the lock is released
            # (and the caller closes the client under it), as the async one is awaited.
            heartbeat.join(held.ttl_ms / 1000)
            drive(self._unlock(held), self._do)

    def _beat(self, done: threading.Event, effect: RedisEffect | Pause) -> Any:
        return done.wait(effect.seconds) if isinstance(effect, Pause) else self._do(effect)

    def _do(self, effect: RedisEffect) -> Any:
        """Carry out one command, blocking."""
        match effect:
            case Call(method=method, args=args, kwargs=kwargs):
                return getattr(self._client, method)(*args, **kwargs)
            case RunScript(name=name, keys=keys, args=args):
                return self._scripts[name](keys=keys, args=args)
            case Sleep(seconds=seconds):
                return time.sleep(seconds)

    def close(self) -> None:
        """Close the connection pool if this cache built it from a URL."""
        if self._owns_client and self._client_instance is not None:
            self._client_instance.close()

    def __enter__(self) -> RedisCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncRedisCache(RedisCacheBase):
    """`RedisCache` for `AsyncTokenClient`: implements `AsyncTokenCache` with
    `redis.asyncio`. Takes a URL (cluster URLs too) or a `redis.asyncio.Redis` or
    `redis.asyncio.cluster.RedisCluster`; like any asyncio Redis client, use it from one
    event loop."""

    def __init__(
        self,
        url_or_client: str | redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster,
        *,
        prefix: str = "eagle-id:",
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        outage_backoff: float = 5.0,
    ) -> None:
        super().__init__(url_or_client, prefix, lock_timeout, outage_backoff)
        aio = self._redis.asyncio
        if isinstance(url_or_client, str):
            # redis.asyncio clients connect on first use anyway, cluster ones included.
            self._use(connector(aio, url_or_client)(), is_cluster_url(url_or_client))
        elif isinstance(url_or_client, aio.Redis | aio.cluster.RedisCluster):
            self._use(url_or_client, isinstance(url_or_client, aio.cluster.RedisCluster))
        else:
            raise TypeError(
                "AsyncRedisCache takes a URL, a redis.asyncio.Redis or a "
                "redis.asyncio.cluster.RedisCluster (use RedisCache with redis.Redis), "
                f"not {type(url_or_client).__name__}"
            )

    async def aget(self, key: str) -> Token | None:
        """The token stored under `key`, or None (also when Redis is away)."""
        return await adrive(self._get(key), self._do)

    async def aset(self, key: str, token: Token) -> None:
        """Store `token` under `key` until it expires (nothing when Redis is away)."""
        await adrive(self._set(key, token), self._do)

    async def adelete(self, key: str) -> None:
        """Forget `key` (no error when absent or when Redis is away)."""
        await adrive(self._delete(key), self._do)

    def alock(self, key: str) -> AbstractAsyncContextManager[bool]:
        """Serialise token fetches for `key` across hosts; yields whether it was locked."""
        return self._alock(key)

    @contextlib.asynccontextmanager
    async def _alock(self, key: str) -> AsyncIterator[bool]:
        held = await adrive(self._acquire(key), self._do)
        if not held.locked:
            yield False
            return
        beat = asyncio.ensure_future(adrive(self._heartbeat(held), self._beat))
        try:
            yield True
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            await adrive(self._unlock(held), self._do)

    async def _beat(self, effect: RedisEffect | Pause) -> Any:
        if isinstance(effect, Pause):
            await asyncio.sleep(effect.seconds)  # the holder being done cancels the task
            return False
        return await self._do(effect)

    async def _do(self, effect: RedisEffect) -> Any:
        """Carry out one command, awaited."""
        match effect:
            case Call(method=method, args=args, kwargs=kwargs):
                return await getattr(self._client, method)(*args, **kwargs)
            case RunScript(name=name, keys=keys, args=args):
                return await self._scripts[name](keys=keys, args=args)
            case Sleep(seconds=seconds):
                return await asyncio.sleep(seconds)

    async def aclose(self) -> None:
        """Close the connection pool if this cache built it from a URL."""
        if self._owns_client and self._client_instance is not None:
            await self._client_instance.aclose()

    async def __aenter__(self) -> AsyncRedisCache:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
