"""HS256 JWT minting and the token response (stdlib only, precomputed where possible)."""

from __future__ import annotations

import binascii
import hashlib
import json
import os
import threading
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
# The scopes whose claims go into an ID token; the rest only widen the access token.
_CLAIM_SCOPES = frozenset(SCOPE_CLAIMS)


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64url(data: bytes) -> bytes:
    # base64.urlsafe_b64encode without its Python-level wrappers.
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


# The RFC 4122 variant nibble (10xx) for each of the 16 random values it replaces.
_VARIANT = "89ab" * 4


class _RandomHex:
    """os.urandom in batches: one system call for many token ids, not one each."""

    __slots__ = ("_at", "_hex", "_lock")

    _BATCH = 4096

    def __init__(self) -> None:
        self._hex = ""
        self._at = 0
        # Servers in several threads of one process share it: no two may get the same digits.
        self._lock = threading.Lock()

    def take32(self) -> str:
        """32 fresh random hex digits (16 bytes), never handed out twice."""
        with self._lock:
            at = self._at
            if at + 32 > len(self._hex):
                self._hex, at = os.urandom(self._BATCH).hex(), 0
            self._at = at + 32
            return self._hex[at : at + 32]


_random_hex = _RandomHex()


def _uuid4() -> str:
    # str(uuid.uuid4()) without the UUID object: same format, version and variant.
    h = _random_hex.take32()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16)]}{h[17:20]}-{h[20:]}"


_BLOCK = 64  # SHA-256's block size


