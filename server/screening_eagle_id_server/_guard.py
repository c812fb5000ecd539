"""The connections of one server (one uvicorn worker): how many are open, and which wait on
their client, the ones closed first when the connection cap needs room."""

from __future__ import annotations

import logging
import math
import time
import weakref
from typing import TYPE_CHECKING

from uvicorn.server import ServerState

if TYPE_CHECKING:
    from ._connection import BoundedConnection

__all__ = ["Guard", "guard_of"]

_log = logging.getLogger("screening_eagle_id_server.error")
_WARN_EVERY_SECONDS = 10.0


class Guard:
    """Open connections, and those waiting on their client, oldest first: idle, their head
    not complete, or their answer not taken (the write buffer over its high-water mark)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.count = 0
        self.waiting: dict[BoundedConnection, None] = {}
        self.lingering = 0
        self.shed = 0
        self.refused = 0
        self.write_timeouts = 0
        self._warned_at = -math.inf

    def note(self) -> None:
        """Warn about shed and refused connections at most every few seconds, not per event."""
        now = time.monotonic()
        if now - self._warned_at < _WARN_EVERY_SECONDS:
            return
        self._warned_at = now
        _log.warning(
            "connection cap of %d reached: %d waiting connection(s) closed to make room and "
            "%d refused with 503 so far",
            self.cap,
            self.shed,
            self.refused,
        )


_guards: weakref.WeakKeyDictionary[ServerState, Guard] = weakref.WeakKeyDictionary()


def guard_of(server_state: ServerState, cap: int) -> Guard:
    """The guard of this server (made with `cap` on its first connection)."""
    guard = _guards.get(server_state)
    if guard is None:
        guard = _guards[server_state] = Guard(cap)
    return guard
