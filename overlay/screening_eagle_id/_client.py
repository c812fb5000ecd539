"""`TokenClient` and `AsyncTokenClient`: cached, single-flight client-credentials tokens.

The one place the overlay touches the network: the generated operation
`generate_auth_access_token` builds the request (`_get_kwargs`) and parses the response
(`_build_response`); `_transport.py` sends it and reads the body, bounded in size and time.

State lives in one attribute, `_entry`: a tuple (token, refresh_at, hard_expiry) on the
monotonic clock, replaced whole (never mutated), so the cached hot path is one attribute
read, one clock call and one comparison: no lock, no hashing, no allocation. Every other
decision is a pure function in `_token.py`.

Refresh-ahead runs in the thread (or task) of the first caller past the refresh point, not in
a background thread: that caller pays one request's latency while every other caller keeps
getting the current token; there is no thread to start, stop, or leave behind at interpreter
exit or after a fork, the sync and async clients behave the same, and an idle client makes no
requests at all. A refresh-ahead is a single try (no retry sleeps in a caller's thread); when
it fails, the refresh point moves back by a growing backoff (`retry_refresh_at`).
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import functools
import logging
import os
import random as _random
import ssl
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

import httpx
from attrs import evolve, frozen
from screening_eagle_id_client import AuthenticatedClient
from screening_eagle_id_client.api.auth import generate_auth_access_token
from screening_eagle_id_client.models import ErrorResponse, GrantType, TokenRequest, TokenResponse
from screening_eagle_id_client.types import Response

from . import _telemetry
from ._cache import AsyncTokenCache, MemoryCache, TokenCache, cache_key
from ._clock import SYSTEM_CLOCK, Clock
from ._config import canonical_url, normalise_scope
from ._credentials import ClientAuth, ClientCredentials, resolve_config, secret_forms
from ._entry import EntryError, binding_key, verify
from ._exceptions import ConfigurationError, TokenError, TokenTransportError, scrub
from ._httpx2 import AsyncHttpx2Transport, Httpx2Transport, is_httpx2
from ._response import (
    error_fields,
    error_for_status,
    error_from_body,
    parse_retry_after,
    transport_error,
)
from ._token import (
    Token,
    parse_token_response,
    refresh_fraction,
    retry_refresh_at,
    schedule,
    schedule_cached,
)
from ._transport import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DeadlineTransport,
    asend_bounded,
    env_proxy_for,
    forget_cookies,
    send_bounded,
)
from ._transport import deadline as _deadline

if TYPE_CHECKING:
    import httpx2

__all__ = ["DEFAULT_TIMEOUT", "AsyncTokenClient", "RetryPolicy", "TokenClient"]

logger = logging.getLogger("screening_eagle_id")

#: Seconds one token request may take, unless `timeout=` says: each phase (connect, write,
#: each read, pool) and the whole request (the largest phase value of an `httpx.Timeout`).
DEFAULT_TIMEOUT = 10.0

# One SSL context for every client that verifies with the default CA bundle: building one
# (loading the bundle) takes 30-50 ms, which each new client would otherwise pay on its first
# fetch. Created on the first fetch that needs it, once per process; the environment's
# SSL_CERT_FILE / SSL_CERT_DIR are read then, as httpx reads them.
_default_ssl_context: ssl.SSLContext | None = None
_ssl_lock = threading.Lock()
_warned_unverified = False

Verify = bool | str | os.PathLike[str] | ssl.SSLContext


def _shared_ssl_context() -> ssl.SSLContext:
    global _default_ssl_context
    context = _default_ssl_context
    if context is None:
        with _ssl_lock:
            if _default_ssl_context is None:
                _default_ssl_context = httpx.create_ssl_context()
            context = _default_ssl_context
    return context


def _verify_setting(verify: Verify) -> bool | ssl.SSLContext:
    """`verify=` as the generated client takes it: True (the shared context, made when first
    needed), a caller's context, False, or a context for a CA bundle file or directory."""
    global _warned_unverified
    if verify is True or isinstance(verify, ssl.SSLContext):
        return verify
    if verify is False:
        if not _warned_unverified:
            _warned_unverified = True
            logger.warning(
                "verify=False: TLS certificates of the token endpoint are not checked; "
                "anyone on the network path can read the client secret"
            )
        return False
    if not isinstance(verify, str | os.PathLike):
        raise ConfigurationError(
            f"verify must be True, False, a CA bundle path or an ssl.SSLContext, not {verify!r}"
        )
    path = os.fspath(verify)
    try:
        if os.path.isdir(path):
            return ssl.create_default_context(capath=path)
        return ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"verify={path!r}: cannot load CA certificates: {exc}") from None


