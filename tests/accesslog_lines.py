"""What a line of the server's standard error may look like, for the access-log tests: every
line must be one of these, whole (a line spliced with another matches none)."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

__all__ = ["AccessLine", "parse_line", "unescape"]

_VALUE = r'("(?:[^"\\]|\\.)*"|[^\s"]+)'
_PREFIX = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<level>INFO|WARNING|ERROR) \[(?P<pid>\d+)\] "
_ACCESS = re.compile(
    _PREFIX + rf"screening_eagle_id_server\.access: method={_VALUE} path={_VALUE}"
    rf" status=(\d{{3}}) client_id={_VALUE} latency_ms=(\d+\.\d\d)"
)
_DROPPED = re.compile(
    _PREFIX + r"screening_eagle_id_server\.access: access log: (\d+) lines dropped"
    r" \(standard error did not keep up\)"
)
_OTHER = (
    # uvicorn's own records, and the CLI's start-up lines.
    re.compile(r"(INFO|WARNING|ERROR|DEBUG|CRITICAL): +\S.*"),
    re.compile(r"screening_eagle_id_server: \S.*"),
    re.compile(_PREFIX + r"screening_eagle_id_server(\.\w+)*: \S.*"),
)


@dataclass(frozen=True)
class AccessLine:
    """An access line's fields, unescaped; `cut` says which were cut to their cap."""

    pid: int
    method: str
    path: str
    status: int
    client_id: str | None
    cut: frozenset[str]


def unescape(value: str) -> tuple[str, bool]:
    """A field as written (`quote`/`field`) back to its text, and whether it was cut."""
    if not value.startswith('"'):
        return value, False
    inner = value[1:-1]
    cut = inner.endswith("...")
    if cut:
        inner = inner[:-3]
    return codecs.decode(inner.encode("ascii", "backslashreplace"), "unicode_escape"), cut


def parse_line(line: str) -> AccessLine | int | None:
    """An access line's fields, a drop line's count, or None for another known line.
    Raises AssertionError for anything else (a spliced, cut or unescaped line)."""
    assert line.isprintable(), line
    if match := _ACCESS.fullmatch(line):
        fields = {}
        cut = set()
        for name, raw in zip(("method", "path", "client_id"), match.group(3, 4, 6), strict=True):
            fields[name], was_cut = unescape(raw)
            if was_cut:
                cut.add(name)
        return AccessLine(
            pid=int(match["pid"]),
            method=fields["method"],
            path=fields["path"],
            status=int(match.group(5)),
            client_id=None if match.group(6) == "-" else fields["client_id"],
            cut=frozenset(cut),
        )
    if match := _DROPPED.fullmatch(line):
        return int(match.group(3))
    assert any(pattern.fullmatch(line) for pattern in _OTHER), line
    return None
