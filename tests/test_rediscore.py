"""The Redis caches' decisions without Redis: their command generators, driven by hand.

What each Redis call answers (or raises) is scripted; the real-Redis behaviour of the two
drivers is in test_rediscache.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

redis = pytest.importorskip("redis")

from screening_eagle_id._drive import drive  # noqa: E402
from screening_eagle_id._effects import Sleep  # noqa: E402
from screening_eagle_id._entry import encode  # noqa: E402
from screening_eagle_id._rediscore import Call, Pipeline, RedisCacheBase, ReleaseLock  # noqa: E402
from test_engine import KEY, token  # noqa: E402

KEY64 = "ab" * 32
ENTRY = encode(token("cached", key=KEY).to_entry())


def cache() -> RedisCacheBase:
    return RedisCacheBase(object(), "p:", lock_timeout=5.0, outage_backoff=60.0)


def scripted(replies: list[object], seen: list[object]) -> Callable[[object], Any]:
    """An `execute` answering each effect with the next reply (an exception is raised)."""
    answers = iter(replies)

    def execute(effect: object) -> Any:
        seen.append(effect)
        if isinstance(effect, Sleep):
            return None
        answer = next(answers)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    return execute


def shape(effect: object) -> object:
    """An effect as plain values, to compare."""
    if isinstance(effect, Call):
        return (effect.method, effect.args, effect.kwargs)
    if isinstance(effect, Pipeline):
        return [shape(call) for call in effect.calls]
    return effect


# What Redis answers a GET -> what `get` returns, and what is logged.
GETS = [
    pytest.param(ENTRY, "cached", None, id="an-entry"),
    pytest.param(None, None, None, id="no-entry"),
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
    assert [shape(e) for e in seen] == [("get", (f"p:token:{KEY64}",), {})]
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
        assert drive(store._acquire(KEY64), scripted([], seen))[2] is False
    assert len(seen) == 1  # nothing was sent during the backoff
    assert [r.levelno for r in caplog.records] == [logging.WARNING]


def test_set_stores_with_the_remaining_lifetime_and_deletes_an_expired_token() -> None:
    seen: list[object] = []
    drive(cache()._set(KEY64, token("t", key=KEY, issued=0.0, lifetime=1.0)), scripted([1], seen))
    assert [shape(e) for e in seen] == [("delete", (f"p:token:{KEY64}",), {})]


# Successive answers to the lock's pipeline (SET NX, GET token) -> whether the lock is ours.
LOCKS = [
    pytest.param([[True, None]], True, 0, id="free"),
    pytest.param([[None, None], [None, None], [True, None]], True, 2, id="freed"),
    pytest.param([[None, b"v1"], [None, b"v2"]], False, 1, id="holder-stored"),
    pytest.param([[None, None], redis.ConnectionError("x")], False, 1, id="redis-down"),
]


@pytest.mark.parametrize(("answers", "locked", "sleeps"), LOCKS)
def test_lock_wait(answers: list[object], locked: bool, sleeps: int) -> None:
    seen: list[object] = []
    name, owner, got = drive(cache()._acquire(KEY64), scripted(answers, seen))
    assert (name, got) == (f"p:lock:{KEY64}", locked)
    polls = [shape(e) for e in seen if not isinstance(e, Sleep)]
    set_nx = ("set", (name, owner), {"nx": True, "px": 5000})
    assert polls == [[set_nx, ("get", (f"p:token:{KEY64}",), {})]] * len(answers)
    assert sum(isinstance(e, Sleep) for e in seen) == sleeps


def test_unlock_runs_the_owner_checked_release_and_a_failure_is_only_logged() -> None:
    seen: list[object] = []
    drive(cache()._unlock("p:lock:k", "me"), scripted([redis.ConnectionError("x")], seen))
    assert seen == [ReleaseLock("p:lock:k", "me")]
