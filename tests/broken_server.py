"""A deliberately broken reference server: proof that every conformance check can fail.

`BrokenServer(create_app(settings), known_client_ids=…)` is an ASGI wrapper. Requests under
`/broken/<defect>/…` reach the reference app with exactly ONE planted defect (see `DEFECTS`);
every other path reaches it untouched. So one server on one port serves the real reference
server at `URL` and every broken variant at `URL/broken/<defect>`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote_plus, unquote_plus, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTROLS", "DEFECTS", "BrokenServer", "Defect"]


PREFIX = "/broken/"
NO_CACHE = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]


@dataclass
class Exchange:
    """A buffered request and (after the app ran) its buffered response."""

    method: str
    headers: list[tuple[bytes, bytes]] = field(repr=False)
    body: bytes
    status: int = 0
    response_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    response_body: bytes = b""

    def header(self, name: bytes) -> bytes | None:
        """A request header."""
        return next((v for k, v in self.headers if k.lower() == name), None)

    def set_header(self, name: bytes, value: bytes | None, *, response: bool = True) -> None:
        """Replace (or, with None, remove) a response (or request) header."""
        target = self.response_headers if response else self.headers
        target[:] = [(k, v) for k, v in target if k.lower() != name]
        if value is not None:
            target.append((name, value))

    def response_json(self) -> Any:
        """The response body as JSON (None when it is not)."""
        try:
            return json.loads(self.response_body)
        except ValueError:
            return None

    def set_response_json(self, value: Any) -> None:
        """Replace the response body with `value` as JSON."""
        self.response_body = json.dumps(value).encode()

    def form(self) -> list[tuple[str, str]]:
        """The request body as form fields."""
        return parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True)

    def basic_client_id(self) -> str | None:
        """The client id of a well-formed Basic header, form-decoded."""
        value = self.header(b"authorization") or b""
        if not value.lower().startswith(b"basic "):
            return None
        try:
            text = base64.b64decode(value[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return unquote_plus(text.partition(":")[0]) if ":" in text else None


Before = Callable[[Exchange], None]
After = Callable[[Exchange], None]


@dataclass(frozen=True)
class Defect:
    """One planted defect and the check that must catch it (and only it)."""

    check: str
    description: str
    before: Before | None = None
    after: After | None = None
    # True when only the schemathesis run can detect it (the test then runs schemathesis).
    needs_schemathesis: bool = False
    # Checks that rightly fail too (the same rule enforced twice: the spec and the RFC).
    also: tuple[str, ...] = ()
    # The verdict the default profile gives (a SHOULD only ever WARNs); `also` share it.
    verdict: str = "FAIL"
    # Under --profile oauth2 (only RFC MUSTs fail): None when it is the same as `verdict`.
    oauth2_verdict: str | None = None
    # Checks whose verdict differs from `verdict` (an `also` check of another source).
    verdict_of: tuple[tuple[str, str], ...] = ()
    # Text the check's detail must hold: the message states what was received.
    detail: tuple[str, ...] = ()


def _on_json(status: Callable[[int], bool], edit: Callable[[dict[str, Any]], None]) -> After:
    def after(ex: Exchange) -> None:
        body = ex.response_json()
        if status(ex.status) and isinstance(body, dict):
            edit(body)
            ex.set_response_json(body)

    return after


def _ok(status: int) -> bool:
    return status == 200


def _error(status: int) -> bool:
    return status >= 400


def _set(key: str, value: object) -> Callable[[dict[str, Any]], None]:
    return lambda body: body.__setitem__(key, value)


def _strip_header(name: bytes, when: Callable[[int], bool]) -> After:
    def after(ex: Exchange) -> None:
        if when(ex.status):
            ex.set_header(name, None)

    return after


def _respond(ex: Exchange, status: int, body: dict[str, Any], content_type: bytes) -> None:
    ex.status = status
    ex.response_headers = [(b"content-type", content_type), *NO_CACHE]
    ex.set_response_json(body)


def _short_circuit(when: Callable[[Exchange], bool], status: int) -> Before:
    def before(ex: Exchange) -> None:
        if when(ex):
            _respond(
                ex,
                status,
                {"error": "server_error", "errorDescription": "it broke"},
                b"application/json",
            )

    return before


def _no_colon(ex: Exchange) -> bool:
    value = ex.header(b"authorization") or b""
    try:
        text = base64.b64decode(value[6:].strip(), validate=True)
    except binascii.Error:
        return False
    return value.lower().startswith(b"basic ") and bool(text) and b":" not in text


def _scope_has_digit_or_upper(ex: Exchange) -> bool:
    return any(k == "scope" and re.search(r"[0-9A-Z]", v) for k, v in ex.form())


def _distinguish_unknown_client(known: frozenset[str]) -> After:
    def after(ex: Exchange) -> None:
        body = ex.response_json()
        client_id = ex.basic_client_id()
        if ex.status == 401 and isinstance(body, dict) and client_id and client_id not in known:
            body["errorDescription"] = f"no client called {client_id!r}"
            ex.set_response_json(body)

    return after


def _last_parameter_wins(ex: Exchange) -> None:
    if ex.method == "POST":
        ex.body = urlencode(list(dict(ex.form()).items())).encode()


def _accept_json(ex: Exchange) -> None:
    content_type = (ex.header(b"content-type") or b"").split(b";")[0].strip()
    if content_type == b"application/json":
        try:
            fields = json.loads(ex.body)
        except ValueError:
            return
        if isinstance(fields, dict):
            ex.body = urlencode({k: str(v) for k, v in fields.items()}).encode()
            ex.set_header(b"content-type", b"application/x-www-form-urlencoded", response=False)


def _raw_basic(ex: Exchange) -> None:
    """Treat the Basic credentials as raw text: encode again what the app will decode once."""
    value = ex.header(b"authorization") or b""
    if not value.lower().startswith(b"basic "):
        return
    try:
        text = base64.b64decode(value[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return
    if text.count(":") == 1:
        raw_id, raw_secret = text.split(":")
        again = f"{quote_plus(raw_id)}:{quote_plus(raw_secret)}".encode()
        ex.set_header(b"authorization", b"Basic " + base64.b64encode(again), response=False)


def _default_scope(ex: Exchange) -> None:
    fields = ex.form()
    if ex.method == "POST" and fields and "scope" not in dict(fields):
        ex.body = urlencode([*fields, ("scope", "openid")]).encode()


def _unsupported_grant_as_501(ex: Exchange) -> None:
    body = ex.response_json()
    if isinstance(body, dict) and body.get("error") == "unsupported_grant_type":
        ex.status = 501


def _join_repeated_scope(ex: Exchange) -> None:
    fields = ex.form()
    scopes = [v for k, v in fields if k == "scope"]
    if ex.method == "POST" and len(scopes) > 1:
        rest = [(k, v) for k, v in fields if k != "scope"]
        ex.body = urlencode([*rest, ("scope", " ".join(scopes))]).encode()


def _omitted_scope_crashes(ex: Exchange) -> bool:
    fields = dict(ex.form())
    return ex.method == "POST" and "grant_type" in fields and "scope" not in fields


def _empty_error_bodies(ex: Exchange) -> None:
    if ex.status >= 400:
        ex.response_body = b""


def _get_401_without_challenge(ex: Exchange) -> None:
    if ex.method == "GET":
        _respond(
            ex,
            401,
            {"error": "invalid_client", "errorDescription": "log in first"},
            b"application/json",
        )


def _body_credentials_401_without_challenge(ex: Exchange) -> None:
    if any(k == "client_secret" for k, _ in ex.form()):
        _respond(
            ex,
            401,
            {"error": "invalid_client", "errorDescription": "wrong client_secret"},
            b"application/json",
        )


def _unregistered_codes(body: dict[str, Any]) -> None:
    if body.get("error") == "access_denied":
        body["error"] = "scope_invalid"


def _rename_unsupported_grant(body: dict[str, Any]) -> None:
    if body.get("error") == "unsupported_grant_type":
        body["error"] = "invalid_request"


def _error_code_missing(body: dict[str, Any]) -> None:
    if body.get("error") == "access_denied":
        body["code"] = body.pop("error")


def _description_not_a_string(body: dict[str, Any]) -> None:
    if "errorDescription" in body:
        body["errorDescription"] = [body["errorDescription"]]


def _invalid_grant_as_409(ex: Exchange) -> None:
    body = ex.response_json()
    if ex.status == 400 and isinstance(body, dict) and body.get("error") == "invalid_grant":
        ex.status = 409


def _authorization_code_unsupported(body: dict[str, Any]) -> None:
    if body.get("error") == "invalid_grant":
        body["error"] = "unsupported_grant_type"


def _unlisted_methods(status: int) -> Before:
    """TRACE, QUERY, OPTIONS … (the methods only schemathesis sends) answered `status`."""

    def before(ex: Exchange) -> None:
        if ex.method not in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
            _respond(
                ex,
                status,
                {"error": "not_found", "errorDescription": f"answered {status}"},
                b"application/json",
            )

    return before


def _malformed_basic_400(ex: Exchange) -> None:
    value = ex.header(b"authorization") or b""
    if value.lower().startswith(b"basic") and ex.basic_client_id() is None:
        _respond(
            ex,
            400,
            {"error": "invalid_request", "errorDescription": "malformed Authorization"},
            b"application/json",
        )


def _no_credentials_400(ex: Exchange) -> None:
    if ex.status == 401 and ex.header(b"authorization") is None:
        ex.status = 400
        ex.set_header(b"www-authenticate", None)


def _rfc_description_name(body: dict[str, Any]) -> None:
    if "errorDescription" in body:
        body["error_description"] = body.pop("errorDescription")


KNOWN_SCOPES = frozenset({"openid", "email", "profile", "inspect", "offline"})


def _drop_scopes(
    *, state_it: bool = False, claim_it: bool = False, alone: bool = False, drop: str = ""
) -> tuple[Before, After]:
    """Grant only the known part of a requested scope (or, with `drop`, all but that scope).

    The 200 says what was granted in `scope` only if `state_it`; with `claim_it` its `scope`
    names what was asked, dropped part included. With `alone`, a request of unknown scopes
    only is granted `openid`.
    """
    dropped: dict[int, str] = {}

    def before(ex: Exchange) -> None:
        fields = ex.form()
        scope = dict(fields).get("scope")
        if ex.method != "POST" or scope is None:
            return
        if drop:
            known = [s for s in scope.split() if s != drop]
        else:
            known = [s for s in scope.split() if s in KNOWN_SCOPES]
        if alone:
            if known:
                return
            known = ["openid"]
        elif not known or len(known) == len(scope.split()):
            return
        kept = " ".join(known)
        ex.body = urlencode([(k, kept if k == "scope" else v) for k, v in fields]).encode()
        dropped[id(ex)] = scope

    def after(ex: Exchange) -> None:
        asked = dropped.pop(id(ex), None)
        if asked is None or ex.status != 200:
            return
        body = ex.response_json()
        if claim_it:
            body["scope"] = asked
        elif not state_it:
            body.pop("scope", None)
        ex.set_response_json(body)

    return before, after


def _opaque_tokens(make: Callable[[int], str]) -> After:
    """Replace each access token with `make(n)`, n counting issued tokens."""
    counter = iter(range(1, 1 << 30))
    lock = threading.Lock()

    def after(ex: Exchange) -> None:
        body = ex.response_json()
        if ex.status == 200 and isinstance(body, dict) and "access_token" in body:
            with lock:
                body["access_token"] = make(next(counter))
            ex.set_response_json(body)

    return after


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _edit_jwt(
    edit_header: Callable[[dict[str, Any]], None] | None = None,
    edit_claims: Callable[[dict[str, Any]], None] | None = None,
    *,
    drop_signature: bool = False,
) -> After:
    """Rewrite the access token's JWT header or claims (the signature no longer matches)."""

    def after(ex: Exchange) -> None:
        body = ex.response_json()
        if ex.status != 200 or not isinstance(body, dict):
            return
        head, payload, signature = str(body["access_token"]).split(".")
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        if edit_header is not None:
            edit_header(header)
        if edit_claims is not None:
            edit_claims(claims)
        parts = [_b64url(json.dumps(header).encode()), _b64url(json.dumps(claims).encode())]
        body["access_token"] = ".".join([*parts, "" if drop_signature else signature])
        ex.set_response_json(body)

    return after


