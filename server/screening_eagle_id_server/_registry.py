"""The client registry: who may ask for tokens, with which secret, scopes and grants."""

from __future__ import annotations

import hashlib
import hmac
import importlib.resources
import math
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = [
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "GRANT_TYPES",
    "MAX_REGISTRY_BYTES",
    "SCOPE_TOKEN",
    "RegisteredClient",
    "Registry",
    "RegistryError",
]

DEMO_CLIENT_ID = "demo-client"
# Public by design: the demo client exists so that `make demo` works on a fresh machine.
DEMO_CLIENT_SECRET = "demo-secret"  # noqa: S105

# The spec's GrantType enum (openapi.yaml).
GRANT_TYPES = frozenset({"client_credentials", "authorization_code"})

# RFC 6749 §3.3 scope-token, the same character class as the `scope` pattern in openapi.yaml.
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")

# Claims the server sets itself: a registry may not override them.
_RESERVED_CLAIMS = frozenset({"iss", "aud", "exp", "iat", "nbf", "jti", "scp"})
_FIELDS = frozenset({"client_id", "secret_sha256", "scopes", "grant_types", "claims"})
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_DEMO_REGISTRY = "demo_clients.toml"
# Far above any real registry; a device or a huge file is refused before it is read whole.
MAX_REGISTRY_BYTES = 10 * 1024 * 1024
# Claims nest a few levels at most (an address); JSON parsers elsewhere read 64-bit integers.
_MAX_CLAIM_DEPTH = 32
_MAX_CLAIM_INT = 2**63 - 1


class RegistryError(ValueError):
    """The registry is unusable; the message names the bad entry."""


@dataclass(frozen=True, slots=True)
class RegisteredClient:
    """One client of the registry. Holds a digest of the secret, never the secret."""

    client_id: str
    secret_sha256: bytes = field(repr=False)
    scopes: frozenset[str]
    grant_types: frozenset[str]
    claims: Mapping[str, Any]

    @property
    def sub(self) -> str:
        """The subject of the client's tokens."""
        return str(self.claims["sub"])


class Registry:
    """An immutable set of clients, looked up by client_id."""

    __slots__ = ("_clients", "_dummy_digest")

    def __init__(self, clients: Iterable[RegisteredClient]) -> None:
        by_id: dict[str, RegisteredClient] = {}
        for client in clients:
            if client.client_id in by_id:
                raise RegistryError(f"duplicate client_id {client.client_id!r}")
            by_id[client.client_id] = client
        self._clients: Mapping[str, RegisteredClient] = MappingProxyType(by_id)
        # Compared against when the client is unknown, so that an unknown client costs
        # the same work as a wrong secret.
        self._dummy_digest = hashlib.sha256(b"no such client").digest()

    def __repr__(self) -> str:
        return f"Registry({sorted(self._clients)!r})"

    def __len__(self) -> int:
        return len(self._clients)

    def __iter__(self) -> Iterator[RegisteredClient]:
        return iter(self._clients.values())

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._clients

    def get(self, client_id: str) -> RegisteredClient | None:
        """The client with this id, or None."""
        return self._clients.get(client_id)

    def authenticate(self, client_id: str, secret: str) -> RegisteredClient | None:
        """The client if `secret` is its secret; None for an unknown client or a wrong secret."""
        digest = hashlib.sha256(secret.encode("utf-8")).digest()
        client = self._clients.get(client_id)
        expected = self._dummy_digest if client is None else client.secret_sha256
        if hmac.compare_digest(digest, expected) and client is not None:
            return client
        return None

    def merged(self, other: Registry) -> Registry:
        """This registry plus the clients of `other` whose ids are not already here."""
        extra = [c for c in other if c.client_id not in self._clients]
        return Registry([*self, *extra])

    @classmethod
    def from_toml(cls, text: str, *, source: str = "<registry>") -> Registry:
        """Parse and validate a registry document; raise RegistryError naming the bad entry."""
        try:
            document = tomllib.loads(text)
        except RecursionError as exc:
            raise RegistryError(f"{source}: not valid TOML: nested too deeply") from exc
        except ValueError as exc:
            # TOMLDecodeError, and the int() of a number too long to convert.
            raise RegistryError(f"{source}: not valid TOML: {exc}") from exc
        return cls.from_mapping(document, source=source)

    @classmethod
    def from_file(cls, path: str | Path) -> Registry:
        """Load a registry TOML file (see the README for its shape)."""
        path = Path(path)
        try:
            with path.open("rb") as file:
                data = file.read(MAX_REGISTRY_BYTES + 1)
        except OSError as exc:
            raise RegistryError(f"{path}: cannot read the registry: {exc}") from exc
        if len(data) > MAX_REGISTRY_BYTES:
            raise RegistryError(f"{path}: larger than {MAX_REGISTRY_BYTES} bytes")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RegistryError(f"{path}: not UTF-8 (byte {exc.start})") from exc
        return cls.from_toml(text, source=str(path))

    @classmethod
    def demo(cls) -> Registry:
        """The registry shipped with the package: only the documented demo client."""
        text = importlib.resources.files(__package__).joinpath(_DEMO_REGISTRY).read_text("utf-8")
        return cls.from_toml(text, source=_DEMO_REGISTRY)

    @classmethod
    def from_mapping(cls, document: Mapping[str, Any], *, source: str = "<registry>") -> Registry:
        """Validate an already-parsed registry document."""
        unknown = sorted(set(document) - {"clients"})
        if unknown:
            raise RegistryError(f"{source}: unknown top-level key(s) {unknown}")
        entries = document.get("clients")
        if not isinstance(entries, list) or not entries:
            raise RegistryError(f"{source}: expected at least one [[clients]] entry")
        clients = [_parse_entry(e, f"{source}: clients[{i}]") for i, e in enumerate(entries)]
        seen: dict[str, int] = {}
        for i, client in enumerate(clients):
            if client.client_id in seen:
                raise RegistryError(
                    f"{source}: clients[{i}] (client_id {client.client_id!r}): duplicate client_id,"
                    f" already defined by clients[{seen[client.client_id]}]"
                )
            seen[client.client_id] = i
        return cls(clients)


