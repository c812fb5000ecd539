"""The token engine's effect vocabulary: what `_engine.py` asks a driver to do.

Each effect is a small frozen object; the driver does the work and sends back the result:

    effect                 result                     what the driver does
    Acquire(wait)          bool: taken?               this client's own lock (threads / tasks)
    Release()              None                       release it
    ReadCache()            Token | None               the shared cache's entry for our key
    LockCache()            handle                     enter the shared cache's fetch lock
    UnlockCache(handle)    None                       leave it
    WriteCache(token)      None                       store a fetched token
    DeleteCache()          None                       forget the entry
    Send(anchor, wall,     Token | TokenError         one request to the token endpoint
         attempt, ahead)                              (a telemetry span around it)
    Sleep(seconds)         None                       wait before a retry
    Log(level, msg, args)  None                       one log record
    Observe(event, ...)    None                       tell telemetry (`_telemetry.py`)

`Sleep` is shared with the shared caches' lock wait (`_lockwait.py`).
"""

from __future__ import annotations

from typing import Literal

from attrs import frozen

from ._token import Token

__all__ = [
    "Acquire",
    "DeleteCache",
    "Effect",
    "LockCache",
    "Log",
    "Observe",
    "ReadCache",
    "Release",
    "Send",
    "Sleep",
    "UnlockCache",
    "WriteCache",
]


@frozen
class Sleep:
    """Wait this many seconds (`time.sleep` or `asyncio.sleep`). Result: None."""

    seconds: float


@frozen
class Acquire:
    """Take this client's own lock; `wait=False`: only if it is free now. Result: taken?"""

    wait: bool


@frozen
class Release:
    """Release this client's own lock. Result: None."""


@frozen
class ReadCache:
    """Read the shared cache's entry for this client's key. Result: `Token | None`."""


@frozen
class LockCache:
    """Enter the shared cache's fetch lock for this key. Result: a handle for `UnlockCache`."""


@frozen
class UnlockCache:
    """Leave the shared cache's fetch lock entered as `handle`. Result: None."""

    handle: object


@frozen
class WriteCache:
    """Store `token` in the shared cache. Result: None."""

    token: Token


@frozen
class DeleteCache:
    """Forget the shared cache's entry for this key. Result: None."""


@frozen
class Send:
    """Send one token request. `anchor` (monotonic) and `wall` were read just before it; the
    whole try must end by `anchor` + the request timeout. `attempt` (1, 2, ...) and `ahead`
    (a refresh-ahead) describe it to telemetry. Result: `Token | TokenError`."""

    anchor: float
    wall: float
    attempt: int = 1
    ahead: bool = False


@frozen
class Log:
    """Emit one record on the `screening_eagle_id` logger. Result: None."""

    level: int
    message: str
    args: tuple[object, ...] = ()


@frozen
class Observe:
    """Tell telemetry what happened: a caller "waited" for a token (it was no cache hit), a
    "refresh_ahead" started, a failed try is "retried", or a fetch "failed" for good (`error`;
    `ahead`: a refresh-ahead). Result: None."""

    event: Literal["waited", "refresh_ahead", "retried", "failed"]
    error: BaseException | None = None
    ahead: bool = False


Effect = (
    Acquire
    | Release
    | ReadCache
    | LockCache
    | UnlockCache
    | WriteCache
    | DeleteCache
    | Send
    | Sleep
    | Log
    | Observe
)
