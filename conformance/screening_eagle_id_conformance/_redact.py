"""Redaction of secrets from server text, in every encoding a server can echo them in.

The rule is one over text, not a list of forms: a substring is redacted when some chain of
decodings of it contains a secret. The decodings are every escape a server can put around an
echoed value: JSON string escapes (`\\/`, `\\"`, `\\\\`, `\\u00e9`, surrogate pairs) and the other
backslash escapes (`\\xc3\\xa9` of a byte string's repr, octal, `\\U0001f600`), HTML
entities (named, decimal, hex), percent-encoding (with or without `+` for space, any case of
hex, `%uXXXX`), quoted-printable, base64 (standard or URL-safe, at any alignment) and hex,
nested in any order.

`redact(text, secrets)` explores those chains breadth-first (each text once, within a budget),
and while the whole text reveals a secret it cuts the smallest window that still reveals it and
puts `[REDACTED]` there. Text that reveals nothing comes back unchanged, so curl commands and
quoted bodies stay as the server sent them.
"""

from __future__ import annotations

import base64
import binascii
import html
import quopri
import re
from collections.abc import Callable, Iterable
from urllib.parse import unquote, unquote_plus

__all__ = ["REDACTED", "redact", "reveals"]

REDACTED = "[REDACTED]"
# Stands for a redaction while the text is worked on: one character no decoding produces from
# anything else, so a window never grows into an earlier redaction's text.
_MARK = "\ue000"
# How many distinct decoded texts one check may explore, and how much text in all: the
# encodings a server uses nest a few levels deep; the budget keeps a hostile text from making
# redaction slow. Past it, the text counts as revealing (the safe answer).
_MAX_TEXTS = 256
_MAX_CHARS = 4 << 20
# Windows cut from one text before the whole text is withheld instead.
_MAX_CUTS = 64

# Backslash escapes, one pass left to right (so `\\\\x41` is an escaped backslash, then text):
# JSON's (a surrogate pair, `\\uXXXX`, the simple ones), Python's (`\\UXXXXXXXX`, `\\xHH`, as in
# a repr) and octal `\\NNN` (C, a byte string's repr).
_JSON_ESCAPE = re.compile(
    r"\\(?:u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})"  # a surrogate pair
    r"|u([0-9a-fA-F]{4})|([\"\\/bfnrt])|U([0-9a-fA-F]{8})|x([0-9a-fA-F]{2})|([0-3][0-7]{2}))"
)
_STAND_IN = re.compile(r"[\udc80-\udcff]")
_PERCENT_U = re.compile(r"%[uU]([0-9a-fA-F]{4})")
_QUOTED_PRINTABLE = re.compile(r"=(?:[0-9A-F]{2}|\r?\n)")
_JSON_SIMPLE = dict(zip('"\\/bfnrt', '"\\/\b\f\n\r\t', strict=True))
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{6,}={0,2}")
_HEX_RUN = re.compile(r"(?:[0-9a-fA-F]{2}){3,}")


def _json_replace(match: re.Match[str]) -> str:
    high, low, single, simple, long, hex_byte, octal = match.groups()
    if simple is not None:
        return _JSON_SIMPLE[simple]
    if high is not None:
        return chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00))
    if single is not None or long is not None:
        return _char(int(single or long, 16))
    # A byte (or, in a str's repr, a code point below 256): a stand-in until its run is read.
    code = int(hex_byte, 16) if hex_byte is not None else int(octal, 8)
    return chr(code) if code < 0x80 else chr(0xDC00 + code)


def _char(code: int) -> str:
    # A lone surrogate would not survive encoding to UTF-8 later: keep a stand-in.
    return "\ufffd" if 0xD800 <= code < 0xE000 or code > 0x10FFFF else chr(code)


def _json_unescape(text: str) -> str:
    """Backslash escapes; escaped bytes read as UTF-8, or where they are not UTF-8, as code
    points (`\\xe9` in a str's repr)."""
    if "\\" not in text:
        return text
    decoded = _JSON_ESCAPE.sub(_json_replace, text)
    try:
        return decoded.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeError:
        return _STAND_IN.sub(lambda m: chr(ord(m.group(0)) - 0xDC00), decoded)


