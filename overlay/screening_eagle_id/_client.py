"""`TokenClient` and `AsyncTokenClient`: cached, single-flight client-credentials tokens.

Both are thin drivers of one `TokenEngine` (`_engine.py`), which holds every decision: they
carry out its effects, blocking or awaited (`_drive.py`), against this client's own lock, the
shared cache and the endpoint (`_request.py`), and decide nothing themselves.

State lives in one attribute, `_entry`: a tuple (token, refresh_at, hard_expiry) on the
monotonic clock, replaced whole (never mutated) and never None (`NOTHING` when there is no
token), so the cached hot path is one attribute read, one clock call and one comparison: no
lock, no generator, no allocation.
"""

from __future__ import annotations

import logging
import random as _random
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any, assert_never

import httpx

from . import _effects as fx
from . import _telemetry
from ._cache import AsyncTokenCache, MemoryCache, TokenCache, cache_key
from ._clock import SYSTEM_CLOCK, Clock
from ._config import TOKEN_PATH, check_token_path, normalise_scope
from ._connect import Verify, check_url
from ._credentials import ClientAuth, ClientCredentials, resolve_config, secret_forms
from ._drive import adrive, drive
from ._engine import RetryPolicy, TokenEngine
from ._entry import binding_key
from ._exceptions import scrub
from ._request import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT, Endpoint
from ._token import Token

if TYPE_CHECKING:
    import asyncio

    import httpx2
    from screening_eagle_id_client import AuthenticatedClient

__all__ = ["DEFAULT_TIMEOUT", "AsyncTokenClient", "RetryPolicy", "TokenClient"]

logger = logging.getLogger("screening_eagle_id")


class _TokenClientBase(TokenEngine):
    """Configuration shared by the sync and async clients; the decisions are the engine's."""

    def __init__(
        self,
        base_url: str | None,
        credentials: ClientCredentials | None,
        *,
        scope: str | Iterable[str] | None,
        profile: str | None,
        http_client: httpx.Client | httpx.AsyncClient | httpx2.Client | httpx2.AsyncClient | None,
        verify: Verify,
        timeout: float | httpx.Timeout,
        retry: RetryPolicy | None,
        client_auth: ClientAuth,
        allow_insecure_http: bool,
        clock: Clock | None,
        random: Callable[[], float],
        max_response_bytes: int,
        token_path: str | None,
        assume_lifetime: int | None,
    ) -> None:
        config = resolve_config(
            base_url,
            credentials,
            scope if scope is None or isinstance(scope, str) else " ".join(scope),
            token_path=token_path,
            assume_lifetime=assume_lifetime,
            profile=profile,
        )
        self._token_path = check_token_path(
            TOKEN_PATH if config.token_path is None else config.token_path
        )
        self._url = check_url(config.url, allow_insecure_http, self._token_path)
        self._credentials = config.credentials
        self._scopes = normalise_scope(config.scope)
        self._scope_set = frozenset(self._scopes)
        basic = config.credentials.basic_value(client_auth)
        secret = config.credentials.client_secret
        self._key = cache_key(
            self._url, config.credentials.client_id, self._scopes, self._token_path
        )
        super().__init__(
            retry=retry or RetryPolicy(),
            clock=clock or SYSTEM_CLOCK,
            random=random,
            scope=self._scope_set,
            client_id=config.credentials.client_id,
            binding=partial(binding_key, secret, self._key),
        )
        is_async = isinstance(self, AsyncTokenClient)
        self._endpoint = Endpoint(
            self._url,
            self._token_path,
            basic,
            " ".join(self._scopes),
            self._scope_set,
            timeout,
            self._monotonic,
            type(self).__name__,
            max_response_bytes,
            partial(scrub, secrets=secret_forms(config.credentials.client_id, secret)),
            config.assume_lifetime,
        )
        self._endpoint.plug(http_client, verify, is_async=is_async)

    @property
    def _api(self) -> AuthenticatedClient:
        return self._endpoint.api

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(url={self._endpoint.url!r}, "
            f"client_id={self._credentials.client_id!r}, scope={' '.join(self._scopes)!r})"
        )

    @property
    def url(self) -> str:
        """The token endpoint's URL, as requested: `base_url` + `token_path`."""
        return self._endpoint.url

    @property
    def base_url(self) -> str:
        """The base URL, canonical: scheme and host in lower case, no default port, no
        trailing slash, without the token path (a full token URL given loses it)."""
        return self._url

    @property
    def token_path(self) -> str:
        """The token endpoint's path under `base_url` (default the spec's)."""
        return self._token_path

    @property
    def client_id(self) -> str:
        """The client id tokens are requested for."""
        return self._credentials.client_id

    @property
    def scope(self) -> frozenset[str]:
        """The scopes requested."""
        return self._scope_set

    @property
    def cache_key(self) -> str:
        """The key this client's tokens are cached under (see `cache_key()`)."""
        return self._key

    def _tell(self, effect: fx.Log | fx.Observe) -> None:
        """Emit a log record, or tell telemetry (the same for both drivers: no I/O to await)."""
        if isinstance(effect, fx.Log):
            logger.log(effect.level, effect.message, *effect.args)
            return
        match effect.event:
            case "waited":
                _telemetry.waited(self)
            case "refresh_ahead":
                _telemetry.refresh_ahead(self)
            case "retried":
                _telemetry.retried(self)
            case "failed":
                assert effect.error is not None
                _telemetry.fetch_failed(self, effect.error, ahead=effect.ahead)


