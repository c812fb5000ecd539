"""Sections 1 and 2: a cached token lookup, and what an auth adds to one request.

1. Warm-cache lookup: the floor (a dict lookup plus a `time.monotonic()` compare, the least any
   cache can do) vs `TokenClient.get_token()` vs httpx-auth vs Authlib, sync and async.
2. Request overhead: one request through `httpx.Client(auth=BearerAuth(...))` vs the same client
   with a static `Authorization` header, over `httpx.MockTransport` (no network: only the client
   side is measured), and the same for httpx-auth and Authlib.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Generator
from functools import partial
from typing import Any

import httpx

from . import _ours, _rivals
from ._harness import (
    Check,
    Section,
    Timing,
    fmt_ns,
    fmt_ratio,
    paired_ratio,
    progress,
    time_async_interleaved,
    time_interleaved,
)

__all__ = ["Endpoint", "bench_lookup", "bench_overhead"]

SCOPE = "openid email profile inspect"
CLIENT_ID = "demo-client"
CLIENT_SECRET = "demo-secret"
FLOOR = "floor: dict + monotonic()"
OURS = "screening-eagle-id"
HTTPX_AUTH = "httpx-auth"
AUTHLIB = "Authlib"

# The targets.
LOOKUP_MAX_X_FLOOR = 2.5
LOOKUP_MIN_X_FASTER_THAN_HTTPX_AUTH = 20.0
OVERHEAD_MAX_PERCENT = 5.0


class Endpoint:
    """Where the clients fetch their one warm-up token from (the storm server)."""

    def __init__(self, base_url: str, token_url: str) -> None:
        self.base_url = base_url
        self.token_url = token_url


def _make_floor() -> Callable[[], str]:
    key = f"http://127.0.0.1 {CLIENT_ID} {SCOPE}"  # a str key: its hash is cached
    cache = {key: ("token", time.monotonic() + 3600.0)}
    monotonic = time.monotonic

    def floor() -> str:
        entry = cache.get(key)
        if entry is not None and monotonic() < entry[1]:
            return entry[0]
        raise LookupError(key)

    return floor


def _make_async_floor() -> Callable[[], Awaitable[str]]:
    # The same body inlined in a coroutine: the least an `async def` lookup can cost.
    key = f"http://127.0.0.1 {CLIENT_ID} {SCOPE}"  # a str key: its hash is cached
    cache = {key: ("token", time.monotonic() + 3600.0)}
    monotonic = time.monotonic

    async def async_floor() -> str:
        entry = cache.get(key)
        if entry is not None and monotonic() < entry[1]:
            return entry[0]
        raise LookupError(key)

    return async_floor


def _lookup_rows(timings: list[Timing], prefix: str) -> tuple[list[list[str]], dict[str, Timing]]:
    by_name = {t.name: t for t in timings}
    floor = by_name[FLOOR]
    httpx_auth = by_name.get(HTTPX_AUTH)
    rows = []
    for t in timings:
        faster = "" if httpx_auth is None else fmt_ratio(paired_ratio(httpx_auth, t))
        rows.append(
            [
                f"{prefix}{t.name}",
                fmt_ns(t.best_ns),
                fmt_ns(t.median_ns),
                fmt_ratio(paired_ratio(t, floor)),
                faster,
            ]
        )
    return rows, by_name


def _lookup_checks(by_name: dict[str, Timing], label: str) -> list[Check]:
    ours = by_name.get(OURS)
    if ours is None:
        return [Check(f"{label} lookup vs floor", f"≤ {LOOKUP_MAX_X_FLOOR}x", "not measured", None)]
    vs_floor = paired_ratio(ours, by_name[FLOOR])
    checks = [
        Check(
            f"{label} lookup vs floor",
            f"≤ {LOOKUP_MAX_X_FLOOR}x",
            fmt_ratio(vs_floor),
            vs_floor <= LOOKUP_MAX_X_FLOOR,
        )
    ]
    if HTTPX_AUTH in by_name:
        faster = paired_ratio(by_name[HTTPX_AUTH], ours)
        checks.append(
            Check(
                f"{label} lookup vs httpx-auth",
                f"≥ {LOOKUP_MIN_X_FASTER_THAN_HTTPX_AUTH:.0f}x faster",
                f"{fmt_ratio(faster)} faster",
                faster >= LOOKUP_MIN_X_FASTER_THAN_HTTPX_AUTH,
            )
        )
    return checks


def bench_lookup(endpoint: Endpoint, rounds: int) -> Section:
    """Section 1: warm-cache lookups, sync and async."""
    section = Section(
        "1. Cached token lookup (warm cache)",
        ["subject", "best", "median", "vs floor", "httpx-auth ÷ this"],
    )
    notes = section.notes
    token_http = httpx.Client()
    subjects: list[tuple[str, Callable[[], object]]] = [(FLOOR, _make_floor())]
    try:
        try:
            client = _ours.token_client(endpoint.base_url, CLIENT_ID, CLIENT_SECRET, SCOPE)
            client.get_token()  # warm the cache: one real fetch
            subjects.append((OURS, client.get_token))
        except _ours.Unavailable as exc:
            notes.append(f"{OURS} not measured: {exc}")
        auth = _rivals.httpx_auth_auth(
            endpoint.token_url, CLIENT_ID, CLIENT_SECRET, SCOPE, token_http
        )
        _rivals.httpx_auth_clear()
        lookup = _rivals.httpx_auth_lookup(auth)
        lookup()  # warm
        subjects.append((HTTPX_AUTH, lookup))
        authlib = _rivals.authlib_sync_client(endpoint.token_url, CLIENT_ID, CLIENT_SECRET, SCOPE)
        authlib.fetch_token()  # warm
        # With no argument it checks `self.token`, as `OAuth2Client.request` does.
        subjects.append((AUTHLIB, authlib.ensure_active_token))
        progress(f"lookup (sync): {', '.join(n for n, _ in subjects)}; {rounds} rounds")
        timings = time_interleaved(subjects, rounds)
        rows, by_name = _lookup_rows(timings, "")
        section.rows += rows
        section.checks += _lookup_checks(by_name, "sync")
        ours_sync = dict(subjects).get(OURS)
        if ours_sync is not None and any(c.met is False for c in section.checks):
            section.profile = profile_calls(ours_sync, "TokenClient.get_token() (warm)")
        authlib.close()

        async_subjects = asyncio.run(_async_subjects(endpoint, notes, lookup))
        progress(f"lookup (async): {', '.join(n for n, _ in async_subjects)}; {rounds} rounds")
        timings = time_async_interleaved(async_subjects, rounds)
        rows, by_name = _lookup_rows(timings, "async ")
        section.rows += rows
        async_checks = _lookup_checks(by_name, "async")
        section.checks += async_checks
        ours_async = dict(async_subjects).get(OURS)
        if ours_async is not None and any(c.met is False for c in async_checks):
            tree = profile_calls(
                partial(_await_many, ours_async), "AsyncTokenClient.get_token() (warm), x1000"
            )
            section.profile = "\n\n".join(p for p in (section.profile, tree) if p)
    finally:
        token_http.close()
    notes += [
        "Per lookup: best and median round; the ratios are medians over rounds of the two "
        "times measured in the same round. httpx-auth: the "
        "`OAuth2.token_cache.get_token(...)` call its `auth_flow` makes per request. Authlib: "
        "`OAuth2Client.ensure_active_token(token)` (`AsyncOAuth2Client` for async).",
        "httpx-auth has no async token path: its async auth flow makes the same plain call, "
        "timed as such inside the loop. Any `async def` lookup pays for creating and awaiting a "
        "coroutine (the async floor), so httpx-auth ÷ async floor bounds the async speed-up.",
        _otel_note(),
    ]
    return section


def _otel_note() -> str:
    """Under which OpenTelemetry condition ours was measured (its hot path depends on it)."""
    if "opentelemetry" not in sys.modules:
        return "OpenTelemetry: opentelemetry-api not installed."
    from opentelemetry import metrics

    provider = type(metrics.get_meter_provider()).__name__
    configured = provider not in ("_ProxyMeterProvider", "NoOpMeterProvider")
    return "OpenTelemetry: opentelemetry-api installed and imported (at the warm-up fetch), " + (
        "a MeterProvider configured: cache hits counted."
        if configured
        else "no provider configured: get_token() is not wrapped, nothing runs per lookup."
    )


async def _async_subjects(
    endpoint: Endpoint, notes: list[str], httpx_auth_lookup: Callable[[], str]
) -> list[tuple[str, Callable[[], object]]]:
    subjects: list[tuple[str, Callable[[], object]]] = [(FLOOR, _make_async_floor())]
    try:
        client = _ours.async_token_client(endpoint.base_url, CLIENT_ID, CLIENT_SECRET, SCOPE)
        await client.get_token()
        subjects.append((OURS, client.get_token))
    except _ours.Unavailable as exc:
        notes.append(f"async {OURS} not measured: {exc}")

    # httpx-auth has no async lookup: its async auth flow makes the same plain call.
    subjects.append((HTTPX_AUTH, httpx_auth_lookup))
    authlib = _rivals.authlib_async_client(endpoint.token_url, CLIENT_ID, CLIENT_SECRET, SCOPE)
    await authlib.fetch_token()
    subjects.append((AUTHLIB, partial(authlib.ensure_active_token, authlib.token)))
    return subjects


def _ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b'{"ok":true}')


async def _aok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b'{"ok":true}')


_API = "https://api.example.test/v1/things"
STATIC = "static header"
MINIMAL = "minimal httpx.Auth"
# Overhead batches are short and many: the minimum of many samples is what converges.
_OVERHEAD_BATCH_NS = 5_000_000


class _MinimalAuth(httpx.Auth):
    """The least an `httpx.Auth` can do: set the header it was given, once."""

    def __init__(self, header: str) -> None:
        self._header = header

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


def _await_many(func: Callable[[], object], times: int = 1000) -> None:
    async def many() -> None:
        for _ in range(times):
            await func()  # type: ignore[misc]

    asyncio.run(many())


def profile_calls(func: Callable[[], object], title: str, seconds: float = 1.0) -> str | None:
    """A pyinstrument call tree of `func` called in a loop (when a target is missed)."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        return None
    progress(f"target missed: profiling {title} for {seconds:.0f} s")
    profiler = Profiler(interval=0.0001)
    profiler.start()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in range(100):
            func()
    profiler.stop()
    text = profiler.output_text(unicode=True, color=False)
    lines = [line for line in text.splitlines() if line.strip()][:60]
    return "\n".join([f"{title}:", *lines])


