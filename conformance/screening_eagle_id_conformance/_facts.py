"""The facts of a reply and the one FAIL message built from them.

Every FAIL message that compares an expected answer with the received one is built by
`expected_got` from the facts actually received (`Facts.of`): the status, the `error` member
read whatever the status was, and what the body was when it had no `error`. Server text is
quoted raw here; the runner passes every message through `Target.redact` before any report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._http import Reply

__all__ = ["Facts", "expected_got"]

# How much of a body without an `error` a message quotes.
_SNIPPET = 80


@dataclass(frozen=True)
class Facts:
    """What a reply said: its status, its `error` member (whatever the status) and its body."""

    status: int
    error: str | None
    # The body when it says nothing of `error`: '' when it has an `error` string.
    body: str

    @classmethod
    def of(cls, reply: Reply) -> Facts:
        """Read the facts of `reply` (never raises)."""
        raw = reply.body
        if not raw.strip():
            return cls(reply.status, None, "an empty body")
        try:
            value: Any = reply.json()
        except (ValueError, UnicodeDecodeError):
            snippet = raw[:_SNIPPET].decode("utf-8", "replace")
            return cls(reply.status, None, f"a body that is not JSON: {snippet!r}")
        if not isinstance(value, dict):
            return cls(reply.status, None, f"a JSON {type(value).__name__}, not an object")
        error = value.get("error")
        if isinstance(error, str):
            return cls(reply.status, error, "")
        if "error" in value:
            return cls(reply.status, None, f"`error` {error!r}, not a string")
        return cls(reply.status, None, f"a JSON object without `error` (keys: {sorted(value)})")

    def answer(self) -> str:
        """`501 error='unsupported_grant_type'`, or `500 error=None (an empty body)`."""
        text = f"{self.status} error={self.error!r}"
        # What an error's body was instead of an `error`; a success's body is no error body.
        return f"{text} ({self.body})" if self.body and self.status >= 400 else text


def expected_got(expected: str, reply: Reply, why: str = "") -> str:
    """The one FAIL message: what the rule expects, then what was received, then why."""
    message = f"expected {expected}, got {Facts.of(reply).answer()}"
    return f"{message}; {why}" if why else message