class TokenClient(_TokenClientBase):
    """Gets client-credentials tokens from Screening Eagle ID, cached and single-flight.

    `base_url`, `credentials` and `scope` default to the environment (`EAGLE_ID_URL`,
    `EAGLE_ID_CLIENT_ID`, `EAGLE_ID_CLIENT_SECRET`, `EAGLE_ID_SCOPE`), then to a profile of
    `$XDG_CONFIG_HOME/eagle-id/credentials.toml`. Thread-safe; use one per (URL, client, scope).

    `token_path` (default `EAGLE_ID_TOKEN_PATH`, the profile's with its URL, else the spec's
    `/api/id/v1/auth/token`) is where the endpoint is under `base_url`, for any OAuth 2.0
    server (`"/oauth2/token"`). `assume_lifetime` (seconds; default `EAGLE_ID_ASSUME_LIFETIME`,
    the profile's with its URL): accept a token response without `expires_in` and cache its
    token that long (refused by default: RFC 6749 §5.1 only recommends the field).
    """

    def __init__(
        self,
        base_url: str | None = None,
        credentials: ClientCredentials | None = None,
        *,
        scope: str | Iterable[str] | None = None,
        profile: str | None = None,
        cache: TokenCache | None = None,
        http_client: httpx.Client | httpx2.Client | None = None,
        verify: Verify = True,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        client_auth: ClientAuth = "basic",
        allow_insecure_http: bool = False,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        token_path: str | None = None,
        assume_lifetime: int | None = None,
    ) -> None:
        super().__init__(
            base_url,
            credentials,
            scope=scope,
            profile=profile,
            http_client=http_client,
            verify=verify,
            timeout=timeout,
            retry=retry,
            client_auth=client_auth,
            allow_insecure_http=allow_insecure_http,
            clock=clock,
            random=random,
            max_response_bytes=max_response_bytes,
            token_path=token_path,
            assume_lifetime=assume_lifetime,
        )
        self._cache: TokenCache = cache if cache is not None else MemoryCache()
        self._sleep = sleep
        self._lock = threading.Lock()
        self._attempt = 0  # the try of the endpoint under way or last made (for `eagle-id`)

    def get_token(self) -> Token:
        """A valid token: from memory when fresh, else from the cache or the endpoint."""
        entry = self._entry
        if self._monotonic() < entry[1]:
            return entry[0]
        return drive(self.get_flow(), self._do)

    def fetch_token(self) -> Token:
        """A new token from the endpoint, bypassing every cache (then cached as usual)."""
        return drive(self.fetch_flow(), self._do)

    def invalidate(self, token: Token | None = None) -> bool:
        """Forget the cached token, or only `token` if it is still the cached one (as after a
        401 from a resource server). Returns whether anything was forgotten."""
        return drive(self.invalidate_flow(token), self._do)

    def _do(self, effect: fx.Effect) -> Any:
        """Carry out one effect of the engine, blocking."""
        match effect:
            case fx.Send(anchor=anchor, wall=wall, attempt=attempt, ahead=ahead):
                self._attempt = attempt
                with _telemetry.fetch_span(self, attempt, ahead=ahead) as outcome:
                    return outcome(self._endpoint.send(anchor, wall))
            case fx.Acquire(wait=wait):
                # Waiting enters the lock as `with` does (a test's lock counts its waiters).
                return self._lock.__enter__() if wait else self._lock.acquire(blocking=False)
            case fx.Release():
                return self._lock.release()
            case fx.ReadCache():
                return self._cache.get(self._key)
            case fx.WriteCache(token=token):
                return self._cache.set(self._key, token)
            case fx.LockCache():
                handle = _telemetry.lock_wait(self, self._cache.lock(self._key))
                handle.__enter__()
                return handle
            case fx.UnlockCache(handle=handle):
                return handle.__exit__(None, None, None)
            case fx.DeleteCache():
                return self._cache.delete(self._key)
            case fx.Sleep(seconds=seconds):
                return self._sleep(seconds)
            case fx.Log() | fx.Observe():
                return self._tell(effect)
            case _:
                assert_never(effect)

    def close(self) -> None:
        """Close the HTTP connections this client opened (never a caller's `http_client`)."""
        self._endpoint.close()

    def __enter__(self) -> TokenClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncTokenClient(_TokenClientBase):
    """The asyncio counterpart of `TokenClient` (same arguments; an `httpx.AsyncClient` and
    an `AsyncTokenCache`; `sleep` defaults to `asyncio.sleep`). Single-flight across the tasks
    of an event loop; use it from one event loop at a time, as its httpx client requires."""

    def __init__(
        self,
        base_url: str | None = None,
        credentials: ClientCredentials | None = None,
        *,
        scope: str | Iterable[str] | None = None,
        profile: str | None = None,
        cache: AsyncTokenCache | None = None,
        http_client: httpx.AsyncClient | httpx2.AsyncClient | None = None,
        verify: Verify = True,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        client_auth: ClientAuth = "basic",
        allow_insecure_http: bool = False,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        random: Callable[[], float] = _random.random,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        token_path: str | None = None,
        assume_lifetime: int | None = None,
    ) -> None:
        super().__init__(
            base_url,
            credentials,
            scope=scope,
            profile=profile,
            http_client=http_client,
            verify=verify,
            timeout=timeout,
            retry=retry,
            client_auth=client_auth,
            allow_insecure_http=allow_insecure_http,
            clock=clock,
            random=random,
            max_response_bytes=max_response_bytes,
            token_path=token_path,
            assume_lifetime=assume_lifetime,
        )
        # asyncio is imported by the async client only: a sync user never pays for it.
        import asyncio

        self._cache: AsyncTokenCache = cache if cache is not None else MemoryCache()
        self._sleep = sleep if sleep is not None else asyncio.sleep
        # One asyncio.Lock per event loop (an asyncio.Lock binds to the loop that first
        # waits on it); the threading lock only guards creating them, never an await.
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._locks_guard = threading.Lock()

    def _lock(self) -> asyncio.Lock:
        import asyncio  # imported already (__init__): a dictionary look-up, off the hot path

        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            with self._locks_guard:
                lock = self._locks.setdefault(loop, asyncio.Lock())
        return lock

    async def get_token(self) -> Token:
        """A valid token: from memory when fresh, else from the cache or the endpoint."""
        entry = self._entry
        if self._monotonic() < entry[1]:
            return entry[0]
        return await adrive(self.get_flow(), self._do)

    async def fetch_token(self) -> Token:
        """A new token from the endpoint, bypassing every cache (then cached as usual)."""
        return await adrive(self.fetch_flow(), self._do)

    async def invalidate(self, token: Token | None = None) -> bool:
        """Forget the cached token, or only `token` if it is still the cached one (as after a
        401 from a resource server). Returns whether anything was forgotten."""
        return await adrive(self.invalidate_flow(token), self._do)

    async def _do(self, effect: fx.Effect) -> Any:
        """Carry out one effect of the engine, awaited."""
        match effect:
            case fx.Send(anchor=anchor, wall=wall, attempt=attempt, ahead=ahead):
                with _telemetry.fetch_span(self, attempt, ahead=ahead) as outcome:
                    return outcome(await self._endpoint.asend(anchor, wall))
            case fx.Acquire(wait=wait):
                lock = self._lock()
                if not wait and lock.locked():
                    return False
                return await lock.acquire()  # when free, without suspending
            case fx.Release():
                return self._lock().release()
            case fx.ReadCache():
                return await self._cache.aget(self._key)
            case fx.WriteCache(token=token):
                return await self._cache.aset(self._key, token)
            case fx.LockCache():
                handle = _telemetry.alock_wait(self, self._cache.alock(self._key))
                await handle.__aenter__()
                return handle
            case fx.UnlockCache(handle=handle):
                return await handle.__aexit__(None, None, None)
            case fx.DeleteCache():
                return await self._cache.adelete(self._key)
            case fx.Sleep(seconds=seconds):
                return await self._sleep(seconds)
            case fx.Log() | fx.Observe():
                return self._tell(effect)
            case _:
                assert_never(effect)

    async def aclose(self) -> None:
        """Close the HTTP connections this client opened (never a caller's `http_client`)."""
        await self._endpoint.aclose()

    async def __aenter__(self) -> AsyncTokenClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