def _overhead_rows(section: Section, timings: list[Timing], prefix: str) -> None:
    by_name = {t.name: t for t in timings}
    base = by_name[STATIC]
    for t in timings:
        paired = paired_ratio(t, base)
        section.rows.append(
            [
                prefix + t.name,
                fmt_ns(t.best_ns),
                fmt_ratio(paired),
                f"{(paired - 1) * 100:+.1f} %",
            ]
        )
    label = f"{prefix}BearerAuth overhead"
    ours = by_name.get(f"{OURS} BearerAuth")
    if ours is None:
        section.checks.append(Check(label, f"≤ {OVERHEAD_MAX_PERCENT:.0f} %", "not measured", None))
        return
    over = (paired_ratio(ours, base) - 1) * 100
    section.checks.append(
        Check(
            label, f"≤ {OVERHEAD_MAX_PERCENT:.0f} %", f"{over:+.1f} %", over <= OVERHEAD_MAX_PERCENT
        )
    )


async def _async_overhead_subjects(
    endpoint: Endpoint, notes: list[str]
) -> tuple[list[tuple[str, Callable[[], Awaitable[object]]]], list[Any]]:
    closers: list[Any] = []
    subjects: list[tuple[str, Callable[[], Awaitable[object]]]] = []
    access_token = "x"
    try:
        tokens = _ours.async_token_client(endpoint.base_url, CLIENT_ID, CLIENT_SECRET, SCOPE)
        access_token = _ours.access_token(await tokens.get_token())
        ours: Any = httpx.AsyncClient(
            transport=httpx.MockTransport(_aok), auth=_ours.bearer_auth(tokens)
        )
        closers.append(ours)
    except _ours.Unavailable as exc:
        notes.append(f"async {OURS} not measured: {exc}")
        ours = None
    static = httpx.AsyncClient(
        transport=httpx.MockTransport(_aok), headers={"Authorization": f"Bearer {access_token}"}
    )
    closers.append(static)
    subjects.append((STATIC, partial(static.get, _API)))
    minimal = httpx.AsyncClient(
        transport=httpx.MockTransport(_aok), auth=_MinimalAuth(f"Bearer {access_token}")
    )
    closers.append(minimal)
    subjects.append((MINIMAL, partial(minimal.get, _API)))
    if ours is not None:
        subjects.append((f"{OURS} BearerAuth", partial(ours.get, _API)))
    token_http = httpx.Client()
    closers.append(token_http)
    auth = _rivals.httpx_auth_auth(endpoint.token_url, CLIENT_ID, CLIENT_SECRET, SCOPE, token_http)
    _rivals.httpx_auth_clear()
    _rivals.httpx_auth_lookup(auth)()  # warm
    hx = httpx.AsyncClient(transport=httpx.MockTransport(_aok), auth=auth)
    closers.append(hx)
    subjects.append((HTTPX_AUTH, partial(hx.get, _API)))
    fetcher = _rivals.authlib_async_client(endpoint.token_url, CLIENT_ID, CLIENT_SECRET, SCOPE)
    token = await fetcher.fetch_token()
    await fetcher.aclose()
    al = _rivals.authlib_async_client(
        endpoint.token_url,
        CLIENT_ID,
        CLIENT_SECRET,
        SCOPE,
        token=token,
        transport=_rivals.authlib_ok_transport(asynchronous=True),
    )
    closers.append(al)
    subjects.append((AUTHLIB, partial(al.get, _API)))
    return subjects, closers


