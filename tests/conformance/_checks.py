"""The named OAuth checks: what schemathesis cannot know about a token endpoint.

Each check has an id, a title and the RFC section it enforces. Its `probe` sends a few hand-made
requests and raises `Failed` (with the offending exchange) or `NotApplicable`. The `validate_*`
functions are pure: the probes and the schemathesis custom checks (`_fuzz.py`) share them, so
fuzzed traffic is judged by exactly the same rules as the hand-made requests.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from ._http import Exchange, Prober, Reply, Target, basic_header

__all__ = [
    "CHECKS",
    "REGISTERED_ERRORS",
    "Check",
    "Context",
    "Failed",
    "NotApplicable",
    "Violation",
    "json_object",
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
UNSUPPORTED_GRANTS = ("password", "urn:example:conformance:unsupported-grant")
OTHER_METHODS = ("GET", "PUT", "PATCH", "DELETE")


class Violation(AssertionError):
    """A response breaks a rule (an AssertionError, so schemathesis records it as a failure)."""


class Failed(Exception):
    """A named check failed; `exchange` is the request that shows it."""

    def __init__(self, message: str, exchange: Exchange | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exchange = exchange


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


def _directives(value: str | None) -> set[str]:
    return {part.split("=", 1)[0].strip().lower() for part in (value or "").split(",")}


def validate_cache_headers(reply: Reply) -> None:
    """RFC 6749 §5.1: `Cache-Control: no-store` and `Pragma: no-cache`."""
    missing = []
    if "no-store" not in _directives(reply.header("cache-control")):
        missing.append(f"Cache-Control: no-store (got {reply.header('cache-control')!r})")
    if "no-cache" not in _directives(reply.header("pragma")):
        missing.append(f"Pragma: no-cache (got {reply.header('pragma')!r})")
    if missing:
        raise Violation(f"{reply.status} response lacks " + " and ".join(missing))


# The description field: the spec's (and the seed's) camelCase one, and RFC 6749 §5.2's.
DESCRIPTION_FIELDS = ("errorDescription", "error_description")


def validate_error_body(reply: Reply) -> list[str]:
    """An error body is a JSON object with a string `error` (openapi.yaml, RFC 6749 §5.2).

    A description, under either name, must be a string when present. What neither the spec nor
    the RFC requires is returned as notes, not raised: an `error` code outside RFC 6749's
    registry (the seed's own example says "Forbidden"), or no description at all.
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
    return notes


def validate_invalid_client(reply: Reply) -> None:
    """RFC 6749 §5.2: 401, `invalid_client`, and `WWW-Authenticate: Basic …`."""
    if reply.status != 401:
        raise Violation(f"expected 401 invalid_client, got {reply.status}")
    error = json_object(reply).get("error")
    if error != "invalid_client":
        raise Violation(f"401 `error` is {error!r}, expected 'invalid_client'")
    challenge = reply.header("www-authenticate") or ""
    if not challenge.lower().startswith("basic"):
        raise Violation(f"401 without a `WWW-Authenticate: Basic …` challenge (got {challenge!r})")


def validate_token_type(body: dict[str, Any]) -> None:
    """RFC 6749 §5.1, RFC 6750 §6.1.1: `token_type` is Bearer, compared case-insensitively."""
    token_type = body.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise Violation(f"`token_type` is {token_type!r}, expected 'Bearer'")


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def validate_expires_in(body: dict[str, Any]) -> None:
    """RFC 6749 §5.1: `expires_in` is a positive integer number of seconds."""
    value = body.get("expires_in")
    if not _positive_int(value):
        raise Violation(f"`expires_in` is {value!r}, expected a positive integer")


def jwt_claims(token: object) -> dict[str, Any] | None:
    """The payload of a JWS compact serialization, decoded unverified; None if not a JWT."""
    if not isinstance(token, str) or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error):
        return None
    return claims if isinstance(claims, dict) else None


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


