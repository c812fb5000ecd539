"""Strict parsing of the HTTP Basic client authentication of RFC 6749 §2.3.1."""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import unquote_plus

__all__ = ["MAX_AUTHORIZATION_LENGTH", "parse_basic_authorization"]

# Far above any real client id and secret; bounds the work spent on a hostile header.
MAX_AUTHORIZATION_LENGTH = 4096
# RFC 7617 token68 restricted to the standard base64 alphabet, with canonical padding.
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
# After form-url-decoding: a `%` must start a two-hex-digit escape.
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parse_basic_authorization(value: str | None) -> tuple[str, str] | None:
    """Return (client_id, client_secret) from an Authorization header value, or None.

    None is the single answer to every malformed input (missing header, other scheme, bad
    base64, not UTF-8, no colon, bad form encoding, empty id or secret): the
    caller turns it into the one 401 that also answers unknown clients and wrong secrets.
    The id and the secret are form-url-decoded, as RFC 6749 §2.3.1 requires.
    """
    if value is None or len(value) > MAX_AUTHORIZATION_LENGTH:
        return None
    scheme, _, token = value.partition(" ")
    # The auth-scheme is case-insensitive (RFC 7235 §2.1); 1*SP separates it from the token.
    token = token.lstrip(" ")
    if scheme.lower() != "basic" or not token or not _BASE64.fullmatch(token):
        return None
    try:
        text = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    # RFC 7617 §2: the user-id cannot contain a colon, so the FIRST colon separates; a literal
    # colon in the secret (a client that did not form-urlencode it) stays part of the secret.
    raw_id, colon, raw_secret = text.partition(":")
    if not colon:
        return None
    client_id = _form_decode(raw_id)
    secret = _form_decode(raw_secret)
    if not client_id or not secret:
        return None
    return client_id, secret


def _form_decode(value: str) -> str | None:
    if _BAD_ESCAPE.search(value):
        return None
    try:
        decoded = unquote_plus(value, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        return None
    if _CONTROL.search(decoded):
        return None
    return decoded