@frozen
class RetryPolicy:
    """How one fetch is retried: 5xx, 429 and transport errors only, 4xx never.

    Up to `attempts` tries in all; before try n+1 wait a "full jitter" backoff,
    uniform(0, min(max_backoff, backoff * 2**(n-1))), or the server's `Retry-After` capped at
    `max_retry_after`. No retry starts if it would end its wait past `total_timeout`
    seconds after the first try began.
    """

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 30.0
    total_timeout: float = 30.0

    def delay(self, failures: int, error: TokenError, rand: float) -> float:
        """Seconds to wait after the `failures`-th failed try (>= 1); `rand` in [0, 1)."""
        if error.retry_after is not None:
            return min(error.retry_after, self.max_retry_after)
        return min(self.max_backoff, self.backoff * 2.0 ** (failures - 1)) * rand


_SINGLE_TRY = RetryPolicy(attempts=1)


class _Entry(NamedTuple):
    token: Token
    refresh_at: float  # monotonic
    hard_expiry: float  # monotonic


# The generated parser raises (JSONDecodeError, KeyError, RecursionError, ...) when a
# documented status carries a body it cannot parse, or (ValueError) on a status
# `http.HTTPStatus` does not know. To still report the status and body, the last response
# read is kept in this context variable (per thread, or task, so concurrent fetches never
# see each other's).
_last_response: contextvars.ContextVar[httpx.Response | None] = contextvars.ContextVar(
    "screening_eagle_id_last_response", default=None
)


def _check_max_response_bytes(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"max_response_bytes must be a positive int, not {value!r}")
    return value


def _whole_request_limit(timeout: httpx.Timeout) -> float | None:
    phases = [t for t in (timeout.connect, timeout.read, timeout.write, timeout.pool) if t]
    return max(phases) if phases else None


# A caller-owned `http_client=` is plugged in as the *transport* of the httpx client the
# generated `AuthenticatedClient` builds (through its `httpx_args`), not with
# `set_httpx_client()`: the generated client puts the Basic credentials into the default
# headers of a client it builds, and has no per-request headers, so handing it the
# caller's client would either send no credentials or mean writing the secret into the
# caller's `client.headers` for good. This way the secret stays on our own thin client,
# while the caller's client carries the bytes: its connection pool, proxies, TLS settings
# and event hooks. Its `auth` is bypassed (a BearerAuth on it must not recurse into us),
# redirects are not followed, and closing us never closes it. A cookie the token endpoint
# sets is taken back out of its jar (httpx stores it inside `send()`).
class _ViaClient(httpx.BaseTransport):
    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._client.send(request, stream=True, auth=None, follow_redirects=False)
        forget_cookies(self._client, response)
        return response

    def close(self) -> None:
        """The caller owns the client: leave it open."""


class _AsyncViaClient(httpx.AsyncBaseTransport):
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._client.send(request, stream=True, auth=None, follow_redirects=False)
        forget_cookies(self._client, response)
        return response

    async def aclose(self) -> None:
        """The caller owns the client: leave it open."""


def _via(client: httpx.Client | httpx2.Client) -> httpx.BaseTransport:
    """The transport for a caller's sync `http_client=`: an httpx or an httpx2 client."""
    if isinstance(client, httpx.Client):
        return _ViaClient(client)
    if is_httpx2(client, "Client"):
        return Httpx2Transport(client)
    raise _wrong_client(client, "TokenClient", "httpx.Client or httpx2.Client")


