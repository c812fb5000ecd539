"""What llhttp leaves to the server in a request head: a valid Host (RFC 9112 §3.2 with
RFC 3986 §3.2.2-3.2.3), a well-formed request line whose method is unknown (RFC 9110 §9.1:
501, not 400), and a trailer section held to the head's limits and then dropped."""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

__all__ = ["Trailers", "TrailersTooLarge", "is_request_line", "valid_host"]

_UNRESERVED_SUB_DELIMS = rb"A-Za-z0-9\-._~!$&'()*+,;="
_REG_NAME = rb"(?:[" + _UNRESERVED_SUB_DELIMS + rb"]|%[0-9A-Fa-f]{2})*"
_IP_LITERAL = rb"\[(?:[0-9A-Fa-f:.]+|[vV][0-9A-Fa-f]+\.[" + _UNRESERVED_SUB_DELIMS + rb":]+)\]"
_HOST = re.compile(rb"(" + _IP_LITERAL + rb"|" + _REG_NAME + rb")(?::([0-9]{0,5}))?")
_TCHAR = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
_REQUEST_LINE = re.compile(_TCHAR + rb"+ [^\x00-\x20\x7f]+ HTTP/[0-9]\.[0-9]")


def valid_host(value: bytes) -> bool:
    """Whether a Host field value is `uri-host [ ":" port ]` (empty is valid: RFC 9112 §3.2),
    with a port of at most 65535 and an IPv6 literal that parses. The answers for short
    values are remembered (a few hosts serve every request), in a few KiB at most."""
    return _valid_host_cached(value) if len(value) <= 128 else _valid_host(value)


def _valid_host(value: bytes) -> bool:
    match = _HOST.fullmatch(value)
    if match is None:
        return False
    host, port = match.groups()
    if port and int(port) > 65535:
        return False
    if host.startswith(b"[") and host[1:2] not in (b"v", b"V"):
        try:
            ipaddress.IPv6Address(host[1:-1].decode("ascii"))
        except ValueError:
            return False
    return True


_valid_host_cached = lru_cache(maxsize=64)(_valid_host)


def is_request_line(line: bytes) -> bool:
    """Whether `line` (without its CRLF) is `method SP request-target SP HTTP-version`."""
    return _REQUEST_LINE.fullmatch(line) is not None


class TrailersTooLarge(Exception):
    """More trailer fields, or bytes, than a head may have."""


class Trailers:
    """Stands in for the header list once the head is complete: the parser appends the
    trailer fields of a chunked body here; they are counted against the head's limits and
    dropped (RFC 9110 §6.5.1), never added to the request's headers."""

    __slots__ = ("bytes_left", "fields_left")

    def __init__(self, max_fields: int, max_bytes: int) -> None:
        self.fields_left = max_fields
        self.bytes_left = max_bytes

    def append(self, field: tuple[bytes, bytes]) -> None:
        self.fields_left -= 1
        self.bytes_left -= len(field[0]) + len(field[1]) + 4
        if self.fields_left < 0 or self.bytes_left < 0:
            raise TrailersTooLarge
