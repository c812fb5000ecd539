"""`RedisCache` / `AsyncRedisCache`: tokens shared by many hosts through Redis.

Needs the optional `redis` package (`pip install 'screening-eagle-id[redis]'`), imported only
when a Redis cache is built, so the client itself depends on httpx and attrs alone.

In Redis, under a prefix (default `eagle-id:`):

* `<prefix>token:<key>` -- the entry format of `_entry.py` (never the client secret; one that
  does not decode is a miss, replaced by the next fetch), with a TTL equal
  to the token's remaining lifetime, so Redis drops it when it expires.
* `<prefix>lock:<key>` -- the fetch lock: `SET NX PX` with a random owner value, expiring by
  itself after `lock_timeout` (a crashed holder never blocks anyone for longer), released
  only by its owner (a Lua compare-and-delete: a holder whose lock already expired must not
  delete its successor's). Waiters poll with short, growing sleeps, each poll one round trip
  that also reads the token entry: once the holder has stored a new token they stop waiting
  (without the lock) and read it, rather than queueing one by one behind the lock.

Redis Cluster: pass a `redis.cluster.RedisCluster` (`redis.asyncio.cluster.RedisCluster` for
`AsyncRedisCache`) or a `redis+cluster://host:port` URL (`rediss+cluster://` for TLS; any node
of the cluster will do). The key then carries a hash tag, `<prefix>token:{<key>}` and
`<prefix>lock:{<key>}`, so a token and its lock live in one hash slot: the lock scripts touch
a single node, and single flight holds as on one Redis. A cluster
client built from a URL connects on first use, not in the constructor, so a cluster that is
down at start-up is an outage like any other (below).

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
import functools
import logging
import random
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from ._cache import DEFAULT_LOCK_TIMEOUT
from ._entry import MAX_ENTRY_BYTES, EntryError
from ._entry import decode as decode_entry
from ._entry import encode as encode_entry
from ._exceptions import ConfigurationError
from ._token import Token

if TYPE_CHECKING:
    import redis
    import redis.asyncio
    import redis.asyncio.cluster
    import redis.cluster

__all__ = ["AsyncRedisCache", "RedisCache"]

logger = logging.getLogger("screening_eagle_id")

# The lock's value is "<owner>:<Redis TIME in ms of the last heartbeat>:<holder's TTL in ms>".
# Redis's own clock, so every host measures a lock's age alike; the holder's own TTL, so a
# waiter with a shorter lock_timeout does not take over a lock whose holder is alive.
_NOW_MS = """
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""
# Takes the lock if free, or if stale: not a string, no TTL, no heartbeat for longer than
# the holder's TTL, or a foreign value with a TTL longer than ours (ARGV[2] ms). Returns
# {1 if taken else 0, the token entry KEYS[2] (bytes 0..ARGV[3]) or nil}: one round trip, one
# script (a cluster refuses scripts in pipelines; both keys share a hash slot there).
_ACQUIRE = (
    _NOW_MS
    + """
local ttl = tonumber(ARGV[2])
local value = ARGV[1] .. ':' .. now .. ':' .. ttl
local locked = 0
if redis.call('set', KEYS[1], value, 'NX', 'PX', ttl) then
    locked = 1
else
    local stale = redis.call('type', KEYS[1]).ok ~= 'string'
    if not stale then
        local pttl = redis.call('pttl', KEYS[1])
        local beat, held = string.match(redis.call('get', KEYS[1]), ':(%d+):(%d+)$')
        beat, held = tonumber(beat or ''), tonumber(held or '')
        if beat ~= nil and held ~= nil then
            stale = pttl == -1 or now - beat > held
        else
            stale = pttl == -1 or pttl > ttl
        end
    end
    if stale then
        redis.call('set', KEYS[1], value, 'PX', ttl)
        locked = 1
    end
end
local entry = false
if redis.call('type', KEYS[2]).ok == 'string' then
    entry = redis.call('getrange', KEYS[2], 0, tonumber(ARGV[3]))
end
return {locked, entry}
"""
)
# The holder's heartbeat: renews TTL and timestamp, only while the lock is still ours.
_EXTEND = (
    _NOW_MS
    + """
local held = redis.call('get', KEYS[1])
if held and string.sub(held, 1, #ARGV[1] + 1) == ARGV[1] .. ':' then
    redis.call('set', KEYS[1], ARGV[1] .. ':' .. now .. ':' .. ARGV[2], 'PX', tonumber(ARGV[2]))
    return 1
end
return 0
"""
)
# Deletes the lock only if it is still ours (atomic in Redis).
_RELEASE = """
local held = redis.call('get', KEYS[1])
if held and string.sub(held, 1, #ARGV[1] + 1) == ARGV[1] .. ':' then
    return redis.call('del', KEYS[1])
end
return 0
"""
# Lock polling: start fast, back off to _POLL_MAX, with jitter so waiters don't move in step.
_POLL_FIRST, _POLL_MAX = 0.005, 0.1
# Seconds a command may take before Redis counts as away (for caches built from a URL).
_SOCKET_TIMEOUT = 2.0
# URL schemes that mean "a Redis Cluster", and the scheme redis-py's cluster client expects.
_CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def _import_redis() -> ModuleType:
    try:
        import redis
        import redis.asyncio
    except ImportError:
        raise ConfigurationError(
            "RedisCache needs the 'redis' package: pip install 'screening-eagle-id[redis]'"
        ) from None
    return redis