def _shift_iat(claims: dict[str, Any]) -> None:
    claims["iat"] -= 3600
    claims["exp"] -= 3600


def _exp_before_iat(claims: dict[str, Any]) -> None:
    claims["exp"] = claims["iat"] - 1


def _advertise_get(ex: Exchange) -> None:
    if ex.status == 405:
        ex.set_header(b"allow", b"GET, POST")


def _success_as_text(ex: Exchange) -> None:
    if ex.status == 200:
        ex.set_header(b"content-type", b"text/plain; charset=utf-8")


def _errors_as_text(ex: Exchange) -> None:
    if ex.status >= 400:
        ex.set_header(b"content-type", b"text/plain; charset=utf-8")


def _token_replayer() -> After:
    seen: dict[tuple[bytes | None, bytes], bytes] = {}
    lock = threading.Lock()

    def after(ex: Exchange) -> None:
        if ex.status != 200:
            return
        key = (ex.header(b"authorization"), ex.body)
        with lock:
            ex.response_body = seen.setdefault(key, ex.response_body)

    return after


def _defects(known: frozenset[str]) -> dict[str, Defect]:
    return {
        "success-not-json-content-type": Defect(
            "token-request", "a token response served as text/plain", after=_success_as_text
        ),
        "no-store-missing-on-errors": Defect(
            "cache-headers",
            "error responses without Cache-Control",
            after=_strip_header(b"cache-control", _error),
        ),
        "pragma-missing-on-success": Defect(
            "cache-headers", "token responses without Pragma", after=_strip_header(b"pragma", _ok)
        ),
        "401-without-www-authenticate": Defect(
            "invalid-client",
            "401 without a WWW-Authenticate challenge",
            after=_strip_header(b"www-authenticate", lambda s: s == 401),
            # A failed Basic authentication is such a 401 too; every-401-challenge sees all.
            also=("malformed-basic", "every-401-challenge"),
        ),
        "unknown-client-named": Defect(
            "indistinguishable-client-errors",
            "an unknown client gets its own error text",
            after=_distinguish_unknown_client(known),
            # RFC 6749 §10.1 / RFC 6819 advise it; neither the RFC nor openapi.yaml requires it.
            verdict="WARN",
        ),
        "colonless-basic-500": Defect(
            "malformed-basic",
            "a Basic credential without a colon crashes the server",
            before=_short_circuit(_no_colon, 500),
        ),
        "token-type-mac": Defect(
            "token-type-bearer",
            "token_type is 'mac'",
            after=_on_json(_ok, _set("token_type", "mac")),
        ),
        "expires-in-string": Defect(
            "expires-in",
            "expires_in is a string",
            after=_on_json(_ok, lambda b: b.__setitem__("expires_in", str(b.get("expires_in")))),
        ),
        "expires-in-one-hour-short": Defect(
            "jwt-lifetime",
            "expires_in is an hour shorter than the JWT's exp - iat",
            after=_on_json(_ok, lambda b: b.__setitem__("expires_in", b["expires_in"] - 3600)),
        ),
        "grants-every-allowed-scope": Defect(
            "granted-scope-subset",
            "the granted scope is everything the client may have",
            after=_on_json(_ok, _set("scope", "openid email profile inspect offline")),
        ),
        "error-code-missing": Defect(
            "error-body",
            "access_denied is sent without `error` (as `code`)",
            after=_on_json(_error, _error_code_missing),
            # A refusal must say why: the unknown-scope 403 no longer does.
            also=("unknown-scope", "disallowed-scope"),
        ),
        "error-description-not-a-string": Defect(
            "error-body",
            "errorDescription is a list of strings",
            after=_on_json(_error, _description_not_a_string),
        ),
        "last-parameter-wins": Defect(
            "repeated-parameters",
            "a repeated parameter silently takes its last value",
            before=_last_parameter_wins,
            # Every parameter is tried, not only the first that fails.
            detail=("`grant_type` sent twice", "`scope` sent twice"),
        ),
        "accepts-json": Defect(
            "non-form-body", "a JSON body is accepted like a form", before=_accept_json
        ),
        "unsupported-grant-as-invalid-request": Defect(
            "unsupported-grant-type",
            "an unknown grant_type is invalid_request",
            after=_on_json(_error, _rename_unsupported_grant),
        ),
        "405-without-allow": Defect(
            "other-methods",
            "405 without an Allow header",
            after=_strip_header(b"allow", lambda s: s == 405),
        ),
        "sequential-opaque-tokens": Defect(
            "token-unguessability",
            "opaque tokens from a counter (tok-00000001, tok-00000002, …)",
            after=_opaque_tokens(lambda n: f"tok-{n:08d}"),
        ),
        "64-bit-opaque-tokens": Defect(
            "token-unguessability",
            "opaque tokens of 64 random bits",
            after=_opaque_tokens(lambda n: secrets.token_hex(8)),
        ),
        "jwt-alg-none": Defect(
            "jwt-claims",
            "an unsigned JWT (alg none, no signature)",
            after=_edit_jwt(lambda h: h.__setitem__("alg", "none"), drop_signature=True),
            also=("token-unguessability",),
        ),
        "jwt-exp-before-iat": Defect(
            "jwt-claims",
            "a JWT whose exp is before its iat",
            after=_edit_jwt(edit_claims=_exp_before_iat),
            also=("jwt-lifetime",),
        ),
        "jwt-iat-an-hour-off": Defect(
            "jwt-claims",
            "a JWT issued (iat) an hour before the server's Date",
            after=_edit_jwt(edit_claims=_shift_iat),
            verdict="WARN",
        ),
        "malformed-basic-400": Defect(
            "malformed-basic",
            "a malformed Basic credential answered 400 without WWW-Authenticate",
            before=_malformed_basic_400,
        ),
        "no-credentials-400": Defect(
            "invalid-client",
            "no credentials at all answered 400 invalid_client (RFC-allowed, not the spec's 401)",
            after=_no_credentials_400,
            # openapi.yaml's security requirement: schemathesis sees the same behaviour twice.
            needs_schemathesis=True,
            also=("schemathesis/missing_required_header", "schemathesis/ignored_auth"),
            oauth2_verdict="WARN",
        ),
        "rfc-description-name": Defect(
            "error-body",
            "error bodies say `error_description` instead of the documented `errorDescription`",
            after=_on_json(_error, _rfc_description_name),
            oauth2_verdict="WARN",
        ),
        "unknown-scope-dropped-silently": Defect(
            "unknown-scope",
            "an unknown scope is dropped and the 200 does not say what was granted",
            *_drop_scopes(),
            detail=("200 without `scope`, which means as requested",),
        ),
        "unknown-scope-alone-granted-silently": Defect(
            "unknown-scope",
            "an unknown scope asked alone gets a 200 without `scope` (granted nothing, said "
            "nothing)",
            *_drop_scopes(alone=True),
            detail=("unknown scope alone", "200 without `scope`"),
        ),
        "unknown-scope-granted-explicitly": Defect(
            "unknown-scope",
            "known + unknown scope: the 200's `scope` claims the unknown one too (same rule, "
            "same severity as omitting `scope`)",
            *_drop_scopes(claim_it=True),
            detail=("known + unknown scope", "grants 'conformance-check-unknown-scope'"),
        ),
        "disallowed-scope-granted-silently": Defect(
            "disallowed-scope",
            "a scope the client may not have is dropped and the 200 omits `scope`",
            *_drop_scopes(drop="offline"),
            detail=("known + disallowed scope", "200 without `scope`", "claims 'offline'"),
        ),
        "omitted-scope-500": Defect(
            "omitted-scope",
            "a request without scope crashes the server",
            before=_short_circuit(_omitted_scope_crashes, 500),
            detail=("got 500 error='server_error'", "scope omitted"),
        ),
        "unsupported-grant-501": Defect(
            "unsupported-grant-type",
            "an unknown grant_type is answered 501 (with error unsupported_grant_type)",
            after=_unsupported_grant_as_501,
            detail=("got 501 error='unsupported_grant_type'",),
        ),
        "repeated-scope-joined": Defect(
            "repeated-parameters",
            "a repeated scope is joined into one and granted (a repeated grant_type is refused)",
            before=_join_repeated_scope,
            detail=("`scope` sent twice", "got 200 error=None"),
        ),
        "empty-error-bodies": Defect(
            "error-body",
            "every error is answered with an empty body (RFC 6749 §5.2: `error` REQUIRED)",
            after=_empty_error_bodies,
            # Every check that expects an error code reads it from the body.
            also=(
                "invalid-client",
                "repeated-parameters",
                "non-form-body",
                "omitted-scope",
                "unknown-scope",
                "disallowed-scope",
                "unsupported-grant-type",
            ),
            verdict_of=(("non-form-body", "WARN"),),
            detail=("with an empty body", "`error` member is REQUIRED"),
        ),
        "unregistered-error-code": Defect(
            "error-body",
            "a refused scope is `scope_invalid`, a code neither RFC 6749 nor IANA's registry has",
            after=_on_json(_error, _unregistered_codes),
            verdict="WARN",
            oauth2_verdict="FAIL",
            detail=("'scope_invalid' is neither an RFC 6749 §5.2 code",),
        ),
        "get-401-without-challenge": Defect(
            "every-401-challenge",
            "GET is answered 401 without WWW-Authenticate",
            before=_get_401_without_challenge,
            # The status itself is not RFC 9110's advice for a method the endpoint lacks.
            also=("other-methods",),
            verdict_of=(("other-methods", "WARN"),),
            detail=("401 without a `WWW-Authenticate` challenge", "GET no body"),
        ),
        "body-credentials-401-without-challenge": Defect(
            "every-401-challenge",
            "a wrong client_secret in the body is answered 401 without WWW-Authenticate",
            before=_body_credentials_401_without_challenge,
            detail=("401 without a `WWW-Authenticate` challenge", "client_secret"),
        ),
        "raw-basic-credentials": Defect(
            "special-credentials", "Basic credentials are not form-url-decoded", before=_raw_basic
        ),
        # Only schemathesis can see these: the named checks never send such requests.
        "digit-in-scope-500": Defect(
            "schemathesis/not_a_server_error",
            "a scope with a digit or capital crashes the server",
            before=_short_circuit(_scope_has_digit_or_upper, 500),
            needs_schemathesis=True,
        ),
        "refresh-token-null": Defect(
            "schemathesis/response_schema_conformance",
            "refresh_token is null when not issued",
            after=_on_json(_ok, lambda b: b.setdefault("refresh_token", None)),
            needs_schemathesis=True,
        ),
        "invalid-grant-409": Defect(
            "schemathesis/status_code_conformance",
            "invalid_grant is answered with 409",
            after=_invalid_grant_as_409,
            needs_schemathesis=True,
        ),
        "missing-scope-defaults": Defect(
            "schemathesis/negative_data_rejection",
            "a missing scope defaults to 'openid'",
            before=_default_scope,
            needs_schemathesis=True,
        ),
        "authorization-code-unsupported": Defect(
            "schemathesis/positive_data_acceptance",
            "the spec's own authorization_code grant is refused as unsupported_grant_type",
            after=_on_json(_error, _authorization_code_unsupported),
            needs_schemathesis=True,
        ),
        "unlisted-methods-200": Defect(
            "schemathesis/unsupported_method",
            "TRACE and QUERY are answered 200",
            before=_unlisted_methods(200),
            needs_schemathesis=True,
            also=("other-methods",),
        ),
        "allow-advertises-get": Defect(
            "schemathesis/allow_header_conformance",
            "405 responses advertise GET, which the endpoint does not support",
            after=_advertise_get,
            needs_schemathesis=True,
        ),
        "pragma-missing-on-400": Defect(
            "schemathesis/response_headers_conformance",
            "400 responses without Pragma (openapi.yaml requires it on every response)",
            after=_strip_header(b"pragma", lambda s: s == 400),
            needs_schemathesis=True,
            # RFC 6749 §5.1 requires it too: the named check sees the same defect.
            also=("cache-headers",),
        ),
        "errors-as-text-plain": Defect(
            "schemathesis/content_type_conformance",
            "error bodies are labelled text/plain",
            after=_errors_as_text,
            needs_schemathesis=True,
        ),
    }


