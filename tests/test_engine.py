"""The token engine alone: its generators driven by hand with `.send()` / `.throw()`.

No socket, thread or event loop: each case is a script of (effect the engine must yield, the
result handed back), on a hand-moved clock and a fixed random source. Several callers are
several generators of one engine, interleaved by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from screening_eagle_id import (
    InvalidClientError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    Token,
    TokenError,
    TokenTransportError,
)
from screening_eagle_id._drive import drive
from screening_eagle_id._effects import (
    Acquire,
    DeleteCache,
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
from screening_eagle_id._engine import NOTHING, Held, TokenEngine
from screening_eagle_id._entry import binding_key
from screening_eagle_id._token import refresh_fraction, schedule

EPOCH = 1_700_000_000.0  # wall clock = monotonic + EPOCH
START = 1000.0
KEY = binding_key("the-secret", "k" * 64)
OTHER_KEY = binding_key("another-secret", "k" * 64)
SCOPE = frozenset({"openid", "inspect"})
RAND = 0.5
HANDLE = object()  # what LockCache hands back; the engine only passes it to UnlockCache


class Clock:
    def __init__(self) -> None:
        self.now = START

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now + EPOCH


def make(clock: Clock, retry: RetryPolicy | None = None) -> TokenEngine:
    return TokenEngine(
        retry=retry or RetryPolicy(),
        clock=clock,
        random=lambda: RAND,
        scope=SCOPE,
        client_id="me",
        binding=lambda: KEY,
    )


def token(
    name: str,
    *,
    issued: float = START,
    lifetime: float = 3600.0,
    scope: frozenset[str] = SCOPE,
    key: bytes | None = KEY,
) -> Token:
    """A token issued at monotonic `issued`, bound to `key` (None: unbound)."""
    fresh = Token(
        access_token=name,
        token_type="Bearer",
        scope=scope,
        issued_at=datetime.fromtimestamp(issued + EPOCH, tz=UTC),
        expires_at=datetime.fromtimestamp(issued + EPOCH + lifetime, tz=UTC),
    )
    return fresh if key is None else fresh.bound(key)


def held(tok: Token, anchor: float = START) -> Held:
    """The in-memory state the engine keeps for a token it fetched at `anchor`."""
    sched = schedule(anchor, tok.lifetime, refresh_fraction(RAND))
    return Held(tok, sched.refresh_at, sched.hard_expiry)


@dataclass
class Raise:
    """In a script: the effect raised this (thrown into the generator)."""

    exc: BaseException


Step = tuple[object, object]  # (expected effect, or its type; the result or a Raise)


def play(flow: Generator[Any, Any, Any], script: list[Step], start: object = None) -> Any:
    """Drive `flow` through `script`, checking each effect; return what the flow returns.
    The flow must end right after the script; an exception it raises propagates. `start`
    answers the effect a flow already started is waiting on."""
    reply = start
    for i, (expected, answer) in enumerate(script):
        effect = flow.throw(reply.exc) if isinstance(reply, Raise) else flow.send(reply)
        if isinstance(expected, type):
            assert isinstance(effect, expected), f"step {i}: {effect!r}"
        else:
            assert effect == expected, f"step {i}: {effect!r} != {expected!r}"
        reply = answer
    try:
        extra = flow.throw(reply.exc) if isinstance(reply, Raise) else flow.send(reply)
    except StopIteration as stop:
        return stop.value
    raise AssertionError(f"the flow went on past the script with {extra!r}")


# How get_flow() takes our lock: waited for (no token to serve: not a cache hit), or taken at
# once to refresh ahead.
WAIT: list[Step] = [(Observe("waited"), None), (Acquire(wait=True), True)]
TRY: list[Step] = [(Acquire(wait=False), True), (Observe("refresh_ahead"), None)]
FAILED: Step = (Observe, None)  # Observe("failed", the error)


def fetch_script(clock: Clock, reply: object, *, lock: list[Step] = WAIT) -> list[Step]:
    """A cold fetch: take our lock, miss the cache twice (around its lock), send `reply`."""
    return [
        *lock,
        (ReadCache(), None),
        (LockCache(), HANDLE),
        (ReadCache(), None),
        (Send(clock.now, clock.now + EPOCH, 1, lock is TRY), reply),
    ]


UNLOCKED: list[Step] = [(UnlockCache(HANDLE), None), (Release(), None)]  # both locks, in turn


def stored(tok: Token) -> list[Step]:
    """The end of a successful fetch: store `tok`, leave the cache's lock, then ours."""
    return [(WriteCache(tok), None), *UNLOCKED]


