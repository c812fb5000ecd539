"""The clock the overlay reads: injectable so expiry logic is tested without sleeping."""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


class Clock(Protocol):
    """Two time sources: `monotonic()` for freshness decisions inside one process,
    `time()` (seconds since the epoch) for token times that cross processes and hosts."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...


class SystemClock:
    """The real clocks: `time.monotonic` and `time.time`."""

    # Plain references to the builtins: the token client copies `monotonic` into an
    # attribute so the cached hot path is one attribute load and one C call.
    monotonic = staticmethod(time.monotonic)
    time = staticmethod(time.time)


SYSTEM_CLOCK: Clock = SystemClock()
