"""The named OAuth checks: what schemathesis cannot know about a token endpoint.

Each check has an id, a title, the sections it enforces and the source its rules rest on
(`Source`: openapi.yaml, an RFC MUST, or a SHOULD / advice). Its `probe` sends a few hand-made
requests; every broken rule is a `Failed` carrying its own source, either raised (the probe
cannot go on) or recorded with `Context.flag` (it can). The runner turns the findings into
FAIL or WARN according to the profile. The `validate_*` functions are pure: the probes and the
schemathesis custom checks (`_fuzz.py`) share them, so fuzzed traffic is judged by exactly the
same rules as the hand-made requests.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import secrets
import socket
import ssl
import string
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from ._http import Exchange, Prober, Reply, Target, basic_header
from ._report import Profile, Source

__all__ = [
    "CHECKS",
    "JWT_SKEW_SECONDS",
    "MIN_TOKEN_BITS",
    "REGISTERED_ERRORS",
    "UNDECLARED_METHOD_STATUSES",
    "Check",
    "Context",
    "Failed",
    "NotApplicable",
    "Violation",
    "estimate_token_bits",
    "json_object",
    "judge_undeclared_method",
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
# A scope token no real deployment grants: requesting it must produce an OAuth error.
UNKNOWN_SCOPE = "conformance-check-unknown-scope"
# The first is defined by RFC 6749 but not offered to this client; the second exists nowhere.
UNSUPPORTED_GRANTS = ("password", "urn:example:conformance:unsupported-grant")
OTHER_METHODS = ("GET", "PUT", "PATCH", "DELETE")
# RFC 9110 §9.1, §15.5.5, §15.5.6, §15.6.2: a method the resource does not support is 404
# (no such resource for it), 405 (with Allow) or 501. The one rule for our checks and the
# schemathesis built-ins alike.
UNDECLARED_METHOD_STATUSES = frozenset({404, 405, 501})
# RFC 6749 §10.10: guessing a token MUST have a probability <= 2^-128.
MIN_TOKEN_BITS = 128
# Tokens collected to estimate how many bits vary between them.
UNGUESSABILITY_SAMPLES = 6
CERTIFICATE_INVALID = "the TLS certificate is not valid"
# How far a JWT's `iat` may be from the server's `Date` header before it is worth a warning.
JWT_SKEW_SECONDS = 60


class Violation(AssertionError):
    """A response breaks a rule (an AssertionError, so schemathesis records it as a failure)."""

    def __init__(self, message: str, source: Source | None = None) -> None:
        super().__init__(message)
        self.source = source


class Failed(Exception):
    """A named check found a broken rule; `exchange` is the request that shows it."""

    def __init__(
        self, message: str, exchange: Exchange | None = None, source: Source | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exchange = exchange
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
    returned as notes: an `error` code outside RFC 6749's registry (the seed's own example says
    "Forbidden"), or no description at all.
    """
    body = json_object(reply)
    if "error" not in body:
        raise Violation(f"{reply.status} body has no `error` member (keys: {sorted(body)})")
    error = body["error"]
    if not isinstance(error, str):
        raise Violation(f"{reply.status} `error` is {error!r}, expected a string")
    notes = []
    if error not in REGISTERED_ERRORS:
        notes.append(f"{reply.status} `error` {error!r} is not an RFC 6749 registered error code")
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


def validate_invalid_client(reply: Reply) -> None:
    """RFC 6749 §5.2: 401, `invalid_client`, and `WWW-Authenticate: Basic …`."""
    if reply.status != 401:
        raise Violation(f"expected 401 invalid_client, got {reply.status}")
    challenge = reply.header("www-authenticate") or ""
    if not challenge:
        raise Violation("401 without a `WWW-Authenticate` challenge (RFC 9110 §15.5.2: MUST)")
    error = error_code(reply)
    if error != "invalid_client":
        raise Violation(f"401 `error` is {error!r}, expected 'invalid_client'")
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


# ---------------------------------------------------------------- probes


