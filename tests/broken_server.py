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
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote_plus, unquote_plus, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DEFECTS", "BrokenServer", "Defect"]


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


def _unlisted_methods_404(ex: Exchange) -> None:
    if ex.method not in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        _respond(
            ex,
            404,
            {"error": "not_found", "errorDescription": "no such route"},
            b"application/json",
        )


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
        ),
        "unknown-client-named": Defect(
            "indistinguishable-client-errors",
            "an unknown client gets its own error text",
            after=_distinguish_unknown_client(known),
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
        "replays-tokens": Defect(
            "token-uniqueness",
            "the same request gets the same token again",
            after=_token_replayer(),
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
        "unlisted-methods-404": Defect(
            "schemathesis/unsupported_method",
            "TRACE, QUERY and OPTIONS are answered 404 instead of 405",
            before=_unlisted_methods_404,
            needs_schemathesis=True,
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


# The catalogue, for listing; a BrokenServer builds its own (some defects keep state).
DEFECTS: dict[str, Defect] = _defects(frozenset())


class BrokenServer:
    """ASGI wrapper: `/broken/<defect>/…` plants that defect; other paths pass through."""

    def __init__(self, app: ASGIApp, *, known_client_ids: Iterable[str]) -> None:
        self.app = app
        self.defects = _defects(frozenset(known_client_ids))

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
