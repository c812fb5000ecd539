"""The Redis caches without I/O: key names, entries, outage handling, and every operation as
a generator of Redis commands (`Call`, `RunScript`, `Sleep`, the heartbeat's `Pause`), so that
`RedisCache` and `AsyncRedisCache` (`_rediscache.py`, which describes what is stored) only
carry the commands out, blocking or awaited."""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from attrs import frozen

from ._drive import Flow
from ._effects import Sleep
from ._entry import MAX_ENTRY_BYTES, EntryError
from ._entry import decode as decode_entry
from ._entry import encode as encode_entry
from ._exceptions import ConfigurationError
from ._lockwait import Attempt, Outcome, wait_for_lock
from ._redisurl import check_url, import_redis, public_url, secrets_of
from ._token import Token

__all__ = [
    "SCRIPTS",
    "Call",
    "Command",
    "Held",
    "Pause",
    "RedisCacheBase",
    "RedisEffect",
    "RunScript",
]

logger = logging.getLogger("screening_eagle_id")

# Lock polling: start fast, back off to _POLL_MAX, with jitter so waiters don't move in step.
_POLL_FIRST, _POLL_MAX = 0.005, 0.1


# The lock's value is "<owner>:<Redis TIME in ms of the last heartbeat>:<holder's TTL in ms>".
# Redis's own clock, so every host measures a lock's age alike; the holder's own TTL, so a
# waiter with a shorter lock_timeout does not take over a lock whose holder is alive. But a
# claimed TTL is believed only up to the waiter's own bound, max(its lock_timeout,
# _TRUSTED_HOLDER_S): a value planted by another writer (`x:<a minute ago>:999999999999999`)
# would otherwise hold every cold fetch for a whole lock_timeout. A live holder beats at
# least every _BEAT_MAX_S (< a third of the bound), so it is never taken over for it.
_BEAT_MAX_S = 10.0
_TRUSTED_HOLDER_S = 3 * _BEAT_MAX_S
_NOW_MS = """
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""
# Takes the lock if free, or if stale: not a string, no TTL, no heartbeat for longer than
# min(the holder's TTL, our bound ARGV[4] ms), or a foreign value with a TTL longer than ours
# (ARGV[2] ms). Returns
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
            stale = pttl == -1 or now - beat > math.min(held, tonumber(ARGV[4]))
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
SCRIPTS = {"acquire": _ACQUIRE, "extend": _EXTEND, "release": _RELEASE}


class Call:
    """One Redis command: `client.<method>(*args, **kwargs)`."""

    __slots__ = ("args", "kwargs", "method")

    def __init__(self, method: str, *args: object, **kwargs: object) -> None:
        self.method, self.args, self.kwargs = method, args, kwargs


@frozen
class RunScript:
    """One of `SCRIPTS`, by name, on `keys` with `args`. Result: the script's."""

    name: str
    keys: tuple[str, ...]
    args: tuple[object, ...]


@frozen
class Pause:
    """The lock heartbeat's wait: `seconds`, unless the holder is done first. Result: done?"""

    seconds: float


class Held(NamedTuple):
    """A fetch lock waited for: its key, our owner value, its TTL, and whether we hold it."""

    name: str
    owner: str
    ttl_ms: int
    locked: bool


Command = Call | RunScript
RedisEffect = Command | Sleep
_AWAY = object()  # a command's result when Redis is skipped or failed


