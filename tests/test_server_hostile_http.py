"""Hostile and unusual HTTP/1.1 on a real loopback socket, past what test_server_limits covers:
requests that ask for a protocol upgrade, pipelined requests followed by garbage, and the
Host field rules of RFC 9112 §3.2. Never a 5xx, never a traceback, answers in request order."""

from __future__ import annotations

import base64
import logging
import re
import socket
from collections.abc import Iterator

import pytest
from screening_eagle_id_server import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, TOKEN_PATH
from test_server_limits import BODY, FAST, assert_error, connect, read_answer, server

BASIC = "Basic " + base64.b64encode(f"{DEMO_CLIENT_ID}:{DEMO_CLIENT_SECRET}".encode()).decode()


def request(*extra: str, host: str | None = "127.0.0.1", version: str = "HTTP/1.1") -> bytes:
    lines = [
        f"POST {TOKEN_PATH} {version}",
        *([f"Host: {host}"] if host is not None else []),
        f"Authorization: {BASIC}",
        "Content-Type: application/x-www-form-urlencoded",
        f"Content-Length: {len(BODY)}",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + BODY


@pytest.fixture(scope="module")
def address() -> Iterator[tuple[str, int]]:
    with server(FAST) as where:
        yield where


@pytest.fixture
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.INFO)
    yield
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad]


# --- Upgrade: ignored (RFC 9110 §7.8), the request is served as plain HTTP/1.1 -----------


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(
            (
                "Connection: Upgrade, HTTP2-Settings",
                "Upgrade: h2c",
                "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA",
            ),
            id="h2c as curl --http2 sends it",
        ),
        pytest.param(
            ("Connection: upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13"),
            id="websocket",
        ),
    ],
)
def test_a_request_asking_for_an_upgrade_is_served_with_its_body(
    address: tuple[str, int], no_tracebacks: None, extra: tuple[str, ...]
) -> None:
    with connect(address) as sock:
        sock.sendall(request(*extra))
        answer = read_answer(sock)
        assert answer.status == 200, answer
        assert "access_token" in answer.json()
        # Still HTTP/1.1 on the same connection: the next request is served too.
        sock.sendall(request(*extra))
        assert read_answer(sock).status == 200


def test_connect_is_refused_not_looped(address: tuple[str, int], no_tracebacks: None) -> None:
    with connect(address) as sock:
        sock.sendall(b"CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n")
        answer = read_answer(sock)
        assert 400 <= answer.status < 500, answer


# --- pipelining: an error after good requests comes after their answers -------------------


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(b"GARBAGE\r\n\r\n", id="malformed"),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", id="too big"
        ),
        pytest.param(
            request("Transfer-Encoding: chunked").replace(b"Content-Length", b"X-Length")[
                : -len(BODY)
            ]
            + b"zz\r\n",
            id="bad chunk size",
        ),
    ],
)
def test_a_bad_request_pipelined_behind_good_ones_is_answered_after_them(
    address: tuple[str, int], no_tracebacks: None, garbage: bytes
) -> None:
    with connect(address) as sock:
        sock.sendall(request() * 2 + garbage)
        data = b""
        while chunk := sock.recv(65536):  # the server closes after the error
            data += chunk
    statuses = [int(status) for status in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]
    assert statuses[:2] == [200, 200], data
    assert statuses[2:] in ([400], [431]), data
    assert b'"error":"invalid_request"' in data.rpartition(b"\r\n\r\n")[2]


# --- Host (RFC 9112 §3.2: MUST 400) ---------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(request(host=None), id="HTTP/1.1 without Host"),
        pytest.param(request("Host: evil.example"), id="two Host fields"),
        pytest.param(request("Host: evil.example", version="HTTP/1.0"), id="two, HTTP/1.0"),
    ],
)
def test_a_missing_or_repeated_host_gets_400(
    address: tuple[str, int], no_tracebacks: None, data: bytes
) -> None:
    with connect(address) as sock:
        sock.sendall(data)
        assert_error(read_answer(sock), 400, "invalid_request")


def test_http_1_0_without_host_is_served(address: tuple[str, int]) -> None:
    with connect(address) as sock:
        sock.sendall(request(host=None, version="HTTP/1.0"))
        assert read_answer(sock).status == 200


def test_an_http_version_other_than_1_x_gets_400(address: tuple[str, int]) -> None:
    with connect(address) as sock:
        sock.sendall(request(version="HTTP/2.0"))
        assert_error(read_answer(sock), 400, "invalid_request")


# --- Expect: 100-continue answered before the body was asked for ----------------------------


def test_an_early_answer_to_expect_100_continue_closes_the_connection(
    address: tuple[str, int], no_tracebacks: None
) -> None:
    """RFC 9110 §10.1.1: the client may then never send the body; kept open, the server would
    read the client's next request as that body (and answer it 400)."""
    wrong = "Basic " + base64.b64encode(b"nobody:wrong").decode()
    data = request("Expect: 100-continue").replace(BASIC.encode(), wrong.encode())
    with connect(address) as sock:
        sock.sendall(data[: -len(BODY)])  # the head only: the body waits for a 100
        answer = read_answer(sock)
        assert answer.status == 401
        assert answer.headers.get("connection") == "close"
        assert answer.closed


def test_expect_100_continue_with_the_body_asked_for_keeps_the_connection(
    address: tuple[str, int],
) -> None:
    data = request("Expect: 100-continue")
    with connect(address) as sock:
        sock.sendall(data[: -len(BODY)])
        sock.settimeout(5)
        assert sock.recv(25) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(BODY)
        assert read_answer(sock).status == 200
        sock.sendall(request())
        assert read_answer(sock).status == 200


# --- half-close: every request sent before it is answered -----------------------------------


def test_pipelined_requests_then_a_half_close_get_every_answer(
    address: tuple[str, int], no_tracebacks: None
) -> None:
    """`printf '…' | nc -N host port`: the client sends its requests, then shuts down its
    sending side (EOF) and reads."""
    with connect(address) as sock:
        sock.sendall(request() * 3)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", data) == [b"200"] * 3, data


def test_a_half_close_in_the_middle_of_a_body_gets_400_at_once(
    address: tuple[str, int], no_tracebacks: None
) -> None:
    with connect(address) as sock:
        sock.sendall(request()[:-5])
        sock.shutdown(socket.SHUT_WR)
        answer = read_answer(sock, timeout=0.4)  # well before the 0.5 s body timeout
    assert_error(answer, 400, "invalid_request")
