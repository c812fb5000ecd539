"""Where tokens are kept between calls: the `TokenCache` protocol and `MemoryCache`.

Contract for implementations (MemoryCache here; FileCache in `_filecache.py`, RedisCache and
AsyncRedisCache in `_rediscache.py` follow it too):

* Keys are the strings `cache_key()` returns: 64 lowercase hex digits (a SHA-256 of base URL,
  client id and sorted scopes), safe as file names and Redis keys. Never derived from the secret.
* Values are `Token`s. A cache that leaves the process stores the entry format of
  `_entry.py` (`encode(token.to_entry())`: JSON, wall-clock times, no client secret) and
  rebuilds with `Token.from_entry(decode(raw))`, which checks every field; an entry that
  fails is a miss. It must keep `token.binding`: the client adopts a cached token only if
  its binding proves it was fetched with the same secret (see `_entry.verify`), so a cache
  that drops it always misses.
* `get(key)` returns the stored token or None. It may return an expired token (the client
  decides freshness) and returns None, rather than raising, for a missing, unreadable or
  corrupt entry. `set(key, token)` overwrites; a cache may drop the entry once
  `token.expires_at` has passed. `delete(key)` is idempotent.
* `lock(key)` returns a context manager that serialises token *fetches* for `key` across
  everything the cache spans (threads for MemoryCache, processes for FileCache, hosts for
  RedisCache). The client holds it only around "get again, fetch if still stale, set", never
  on the cached hot path, and never nests it. It should not block forever: a lock whose holder
  died must expire, and on timeout an implementation may simply proceed — the lock exists to
  make fetches single-flight, correctness does not depend on it.
* All methods are safe to call from many threads at once. Errors other than a lock timeout
  should propagate (the client reports them); a cache must not swallow a failed `set` silently.
  The shared caches log instead of raising when their store is away (an unwritable file for
  FileCache, an unreachable Redis for RedisCache): they are an optimisation, and a caller
  must still get its token by fetching directly.
* `AsyncTokenCache` is the same contract with coroutines (`aget`, `aset`, `adelete`) and an
  async context manager (`alock`), for `AsyncTokenClient`; it must not block the event loop.
  One class may implement both protocols, as MemoryCache does.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Protocol, runtime_checkable

from ._entry import cache_key
from ._token import Token

__all__ = ["DEFAULT_LOCK_TIMEOUT", "AsyncTokenCache", "MemoryCache", "TokenCache", "cache_key"]

#: Default seconds a shared cache's fetch lock is held for / waited on. Longer than one fetch
#: with the default RetryPolicy and timeout can take (total_timeout 30 s, then a last try of
#: up to 10 s per phase), so waiters never give up on a live holder and fetch alongside it.
DEFAULT_LOCK_TIMEOUT = 60.0


@runtime_checkable
class TokenCache(Protocol):
    """A synchronous token store shared by `TokenClient` instances (see the module docstring)."""

    def get(self, key: str) -> Token | None: ...

    def set(self, key: str, token: Token) -> None: ...

    def delete(self, key: str) -> None: ...

    def lock(self, key: str) -> AbstractContextManager[object]: ...


@runtime_checkable
class AsyncTokenCache(Protocol):
    """The asynchronous counterpart of `TokenCache`, used by `AsyncTokenClient`."""

    async def aget(self, key: str) -> Token | None: ...

    async def aset(self, key: str, token: Token) -> None: ...

    async def adelete(self, key: str) -> None: ...

    def alock(self, key: str) -> AbstractAsyncContextManager[object]: ...


class MemoryCache:
    """The default: a dict in this process. Implements `TokenCache` and `AsyncTokenCache`.

    `lock()` is a per-key threading lock, so several `TokenClient`s sharing one MemoryCache
    fetch once between them. `alock()` does not lock: each `AsyncTokenClient` already makes
    its fetches single-flight within its event loop, and a threading lock must not be held
    across an await.
    """

    def __init__(self) -> None:
        self._tokens: dict[str, Token] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryCache(<{len(self._tokens)} tokens>)"

    def get(self, key: str) -> Token | None:
        """The token stored under `key`, or None."""
        return self._tokens.get(key)

    def set(self, key: str, token: Token) -> None:
        """Store `token` under `key`."""
        self._tokens[key] = token

    def delete(self, key: str) -> None:
        """Forget `key` (no error when absent)."""
        self._tokens.pop(key, None)

    def lock(self, key: str) -> AbstractContextManager[object]:
        """A per-key lock serialising fetches between threads of this process."""
        with self._guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = threading.Lock()
        return lock

    async def aget(self, key: str) -> Token | None:
        """`get()` for `AsyncTokenClient`."""
        return self._tokens.get(key)

    async def aset(self, key: str, token: Token) -> None:
        """`set()` for `AsyncTokenClient`."""
        self._tokens[key] = token

    async def adelete(self, key: str) -> None:
        """`delete()` for `AsyncTokenClient`."""
        self._tokens.pop(key, None)

    def alock(self, key: str) -> AbstractAsyncContextManager[object]:
        """No lock (see the class docstring)."""
        return _no_lock()


@contextlib.asynccontextmanager
async def _no_lock() -> AsyncIterator[None]:
    yield