class RedisCacheBase:
    """Key names, (de)serialisation and outage logging shared by the sync and async caches."""

    def __init__(
        self, url_or_client: object, prefix: str, lock_timeout: float, outage_backoff: float
    ) -> None:
        self._redis = import_redis()
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
            self._where = public_url(url_or_client)
            self._secrets = secrets_of(url_or_client)
            self._check_url(url_or_client)
        else:
            self._where = f"<{type(url_or_client).__name__}>"
        self._down = False
        self._down_guard = threading.Lock()
        self._outage_backoff = outage_backoff
        self._skip_until = 0.0  # monotonic; Redis is not tried before this
        self._client_instance: Any = None
        self._script_instances: dict[str, Any] = {}
        self._connect: Callable[[], Any] | None = None
        self._connect_guard = threading.Lock()
        self._tag = ("", "")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._where!r}, prefix={self._prefix!r})"

    def _use(self, client: Any, cluster: bool) -> None:
        """Use `client` (or build it on first use from the `_connect` callable when None)."""
        if client is not None:
            self._attach(client)
        if cluster:
            if "{" in self._prefix or "}" in self._prefix:
                raise ConfigurationError(
                    f"prefix {self._prefix!r} must not contain braces with Redis Cluster: "
                    "they would change the hash slot of the token and lock keys"
                )
            self._tag = ("{", "}")

    def _attach(self, client: Any) -> None:
        self._script_instances = {n: client.register_script(src) for n, src in SCRIPTS.items()}
        self._client_instance = client

    @property
    def _client(self) -> Any:
        """The Redis client; one built from a cluster URL connects here, on first use."""
        client = self._client_instance
        if client is None:
            with self._connect_guard:
                if self._client_instance is None:
                    assert self._connect is not None
                    self._attach(self._connect())
                client = self._client_instance
        return client

    @property
    def _scripts(self) -> dict[str, Any]:
        """`SCRIPTS` registered with the client (connecting it first if need be)."""
        self._client  # noqa: B018 - connects a client built from a cluster URL
        return self._script_instances

    def _check_url(self, url: str) -> None:
        check_url(self._redis, url, self._where, self._secrets)

    def _token_key(self, key: str) -> str:
        return f"{self._prefix}token:{self._tag[0]}{key}{self._tag[1]}"

    def _lock_key(self, key: str) -> str:
        return f"{self._prefix}lock:{self._tag[0]}{key}{self._tag[1]}"

    def _decode(self, key: str, raw: Any) -> Token | None:
        if not raw:  # GETRANGE reads a missing key as empty
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

    # -- every operation as a generator of Redis commands, driven blocking or awaited --------

    def _guarded(self, what: str, command: Command) -> Flow[RedisEffect, Any]:
        """One command; `_AWAY` when Redis is skipped or fails (logged, never raised)."""
        if self._skipping():
            return _AWAY
        try:
            result = yield command
        except self._errors as exc:
            self._failed(what, exc)
            return _AWAY
        self._ok()
        return result

    def _get(self, key: str) -> Flow[RedisEffect, Token | None]:
        # GETRANGE reads at most MAX_ENTRY_BYTES + 1 bytes, never a 64 MiB planted value.
        read = Call("getrange", self._token_key(key), 0, MAX_ENTRY_BYTES)
        raw = yield from self._guarded("get", read)
        return None if raw is _AWAY else self._decode(key, raw)

    def _set(self, key: str, token: Token) -> Flow[RedisEffect, None]:
        value, ttl_ms = self._encode(token)
        name = self._token_key(key)
        if ttl_ms > 0:
            yield from self._guarded("set", Call("set", name, value, px=ttl_ms))
        else:
            yield from self._guarded("set", Call("delete", name))

    def _delete(self, key: str) -> Flow[RedisEffect, None]:
        yield from self._guarded("delete", Call("delete", self._token_key(key)))

    def _acquire(self, key: str) -> Flow[RedisEffect, Held]:
        """Wait for the fetch lock, taking over a stale one (see `_ACQUIRE`)."""
        name, owner = self._lock_key(key), secrets.token_hex(16)
        ttl_ms = max(1, int(self._lock_timeout * 1000))
        bound_ms = max(ttl_ms, int(_TRUSTED_HOLDER_S * 1000))
        try_lock = RunScript(
            "acquire", (name, self._token_key(key)), (owner, ttl_ms, MAX_ENTRY_BYTES, bound_ms)
        )

        def probe() -> Flow[RedisEffect, Attempt | None]:
            result = yield from self._guarded("lock", try_lock)
            return None if result is _AWAY else Attempt(bool(result[0]), result[1] or None)

        outcome = yield from wait_for_lock(
            probe,
            timeout=self._wait_budget(),
            first=_POLL_FIRST,
            cap=_POLL_MAX,
            clock=time.monotonic,
            rand=random.random,
        )
        if outcome is Outcome.TIMED_OUT:
            self._lock_timed_out(key)
        return Held(name, owner, ttl_ms, outcome is Outcome.LOCKED)

    def _heartbeat(self, held: Held) -> Flow[RedisEffect | Pause, None]:
        """While the holder fetches, extend its lock every third of its TTL (at most every
        _BEAT_MAX_S): a fetch longer than `lock_timeout` keeps it, a crashed holder's lapses.
        Ends when the holder is done (a `Pause` answers True) or the lock is no longer ours."""
        extend = RunScript("extend", (held.name,), (held.owner, held.ttl_ms))
        while not (yield Pause(min(held.ttl_ms / 3000, _BEAT_MAX_S))):
            extended = yield from self._guarded("lock heartbeat", extend)
            if extended is _AWAY or not extended:
                return

    def _unlock(self, held: Held) -> Flow[RedisEffect, None]:
        release = RunScript("release", (held.name,), (held.owner,))
        yield from self._guarded("unlock", release)  # else it expires by itself

    def _wait_budget(self) -> float:
        # A little past the lock's own expiry, so a crashed holder's lock is taken over
        # (and the fetch stays single-flight) rather than ignored by every waiter at once.
        return self._lock_timeout + 2 * _POLL_MAX
