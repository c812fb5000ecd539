"""The Redis caches without I/O: key names, entries, outage handling, and every operation as
a generator of Redis commands (`Call`, `Pipeline`, `ReleaseLock`, `Sleep`), so that
`RedisCache` and `AsyncRedisCache` (`_rediscache.py`, which describes what is stored) only
carry the commands out, blocking or awaited."""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from attrs import frozen

from ._drive import Flow
from ._effects import Sleep
from ._entry import EntryError
from ._entry import decode as decode_entry
from ._entry import encode as encode_entry
from ._exceptions import ConfigurationError
from ._lockwait import Attempt, Outcome, wait_for_lock
from ._token import Token

__all__ = ["Call", "Command", "Pipeline", "RedisCacheBase", "RedisEffect", "ReleaseLock", "queued"]

logger = logging.getLogger("screening_eagle_id")

# Lock polling: start fast, back off to _POLL_MAX, with jitter so waiters don't move in step.
_POLL_FIRST, _POLL_MAX = 0.005, 0.1


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


class Call:
    """One Redis command: `<client or pipeline>.<method>(*args, **kwargs)`."""

    __slots__ = ("args", "kwargs", "method")

    def __init__(self, method: str, *args: object, **kwargs: object) -> None:
        self.method, self.args, self.kwargs = method, args, kwargs


@frozen
class Pipeline:
    """Commands sent in one round trip (no transaction). Result: their results."""

    calls: tuple[Call, ...]


@frozen
class ReleaseLock:
    """The compare-and-delete script on lock `name` for `owner`."""

    name: str
    owner: str


Command = Call | Pipeline | ReleaseLock
RedisEffect = Command | Sleep
_AWAY = object()  # a command's result when Redis is skipped or failed


def queued(pipe: Any, calls: tuple[Call, ...]) -> Any:
    """`pipe` with `calls` queued on it."""
    for call in calls:
        getattr(pipe, call.method)(*call.args, **call.kwargs)
    return pipe


class RedisCacheBase:
    """Key names, (de)serialisation and outage logging shared by the sync and async caches."""

    def __init__(
        self, url_or_client: object, prefix: str, lock_timeout: float, outage_backoff: float
    ) -> None:
        self._redis = _import_redis()
        self._errors: tuple[type[BaseException], ...] = (
            self._redis.exceptions.RedisError,
            OSError,
        )
        self._prefix = prefix
        self._lock_timeout = lock_timeout
        self._owns_client = isinstance(url_or_client, str)
        self._secrets: list[str] = []
        if isinstance(url_or_client, str):
            self._where = _public_url(url_or_client)
            self._secrets = _secrets_of(url_or_client)
        else:
            self._where = f"<{type(url_or_client).__name__}>"
        self._down = False
        self._down_guard = threading.Lock()
        self._outage_backoff = outage_backoff
        self._skip_until = 0.0  # monotonic; Redis is not tried before this

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._where!r}, prefix={self._prefix!r})"

    def _token_key(self, key: str) -> str:
        return f"{self._prefix}token:{key}"

    def _lock_key(self, key: str) -> str:
        return f"{self._prefix}lock:{key}"

    def _decode(self, key: str, raw: Any) -> Token | None:
        if raw is None:
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
        raw = yield from self._guarded("get", Call("get", self._token_key(key)))
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

    def _acquire(self, key: str) -> Flow[RedisEffect | Sleep, tuple[str, str, bool]]:
        """Wait for the fetch lock: (lock name, our owner value, whether we hold it)."""
        name, owner = self._lock_key(key), secrets.token_hex(16)
        ttl_ms = max(1, int(self._lock_timeout * 1000))
        try_lock = Pipeline(
            (Call("set", name, owner, nx=True, px=ttl_ms), Call("get", self._token_key(key)))
        )

        def probe() -> Flow[RedisEffect, Attempt | None]:
            result = yield from self._guarded("lock", try_lock)
            return None if result is _AWAY else Attempt(bool(result[0]), result[1])

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
        return name, owner, outcome is Outcome.LOCKED

    def _unlock(self, name: str, owner: str) -> Flow[RedisEffect, None]:
        yield from self._guarded("unlock", ReleaseLock(name, owner))  # else it expires by itself

    def _wait_budget(self) -> float:
        # A little past the lock's own expiry, so a crashed holder's lock is taken over
        # (and the fetch stays single-flight) rather than ignored by every waiter at once.
        return self._lock_timeout + 2 * _POLL_MAX
