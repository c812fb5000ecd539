"""Everything the server is configured with, in one immutable object."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ._limits import ConnectionLimits
from ._registry import Registry

__all__ = [
    "DEFAULT_REFRESH_TOKEN_LIFETIME",
    "DEFAULT_TOKEN_LIFETIME",
    "ISSUER",
    "MAX_BODY_BYTES",
    "MAX_LIFETIME",
    "MIN_SIGNING_KEY_BYTES",
    "Settings",
]

ISSUER = "Screening Eagle ID"
# The seed's tokens: access and ID tokens live 7 days, refresh tokens 180 days.
DEFAULT_TOKEN_LIFETIME = 604_800
DEFAULT_REFRESH_TOKEN_LIFETIME = 15_552_000
# A token request is two short parameters; 8 KiB is generous and bounds memory per request.
MAX_BODY_BYTES = 8 * 1024
# Ten years: far beyond any real token, small enough for every JWT library's `exp`.
MAX_LIFETIME = 10 * 365 * 86_400
# RFC 7518 §3.2: an HS256 key must be at least as long as the hash output (256 bits).
MIN_SIGNING_KEY_BYTES = 32


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Configuration of one server: signing key, clients, lifetimes, limits and clock."""

    signing_key: bytes = field(repr=False)
    registry: Registry
    token_lifetime: int = DEFAULT_TOKEN_LIFETIME
    refresh_token_lifetime: int = DEFAULT_REFRESH_TOKEN_LIFETIME
    max_body_bytes: int = MAX_BODY_BYTES
    issuer: str = ISSUER
    # Timeouts and sizes of the connection layer (serve_in_thread and the command line).
    limits: ConnectionLimits = field(default_factory=ConnectionLimits)
    # Seconds since the epoch; injectable so tests control `iat`/`exp`.
    clock: Callable[[], float] = field(default=time.time, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.signing_key, bytes):
            raise TypeError("the signing key must be bytes")
        if len(self.signing_key) < MIN_SIGNING_KEY_BYTES:
            raise ValueError(
                f"the signing key must be at least {MIN_SIGNING_KEY_BYTES} bytes (RFC 7518 §3.2)"
            )
        for name, top in (
            ("token_lifetime", MAX_LIFETIME),
            ("refresh_token_lifetime", MAX_LIFETIME),
            ("max_body_bytes", 2**31),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
                raise ValueError(f"{name} must be an integer from 1 to {top}, got {value!r}")
        if not isinstance(self.limits, ConnectionLimits):
            raise TypeError(f"limits must be a ConnectionLimits, got {self.limits!r}")

    @classmethod
    def dev(
        cls,
        *,
        token_lifetime: int = DEFAULT_TOKEN_LIFETIME,
        limits: ConnectionLimits | None = None,
    ) -> Settings:
        """Dev/demo settings: a fresh random signing key and the demo client."""
        return cls(
            signing_key=secrets.token_bytes(MIN_SIGNING_KEY_BYTES),
            registry=Registry.demo(),
            token_lifetime=token_lifetime,
            limits=limits or ConnectionLimits(),
        )
