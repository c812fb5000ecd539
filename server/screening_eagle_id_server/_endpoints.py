"""The token endpoint, POST /api/id/v1/auth/token (RFC 6749 §4.4, as in openapi.yaml)."""

from __future__ import annotations

import hashlib
import json
import re
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive

from ._basic import parse_basic_authorization
from ._registry import GRANT_TYPES, SCOPE_TOKEN, RegisteredClient, Registry
from ._responses import NO_STORE_HEADERS, WWW_AUTHENTICATE
from ._tokens import TokenIssuer

__all__ = ["TOKEN_PATH", "Answer", "TokenEndpoint", "error_answer", "token"]

TOKEN_PATH = "/api/id/v1/auth/token"  # noqa: S105 - a path, not a password
_FORM = "application/x-www-form-urlencoded"
# The `scope` pattern of openapi.yaml, matched in full (no `$`-before-newline leniency).
_SCOPE = re.compile(rf"{SCOPE_TOKEN.pattern}(?: {SCOPE_TOKEN.pattern})*")
_RAW_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# The parameters this endpoint defines (openapi.yaml's TokenRequest).
_PARAMETERS = frozenset({"grant_type", "scope"})
# More than enough for grant_type, scope and a few extension parameters.
_MAX_FIELDS = 32
# Memo sizes: distinct Authorization values and bodies seen; emptied when full.
_MEMO_SIZE = 1024
_JSON = (b"content-type", b"application/json")
_CHALLENGE = ((b"www-authenticate", WWW_AUTHENTICATE.encode()),)


