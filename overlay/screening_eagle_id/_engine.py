"""The token engine: every decision about getting a token, and no I/O.

`TokenEngine` holds the state (the token in memory, its refresh point and hard expiry, how
the last fetch ended) and three generators, one per public operation: `get_flow()`,
`fetch_flow()` and `invalidate_flow(token)`. They decide serve, adopt from the shared cache,
wait, fetch, retry after a delay, refresh ahead, and give up; for everything else they yield
an effect (`_effects.py`: lock, cache, send, sleep, log) and receive its result.

Time comes from an injected `Clock` and chance from an injected `random()`, so every path
runs in a test with `next()` / `.send()` alone (`tests/test_engine.py`). `TokenClient` and
`AsyncTokenClient` (`_client.py`) only carry these effects out, blocking or awaited, through
`_drive.py`. The cached hot path never enters a generator: a client's `get_token()` reads
`_entry` and the clock itself, and calls `get_flow()` only when that token is due a refresh.

Refresh-ahead runs in the thread (or task) of the first caller past the refresh point, not in
a background thread: that caller pays one request's latency while every other caller keeps
getting the current token; an idle client makes no requests at all. A refresh-ahead is a
single try (no retry sleeps in a caller's thread); when it fails, the refresh point moves
back by a growing backoff (`retry_refresh_at`).
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

from ._clock import Clock
from ._drive import Flow
from ._effects import (
    Acquire,
    DeleteCache,
    Effect,
    LockCache,
    Log,
    Observe,
    ReadCache,
    Release,
    Send,
    Sleep,
    UnlockCache,
    WriteCache,
)
from ._entry import EntryError, verify
from ._exceptions import TokenError
from ._frozen import Frozen, replace
from ._token import Token, refresh_fraction, retry_refresh_at, schedule, schedule_cached

__all__ = ["NOTHING", "Held", "RetryPolicy", "TokenEngine"]


class RetryPolicy(Frozen):
    """How one fetch is retried: 5xx, 429 and transport errors only, 4xx never.

    Up to `attempts` tries in all; before try n+1 wait a "full jitter" backoff,
    uniform(0, min(max_backoff, backoff * 2**(n-1))), or the server's `Retry-After` capped at
    `max_retry_after`. No retry starts if it would end its wait past `total_timeout`
    seconds after the first try began.
    """

    __slots__ = ("attempts", "backoff", "max_backoff", "max_retry_after", "total_timeout")
    attempts: int
    backoff: float
    max_backoff: float
    max_retry_after: float
    total_timeout: float

    def __init__(
        self,
        attempts: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        max_retry_after: float = 30.0,
        total_timeout: float = 30.0,
    ) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "attempts", attempts)
        setattr_(self, "backoff", backoff)
        setattr_(self, "max_backoff", max_backoff)
        setattr_(self, "max_retry_after", max_retry_after)
        setattr_(self, "total_timeout", total_timeout)

    def delay(self, failures: int, error: TokenError, rand: float) -> float:
        """Seconds to wait after the `failures`-th failed try (>= 1); `rand` in [0, 1)."""
        if error.retry_after is not None:
            return min(error.retry_after, self.max_retry_after)
        return min(self.max_backoff, self.backoff * 2.0 ** (failures - 1)) * rand


_SINGLE_TRY = RetryPolicy(attempts=1)


_TRY_ACQUIRE, _ACQUIRE, _RELEASE = Acquire(wait=False), Acquire(wait=True), Release()
_READ, _LOCK, _DELETE = ReadCache(), LockCache(), DeleteCache()
_WAITED, _REFRESH_AHEAD, _RETRIED = Observe("waited"), Observe("refresh_ahead"), Observe("retried")


class Held(NamedTuple):
    """The token in memory, on the monotonic clock; replaced whole, never mutated."""

    token: Token
    refresh_at: float
    hard_expiry: float


_EPOCH = datetime.fromtimestamp(0, tz=UTC)
#: What `_entry` holds while there is no token (at first, after `invalidate()`): due a fetch at
#: any time, so the hot path needs no None check. Its empty access token matches no real one.
NOTHING = Held(
    Token(access_token="", token_type="", scope=frozenset(), issued_at=_EPOCH, expires_at=_EPOCH),
    -math.inf,
    -math.inf,
)


def _copy_or_none(exc: BaseException) -> BaseException | None:
    """A copy of `exc` without traceback, cause or context; None if its type cannot be rebuilt."""
    try:
        return copy.copy(exc)
    except Exception:
        return None


class TokenEngine:
    """State and decisions of a token client; its generators yield effects (module docstring).

    One engine per client. Its state changes only inside the client's own lock (`Acquire`),
    except `_entry`, which the hot path reads without it: `_entry` is replaced whole.
    """

    def __init__(
        self,
        *,
        retry: RetryPolicy,
        clock: Clock,
        random: Callable[[], float],
        scope: frozenset[str],
        client_id: str,
        binding: Callable[[], bytes],
    ) -> None:
        """`scope`: the scopes requested; `client_id`: recorded on each token fetched;
        `binding()`: this client's cache-entry binding key (`_entry.binding_key`, costly:
        called once, on the first cache read or fetch)."""
        self._retry = retry
        self._scope_set = scope
        self._client_id = client_id
        self._binding_of = binding
        self._binding_memo: bytes | None = None
        # The last cached token we refused: it is checked again before and under the cache
        # lock, but warned about once (a log line per look would double every warning).
        self._refused: str | None = None
        # Bound once: the hot path calls self._monotonic() and nothing else.
        self._monotonic = clock.monotonic
        self._wall = clock.time
        self._random = random
        self._entry = NOTHING
        self._refresh_failures = 0
        # Fetches (not refresh-aheads) finished so far, and the error of the last one if it
        # failed: a caller that queued on the lock while a fetch was in flight gets that
        # fetch's error instead of redoing the whole fetch, retries and all.
        self._fetches = 0
        self._failure: BaseException | None = None

    # -- the three operations --------------------------------------------------------------

    def get_flow(self) -> Flow[Effect, Token]:
        """A valid token: the one in memory, one adopted from the cache, or a fetched one."""
        entry = self._entry
        now = self._monotonic()
        if now < entry.refresh_at:
            return entry.token
        if now < entry.hard_expiry:
            # Refresh-ahead: the first caller refreshes, everyone else keeps the current token.
            if not (yield _TRY_ACQUIRE):
                return entry.token
            try:
                return (yield from self._refresh_ahead())
            finally:
                yield _RELEASE
        seen = self._fetches
        yield _WAITED
        yield _ACQUIRE
        try:
            entry = self._entry
            if self._monotonic() < entry.hard_expiry:
                return entry.token  # another caller fetched while we waited
            self._failed_while_waiting(seen)
            return (yield from self._refresh()).token
        finally:
            yield _RELEASE

    def fetch_flow(self) -> Flow[Effect, Token]:
        """A new token from the endpoint, bypassing every cache (then cached as usual)."""
        yield _ACQUIRE
        try:
            entry = yield from self._fetch_and_store(self._retry)
            self._adopt(entry)
            return entry.token
        finally:
            yield _RELEASE

    def invalidate_flow(self, token: Token | None) -> Flow[Effect, bool]:
        """Forget the token in memory and in the cache, or only `token` if it is still the
        cached one. Returns whether anything was forgotten."""
        yield _ACQUIRE
        try:
            entry = self._entry
            if token is not None and entry.token.access_token != token.access_token:
                return False  # (NOTHING's empty access token matches none)
            self._entry = NOTHING
            handle = yield _LOCK
            try:
                cached = yield _READ
                if cached is not None and (
                    token is None or cached.access_token == token.access_token
                ):
                    yield _DELETE
            finally:
                yield UnlockCache(handle)
            return True
        finally:
            yield _RELEASE

    # -- the steps (all under the client's lock) -----------------------------------------

    def _refresh_ahead(self) -> Flow[Effect, Token]:
        entry = self._entry
        if self._monotonic() >= entry.hard_expiry:
            return (yield from self._refresh()).token
        if self._monotonic() < entry.refresh_at:
            return entry.token  # refreshed while we looked
        yield _REFRESH_AHEAD
        try:
            return (yield from self._refresh_once(_SINGLE_TRY)).token
        except Exception as exc:  # any failure is invisible while the token is valid
            return (yield from self._refresh_failed(entry, exc))

    def _refresh(self) -> Flow[Effect, Held]:
        """`_refresh_once` with retries, its outcome recorded for the callers queued behind."""
        try:
            entry = yield from self._refresh_once(self._retry)
        except Exception as exc:
            yield Observe("failed", exc)
            self._fetched(exc)
            raise
        self._fetched(None)
        return entry

    def _refresh_once(self, policy: RetryPolicy) -> Flow[Effect, Held]:
        """Adopt a newer token from the cache, or fetch one under the cache's lock."""
        entry = yield from self._adoptable((yield _READ))
        if entry is None:
            handle = yield _LOCK
            try:
                entry = yield from self._adoptable((yield _READ))
                if entry is None:
                    entry = yield from self._fetch_and_store(policy)
            finally:
                yield UnlockCache(handle)
        self._adopt(entry)
        return entry

    def _fetch_and_store(self, policy: RetryPolicy) -> Flow[Effect, Held]:
        token, anchor = yield from self._fetch(policy)
        entry = self._entry_for(token, anchor)
        yield WriteCache(token)
        return entry

    def _fetch(self, policy: RetryPolicy) -> Flow[Effect, tuple[Token, float]]:
        """One fetch: up to `policy.attempts` tries, backing off between them."""
        started = self._monotonic()
        tries = 0
        while True:
            tries += 1
            anchor, wall = self._monotonic(), self._wall()
            result = yield Send(anchor, wall, tries, policy is _SINGLE_TRY)
            if isinstance(result, Token):
                return replace(result, client_id=self._client_id).bound(self._binding), anchor
            if not result.retryable or tries >= policy.attempts:
                raise result
            delay = policy.delay(tries, result, self._random())
            if self._monotonic() - started + delay > policy.total_timeout:
                raise result
            yield _RETRIED
            yield Log(
                logging.INFO,
                "token request failed (%s); retrying in %.2f s (attempt %d of %d)",
                (result, delay, tries + 1, policy.attempts),
            )
            yield Sleep(delay)

    def _refresh_failed(self, entry: Held, exc: BaseException) -> Flow[Effect, Token]:
        """A refresh-ahead failed while `entry` is still valid: keep serving it, retry later."""
        self._refresh_failures += 1
        yield Observe("failed", exc, ahead=True)
        now = self._monotonic()
        retry_at = retry_refresh_at(now, self._refresh_failures, entry.hard_expiry, self._random())
        yield Log(
            logging.WARNING,
            "token refresh-ahead failed (%s); still serving the current token, "
            "next attempt in %.1f s",
            (exc, retry_at - now),
        )
        if self._entry is entry:
            self._entry = entry._replace(refresh_at=retry_at)
        return entry.token

    # -- decisions (plain functions of the state, the clock and chance) ---------------------

    @property
    def _binding(self) -> bytes:
        key = self._binding_memo
        if key is None:
            key = self._binding_memo = self._binding_of()
        return key

    def _adopt(self, entry: Held) -> None:
        self._entry = entry
        self._refresh_failures = 0

    def _entry_for(self, token: Token, anchor: float) -> Held:
        """State for a token we fetched: anchored to the monotonic time before sending."""
        sched = schedule(anchor, token.lifetime, refresh_fraction(self._random()))
        return Held(token, sched.refresh_at, sched.hard_expiry)

    def _adoptable(self, token: Token | None) -> Flow[Effect, Held | None]:
        """State for a token found in the cache, if it is new to us, trusted and still valid.

        Trusted: fetched with this client's secret, unaltered, well-formed and for our scopes
        (`_entry.verify`); anything else is a miss, replaced by the fetch that follows. One
        already past its refresh point is adopted too (with the refresh due now) when it
        outlives ours: it is served, and the next call refreshes ahead (one try, backing off
        on failure), so an endpoint outage never reaches callers while a valid token is cached.
        """
        if token is None:
            return None
        current = self._entry
        if current.token.access_token == token.access_token:
            return None
        try:
            verify(token.to_entry(), key=self._binding, scopes=self._scope_set, now=self._wall())
        except EntryError as exc:
            if self._refused != token.access_token:
                self._refused = token.access_token
                yield Log(
                    logging.WARNING,
                    "token cache: not using the cached token (%s); fetching one",
                    (exc,),
                )
            return None
        return self._schedule_adopted(token, current)

    def _schedule_adopted(self, token: Token, current: Held) -> Held | None:
        now = self._monotonic()
        sched = schedule_cached(
            token, now=now, wall_now=self._wall(), fraction=refresh_fraction(self._random())
        )
        if now >= sched.hard_expiry:
            return None
        if now >= sched.refresh_at:
            if sched.hard_expiry <= current.hard_expiry:
                return None  # no better than the token we hold
            return Held(token, now, sched.hard_expiry)
        return Held(token, sched.refresh_at, sched.hard_expiry)

    def _fetched(self, failure: BaseException | None) -> None:
        """Record how a fetch under the lock ended (see `_failed_while_waiting`)."""
        self._fetches += 1
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
