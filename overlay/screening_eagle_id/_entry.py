"""The cache-entry format: encode, decode, strict validation and the secret binding.

Standard library only, with no relative imports, so a fast path (the `eagle-id token`
cache hit) can load this one file without httpx, attrs or the generated client and still
judge an entry exactly as strictly as `TokenClient` does.

An entry is one JSON object (compact, UTF-8, at most `MAX_ENTRY_BYTES`)::

    {"v": 1, "access_token": ..., "token_type": "Bearer", "scope": "a b",
     "issued_at": <epoch s>, "expires_at": <epoch s>, "id_token": ... | null,
     "refresh_token": ... | null, "binding": <64 hex> | null, "client_id": ... | null}

`client_id` is for display only (`eagle-id cache list`): it is not part of the binding, and the
cache key (the file or Redis key) is what ties an entry to a client.

Everything read from a cache is hostile until `decode()` (its shape) and `verify()` (its
binding, scopes and times, against one client) have passed; either raises `EntryError`, a
ValueError whose message never contains a field's value, and the caller treats the entry as
missing.

The binding ties an entry to the client secret without storing it: `binding` is an
HMAC-SHA256 over the entry's fields, keyed by `binding_key()`, which is scrypt (memory-hard,
about 1 MiB and a few ms) of the secret, salted with the cache key. A client whose secret
differs computes another key, so the entry fails `verify()` and the client fetches (and the
endpoint refuses it). What is stored is a MAC tag: recovering the secret from it means
guessing secrets and paying one scrypt per guess per cache key (the salt differs per base
URL, client id and scopes, so no table serves two of them). A random server-issued secret is
far out of reach that way; a short, human-chosen one is not, which is why secrets should be
random. The MAC also means nobody without the secret can alter a stored entry (its expiry,
scope or token) without it failing `verify()`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections import namedtuple
from collections.abc import Iterable, Mapping

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (see Entry)
if TYPE_CHECKING:
    from typing import Any, NamedTuple

__all__ = [
    "ENTRY_VERSION",
    "MAX_ENTRY_BYTES",
    "MAX_ISSUED_AHEAD",
    "MAX_LIFETIME",
    "MAX_SCOPE_CHARS",
    "MAX_TOKEN_CHARS",
    "Entry",
    "EntryError",
    "binding_key",
    "cache_key",
    "check_access_token",
    "check_optional_token",
    "check_scope",
    "check_token_type",
    "decode",
    "encode",
    "from_mapping",
    "load",
    "sign",
    "to_mapping",
    "verify",
]

#: The format version written in every entry; any other version is a miss.
ENTRY_VERSION = 1
# The spec's token path (`_config.TOKEN_PATH`; repeated: this module imports nothing of ours).
SPEC_TOKEN_PATH = "/api/id/v1/auth/token"  # noqa: S105 - a path, not a secret
#: The longest access, id or refresh token accepted, in characters (fresh or cached).
MAX_TOKEN_CHARS = 32 * 1024
#: The longest scope string accepted, in characters.
MAX_SCOPE_CHARS = 8 * 1024
#: The largest encoded entry read, in bytes: room for every field at its maximum.
MAX_ENTRY_BYTES = 3 * MAX_TOKEN_CHARS + MAX_SCOPE_CHARS + 1024
#: The longest lifetime (`expires_at - issued_at`, or a fresh `expires_in`) accepted: 10 years.
MAX_LIFETIME = 10 * 365 * 86400
#: Seconds an entry's `issued_at` may lie ahead of the reader's clock (hosts' clocks differ).
MAX_ISSUED_AHEAD = 300.0

# The last second of year 9999: the latest time a `datetime` can hold.
_MAX_TIMESTAMP = 253402300799.0
# RFC 6750 §2.1 b64token: what a Bearer header value may be, so a token is never refused by
# httpx (CR/LF, non-ASCII) at the moment it is used.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# RFC 6749 Appendix A: VSCHAR for id/refresh tokens, NQCHAR tokens separated by spaces for
# scope. No control characters in either.
_VSCHARS = re.compile(r"[\x20-\x7e]+")
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e ]*")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_FIELDS = ("access_token", "token_type", "scope", "issued_at", "expires_at")
# scrypt cost: n * r * 128 bytes = 1 MiB of memory and 1-3 ms per derivation, paid once per
# client (and once per `eagle-id token` run), and per guess by anyone guessing offline.
_SCRYPT = {"n": 1 << 10, "r": 8, "p": 1, "dklen": 32}
_SALT = b"screening-eagle-id cache entry binding v1\0"


class EntryError(ValueError):
    """A cache entry that does not parse or validate; the message names no field value."""


if TYPE_CHECKING:

    class Entry(NamedTuple):
        """One cached token, as plain values (times in seconds since the epoch)."""

        access_token: str
        token_type: str
        scope: frozenset[str]
        issued_at: float
        expires_at: float
        id_token: str | None = None
        refresh_token: str | None = None
        binding: str | None = None
        client_id: str | None = None

else:
    # collections.namedtuple, not typing.NamedTuple: importing typing would cost a cached
    # `eagle-id token` a third of an interpreter's start-up. The same fields as above.
    Entry = namedtuple(
        "Entry",
        [
            "access_token",
            "token_type",
            "scope",
            "issued_at",
            "expires_at",
            "id_token",
            "refresh_token",
            "binding",
            "client_id",
        ],
        defaults=(None,) * 4,
    )


def cache_key(
    base_url: str, client_id: str, scopes: Iterable[str], token_path: str | None = None
) -> str:
    """The key a token is cached under: SHA-256 hex of (base URL, client id, sorted scopes,
    and the token path when it is not the spec's).

    The base URL is compared without a trailing slash; scope order does not matter. Never
    derived from the secret. `token_path` None or the spec's path give the key of a client
    without one (keys made before token paths existed stay valid).
    """
    fields: list[object] = [base_url.rstrip("/"), client_id, sorted(set(scopes))]
    if token_path is not None and token_path != SPEC_TOKEN_PATH:
        fields.append(token_path)
    material = json.dumps(fields)
    return hashlib.sha256(material.encode()).hexdigest()


def binding_key(client_secret: str, key: str) -> bytes:
    """The HMAC key binding entries under cache key `key` to `client_secret` (scrypt).

    Deliberately costly (a few ms): compute it once per client, never per call.
    """
    salt = _SALT + key.encode("utf-8", "surrogatepass")
    return hashlib.scrypt(
        client_secret.encode("utf-8", "surrogatepass"), salt=salt, maxmem=4 << 20, **_SCRYPT
    )


# -- field checks (shared with the parser of fresh token responses) ----------------------------


def check_access_token(value: object) -> str:
    """`value` if it is a usable Bearer access token, else EntryError (never echoing it)."""
    if not isinstance(value, str) or not value:
        raise EntryError("access_token is missing or not a string")
    if len(value) > MAX_TOKEN_CHARS:
        raise EntryError(f"access_token is longer than {MAX_TOKEN_CHARS} characters")
    if not _B64TOKEN.fullmatch(value):
        raise EntryError("access_token is not a valid Bearer header value (RFC 6750 b64token)")
    return value


def check_token_type(value: object) -> str:
    """`value` if it says Bearer (any case; RFC 6749 §7.1: no type we do not understand)."""
    if not isinstance(value, str) or not value:
        raise EntryError("token_type is missing or not a string")
    if value.lower() != "bearer":
        raise EntryError("token_type is not Bearer")
    return value


def check_scope(value: object) -> frozenset[str]:
    """The scopes in a space-separated scope string (RFC 6749 §3.3 characters only)."""
    if not isinstance(value, str):
        raise EntryError("scope is not a string")
    if len(value) > MAX_SCOPE_CHARS:
        raise EntryError(f"scope is longer than {MAX_SCOPE_CHARS} characters")
    if not _SCOPE.fullmatch(value):
        raise EntryError("scope holds characters RFC 6749 does not allow")
    return frozenset(value.split())


def check_optional_token(name: str, value: object) -> str | None:
    """An id_token or refresh_token: absent (None), or printable ASCII of bounded length."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise EntryError(f"{name} is not a string")
    if len(value) > MAX_TOKEN_CHARS:
        raise EntryError(f"{name} is longer than {MAX_TOKEN_CHARS} characters")
    if not _VSCHARS.fullmatch(value):
        raise EntryError(f"{name} holds characters other than printable ASCII")
    return value


def _check_time(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EntryError(f"{name} is not a number")
    try:
        number = float(value)
    except OverflowError:  # an int beyond any float
        raise EntryError(f"{name} is out of range") from None
    if not (math.isfinite(number) and 0.0 <= number <= _MAX_TIMESTAMP):
        raise EntryError(f"{name} is out of range")
    return number


def _check_times(issued_at: object, expires_at: object) -> tuple[float, float]:
    issued, expires = _check_time("issued_at", issued_at), _check_time("expires_at", expires_at)
    if expires <= issued:
        raise EntryError("expires_at is not after issued_at")
    if expires - issued > MAX_LIFETIME:
        raise EntryError(f"lifetime is more than {MAX_LIFETIME} s (10 years)")
    return issued, expires


# -- the format ---------------------------------------------------------------------------


def from_mapping(data: object) -> Entry:
    """An Entry from a decoded JSON object, every field checked; EntryError otherwise."""
    if not isinstance(data, Mapping):
        raise EntryError("not a JSON object")
    version = data.get("v")
    if isinstance(version, bool) or version != ENTRY_VERSION:
        raise EntryError("not a version-1 cache entry")
    missing = [name for name in _FIELDS if name not in data]
    if missing:
        raise EntryError(f"missing {', '.join(missing)}")
    issued, expires = _check_times(data["issued_at"], data["expires_at"])
    binding = data.get("binding")
    if binding is not None and not (isinstance(binding, str) and _HEX64.fullmatch(binding)):
        raise EntryError("binding is not 64 lowercase hex digits")
    return Entry(
        access_token=check_access_token(data["access_token"]),
        token_type=check_token_type(data["token_type"]),
        scope=check_scope(data["scope"]),
        issued_at=issued,
        expires_at=expires,
        id_token=check_optional_token("id_token", data.get("id_token")),
        refresh_token=check_optional_token("refresh_token", data.get("refresh_token")),
        binding=binding,
        client_id=_check_client_id(data.get("client_id")),
    )


def _check_client_id(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 1024 or not value.isprintable():
        raise EntryError("client_id is not a printable string of at most 1024 characters")
    return value


def to_mapping(entry: Entry) -> dict[str, Any]:
    """The JSON-safe dict `encode()` writes."""
    return {
        "v": ENTRY_VERSION,
        "access_token": entry.access_token,
        "token_type": entry.token_type,
        "scope": " ".join(sorted(entry.scope)),
        "issued_at": entry.issued_at,
        "expires_at": entry.expires_at,
        "id_token": entry.id_token,
        "refresh_token": entry.refresh_token,
        "binding": entry.binding,
        "client_id": entry.client_id,
    }


def encode(entry: Entry) -> bytes:
    """The entry as compact UTF-8 JSON (what FileCache and RedisCache store)."""
    return json.dumps(to_mapping(entry), separators=(",", ":"), allow_nan=False).encode()


def decode(raw: bytes | bytearray | str) -> Entry:
    """The Entry in `raw`, checked in shape and field by field (not yet against a client:
    see `verify()`). Any failure, including deep nesting, is an EntryError."""
    if len(raw) > MAX_ENTRY_BYTES:
        raise EntryError(f"larger than {MAX_ENTRY_BYTES} bytes")
    try:
        data = json.loads(raw)
    except RecursionError:
        raise EntryError("nested too deeply to be a cache entry") from None
    except (ValueError, TypeError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise EntryError("not JSON (corrupt or truncated)") from None
    return from_mapping(data)


# -- the binding ----------------------------------------------------------------------------


def _mac(entry: Entry, key: bytes) -> str:
    # Times as whole microseconds: what a `datetime` keeps, so a Token rebuilt from the
    # entry produces the same text.
    material = json.dumps(
        [
            ENTRY_VERSION,
            entry.access_token,
            entry.token_type,
            sorted(entry.scope),
            f"{entry.issued_at:.6f}",
            f"{entry.expires_at:.6f}",
            entry.id_token,
            entry.refresh_token,
        ],
        separators=(",", ":"),
    )
    return hmac.new(key, material.encode(), hashlib.sha256).hexdigest()


def sign(entry: Entry, key: bytes) -> Entry:
    """`entry` with its `binding` set for `key` (a `binding_key()`)."""
    return entry._replace(binding=_mac(entry, key))


def verify(entry: Entry, *, key: bytes, scopes: Iterable[str], now: float) -> None:
    """Raise EntryError unless `entry` is fit to serve the client with binding key `key`
    requesting `scopes`, at wall-clock `now`: bound to that client's secret (and unaltered),
    granting every requested scope, issued no later than `MAX_ISSUED_AHEAD` from now, and
    well-formed (an Entry built in memory gets the same field checks as a decoded one).

    It may be expired: whether a token is still fresh enough is the caller's decision."""
    binding = entry.binding
    if not (isinstance(binding, str) and _HEX64.fullmatch(binding)) or not hmac.compare_digest(
        binding, _mac(entry, key)
    ):
        raise EntryError("not written by a client with this secret (or altered since)")
    check_access_token(entry.access_token)
    check_token_type(entry.token_type)
    _check_times(entry.issued_at, entry.expires_at)
    check_optional_token("id_token", entry.id_token)
    check_optional_token("refresh_token", entry.refresh_token)
    if not (isinstance(entry.scope, frozenset) and all(isinstance(s, str) for s in entry.scope)):
        raise EntryError("scope is not a set of strings")
    if not check_scope(" ".join(entry.scope)) >= frozenset(scopes):
        raise EntryError("does not grant every requested scope")
    if entry.issued_at > now + MAX_ISSUED_AHEAD:
        raise EntryError("issued_at lies in the future")


def load(raw: bytes | bytearray | str, *, key: bytes, scopes: Iterable[str], now: float) -> Entry:
    """`decode()` then `verify()`: the whole check a cached entry passes before it is served."""
    entry = decode(raw)
    verify(entry, key=key, scopes=scopes, now=now)
    return entry
