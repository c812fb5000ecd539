"""The pure rules: a reply or a token body in, a `Violation` (or nothing) out.

The named checks' probes and the schemathesis custom checks (`_fuzz.py`) share them, so fuzzed
traffic is judged by exactly the same rules as the hand-made requests.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import string
from typing import Any

from ._facts import expected_got
from ._http import Reply
from ._report import Source

__all__ = [
    "CHALLENGE_MISSING",
    "DESCRIPTION_FIELDS",
    "EXTENSION_ERRORS",
    "JWT_SKEW_SECONDS",
    "MIN_TOKEN_BITS",
    "REGISTERED_ERRORS",
    "RFC_DESCRIPTION",
    "SPEC_DESCRIPTION",
    "UNDECLARED_METHOD_STATUSES",
    "NotApplicable",
    "Violation",
    "error_code",
    "estimate_token_bits",
    "json_object",
    "judge_undeclared_method",
    "jwt_claims",
    "jwt_parts",
    "unregistered_error",
    "validate_cache_headers",
    "validate_error_body",
    "validate_expires_in",
    "validate_granted_scope",
    "validate_invalid_client",
    "validate_jwt_lifetime",
    "validate_token_type",
]

# Error codes RFC 6749 defines (§4.1.2.1, §5.2): the initial OAuth Extensions Error Registry.
REGISTERED_ERRORS = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "access_denied",
        "unsupported_response_type",
        "server_error",
        "temporarily_unavailable",
    }
)
# Codes other specifications registered in IANA's OAuth Extensions Error Registry (RFC 6749
# §8.5, §11.4): an error a token endpoint may send besides RFC 6749 §5.2's own list.
EXTENSION_ERRORS = frozenset(
    {
        "invalid_token",  # RFC 6750
        "insufficient_scope",  # RFC 6750
        "unsupported_token_type",  # RFC 7009
        "interaction_required",  # OpenID Connect Core 1.0
        "login_required",
        "account_selection_required",
        "consent_required",
        "invalid_request_uri",
        "invalid_request_object",
        "request_not_supported",
        "request_uri_not_supported",
        "registration_not_supported",
        "need_info",  # UMA 2.0
        "request_denied",
        "request_submitted",
        "authorization_pending",  # RFC 8628
        "slow_down",
        "expired_token",
        "invalid_target",  # RFC 8707
        "unsupported_pop_key",  # RFC 9201 (ACE)
        "incompatible_ace_profiles",
        "invalid_authorization_details",  # RFC 9396
        "invalid_dpop_proof",  # RFC 9449
        "use_dpop_nonce",
        "insufficient_user_authentication",  # RFC 9470
    }
)
# RFC 9110 §15.5.2, for every 401 whatever the request.
CHALLENGE_MISSING = "401 without a `WWW-Authenticate` challenge (RFC 9110 §15.5.2: MUST)"
# RFC 9110 §9.1, §15.5.5, §15.5.6, §15.6.2: a method the resource does not support is 404
# (no such resource for it), 405 (with Allow) or 501. The one rule for our checks and the
# schemathesis built-ins alike.
UNDECLARED_METHOD_STATUSES = frozenset({404, 405, 501})
# RFC 6749 §10.10: guessing a token MUST have a probability <= 2^-128.
MIN_TOKEN_BITS = 128
# How far a JWT's `iat` may be from the server's `Date` header before it is worth a warning.
JWT_SKEW_SECONDS = 60


class Violation(AssertionError):
    """A response breaks a rule (an AssertionError, so schemathesis records it as a failure)."""

    def __init__(self, message: str, source: Source | None = None) -> None:
        super().__init__(message)
        self.source = source


class NotApplicable(Exception):
    """The check cannot run against this server or with these credentials (the reason says why)."""


# ---------------------------------------------------------------- pure validators


def json_object(reply: Reply) -> dict[str, Any]:
    """The body as a JSON object, or a Violation (never a crash) when it is anything else."""
    try:
        value = reply.json()
    except (ValueError, UnicodeDecodeError):
        snippet = reply.body[:80].decode("utf-8", "replace")
        raise Violation(f"body is not JSON: {snippet!r}") from None
    if not isinstance(value, dict):
        raise Violation(f"body is JSON but not an object: {type(value).__name__}")
    return value


def error_code(reply: Reply | None) -> str | None:
    """The `error` member of a JSON error body, or None."""
    if reply is None:
        return None
    try:
        value = json_object(reply).get("error")
    except Violation:
        return None
    return value if isinstance(value, str) else None


def _directives(value: str | None) -> set[str]:
    return {part.split("=", 1)[0].strip().lower() for part in (value or "").split(",")}


def validate_cache_headers(reply: Reply) -> None:
    """`Cache-Control: no-store` and `Pragma: no-cache`.

    On a token response RFC 6749 §5.1 requires them (MUST); on every other response only
    openapi.yaml does (its responses all declare both headers required).
    """
    missing = []
    if "no-store" not in _directives(reply.header("cache-control")):
        missing.append(f"Cache-Control: no-store (got {reply.header('cache-control')!r})")
    if "no-cache" not in _directives(reply.header("pragma")):
        missing.append(f"Pragma: no-cache (got {reply.header('pragma')!r})")
    if missing:
        source = Source.MUST if 200 <= reply.status < 300 else Source.SPEC
        raise Violation(f"{reply.status} response lacks " + " and ".join(missing), source)


# The description field: the spec's (and the seed's) camelCase one, and RFC 6749 §5.2's.
SPEC_DESCRIPTION, RFC_DESCRIPTION = "errorDescription", "error_description"
DESCRIPTION_FIELDS = (SPEC_DESCRIPTION, RFC_DESCRIPTION)


def validate_error_body(reply: Reply, *, spec_naming: bool = False) -> list[str]:
    """An error body is a JSON object with a string `error` (openapi.yaml, RFC 6749 §5.2).

    A description, under either name, must be a string when present. With `spec_naming`, a
    body that describes the error only as RFC 6749's `error_description` breaks openapi.yaml,
    which documents `errorDescription` (a Violation with source SPEC). What neither requires is
    returned as notes: no description at all. Whether the code is a registered one is a rule of
    its own (`unregistered_error`): the seed's own example says "Forbidden".
    """
    if not reply.body.strip():
        raise Violation(
            f"{reply.status} with an empty body: RFC 6749 §5.2 requires a JSON object whose "
            "`error` member is REQUIRED"
        )
    body = json_object(reply)
    if "error" not in body:
        raise Violation(f"{reply.status} body has no `error` member (keys: {sorted(body)})")
    error = body["error"]
    if not isinstance(error, str):
        raise Violation(f"{reply.status} `error` is {error!r}, expected a string")
    notes = []
    present = [name for name in DESCRIPTION_FIELDS if name in body]
    for name in present:
        if not isinstance(body[name], str):
            raise Violation(f"{reply.status} `{name}` is {body[name]!r}, expected a string")
    if not present:
        notes.append(f"{reply.status} body has no description ({' / '.join(DESCRIPTION_FIELDS)})")
    if spec_naming and present == [RFC_DESCRIPTION]:
        raise Violation(
            f"{reply.status} body sends `error_description` (RFC 6749's name) where openapi.yaml "
            "documents `errorDescription`: a client built from the spec shows no description",
            Source.SPEC,
        )
    return notes


def unregistered_error(code: str) -> bool:
    """Whether `code` is neither RFC 6749 §5.2's nor in IANA's OAuth Extensions Error Registry."""
    return code not in REGISTERED_ERRORS and code not in EXTENSION_ERRORS


def validate_invalid_client(reply: Reply) -> None:
    """RFC 6749 §5.2: 401, `invalid_client`, and `WWW-Authenticate: Basic …`."""
    if reply.status != 401:
        raise Violation(expected_got("401 invalid_client", reply))
    challenge = reply.header("www-authenticate") or ""
    if not challenge:
        raise Violation(CHALLENGE_MISSING)
    if error_code(reply) != "invalid_client":
        raise Violation(expected_got("401 invalid_client", reply))
    if not challenge.lower().startswith("basic"):
        raise Violation(
            f"401 challenges {challenge!r}, not Basic, the scheme the client used "
            "(RFC 6749 §5.2: the challenge MUST match the scheme the client used)"
        )


def validate_token_type(body: dict[str, Any]) -> None:
    """RFC 6749 §5.1, RFC 6750 §6.1.1: `token_type` is Bearer, compared case-insensitively."""
    token_type = body.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise Violation(f"`token_type` is {token_type!r}, expected 'Bearer'")


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def validate_expires_in(body: dict[str, Any]) -> None:
    """openapi.yaml (required integer), RFC 6749 §5.1: `expires_in` is a positive integer."""
    value = body.get("expires_in")
    if not _positive_int(value):
        raise Violation(f"`expires_in` is {value!r}, expected a positive integer")


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def jwt_parts(token: object) -> tuple[dict[str, Any], dict[str, Any], bytes] | None:
    """Header, claims and signature of a JWS compact serialization, unverified; None if no JWT."""
    if not isinstance(token, str) or token.count(".") != 2:
        return None
    head, payload, signature = token.split(".")
    try:
        header = json.loads(_b64url(head))
        claims = json.loads(_b64url(payload))
        raw_signature = _b64url(signature)
    except (ValueError, binascii.Error, RecursionError):  # nested too deep: not a JWT we judge
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return header, claims, raw_signature


def jwt_claims(token: object) -> dict[str, Any] | None:
    """The payload of a JWS compact serialization, decoded unverified; None if not a JWT."""
    parts = jwt_parts(token)
    return parts[1] if parts is not None else None


def validate_jwt_lifetime(body: dict[str, Any]) -> None:
    """A JWT access token's `exp - iat` equals `expires_in` (±1 s); else NotApplicable."""
    claims = jwt_claims(body.get("access_token"))
    if claims is None:
        raise NotApplicable("the access token is not a JWT")
    exp, iat, expires_in = claims.get("exp"), claims.get("iat"), body.get("expires_in")
    if not (isinstance(exp, int | float) and isinstance(iat, int | float)):
        raise NotApplicable("the JWT access token has no numeric exp and iat")
    if not _positive_int(expires_in):
        raise NotApplicable("`expires_in` is not a positive integer (see expires-in)")
    assert isinstance(expires_in, int)
    if abs((exp - iat) - expires_in) > 1:
        raise Violation(f"JWT exp - iat = {exp - iat:g} s but `expires_in` = {expires_in}")


