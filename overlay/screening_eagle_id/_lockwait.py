"""Waiting for a shared cache's fetch lock: one polling generator for every shared cache.

FileCache (an `flock`) and RedisCache / AsyncRedisCache (`SET NX PX`) wait the same way:
try the lock, and look at the cache entry in the same breath; stop when the lock is ours,
when the entry changed since the first look (the holder stored a token: read it, rather than
queue one by one behind the lock), when the store is away, or at the deadline. In between,
sleep a short, doubling delay (jittered when `rand` is given, so waiters don't poll in step).

`wait_for_lock()` decides all that and does no I/O: it runs the cache's `probe` sub-flow
(which yields whatever effects that cache needs) and yields `Sleep`; the caches drive it
blocking (`drive`) or awaited (`adrive`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import NamedTuple, TypeVar

from ._drive import Flow
from ._effects import Sleep
from ._frozen import Frozen

__all__ = ["PROBE", "Attempt", "Outcome", "Probe", "probe", "wait_for_lock"]

E = TypeVar("E")


class Attempt(NamedTuple):
    """One try of the lock: whether we got it, and the cache entry (any comparable marker,
    None when there is none) seen with it."""

    locked: bool
    entry: object


class Outcome(enum.Enum):
    """How a wait ended."""

    LOCKED = "locked"  # the lock is ours
    STORED = "stored"  # the holder stored a token meanwhile
    TIMED_OUT = "timed out"
    AWAY = "away"  # the store failed or is skipped: go on without the lock


class Probe(Frozen):
    """Try the lock once and read the entry's marker. Result: `Attempt`, or None when the
    store is away."""

    __slots__ = ()


PROBE = Probe()


def probe() -> Flow[Probe, Attempt | None]:
    """The probe sub-flow of a cache whose driver answers `Probe` itself (FileCache)."""
    attempt: Attempt | None = yield PROBE
    return attempt


def wait_for_lock(
    probe: Callable[[], Flow[E, Attempt | None]],
    *,
    timeout: float,
    first: float,
    cap: float,
    clock: Callable[[], float],
    rand: Callable[[], float] | None = None,
) -> Flow[E | Sleep, Outcome]:
    """Poll `probe` until the lock is ours or waiting is pointless (module docstring)."""
    deadline = clock() + timeout
    delay = first
    first_look, seen = True, None
    while True:
        attempt = yield from probe()
        if attempt is None:
            return Outcome.AWAY
        if attempt.locked:
            return Outcome.LOCKED
        if not first_look and attempt.entry is not None and attempt.entry != seen:
            return Outcome.STORED
        first_look, seen = False, attempt.entry
        if clock() >= deadline:
            return Outcome.TIMED_OUT
        yield Sleep(delay if rand is None else delay * (0.5 + rand()))
        delay = min(delay * 2, cap)
