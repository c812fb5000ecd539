"""The target server, the requests the named checks send, and their curl reproductions."""

from __future__ import annotations

import base64
import ipaddress
import json
import shlex
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit

import httpx

from ._bounded import MAX_REPLY_BYTES, Decoder, cut_off_after
from ._redact import REDACTED, redact

__all__ = [
    "REDACTED",
    "TOKEN_PATH",
    "Exchange",
    "Prober",
    "Reply",
    "Target",
    "basic_header",
    "check_url",
    "is_loopback",
    "request_shape",
    "split_url",
    "to_curl",
]

# The one operation of openapi.yaml.
TOKEN_PATH = "/api/id/v1/auth/token"  # noqa: S105 - a path, not a password
FORM = "application/x-www-form-urlencoded"


def basic_header(client_id: str, secret: str) -> str:
    """`Authorization` value per RFC 6749 §2.3.1: form-urlencode id and secret, then base64."""
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine (plain http:// is only acceptable there)."""
    if host.lower() in {"localhost", "localhost."}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def split_url(url: str, token_path: str | None) -> tuple[str, str]:
    """(base URL, token path) from `--url` and `--token-path`.

    `url` is a base URL (`https://id.example.com`) or the full token-endpoint URL
    (`https://id.example.com/oauth2/token`): a URL with a path and no `token_path` is taken as the
    endpoint itself. A `token_path` is appended to whatever path `url` has.
    """
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    path = parts.path
    if token_path:
        prefix = path.rstrip("/")
        return origin, prefix + "/" + token_path.lstrip("/")
    if path.rstrip("/") in ("", TOKEN_PATH.rstrip("/")) or path.rstrip("/").endswith(TOKEN_PATH):
        prefix = path.rstrip("/").removesuffix(TOKEN_PATH)
        return origin, prefix + TOKEN_PATH
    return origin, path


def request_shape(content_type: str | None, body: bytes | None) -> str:
    """What a request sent, without values (no secret, no noise): `form(grant_type, scope)`."""
    if not body:
        return "no body"
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind != FORM:
        return f"a {kind or 'untyped'} body"
    names = [name for name, _ in parse_qsl(body.decode("latin-1"), keep_blank_values=True)]
    return f"form({', '.join(names)})"


def check_url(url: str, *, insecure: bool) -> str | None:
    """Why `url` cannot be used as the server's base URL, or None when it can."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return f"URL must be an absolute http(s) URL, got {url!r}"
    if parts.query or parts.fragment:
        return f"URL must be a base URL without query or fragment, got {url!r}"
    if parts.scheme == "http" and not insecure and not is_loopback(parts.hostname):
        return (
            f"refusing plain http:// to {parts.hostname}: client secrets would cross the network"
            " in clear text (use https://, or INSECURE=1 if you really mean it)"
        )
    return None


@dataclass(frozen=True)
class Target:
    """The server under test and the credentials to test it with."""

    url: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str
    special_client_id: str | None = None
    special_client_secret: str | None = field(default=None, repr=False)
    timeout: float = 10.0
    # Where the server mounts the endpoint, below `url` (openapi.yaml's path unless told).
    token_path: str = TOKEN_PATH
    # The scope the special client asks for (default: `scope`).
    special_scope: str | None = None
    # A CA bundle for a private CA (None: the system's).
    ca_file: str | None = None

    @property
    def token_url(self) -> str:
        """Full URL of the token endpoint."""
        return self.url.rstrip("/") + self.token_path

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret that must never be printed, in any encoding (see `_redact`)."""
        found = [self.client_secret]
        if self.special_client_secret is not None:
            found.append(self.special_client_secret)
        return tuple(s for s in found if s)

    def redact(self, text: str) -> str:
        """`text` with every part that decodes to a secret masked (JSON, HTML, percent,
        base64 and hex escapes, nested: the Basic header built from one too)."""
        return redact(text, self.secrets)


@dataclass(frozen=True)
class Reply:
    """The parts of an HTTP response the checks look at (from httpx or from schemathesis)."""

    status: int
    headers: Mapping[str, str]  # lower-case names; repeated fields joined with ", "
    body: bytes

    def header(self, name: str) -> str | None:
        """A response header, or None."""
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body as JSON; raises ValueError when it is not JSON (or nests too deep to
        decode: json raises RecursionError, which no caller expects)."""
        try:
            return json.loads(self.body)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None

    @classmethod
    def from_httpx(cls, response: httpx.Response, body: bytes | None = None) -> Reply:
        """Build from an httpx response (and its body, when it was streamed)."""
        headers: dict[str, str] = {}
        for name, value in response.headers.multi_items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        content = response.content if body is None else body
        return cls(status=response.status_code, headers=headers, body=content)

    @classmethod
    def from_lists(cls, status: int, headers: Mapping[str, Sequence[str]], body: bytes) -> Reply:
        """Build from a name -> list-of-values mapping (the schemathesis shape)."""
        joined = {name.lower(): ", ".join(values) for name, values in headers.items()}
        return cls(status=status, headers=joined, body=body)

    def got(self) -> str:
        """`status error='code'`, for a FAIL line."""
        error = None
        try:
            value = self.json()
        except (ValueError, UnicodeDecodeError):
            value = None
        if isinstance(value, dict) and isinstance(value.get("error"), str):
            error = value["error"]
        return f"{self.status} error={error!r}"


@dataclass(frozen=True)
class Exchange:
    """One request a check sent and the reply it got (None when the transport failed)."""

    method: str
    url: str
    # Not in repr: the Authorization header may carry the secret.
    headers: tuple[tuple[str, bytes], ...] = field(repr=False)
    body: bytes | None
    reply: Reply | None
    transport_error: str | None = None
    # True when the Authorization header carries the configured secret: shown as [REDACTED].
    secret_bearing: bool = False

    def describe(self) -> str:
        """`METHOD url -> status` for messages."""
        got = self.reply.status if self.reply is not None else self.transport_error
        return f"{self.method} {self.url} -> {got}"

    def got(self) -> str:
        """What the server answered, for a FAIL line."""
        if self.reply is None:
            return f"no response: {self.transport_error}"
        return self.reply.got()

    def behaviour(self) -> str:
        """The request's kind and its answer: FAILs about one behaviour are reported once."""
        authorization = next((v for n, v in self.headers if n.lower() == "authorization"), None)
        if authorization is None:
            who = "without Authorization"
        elif self.secret_bearing:
            who = "with the configured credentials"
        elif authorization.lower().startswith(b"basic "):
            who = "with other Basic credentials"
        else:
            who = "with another Authorization scheme"
        content_type = next(
            (v.decode("latin-1") for n, v in self.headers if n.lower() == "content-type"), None
        )
        shape = request_shape(content_type, self.body)
        return f"{self.method} {shape} {who} → {self.got()}"


def _shell_bytes(value: bytes) -> str:
    """Quote bytes for a POSIX shell, using $'…' when they are not printable ASCII."""
    if all(0x20 <= b < 0x7F for b in value):
        return shlex.quote(value.decode("ascii"))
    escaped = "".join(
        chr(b) if 0x20 <= b < 0x7F and chr(b) not in "\\'" else f"\\x{b:02x}" for b in value
    )
    return f"$'{escaped}'"


def to_curl(exchange: Exchange) -> str:
    """A curl command reproducing the request; a secret-bearing Authorization is redacted."""
    parts = ["curl", "-i", "-X", exchange.method, shlex.quote(exchange.url)]
    for name, value in exchange.headers:
        if name.lower() == "authorization" and exchange.secret_bearing:
            value = f"Basic {REDACTED}".encode()
        parts += ["-H", _shell_bytes(name.encode("ascii") + b": " + value)]
    if exchange.body is not None:
        parts += ["--data-binary", _shell_bytes(exchange.body)]
    return " ".join(parts)


class Prober:
    """Sends the hand-made requests of the named checks and records them as exchanges."""

    def __init__(self, target: Target) -> None:
        self.target = target
        verify: ssl.SSLContext | bool = True
        if target.ca_file:
            verify = ssl.create_default_context(cafile=target.ca_file)
        # A connection per request: the watchdog of `_exchange` learns each socket as it connects.
        self._client = httpx.Client(
            timeout=target.timeout,
            follow_redirects=False,
            verify=verify,
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def auth(self) -> str:
        """The Authorization value for the configured client."""
        return basic_header(self.target.client_id, self.target.client_secret)

    def post_form(
        self,
        fields: Sequence[tuple[str, str]] | None = None,
        *,
        authorization: str | bytes | None = "configured",
        secret_bearing: bool | None = None,
    ) -> Exchange:
        """POST a form body; `fields` defaults to client_credentials with the configured scope."""
        if fields is None:
            fields = [("grant_type", "client_credentials"), ("scope", self.target.scope)]
        body = urlencode(list(fields)).encode("ascii")
        return self.send(
            "POST",
            body=body,
            content_type=FORM,
            authorization=authorization,
            secret_bearing=secret_bearing,
        )

    def send(
        self,
        method: str,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        authorization: str | bytes | None = "configured",
        secret_bearing: bool | None = None,
    ) -> Exchange:
        """Send one request to the token endpoint; transport errors become part of the exchange."""
        headers: list[tuple[str, bytes]] = []
        if authorization == "configured":
            authorization = self.auth()
            secret_bearing = True if secret_bearing is None else secret_bearing
        if authorization is not None:
            value = authorization if isinstance(authorization, bytes) else authorization.encode()
            headers.append(("Authorization", value))
        if content_type is not None:
            headers.append(("Content-Type", content_type.encode("ascii")))
        url = self.target.token_url
        exchange = Exchange(
            method=method,
            url=url,
            headers=tuple(headers),
            body=body,
            reply=None,
            secret_bearing=bool(secret_bearing),
        )
        wire = [(name.encode("ascii"), value) for name, value in headers]
        try:
            reply = self._exchange(method, url, wire, body)
        except httpx.HTTPError as exc:
            return replace(exchange, transport_error=f"{type(exc).__name__}: {exc}")
        return replace(exchange, reply=reply)

    def _exchange(
        self, method: str, url: str, headers: list[tuple[bytes, bytes]], body: bytes | None
    ) -> Reply:
        """The reply within bounds httpx alone does not keep (its timeouts are per read: a
        head or a body dripped byte by byte never trips them): the body is read within the
        timeout and up to MAX_REPLY_BYTES after decoding, and the whole exchange, head
        included, within twice the timeout, past which its socket is shut down."""
        timeout = self.target.timeout
        sockets: list[socket.socket] = []

        def trace(event: str, info: Mapping[str, Any]) -> None:
            if event == "connection.connect_tcp.complete":
                stream = info.get("return_value")
                sock = stream.get_extra_info("socket") if stream is not None else None
                if isinstance(sock, socket.socket):
                    sockets.append(sock)

        with cut_off_after(2 * timeout, sockets) as cut:
            try:
                with self._client.stream(
                    method, url, headers=headers, content=body, extensions={"trace": trace}
                ) as response:
                    deadline = time.monotonic() + timeout
                    content = bytearray()
                    # Raw bytes, decoded by `Decoder`: httpx's own decoders have no bound per
                    # chunk (one `gzip, gzip` chunk inflates to gigabytes).
                    decoder = Decoder(response.headers.get("Content-Encoding"), MAX_REPLY_BYTES)
                    for chunk in response.iter_raw():
                        try:
                            content += decoder.feed(chunk)
                        except ValueError as exc:  # past the bound, or not decodable
                            raise httpx.DecodingError(str(exc)) from None
                        if time.monotonic() > deadline:
                            raise httpx.ReadTimeout(
                                f"the response body took more than {timeout:g} s"
                            )
            except httpx.HTTPError:
                if cut.is_set():
                    raise httpx.ReadTimeout(f"no whole response within {2 * timeout:g} s") from None
                raise
        return Reply.from_httpx(response, bytes(content))