def _avia(client: httpx.AsyncClient | httpx2.AsyncClient) -> httpx.AsyncBaseTransport:
    """The transport for a caller's async `http_client=`: an httpx or an httpx2 client."""
    if isinstance(client, httpx.AsyncClient):
        return _AsyncViaClient(client)
    if is_httpx2(client, "AsyncClient"):
        return AsyncHttpx2Transport(client)
    raise _wrong_client(client, "AsyncTokenClient", "httpx.AsyncClient or httpx2.AsyncClient")


def _wrong_client(client: object, owner: str, wanted: str) -> ConfigurationError:
    return ConfigurationError(
        f"{owner}(http_client=...) takes an {wanted}, not {type(client).__module__}."
        f"{type(client).__qualname__}"
    )


def _url_of(exc: httpx.RequestError, default: str) -> str:
    try:
        return str(exc.request.url)
    except RuntimeError:  # raised before a request existed
        return default


def _copy_or_none(exc: Exception) -> Exception | None:
    """A copy of `exc` without traceback, cause or context; None if its type cannot be rebuilt."""
    try:
        return copy.copy(exc)
    except Exception:
        return None


def _check_url(url: str, allow_insecure_http: bool) -> str:
    """The canonical base URL (see `canonical_url()`), also checked the way httpx parses it."""
    canonical = canonical_url(url, allow_insecure_http=allow_insecure_http)
    try:
        httpx.URL(canonical)
    except httpx.InvalidURL:
        # Not echoed: a malformed URL may well carry a password.
        raise ConfigurationError("the token endpoint URL is not a valid URL") from None
    return canonical


