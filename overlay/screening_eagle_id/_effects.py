"""The token engine's effect vocabulary: what `_engine.py` asks a driver to do.

Each effect is a small frozen object (`_frozen.Frozen`, not attrs: cheaper to import); the
driver does the work and sends back the result:

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

from typing import TYPE_CHECKING, Literal

from ._frozen import Frozen

if TYPE_CHECKING:
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


class Sleep(Frozen):
    """Wait this many seconds (`time.sleep` or `asyncio.sleep`). Result: None."""

    __slots__ = ("seconds",)
    seconds: float

    def __init__(self, seconds: float) -> None:
        object.__setattr__(self, "seconds", seconds)


class Acquire(Frozen):
    """Take this client's own lock; `wait=False`: only if it is free now. Result: taken?"""

    __slots__ = ("wait",)
    wait: bool

    def __init__(self, wait: bool) -> None:
        object.__setattr__(self, "wait", wait)


class Release(Frozen):
    """Release this client's own lock. Result: None."""

    __slots__ = ()


class ReadCache(Frozen):
    """Read the shared cache's entry for this client's key. Result: `Token | None`."""

    __slots__ = ()


class LockCache(Frozen):
    """Enter the shared cache's fetch lock for this key. Result: a handle for `UnlockCache`."""

    __slots__ = ()


class UnlockCache(Frozen):
    """Leave the shared cache's fetch lock entered as `handle`. Result: None."""

    __slots__ = ("handle",)
    handle: object

    def __init__(self, handle: object) -> None:
        object.__setattr__(self, "handle", handle)


class WriteCache(Frozen):
    """Store `token` in the shared cache. Result: None."""

    __slots__ = ("token",)
    token: Token

    def __init__(self, token: Token) -> None:
        object.__setattr__(self, "token", token)


class DeleteCache(Frozen):
    """Forget the shared cache's entry for this key. Result: None."""

    __slots__ = ()


class Send(Frozen):
    """Send one token request. `anchor` (monotonic) and `wall` were read just before it; the
    whole try must end by `anchor` + the request timeout. `attempt` (1, 2, ...) and `ahead`
    (a refresh-ahead) describe it to telemetry. Result: `Token | TokenError`."""

    __slots__ = ("ahead", "anchor", "attempt", "wall")
    anchor: float
    wall: float
    attempt: int
    ahead: bool

    def __init__(self, anchor: float, wall: float, attempt: int = 1, ahead: bool = False) -> None:
        object.__setattr__(self, "anchor", anchor)
        object.__setattr__(self, "wall", wall)
        object.__setattr__(self, "attempt", attempt)
        object.__setattr__(self, "ahead", ahead)


class Log(Frozen):
    """Emit one record on the `screening_eagle_id` logger. Result: None."""

    __slots__ = ("args", "level", "message")
    level: int
    message: str
    args: tuple[object, ...]

    def __init__(self, level: int, message: str, args: tuple[object, ...] = ()) -> None:
        object.__setattr__(self, "level", level)
        object.__setattr__(self, "message", message)
        object.__setattr__(self, "args", args)


class Observe(Frozen):
    """Tell telemetry what happened: a caller "waited" for a token (it was no cache hit), a
    "refresh_ahead" started, a failed try is "retried", or a fetch "failed" for good (`error`;
    `ahead`: a refresh-ahead). Result: None."""

    __slots__ = ("ahead", "error", "event")
    event: Literal["waited", "refresh_ahead", "retried", "failed"]
    error: BaseException | None
    ahead: bool

    def __init__(
        self,
        event: Literal["waited", "refresh_ahead", "retried", "failed"],
        error: BaseException | None = None,
        ahead: bool = False,
    ) -> None:
        object.__setattr__(self, "event", event)
        object.__setattr__(self, "error", error)
        object.__setattr__(self, "ahead", ahead)


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