@dataclass
class Context:
    """What a probe works with: the target, an HTTP prober and memoized token responses."""

    target: Target
    prober: Prober
    profile: Profile = Profile.SCREENING_EAGLE
    _tokens: dict[str, Exchange] = field(default_factory=dict)
    # Remarks of a passing check (shown on its PASS line); the runner empties it per check.
    notes: list[str] = field(default_factory=list)
    # Broken rules a probe recorded and went on past; the runner empties it per check.
    findings: list[Failed] = field(default_factory=list)

    def token(self, scope: str | None = None) -> Exchange:
        """The (memoized) token request for `scope` (default: the configured scope)."""
        scope = self.target.scope if scope is None else scope
        if scope not in self._tokens:
            fields = [("grant_type", "client_credentials"), ("scope", scope)]
            self._tokens[scope] = self.prober.post_form(fields)
        return self._tokens[scope]

    def flag(self, failure: Failed) -> None:
        """Record a broken rule and let the probe go on (it may find a worse one)."""
        self.findings.append(failure)

    def note(self, text: str) -> None:
        """A remark for the PASS line (once)."""
        if text not in self.notes:
            self.notes.append(text)

    def require_valid_credentials(self) -> None:
        """NotApplicable when the configured credentials themselves are refused with 401."""
        reply = self.token().reply
        if reply is not None and reply.status == 401:
            raise NotApplicable("the configured credentials are refused (see token-request)")

    def token_body(self, scope: str | None = None) -> tuple[Exchange, dict[str, Any]]:
        """A successful token response as JSON, or NotApplicable (token-request says why)."""
        exchange = self.token(scope)
        reply = exchange.reply
        if reply is None or reply.status != 200:
            raise NotApplicable("no successful token response (see token-request)")
        try:
            return exchange, json_object(reply)
        except Violation:
            raise NotApplicable(
                "the token response is not a JSON object (see token-request)"
            ) from None


def _reply(exchange: Exchange) -> Reply:
    if exchange.reply is None:
        raise Failed(f"no response: {exchange.transport_error}", exchange)
    return exchange.reply


def _judge(exchange: Exchange, rule: Callable[[Reply], object]) -> None:
    try:
        rule(_reply(exchange))
    except Violation as exc:
        raise Failed(str(exc), exchange, exc.source) from None


def _expect_error(
    exchange: Exchange, status: int, error: str, source: Source | None = None
) -> None:
    reply = _reply(exchange)
    got = None
    if reply.status == status:
        try:
            got = json_object(reply).get("error")
        except Violation as exc:
            raise Failed(str(exc), exchange) from None
        if got == error:
            return
    raise Failed(f"expected {status} {error}, got {reply.status} error={got!r}", exchange, source)