class _TokenClientBase:
    """Configuration, state and every decision shared by the sync and async clients."""

    def __init__(
        self,
        base_url: str | None,
        credentials: ClientCredentials | None,
        *,
        scope: str | Iterable[str] | None,
        profile: str | None,
        timeout: float | httpx.Timeout,
        retry: RetryPolicy,
        client_auth: ClientAuth,
        allow_insecure_http: bool,
        clock: Clock | None,
        random: Callable[[], float],
    ) -> None:
        config = resolve_config(
            base_url,
            credentials,
            scope if scope is None or isinstance(scope, str) else " ".join(scope),
            profile=profile,
        )
        self._url = _check_url(config.url, allow_insecure_http)
        self._credentials = config.credentials
        self._scopes = normalise_scope(config.scope)
        self._scope_set = frozenset(self._scopes)
        self._body = TokenRequest(
            grant_type=GrantType.CLIENT_CREDENTIALS, scope=" ".join(self._scopes)
        )
        self._basic = config.credentials.basic_value(client_auth)
        # Server text reaches messages and logs only through this (secret forms -> ***).
        self._clean = functools.partial(
            scrub,
            secrets=secret_forms(config.credentials.client_id, config.credentials.client_secret),
        )
        self._key = cache_key(self._url, config.credentials.client_id, self._scopes)
        self._binding_memo: bytes | None = None
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._request_limit = _whole_request_limit(self._timeout)
        self._retry = retry
        clock = clock or SYSTEM_CLOCK
        # Bound once: the hot path calls self._monotonic() and nothing else.
        self._monotonic = clock.monotonic
        self._wall = clock.time
        self._random = random
        self._entry: _Entry | None = None
        self._refresh_failures = 0
        # Fetches (not refresh-aheads) finished so far, and the error of the last one if it
        # failed: a caller that queued on the lock while a fetch was in flight gets that
        # fetch's error instead of redoing the whole fetch, retries and all.
        self._fetches = 0
        self._failure: Exception | None = None
        self._used = False
        self._closed = False
        self._api_instance: AuthenticatedClient | None = None
        self._httpx_args: dict[str, Any] = {}
        self._verify: bool | ssl.SSLContext = True
        self._shared_context = False
        self._deadline_transport = False
        self._max_response_bytes = DEFAULT_MAX_RESPONSE_BYTES

    def _set_transport(
        self, httpx_args: dict[str, Any], verify: Verify, via_caller_client: bool
    ) -> None:
        if via_caller_client and verify is not True:
            raise ConfigurationError(
                "verify= applies to the client's own connections; with http_client= the "
                "TLS settings are those of your client"
            )
        self._httpx_args = httpx_args
        # With a caller's client the generated client's default stays: the bytes go through
        # the caller's client and its TLS settings, and no context of ours is ever used.
        self._verify = True if via_caller_client else _verify_setting(verify)
        self._shared_context = self._verify is True and not via_caller_client

    @property
    def _api(self) -> AuthenticatedClient:
        # Built on the first fetch (it builds its httpx client then too): a client that only
        # ever reads a shared cache never pays for an SSL context.
        api = self._api_instance
        if api is None:
            verify = _shared_ssl_context() if self._shared_context else self._verify
            httpx_args = self._httpx_args
            if self._deadline_transport:
                httpx_args = {**httpx_args, "transport": DeadlineTransport(verify)}
            api = self._api_instance = AuthenticatedClient(
                base_url=self._url,
                token=self._basic,
                prefix="Basic",
                timeout=self._timeout,
                follow_redirects=False,
                raise_on_unexpected_status=False,
                httpx_args=httpx_args,
                verify_ssl=verify,
            )
        return api

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(url={self._url!r}, "
            f"client_id={self._credentials.client_id!r}, scope={' '.join(self._scopes)!r})"
        )

    @property
    def url(self) -> str:
        """The token endpoint's base URL (canonical: a full token URL loses the spec's path)."""
        return self._url

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

    @property
    def _binding(self) -> bytes:
        """This client's cache-entry binding key (scrypt of the secret: computed once, on the
        first cache read or fetch, never on the cached hot path)."""
        key = self._binding_memo
        if key is None:
            key = self._binding_memo = binding_key(self._credentials.client_secret, self._key)
        return key

    def _trusted(self, token: Token) -> bool:
        """Whether a token read from the cache may be served: fetched with this secret,
        unaltered, well-formed and for our scopes (`_entry.verify`). Else it is a miss."""
        try:
            verify(token.to_entry(), key=self._binding, scopes=self._scope_set, now=self._wall())
        except EntryError as exc:
            logger.warning("token cache: not using the cached token (%s); fetching one", exc)
            return False
        return True

    # -- decisions (no I/O) ---------------------------------------------------------------

    def _entry_for(self, token: Token, anchor: float) -> _Entry:
        """State for a token we fetched: anchored to the monotonic time before sending."""
        sched = schedule(anchor, token.lifetime, refresh_fraction(self._random()))
        return _Entry(token, sched.refresh_at, sched.hard_expiry)

    def _adoptable(self, token: Token | None) -> _Entry | None:
        """State for a token found in the cache, if it is new to us and still valid.

        One already past its refresh point is adopted too (with the refresh due now) when it
        outlives ours: it is served, and the next call refreshes ahead (one try, backing off
        on failure), so an endpoint outage never reaches callers while a valid token is cached.
        """
        if token is None:
            return None
        current = self._entry
        if current is not None and current.token.access_token == token.access_token:
            return None
        if not self._trusted(token):
            return None
        now = self._monotonic()
        sched = schedule_cached(
            token, now=now, wall_now=self._wall(), fraction=refresh_fraction(self._random())
        )
        if now >= sched.hard_expiry:
            return None
        if now >= sched.refresh_at:
            if current is not None and sched.hard_expiry <= current.hard_expiry:
                return None  # no better than the token we hold
            return _Entry(token, now, sched.hard_expiry)
        return _Entry(token, sched.refresh_at, sched.hard_expiry)

    def _fetched(self, failure: Exception | None) -> None:
        """Record how a fetch under the lock ended (see `_failed_while_waiting`)."""
        self._fetches += 1
        if failure is not None:
            _telemetry.fetch_failed(self, failure, ahead=False)
        # Kept without its traceback (a copy), which would keep the failed call's frames alive.
        self._failure = None if failure is None else _copy_or_none(failure)

    def _failed_while_waiting(self, seen: int) -> None:
        """Raise the error of a fetch that finished while this caller waited for the lock
        (`seen` is `_fetches` read before waiting). A copy: each caller's raise sets its own
        traceback, and concurrent raises must not mutate one shared exception object."""
        failure = self._failure
        if failure is None or self._fetches == seen:
            return
        again = _copy_or_none(failure)
        if again is not None:
            raise again from None

    def _refresh_failed(self, entry: _Entry, exc: BaseException) -> Token:
        """A refresh-ahead failed while `entry` is still valid: keep serving it, retry later."""
        self._refresh_failures += 1
        _telemetry.fetch_failed(self, exc, ahead=True)
        now = self._monotonic()
        retry_at = retry_refresh_at(now, self._refresh_failures, entry.hard_expiry, self._random())
        logger.warning(
            "token refresh-ahead failed (%s); still serving the current token, "
            "next attempt in %.1f s",
            exc,
            retry_at - now,
        )
        if self._entry is entry:
            self._entry = entry._replace(refresh_at=retry_at)
        return entry.token

    def _interpret(
        self, response: Response[ErrorResponse | TokenResponse], wall: float, url: str
    ) -> Token:
        """The token in a response from the generated operation, or the matching TokenError."""
        try:
            return self._interpret_parsed(response, wall, url)
        except TokenError:
            raise
        except (
            ValueError,
            TypeError,
            KeyError,
            AttributeError,
            OverflowError,
            RecursionError,
        ) as exc:
            # A bug or an absurd value in a response must still surface as a TokenError.
            status = int(response.status_code)
            detail = f"{type(exc).__name__}: {self._clean(str(exc))}"[:200]
            raise TokenError(
                f"{status} from {url}: unusable response ({detail})",
                status_code=status,
                error="invalid_response",
                error_description=detail,
            ) from None

    def _interpret_parsed(
        self, response: Response[ErrorResponse | TokenResponse], wall: float, url: str
    ) -> Token:
        parsed = response.parsed
        status = int(response.status_code)
        if status == 200 and isinstance(parsed, TokenResponse):
            token = parse_token_response(
                parsed.to_dict(), requested_scope=self._scope_set, issued_at=wall
            )
            return evolve(token, client_id=self._credentials.client_id).bound(self._binding)
        if isinstance(parsed, ErrorResponse):
            # to_dict() keeps unknown keys, so RFC 6749's error_description is there too.
            error, description = error_fields(parsed.to_dict())
            raise error_for_status(
                status,
                error,
                description,
                url=url,
                retry_after=parse_retry_after(response.headers.get("retry-after"), wall),
                clean=self._clean,
            )
        raise error_from_body(
            status, response.headers, response.content, url=url, wall_now=wall, clean=self._clean
        )

    def _deadline_from(self, anchor: float) -> tuple[Callable[[], float], float] | None:
        """The (clock, deadline) of a try that starts at `anchor` (see `_deadline`)."""
        if self._request_limit is None:
            return None
        return self._monotonic, anchor + self._request_limit

    def _requested_url(self) -> str:
        """The URL the generated operation just requested (for messages), else the base URL."""
        raw = _last_response.get()
        return str(raw.request.url) if raw is not None else self._url

    def _unparseable(self, exc: Exception, wall: float) -> TokenError:
        """The generated parser raised on the last response: report it from the raw bytes."""
        raw = _last_response.get()
        if raw is None:
            raise exc
        return error_from_body(
            raw.status_code,
            raw.headers,
            raw.content,
            url=str(raw.request.url),
            wall_now=wall,
            clean=self._clean,
        )

    def _log_retry(self, exc: TokenError, delay: float, tries: int) -> None:
        _telemetry.retried(self)
        logger.info(
            "token request failed (%s); retrying in %.2f s (attempt %d of %d)",
            exc,
            delay,
            tries + 1,
            self._retry.attempts,
        )


