"""The shared caches' lock wait alone: `wait_for_lock` driven by hand, on a hand-moved clock."""

from __future__ import annotations

import pytest
from screening_eagle_id._effects import Sleep
from screening_eagle_id._lockwait import PROBE, Attempt, Outcome, probe, wait_for_lock

BUSY = Attempt(locked=False, entry="v1")  # someone holds the lock; the entry as first seen
STORED = Attempt(locked=False, entry="v2")  # still held, but a new entry is there
GOT = Attempt(locked=True, entry="v1")
EMPTY = Attempt(locked=False, entry=None)  # held; no entry (or it was deleted)

# The probes' results in turn -> how the wait ends, and the sleeps in between (first 1 s,
# doubling, capped at 4 s; no jitter). The deadline is 10 s after the start.
CASES = [
    pytest.param([GOT], Outcome.LOCKED, [], id="free-at-once"),
    pytest.param([BUSY, BUSY, GOT], Outcome.LOCKED, [1, 2], id="freed-later"),
    pytest.param([BUSY, STORED], Outcome.STORED, [1], id="holder-stored-a-token"),
    pytest.param([EMPTY, STORED], Outcome.STORED, [1], id="first-token-stored"),
    pytest.param([STORED, GOT], Outcome.LOCKED, [1], id="an-entry-at-first-look-is-no-news"),
    pytest.param([BUSY, EMPTY, EMPTY, GOT], Outcome.LOCKED, [1, 2, 4], id="entry-deleted"),
    pytest.param([BUSY] * 5, Outcome.TIMED_OUT, [1, 2, 4, 4], id="deadline"),
    pytest.param([BUSY, None], Outcome.AWAY, [1], id="store-away"),
]


@pytest.mark.parametrize(("attempts", "outcome", "sleeps"), CASES)
def test_wait_for_lock(
    attempts: list[Attempt | None], outcome: Outcome, sleeps: list[float]
) -> None:
    now = [0.0]
    flow = wait_for_lock(probe, timeout=10, first=1, cap=4, clock=lambda: now[0])
    slept: list[float] = []
    results = iter(attempts)
    reply: object = None
    try:
        while True:
            effect = flow.send(reply)
            if isinstance(effect, Sleep):
                slept.append(effect.seconds)
                now[0] += effect.seconds
                reply = None
            else:
                assert effect is PROBE
                reply = next(results, GOT)
    except StopIteration as stop:
        result = stop.value
    assert (result, slept) == (outcome, sleeps)


def test_jitter_spreads_each_sleep_over_half_to_one_and_a_half_times_the_delay() -> None:
    for rand, expected in ((0.0, 0.5), (0.999, 1.499)):
        flow = wait_for_lock(
            probe, timeout=10, first=1, cap=4, clock=lambda: 0.0, rand=lambda r=rand: r
        )
        assert next(flow) is PROBE
        effect = flow.send(BUSY)
        assert isinstance(effect, Sleep)
        assert effect.seconds == pytest.approx(expected)