def validate_granted_scope(requested: str, body: dict[str, Any]) -> None:
    """RFC 6749 §3.3, §5.1: the granted `scope` (absent = as requested) is ⊆ the requested one."""
    granted = body.get("scope", requested)
    if not isinstance(granted, str):
        raise Violation(f"`scope` is {granted!r}, expected a space-separated string")
    extra = sorted(set(granted.split()) - set(requested.split()))
    if extra:
        raise Violation(f"granted scope {granted!r} exceeds requested {requested!r}: {extra}")


def judge_undeclared_method(method: str, reply: Reply) -> Violation | None:
    """The one rule for a method openapi.yaml does not declare (ours and schemathesis's).

    404, 405 and 501 are what RFC 9110 allows; a 405 MUST list the allowed methods in `Allow`
    (§15.5.6), and POST is the one this resource has. A 2xx or 5xx breaks the contract
    (openapi.yaml declares POST only); any other status is not what RFC 9110 §9.1 advises.
    """
    status = reply.status
    if status == 405:
        allow = {m.strip().upper() for m in (reply.header("allow") or "").split(",")}
        if "POST" not in allow:
            return Violation(
                f"{method} answered 405 with `Allow: {reply.header('allow')}`, expected an "
                "Allow header listing POST (RFC 9110 §15.5.6: MUST)",
                Source.MUST,
            )
        return None
    if status in UNDECLARED_METHOD_STATUSES:
        return None
    source = Source.SPEC if status < 300 or status >= 500 else Source.SHOULD
    return Violation(
        f"{method}, which openapi.yaml does not declare, answered {status}; expected 405 with "
        "Allow (or 404 / 501, RFC 9110 §9.1)",
        source,
    )


_ALPHABETS = (
    ("0123456789", 10),
    ("0123456789abcdef", 16),
    ("0123456789ABCDEF", 16),
    (string.ascii_letters + string.digits, 62),
    (string.ascii_letters + string.digits + "-_", 64),
    (string.ascii_letters + string.digits + "+/=", 64),
    (string.ascii_letters + string.digits + "-._~+/=", 70),
)


def estimate_token_bits(tokens: list[str]) -> float:
    """Bits of an opaque token that vary between `tokens`: varying positions x bits per char.

    A position that is the same in every sample carries nothing; a varying one carries at most
    log2 of the smallest common alphabet holding every character seen. An upper bound, good
    enough to catch counters, timestamps and short random strings.
    """
    if len(tokens) < 2:
        return 0.0
    chars = set("".join(tokens))
    size = next((n for alphabet, n in _ALPHABETS if chars <= set(alphabet)), 95)
    length = min(len(t) for t in tokens)
    varying = sum(1 for i in range(length) if len({t[i] for t in tokens}) > 1)
    varying += max(len(t) for t in tokens) - length
    return varying * math.log2(size)
