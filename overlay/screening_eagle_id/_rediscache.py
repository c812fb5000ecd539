"""`RedisCache` / `AsyncRedisCache`: tokens shared by many hosts through Redis.

Needs the optional `redis` package (`pip install 'screening-eagle-id[redis]'`), imported only
when a Redis cache is built, so the client itself depends on httpx and attrs alone.

In Redis, under a prefix (default `eagle-id:`):

* `<prefix>token:<key>` -- the entry format of `_entry.py` (never the client secret; one that
  does not decode is a miss, replaced by the next fetch), with a TTL equal
  to the token's remaining lifetime, so Redis drops it when it expires.
* `<prefix>lock:<key>` -- the fetch lock: `<owner>:<Redis TIME, ms, of its last heartbeat>`,
  set if absent with a TTL of `lock_timeout`. While it fetches, the holder extends it every
  third of that (a heartbeat thread or task), so a long fetch keeps it and a crashed holder's
  lapses; a lock with no TTL, not a string, or no heartbeat for longer than `lock_timeout`
  is stale and taken over. Released only by its owner (a Lua compare-and-delete: a holder
  whose lock already expired must not delete its successor's). Waiters poll with short,
  growing sleeps, each poll one round trip that also reads the token entry: once the holder
  has stored a new token they stop waiting (without the lock) and read it, rather than
  queueing one by one behind the lock. The scripts and every decision are in
  `_rediscore.py`; the two classes here only carry its commands out.

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
import collections
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from functools import partial
from typing import TYPE_CHECKING, Any

from ._cache import DEFAULT_LOCK_TIMEOUT
from ._drive import adrive, drive
from ._effects import Sleep
from ._rediscore import Call, Pause, Pipeline, RedisCacheBase, RedisEffect, RunScript, queue
from ._token import Token

if TYPE_CHECKING:
    import redis
    import redis.asyncio

__all__ = ["AsyncRedisCache", "RedisCache"]

# Seconds a command may take before Redis counts as away (for caches built from a URL).
_SOCKET_TIMEOUT = 2.0


class RedisCache(RedisCacheBase):
    """Tokens shared by many hosts through Redis; implements `TokenCache` (for `TokenClient`).

    `url_or_client` is a `redis://` / `rediss://` / `unix://` URL (this cache then owns the
    connection pool: `close()` it) or a `redis.Redis` you own. `lock_timeout` is how long a
    fetch lock lives (and how long a waiter waits for it). Redis errors are logged and never
    reach the caller; after one, Redis is skipped for `outage_backoff` seconds (see the
    module docstring). Thread-safe.
    """

    def __init__(
        self,
        url_or_client: str | redis.Redis,
        *,
        prefix: str = "eagle-id:",
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        outage_backoff: float = 5.0,
    ) -> None:
        super().__init__(url_or_client, prefix, lock_timeout, outage_backoff)
        client: redis.Redis
        if isinstance(url_or_client, str):
            client = self._redis.Redis.from_url(
                url_or_client,
                socket_timeout=_SOCKET_TIMEOUT,
                socket_connect_timeout=_SOCKET_TIMEOUT,
            )
        elif isinstance(url_or_client, self._redis.Redis):
            client = url_or_client
        else:
            raise TypeError(
                "RedisCache takes a URL or a redis.Redis (use AsyncRedisCache with "
                f"redis.asyncio.Redis), not {type(url_or_client).__name__}"
            )
        self._use(client)

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
        beat = partial(drive, self._heartbeat(held), partial(self._beat, done))
        threading.Thread(target=beat, name="eagle-id-lock-heartbeat", daemon=True).start()
        try:
            yield True
        finally:
            done.set()
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
            case Pipeline(calls=calls):
                with self._client.pipeline(transaction=False) as pipe:
                    collections.deque(queue(pipe, calls, self._scripts), maxlen=0)
                    return pipe.execute()
            case Sleep(seconds=seconds):
                return time.sleep(seconds)

    def close(self) -> None:
        """Close the connection pool if this cache built it from a URL."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> RedisCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncRedisCache(RedisCacheBase):
    """`RedisCache` for `AsyncTokenClient`: implements `AsyncTokenCache` with
    `redis.asyncio`. Takes a URL or a `redis.asyncio.Redis`; like any asyncio Redis client,
    use it from one event loop."""

    def __init__(
        self,
        url_or_client: str | redis.asyncio.Redis,
        *,
        prefix: str = "eagle-id:",
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        outage_backoff: float = 5.0,
    ) -> None:
        super().__init__(url_or_client, prefix, lock_timeout, outage_backoff)
        client: redis.asyncio.Redis
        if isinstance(url_or_client, str):
            client = self._redis.asyncio.Redis.from_url(
                url_or_client,
                socket_timeout=_SOCKET_TIMEOUT,
                socket_connect_timeout=_SOCKET_TIMEOUT,
            )
        elif isinstance(url_or_client, self._redis.asyncio.Redis):
            client = url_or_client
        else:
            raise TypeError(
                "AsyncRedisCache takes a URL or a redis.asyncio.Redis (use RedisCache with "
                f"redis.Redis), not {type(url_or_client).__name__}"
            )
        self._use(client)

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
            case Pipeline(calls=calls):
                async with self._client.pipeline(transaction=False) as pipe:
                    for queued in queue(pipe, calls, self._scripts):
                        if isinstance(queued, Coroutine):  # a script: queued once awaited
                            await queued
                    return await pipe.execute()
            case Sleep(seconds=seconds):
                return await asyncio.sleep(seconds)

    async def aclose(self) -> None:
        """Close the connection pool if this cache built it from a URL."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> AsyncRedisCache:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
