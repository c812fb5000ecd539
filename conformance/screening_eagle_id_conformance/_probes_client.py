"""Probes of the client's authentication and the transport: tls, token-request, cache-headers,
invalid-client, indistinguishable-client-errors, malformed-basic, special-credentials."""

from __future__ import annotations

import base64
import secrets
import socket
import ssl
import warnings
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from ._context import Context, Failed, RecordingProber, judge, reply_of
from ._facts import expected_got
from ._http import Exchange, basic_header
from ._report import Source
from ._validate import (
    CHALLENGE_MISSING,
    RFC_DESCRIPTION,
    SPEC_DESCRIPTION,
    NotApplicable,
    Violation,
    error_code,
    json_object,
    validate_cache_headers,
    validate_invalid_client,
)

__all__ = [
    "CERTIFICATE_INVALID",
    "probe_cache_headers",
    "probe_every_401",
    "probe_indistinguishable",
    "probe_invalid_client",
    "probe_malformed_basic",
    "probe_special_credentials",
    "probe_tls",
    "probe_token_request",
]

CERTIFICATE_INVALID = "the TLS certificate is not valid"


def probe_token_request(ctx: Context) -> None:
    exchange = ctx.token()
    reply = reply_of(exchange)
    if reply.status != 200:
        raise Failed(expected_got("200 for the configured client and scope", reply), exchange)
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
            judge(exchange, validate_cache_headers)
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
            judge(ctx.prober.post_form(authorization=authorization), validate_invalid_client)
        except Failed as exc:
            ctx.flag(exc)
    # Without one, RFC 6749 §5.2 allows 400 or 401 invalid_client; openapi.yaml says 401.
    exchange = ctx.prober.post_form(authorization=None)
    reply = reply_of(exchange)
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
        # The status may be right (400 is allowed): the message names the code as the fault.
        expected = "invalid_client (401, or 400 as RFC 6749 §5.2 allows) to no credentials"
        ctx.flag(Failed(expected_got(expected, reply), exchange))


def probe_indistinguishable(ctx: Context) -> None:
    wrong_secret = ctx.prober.post_form(authorization=_random_credentials(ctx.target.client_id))
    unknown = ctx.prober.post_form(authorization=_random_credentials())

    def shape(exchange: Exchange) -> tuple[object, ...]:
        reply = reply_of(exchange)
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
        reply = reply_of(exchange)
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
    reply = reply_of(exchange)
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
        expected_got(
            "200",
            reply,
            f"credentials {target.special_client_id!r}:<secret>, form-urlencoded then base64",
        ),
        exchange,
    )


def _handshake(host: str, port: int, context: ssl.SSLContext, timeout: float) -> str | None:
    """The TLS version one handshake with `host:port` under `context` negotiates."""
    with (
        socket.create_connection((host, port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        return tls.version()


def probe_tls(ctx: Context) -> None:
    parts = urlsplit(ctx.target.token_url)
    if parts.scheme != "https" or not parts.hostname:
        raise NotApplicable("the URL is not https://")
    host, port = parts.hostname, parts.port or 443
    verified = ssl.create_default_context(cafile=ctx.target.ca_file)
    try:
        version = _handshake(host, port, verified, ctx.target.timeout)
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
        accepted = _handshake(host, port, old, ctx.target.timeout)
    except (OSError, ssl.SSLError):
        ctx.note(f"negotiated {version}; TLS 1.0/1.1 refused")
        return
    raise Failed(f"the server accepts {accepted} (RFC 8996: MUST NOT; RFC 9700 §2, BCP 195)")


def probe_every_401(ctx: Context) -> None:
    """RFC 9110 §15.5.2 over every reply the suite's probes got (this check runs last)."""
    prober = ctx.prober
    if not isinstance(prober, RecordingProber):
        raise NotApplicable("the replies of the other checks were not recorded")
    # The other probes authenticate with Basic or not at all; a wrong secret in the body
    # (RFC 6749 §2.3.1's client_secret_post) is the one more way to earn a 401. Recorded like
    # any other reply: a 401 to it needs its challenge too.
    body_credentials = [
        ("grant_type", "client_credentials"),
        ("scope", ctx.target.scope),
        ("client_id", ctx.target.client_id),
        ("client_secret", secrets.token_hex(16)),
    ]
    prober.post_form(body_credentials, authorization=None, secret_bearing=False)
    if not prober.unchallenged:
        return
    ranked = sorted(prober.unchallenged.items(), key=lambda item: -item[1][1])
    first = ranked[0][1][0]
    total = sum(count for _, count in prober.unchallenged.values())
    requests = "; ".join(behaviour.split(" → ")[0] for behaviour, _ in ranked)
    raise Failed(f"{CHALLENGE_MISSING}: {total} such 401s, to {requests}", first)
