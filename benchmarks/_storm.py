"""Section 3: cold-cache storms — 1,000 threads, then 1,000 asyncio tasks, all wanting a token
at once from an endpoint that takes 50 ms. Counted at the server: how many token requests each
client library makes, and how long its callers wait.

A library that serialises its fetches (one request per waiting caller, one after another) would
need 1,000 x 50 ms = 50 s; each storm is therefore capped: past the cap the endpoint drops its
delay so the remaining callers drain quickly, and the row says so.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from . import _ours, _rivals
from ._harness import Check, Section, fmt_ns, fmt_ratio, percentile, progress, ratio
from ._lookup import AUTHLIB, CLIENT_ID, CLIENT_SECRET, HTTPX_AUTH, OURS, SCOPE, Endpoint

__all__ = ["STORM_SIZE", "bench_storms"]

STORM_SIZE = 1000
CAP_S = 5.0
DRAIN_S = 30.0
OURS_SHARED = f"{OURS} (http_client=)"


def _warm_up(endpoint: Endpoint, http: httpx.Client) -> None:
    """One throwaway fetch per library and mode, so that no storm pays for first imports."""
    progress("storms: warming up imports (one throwaway fetch per library)")
    try:
        _ours.token_client(endpoint.base_url, CLIENT_ID, CLIENT_SECRET, SCOPE).get_token()

        async def warm_async() -> None:
            client = _ours.async_token_client(endpoint.base_url, CLIENT_ID, CLIENT_SECRET, SCOPE)
            await client.get_token()
            await client.aclose()

        asyncio.run(warm_async())
    except _ours.Unavailable:
        pass
    _rivals.httpx_auth_clear()
    auth = _rivals.httpx_auth_auth(endpoint.token_url, CLIENT_ID, CLIENT_SECRET, SCOPE, http)
    _rivals.httpx_auth_lookup(auth)()
    _rivals.httpx_auth_clear()
    with _rivals.authlib_sync_client(endpoint.token_url, CLIENT_ID, CLIENT_SECRET, SCOPE) as al:
        al.fetch_token()

    async def warm_authlib() -> None:
        client = _rivals.authlib_async_client(endpoint.token_url, CLIENT_ID, CLIENT_SECRET, SCOPE)
        async with client:
            await client.fetch_token()

    asyncio.run(warm_authlib())


@dataclass
class StormResult:
    """What one storm did."""

    requests: int
    waits_ns: list[float]
    errors: int
    unfinished: int
    capped: bool
    first_error: str = ""


class _Counter:
    """Reads and resets the storm server's token-request counter."""

    def __init__(self, base_url: str) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=10)

    def reset(self) -> None:
        self._http.post("/reset").raise_for_status()

    def drain(self) -> None:
        self._http.post("/drain").raise_for_status()

    def count(self) -> int:
        return int(self._http.get("/stats").json()["count"])

    def close(self) -> None:
        self._http.close()


def thread_storm(get: Callable[[], object], counter: _Counter, size: int) -> StormResult:
    """`size` threads released together, each calling `get()` once."""
    waits: list[float | None] = [None] * size
    errors: list[BaseException] = []
    released: list[int] = []
    # The barrier's action runs once, as the last party arrives, before anyone is released:
    # every wait is measured from that one instant (a caller slow to be scheduled waits too).
    barrier = threading.Barrier(size + 1, action=lambda: released.append(time.perf_counter_ns()))

    def worker(index: int) -> None:
        barrier.wait()
        try:
            get()
        except Exception as exc:
            errors.append(exc)
        waits[index] = time.perf_counter_ns() - released[0]

    counter.reset()
    old_stack = threading.stack_size(512 * 1024)  # 1,000 threads: keep the address space small
    try:
        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(size)]
        for thread in threads:
            thread.start()
    finally:
        threading.stack_size(old_stack)
    barrier.wait()
    deadline = time.monotonic() + CAP_S
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    capped = any(t.is_alive() for t in threads)
    if capped:
        counter.drain()
        deadline = time.monotonic() + DRAIN_S
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
    done = [w for w in waits if w is not None]
    first = f"{type(errors[0]).__name__}: {errors[0]}" if errors else ""
    return StormResult(counter.count(), done, len(errors), size - len(done), capped, first)