class TokenClient(_TokenClientBase):
    """Gets client-credentials tokens from Screening Eagle ID, cached and single-flight.

    `base_url`, `credentials` and `scope` default to the environment (`EAGLE_ID_URL`,
    `EAGLE_ID_CLIENT_ID`, `EAGLE_ID_CLIENT_SECRET`, `EAGLE_ID_SCOPE`), then to a profile of
    `$XDG_CONFIG_HOME/eagle-id/credentials.toml`. Thread-safe; use one per (URL, client, scope).
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
    ) -> None:
        super().__init__(
            base_url,
            credentials,
            scope=scope,
            profile=profile,
            timeout=timeout,
            retry=retry or RetryPolicy(),
            client_auth=client_auth,
            allow_insecure_http=allow_insecure_http,
            clock=clock,
            random=random,
        )
        self._cache: TokenCache = cache if cache is not None else MemoryCache()
        self._sleep = sleep
        self._lock = threading.Lock()
        self._max_response_bytes = _check_max_response_bytes(max_response_bytes)
        httpx_args: dict[str, Any] = {}
        if http_client is not None:
            httpx_args.update(transport=_via(http_client), trust_env=False)
        self._set_transport(httpx_args, verify, http_client is not None)
        # Our own connections bound every socket operation by the try's deadline; a proxy
        # from the environment keeps httpx's transport (a transport of ours would bypass it).
        self._deadline_transport = http_client is None and not env_proxy_for(self._url)

    def get_token(self) -> Token:
        """A valid token: from memory when fresh, else from the cache or the endpoint."""
        entry = self._entry
        if entry is not None and self._monotonic() < entry[1]:
            return entry[0]
        return self._get_token_slow()

    def _get_token_slow(self) -> Token:
        entry = self._entry
        if entry is not None and self._monotonic() < entry.hard_expiry:
            # Refresh-ahead: the first caller refreshes, everyone else keeps the current token.
            if not self._lock.acquire(blocking=False):
                return entry.token
            try:
                entry = self._entry
                if entry is None or self._monotonic() >= entry.hard_expiry:
                    return self._refresh(ahead=False).token
                if self._monotonic() < entry.refresh_at:
                    return entry.token  # refreshed while we looked
                try:
                    return self._refresh(ahead=True).token
                except Exception as exc:  # any failure is invisible while the token is valid
                    return self._refresh_failed(entry, exc)
            finally:
                self._lock.release()
        seen = self._fetches
        _telemetry.waited(self)
        with self._lock:
            entry = self._entry
            if entry is not None and self._monotonic() < entry.hard_expiry:
                return entry.token  # another thread fetched while we waited
            self._failed_while_waiting(seen)
            return self._refresh(ahead=False).token

    def _refresh(self, *, ahead: bool) -> _Entry:
        """Adopt a newer token from the cache, or fetch one under the cache's lock. Holds _lock."""
        if ahead:
            _telemetry.refresh_ahead(self)
            return self._refresh_once(ahead=True)
        try:
            entry = self._refresh_once(ahead=False)
        except Exception as exc:
            self._fetched(exc)
            raise
        self._fetched(None)
        return entry

    def _refresh_once(self, *, ahead: bool) -> _Entry:
        entry = self._adoptable(self._cache.get(self._key))
        if entry is None:
            with _telemetry.lock_wait(self, self._cache.lock(self._key)):
                entry = self._adoptable(self._cache.get(self._key))
                if entry is None:
                    entry = self._fetch_and_store(_SINGLE_TRY if ahead else self._retry)
        self._entry = entry
        self._refresh_failures = 0
        return entry

    def _fetch_and_store(self, policy: RetryPolicy) -> _Entry:
        token, anchor = self._fetch(policy)
        entry = self._entry_for(token, anchor)
        self._cache.set(self._key, token)
        return entry

    def fetch_token(self) -> Token:
        """A new token from the endpoint, bypassing every cache (then cached as usual)."""
        with self._lock:
            entry = self._fetch_and_store(self._retry)
            self._entry = entry
            self._refresh_failures = 0
            return entry.token

    def invalidate(self, token: Token | None = None) -> bool:
        """Forget the cached token, or only `token` if it is still the cached one (as after a
        401 from a resource server). Returns whether anything was forgotten."""
        with self._lock:
            entry = self._entry
            if token is not None and (
                entry is None or entry.token.access_token != token.access_token
            ):
                return False
            self._entry = None
            with self._cache.lock(self._key):
                cached = self._cache.get(self._key)
                if cached is not None and (
                    token is None or cached.access_token == token.access_token
                ):
                    self._cache.delete(self._key)
            return True

    def _fetch(self, policy: RetryPolicy) -> tuple[Token, float]:
        started = self._monotonic()
        tries = 0
        while True:
            tries += 1
            try:
                with _telemetry.fetch_span(self, tries, ahead=policy is _SINGLE_TRY):
                    return self._fetch_once()
            except TokenError as exc:
                if not exc.retryable or tries >= policy.attempts:
                    raise
                delay = policy.delay(tries, exc, self._random())
                if self._monotonic() - started + delay > policy.total_timeout:
                    raise
                self._log_retry(exc, delay, tries)
                self._sleep(delay)

    def _fetch_once(self) -> tuple[Token, float]:
        if self._closed:
            raise RuntimeError("TokenClient is closed")
        self._used = True
        anchor, wall = self._monotonic(), self._wall()
        reset = _last_response.set(None)
        reset_deadline = _deadline.set(self._deadline_from(anchor))
        # Errors are raised after the except blocks, not inside them: the httpx exception
        # (as __cause__ or __context__) holds the request, and its headers the Basic value.
        failure: TokenError | None = None
        try:
            raw = send_bounded(
                self._api.get_httpx_client(),
                generate_auth_access_token._get_kwargs(body=self._body),
                self._max_response_bytes,
            )
            _last_response.set(raw)
            response = generate_auth_access_token._build_response(client=self._api, response=raw)
            url = self._requested_url()
        except httpx.RequestError as exc:
            failure = transport_error(exc, url=_url_of(exc, self._url), clean=self._clean)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            failure = self._unparseable(exc, wall)
        finally:
            _last_response.reset(reset)
            _deadline.reset(reset_deadline)
        if failure is not None:
            raise failure
        return self._interpret(response, wall, url), anchor

    def close(self) -> None:
        """Close the HTTP connections this client opened (never a caller's `http_client`)."""
        self._closed = True
        if self._used:
            self._api.get_httpx_client().close()

    def __enter__(self) -> TokenClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncTokenClient(_TokenClientBase):
    """The asyncio counterpart of `TokenClient` (same arguments; an `httpx.AsyncClient` and
    an `AsyncTokenCache`). Single-flight across the tasks of an event loop; use it from one
    event loop at a time, as its httpx client requires."""

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
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        random: Callable[[], float] = _random.random,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        super().__init__(
            base_url,
            credentials,
            scope=scope,
            profile=profile,
            timeout=timeout,
            retry=retry or RetryPolicy(),
            client_auth=client_auth,
            allow_insecure_http=allow_insecure_http,
            clock=clock,
            random=random,
        )
        self._cache: AsyncTokenCache = cache if cache is not None else MemoryCache()
        self._sleep = sleep
        # One asyncio.Lock per event loop (an asyncio.Lock binds to the loop that first
        # waits on it); the threading lock only guards creating them, never an await.
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._locks_guard = threading.Lock()
        self._max_response_bytes = _check_max_response_bytes(max_response_bytes)
        httpx_args: dict[str, Any] = {}
        if http_client is not None:
            httpx_args.update(transport=_avia(http_client), trust_env=False)
        self._set_transport(httpx_args, verify, http_client is not None)

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            with self._locks_guard:
                lock = self._locks.setdefault(loop, asyncio.Lock())
        return lock

    async def get_token(self) -> Token:
        """A valid token: from memory when fresh, else from the cache or the endpoint."""
        entry = self._entry
        if entry is not None and self._monotonic() < entry[1]:
            return entry[0]
        return await self._get_token_slow()

    async def _get_token_slow(self) -> Token:
        lock = self._lock()
        entry = self._entry
        if entry is not None and self._monotonic() < entry.hard_expiry:
            if lock.locked():
                return entry.token  # someone is refreshing ahead: keep the current token
            async with lock:  # free, so this acquires without suspending
                entry = self._entry
                if entry is None or self._monotonic() >= entry.hard_expiry:
                    return (await self._refresh(ahead=False)).token
                if self._monotonic() < entry.refresh_at:
                    return entry.token
                try:
                    return (await self._refresh(ahead=True)).token
                except Exception as exc:  # any failure is invisible while the token is valid
                    return self._refresh_failed(entry, exc)
        seen = self._fetches
        _telemetry.waited(self)
        async with lock:
            entry = self._entry
            if entry is not None and self._monotonic() < entry.hard_expiry:
                return entry.token
            self._failed_while_waiting(seen)
            return (await self._refresh(ahead=False)).token

    async def _refresh(self, *, ahead: bool) -> _Entry:
        if ahead:
            _telemetry.refresh_ahead(self)
            return await self._refresh_once(ahead=True)
        try:
            entry = await self._refresh_once(ahead=False)
        except Exception as exc:
            self._fetched(exc)
            raise
        self._fetched(None)
        return entry

    async def _refresh_once(self, *, ahead: bool) -> _Entry:
        entry = self._adoptable(await self._cache.aget(self._key))
        if entry is None:
            async with _telemetry.alock_wait(self, self._cache.alock(self._key)):
                entry = self._adoptable(await self._cache.aget(self._key))
                if entry is None:
                    entry = await self._fetch_and_store(_SINGLE_TRY if ahead else self._retry)
        self._entry = entry
        self._refresh_failures = 0
        return entry

    async def _fetch_and_store(self, policy: RetryPolicy) -> _Entry:
        token, anchor = await self._fetch(policy)
        entry = self._entry_for(token, anchor)
        await self._cache.aset(self._key, token)
        return entry

    async def fetch_token(self) -> Token:
        """A new token from the endpoint, bypassing every cache (then cached as usual)."""
        async with self._lock():
            entry = await self._fetch_and_store(self._retry)
            self._entry = entry
            self._refresh_failures = 0
            return entry.token

    async def invalidate(self, token: Token | None = None) -> bool:
        """Forget the cached token, or only `token` if it is still the cached one (as after a
        401 from a resource server). Returns whether anything was forgotten."""
        async with self._lock():
            entry = self._entry
            if token is not None and (
                entry is None or entry.token.access_token != token.access_token
            ):
                return False
            self._entry = None
            async with self._cache.alock(self._key):
                cached = await self._cache.aget(self._key)
                if cached is not None and (
                    token is None or cached.access_token == token.access_token
                ):
                    await self._cache.adelete(self._key)
            return True

    async def _fetch(self, policy: RetryPolicy) -> tuple[Token, float]:
        started = self._monotonic()
        tries = 0
        while True:
            tries += 1
            try:
                with _telemetry.fetch_span(self, tries, ahead=policy is _SINGLE_TRY):
                    return await self._fetch_once()
            except TokenError as exc:
                if not exc.retryable or tries >= policy.attempts:
                    raise
                delay = policy.delay(tries, exc, self._random())
                if self._monotonic() - started + delay > policy.total_timeout:
                    raise
                self._log_retry(exc, delay, tries)
                await self._sleep(delay)

    async def _fetch_once(self) -> tuple[Token, float]:
        if self._closed:
            raise RuntimeError("AsyncTokenClient is closed")
        self._used = True
        anchor, wall = self._monotonic(), self._wall()
        reset = _last_response.set(None)
        reset_deadline = _deadline.set(self._deadline_from(anchor))
        # Errors are raised after the except blocks, not inside them: the httpx exception
        # (as __cause__ or __context__) holds the request, and its headers the Basic value.
        failure: TokenError | None = None
        try:
            # The asyncio timeout also covers a server that drips its status line or headers.
            async with asyncio.timeout(self._request_limit):
                raw = await asend_bounded(
                    self._api.get_async_httpx_client(),
                    generate_auth_access_token._get_kwargs(body=self._body),
                    self._max_response_bytes,
                )
            _last_response.set(raw)
            response = generate_auth_access_token._build_response(client=self._api, response=raw)
            url = self._requested_url()
        except httpx.RequestError as exc:
            failure = transport_error(exc, url=_url_of(exc, self._url), clean=self._clean)
        except TimeoutError:
            failure = TokenTransportError(
                f"no usable response from {self._url}: no complete response within "
                f"timeout={self._request_limit} s",
                retryable=True,
            )
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            failure = self._unparseable(exc, wall)
        finally:
            _last_response.reset(reset)
            _deadline.reset(reset_deadline)
        if failure is not None:
            raise failure
        return self._interpret(response, wall, url), anchor

    async def aclose(self) -> None:
        """Close the HTTP connections this client opened (never a caller's `http_client`)."""
        self._closed = True
        if self._used:
            await self._api.get_async_httpx_client().aclose()

    async def __aenter__(self) -> AsyncTokenClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
