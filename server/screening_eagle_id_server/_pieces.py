"""Where the bytes of a read are cut into pieces for the parser, and what a piece holds after
a request that completed in it (see `_protocol`). Heads end at the first CRLF CRLF: llhttp
accepts no bare LF."""

from __future__ import annotations

from ._headcheck import is_request_line

__all__ = ["END_OF_HEAD", "cut", "line_after", "tail_after"]

END_OF_HEAD = b"\r\n\r\n"


def cut(data: bytes, pos: int, end: int) -> int:
    """Where the piece of `data` from `pos` ends: after its first head end if another one
    follows (so that a piece ends one head at most) or if that head may be chunked (so that
    its body phase begins a piece, for `_chunks`), else at `end`."""
    first = data.find(END_OF_HEAD, pos)
    if first < 0:
        return end
    first += 4
    if first < end and b"chunked" in data[pos:first].lower():
        return first
    return end if data.find(END_OF_HEAD, first) < 0 else first


def tail_after(data: bytes, payload: int) -> int:
    """How many bytes end `data` after the request that completed in it: what follows its last
    head end (or the piece's start), less the body content fed in the piece. An estimate
    that is exact unless the piece held the ends of two requests' bodies."""
    last = data.rfind(END_OF_HEAD)
    start = last + 4 if last >= 0 else 0
    return max(0, len(data) - start - payload)


def line_after(data: bytes, payload: int) -> bytes:
    """The request line of a request that begins in `data` after another one completed in it
    (after a head end, or after a body of `payload` bytes): the first candidate that reads as
    a request line, else the first."""
    last = data.find(END_OF_HEAD)
    starts = [payload] if last < 0 else [last + 4 + payload, last + 4, payload]
    lines = [data[start:].lstrip(b"\r\n").partition(b"\r\n")[0] + b"\r\n" for start in starts]
    return next((line for line in lines if is_request_line(line[:-2])), lines[0])
