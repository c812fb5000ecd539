"""OpenTelemetry: spans for token fetches, metrics for what the token clients do.

Optional (`pip install 'screening-eagle-id[otel]'`, which is `opentelemetry-api`). Nothing here
runs on the cached path, and `opentelemetry` is imported at the first fetch (or shared-cache
lock), never before; where it is not installed, each hook is a check of one module global.
Without a configured SDK the API's no-op providers make it all near free, and cache hits
are not counted at all.

Spans: one per try of the token endpoint, `eagle-id token fetch`, a child of the caller's
current span, with `eagle_id.url` (the token endpoint's URL: the client refuses URLs with
credentials or a query), `eagle_id.client_id`, `eagle_id.scope`, `eagle_id.attempt` (1, 2, ...),
`eagle_id.refresh_ahead`, `eagle_id.outcome` ("ok" or what failed, see `outcome_label`) and, on
failure, `error.type` and status ERROR. Never the secret, a token, or an error's free text.

What failed is named from a closed set (`LABELS`), whatever the server says: the `error`
code when it is registered (RFC 6749 and the IANA OAuth Extensions Error Registry, plus our
own `invalid_response`), else the name of our exception class, else the HTTP status class
("4xx"), else "other". A server's `error` is free text to us: taken as it came, each new
text would make a new metric series.

Metrics (meter `screening_eagle_id`), attributes `eagle_id.client_id` and `eagle_id.scope`:

* `eagle_id.token.fetches` (counter): tries of the token endpoint, by `eagle_id.outcome`;
* `eagle_id.token.fetch.duration` (histogram, s): one try, by `eagle_id.outcome`;
* `eagle_id.token.retries` (counter): retries after a retryable failure;
* `eagle_id.token.failures` (counter): fetches that failed for good, and failed
  refresh-aheads (`eagle_id.refresh_ahead`), by `error.type`;
* `eagle_id.token.refresh_aheads` (counter): refreshes before expiry that were started;
* `eagle_id.cache.lock_wait` (histogram, s): time to get a shared cache's fetch lock;
* `eagle_id.token.cache_hits` (observable counter): `get_token()` calls answered from memory.

Counting cache hits needs one step per `get_token()` call, so it happens only once a real
`MeterProvider` is configured (the SDK): then, at its next fetch, the client's `get_token`
is wrapped by a counter (`itertools.count`, no lock) and calls that had to wait for a token
are subtracted. The hot path of a client in a process without an SDK is not touched.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any

from . import _exceptions

__all__ = [
    "LABELS",
    "REGISTERED_ERRORS",
    "ClientStats",
    "Outcome",
    "alock_wait",
    "fetch_failed",
    "fetch_span",
    "lock_wait",
    "outcome_label",
    "refresh_ahead",
    "retried",
    "waited",
]

#: OAuth error codes kept as they are in telemetry: RFC 6749 §4.1.2.1, §5.2 and the IANA
#: "OAuth Extensions Error Registry" entries a token endpoint may return (RFC 6750, 7009,
#: 8628, 8693, 8707, 9396, 9449), and `invalid_response`, ours for an unusable 200.
REGISTERED_ERRORS = frozenset(
    {
        "access_denied",
        "invalid_client",
        "invalid_grant",
        "invalid_request",
        "invalid_scope",
        "server_error",
        "temporarily_unavailable",
        "unauthorized_client",
        "unsupported_grant_type",
        "unsupported_response_type",
        "insufficient_scope",
        "invalid_token",
        "unsupported_token_type",
        "authorization_pending",
        "slow_down",
        "expired_token",
        "invalid_target",
        "invalid_authorization_details",
        "invalid_dpop_proof",
        "use_dpop_nonce",
        "invalid_response",
    }
)
# Our exception classes (`_exceptions.py`), by name; a subclass of a caller's is not ours.
_OURS = {
    cls.__name__: cls
    for cls in (getattr(_exceptions, name) for name in _exceptions.__all__)
    if isinstance(cls, type)
}
_STATUS_CLASSES = frozenset({"1xx", "2xx", "3xx", "4xx", "5xx"})
#: Every value `eagle_id.outcome` and `error.type` can take.
LABELS = REGISTERED_ERRORS | set(_OURS) | _STATUS_CLASSES | {"ok", "other"}

_SPAN_NAME = "eagle-id token fetch"
_SCOPE_NAME = "screening_eagle_id"


class _Telemetry:
    """The tracer and instruments, made once (the API's proxies follow a provider set later)."""

    def __init__(self) -> None:
        from opentelemetry import metrics, trace

        self.trace = trace
        self.metrics = metrics
        self.tracer = trace.get_tracer(_SCOPE_NAME)
        meter = metrics.get_meter(_SCOPE_NAME)
        self.fetches = meter.create_counter(
            "eagle_id.token.fetches", unit="{request}", description="Tries of the token endpoint"
        )
        self.fetch_duration = meter.create_histogram(
            "eagle_id.token.fetch.duration", unit="s", description="One try of the token endpoint"
        )
        self.retries = meter.create_counter(
            "eagle_id.token.retries", unit="{retry}", description="Retries of a token fetch"
        )
        self.failures = meter.create_counter(
            "eagle_id.token.failures",
            unit="{failure}",
            description="Token fetches and refresh-aheads that failed",
        )
        self.refresh_aheads = meter.create_counter(
            "eagle_id.token.refresh_aheads",
            unit="{refresh}",
            description="Refreshes started before the token expired",
        )
        self.lock_wait = meter.create_histogram(
            "eagle_id.cache.lock_wait", unit="s", description="Time to get a shared cache's lock"
        )
        meter.create_observable_counter(
            "eagle_id.token.cache_hits",
            callbacks=[self._observe_hits],
            unit="{call}",
            description="get_token() calls answered from memory",
        )
        # Clients whose hits are counted (weakly held: a client that is gone stops reporting).
        self.counted: weakref.WeakSet[Any] = weakref.WeakSet()

    def meters_configured(self) -> bool:
        """Whether a real MeterProvider is set (not the API's proxy or no-op one)."""
        provider = self.metrics.get_meter_provider()
        return type(provider).__name__ not in ("_ProxyMeterProvider", "NoOpMeterProvider")

    def _observe_hits(self, options: object) -> Iterable[Any]:
        from opentelemetry.metrics import Observation

        for client in list(self.counted):
            stats: ClientStats = client._stats
            yield Observation(stats.hits(), stats.attributes)


_state: _Telemetry | None = None
_unavailable = False
_guard = threading.Lock()


def _telemetry() -> _Telemetry | None:
    """The telemetry objects, or None where opentelemetry-api is not installed."""
    global _state, _unavailable
    if _state is not None or _unavailable:
        return _state
    with _guard:
        if _state is None and not _unavailable:
            try:
                _state = _Telemetry()
            except ImportError:
                _unavailable = True
    return _state


class ClientStats:
    """Per-client counts behind `eagle_id.token.cache_hits` (made when hits are counted)."""

    def __init__(self, attributes: dict[str, str]) -> None:
        self.attributes = attributes
        self.calls = itertools.count()
        self.waits = itertools.count()

    def hits(self) -> int:
        # A count's repr is its next value: "count(N)"; reading it does not advance it.
        return _value(self.calls) - _value(self.waits)


def _value(counter: itertools.count[int]) -> int:
    return int(repr(counter)[6:-1])


def _attributes(client: Any) -> dict[str, str]:
    return {"eagle_id.client_id": client.client_id, "eagle_id.scope": " ".join(client._scopes)}


def _count_hits(telemetry: _Telemetry, client: Any) -> None:
    """Wrap this client's `get_token` with a call counter (once; see the module docstring)."""
    if getattr(client, "_stats", None) is not None or not telemetry.meters_configured():
        return
    stats = ClientStats(_attributes(client))
    bound = type(client).get_token.__get__(client)
    calls = stats.calls

    # Plain (not async) even for AsyncTokenClient: it returns the original's coroutine.
    def get_token() -> Any:
        next(calls)
        return bound()

    get_token.__doc__ = bound.__doc__
    client._stats = stats
    client.get_token = get_token
    telemetry.counted.add(client)


def waited(client: Any) -> None:
    """A `get_token()` call found no fresh token in memory and waits for one (not a hit)."""
    stats = getattr(client, "_stats", None)
    if stats is not None:
        next(stats.waits)


class Outcome:
    """What a try came to, told to `fetch_span` from inside it: called with the try's result
    (a `TokenError` is a failure), it returns that result."""

    def __init__(self) -> None:
        self.failure: str | None = None

    def __call__(self, result: Any) -> Any:
        if isinstance(result, BaseException):
            self.failure = _code(result)
        return result


@contextlib.contextmanager
def fetch_span(client: Any, attempt: int, *, ahead: bool) -> Iterator[Outcome]:
    """Around one try of the token endpoint: a span, and the fetch counter and histogram.
    The try's outcome is the error it returned (through the `Outcome` yielded) or raised:
    its error code, else its class name."""
    told = Outcome()
    telemetry = _telemetry()
    if telemetry is None:
        yield told
        return
    _count_hits(telemetry, client)
    attributes = _attributes(client)
    failure: list[str] = []
    started = time.monotonic()
    with telemetry.tracer.start_as_current_span(
        _SPAN_NAME,
        kind=telemetry.trace.SpanKind.CLIENT,
        attributes={
            "eagle_id.url": client.url,
            **attributes,
            "eagle_id.attempt": attempt,
            "eagle_id.refresh_ahead": ahead,
        },
        record_exception=False,  # an exception's text is not ours to export
        set_status_on_exception=False,
    ) as span:
        try:
            yield told
        except BaseException as exc:
            failure.append(_code(exc))
            raise
        finally:
            if not failure and told.failure is not None:
                failure.append(told.failure)
            outcome = failure[0] if failure else "ok"
            span.set_attribute("eagle_id.outcome", outcome)
            if failure:
                span.set_attribute("error.type", outcome)
                span.set_status(telemetry.trace.StatusCode.ERROR, outcome)
            measured = {**attributes, "eagle_id.outcome": outcome}
            telemetry.fetches.add(1, measured)
            telemetry.fetch_duration.record(time.monotonic() - started, measured)


def _code(error: BaseException) -> str:
    return outcome_label(error)


def outcome_label(error: BaseException) -> str:
    """What to call a failure, always one of `LABELS`: the OAuth error code if registered,
    else our exception's class name (not the bare `TokenError`), else the HTTP status class,
    else our class name, else "other"."""
    code = getattr(error, "error", None)
    if isinstance(code, str) and code in REGISTERED_ERRORS:
        return code
    name = type(error).__name__
    ours = _OURS.get(name) is type(error)
    if ours and name != "TokenError":
        return name
    status = getattr(error, "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
        return f"{status // 100}xx"
    return name if ours else "other"


def retried(client: Any) -> None:
    """A failed try is about to be retried."""
    telemetry = _telemetry()
    if telemetry is not None:
        telemetry.retries.add(1, _attributes(client))


def fetch_failed(client: Any, error: BaseException, *, ahead: bool) -> None:
    """A fetch failed for good (after its retries), or a refresh-ahead failed."""
    telemetry = _telemetry()
    if telemetry is not None:
        telemetry.failures.add(
            1, {**_attributes(client), "error.type": _code(error), "eagle_id.refresh_ahead": ahead}
        )


def refresh_ahead(client: Any) -> None:
    """A refresh before expiry starts."""
    telemetry = _telemetry()
    if telemetry is not None:
        telemetry.refresh_aheads.add(1, _attributes(client))


def lock_wait(client: Any, lock: AbstractContextManager[Any]) -> AbstractContextManager[Any]:
    """`lock`, timing how long entering it takes (the lock itself when telemetry is off)."""
    telemetry = _telemetry()
    if telemetry is None:
        return lock
    return _timed(telemetry, client, lock)


@contextlib.contextmanager
def _timed(telemetry: _Telemetry, client: Any, lock: AbstractContextManager[Any]) -> Iterator[Any]:
    started = time.monotonic()
    with lock as held:
        telemetry.lock_wait.record(time.monotonic() - started, _attributes(client))
        yield held


def alock_wait(
    client: Any, lock: AbstractAsyncContextManager[Any]
) -> AbstractAsyncContextManager[Any]:
    """`lock_wait` for an async cache lock."""
    telemetry = _telemetry()
    if telemetry is None:
        return lock
    return _atimed(telemetry, client, lock)


@contextlib.asynccontextmanager
async def _atimed(
    telemetry: _Telemetry, client: Any, lock: AbstractAsyncContextManager[Any]
) -> AsyncIterator[Any]:
    started = time.monotonic()
    async with lock as held:
        telemetry.lock_wait.record(time.monotonic() - started, _attributes(client))
        yield held