# ---------------------------------------------------------------- probes


@dataclass
class Context:
    """What a probe works with: the target, an HTTP prober and memoized token responses."""

    target: Target
    prober: Prober
    _tokens: dict[str, Exchange] = field(default_factory=dict)
    # Remarks of a passing check (shown on its PASS line); the runner empties it per check.
    notes: list[str] = field(default_factory=list)

    def token(self, scope: str | None = None) -> Exchange:
        """The (memoized) token request for `scope` (default: the configured scope)."""
        scope = self.target.scope if scope is None else scope
        if scope not in self._tokens:
            fields = [("grant_type", "client_credentials"), ("scope", scope)]
            self._tokens[scope] = self.prober.post_form(fields)
        return self._tokens[scope]

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
        raise Failed(str(exc), exchange) from None


def _expect_error(exchange: Exchange, status: int, error: str) -> None:
    reply = _reply(exchange)
    got = None
    if reply.status == status:
        try:
            got = json_object(reply).get("error")
        except Violation as exc:
            raise Failed(str(exc), exchange) from None
        if got == error:
            return
    raise Failed(f"expected {status} {error}, got {reply.status} error={got!r}", exchange)


def probe_token_request(ctx: Context) -> None:
    exchange = ctx.token()
    reply = _reply(exchange)
    if reply.status != 200:
        snippet = reply.body[:200].decode("utf-8", "replace")
        raise Failed(
            f"expected 200 for the configured client and scope, got {reply.status}: {snippet}",
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
        _judge(exchange, validate_cache_headers)


def _random_credentials(client_id: str | None = None) -> str:
    return basic_header(client_id or f"conformance-{secrets.token_hex(8)}", secrets.token_hex(16))


def probe_invalid_client(ctx: Context) -> None:
    for authorization in (
        None,
        _random_credentials(ctx.target.client_id),  # wrong secret
        _random_credentials(),  # unknown client
    ):
        _judge(ctx.prober.post_form(authorization=authorization), validate_invalid_client)


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
            body.get("errorDescription", body.get("error_description")),
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


def _malformed_headers(client_id: str) -> Iterable[bytes]:
    def b64(raw: bytes) -> bytes:
        return base64.b64encode(raw)

    yield b"Basic !!!not-base64!!!"
    yield b"Basic " + b64(client_id.encode() + b"-without-colon")
    yield b"Basic " + b64(b"\xff\xfe\xfd:\xc3\x28")  # decodes, but not to UTF-8
    yield b"Basic \xff\xfe"  # not even ASCII
    yield b"Basic"
    yield b"Basic " + b64(b":")
    yield b"Bearer " + b64(client_id.encode() + b":x")
    yield b'Digest username="' + client_id.encode() + b'", realm="x", nonce="0", response="0"'


def probe_malformed_basic(ctx: Context) -> None:
    for header in _malformed_headers(ctx.target.client_id):
        exchange = ctx.prober.post_form(authorization=header)
        reply = _reply(exchange)
        if not 400 <= reply.status < 500:
            raise Failed(
                f"malformed `Authorization: {header[:40]!r}` answered {reply.status}, expected 4xx",
                exchange,
            )


def _on_token(
    rule: Callable[[dict[str, Any]], None], scope: str | None = None
) -> Callable[[Context], None]:
    def probe(ctx: Context) -> None:
        exchange, body = ctx.token_body(scope)
        try:
            rule(body)
        except Violation as exc:
            raise Failed(str(exc), exchange) from None

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
                notes = validate_error_body(reply)
            except Violation as exc:
                raise Failed(str(exc), exchange) from None
            ctx.notes += [n for n in notes if n not in ctx.notes]
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
    _expect_error(exchange, 400, "invalid_request")


def probe_unsupported_grant(ctx: Context) -> None:
    ctx.require_valid_credentials()
    for grant in UNSUPPORTED_GRANTS:
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
        reply = _reply(exchange)
        if reply.status == 404:
            continue
        if reply.status != 405:
            raise Failed(f"{method} answered {reply.status}, expected 405 (or 404)", exchange)
        allow = {m.strip().upper() for m in (reply.header("allow") or "").split(",")}
        if "POST" not in allow:
            raise Failed(
                f"{method} answered 405 with `Allow: {reply.header('allow')}`, "
                "expected an Allow header listing POST",
                exchange,
            )


def probe_uniqueness(ctx: Context) -> None:
    _, first = ctx.token_body()
    second_exchange = ctx.prober.post_form()
    second = second_exchange.reply
    if second is None or second.status != 200:
        raise Failed("the second token request failed", second_exchange)
    try:
        token = json_object(second).get("access_token")
    except Violation as exc:
        raise Failed(str(exc), second_exchange) from None
    if token == first.get("access_token"):
        raise Failed(
            "two consecutive token requests returned the same access token", second_exchange
        )


def probe_special_credentials(ctx: Context) -> None:
    target = ctx.target
    if not target.special_client_id or not target.special_client_secret:
        raise NotApplicable(
            "no client with reserved characters given (SPECIAL_CLIENT_ID / SPECIAL_CLIENT_SECRET)"
        )
    header = basic_header(target.special_client_id, target.special_client_secret)
    exchange = ctx.prober.post_form(authorization=header, secret_bearing=True)
    reply = _reply(exchange)
    if reply.status != 200:
        raise Failed(
            f"credentials {target.special_client_id!r}:<secret>, form-urlencoded then "
            f"base64, answered {reply.status}, expected 200",
            exchange,
        )


@dataclass(frozen=True)
class Check:
    """One named check: id, what it verifies, the section it enforces, and its probe."""

    id: str
    title: str
    rfc: str
    probe: Callable[[Context], None] = field(repr=False)


CHECKS: tuple[Check, ...] = (
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
        "no/wrong/unknown credentials → 401 invalid_client + WWW-Authenticate",
        "RFC 6749 §5.2",
        probe_invalid_client,
    ),
    Check(
        "indistinguishable-client-errors",
        "unknown client and wrong secret answer alike",
        "RFC 6749 §5.2, §2.3.1",
        probe_indistinguishable,
    ),
    Check(
        "malformed-basic",
        "malformed Basic headers and other schemes → 4xx, never 2xx/5xx",
        "RFC 6749 §2.3.1; RFC 7617 §2",
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
        "RFC 6749 §5.1",
        _on_token(validate_expires_in),
    ),
    Check(
        "jwt-lifetime",
        "a JWT access token's exp - iat equals expires_in (±1 s)",
        "RFC 6749 §5.1; RFC 7519 §4.1.4, §4.1.6",
        _on_token(validate_jwt_lifetime),
    ),
    Check(
        "granted-scope-subset",
        "granted scope ⊆ requested scope",
        "RFC 6749 §3.3, §5.1",
        probe_granted_scope,
    ),
    Check(
        "error-body",
        "errors are JSON objects with a string `error` (description, if any, a string)",
        "RFC 6749 §5.2",
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
        "RFC 6749 §3.2, §4.4.2",
        probe_non_form_body,
    ),
    Check(
        "unsupported-grant-type",
        "an unknown grant_type → 400 unsupported_grant_type",
        "RFC 6749 §5.2",
        probe_unsupported_grant,
    ),
    Check(
        "other-methods",
        "GET/PUT/PATCH/DELETE → 405 with Allow (or 404), never 2xx/5xx",
        "RFC 6749 §3.2; RFC 9110 §15.5.6",
        probe_other_methods,
    ),
    Check("token-uniqueness", "two consecutive tokens differ", "RFC 6749 §10.10", probe_uniqueness),
    Check(
        "special-credentials",
        "id/secret with reserved characters authenticate",
        "RFC 6749 §2.3.1, Appendix B",
        probe_special_credentials,
    ),
)
