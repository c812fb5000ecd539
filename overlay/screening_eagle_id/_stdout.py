"""`eagle-id`'s standard output: write failures told apart from the command's own errors.

A reader that goes away (`| head`) ends the command quietly with 141; a full or closed
output (`> /dev/full`, `>&-`) is one line on stderr and exit 1; never Python's
"Exception ignored … OSError" at exit.
"""

from __future__ import annotations

import contextlib
import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: a cache hit skips it
if TYPE_CHECKING:
    from typing import TextIO

__all__ = ["Output", "OutputError", "output_failed", "reader_gone", "silence_stdout"]


class OutputError(Exception):
    """Writing to standard output failed (told apart from the command's own OSErrors)."""

    def __init__(self, exc: OSError) -> None:
        super().__init__(exc)
        self.reason = exc.strerror or type(exc).__name__


class Output:
    """The command's output stream, whose write failures raise `OutputError`; a reader
    that went away stays a BrokenPipeError (quiet, exit 141)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(exc) from None


def output_failed(reason: str) -> int:
    """Say that standard output failed; 1. Nothing more can be written to it, so point it at
    /dev/null: the interpreter's own flush at exit stays quiet too."""
    print(f"eagle-id: cannot write to standard output: {reason}", file=sys.stderr)
    silence_stdout()
    return 1


def reader_gone() -> int:
    """The reader went away (`eagle-id … | head -1`): quiet, like any Unix filter; 141, as a
    shell reports a filter killed by SIGPIPE (128 + 13)."""
    silence_stdout()
    return 141


def silence_stdout() -> None:
    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