def _html_unescape(text: str) -> str:
    return html.unescape(text) if "&" in text else text


def _percent(text: str) -> str:
    """Percent-decoding, `%uXXXX` too (UTF-16 units, surrogate pairs joined)."""
    if "%" not in text:
        return text
    if "%u" in text or "%U" in text:
        text = _PERCENT_U.sub(lambda m: chr(int(m.group(1), 16)), text)
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return unquote(text, errors="replace")


def _quoted_printable(text: str) -> str:
    """Quoted-printable (`=C3=A9`, soft line breaks `=` at a line's end)."""
    if not _QUOTED_PRINTABLE.search(text):
        return text
    return _bytes_text(quopri.decodestring(text.encode("utf-8", "surrogatepass")))


def _percent_plus(text: str) -> str:
    return unquote_plus(text, errors="replace") if "%" in text or "+" in text else text


def _bytes_text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _base64_runs(text: str) -> str:
    """Each base64-looking run replaced by its decodings at every alignment (a secret inside a
    longer encoded value starts at any of the four); the run itself is the parent text."""

    def decode(match: re.Match[str]) -> str:
        run = match.group(0).rstrip("=").replace("-", "+").replace("_", "/")
        shown = []
        for start in range(4):
            part = run[start:]
            part = part[: len(part) - len(part) % 4] if len(part) % 4 == 1 else part
            try:
                shown.append(_bytes_text(base64.b64decode(part + "=" * (-len(part) % 4))))
            except (binascii.Error, ValueError):
                continue
        return " ".join(shown)

    return _BASE64_RUN.sub(decode, text)


def _hex_runs(text: str) -> str:
    def decode(match: re.Match[str]) -> str:
        run = match.group(0)
        shown = [_bytes_text(bytes.fromhex(run))]
        if len(run) > 2:
            shown.append(_bytes_text(bytes.fromhex(run[1:-1])))
        return " ".join(shown)

    return _HEX_RUN.sub(decode, text)


_DECODINGS: tuple[Callable[[str], str], ...] = (
    _json_unescape,
    _html_unescape,
    _percent,
    _percent_plus,
    _base64_runs,
    _hex_runs,
    _quoted_printable,
)


def reveals(text: str, secrets: Iterable[str]) -> bool:
    """Whether `text`, or some chain of decodings of it, contains one of `secrets`."""
    wanted = [s for s in secrets if s]
    if not wanted:
        return False
    seen = {text}
    queue = [text]
    chars = len(text)
    while queue:
        current = queue.pop(0)
        if any(secret in current for secret in wanted):
            return True
        for decoding in _DECODINGS:
            decoded = decoding(current)
            if decoded in seen:
                continue
            seen.add(decoded)
            chars += len(decoded)
            if len(seen) > _MAX_TEXTS or chars > _MAX_CHARS:
                return True  # too deep to tell: withhold rather than risk it
            queue.append(decoded)
    return False


def _window(text: str, secrets: list[str]) -> tuple[int, int]:
    """The smallest [start, end) of `text` that still reveals a secret (text reveals one)."""
    low, high = 0, len(text)
    while low < high:  # the largest start whose suffix still reveals
        middle = (low + high + 1) // 2
        if reveals(text[middle:], secrets):
            low = middle
        else:
            high = middle - 1
    start = low
    low, high = start + 1, len(text)
    while low < high:  # the smallest end whose window still reveals
        middle = (low + high) // 2
        if reveals(text[start:middle], secrets):
            high = middle
        else:
            low = middle + 1
    return start, max(low, start + 1)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every part that reveals one of `secrets` replaced by `[REDACTED]`."""
    wanted = [s for s in secrets if s]
    if not wanted or not reveals(text, wanted):
        return text
    for _ in range(_MAX_CUTS):
        start, end = _window(text, wanted)
        text = text[:start] + _MARK + text[end:]
        if not reveals(text, wanted):
            return text.replace(_MARK, REDACTED)
    return REDACTED
