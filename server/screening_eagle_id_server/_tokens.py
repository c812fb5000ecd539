"""HS256 JWT minting and the token response (stdlib only, precomputed where possible)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from ._registry import RegisteredClient
from ._settings import Settings

__all__ = ["SCOPE_CLAIMS", "TokenIssuer", "TokenSigner"]

# Which profile claims an ID token carries for each granted scope: OpenID Connect Core
# §5.4, plus the non-standard profile claims of the seed's example ID token.
SCOPE_CLAIMS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "email": frozenset({"email", "email_verified"}),
        "profile": frozenset(
            {
                "name",
                "family_name",
                "given_name",
                "middle_name",
                "nickname",
                "preferred_username",
                "profile",
                "picture",
                "website",
                "gender",
                "birthdate",
                "zoneinfo",
                "locale",
                "updated_at",
                "first_name",
                "last_name",
                "country_code",
            }
        ),
        "address": frozenset({"address"}),
        "phone": frozenset({"phone_number", "phone_number_verified"}),
    }
)

_encode_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


class TokenSigner:
    """Signs JWT claims with HS256. The key lives only inside a prepared HMAC object."""

    __slots__ = ("_header", "_mac")

    def __init__(self, key: bytes) -> None:
        # Precomputed once: the header segment never changes, and copying a keyed HMAC
        # object skips the key padding and the first compression rounds on every token.
        self._header = _b64url(_encode_json({"alg": "HS256", "typ": "JWT"}).encode()) + b"."
        self._mac = hmac.new(key, digestmod=hashlib.sha256)

    def __repr__(self) -> str:
        return "TokenSigner(key=<hidden>)"

    def sign(self, claims: Mapping[str, Any]) -> str:
        """The compact JWS of `claims`."""
        signing_input = self._header + _b64url(_encode_json(claims).encode())
        mac = self._mac.copy()
        mac.update(signing_input)
        return (signing_input + b"." + _b64url(mac.digest())).decode("ascii")


class TokenIssuer:
    """Builds the token response for an authenticated client and its granted scopes."""

    __slots__ = ("_clock", "_issuer", "_lifetime", "_refresh_lifetime", "_signer")

    def __init__(self, settings: Settings) -> None:
        self._signer = TokenSigner(settings.signing_key)
        self._clock = settings.clock
        self._issuer = settings.issuer
        self._lifetime = settings.token_lifetime
        self._refresh_lifetime = settings.refresh_token_lifetime

    def __repr__(self) -> str:
        return f"TokenIssuer(issuer={self._issuer!r}, lifetime={self._lifetime})"

    def issue(self, client: RegisteredClient, scopes: Sequence[str]) -> dict[str, Any]:
        """The RFC 6749 §5.1 response body: always an access token; an ID token when
        `openid` is granted; a refresh token when `offline` is granted."""
        now = int(self._clock())
        scope = " ".join(scopes)
        sub = client.sub
        # Claim order follows the seed's example tokens.
        access: dict[str, Any] = {
            "aud": client.client_id,
            "exp": now + self._lifetime,
            "jti": str(uuid.uuid4()),
            "iat": now,
            "iss": self._issuer,
            "sub": sub,
            "scp": scope,
        }
        for name, value in client.claims.items():
            access.setdefault(name, value)
        body: dict[str, Any] = {
            "scope": scope,
            "token_type": "Bearer",
            "access_token": self._signer.sign(access),
            "expires_in": self._lifetime,
        }
        if "openid" in scopes:
            id_claims: dict[str, Any] = {
                "aud": client.client_id,
                "exp": now + self._lifetime,
                "iat": now,
                "iss": self._issuer,
                "sub": sub,
            }
            released = frozenset().union(*(SCOPE_CLAIMS.get(s, frozenset()) for s in scopes))
            for name, value in client.claims.items():
                if name in released:
                    id_claims[name] = value
            body["id_token"] = self._signer.sign(id_claims)
        if "offline" in scopes:
            body["refresh_token"] = self._signer.sign(
                {
                    "aud": client.client_id,
                    "exp": now + self._refresh_lifetime,
                    "jti": str(uuid.uuid4()),
                    "iat": now,
                    "iss": self._issuer,
                    "sub": sub,
                    "scp": scope,
                }
            )
        return body