def probe_token_request(ctx: Context) -> None:
    exchange = ctx.token()
    reply = _reply(exchange)
    if reply.status != 200:
        snippet = reply.body[:200].decode("utf-8", "replace")
        raise Failed(
            f"expected 200 for the configured client and scope, got {reply.status}: {snippet!r}",
            exchange,
        )
    content_type = (reply.header("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise Failed(
            f"token response Content-Type is {content_type!r}, expected application/json", exchange
        )
    try:
        body = json_object(reply)
    except Violation as exc:
        raise Failed(str(exc), exchange) from None
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise Failed(f"`access_token` is {token!r}, expected a non-empty string", exchange)


def probe_cache_headers(ctx: Context) -> None:
    exchanges = [
        ctx.token(),
        ctx.prober.post_form([("scope", ctx.target.scope)]),  # 400: grant_type missing
        ctx.prober.post_form(authorization=None),  # 401: no credentials
    ]
    for exchange in exchanges:
        try:
            _judge(exchange, validate_cache_headers)
        except Failed as exc:
            ctx.flag(exc)


def _random_credentials(client_id: str | None = None) -> str:
    return basic_header(client_id or f"conformance-{secrets.token_hex(8)}", secrets.token_hex(16))


def probe_invalid_client(ctx: Context) -> None:
    # With an Authorization header, RFC 6749 §5.2 leaves no choice: 401 + WWW-Authenticate.
    for authorization in (
        _random_credentials(ctx.target.client_id),  # wrong secret
        _random_credentials(),  # unknown client
    ):
        try:
            _judge(ctx.prober.post_form(authorization=authorization), validate_invalid_client)
        except Failed as exc:
            ctx.flag(exc)
    # Without one, RFC 6749 §5.2 allows 400 or 401 invalid_client; openapi.yaml says 401.
    exchange = ctx.prober.post_form(authorization=None)
    reply = _reply(exchange)
    error = error_code(reply)
    if reply.status == 401:
        try:
            validate_invalid_client(reply)
        except Violation as exc:
            if "not Basic" not in str(exc):  # no scheme was used: any challenge will do
                ctx.flag(Failed(str(exc), exchange))
    elif reply.status == 400 and error == "invalid_client":
        ctx.flag(
            Failed(
                "no credentials answered 400 invalid_client; openapi.yaml documents 401 "
                "(RFC 6749 §5.2 allows either)",
                exchange,
                Source.SPEC,
            )
        )
    else:
        ctx.flag(
            Failed(f"no credentials: expected 401 invalid_client, got {reply.status}", exchange)
        )


def probe_indistinguishable(ctx: Context) -> None:
    wrong_secret = ctx.prober.post_form(authorization=_random_credentials(ctx.target.client_id))
    unknown = ctx.prober.post_form(authorization=_random_credentials())

    def shape(exchange: Exchange) -> tuple[object, ...]:
        reply = _reply(exchange)
        try:
            body: dict[str, Any] = json_object(reply)
        except Violation:
            body = {"<body>": reply.body}
        return (
            reply.status,
            body.get("error"),
            body.get(SPEC_DESCRIPTION, body.get(RFC_DESCRIPTION)),
            tuple(sorted(body)),
            reply.header("www-authenticate"),
            reply.header("content-type"),
        )

    a, b = shape(wrong_secret), shape(unknown)
    if a != b:
        names = ("status", "error", "description", "keys", "WWW-Authenticate", "Content-Type")
        diff = "; ".join(
            f"{n}: {x!r} vs {y!r}" for n, x, y in zip(names, a, b, strict=True) if x != y
        )
        raise Failed(f"wrong secret vs unknown client answered differently — {diff}", unknown)


def _malformed_headers(client_id: str) -> Iterable[tuple[bytes, bool]]:
    """Malformed Authorization values; True when the client clearly attempted Basic."""

    def b64(raw: bytes) -> bytes:
        return base64.b64encode(raw)

    yield b"Basic !!!not-base64!!!", True
    yield b"Basic " + b64(client_id.encode() + b"-without-colon"), True
    yield b"Basic " + b64(b"\xff\xfe\xfd:\xc3\x28"), True  # decodes, but not to UTF-8
    yield b"Basic \xff\xfe", True  # not even ASCII
    yield b"Basic", True
    yield b"Basic " + b64(b":"), True
    yield b"Bearer " + b64(client_id.encode() + b":x"), False
    digest = b'Digest username="' + client_id.encode() + b'", realm="x", nonce="0", response="0"'
    yield digest, False


def probe_malformed_basic(ctx: Context) -> None:
    for header, basic in _malformed_headers(ctx.target.client_id):
        exchange = ctx.prober.post_form(authorization=header)
        reply = _reply(exchange)
        if not 400 <= reply.status < 500:
            # A Basic attempt MUST get 401 (RFC 6749 §5.2); any other scheme at least no 2xx/5xx.
            raise Failed(
                f"malformed `Authorization: {header[:40]!r}` answered {reply.status}, expected "
                + ("401" if basic else "4xx"),
                exchange,
                None if basic else Source.SPEC,
            )
        # RFC 6749 §5.2: a client that authenticated with the Authorization header and failed
        # MUST get 401 and WWW-Authenticate, not just any 4xx.
        challenge = reply.header("www-authenticate")
        if basic and (reply.status != 401 or not challenge):
            answer = f"{reply.status}" + ("" if challenge else " without WWW-Authenticate")
            ctx.flag(
                Failed(
                    f"a failed Basic authentication (`Authorization: {header[:40]!r}`) answered "
                    f"{answer}; RFC 6749 §5.2: it MUST be 401 with WWW-Authenticate",
                    exchange,
                )
            )


def _on_token(
    rule: Callable[[dict[str, Any]], None], scope: str | None = None
) -> Callable[[Context], None]:
    def probe(ctx: Context) -> None:
        exchange, body = ctx.token_body(scope)
        try:
            rule(body)
        except Violation as exc:
            raise Failed(str(exc), exchange, exc.source) from None

    return probe


def probe_granted_scope(ctx: Context) -> None:
    requested = ctx.target.scope
    _on_token(lambda body: validate_granted_scope(requested, body))(ctx)
    # A server that grants everything the client may have is only caught by asking for less.
    first = requested.split()[0] if requested.split() else ""
    if first and first != requested:
        try:
            exchange, body = ctx.token_body(first)
        except NotApplicable:
            return  # the subset request itself was refused: nothing more to judge here
        try:
            validate_granted_scope(first, body)
        except Violation as exc:
            raise Failed(str(exc), exchange) from None


def probe_unknown_scope(ctx: Context) -> None:
    ctx.require_valid_credentials()
    requested = f"{ctx.target.scope} {UNKNOWN_SCOPE}".strip()
    exchange = ctx.prober.post_form([("grant_type", "client_credentials"), ("scope", requested)])
    reply = _reply(exchange)
    error = error_code(reply)
    if reply.status == 400 and error == "invalid_scope":
        return
    if reply.status == 403:
        ctx.note(f"an unknown scope is answered 403 error={error!r} (the seed's way)")
        return
    if reply.status != 200:
        raise Failed(
            f"an unknown scope answered {reply.status} error={error!r}; expected 400 "
            "invalid_scope, 403, or 200 stating the granted scope (RFC 6749 §5.2, §3.3)",
            exchange,
        )
    try:
        body = json_object(reply)
    except Violation as exc:
        raise Failed(str(exc), exchange) from None
    granted = body.get("scope")
    if granted is None:
        raise Failed(
            f"an unknown scope got 200 without `scope`, which claims {UNKNOWN_SCOPE!r} was "
            "granted; a server that grants less MUST say what it granted (RFC 6749 §3.3, §5.1)",
            exchange,
        )
    if not isinstance(granted, str):
        raise Failed(f"`scope` is {granted!r}, expected a string", exchange)
    if UNKNOWN_SCOPE in granted.split():
        raise Failed(
            f"the scope {UNKNOWN_SCOPE!r}, which no server defines, was granted",
            exchange,
            Source.SHOULD,
        )
    ctx.note(f"an unknown scope is dropped: 200 with scope {granted!r} (RFC 6749 §3.3 allows it)")


def probe_error_body(ctx: Context) -> None:
    prober = ctx.prober
    exchanges = [
        prober.post_form([("scope", ctx.target.scope)]),  # invalid_request
        prober.post_form(authorization=None),  # invalid_client
        prober.post_form([("grant_type", "client_credentials"), ("scope", UNKNOWN_SCOPE)]),
        prober.post_form([("grant_type", UNSUPPORTED_GRANTS[0]), ("scope", ctx.target.scope)]),
    ]
    judged = 0
    for exchange in exchanges:
        reply = _reply(exchange)
        if reply.status >= 400:
            judged += 1
            try:
                notes = validate_error_body(reply, spec_naming=True)
            except Violation as exc:
                if exc.source is None:
                    raise Failed(str(exc), exchange) from None
                ctx.flag(Failed(str(exc), exchange, exc.source))
                notes = []
            for note in notes:
                ctx.note(note)
    if not judged:
        raise NotApplicable("none of the error-provoking requests produced an error")


def _form(*pairs: tuple[str, str]) -> bytes:
    return urlencode(list(pairs)).encode("ascii")


def probe_repeated_parameters(ctx: Context) -> None:
    ctx.require_valid_credentials()
    scope = ctx.target.scope
    for fields in (
        [
            ("grant_type", "client_credentials"),
            ("grant_type", "client_credentials"),
            ("scope", scope),
        ],
        [("grant_type", "client_credentials"), ("scope", scope), ("scope", scope)],
    ):
        _expect_error(ctx.prober.post_form(fields), 400, "invalid_request")


def probe_non_form_body(ctx: Context) -> None:
    ctx.require_valid_credentials()
    body = json.dumps({"grant_type": "client_credentials", "scope": ctx.target.scope}).encode()
    exchange = ctx.prober.send("POST", body=body, content_type="application/json")
    reply = _reply(exchange)
    if 200 <= reply.status < 300:
        raise Failed(
            f"a JSON body was accepted ({reply.status}); parameters are form-encoded "
            "(RFC 6749 §4.4.2, §3.2)",
            exchange,
            Source.SPEC,
        )
    # Which 4xx and which code is advice: without a form body, grant_type is missing, for which
    # RFC 6749 §5.2 names invalid_request; openapi.yaml declares 400 for a bad request, not 415.
    _expect_error(exchange, 400, "invalid_request", Source.SHOULD)


def probe_unsupported_grant(ctx: Context) -> None:
    ctx.require_valid_credentials()
    # Only a grant type no server supports: a server that supports the password grant rightly
    # answers a password request without username with invalid_request, or unauthorized_client.
    grant = UNSUPPORTED_GRANTS[1]
    exchange = ctx.prober.post_form([("grant_type", grant), ("scope", ctx.target.scope)])
    _expect_error(exchange, 400, "unsupported_grant_type")


def probe_other_methods(ctx: Context) -> None:
    form = _form(("grant_type", "client_credentials"), ("scope", ctx.target.scope))
    for method in OTHER_METHODS:
        # A body only where the method defines one: a proxy may rightly refuse a GET with a body.
        with_body = method in ("PUT", "PATCH")
        exchange = ctx.prober.send(
            method,
            body=form if with_body else None,
            content_type="application/x-www-form-urlencoded" if with_body else None,
        )
        violation = judge_undeclared_method(method, _reply(exchange))
        if violation is not None:
            ctx.flag(Failed(str(violation), exchange, violation.source))


def probe_unguessability(ctx: Context) -> None:
    first_exchange, first = ctx.token_body()
    tokens = [first.get("access_token")]
    exchanges = [first_exchange]
    for _ in range(UNGUESSABILITY_SAMPLES - 1):
        exchange = ctx.prober.post_form()
        reply = _reply(exchange)
        if reply.status != 200:
            raise Failed(f"a further token request answered {reply.status}", exchange)
        try:
            tokens.append(json_object(reply).get("access_token"))
        except Violation as exc:
            raise Failed(str(exc), exchange) from None
        exchanges.append(exchange)
    texts = [t for t in tokens if isinstance(t, str)]
    if len(texts) != len(tokens):
        raise NotApplicable("an access token is not a string (see token-request)")
    distinct = sorted(set(texts), key=texts.index)
    if len(distinct) < len(texts):
        ctx.note(
            f"{len(texts)} token requests got {len(distinct)} distinct tokens: the server hands "
            "out its still-valid token again (allowed; each is then shared across callers)"
        )
    parts = [jwt_parts(t) for t in distinct]
    if all(p is not None for p in parts):
        # A signed JWT: its signature carries the bits an attacker must guess; claims such as
        # a uuid4 `jti` are not a credential.
        header, _, signature = parts[0]  # type: ignore[misc]
        alg = header.get("alg")
        bits = 8 * len(signature)
        if (isinstance(alg, str) and alg.lower() == "none") or bits == 0:
            raise Failed(
                f"the JWT access token is unsigned (alg {alg!r}): anyone can forge one "
                "(RFC 6749 §10.10; RFC 8725 §3.1)",
                exchanges[0],
            )
        if bits < MIN_TOKEN_BITS:
            raise Failed(
                f"the JWT signature has {bits} bits, fewer than {MIN_TOKEN_BITS} "
                "(RFC 6749 §10.10: MUST)",
                exchanges[0],
            )
        ctx.note(f"JWT ({alg}): a {bits}-bit signature")
        return
    if len(distinct) < 2:
        raise NotApplicable("every token was the same: nothing to estimate its randomness from")
    estimate = estimate_token_bits(distinct)
    if estimate < MIN_TOKEN_BITS:
        raise Failed(
            f"across {len(distinct)} opaque tokens only about {estimate:.0f} bits vary; RFC 6749 "
            f"§10.10 requires a guess to succeed with probability <= 2^-{MIN_TOKEN_BITS} "
            f"(e.g. {distinct[0][:12]}… vs {distinct[1][:12]}…)",
            exchanges[-1],
        )
    if estimate < 160:
        ctx.flag(
            Failed(
                f"about {estimate:.0f} bits vary across {len(distinct)} opaque tokens; RFC 6749 "
                "§10.10 SHOULD be at least 160",
                exchanges[-1],
                Source.SHOULD,
            )
        )
    ctx.note(f"opaque tokens: about {estimate:.0f} bits vary across {len(distinct)} samples")


def probe_jwt_claims(ctx: Context) -> None:
    exchange, body = ctx.token_body()
    parts = jwt_parts(body.get("access_token"))
    if parts is None:
        raise NotApplicable("the access token is not a JWT")
    header, claims, _ = parts
    alg = header.get("alg")
    if not isinstance(alg, str) or alg.lower() == "none":
        raise Failed(
            f"JWT `alg` is {alg!r}: an unsigned token can be forged "
            "(RFC 8725 §3.1, RFC 7515 §4.1.1)",
            exchange,
        )
    exp, iat = claims.get("exp"), claims.get("iat")
    numeric = isinstance(exp, int | float) and isinstance(iat, int | float)
    if numeric and not exp > iat:  # type: ignore[operator]
        raise Failed(
            f"JWT exp {exp} is not after iat {iat}: the token is expired when issued "
            "(RFC 7519 §4.1.4, §4.1.6)",
            exchange,
        )
    date = exchange.reply.header("date") if exchange.reply is not None else None
    if isinstance(iat, int | float) and date:
        try:
            server_now = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            server_now = None
        if server_now is not None and abs(iat - server_now) > JWT_SKEW_SECONDS:
            ctx.flag(
                Failed(
                    f"JWT iat {iat} is {iat - server_now:+.0f} s from the server's own Date "
                    f"({date}); more than {JWT_SKEW_SECONDS} s of skew (RFC 7519 §4.1.6)",
                    exchange,
                    Source.SHOULD,
                )
            )
    aud = claims.get("aud")
    if aud is not None and aud != ctx.target.client_id and aud != [ctx.target.client_id]:
        ctx.note(
            f"JWT aud {aud!r} is not the client id (the seed's examples show the client id, "
            "but do not state it as a rule)"
        )


def probe_special_credentials(ctx: Context) -> None:
    target = ctx.target
    if not target.special_client_id or not target.special_client_secret:
        raise NotApplicable(
            "no client with reserved characters given (--special-client-id and "
            "EAGLE_ID_SPECIAL_CLIENT_SECRET)"
        )
    header = basic_header(target.special_client_id, target.special_client_secret)
    scope = target.special_scope or target.scope
    fields = [("grant_type", "client_credentials"), ("scope", scope)]
    exchange = ctx.prober.post_form(fields, authorization=header, secret_bearing=True)
    reply = _reply(exchange)
    if reply.status == 200:
        return
    error = error_code(reply)
    if reply.status in (400, 403) and error != "invalid_client":
        # Authenticated, then refused for what it asked: the encoding worked.
        ctx.note(
            f"authenticated, but scope {scope!r} was refused ({reply.status} "
            f"error={error!r}): pass --special-scope with a scope this client is allowed"
        )
        return
    raise Failed(
        f"credentials {target.special_client_id!r}:<secret>, form-urlencoded then "
        f"base64, answered {reply.status} error={error!r}, expected 200",
        exchange,
    )


def probe_tls(ctx: Context) -> None:
    parts = urlsplit(ctx.target.token_url)
    if parts.scheme != "https" or not parts.hostname:
        raise NotApplicable("the URL is not https://")
    host, port = parts.hostname, parts.port or 443
    verified = ssl.create_default_context(cafile=ctx.target.ca_file)
    try:
        with (
            socket.create_connection((host, port), timeout=ctx.target.timeout) as raw,
            verified.wrap_socket(raw, server_hostname=host) as tls,
        ):
            version = tls.version()
    except ssl.SSLCertVerificationError as exc:
        raise Failed(
            f"{CERTIFICATE_INVALID} for {host}: {exc.verify_message} (RFC 6749 §1.6, RFC 9700 "
            "§2, BCP 195: the client MUST verify it; --ca-file for a private CA)"
        ) from None
    except (OSError, ssl.SSLError) as exc:
        raise Failed(f"TLS handshake with {host}:{port} failed: {exc}") from None
    if version not in ("TLSv1.2", "TLSv1.3"):
        raise Failed(f"negotiated {version}; TLS 1.2 or later is required (RFC 8996, BCP 195)")
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    try:
        old.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():  # deprecated, which is the point: we offer them
            warnings.simplefilter("ignore", DeprecationWarning)
            old.minimum_version = ssl.TLSVersion.TLSv1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
    except (ValueError, ssl.SSLError):
        ctx.note(f"negotiated {version}; this Python cannot offer TLS < 1.2 to test refusal")
        return
    try:
        with (
            socket.create_connection((host, port), timeout=ctx.target.timeout) as raw,
            old.wrap_socket(raw, server_hostname=host) as tls,
        ):
            accepted = tls.version()
    except (OSError, ssl.SSLError):
        ctx.note(f"negotiated {version}; TLS 1.0/1.1 refused")
        return
    raise Failed(f"the server accepts {accepted} (RFC 8996: MUST NOT; RFC 9700 §2, BCP 195)")


@dataclass(frozen=True)
class Check:
    """One named check: id, what it verifies, the sections it enforces, its source and probe."""

    id: str
    title: str
    rfc: str
    probe: Callable[[Context], None] = field(repr=False)
    # What a finding without a source of its own rests on.
    source: Source = Source.MUST


CHECKS: tuple[Check, ...] = (
    Check(
        "tls",
        "https: TLS 1.2 or later, a valid certificate, TLS 1.0/1.1 refused",
        "RFC 6749 §1.6, §3.2; RFC 8996; RFC 9700 §2; BCP 195",
        probe_tls,
    ),
    Check(
        "token-request",
        "client_credentials with the given client and scope → 200 JSON token",
        "RFC 6749 §4.4.2, §4.4.3, §5.1",
        probe_token_request,
    ),
    Check(
        "cache-headers",
        "Cache-Control: no-store and Pragma: no-cache on success and errors",
        "RFC 6749 §5.1",
        probe_cache_headers,
    ),
    Check(
        "invalid-client",
        "wrong/unknown credentials → 401 invalid_client + WWW-Authenticate; none → 401",
        "RFC 6749 §5.2; RFC 9110 §15.5.2",
        probe_invalid_client,
    ),
    Check(
        "indistinguishable-client-errors",
        "unknown client and wrong secret answer alike",
        "RFC 6749 §10.1; RFC 6819 §5.1.4.2.2",
        probe_indistinguishable,
        Source.SHOULD,
    ),
    Check(
        "malformed-basic",
        "malformed Basic → 401 + WWW-Authenticate; other schemes → 4xx; never 2xx/5xx",
        "RFC 6749 §2.3.1, §5.2; RFC 7617 §2",
        probe_malformed_basic,
    ),
    Check(
        "token-type-bearer",
        "token_type is Bearer (case-insensitive)",
        "RFC 6749 §5.1, §7.1; RFC 6750 §6.1.1",
        _on_token(validate_token_type),
    ),
    Check(
        "expires-in",
        "expires_in is a positive integer",
        "openapi.yaml (required); RFC 6749 §5.1",
        _on_token(validate_expires_in),
        Source.SPEC,
    ),
    Check(
        "jwt-lifetime",
        "a JWT access token's exp - iat equals expires_in (±1 s)",
        "RFC 6749 §5.1; RFC 7519 §4.1.4, §4.1.6",
        _on_token(validate_jwt_lifetime),
    ),
    Check(
        "jwt-claims",
        f"a JWT: alg not none, exp > iat, iat within {JWT_SKEW_SECONDS} s of Date",
        "RFC 7519 §4.1.4, §4.1.6; RFC 8725 §3.1",
        probe_jwt_claims,
    ),
    Check(
        "granted-scope-subset",
        "granted scope ⊆ requested scope",
        "RFC 6749 §3.3, §5.1",
        probe_granted_scope,
    ),
    Check(
        "unknown-scope",
        "an unknown scope → 400 invalid_scope, 403, or 200 stating the granted scope",
        "RFC 6749 §3.3, §5.1, §5.2",
        probe_unknown_scope,
    ),
    Check(
        "error-body",
        "errors are JSON objects with a string `error` and the spec's `errorDescription`",
        "openapi.yaml ErrorResponse; RFC 6749 §5.2",
        probe_error_body,
    ),
    Check(
        "repeated-parameters",
        "a repeated parameter → 400 invalid_request",
        "RFC 6749 §3.2",
        probe_repeated_parameters,
    ),
    Check(
        "non-form-body",
        "a JSON body → 400 invalid_request",
        "openapi.yaml (form body, 400); RFC 6749 §3.2, §4.4.2",
        probe_non_form_body,
        Source.SPEC,
    ),
    Check(
        "unsupported-grant-type",
        "an unknown grant_type → 400 unsupported_grant_type",
        "RFC 6749 §5.2",
        probe_unsupported_grant,
    ),
    Check(
        "other-methods",
        "GET/PUT/PATCH/DELETE → 405 with Allow, 404 or 501; never 2xx/5xx",
        "RFC 9110 §9.1, §15.5.6; openapi.yaml (POST only)",
        probe_other_methods,
    ),
    Check(
        "token-unguessability",
        f"tokens cannot be guessed (>= {MIN_TOKEN_BITS} bits; a JWT by its signature)",
        "RFC 6749 §10.10",
        probe_unguessability,
    ),
    Check(
        "special-credentials",
        "id/secret with reserved characters authenticate",
        "RFC 6749 §2.3.1, Appendix B",
        probe_special_credentials,
    ),
)