def _parse_entry(entry: object, where: str) -> RegisteredClient:
    if not isinstance(entry, dict):
        raise RegistryError(f"{where}: expected a table")
    client_id = entry.get("client_id")
    if isinstance(client_id, str) and client_id:
        where = f"{where} (client_id {client_id!r})"
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise RegistryError(f"{where}: unknown field(s) {unknown}")
    for name in sorted(_FIELDS):
        if name not in entry:
            raise RegistryError(f"{where}: missing field {name!r}")
    if not isinstance(client_id, str) or not client_id or not client_id.isprintable():
        raise RegistryError(f"{where}: client_id must be a non-empty printable string")
    secret_hex = entry["secret_sha256"]
    if not isinstance(secret_hex, str) or not _HEX64.fullmatch(secret_hex):
        raise RegistryError(f"{where}: secret_sha256 must be 64 hex digits (a SHA-256 digest)")
    scopes = _string_list(entry["scopes"], "scopes", where)
    bad_scopes = [s for s in scopes if not SCOPE_TOKEN.fullmatch(s)]
    if bad_scopes:
        raise RegistryError(f"{where}: invalid scope-token(s) {bad_scopes} (RFC 6749 §3.3)")
    grant_types = _string_list(entry["grant_types"], "grant_types", where)
    bad_grants = sorted(set(grant_types) - GRANT_TYPES)
    if bad_grants:
        allowed = sorted(GRANT_TYPES)
        raise RegistryError(f"{where}: unknown grant type(s) {bad_grants}; use {allowed}")
    claims = entry["claims"]
    if not isinstance(claims, dict):
        raise RegistryError(f"{where}: claims must be a table")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise RegistryError(f"{where}: claims.sub is required (a non-empty string)")
    reserved = sorted(_RESERVED_CLAIMS & set(claims))
    if reserved:
        raise RegistryError(f"{where}: claims {reserved} are set by the server, not the registry")
    _check_json(claims, f"{where}: claims")
    return RegisteredClient(
        client_id=client_id,
        secret_sha256=bytes.fromhex(secret_hex),
        scopes=frozenset(scopes),
        grant_types=frozenset(grant_types),
        claims=MappingProxyType(dict(claims)),
    )


def _string_list(value: object, name: str, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RegistryError(f"{where}: {name} must be a list of strings")
    return list(value)


def _check_json(value: object, where: str, depth: int = 0) -> None:
    # TOML has dates and times, JSON (and so a JWT) does not.
    if depth > _MAX_CLAIM_DEPTH:
        raise RegistryError(f"{where}: nested more than {_MAX_CLAIM_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_json(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]", depth + 1)
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > _MAX_CLAIM_INT:
        raise RegistryError(f"{where}: integer out of the 64-bit range")
    elif not isinstance(value, str | int | float | bool):
        raise RegistryError(f"{where}: {type(value).__name__} values cannot go into a JWT")
    elif isinstance(value, float) and not math.isfinite(value):
        # TOML has nan and inf, JSON does not: the token would not be valid JSON.
        raise RegistryError(f"{where}: {value!r} cannot go into a JWT (JSON has no NaN/Infinity)")
