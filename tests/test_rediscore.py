"""The Redis caches' decisions without Redis: their command generators, driven by hand.

What each Redis call answers (or raises) is scripted; the real-Redis behaviour of the two
drivers is in test_rediscache.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
import redis
from screening_eagle_id._drive import drive
from screening_eagle_id._effects import Sleep
from screening_eagle_id._entry import (
    MAX_ENTRY_BYTES,
    encode,
)
from screening_eagle_id._rediscore import (
    Call,
    Held,
    Pause,
    RedisCacheBase,
    RunScript,
)
from test_engine import KEY, token

KEY64 = "ab" * 32
ENTRY = encode(token("cached", key=KEY).to_entry())


def cache() -> RedisCacheBase:
    return RedisCacheBase(object(), "p:", lock_timeout=5.0, outage_backoff=60.0)


def scripted(replies: list[object], seen: list[object]) -> Callable[[object], Any]:
    """An `execute` answering each command with the next reply (an exception is raised); a
    `Sleep` just passes, a heartbeat's `Pause` finds the holder done."""
    answers = iter(replies)

    def execute(effect: object) -> Any:
        seen.append(effect)
        if isinstance(effect, Sleep | Pause):
            return isinstance(effect, Pause)
        answer = next(answers)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    return execute


def shape(effect: object) -> object:
    """An effect as plain values, to compare."""
    if isinstance(effect, Call):
        return (effect.method, effect.args, effect.kwargs)
    if isinstance(effect, RunScript):
        return (effect.name, effect.keys, effect.args)
    return effect


# What Redis answers a GET -> what `get` returns, and what is logged.
GETS = [
    pytest.param(ENTRY, "cached", None, id="an-entry"),
    pytest.param(b"", None, None, id="no-entry"),
    pytest.param(b"[[[[not an entry", None, "not a cached token", id="garbage"),
    pytest.param(redis.ConnectionError("refused"), None, "failed", id="redis-down"),
]


@pytest.mark.parametrize(("reply", "access_token", "logged"), GETS)
def test_get(
    reply: object, access_token: str | None, logged: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[object] = []
    with caplog.at_level(logging.WARNING, "screening_eagle_id"):
        got = drive(cache()._get(KEY64), scripted([reply], seen))
    assert [shape(e) for e in seen] == [("getrange", (f"p:token:{KEY64}", 0, MAX_ENTRY_BYTES), {})]
    assert (got and got.access_token) == access_token
    assert (logged in caplog.text) if logged else not caplog.text


def test_after_a_failure_redis_is_left_alone_and_the_outage_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = cache()
    seen: list[object] = []
    with caplog.at_level(logging.DEBUG, "screening_eagle_id"):
        drive(store._get(KEY64), scripted([redis.TimeoutError("slow")], seen))
        assert drive(store._get(KEY64), scripted([], seen)) is None
        drive(store._set(KEY64, token("t", key=KEY)), scripted([], seen))
        assert drive(store._acquire(KEY64), scripted([], seen)).locked is False
    assert len(seen) == 1  # nothing was sent during the backoff
    assert [r.levelno for r in caplog.records] == [logging.WARNING]


def test_set_stores_with_the_remaining_lifetime_and_deletes_an_expired_token() -> None:
    seen: list[object] = []
    drive(cache()._set(KEY64, token("t", key=KEY, issued=0.0, lifetime=1.0)), scripted([1], seen))
    assert [shape(e) for e in seen] == [("delete", (f"p:token:{KEY64}",), {})]


# Successive answers of the acquire script (taken?, the token entry's first bytes) -> whether
# the lock is ours.
LOCKS = [
    pytest.param([[1, b""]], True, 0, id="free-or-stale"),
    pytest.param([[0, b""], [0, b""], [1, b""]], True, 2, id="freed"),
    pytest.param([[0, b"v1"], [0, b"v2"]], False, 1, id="holder-stored"),
    pytest.param([[0, b""], [0, b"v1"]], False, 1, id="first-token-stored"),
    pytest.param([[0, b""], redis.ConnectionError("x")], False, 1, id="redis-down"),
]


@pytest.mark.parametrize(("answers", "locked", "sleeps"), LOCKS)
def test_lock_wait(answers: list[object], locked: bool, sleeps: int) -> None:
    seen: list[object] = []
    held = drive(cache()._acquire(KEY64), scripted(answers, seen))
    assert (held.name, held.ttl_ms, held.locked) == (f"p:lock:{KEY64}", 5000, locked)
    polls = [shape(e) for e in seen if not isinstance(e, Sleep)]
    arguments = (held.owner, 5000, MAX_ENTRY_BYTES, 30_000)  # 30 s: the bound on a holder's TTL
    acquire = ("acquire", (held.name, f"p:token:{KEY64}"), arguments)
    assert polls == [acquire] * len(answers)
    assert sum(isinstance(e, Sleep) for e in seen) == sleeps


def test_unlock_runs_the_owner_checked_release_and_a_failure_is_only_logged() -> None:
    seen: list[object] = []
    held = Held("p:lock:k", "me", 5000, True)
    drive(cache()._unlock(held), scripted([redis.ConnectionError("x")], seen))
    assert seen == [RunScript("release", ("p:lock:k",), ("me",))]


# What each heartbeat's extend script answers -> how many beats until it stops.
BEATS = [
    pytest.param([1, 1, 0], 3, id="lock-lost"),
    pytest.param([1, redis.ConnectionError("x")], 2, id="redis-down"),
]


@pytest.mark.parametrize(("answers", "beats"), BEATS)
def test_the_heartbeat_extends_every_third_of_the_ttl_until_the_lock_is_lost(
    answers: list[object], beats: int
) -> None:
    seen: list[object] = []
    replies = iter(answers)

    def execute(effect: object) -> Any:
        seen.append(effect)
        if isinstance(effect, Pause):
            return False
        answer = next(replies)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    drive(cache()._heartbeat(Held("p:lock:k", "me", 6000, True)), execute)
    assert seen == [Pause(2.0), RunScript("extend", ("p:lock:k",), ("me", 6000))] * beats


def test_the_heartbeat_ends_when_the_holder_is_done() -> None:
    seen: list[object] = []
    drive(cache()._heartbeat(Held("p:lock:k", "me", 6000, True)), scripted([], seen))
    assert seen == [Pause(2.0)]


def test_a_long_lived_lock_beats_at_least_every_ten_seconds() -> None:
    # Waiters believe a holder's TTL only up to max(their lock_timeout, 30 s): a live holder
    # with a longer one must beat well within that.
    seen: list[object] = []
    drive(cache()._heartbeat(Held("p:lock:k", "me", 3_600_000, True)), scripted([], seen))
    assert seen == [Pause(10.0)]