# -- serve, fetch, adopt ------------------------------------------------------------------------


def test_a_fresh_token_is_served_without_a_single_effect() -> None:
    clock = Clock()
    engine = make(clock)
    engine._entry = held(token("a"))
    assert play(engine.get_flow(), []) == token("a")


def test_a_cold_cache_fetches_once_stores_and_releases_every_lock() -> None:
    clock = Clock()
    engine = make(clock)
    script = [
        *fetch_script(clock, token("a", key=None)),
        *stored(token("a")),
    ]
    assert play(engine.get_flow(), script) == token("a")
    assert engine._entry == held(token("a"))
    # Bound to this client's secret before it was stored (Token equality ignores `binding`).
    assert engine._entry.token.binding == token("a", key=KEY).binding
    assert engine._entry.token.binding != token("a", key=OTHER_KEY).binding
    assert engine._entry.token.client_id == "me"  # recorded with it (`eagle-id cache list`)


# What the shared cache holds -> adopted (no request), a silent miss (valid entry, no longer
# usable), or an untrusted miss (logged): both misses fetch, and the fetch overwrites it.
ADOPT, MISS, UNTRUSTED = "adopt", "miss", "untrusted"
ADOPTION = [
    pytest.param(lambda: token("c"), ADOPT, id="valid-and-ours"),
    pytest.param(lambda: token("c", scope=SCOPE | {"email"}), ADOPT, id="more-scopes"),
    pytest.param(lambda: token("c", issued=START - 3600), MISS, id="expired"),
    pytest.param(lambda: token("c", issued=START - 3580), MISS, id="within-the-leeway"),
    pytest.param(lambda: token("c", key=OTHER_KEY), UNTRUSTED, id="fetched-with-another-secret"),
    pytest.param(lambda: token("c", key=None), UNTRUSTED, id="unbound"),
    pytest.param(lambda: token("c", scope=frozenset({"openid"})), UNTRUSTED, id="fewer-scopes"),
    pytest.param(lambda: token("c", issued=START + 3600), UNTRUSTED, id="issued-in-the-future"),
    pytest.param(lambda: retyped(token("c"), "mac"), UNTRUSTED, id="altered-token-type"),
    pytest.param(lambda: retyped(token("c", key=None), "mac").bound(KEY), UNTRUSTED, id="mac"),
]


def retyped(tok: Token, token_type: str) -> Token:
    """`tok` with another token_type and its binding kept (as a tampered cache entry has)."""
    return Token(
        access_token=tok.access_token,
        token_type=token_type,
        scope=tok.scope,
        issued_at=tok.issued_at,
        expires_at=tok.expires_at,
        binding=tok.binding,
    )


@pytest.mark.parametrize(("cached", "outcome"), ADOPTION)
def test_a_cached_token_is_adopted_only_when_trusted_and_valid(
    cached: Callable[[], Token], outcome: str
) -> None:
    clock = Clock()
    engine = make(clock)
    entry = cached()
    if outcome == ADOPT:
        script = [*WAIT, (ReadCache(), entry), (Release(), None)]
        assert play(engine.get_flow(), script) is entry
        return
    logged: list[Step] = [(Log, None)] if outcome == UNTRUSTED else []
    script = [
        *WAIT,
        (ReadCache(), entry),
        *logged,
        (LockCache(), HANDLE),
        (ReadCache(), entry),  # the same refused entry again: refused, not warned about twice
        (Send(START, START + EPOCH, 1, False), token("new", key=None)),
        *stored(token("new")),
    ]
    assert play(engine.get_flow(), script).access_token == "new"


def test_a_cached_token_seen_after_waiting_for_the_cache_lock_is_adopted() -> None:
    clock = Clock()
    engine = make(clock)
    script = [
        *WAIT,
        (ReadCache(), None),
        (LockCache(), HANDLE),
        (ReadCache(), token("b")),  # another process stored it while we waited
        *UNLOCKED,
    ]
    assert play(engine.get_flow(), script) == token("b")


def test_outage_adoption_a_cached_token_due_a_refresh_is_served_and_refreshed_next_call() -> None:
    clock = Clock()
    engine = make(clock)
    due = token("old", issued=START - 3300)  # 300 s left: past its refresh point, still valid
    script = [*WAIT, (ReadCache(), due), (Release(), None)]
    assert play(engine.get_flow(), script) is due  # no request: the endpoint may be down
    entry = engine._entry
    assert entry is not None
    assert entry.refresh_at == START  # due now: the next call refreshes ahead
    clock.now += 1
    script = [
        *fetch_script(clock, TokenTransportError("down", retryable=True), lock=TRY),
        (UnlockCache(HANDLE), None),
        FAILED,
        (Log, None),
        (Release(), None),
    ]
    assert play(engine.get_flow(), script) is due  # the outage stays invisible