async def task_storm(
    get: Callable[[], Awaitable[object]], counter: _Counter, size: int
) -> StormResult:
    """`size` asyncio tasks released together, each awaiting `get()` once."""
    waits: list[float | None] = [None] * size
    errors: list[BaseException] = []
    gate = asyncio.Event()

    released = 0

    async def one(index: int) -> None:
        await gate.wait()
        try:
            await get()
        except Exception as exc:
            errors.append(exc)
        waits[index] = time.perf_counter_ns() - released

    counter.reset()
    tasks = [asyncio.create_task(one(i)) for i in range(size)]
    await asyncio.sleep(0)  # every task reaches the gate
    # Waits count from this instant: a task the event loop runs late waits too.
    released = time.perf_counter_ns()
    gate.set()
    _, pending = await asyncio.wait(tasks, timeout=CAP_S)
    capped = bool(pending)
    if pending:
        counter.drain()
        _, pending = await asyncio.wait(pending, timeout=DRAIN_S)
        for task in pending:
            task.cancel()
    done = [w for w in waits if w is not None]
    first = f"{type(errors[0]).__name__}: {errors[0]}" if errors else ""
    return StormResult(counter.count(), done, len(errors), size - len(done), capped, first)


def _row(name: str, mode: str, result: StormResult, latency_ns: float, size: int) -> list[str]:
    def wait(q: float) -> str:
        if not result.waits_ns:
            return "-"
        value = percentile(result.waits_ns, q)
        # Waits of callers still queued at the cap are not known, only bounded from below.
        finished_share = len(result.waits_ns) / size * 100
        if result.capped and q > finished_share:
            return f"> {CAP_S:.0f} s (capped)"
        return f"{fmt_ns(value)} ({fmt_ratio(ratio(value, latency_ns))})"

    requests = str(result.requests)
    if result.capped:
        requests += f" (capped at {CAP_S:.0f} s, then drained)"
    return [
        name,
        mode,
        requests,
        wait(50),
        wait(99),
        str(result.errors + result.unfinished),
    ]


def bench_storms(endpoint: Endpoint, counter_url: str, size: int = STORM_SIZE) -> Section:
    """Section 3: thread and task storms for this package, httpx-auth and Authlib."""
    section = Section(
        f"3. Cold-cache storms: {size:,} threads / {size:,} asyncio tasks, 50 ms endpoint",
        ["client", "callers", "token requests", "p50 wait (x 1 fetch)", "p99 wait", "failed"],
    )
    counter = _Counter(counter_url)
    http = httpx.Client(timeout=30)
    try:
        # The baseline every wait is a multiple of: one token request, measured now.
        samples = []
        for _ in range(5):
            start = time.perf_counter_ns()
            http.post(endpoint.token_url, data={"grant_type": "client_credentials"})
            samples.append(time.perf_counter_ns() - start)
        latency_ns = min(samples)
        section.notes.append(
            f"One token request on its own takes {fmt_ns(latency_ns)} (the x baseline)."
        )
        results: dict[tuple[str, str], StormResult] = {}

        def record(name: str, mode: str, result: StormResult) -> None:
            results[(name, mode)] = result
            section.rows.append(_row(name, mode, result, latency_ns, size))
            if result.first_error:
                section.notes.append(
                    f"{name} / {mode}: {result.errors} callers failed, first with "
                    f"{result.first_error[:200]}"
                )
            progress(
                f"storm {name} / {mode}: {result.requests} token requests,"
                f" {len(result.waits_ns)} done{' (capped)' if result.capped else ''}"
            )

        _warm_up(endpoint, http)
        # This package: as constructed by default, then on a caller's existing httpx client
        # (like the two others below, whose HTTP clients exist before the storm).
        try:
            ours = _ours.token_client(endpoint.base_url, CLIENT_ID, CLIENT_SECRET, SCOPE)
            progress(f"storm {OURS} / threads")
            record(OURS, "threads", thread_storm(ours.get_token, counter, size))
            ours = _ours.token_client(
                endpoint.base_url, CLIENT_ID, CLIENT_SECRET, SCOPE, http_client=http
            )
            progress(f"storm {OURS_SHARED} / threads")
            record(OURS_SHARED, "threads", thread_storm(ours.get_token, counter, size))
        except _ours.Unavailable as exc:
            section.notes.append(f"{OURS} not measured: {exc}")
        # httpx-auth: a shared token client; its lookup is what its auth_flow calls.
        _rivals.httpx_auth_clear()
        auth = _rivals.httpx_auth_auth(endpoint.token_url, CLIENT_ID, CLIENT_SECRET, SCOPE, http)
        progress(f"storm {HTTPX_AUTH} / threads")
        record(HTTPX_AUTH, "threads", thread_storm(_rivals.httpx_auth_lookup(auth), counter, size))
        # Authlib: what OAuth2Client.request() does before each request.
        authlib = _rivals.authlib_sync_client(
            endpoint.token_url,
            CLIENT_ID,
            CLIENT_SECRET,
            SCOPE,
            token=_rivals.expired_authlib_token(),
            timeout=30,
        )
        progress(f"storm {AUTHLIB} / threads")
        try:
            record(AUTHLIB, "threads", thread_storm(authlib.ensure_active_token, counter, size))
        finally:
            authlib.close()
        for name, mode, result in asyncio.run(_async_storms(endpoint, counter, size, section)):
            record(name, mode, result)
    finally:
        http.close()
        counter.close()
    for mode in ("threads", "tasks"):
        ours_result = results.get((OURS, mode))
        section.checks.append(
            Check(
                f"single flight ({mode})",
                "1 token request",
                "not measured" if ours_result is None else str(ours_result.requests),
                None
                if ours_result is None
                else ours_result.requests == 1 and ours_result.errors == 0,
            )
        )
    section.notes += [
        "Waits are per caller, from the storm's release to its token (scheduling 1,000 callers "
        "is part of the wait); x = multiples of one token request.",
        f"`{OURS_SHARED}`: the same client given an existing `httpx.Client`/`AsyncClient`; by "
        "default the generated client builds its httpx client on the first fetch, so the "
        "first caller of a new TokenClient pays for that too (its SSL context is made once "
        "per process and shared by every client).",
        "httpx-auth fetches while holding a lock and does not re-check the cache after it, so "
        "every caller that missed makes its own request, one after another.",
        "Authlib starts cold with an expired token (it refuses to send with none): "
        "`ensure_active_token()` on `OAuth2Client` (no lock) and `AsyncOAuth2Client` (anyio lock).",
    ]
    return section