def _public_url(url: str) -> str:
    """The URL for repr and logs: no password (userinfo masked) and no query or fragment,
    which may carry one too (redis-py reads `?password=`)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        if parts.port is not None:
            host = f"{host}:{parts.port}"
    except ValueError:  # a malformed netloc or port: show nothing of it
        return "<unparseable Redis URL>"
    user = parts.username or ""
    if parts.password is not None:
        user += ":***"
    netloc = f"{user}@{host}" if user else host
    public = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return public + ("?***" if parts.query or parts.fragment else "")


def _secrets_of(url: str) -> list[str]:
    """Every password the URL carries (userinfo and query), to scrub from error messages."""
    try:
        parts = urlsplit(url)
        found = [parts.password or ""]
        found += [v for k, vs in parse_qs(parts.query).items() if "password" in k for v in vs]
    except ValueError:
        return []
    return sorted({f for f in found if f} | {unquote(f) for f in found if f}, key=len, reverse=True)


def _connector(module: ModuleType, url: str) -> Callable[[], Any]:
    """Builds the client for `url`: a cluster client for a `redis+cluster://` URL, else a
    plain one (`module` is `redis` or `redis.asyncio`)."""
    scheme, _, rest = url.partition("://")
    cluster_scheme = _CLUSTER_SCHEMES.get(scheme.lower())
    options = {"socket_timeout": _SOCKET_TIMEOUT, "socket_connect_timeout": _SOCKET_TIMEOUT}
    if cluster_scheme is None:
        return functools.partial(module.Redis.from_url, url, **options)
    return functools.partial(
        module.cluster.RedisCluster.from_url, f"{cluster_scheme}://{rest}", **options
    )


def _is_cluster_url(url: str) -> bool:
    return url.partition("://")[0].lower() in _CLUSTER_SCHEMES


class _RedisCacheBase:
    """Key names, (de)serialisation and outage logging shared by the sync and async caches."""

    def __init__(
        self, url_or_client: object, prefix: str, lock_timeout: float, outage_backoff: float
    ) -> None:
        self._redis = _import_redis()
        self._errors: tuple[type[BaseException], ...] = (
            self._redis.exceptions.RedisError,
            # Not a RedisError: raised by cluster clients when no node answers.
            self._redis.exceptions.RedisClusterException,
            OSError,
        )
        self._prefix = prefix
        self._lock_timeout = lock_timeout
        self._owns_client = isinstance(url_or_client, str)
        self._secrets: list[str] = []
        if isinstance(url_or_client, str):
            self._where = _public_url(url_or_client)
            self._secrets = _secrets_of(url_or_client)
            self._check_url(url_or_client)
        else:
            self._where = f"<{type(url_or_client).__name__}>"
        self._down = False
        self._down_guard = threading.Lock()
        self._outage_backoff = outage_backoff
        self._skip_until = 0.0  # monotonic; Redis is not tried before this
        self._client_instance: Any = None
        self._connect: Callable[[], Any] | None = None
        self._connect_guard = threading.Lock()
        self._tag = ("", "")

    def _use(self, client: Any, cluster: bool) -> None:
        """Use `client` (or build it on first use from the `_connect` callable when None)."""
        self._client_instance = client
        if client is not None:
            self._register(client)
        if cluster:
            if "{" in self._prefix or "}" in self._prefix:
                raise ConfigurationError(
                    f"prefix {self._prefix!r} must not contain braces with Redis Cluster: "
                    "they would change the hash slot of the token and lock keys"
                )
            self._tag = ("{", "}")

    def _register(self, client: Any) -> None:
        self._acquire = client.register_script(_ACQUIRE)
        self._extend = client.register_script(_EXTEND)
        self._release = client.register_script(_RELEASE)

    @property
    def _client(self) -> Any:
        """The Redis client; one built from a cluster URL connects here, on first use."""
        client = self._client_instance
        if client is None:
            with self._connect_guard:
                if self._client_instance is None:
                    assert self._connect is not None
                    client = self._connect()
                    self._register(client)
                    self._client_instance = client
                client = self._client_instance
        return client

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._where!r}, prefix={self._prefix!r})"

    def _check_url(self, url: str) -> None:
        """Refuse a malformed URL here, with a clear error (never echoing its password),
        rather than when the first command runs (a cluster client connects only then)."""
        scheme, _, rest = url.partition("://")
        cluster_scheme = _CLUSTER_SCHEMES.get(scheme.lower())
        try:
            options = self._redis.connection.parse_url(f"{cluster_scheme or scheme}://{rest}")
        except ValueError as exc:
            message = str(exc)
            for secret in self._secrets:
                message = message.replace(secret, "***")
            if "scheme" in message:
                message += "; for a Redis Cluster: redis+cluster:// or rediss+cluster://"
            raise ConfigurationError(f"Redis URL {self._where!r} is not valid: {message}") from None
        if cluster_scheme is not None and not options.get("host"):
            raise ConfigurationError(
                f"Redis URL {self._where!r}: a {scheme}:// URL needs the host:port of a node"
            )

    def _token_key(self, key: str) -> str:
        return f"{self._prefix}token:{self._tag[0]}{key}{self._tag[1]}"

    def _lock_key(self, key: str) -> str:
        return f"{self._prefix}lock:{self._tag[0]}{key}{self._tag[1]}"

    def _decode(self, key: str, raw: Any) -> Token | None:
        # Read with GETRANGE (at most MAX_ENTRY_BYTES + 1 bytes, never a 64 MiB planted value):
        # a missing key reads as empty.
        if not raw:
            return None
        try:
            return Token.from_entry(decode_entry(raw))
        except EntryError as exc:  # the reason never holds the content
            logger.warning(
                "token cache: ignoring the Redis entry for %s…: not a cached token (%s); "
                "it will be replaced",
                key[:12],
                exc,
            )
            return None

    @staticmethod
    def _encode(token: Token) -> tuple[str, int]:
        """The value to store and its TTL in milliseconds (<= 0: already expired)."""
        ttl_ms = int((token.expires_at.timestamp() - time.time()) * 1000)
        return encode_entry(token.to_entry()).decode(), ttl_ms

    def _skipping(self) -> bool:
        return self._down and time.monotonic() < self._skip_until

    def _failed(self, what: str, exc: BaseException) -> None:
        self._skip_until = time.monotonic() + self._outage_backoff
        message = f"{type(exc).__name__}: {exc}"
        for secret in self._secrets:
            message = message.replace(secret, "***")
        with self._down_guard:
            first, self._down = not self._down, True
        if first:
            logger.warning(
                "token cache: Redis at %s failed (%s, during %s); fetching tokens directly "
                "until it is back",
                self._where,
                message,
                what,
            )
        else:
            logger.debug("token cache: Redis still failing (%s, during %s)", message, what)

    def _ok(self) -> None:
        if self._down:
            with self._down_guard:
                was_down, self._down = self._down, False
            if was_down:
                logger.info("token cache: Redis at %s is back", self._where)

    def _lock_timed_out(self, key: str) -> None:
        logger.warning(
            "token cache: Redis lock for %s… still held after %.1f s; fetching without it",
            key[:12],
            self._lock_timeout,
        )

    @staticmethod
    def _stored_meanwhile(first: bool, seen: object, entry: object) -> bool:
        """While we waited, the lock holder stored a (new) token: read it, stop waiting."""
        return not first and entry is not None and entry != seen

    def _wait_budget(self) -> float:
        # A little past the lock's own expiry, so a crashed holder's lock is taken over
        # (and the fetch stays single-flight) rather than ignored by every waiter at once.
        return self._lock_timeout + 2 * _POLL_MAX


class RedisCache(_RedisCacheBase):
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
            self._connect = _connector(self._redis, url_or_client)
            cluster = _is_cluster_url(url_or_client)
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
        if self._skipping():
            return None
        try:
            raw = self._client.getrange(self._token_key(key), 0, MAX_ENTRY_BYTES)
        except self._errors as exc:
            self._failed("get", exc)
            return None
        self._ok()
        return self._decode(key, raw)

    def set(self, key: str, token: Token) -> None:
        """Store `token` under `key` until it expires (nothing when Redis is away)."""
        if self._skipping():
            return
        value, ttl_ms = self._encode(token)
        try:
            if ttl_ms > 0:
                self._client.set(self._token_key(key), value, px=ttl_ms)
            else:
                self._client.delete(self._token_key(key))
        except self._errors as exc:
            self._failed("set", exc)
            return
        self._ok()

    def delete(self, key: str) -> None:
        """Forget `key` (no error when absent or when Redis is away)."""
        if self._skipping():
            return
        try:
            self._client.delete(self._token_key(key))
        except self._errors as exc:
            self._failed("delete", exc)
            return
        self._ok()

    def lock(self, key: str) -> AbstractContextManager[bool]:
        """Serialise token fetches for `key` across hosts; yields whether it was locked
        (False when the holder stored a token meanwhile, the wait timed out or Redis is
        away: the caller proceeds anyway, re-reading first)."""
        return self._lock(key)

    @contextlib.contextmanager
    def _lock(self, key: str) -> Iterator[bool]:
        name, owner = self._lock_key(key), secrets.token_hex(16)
        ttl_ms = max(1, int(self._lock_timeout * 1000))
        deadline = time.monotonic() + self._wait_budget()
        delay = _POLL_FIRST
        acquired, first, seen = False, True, None
        while not self._skipping():
            try:
                client = self._client  # built on first use from a cluster URL, with the scripts
                locked, entry = self._acquire(
                    keys=[name, self._token_key(key)],
                    args=[owner, ttl_ms, MAX_ENTRY_BYTES],
                    client=client,
                )
            except self._errors as exc:
                self._failed("lock", exc)
                break
            self._ok()
            acquired, entry = bool(locked), entry or None
            if acquired or self._stored_meanwhile(first, seen, entry):
                break
            first, seen = False, entry
            if time.monotonic() >= deadline:
                self._lock_timed_out(key)
                break
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, _POLL_MAX)
        beat = self._heartbeat(name, owner, ttl_ms) if acquired else None
        try:
            yield acquired
        finally:
            if beat is not None:
                beat.set()
            if acquired:
                try:
                    self._release(keys=[name], args=[owner])
                except self._errors as exc:
                    self._failed("unlock", exc)  # it expires by itself

    def _heartbeat(self, name: str, owner: str, ttl_ms: int) -> threading.Event:
        """Extend the held lock every third of its TTL until the returned event is set: a
        fetch longer than `lock_timeout` keeps it, a crashed holder's lapses."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(ttl_ms / 3000):
                try:
                    if not self._extend(keys=[name], args=[owner, ttl_ms]):
                        return  # no longer ours
                except self._errors as exc:
                    self._failed("lock heartbeat", exc)
                    return

        threading.Thread(target=beat, name="eagle-id-lock-heartbeat", daemon=True).start()
        return stop

    def close(self) -> None:
        """Close the connection pool if this cache built it from a URL."""
        if self._owns_client and self._client_instance is not None:
            self._client_instance.close()

    def __enter__(self) -> RedisCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncRedisCache(_RedisCacheBase):
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
            self._use(_connector(aio, url_or_client)(), _is_cluster_url(url_or_client))
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
        if self._skipping():
            return None
        try:
            raw = await self._client.getrange(self._token_key(key), 0, MAX_ENTRY_BYTES)
        except self._errors as exc:
            self._failed("get", exc)
            return None
        self._ok()
        return self._decode(key, raw)

    async def aset(self, key: str, token: Token) -> None:
        """Store `token` under `key` until it expires (nothing when Redis is away)."""
        if self._skipping():
            return
        value, ttl_ms = self._encode(token)
        try:
            if ttl_ms > 0:
                await self._client.set(self._token_key(key), value, px=ttl_ms)
            else:
                await self._client.delete(self._token_key(key))
        except self._errors as exc:
            self._failed("set", exc)
            return
        self._ok()

    async def adelete(self, key: str) -> None:
        """Forget `key` (no error when absent or when Redis is away)."""
        if self._skipping():
            return
        try:
            await self._client.delete(self._token_key(key))
        except self._errors as exc:
            self._failed("delete", exc)
            return
        self._ok()

    def alock(self, key: str) -> AbstractAsyncContextManager[bool]:
        """Serialise token fetches for `key` across hosts; yields whether it was locked."""
        return self._alock(key)

    @contextlib.asynccontextmanager
    async def _alock(self, key: str) -> AsyncIterator[bool]:
        name, owner = self._lock_key(key), secrets.token_hex(16)
        ttl_ms = max(1, int(self._lock_timeout * 1000))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait_budget()
        delay = _POLL_FIRST
        acquired, first, seen = False, True, None
        while not self._skipping():
            try:
                client = self._client  # built on first use from a cluster URL, with the scripts
                locked, entry = await self._acquire(
                    keys=[name, self._token_key(key)],
                    args=[owner, ttl_ms, MAX_ENTRY_BYTES],
                    client=client,
                )
            except self._errors as exc:
                self._failed("lock", exc)
                break
            self._ok()
            acquired, entry = bool(locked), entry or None
            if acquired or self._stored_meanwhile(first, seen, entry):
                break
            first, seen = False, entry
            if loop.time() >= deadline:
                self._lock_timed_out(key)
                break
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, _POLL_MAX)
        beat = asyncio.ensure_future(self._aheartbeat(name, owner, ttl_ms)) if acquired else None
        try:
            yield acquired
        finally:
            if beat is not None:
                beat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beat
            if acquired:
                try:
                    await self._release(keys=[name], args=[owner])
                except self._errors as exc:
                    self._failed("unlock", exc)

    async def _aheartbeat(self, name: str, owner: str, ttl_ms: int) -> None:
        """`RedisCache._heartbeat` as a task: extends the held lock until cancelled."""
        while True:
            await asyncio.sleep(ttl_ms / 3000)
            try:
                if not await self._extend(keys=[name], args=[owner, ttl_ms]):
                    return
            except self._errors as exc:
                self._failed("lock heartbeat", exc)
                return

    async def aclose(self) -> None:
        """Close the connection pool if this cache built it from a URL."""
        if self._owns_client and self._client_instance is not None:
            await self._client_instance.aclose()

    async def __aenter__(self) -> AsyncRedisCache:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
