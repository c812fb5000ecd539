"""One token request: one try against the endpoint, and what its response means.

The one place the overlay touches the network: the generated operation
`generate_auth_access_token` builds the request (`_get_kwargs`) and parses the response
(`_build_response`); `_transport.py` sends it and reads the body, bounded in size and time.
`Endpoint.send()` and `asend()` make one try and return its outcome as a value, a `Token` or
a `TokenError` (never raising one): whether to retry is the engine's decision (`_engine.py`).
How we connect (URL check, TLS, a caller's `http_client=`) is in `_connect.py`.
"""

from __future__ import annotations

import contextvars
import json
import ssl
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from ._config import check_assume_lifetime
from ._connect import Verify, _shared_ssl_context, verify_setting, via
from ._deadline import deadline, env_proxy_for
from ._exceptions import ConfigurationError, TokenError, TokenTransportError
from ._response import (
    NO_LIFETIME,
    error_fields,
    error_for_status,
    error_from_body,
    parse_retry_after,
    transport_error,
)
from ._token import Token, parse_token_response
from ._transport import DEFAULT_MAX_RESPONSE_BYTES, asend_bounded, send_bounded

if TYPE_CHECKING:
    from screening_eagle_id_client import AuthenticatedClient
    from screening_eagle_id_client.models import ErrorResponse, TokenResponse
    from screening_eagle_id_client.types import Response

# The generated client (and its models) is imported by the first token request, not with
# this module: a process that only reads a shared cache never needs it.

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "DEFAULT_TIMEOUT", "Endpoint"]

#: Seconds one token request may take, unless `timeout=` says: each phase (connect, write,
#: each read, pool) and the whole request (the largest phase value of an `httpx.Timeout`).
DEFAULT_TIMEOUT = 10.0

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


def _url_of(exc: httpx.RequestError, default: str) -> str:
    try:
        return str(exc.request.url)
    except RuntimeError:  # raised before a request existed
        return default


class _Try:
    """Around one request: sets `_last_response` and the try's `deadline`, and turns whatever the
    request raised into the `TokenError` it means (kept in `failure`, never raised here: the
    httpx exception, as __cause__ or __context__, holds the request and its Basic value)."""

    def __init__(self, endpoint: Endpoint, anchor: float, wall: float) -> None:
        self._endpoint = endpoint
        self._wall = wall
        self.response: Response[ErrorResponse | TokenResponse] | None = None
        self.failure: TokenError | None = None
        self.token: Token | None = None  # from a response without expires_in
        self.url = endpoint.url
        self._reset = _last_response.set(None)
        self._reset_deadline = deadline.set(endpoint.deadline_from(anchor))

    def __enter__(self) -> _Try:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        endpoint = self._endpoint
        try:
            if exc is None:
                self.url = _requested_url(endpoint)
            elif isinstance(exc, httpx.RequestError):
                self.failure = transport_error(
                    exc, url=_url_of(exc, endpoint.url), clean=endpoint.clean
                )
            elif isinstance(exc, TimeoutError):
                self.failure = TokenTransportError(
                    f"no usable response from {endpoint.url}: no complete response within "
                    f"timeout={endpoint.request_limit} s",
                    retryable=True,
                )
            elif isinstance(
                exc, ValueError | KeyError | TypeError | AttributeError | RecursionError
            ):
                result = _unparseable(endpoint, self._wall)  # None: a bug of ours
                if isinstance(result, Token):
                    self.token = result
                    return True
                self.failure = result
            return self.failure is not None
        finally:
            _last_response.reset(self._reset)
            deadline.reset(self._reset_deadline)

    def parse(self, raw: httpx.Response) -> None:
        """Have the generated operation parse `raw`, the response read (bounded)."""
        from screening_eagle_id_client.api.auth import generate_auth_access_token

        _last_response.set(raw)
        self.response = generate_auth_access_token._build_response(
            client=self._endpoint.api, response=raw
        )

    def outcome(self) -> Token | TokenError:
        if self.token is not None:
            return self.token
        if self.failure is not None:
            return self.failure
        assert self.response is not None
        return self._endpoint.interpret(self.response, self._wall, self.url)