def _controls() -> dict[str, Defect]:
    """Behaviour that deviates from the reference server but is allowed: every check passes."""
    return {
        "replays-tokens": Defect(
            "token-unguessability",
            "the same request gets the same still-valid token again (a note, not a failure)",
            after=_token_replayer(),
        ),
        "unlisted-methods-404": Defect(
            "schemathesis/unsupported_method",
            "TRACE, QUERY and OPTIONS answered 404 (RFC 9110 allows it)",
            before=_unlisted_methods(404),
            needs_schemathesis=True,
        ),
        "unlisted-methods-501": Defect(
            "schemathesis/unsupported_method",
            "TRACE, QUERY and OPTIONS answered 501 (RFC 9110 allows it)",
            before=_unlisted_methods(501),
            needs_schemathesis=True,
        ),
        "unknown-scope-dropped-and-stated": Defect(
            "unknown-scope",
            "an unknown scope is dropped and the 200's `scope` says what was granted",
            *_drop_scopes(state_it=True),
        ),
        "unknown-scope-alone-granted-and-stated": Defect(
            "unknown-scope",
            "an unknown scope asked alone gets openid, and the 200's `scope` says so",
            *_drop_scopes(state_it=True, alone=True),
        ),
        "omitted-scope-defaults": Defect(
            "omitted-scope",
            "an omitted scope gets a default (RFC 6749 §3.3 allows it)",
            before=_default_scope,
        ),
        "disallowed-scope-dropped-and-stated": Defect(
            "disallowed-scope",
            "a scope the client may not have is dropped and the 200's `scope` says so",
            *_drop_scopes(state_it=True, drop="offline"),
        ),
    }