# A refresh-ahead finds a cached token that is itself due a refresh: (its lifetime, issued
# how long ago) -> adopted only if it outlives the token held (hard expiry 599 s from now).
DUE_IN_CACHE = [
    pytest.param(3600.0, 3300.0, False, id="shorter-lived-than-ours"),
    pytest.param(7200.0, 6500.0, True, id="longer-lived-than-ours"),
]


@pytest.mark.parametrize(("lifetime", "age", "adopted"), DUE_IN_CACHE)
def test_a_cached_token_due_a_refresh_is_adopted_only_over_a_shorter_lived_one(
    lifetime: float, age: float, adopted: bool
) -> None:
    clock = Clock()
    engine = make(clock)
    past_refresh_point(engine, clock)
    theirs = token("theirs", issued=clock.now - age, lifetime=lifetime)
    if adopted:
        script = [*TRY, (ReadCache(), theirs), (Release(), None)]
        assert play(engine.get_flow(), script) is theirs
        assert engine._entry is not None
        assert engine._entry.refresh_at == clock.now  # served, refreshed ahead next call
        return
    script = [
        *TRY,
        (ReadCache(), theirs),
        (LockCache(), HANDLE),
        (ReadCache(), theirs),
        (Send(clock.now, clock.now + EPOCH, 1, True), token("new", issued=clock.now, key=None)),
        *stored(token("new", issued=clock.now)),
    ]
    assert play(engine.get_flow(), script).access_token == "new"


# -- retries ----------------------------------------------------------------------------------


def server_error() -> TokenError:
    return ServerError("500", status_code=500)


# Replies of successive tries -> the sleeps in between, and whether a token comes out.
RETRIES = [
    pytest.param(RetryPolicy(), [server_error()], [0.25], True, id="5xx-then-ok"),
    pytest.param(
        RetryPolicy(), [server_error(), server_error()], [0.25, 0.5], True, id="backoff-doubles"
    ),
    pytest.param(
        RetryPolicy(backoff=4, max_backoff=5), [server_error()] * 2, [2.0, 2.5], True, id="capped"
    ),
    pytest.param(
        RetryPolicy(),
        [RateLimitedError("429", status_code=429, retry_after=7)],
        [7.0],
        True,
        id="retry-after-honoured",
    ),
    pytest.param(
        RetryPolicy(max_retry_after=3),
        [RateLimitedError("429", status_code=429, retry_after=7)],
        [3.0],
        True,
        id="retry-after-capped",
    ),
    pytest.param(
        RetryPolicy(),
        [TokenTransportError("reset", retryable=True)],
        [0.25],
        True,
        id="transport-error-retried",
    ),
    pytest.param(
        RetryPolicy(), [InvalidClientError("401", status_code=401)], [], False, id="4xx-never"
    ),
    pytest.param(
        RetryPolicy(attempts=2), [server_error()] * 2, [0.25], False, id="attempts-run-out"
    ),
    pytest.param(
        RetryPolicy(total_timeout=5),
        [RateLimitedError("429", status_code=429, retry_after=7)],
        [],
        False,
        id="total-timeout-not-waited-past",
    ),
]


@pytest.mark.parametrize(("policy", "failures", "sleeps", "succeeds"), RETRIES)
def test_retries_back_off_with_full_jitter_and_honour_retry_after(
    policy: RetryPolicy, failures: list[TokenError], sleeps: list[float], succeeds: bool
) -> None:
    clock = Clock()
    flow = make(clock, policy).fetch_flow()
    replies = iter(failures)
    slept: list[float] = []
    observed: list[str] = []

    def answer(effect: object) -> object:
        if isinstance(effect, Send):
            assert (effect.anchor, effect.wall) == (clock.now, clock.now + EPOCH)  # per try
            return next(replies, token("ok", key=None))
        if isinstance(effect, Sleep):
            slept.append(effect.seconds)
            clock.now += effect.seconds
        if isinstance(effect, Log):
            assert effect.level == logging.INFO
        if isinstance(effect, Observe):
            observed.append(effect.event)
        return True if isinstance(effect, Acquire) else None

    outcome: object
    try:
        outcome = drive(flow, answer)
    except TokenError as exc:
        outcome = exc
    if succeeds:
        assert isinstance(outcome, Token)
        assert outcome.access_token == "ok"
    else:
        assert outcome is failures[-1]  # the last try's error, as it came
    assert slept == sleeps
    assert observed == ["retried"] * len(sleeps)  # fetch_token: no "failed" (not a get)


