"""Running a sans-I/O generator: one driver loop, for blocking and for awaited work.

The overlay's decisions live in generators that never do I/O (`_engine.py` for tokens,
`_lockwait.py` for a shared cache's lock): they yield *effects* (small frozen objects saying
what to do, `_effects.py`) and receive each effect's result through `.send()`. `drive()` and
`adrive()` turn those effects into work, through an `execute` callable that a client or cache
supplies: a blocking call for `drive`, an awaited one for `adrive`. An exception from
`execute` is thrown into the generator at its `yield`, so its `try`/`finally` blocks
(releasing a lock) run as if the work had raised there. Nothing here decides anything.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

__all__ = ["Flow", "adrive", "drive"]

E = TypeVar("E")
R = TypeVar("R")

#: A sans-I/O generator: yields effects of type E, receives their results, returns R.
Flow = Generator[E, Any, R]


async def adrive(flow: Flow[E, R], execute: Callable[[E], Awaitable[Any]]) -> R:
    """Run `flow` to its end, awaiting each effect with `execute`."""
    step: Callable[[Any], E] = flow.send
    arg: Any = None
    while True:
        try:
            effect = step(arg)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        try:
            arg, step = await execute(effect), flow.send
        except BaseException as exc:  # into the generator, which decides (and cleans up)
            arg, step = exc, flow.throw


def drive(flow: Flow[E, R], execute: Callable[[E], Any]) -> R:
    """Run `flow` to its end, doing each effect with the blocking `execute`.

    The loop is `adrive`'s, without an event loop: an `execute` that blocks never suspends
    the coroutine, so it finishes within its first step (one loop to keep right, not two).
    """

    async def at_once(effect: E) -> Any:
        return execute(effect)

    coroutine = adrive(flow, at_once)
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("drive(): an effect awaited something; use adrive()")