class _BadRequest(Exception):
    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class Answer:
    """A response of the endpoint: status, JSON body, extra headers, and who asked (for the
    access log: the client id once authenticated)."""

    __slots__ = ("body", "client_id", "headers", "status")

    def __init__(
        self,
        status: int,
        body: bytes,
        headers: tuple[tuple[bytes, bytes], ...] = (),
        client_id: str | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers
        self.client_id = client_id

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """Every header of the response, the no-store pair included."""
        return [
            (b"content-length", str(len(self.body)).encode()),
            _JSON,
            *NO_STORE_HEADERS,
            *self.headers,
        ]


def error_answer(
    status: int,
    error: str,
    description: str,
    headers: tuple[tuple[bytes, bytes], ...] = (),
    client_id: str | None = None,
) -> Answer:
    # The bytes Starlette's JSONResponse renders for the same content.
    body = json.dumps(
        {"error": error, "errorDescription": description},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    return Answer(status, body, headers, client_id)


_UNAUTHORIZED = error_answer(401, "invalid_client", "Client authentication failed.", _CHALLENGE)


class TokenEndpoint:
    """POST /api/id/v1/auth/token, over raw ASGI: authenticate the client, validate the form,
    issue tokens.

    Order of checks: client authentication (401, before the body is read, as most identity
    providers do); the request syntax (400 invalid_request, unsupported_grant_type,
    invalid_scope); then what this client may do (400 invalid_grant, 403 unauthorized_client,
    403 access_denied). A syntactically bad request is a 400 for every authenticated client;
    a valid one is 200, 400 invalid_grant or 403.

    Two memos keep repeated requests cheap, both bounded and both exact:
    - an Authorization value that authenticated, keyed by its SHA-256 (the secret is never
      kept, and a lookup reveals nothing about a value that did not authenticate, which
      always takes the full constant-time path);
    - what a client gets for a form body (an error, or the scopes to grant), keyed by both.
    """

    __slots__ = ("_authenticated", "_decisions", "issuer", "max_body_bytes", "registry")

    def __init__(self, registry: Registry, issuer: TokenIssuer, max_body_bytes: int) -> None:
        self.registry = registry
        self.issuer = issuer
        self.max_body_bytes = max_body_bytes
        self._authenticated: dict[bytes, RegisteredClient] = {}
        self._decisions: dict[tuple[str, bytes], Answer | list[str]] = {}

    def __repr__(self) -> str:
        return f"TokenEndpoint({self.registry!r})"

    def _authenticate(self, authorization: str | None) -> RegisteredClient | None:
        if authorization is None:
            return None
        key = hashlib.sha256(authorization.encode("latin-1")).digest()
        client = self._authenticated.get(key)
        if client is not None:
            return client
        credentials = parse_basic_authorization(authorization)
        client = None if credentials is None else self.registry.authenticate(*credentials)
        if client is not None:
            if len(self._authenticated) >= _MEMO_SIZE:
                self._authenticated.clear()
            self._authenticated[key] = client
        return client

    async def answer(self, raw_headers: list[tuple[bytes, bytes]], receive: Receive) -> Answer:
        """The response to one POST with these headers, reading its body from `receive`."""
        headers = _Headers(raw_headers)
        client = self._authenticate(headers.authorization)
        if client is None:
            return _UNAUTHORIZED
        try:
            body = await self._read_body(headers, receive)
        except _BadRequest as exc:
            return error_answer(400, "invalid_request", exc.description, client_id=client.client_id)
        key = (client.client_id, body)
        decision = self._decisions.get(key)
        if decision is None:
            decision = _decide(client, body)
            if len(self._decisions) >= _MEMO_SIZE:
                self._decisions.clear()
            self._decisions[key] = decision
        if isinstance(decision, Answer):
            return decision
        return Answer(200, self.issuer.issue(client, decision), client_id=client.client_id)

    async def _read_body(self, headers: _Headers, receive: Receive) -> bytes:
        max_bytes = self.max_body_bytes
        content_type = headers.content_type
        if content_type != _FORM:  # the exact value most clients send skips the parsing
            if content_type is None:
                raise _BadRequest(f"The body must be {_FORM}.")
            media_type, *parameters = content_type.split(";")
            if media_type.strip().lower() != _FORM:
                raise _BadRequest(f"The body must be {_FORM}.")
            for parameter in parameters:
                name, _, value = parameter.partition("=")
                if (
                    name.strip().lower() == "charset"
                    and value.strip().strip('"').lower() != "utf-8"
                ):
                    raise _BadRequest("The body must be UTF-8.")

        # Refuse an announced oversize body before reading any of it; count a chunked one.
        length = headers.content_length
        # isascii() too: "²".isdigit() is True, but int("²") raises (a 500 behind a lenient
        # server).
        if length is not None and (
            not (length.isascii() and length.isdigit()) or int(length) > max_bytes
        ):
            raise _BadRequest(f"The body must not exceed {max_bytes} bytes.")
        body = b""
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise _BadRequest("The client disconnected.")
            chunk: bytes = message.get("body", b"")
            body += chunk
            if len(body) > max_bytes:
                raise _BadRequest(f"The body must not exceed {max_bytes} bytes.")
            if not message.get("more_body", False):
                return body


def _decide(client: RegisteredClient, body: bytes) -> Answer | list[str]:
    """What `client` gets for this form body: an error, or the scopes to grant (a pure
    function of the two, hence memoized)."""
    client_id = client.client_id
    try:
        params = _parse_form(body)
    except _BadRequest as exc:
        return error_answer(400, "invalid_request", exc.description, client_id=client_id)
    grant_type = params.get("grant_type")
    scope = params.get("scope")
    if not grant_type:
        return error_answer(400, "invalid_request", "grant_type is required.", client_id=client_id)
    if not scope:
        return error_answer(400, "invalid_request", "scope is required.", client_id=client_id)
    if grant_type not in GRANT_TYPES:
        return error_answer(
            400,
            "unsupported_grant_type",
            "grant_type must be client_credentials.",
            client_id=client_id,
        )
    if not _SCOPE.fullmatch(scope):
        return error_answer(
            400,
            "invalid_scope",
            "scope must be scope-tokens separated by single spaces (RFC 6749 §3.3).",
            client_id=client_id,
        )
    if grant_type == "authorization_code":
        # The spec lists it, but this endpoint has no authorization endpoint: no code can
        # be valid here.
        return error_answer(
            400,
            "invalid_grant",
            "No authorization code can be presented at this endpoint.",
            client_id=client_id,
        )
    if grant_type not in client.grant_types:
        return error_answer(
            403,
            "unauthorized_client",
            f"This client may not use the {grant_type} grant.",
            client_id=client_id,
        )
    # Order kept, duplicates dropped: the granted scope echoes what was asked.
    scopes = list(dict.fromkeys(scope.split(" ")))
    if not client.scopes.issuperset(scopes):
        denied = " ".join(s for s in scopes if s not in client.scopes)
        return error_answer(
            403,
            "access_denied",
            f"Scope not allowed for this client: {denied}",
            client_id=client_id,
        )
    return scopes


async def token(request: Request) -> Response:
    """The endpoint as a Starlette endpoint (the edge middleware serves POSTs to it directly,
    without Starlette's router; this is what any other mounting reaches)."""
    endpoint: TokenEndpoint = request.app.state.token_endpoint
    answer = await endpoint.answer(request.scope["headers"], request.receive)
    if answer.client_id is not None:
        request.state.client_id = answer.client_id
    response = Response(answer.body, status_code=answer.status, media_type="application/json")
    response.raw_headers.extend(answer.headers)
    return response


class _Headers:
    """The few request headers the endpoint reads, in one pass over the raw ASGI list.

    A header that must appear once and appears several times reads as missing (None).
    """

    __slots__ = ("authorization", "content_length", "content_type")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        found: dict[bytes, str | None] = {}
        for name, value in raw:
            if name in _READ_HEADERS:
                found[name] = None if name in found else value.decode("latin-1")
        self.authorization = found.get(b"authorization")
        self.content_type = found.get(b"content-type")
        self.content_length = found.get(b"content-length")


_READ_HEADERS = frozenset({b"authorization", b"content-type", b"content-length"})


def _parse_form(body: bytes) -> dict[str, str]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _BadRequest("The body must be UTF-8.") from exc
    if _RAW_CONTROL.search(text):
        raise _BadRequest("Control characters must be percent-encoded.")
    params: dict[str, str] = {}
    if not text:
        return params
    fields = text.split("&")
    if len(fields) > _MAX_FIELDS:
        raise _BadRequest("Too many parameters.")
    for field in fields:
        if not field:
            continue  # `a=1&&b=2`, a trailing `&`: empty sequences are skipped (WHATWG URL)
        # A field without `=` is a name with an empty value (WHATWG URL): an unknown one is
        # then ignored (RFC 6749 §3.2), a bare `scope` reads as empty, hence missing.
        raw_name, _, raw_value = field.partition("=")
        name = _form_decode(raw_name)
        # RFC 6749 §3.2: the server MUST ignore unrecognized parameters, and a parameter
        # MUST NOT be included more than once.
        if name not in _PARAMETERS:
            continue
        if name in params:
            raise _BadRequest(f"Parameter {name!r} is repeated.")
        params[name] = _form_decode(raw_value)
    return params


def _form_decode(value: str) -> str:
    if "+" in value:
        value = value.replace("+", " ")
    if "%" not in value:
        return value
    try:
        return unquote(value, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise _BadRequest("Percent-encoded bytes must be UTF-8.") from exc