class Endpoint:
    """How a token client reaches the endpoint: our own thin httpx client, built on first use,
    carrying the Basic credentials; a caller's `http_client=` becomes its transport."""

    def __init__(
        self,
        base_url: str,
        token_path: str,
        basic: str,
        scope_text: str,
        scope: frozenset[str],
        timeout: float | httpx.Timeout,
        monotonic: Callable[[], float],
        name: str,
        max_response_bytes: int,
        clean: Callable[[str], str],
        assume_lifetime: int | None = None,
    ) -> None:
        self.base_url = base_url
        self.token_path = token_path
        #: The token endpoint's URL, as requested (and named in messages).
        self.url = base_url + token_path
        self.assume_lifetime = (
            None if assume_lifetime is None else check_assume_lifetime(assume_lifetime)
        )
        self._basic = basic
        self._scope_text = scope_text
        self.scope = scope
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.request_limit = _whole_request_limit(self._timeout)
        self._monotonic = monotonic
        self._name = name
        #: Server text reaches messages and logs only through this (secret forms -> ***).
        self.clean = clean
        self._max_response_bytes = _check_max_response_bytes(max_response_bytes)
        self._deadline_transport = False
        self.used = False
        self._closed = False
        self._api_instance: AuthenticatedClient | None = None
        self._httpx_args: dict[str, Any] = {}
        self._verify: bool | ssl.SSLContext = True
        self._shared_context = False

    def plug(self, http_client: Any, verify: Verify, *, is_async: bool) -> None:
        """Use `http_client` (a caller's `httpx.Client`, or `AsyncClient` when `is_async`; left
        open) to carry the bytes, or else our own connections, verified as `verify` says."""
        theirs = http_client is not None
        if theirs and verify is not True:
            raise ConfigurationError(
                "verify= applies to the client's own connections; with http_client= the "
                "TLS settings are those of your client"
            )
        self._httpx_args = {}
        if theirs:
            plugged = via(http_client, is_async=is_async)
            self._httpx_args.update(transport=plugged, trust_env=False)
        # Our own connections bound every socket operation by the try's deadline (sync: the
        # async client has asyncio.timeout); a proxy from the environment keeps httpx's
        # transport (a transport of ours would bypass it).
        self._deadline_transport = not theirs and not is_async and not env_proxy_for(self.url)
        # With a caller's client the generated client's default stays: the bytes go through
        # the caller's client and its TLS settings, and no context of ours is ever used.
        self._verify = True if theirs else verify_setting(verify)
        self._shared_context = self._verify is True and not theirs

    @property
    def api(self) -> AuthenticatedClient:
        """The generated client, built on the first try (it builds its httpx client then too):
        a client that only ever reads a shared cache never pays for an SSL context."""
        api = self._api_instance
        if api is None:
            verify = _shared_ssl_context() if self._shared_context else self._verify
            httpx_args = self._httpx_args
            if self._deadline_transport:
                from ._deadline_transport import DeadlineTransport  # brings httpcore

                httpx_args = {**httpx_args, "transport": DeadlineTransport(verify)}
            from screening_eagle_id_client import AuthenticatedClient

            api = self._api_instance = AuthenticatedClient(
                base_url=self.base_url,
                token=self._basic,
                prefix="Basic",
                timeout=self._timeout,
                follow_redirects=False,
                raise_on_unexpected_status=False,
                httpx_args=httpx_args,
                verify_ssl=verify,
            )
        return api

    def _start(self, anchor: float, wall: float) -> _Try:
        if self._closed:
            raise RuntimeError(f"{self._name} is closed")
        self.used = True
        return _Try(self, anchor, wall)

    def send(self, anchor: float, wall: float) -> Token | TokenError:
        """One blocking try, started at `anchor` (monotonic) / `wall`; the generated operation
        builds the request and parses the response, `_transport.py` sends it, bounded."""
        with self._start(anchor, wall) as attempt:
            client, limit = self.api.get_httpx_client(), self._max_response_bytes
            attempt.parse(send_bounded(client, self._request(), limit))
        return attempt.outcome()

    async def asend(self, anchor: float, wall: float) -> Token | TokenError:
        """One awaited try; the asyncio timeout also covers a server that drips its status
        line or headers."""
        with self._start(anchor, wall) as attempt:
            client, limit = self.api.get_async_httpx_client(), self._max_response_bytes
            import asyncio  # here: only async users need it (loaded by then, a look-up)

            async with asyncio.timeout(self.request_limit):
                raw = await asend_bounded(client, self._request(), limit)
            attempt.parse(raw)
        return attempt.outcome()

    def _request(self) -> dict[str, Any]:
        from screening_eagle_id_client.api.auth import generate_auth_access_token
        from screening_eagle_id_client.models import GrantType, TokenRequest

        body = TokenRequest(grant_type=GrantType.CLIENT_CREDENTIALS, scope=self._scope_text)
        # The generated operation's request, at this endpoint's token path (relative: httpx
        # appends it to the base URL, path included).
        kwargs = generate_auth_access_token._get_kwargs(body=body)
        kwargs["url"] = self.token_path
        return kwargs

    def close(self) -> None:
        """Close the connections we opened (never a caller's `http_client`)."""
        self._closed = True
        if self.used:
            self.api.get_httpx_client().close()

    async def aclose(self) -> None:
        """`close()` for the async client."""
        self._closed = True
        if self.used:
            await self.api.get_async_httpx_client().aclose()

    def deadline_from(self, anchor: float) -> tuple[Callable[[], float], float] | None:
        """The (clock, deadline) of a try that starts at `anchor` (see `_deadline`)."""
        if self.request_limit is None:
            return None
        return self._monotonic, anchor + self.request_limit

    def interpret(
        self, response: Response[ErrorResponse | TokenResponse], wall: float, url: str
    ) -> Token | TokenError:
        """The token in a response from the generated operation, or the matching TokenError."""
        try:
            return self._interpret_parsed(response, wall, url)
        except TokenError as exc:
            return exc
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
            detail = f"{type(exc).__name__}: {self.clean(str(exc))}"[:200]
            return TokenError(
                f"{status} from {url}: unusable response ({detail})",
                status_code=status,
                error="invalid_response",
                error_description=detail,
            )

    def token_of(self, data: dict[str, Any], wall: float) -> Token:
        """The token in a 200 body; an `expires_in` that is absent or null is `assume_lifetime`
        when the client has one (else refused, naming the option)."""
        if data.get("expires_in") is None:
            if self.assume_lifetime is None:
                raise TokenError(
                    f"200 OK from {self.url} but not a usable token response: {NO_LIFETIME}",
                    status_code=200,
                    error="invalid_response",
                    error_description=NO_LIFETIME,
                )
            data = {**data, "expires_in": self.assume_lifetime}
        return parse_token_response(data, requested_scope=self.scope, issued_at=wall)

    def _interpret_parsed(
        self, response: Response[ErrorResponse | TokenResponse], wall: float, url: str
    ) -> Token:
        from screening_eagle_id_client.models import ErrorResponse, TokenResponse

        parsed = response.parsed
        status = int(response.status_code)
        if status == 200 and isinstance(parsed, TokenResponse):
            return self.token_of(parsed.to_dict(), wall)
        if isinstance(parsed, ErrorResponse):
            # to_dict() keeps unknown keys, so RFC 6749's error_description is there too.
            error, description = error_fields(parsed.to_dict())
            raise error_for_status(
                status,
                error,
                description,
                url=url,
                retry_after=parse_retry_after(response.headers.get("retry-after"), wall),
                clean=self.clean,
            )
        raise error_from_body(
            status, response.headers, response.content, url=url, wall_now=wall, clean=self.clean
        )


def _requested_url(endpoint: Endpoint) -> str:
    """The URL the generated operation just requested (for messages), else the base URL."""
    raw = _last_response.get()
    return str(raw.request.url) if raw is not None else endpoint.url


def _unparseable(endpoint: Endpoint, wall: float) -> Token | TokenError | None:
    """The generated parser raised on the last response: report it from the raw bytes, or
    the token of a 200 without `expires_in` when the client assumes a lifetime."""
    raw = _last_response.get()
    if raw is None:
        return None
    if raw.status_code == 200 and endpoint.assume_lifetime is not None:
        try:
            body = json.loads(raw.content)
        except (ValueError, UnicodeDecodeError, RecursionError):
            body = None
        if isinstance(body, dict) and "expires_in" not in body:
            try:
                return endpoint.token_of(body, wall)
            except TokenError as exc:
                return exc
    return error_from_body(
        raw.status_code,
        raw.headers,
        raw.content,
        url=str(raw.request.url),
        wall_now=wall,
        clean=endpoint.clean,
    )
