"""The reference server over a real loopback socket: every row of DESIGN's status table,
every class of bad input, and the headers every response must carry."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import re
import secrets
import socket
from collections.abc import Iterator
from urllib.parse import quote_plus, urlsplit

import httpx
import jwt
import pytest
from live_server import LiveServer, start_server
from screening_eagle_id_server import TOKEN_PATH, Registry, Settings

DEMO = ("demo-client", "demo-secret")
FORM = {"grant_type": "client_credentials", "scope": "openid email profile inspect offline"}
FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}
# A client whose id and secret need form-encoding, and one allowed no grant at all.
ODD_ID, ODD_SECRET = "odd id+plus:colon", "p@ss:w%rd+ü"
CUSTOM_REGISTRY = f"""
[[clients]]
client_id = "{ODD_ID}"
secret_sha256 = "{hashlib.sha256(ODD_SECRET.encode()).hexdigest()}"
scopes = ["inspect"]
grant_types = ["client_credentials"]
[clients.claims]
sub = "7"

[[clients]]
client_id = "no-grants"
secret_sha256 = "{hashlib.sha256(b"no-grants-secret").hexdigest()}"
scopes = ["inspect"]
grant_types = []
[clients.claims]
sub = "8"
"""


def basic(client_id: str, secret: str) -> str:
    """The header as RFC 6749 §2.3.1 says: form-encode both halves, then base64."""
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


AUTH = {"Authorization": basic(*DEMO)}


@pytest.fixture
def http(reference_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=reference_server.url) as client:
        yield client


@pytest.fixture(scope="module")
def custom_server() -> Iterator[LiveServer]:
    registry = Registry.from_toml(CUSTOM_REGISTRY).merged(Registry.demo())
    settings = Settings(
        signing_key=secrets.token_bytes(32),
        registry=registry,
        token_lifetime=60,
        clock=lambda: 1_700_000_000.0,
    )
    with start_server(settings) as server:
        yield server


def post(http: httpx.Client, data: object = None, **kwargs: object) -> httpx.Response:
    headers = {**AUTH, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
    if isinstance(data, dict):
        return http.post(TOKEN_PATH, data=data, headers=headers, **kwargs)  # type: ignore[arg-type]
    return http.post(TOKEN_PATH, content=data, headers={**FORM_TYPE, **headers}, **kwargs)  # type: ignore[arg-type]


def assert_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == error
    assert isinstance(body["errorDescription"], str)
    assert body["errorDescription"]
    assert set(body) == {"error", "errorDescription"}
    assert_no_store(response)


def assert_no_store(response: httpx.Response) -> None:
    assert response.headers.get_list("cache-control") == ["no-store"]
    assert response.headers.get_list("pragma") == ["no-cache"]


# --- 200 ---------------------------------------------------------------------------


def test_demo_client_gets_a_verifiable_token(
    reference_server: LiveServer, http: httpx.Client
) -> None:
    response = post(http, FORM)
    assert response.status_code == 200, response.text
    assert_no_store(response)
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == FORM["scope"]
    claims = jwt.decode(
        body["access_token"],
        reference_server.signing_key,
        algorithms=["HS256"],
        audience="demo-client",
        issuer="Screening Eagle ID",
    )
    assert claims["exp"] - claims["iat"] == body["expires_in"] == 604_800
    assert claims["scp"] == FORM["scope"]
    assert "id_token" in body
    assert "refresh_token" in body


def test_form_encoded_credentials_are_decoded(custom_server: LiveServer) -> None:
    with httpx.Client(base_url=custom_server.url) as http:
        response = post(
            http,
            {"grant_type": "client_credentials", "scope": "inspect"},
            headers={"Authorization": basic(ODD_ID, ODD_SECRET)},
        )
    assert response.status_code == 200, response.text
    claims = jwt.decode(
        response.json()["access_token"],
        custom_server.signing_key,
        algorithms=["HS256"],
        audience=ODD_ID,
        options={"verify_exp": False},
    )
    assert claims["sub"] == "7"


def test_lifetime_and_clock_come_from_settings(custom_server: LiveServer) -> None:
    with httpx.Client(base_url=custom_server.url) as http:
        body = post(http, {"grant_type": "client_credentials", "scope": "openid"}).json()
    assert body["expires_in"] == 60
    claims = jwt.decode(
        body["access_token"],
        custom_server.signing_key,
        algorithms=["HS256"],
        audience="demo-client",
        options={"verify_exp": False},
    )
    assert (claims["iat"], claims["exp"]) == (1_700_000_000, 1_700_000_060)


def test_duplicate_scopes_are_granted_once(http: httpx.Client) -> None:
    response = post(http, {"grant_type": "client_credentials", "scope": "inspect inspect"})
    assert response.json()["scope"] == "inspect"


def test_unrecognized_parameters_are_ignored_even_repeated(http: httpx.Client) -> None:
    # RFC 6749 §3.2: the server MUST ignore unrecognized request parameters.
    response = post(http, b"grant_type=client_credentials&scope=inspect&x=1&x=2&=")
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "body",
    [
        b"grant_type=client_credentials&scope=inspect&foo",
        b"foo&grant_type=client_credentials&scope=inspect",
        b"grant_type=client_credentials&%66oo&scope=inspect&foo&",
    ],
)
def test_a_bare_unknown_name_is_ignored(http: httpx.Client, body: bytes) -> None:
    """RFC 6749 §3.2: unknown parameters MUST be ignored, with or without `=`."""
    response = post(http, body)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        (b"grant_type&scope=inspect", "grant_type"),
        (b"scope&grant_type=client_credentials", "scope"),
    ],
)
def test_a_bare_known_name_is_an_empty_value(http: httpx.Client, body: bytes, missing: str) -> None:
    response = post(http, body)
    assert_error(response, 400, "invalid_request")
    assert f"{missing} is required" in response.json()["errorDescription"]


def test_empty_fields_are_skipped(http: httpx.Client) -> None:
    response = post(http, b"&grant_type=client_credentials&&scope=inspect&")
    assert response.status_code == 200, response.text


def test_charset_utf8_is_accepted(http: httpx.Client) -> None:
    response = post(
        http,
        b"grant_type=client_credentials&scope=inspect",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"},
    )
    assert response.status_code == 200, response.text


# --- 400 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"scope": "inspect"}, "invalid_request"),  # grant_type missing
        ({"grant_type": "client_credentials"}, "invalid_request"),  # scope missing
        ({"grant_type": "", "scope": "inspect"}, "invalid_request"),
        ({"grant_type": "client_credentials", "scope": ""}, "invalid_request"),  # empty scope
        ({"grant_type": "password", "scope": "inspect"}, "unsupported_grant_type"),
        ({"grant_type": "client_credentials\n", "scope": "inspect"}, "unsupported_grant_type"),
        ({"grant_type": "authorization_code", "scope": "inspect"}, "invalid_grant"),
        ({"grant_type": "client_credentials", "scope": "openid  email"}, "invalid_scope"),
        ({"grant_type": "client_credentials", "scope": " openid"}, "invalid_scope"),
        ({"grant_type": "client_credentials", "scope": "openid "}, "invalid_scope"),
        ({"grant_type": "client_credentials", "scope": 'say"hi'}, "invalid_scope"),
        ({"grant_type": "client_credentials", "scope": "back\\slash"}, "invalid_scope"),
        ({"grant_type": "client_credentials", "scope": "openid\n"}, "invalid_scope"),
        ({"grant_type": "client_credentials", "scope": "open\x00id"}, "invalid_scope"),
        ({"grant_type": "client_credentials", "scope": "openid\temail"}, "invalid_scope"),
        ({"grant_type": "client_credentials", "scope": "ünïcode"}, "invalid_scope"),
    ],
)
def test_status_table_400_rows(http: httpx.Client, body: dict[str, str], error: str) -> None:
    assert_error(post(http, body), 400, error)


@pytest.mark.parametrize(
    "body",
    [
        b"grant_type=client_credentials&grant_type=client_credentials&scope=inspect",
        b"grant_type=client_credentials&scope=inspect&scope=inspect",
        b"grant_type=client_credentials&scope=inspect&scope=",
    ],
)
def test_repeated_parameters_are_refused(http: httpx.Client, body: bytes) -> None:
    assert_error(post(http, body), 400, "invalid_request")


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded; charset=latin-1",
        "application/x-www-form-urlencodedx",
    ],
)
def test_non_form_bodies_are_refused(http: httpx.Client, content_type: str) -> None:
    body = b"grant_type=client_credentials&scope=inspect"
    assert_error(post(http, body, headers={"Content-Type": content_type}), 400, "invalid_request")


def test_missing_content_type_is_refused(http: httpx.Client) -> None:
    request = http.build_request(
        "POST", TOKEN_PATH, content=b"grant_type=client_credentials&scope=inspect", headers=AUTH
    )
    assert "content-type" not in request.headers
    assert_error(http.send(request), 400, "invalid_request")


@pytest.mark.parametrize(
    "body",
    [
        b"grant_type=client_credentials&scope=\xff",  # raw byte that is not UTF-8
        b"grant_type=client_credentials&scope=%FF",  # escape that is not UTF-8
        b"grant_type=client_credentials&scope=inspect\x00",  # raw control character
        b"grant_type=client_credentials&scope=inspect\n",
        b"grant_type=client_credentials&scope",  # a bare `scope`: empty, so missing
        b"",
        b'{"grant_type": "client_credentials", "scope": "inspect"}',
        b"&".join([b"a=1"] * 40) + b"&grant_type=client_credentials&scope=inspect",
    ],
)
def test_malformed_forms_are_refused(http: httpx.Client, body: bytes) -> None:
    assert_error(post(http, body), 400, "invalid_request")


def test_body_over_8_kib_is_refused(http: httpx.Client) -> None:
    body = b"grant_type=client_credentials&scope=inspect&pad=" + b"x" * 8192
    assert_error(post(http, body), 400, "invalid_request")


def test_body_of_exactly_8_kib_is_accepted(http: httpx.Client) -> None:
    head = b"grant_type=client_credentials&scope=inspect&pad="
    body = head + b"x" * (8192 - len(head))
    assert len(body) == 8192
    assert post(http, body).status_code == 200


def test_chunked_body_over_8_kib_is_refused(http: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"grant_type=client_credentials&scope=inspect&pad="
        for _ in range(10):
            yield b"x" * 1024

    assert_error(post(http, chunks()), 400, "invalid_request")


def raw_exchange(url: str, request: bytes) -> bytes:
    """Send raw bytes, return what the server answers before it waits for more input.

    The socket timeout turns a server that waits for a body it should not read into a
    test failure (socket.timeout), not a hang.
    """
    host, port = urlsplit(url).hostname, urlsplit(url).port
    assert host == "127.0.0.1"
    assert port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            body += sock.recv(65536)
        return head + b"\r\n\r\n" + body


def test_announced_oversize_body_is_refused_without_reading_it(
    reference_server: LiveServer,
) -> None:
    # Headers only: the 10 MB the request announces never come. The server must answer anyway.
    request = (
        f"POST {TOKEN_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {basic(*DEMO)}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: 10000000\r\n\r\n"
    ).encode()
    answer = raw_exchange(reference_server.url, request)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b'"error":"invalid_request"' in answer
    assert b"cache-control: no-store" in answer.lower()


def test_chunked_oversize_body_is_refused_before_it_ends(reference_server: LiveServer) -> None:
    # 9 KiB of chunks and no terminating chunk: the server must stop reading at 8 KiB.
    request = (
        f"POST {TOKEN_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {basic(*DEMO)}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode() + b"".join(b"400\r\n" + b"x" * 1024 + b"\r\n" for _ in range(9))
    answer = raw_exchange(reference_server.url, request)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b'"error":"invalid_request"' in answer


def test_huge_headers_never_produce_a_server_error(reference_server: LiveServer) -> None:
    # Beyond uvicorn's 16 KiB header limit the HTTP layer answers 400 before the app runs.
    request = (
        f"POST {TOKEN_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {'x' * 70_000}\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
    host, port = "127.0.0.1", urlsplit(reference_server.url).port
    with socket.create_connection((host, port), timeout=10) as sock:
        # Refused mid-send is also not a 5xx.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            answer = sock.recv(65536)
    assert not answer.startswith(b"HTTP/1.1 5")
    if answer:
        assert answer.startswith(b"HTTP/1.1 4")


def test_huge_authorization_header_is_the_single_401(http: httpx.Client) -> None:
    response = post(http, FORM, headers={"Authorization": "Basic " + "QUFB" * 2500})
    assert_error(response, 401, "invalid_client")


# --- 401 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer abc",
        "Basic !!!",
        "Basic " + base64.b64encode(b"demo-client").decode(),
        basic("demo-client", "wrong-secret"),
        basic("nobody", "demo-secret"),
        basic("demo-client", "demo-secret ").replace("+", ""),  # differs by a space
        basic("DEMO-CLIENT", "demo-secret"),
    ],
)
def test_every_authentication_failure_is_the_same_401(
    http: httpx.Client, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = http.post(TOKEN_PATH, data=FORM, headers=headers)
    assert_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"] == 'Basic realm="Screening Eagle ID"'
    reference = http.post(TOKEN_PATH, data=FORM)
    assert response.json() == reference.json()


def test_two_authorization_headers_are_a_401(http: httpx.Client) -> None:
    headers = [("Authorization", basic(*DEMO)), ("Authorization", basic(*DEMO))]
    response = http.post(TOKEN_PATH, data=FORM, headers=headers)
    assert_error(response, 401, "invalid_client")


def test_authentication_comes_before_body_validation(http: httpx.Client) -> None:
    response = http.post(TOKEN_PATH, content=b"\xff", headers={"Content-Type": "text/plain"})
    assert_error(response, 401, "invalid_client")


# --- 403 -----------------------------------------------------------------------------


def test_scope_not_allowed_for_the_client_is_access_denied(http: httpx.Client) -> None:
    response = post(http, {"grant_type": "client_credentials", "scope": "openid admin"})
    assert_error(response, 403, "access_denied")
    assert "admin" in response.json()["errorDescription"]


def test_grant_not_allowed_for_the_client_is_unauthorized_client(custom_server: LiveServer) -> None:
    with httpx.Client(base_url=custom_server.url) as http:
        response = post(
            http,
            {"grant_type": "client_credentials", "scope": "inspect"},
            headers={"Authorization": basic("no-grants", "no-grants-secret")},
        )
    assert_error(response, 403, "unauthorized_client")


# --- 404, 405 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/api/id/v1/auth", TOKEN_PATH + "/", "/api/id/v1/auth/tokens"]
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unknown_paths_are_a_json_404(http: httpx.Client, path: str, method: str) -> None:
    assert_error(http.request(method, path, headers=AUTH), 404, "not_found")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "QUERY"])
def test_other_methods_are_a_405_with_allow_post(http: httpx.Client, method: str) -> None:
    response = http.request(method, TOKEN_PATH, headers=AUTH)
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"


def test_head_is_a_405_with_allow_post_and_no_body(http: httpx.Client) -> None:
    response = http.head(TOKEN_PATH)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert_no_store(response)
    assert response.content == b""


# --- 500 -------------------------------------------------------------------------------


def broken_clock() -> float:
    raise RuntimeError("clock exploded: internal detail demo-secret")


def test_unexpected_exception_is_a_json_500_without_internals(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(signing_key=b"k" * 32, registry=Registry.demo(), clock=broken_clock)
    caplog.set_level(logging.INFO, logger="screening_eagle_id_server")
    with start_server(settings) as server, httpx.Client(base_url=server.url) as http:
        response = post(http, FORM)
    assert_error(response, 500, "server_error")
    assert "exploded" not in response.text
    assert "Traceback" not in response.text
    # Logged server-side, with the traceback.
    errors = [r for r in caplog.records if r.name == "screening_eagle_id_server.error"]
    assert len(errors) == 1
    assert errors[0].exc_info is not None


# --- access log ----------------------------------------------------------------------------


def test_one_access_log_line_per_request_without_secrets(
    http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="screening_eagle_id_server.access")
    token = post(http, FORM).json()["access_token"]
    http.post(TOKEN_PATH, data=FORM)
    http.get("/nowhere?secret=demo-secret")
    lines = [r for r in caplog.records if r.name == "screening_eagle_id_server.access"]
    assert [r.getMessage().split(" latency_ms=")[0] for r in lines] == [
        f"method=POST path={TOKEN_PATH} status=200 client_id=demo-client",
        f"method=POST path={TOKEN_PATH} status=401 client_id=-",
        "method=GET path=/nowhere status=404 client_id=-",
    ]
    assert all(re.fullmatch(r".* latency_ms=\d+\.\d\d", r.getMessage()) for r in lines)
    fields = [(r.method, r.path, r.status, r.client_id) for r in lines]
    assert fields == [
        ("POST", TOKEN_PATH, 200, "demo-client"),
        ("POST", TOKEN_PATH, 401, "-"),
        ("GET", "/nowhere", 404, "-"),
    ]
    text = caplog.text
    for secret in ("demo-secret", token, token.split(".")[1], basic(*DEMO).split()[1], "Basic"):
        assert secret not in text


def test_access_log_keeps_one_request_on_one_line(
    http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="screening_eagle_id_server.access")
    http.get("/a%0Ab%22c")
    (record,) = [r for r in caplog.records if r.name == "screening_eagle_id_server.access"]
    assert "\n" not in record.getMessage()
    assert 'path="/a\\nb\\"c"' in record.getMessage()


def test_token_requests_are_counted(reference_server: LiveServer, http: httpx.Client) -> None:
    before = reference_server.token_requests()
    post(http, FORM)
    http.post(TOKEN_PATH, data=FORM)
    http.get(TOKEN_PATH)
    assert reference_server.token_requests() == before + 2


async def _asgi_post(headers: list[tuple[bytes, bytes]], body: bytes) -> tuple[int, bytes]:
    """One POST straight through the ASGI app: no HTTP parser in front to vet the headers."""
    from screening_eagle_id_server import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, create_app

    app = create_app(Settings.dev())
    assert (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET) == DEMO
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": TOKEN_PATH,
        "raw_path": TOKEN_PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent: list[dict[str, object]] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, object]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await app(scope, receive, send)  # type: ignore[arg-type]
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    chunks = [m.get("body", b"") for m in sent if m["type"] == "http.response.body"]
    assert isinstance(status, int)
    return status, b"".join(c for c in chunks if isinstance(c, bytes))


# Header bytes are latin-1: b"\xb2" reads as "²", which str.isdigit() accepts.
@pytest.mark.parametrize("length", ["²", "³¹", "1²", "-1", "+5"])
def test_a_non_ascii_digit_content_length_is_a_400_not_a_500(length: str) -> None:
    """`"²".isdigit()` is True but int("²") raises: h11 rejects it, other servers may not."""
    import asyncio

    body = b"grant_type=client_credentials&scope=inspect"
    headers = [
        (b"authorization", AUTH["Authorization"].encode()),
        (b"content-type", b"application/x-www-form-urlencoded"),
        (b"content-length", length.encode("latin-1")),
    ]
    status, reply = asyncio.run(_asgi_post(headers, body))
    assert status == 400, reply
    assert b"invalid_request" in reply