async def _async_storms(
    endpoint: Endpoint, counter: _Counter, size: int, section: Section
) -> list[tuple[str, str, StormResult]]:
    out: list[tuple[str, str, StormResult]] = []
    try:
        ours = _ours.async_token_client(endpoint.base_url, CLIENT_ID, CLIENT_SECRET, SCOPE)
        progress(f"storm {OURS} / tasks")
        out.append((OURS, "tasks", await task_storm(ours.get_token, counter, size)))
        async with httpx.AsyncClient(timeout=30) as shared:
            ours = _ours.async_token_client(
                endpoint.base_url, CLIENT_ID, CLIENT_SECRET, SCOPE, http_client=shared
            )
            await shared.get(endpoint.base_url + "/stats")  # its pool and imports, warm
            progress(f"storm {OURS_SHARED} / tasks")
            out.append((OURS_SHARED, "tasks", await task_storm(ours.get_token, counter, size)))
    except _ours.Unavailable as exc:
        section.notes.append(f"async {OURS} not measured: {exc}")
    # httpx-auth's async flow runs its sync lookup (and sync fetch) inside the event loop.
    _rivals.httpx_auth_clear()
    with httpx.Client(timeout=30) as http:
        auth = _rivals.httpx_auth_auth(endpoint.token_url, CLIENT_ID, CLIENT_SECRET, SCOPE, http)
        lookup = _rivals.httpx_auth_lookup(auth)

        async def httpx_auth_get() -> str:
            return lookup()

        progress(f"storm {HTTPX_AUTH} / tasks")
        out.append((HTTPX_AUTH, "tasks", await task_storm(httpx_auth_get, counter, size)))
    authlib: Any = _rivals.authlib_async_client(
        endpoint.token_url,
        CLIENT_ID,
        CLIENT_SECRET,
        SCOPE,
        token=_rivals.expired_authlib_token(),
        timeout=30,
    )

    async def authlib_get() -> None:
        await authlib.ensure_active_token(authlib.token)

    progress(f"storm {AUTHLIB} / tasks")
    try:
        out.append((AUTHLIB, "tasks", await task_storm(authlib_get, counter, size)))
    finally:
        await authlib.aclose()
    return out