# The catalogue, for listing; a BrokenServer builds its own (some defects keep state).
DEFECTS: dict[str, Defect] = _defects(frozenset())
CONTROLS: dict[str, Defect] = _controls()


class BrokenServer:
    """ASGI wrapper: `/broken/<defect>/…` plants that defect; other paths pass through."""

    def __init__(self, app: ASGIApp, *, known_client_ids: Iterable[str]) -> None:
        self.app = app
        self.defects = _defects(frozenset(known_client_ids)) | _controls()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        name, _, rest = path[len(PREFIX) :].partition("/")
        defect = self.defects.get(name)
        if defect is None:
            await self._plain(send, 404, b"no such defect")
            return
        inner = {**scope, "path": "/" + rest, "raw_path": ("/" + rest).encode()}
        ex = Exchange(
            method=scope["method"], headers=list(scope["headers"]), body=await _read_body(receive)
        )
        if defect.before is not None:
            defect.before(ex)
        if ex.status == 0:
            inner["headers"] = [(k, v) for k, v in ex.headers if k.lower() != b"content-length"]
            inner["headers"].append((b"content-length", str(len(ex.body)).encode()))
            await self._call(inner, ex)
        if defect.after is not None:
            defect.after(ex)
        headers = [(k, v) for k, v in ex.response_headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(ex.response_body)).encode()))
        await send({"type": "http.response.start", "status": ex.status, "headers": headers})
        await send({"type": "http.response.body", "body": ex.response_body})

    async def _call(self, scope: Scope, ex: Exchange) -> None:
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": ex.body, "more_body": False}

        chunks: list[bytes] = []

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                ex.status = message["status"]
                ex.response_headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        ex.response_body = b"".join(chunks)

    @staticmethod
    async def _plain(send: Send, status: int, body: bytes) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
