"""Where the token endpoint is: its base URL in one canonical form, and the token path.

Standard library only, like `_config.py` (which re-exports these): a cached `eagle-id token`
computes its cache key from them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ._entry import SPEC_TOKEN_PATH
from ._exceptions import ConfigurationError, InsecureTransportError

__all__ = [
    "MAX_TOKEN_PATH",
    "TOKEN_PATH",
    "canonical_url",
    "check_token_path",
    "is_loopback",
]

#: The token endpoint's path in `openapi.yaml`, the default `token_path`: a URL ending with
#: the token path is taken as the base URL.
TOKEN_PATH = SPEC_TOKEN_PATH
#: Longer token paths are refused (no real endpoint needs one; it bounds what a message echoes).
MAX_TOKEN_PATH = 1024
# An absolute path of RFC 3986 §3.3 `pchar`s (unreserved, %XX, sub-delims, ":", "@"): no
# query, fragment, space or control character.
_TOKEN_PATH = re.compile(r"(?:/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})*)+")
# scheme://authority/path?query#fragment (RFC 3986 §3), by hand: urllib.parse (and the
# ipaddress module it imports) would cost a cached `eagle-id token` several milliseconds.
_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#]*)(?P<path>[^?#]*)(?P<rest>.*)",
    re.DOTALL,
)
_IPV6 = re.compile(r"[0-9A-Fa-f:.]+")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def is_loopback(host: str) -> bool:
    """Whether `host` is loopback: the literal name `localhost` or a loopback address.

    Not `*.localhost`: loopback by RFC 6761, but that rests on the resolver, and credentials
    must not depend on it."""
    if host.lower() in ("localhost", "127.0.0.1", "::1"):
        return True
    import ipaddress  # only plain-http URLs get here

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_token_path(path: object, name: str = "token_path") -> str:
    """`path` if it is a usable token path, else ConfigurationError: an absolute URL path
    (`/o/token/`, kept exactly, a trailing slash too) of at most MAX_TOKEN_PATH characters,
    made of RFC 3986 path characters: no query or fragment, no space or control character,
    no `.` or `..` segment (also percent-encoded), no `//` at the start. `name` is how
    messages call it."""
    if not isinstance(path, str):
        raise ConfigurationError(f"{name} must be a string, not {type(path).__name__}")
    shown = repr(path[:80]) + ("..." if len(path) > 80 else "")
    if len(path) > MAX_TOKEN_PATH:
        raise ConfigurationError(f"{name} is longer than {MAX_TOKEN_PATH} characters: {shown}")
    if not path.startswith("/") or path.startswith("//"):
        raise ConfigurationError(
            f"{name} must be an absolute path like {TOKEN_PATH!r} (one leading '/'): {shown}"
        )
    if not _TOKEN_PATH.fullmatch(path):
        raise ConfigurationError(
            f"{name} may hold only URL path characters (no query, fragment, space or "
            f"control character; percent-encode the rest): {shown}"
        )
    segments = path.lower().replace("%2e", ".").split("/")
    if "." in segments or ".." in segments:
        raise ConfigurationError(f"{name} must not have '.' or '..' segments: {shown}")
    return path


def canonical_url(
    url: str,
    *,
    allow_insecure_http: bool = False,
    names: Mapping[str, str | None] | None = None,
    token_path: str = TOKEN_PATH,
) -> str:
    """The token endpoint's base URL in one canonical form: `scheme://host[:port][/path]`,
    scheme and host lower case, no default port, no trailing slash, and without `token_path`
    (default the spec's `/api/id/v1/auth/token`) when the URL ends with it (a full token URL
    is accepted).

    Refuses credentials in the URL, a query or fragment, anything but http(s), and plain http
    to a host that is not loopback unless `allow_insecure_http` (`InsecureTransportError`).
    The one form the client requests and caches under, and the quick cached path reads.
    """
    text = url.strip()
    parts = _URL.fullmatch(text)
    if parts is None:
        shown = "it" if "@" in text else repr(url)  # a mangled URL may still hold a password
        raise ConfigurationError(f"token endpoint URL must be http(s)://host[:port], not {shown}")
    scheme, authority, path, rest = parts.group("scheme", "authority", "path", "rest")
    if "@" in authority:  # checked first: what follows may echo the URL, never a password
        raise ConfigurationError("token endpoint URL must not contain credentials; pass them apart")
    host, port = _host_and_port(authority)
    scheme = scheme.lower()
    if scheme not in _DEFAULT_PORTS or not host:
        raise ConfigurationError(f"token endpoint URL must be http(s)://host[:port], not {url!r}")
    if rest:
        raise ConfigurationError(f"token endpoint URL must not have a query or fragment: {url!r}")
    if scheme == "http" and not allow_insecure_http and not is_loopback(host):
        hint = (names or {}).get("insecure") or "pass allow_insecure_http=True"
        raise InsecureTransportError(
            f"refusing to send client credentials over plain http to {host}; use "
            f"https, or {hint} if the network is trusted"
        )
    path = path.rstrip("/")
    suffix = token_path.rstrip("/")
    if suffix and path.endswith(suffix):
        path = path[: -len(suffix)].rstrip("/")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    return f"{scheme}://{netloc}{path}"


def _host_and_port(authority: str) -> tuple[str, int | None]:
    """The lower-case host (brackets off an IPv6 literal) and the port of `host[:port]`."""
    if authority.startswith("["):
        host, bracket, after = authority[1:].partition("]")
        if not bracket or not _IPV6.fullmatch(host) or (after and not after.startswith(":")):
            raise ConfigurationError("the token endpoint URL is not a valid URL")
        port_text = after[1:]
    else:
        host, _, port_text = authority.partition(":")
    if port_text and not (port_text.isascii() and port_text.isdigit() and int(port_text) < 65536):
        raise ConfigurationError("the token endpoint URL is not a valid URL")
    return host.lower(), int(port_text) if port_text else None