class TokenSigner:
    """Signs JWT claims with HS256. The key lives only inside two prepared hash states."""

    __slots__ = ("_header", "_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        # Precomputed once: the header segment never changes, and HMAC (RFC 2104) is two
        # hashes whose keyed first blocks are the same for every token: copying them skips
        # the key padding and a compression round each, in C, without hmac.HMAC's Python.
        self._header = _b64url(_encode_json({"alg": "HS256", "typ": "JWT"}).encode()) + b"."
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def __repr__(self) -> str:
        return "TokenSigner(key=<hidden>)"

    def sign(self, claims: Mapping[str, Any]) -> str:
        """The compact JWS of `claims`."""
        return self.sign_json(_encode_json(claims))

    def sign_json(self, payload: str) -> str:
        """The compact JWS of an already-encoded JSON object."""
        signing_input = self._header + _b64url(payload.encode())
        inner = self._inner.copy()
        inner.update(signing_input)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return (signing_input + b"." + _b64url(outer.digest())).decode("ascii")


class _ClientTemplate:
    """The JSON fragments of one client's tokens that never change between requests."""

    __slots__ = ("aud", "client", "extra", "filtered", "id_tokens", "identity", "plans")

    def __init__(self, client: RegisteredClient, issuer: str) -> None:
        self.client = client
        self.aud = _encode_json(client.client_id)
        # `"iss":…,"sub":…`: shared by every token of the client.
        self.identity = f'"iss":{_encode_json(issuer)},"sub":{_encode_json(client.sub)}'
        self.extra = _members({k: v for k, v in client.claims.items() if k != "sub"})
        self.filtered: dict[frozenset[str], str] = {}
        # The last ID token per released scope set, with its `iat`: an ID token has no `jti`,
        # so within one second the same client and scopes get the very same token.
        self.id_tokens: dict[frozenset[str], tuple[int, str]] = {}
        self.plans: dict[tuple[str, ...], _Plan] = {}

    def id_claims(self, scopes: frozenset[str]) -> str:
        """The ID token members the granted `scopes` release (cached: at most 16 sets)."""
        members = self.filtered.get(scopes)
        if members is None:
            released = frozenset().union(*(SCOPE_CLAIMS[s] for s in scopes))
            claims = self.client.claims
            members = _members({k: v for k, v in claims.items() if k in released})
            self.filtered[scopes] = members
        return members


_MAX_PLANS = 256


class _Plan:
    """The fragments of one client's response for one granted scope list, built once."""

    __slots__ = (
        "access_tail",
        "body_head",
        "body_mid",
        "id_tail",
        "refresh",
        "refresh_tail",
        "released",
    )

    def __init__(self, template: _ClientTemplate, scopes: tuple[str, ...], lifetime: int) -> None:
        scope_json = _encode_json(" ".join(scopes))
        # After `"iat":…` of each token: the members every such token of the client shares.
        self.access_tail = f',{template.identity},"scp":{scope_json}{template.extra}}}'
        self.refresh_tail = f',{template.identity},"scp":{scope_json}}}'
        self.body_head = f'{{"scope":{scope_json},"token_type":"Bearer","access_token":"'
        self.body_mid = f'","expires_in":{lifetime}'
        self.released: frozenset[str] | None = None
        self.id_tail = ""
        if "openid" in scopes:
            self.released = _CLAIM_SCOPES.intersection(scopes)
            self.id_tail = f",{template.identity}{template.id_claims(self.released)}}}"
        self.refresh = "offline" in scopes


def _members(claims: Mapping[str, Any]) -> str:
    # `,"a":1,"b":2`, ready to append after other members, or "" when there are none.
    return "," + _encode_json(claims)[1:-1] if claims else ""


class TokenIssuer:
    """Builds the token response for an authenticated client and its granted scopes."""

    __slots__ = ("_clock", "_issuer", "_lifetime", "_refresh_lifetime", "_signer", "_templates")

    def __init__(self, settings: Settings) -> None:
        self._signer = TokenSigner(settings.signing_key)
        self._clock = settings.clock
        self._issuer = settings.issuer
        self._lifetime = settings.token_lifetime
        self._refresh_lifetime = settings.refresh_token_lifetime
        self._templates: dict[str, _ClientTemplate] = {}

    def __repr__(self) -> str:
        return f"TokenIssuer(issuer={self._issuer!r}, lifetime={self._lifetime})"

    def issue(self, client: RegisteredClient, scopes: Sequence[str]) -> bytes:
        """The RFC 6749 §5.1 response body (JSON): always an access token; an ID token when
        `openid` is granted; a refresh token when `offline` is granted.

        Claims follow the seed's example tokens, in its order: `aud`, `exp`, `jti`, `iat`,
        `iss`, `sub`, `scp`, then the client's claims (access token); `aud`, `exp`, `iat`,
        `iss`, `sub` and the claims released by `email`/`profile`/… (ID token).
        """
        template = self._templates.get(client.client_id)
        if template is None or template.client is not client:
            template = self._templates[client.client_id] = _ClientTemplate(client, self._issuer)
        key = tuple(scopes)
        plan = template.plans.get(key)
        if plan is None:
            if len(template.plans) >= _MAX_PLANS:  # orderings of many scopes: stay bounded
                template.plans.clear()
            plan = template.plans[key] = _Plan(template, key, self._lifetime)
        now = int(self._clock())
        head = f'{{"aud":{template.aud},"exp":{now + self._lifetime}'
        access = self._signer.sign_json(f'{head},"jti":"{_uuid4()}","iat":{now}{plan.access_tail}')
        body = f"{plan.body_head}{access}{plan.body_mid}"
        if plan.released is not None:
            last = template.id_tokens.get(plan.released)
            if last is not None and last[0] == now:
                id_token = last[1]
            else:
                id_token = self._signer.sign_json(f'{head},"iat":{now}{plan.id_tail}')
                template.id_tokens[plan.released] = (now, id_token)
            body += f',"id_token":"{id_token}"'
        if plan.refresh:
            refresh = self._signer.sign_json(
                f'{{"aud":{template.aud},"exp":{now + self._refresh_lifetime},"jti":"{_uuid4()}",'
                f'"iat":{now}{plan.refresh_tail}'
            )
            body += f',"refresh_token":"{refresh}"'
        return (body + "}").encode()