# -- refresh ahead ----------------------------------------------------------------------------


def past_refresh_point(engine: TokenEngine, clock: Clock) -> Token:
    current = token("cur")
    engine._entry = held(current)
    clock.now = engine._entry.refresh_at + 1
    return current


def test_refresh_ahead_is_one_try_by_the_first_caller_and_replaces_the_token() -> None:
    clock = Clock()
    engine = make(clock)
    past_refresh_point(engine, clock)
    script = [
        *fetch_script(clock, token("next", issued=clock.now, key=None), lock=TRY),
        *stored(token("next", issued=clock.now)),
    ]
    assert play(engine.get_flow(), script).access_token == "next"


def test_refresh_ahead_while_another_caller_refreshes_serves_the_current_token() -> None:
    clock = Clock()
    engine = make(clock)
    current = past_refresh_point(engine, clock)
    assert play(engine.get_flow(), [(Acquire(wait=False), False)]) is current


@pytest.mark.parametrize(
    "failure",
    [server_error(), InvalidClientError("401", status_code=401), Raise(OSError("cache down"))],
    ids=["5xx", "4xx", "cache-raises"],
)
def test_a_failed_refresh_ahead_keeps_the_current_token_and_backs_off(failure: object) -> None:
    clock = Clock()
    engine = make(clock)
    current = past_refresh_point(engine, clock)
    if isinstance(failure, Raise):
        script = [*TRY, (ReadCache(), failure)]
    else:
        script = [
            *fetch_script(clock, failure, lock=TRY),
            (UnlockCache(HANDLE), None),
        ]
    script += [FAILED, (Log, None), (Release(), None)]
    assert play(engine.get_flow(), script) is current
    entry = engine._entry
    assert entry is not None
    assert entry.token is current
    assert clock.now + 0.5 <= entry.refresh_at <= clock.now + 1.0  # REFRESH_BACKOFF[0], jittered
    # Until then every caller is served from memory, with no effect at all.
    assert play(engine.get_flow(), []) is current


def test_failed_refresh_aheads_back_off_doubling_until_one_succeeds() -> None:
    clock = Clock()
    engine = make(clock)
    past_refresh_point(engine, clock)
    waits = []
    for _ in range(8):
        script = [*fetch_script(clock, server_error(), lock=TRY), *UNLOCKED[:1], FAILED]
        script += [(Log, None)]
        play(engine.get_flow(), [*script, (Release(), None)])
        assert engine._entry is not None
        waits.append(engine._entry.refresh_at - clock.now)
        clock.now = engine._entry.refresh_at
    # REFRESH_BACKOFF (1 s doubling, capped at 60 s), jittered to 0.75x by RAND = 0.5.
    assert waits == pytest.approx([0.75, 1.5, 3, 6, 12, 24, 45, 45])
    next_token = token("next", issued=clock.now, key=None)
    script = [*fetch_script(clock, next_token, lock=TRY), *stored(token("next", issued=clock.now))]
    play(engine.get_flow(), script)
    assert engine._refresh_failures == 0  # the next failure starts from 1 s again


def test_a_refresh_ahead_that_finds_the_token_replaced_meanwhile_serves_it() -> None:
    clock = Clock()
    engine = make(clock)
    past_refresh_point(engine, clock)
    flow = engine.get_flow()
    assert flow.send(None) == Acquire(wait=False)
    fresh = token("fresh", issued=clock.now)
    engine._entry = held(fresh, anchor=clock.now)  # stored by the caller that held the lock
    assert play(flow, [(Release(), None)], start=True) is fresh


def test_past_hard_expiry_a_failed_refresh_reaches_the_caller() -> None:
    clock = Clock()
    engine = make(clock, RetryPolicy(attempts=1))
    engine._entry = held(token("cur"))
    clock.now = engine._entry.hard_expiry
    script = [*fetch_script(clock, server_error()), *UNLOCKED[:1], FAILED, (Release(), None)]
    with pytest.raises(ServerError):
        play(engine.get_flow(), script)


# -- several callers: generators of one engine, interleaved ----------------------------------