async def _aclose_all(closers: list[Any]) -> None:
    for closer in closers:
        if isinstance(closer, httpx.Client):
            closer.close()
        else:
            await closer.aclose()


def bench_overhead(endpoint: Endpoint, rounds: int) -> Section:
    """Section 2: one request with each auth vs a static header, over MockTransport."""
    section = Section(
        "2. Request overhead of the auth (httpx.MockTransport)",
        ["client", "per request", "vs static header", "overhead"],
    )
    notes = section.notes
    token_http = httpx.Client()
    closers: list[Any] = [token_http]
    try:
        ours_client = _ours.token_client(endpoint.base_url, CLIENT_ID, CLIENT_SECRET, SCOPE)
        bearer = ours_client.get_token()
        access_token = _ours.access_token(bearer)
        subjects: list[tuple[str, Callable[[], object]]] = []
        static = httpx.Client(
            transport=httpx.MockTransport(_ok),
            headers={"Authorization": f"Bearer {access_token}"},
        )
        closers.append(static)
        subjects.append((STATIC, partial(static.get, _API)))
        minimal = httpx.Client(
            transport=httpx.MockTransport(_ok), auth=_MinimalAuth(f"Bearer {access_token}")
        )
        closers.append(minimal)
        subjects.append((MINIMAL, partial(minimal.get, _API)))
        ours = httpx.Client(transport=httpx.MockTransport(_ok), auth=_ours.bearer_auth(ours_client))
        closers.append(ours)
        subjects.append((f"{OURS} BearerAuth", partial(ours.get, _API)))
    except _ours.Unavailable as exc:
        notes.append(f"{OURS} not measured: {exc}")
        static = httpx.Client(
            transport=httpx.MockTransport(_ok), headers={"Authorization": "Bearer x"}
        )
        closers.append(static)
        subjects = [(STATIC, partial(static.get, _API))]
    try:
        auth = _rivals.httpx_auth_auth(
            endpoint.token_url, CLIENT_ID, CLIENT_SECRET, SCOPE, token_http
        )
        _rivals.httpx_auth_clear()
        _rivals.httpx_auth_lookup(auth)()  # warm
        hx = httpx.Client(transport=httpx.MockTransport(_ok), auth=auth)
        closers.append(hx)
        subjects.append((HTTPX_AUTH, partial(hx.get, _API)))
        fetcher = _rivals.authlib_sync_client(endpoint.token_url, CLIENT_ID, CLIENT_SECRET, SCOPE)
        closers.append(fetcher)
        token = fetcher.fetch_token()
        al = _rivals.authlib_sync_client(
            endpoint.token_url,
            CLIENT_ID,
            CLIENT_SECRET,
            SCOPE,
            token=token,
            transport=_rivals.authlib_ok_transport(),
        )
        closers.append(al)
        subjects.append((AUTHLIB, partial(al.get, _API)))
        progress(f"request overhead: {', '.join(n for n, _ in subjects)}; {rounds} rounds")
        timings = time_interleaved(subjects, rounds, _OVERHEAD_BATCH_NS)
        _overhead_rows(section, timings, "")
        bearer = dict(subjects).get(f"{OURS} BearerAuth")
        if bearer is not None and any(c.met is False for c in section.checks):
            section.profile = profile_calls(bearer, "BearerAuth request (sync), MockTransport")
    finally:
        for closer in closers:
            closer.close()
    async_subjects, aclosers = asyncio.run(_async_overhead_subjects(endpoint, notes))
    progress(f"request overhead (async): {', '.join(n for n, _ in async_subjects)}")
    try:
        timings = time_async_interleaved(async_subjects, rounds, _OVERHEAD_BATCH_NS)
    finally:
        asyncio.run(_aclose_all(aclosers))
    _overhead_rows(section, timings, "async ")
    notes.append(
        "`client.get(url)` on a warm token: per request = best round; vs static header = the "
        "median over rounds of the two times measured in the same round. Authlib: "
        "`OAuth2Client(token=..., transport=MockTransport)` — its client is the API client, "
        f"on {_rivals.authlib_http().__name__} (Authlib's integration prefers httpx2 when it is "
        "installed). "
        f"`{MINIMAL}`: an auth whose flow only sets a fixed header — the least any auth costs "
        "(often less than a static default header, which httpx merges into every request)."
    )
    return section
