"""Counting a chunked body's framing exactly, whatever the reads: chunk-size lines with their
extensions, the CRLF after each chunk's data, and the trailer section (RFC 9112 §7.1).

llhttp reports the content (`on_body`) but not where the framing around it was, so the
protocol counts it itself, on the bytes of the body phase before the parser sees them: a
chunked request's body phase always begins a piece (`_pieces.cut`), and this scanner is fed
every piece of it until the last chunk and the trailers end. Malformed framing is llhttp's to
refuse (400): the scanner then stops counting.
"""

from __future__ import annotations

__all__ = ["ChunkFraming"]

_SIZE, _DATA, _DATA_END, _TRAILERS, _DONE = range(5)
# A chunk size is at most 16 hex digits in llhttp (uint64): the start of a line kept to parse it.
_SIZE_PREFIX = 64


class ChunkFraming:
    """The framing bytes of one chunked body so far (`framing`); `feed` each piece of it."""

    __slots__ = ("_line", "_line_empty", "_remaining", "_state", "framing")

    def __init__(self) -> None:
        self.framing = 0
        self._state = _SIZE
        self._line = b""  # the start of the current chunk-size line (up to _SIZE_PREFIX)
        self._line_empty = True  # the current trailer line has nothing before its CRLF
        self._remaining = 0  # data bytes of the current chunk still to come (or CRLF bytes)

    @property
    def done(self) -> bool:
        """The last chunk and the trailer section have ended (what follows is not the body)."""
        return self._state == _DONE

    def feed(self, data: bytes) -> int:
        """Count the framing in `data`, the next bytes of the body phase; how many of them
        were the body's (all, unless it ended in `data`)."""
        pos, end = 0, len(data)
        while pos < end and self._state != _DONE:
            if self._state == _DATA:
                take = min(self._remaining, end - pos)
                self._remaining -= take
                pos += take
                if not self._remaining:
                    self._state, self._remaining = _DATA_END, 2
            elif self._state == _DATA_END:
                take = min(self._remaining, end - pos)
                self.framing += take
                self._remaining -= take
                pos += take
                if not self._remaining:
                    self._state = _SIZE
            else:
                pos = self._line_bytes(data, pos, end)
        return pos

    def _line_bytes(self, data: bytes, pos: int, end: int) -> int:
        """A chunk-size or trailer line's bytes from `pos`: counted, up to its LF."""
        stop = data.find(b"\n", pos, end)
        last = end if stop < 0 else stop + 1
        self.framing += last - pos
        if self._state == _SIZE:
            if len(self._line) < _SIZE_PREFIX:
                self._line += data[pos : min(last, pos + _SIZE_PREFIX - len(self._line))]
        elif data[pos:last].rstrip(b"\r\n"):
            self._line_empty = False
        if stop < 0:
            return end
        if self._state == _SIZE:
            self._size_line_ended()
        else:
            if self._line_empty:  # the empty line that ends the trailer section
                self._state = _DONE
            self._line_empty = True
        return last

    def _size_line_ended(self) -> None:
        digits = self._line.split(b";", 1)[0].strip(b" \t\r\n")
        self._line = b""
        try:
            size = int(digits, 16) if digits.isalnum() else -1
        except ValueError:
            size = -1
        if size < 0:
            self._state = _DONE  # llhttp refuses it: nothing more to count
        elif size == 0:
            self._state = _TRAILERS
        else:
            self._state, self._remaining = _DATA, size