def test_a_failed_fetch_is_handed_to_the_callers_queued_behind_it() -> None:
    clock = Clock()
    engine = make(clock, RetryPolicy(attempts=1))
    first, queued = engine.get_flow(), engine.get_flow()
    for flow in (first, queued):
        assert flow.send(None) == Observe("waited")
        assert flow.send(None) == Acquire(wait=True)  # the second one's driver blocks here
    error = InvalidClientError("401 wrong secret", status_code=401)
    script = [*fetch_script(clock, error)[2:], *UNLOCKED[:1], FAILED, (Release(), None)]
    with pytest.raises(InvalidClientError) as failed:
        play(first, script, start=True)
    # The lock is free: the queued caller gets the same error, without a request of its own.
    assert queued.send(True) == Release()
    with pytest.raises(InvalidClientError) as handed:
        queued.send(None)
    assert handed.value is not failed.value  # its own copy
    assert str(handed.value) == str(failed.value)
    # A caller arriving afterwards tries again.
    later = engine.get_flow()
    script = [*fetch_script(clock, token("a", key=None)), (WriteCache(token("a")), None)]
    script += [(UnlockCache(HANDLE), None), (Release(), None)]
    assert play(later, script) == token("a")


def test_a_caller_queued_behind_a_successful_fetch_gets_its_token() -> None:
    clock = Clock()
    engine = make(clock)
    first, queued = engine.get_flow(), engine.get_flow()
    for flow in (first, queued):
        flow.send(None)
        flow.send(None)
    script = [*fetch_script(clock, token("a", key=None))[2:], *stored(token("a"))]
    play(first, script, start=True)
    assert play(queued, [(Release(), None)], start=True) == token("a")


def test_an_effect_that_raises_still_releases_the_locks_taken() -> None:
    clock = Clock()
    engine = make(clock)
    script = [
        *WAIT,
        (ReadCache(), None),
        (LockCache(), HANDLE),
        (ReadCache(), Raise(OSError("disk gone"))),
        *UNLOCKED[:1],
        FAILED,
        (Release(), None),
    ]
    with pytest.raises(OSError, match="disk gone"):
        play(engine.get_flow(), script)


# -- fetch_token and invalidate ---------------------------------------------------------------


def test_fetch_flow_bypasses_the_cache() -> None:
    clock = Clock()
    engine = make(clock)
    engine._entry = held(token("old"))
    script = [
        (Acquire(wait=True), True),
        (Send(START, START + EPOCH, 1, False), token("new", key=None)),
        (WriteCache(token("new")), None),
        (Release(), None),
    ]
    assert play(engine.fetch_flow(), script) == token("new")
    assert engine._entry == held(token("new"))


# (token held, token in the shared cache, token to invalidate) -> forgotten?, cache deleted?
INVALIDATE = [
    pytest.param("a", "a", "a", True, True, id="the-cached-one"),
    pytest.param("a", "a", None, True, True, id="any"),
    pytest.param("b", "b", "a", False, False, id="already-replaced"),
    pytest.param("a", "b", "a", True, False, id="cache-holds-a-newer-one"),
    pytest.param(None, None, "a", False, False, id="nothing-held"),
]


@pytest.mark.parametrize(("mine", "shared", "rejected", "forgotten", "deleted"), INVALIDATE)
def test_invalidate_forgets_only_the_rejected_token(
    mine: str | None, shared: str | None, rejected: str | None, forgotten: bool, deleted: bool
) -> None:
    clock = Clock()
    engine = make(clock)
    engine._entry = NOTHING if mine is None else held(token(mine))
    script: list[Step] = [(Acquire(wait=True), True)]
    if forgotten:
        script += [(LockCache(), HANDLE), (ReadCache(), shared and token(shared))]
        script += [(DeleteCache(), None)] if deleted else []
        script += [(UnlockCache(HANDLE), None)]
    script += [(Release(), None)]
    flow = engine.invalidate_flow(None if rejected is None else token(rejected))
    assert play(flow, script) is forgotten
    assert (engine._entry is NOTHING) is (forgotten or mine is None)


# -- the driver loop --------------------------------------------------------------------------


def test_drive_throws_an_effects_exception_into_the_flow_which_cleans_up() -> None:
    done: list[str] = []

    def flow() -> Generator[str, Any, str]:
        try:
            assert (yield "lock") == "locked"
            yield "boom"
        finally:
            done.append((yield "unlock"))
        return "unreachable"

    def execute(effect: str) -> str:
        if effect == "boom":
            raise KeyError(effect)
        return {"lock": "locked", "unlock": "unlocked"}[effect]

    with pytest.raises(KeyError, match="boom"):
        drive(flow(), execute)
    assert done == ["unlocked"]
