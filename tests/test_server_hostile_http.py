"""Hostile and unusual HTTP/1.1 on a real loopback socket, past what test_server_limits covers:
requests that ask for a protocol upgrade, pipelined requests followed by garbage, and the
Host field rules of RFC 9112 §3.2. Never a 5xx, never a traceback, answers in request order."""

from __future__ import annotations

import base64
import contextlib
import logging
import re
import socket
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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


@pytest.mark.parametrize(
    "host",
    [
        "a b",
        "u@x",
        "x:99999999",
        "x:65536",
        "x:-1",
        "[::1",
        "[zz::1]",
        "x/y",
        "x?y",
        "x#y",
        "%zz",
        "\x7f",
        "x:80:80",
    ],
)
def test_a_host_that_is_not_host_and_port_gets_400(
    address: tuple[str, int], no_tracebacks: None, host: str
) -> None:
    """RFC 9112 §3.2: a Host that is not uri-host[:port] (RFC 3986 §3.2.2-3.2.3) is a 400."""
    with connect(address) as sock:
        sock.sendall(request(host=host))
        assert_error(read_answer(sock), 400, "invalid_request")


@pytest.mark.parametrize(
    "host",
    [
        "",
        "127.0.0.1:65535",
        "example.com",
        "xn--bcher-kva.example:8443",
        "[::1]:80",
        "[v1.x]",
        "a%20b",
        "x:",
    ],
)
def test_a_valid_host_is_served(address: tuple[str, int], host: str) -> None:
    with connect(address) as sock:
        sock.sendall(request(host=host))
        assert read_answer(sock).status == 200


def test_transfer_encoding_in_http_1_0_gets_400(
    address: tuple[str, int], no_tracebacks: None
) -> None:
    """RFC 9112 §6.1: HTTP/1.0 has no Transfer-Encoding; its framing cannot be trusted."""
    data = request("Transfer-Encoding: chunked", version="HTTP/1.0").replace(
        b"Content-Length", b"X-Length"
    )[: -len(BODY)]
    with connect(address) as sock:
        sock.sendall(data + b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY))
        assert_error(read_answer(sock), 400, "invalid_request")


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param(("Transfer-Encoding: gzip, chunked",), id="gzip, chunked"),
        pytest.param(("Transfer-Encoding: x-custom ,chunked",), id="unknown, chunked"),
        pytest.param(("Transfer-Encoding: deflate", "Transfer-Encoding: chunked"), id="two fields"),
    ],
)
def test_a_transfer_coding_other_than_chunked_gets_501(
    address: tuple[str, int], no_tracebacks: None, fields: tuple[str, ...]
) -> None:
    """RFC 9112 §6.1: a transfer coding the server does not implement is 501, never a body
    read as if it were only chunked (a gzip body parsed as form fields)."""
    data = request(*fields).replace(b"Content-Length", b"X-Length")[: -len(BODY)]
    with connect(address) as sock:
        sock.sendall(data + b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY))
        assert_error(read_answer(sock), 501, "invalid_request")


# --- methods (RFC 9110 §9.1: 501 for one the server does not recognize) --------------------


@pytest.mark.parametrize("split", [None, 1, 2], ids=["one write", "dripped", "line split"])
@pytest.mark.parametrize("method", ["FOO", "get", "M-SEARCH2", "X"])
def test_an_unknown_method_gets_501(
    address: tuple[str, int], no_tracebacks: None, method: str, split: int | None
) -> None:
    data = request().replace(b"POST", method.encode(), 1)
    with connect(address) as sock:
        if split is None:
            sock.sendall(data)
        else:
            first = data.index(b" ") + split  # part of the line, then the rest
            sock.sendall(data[:first])
            time.sleep(0.05)
            sock.sendall(data[first:])
        assert_error(read_answer(sock), 501, "invalid_request")


def test_an_unknown_method_pipelined_gets_501_after_the_answers_before_it(
    address: tuple[str, int], no_tracebacks: None
) -> None:
    with connect(address) as sock:
        sock.sendall(request() * 2 + request().replace(b"POST", b"FOO", 1))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", data) == [b"200", b"200", b"501"], data


@pytest.mark.parametrize("line", [b"GARBAGE", b"FOO /", b"FOO / HTTP/1.1 x", b"F\x00O / HTTP/1.1"])
def test_a_request_line_that_is_not_one_gets_400(
    address: tuple[str, int], no_tracebacks: None, line: bytes
) -> None:
    with connect(address) as sock:
        sock.sendall(line + b"\r\nHost: a\r\n\r\n")
        assert_error(read_answer(sock), 400, "invalid_request")


def test_a_known_method_the_endpoint_does_not_serve_gets_405(address: tuple[str, int]) -> None:
    with connect(address) as sock:
        sock.sendall(request().replace(b"POST", b"PUT", 1))
        assert read_answer(sock).status == 405


# --- a pipelined head over the limit: 431 however the reads fall --------------------------


@pytest.mark.parametrize("first_part", [100, 8_000, 15_000, 16_300, 17_000])
def test_a_pipelined_head_over_the_limit_gets_431_however_the_reads_fall(
    address: tuple[str, int], no_tracebacks: None, first_part: int
) -> None:
    """The big head starts in the same write as a good request: its first `first_part` bytes
    come with it, the rest a moment later."""
    big = request("X-Big: " + "a" * 17_000)
    data = request() + big
    cut = len(request()) + first_part
    with connect(address) as sock:
        sock.sendall(data[:cut])
        time.sleep(0.05)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data[cut:])
        got = b""
        while chunk := sock.recv(65536):
            got += chunk
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", got) == [b"200", b"431"], got


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


# --- a chunked body's framing (chunk-size lines, extensions, trailers): the head's 16 KiB ------


def _chunked(extension: bytes, pieces: int, trailer: bytes) -> bytes:
    """The token request as a chunked body of `pieces` chunks, each size line carrying
    `extension`, then `trailer` as the trailer section."""
    head = request("Transfer-Encoding: chunked").replace(b"Content-Length", b"X-Length")
    head = head[: -len(BODY)]
    step = -(-len(BODY) // pieces)
    body = b"".join(
        b"%x%s\r\n%s\r\n" % (len(part), extension, part)
        for part in (BODY[i : i + step] for i in range(0, len(BODY), step))
    )
    return head + body + b"0\r\n" + trailer + b"\r\n"


@settings(max_examples=25, deadline=None)
@given(
    extension_bytes=st.integers(0, 40_000),
    pieces=st.integers(1, 6),
    trailer_bytes=st.integers(0, 20_000),
    splits=st.lists(st.floats(0, 1), max_size=3),
)
def test_chunk_framing_is_counted_against_the_head_limit_however_it_arrives(
    address: tuple[str, int],
    extension_bytes: int,
    pieces: int,
    trailer_bytes: int,
    splits: list[float],
) -> None:
    """Chunk-size lines with their extensions and the trailer section count against the head's
    16 KiB (FAST's limit too) whether they arrive in one write, with the head, or in parts:
    over it, 431; within it, the token."""
    extension = b";e=" + b"x" * extension_bytes if extension_bytes else b""
    trailer = b"X-T: " + b"v" * trailer_bytes + b"\r\n" if trailer_bytes else b""
    data = _chunked(extension, pieces, trailer)
    framing = len(data) - data.index(b"\r\n\r\n") - 4 - len(BODY)
    cuts = sorted({int(f * len(data)) for f in splits} - {0, len(data)})
    with connect(address) as sock:
        for start, stop in zip([0, *cuts], [*cuts, len(data)], strict=True):
            sock.sendall(data[start:stop])
            time.sleep(0.01)
        answer = read_answer(sock)
    limit = FAST.max_head_bytes
    if framing > limit + 64:  # (the limit counts as bytes arrive; a little slack at the edge)
        assert_error(answer, 431, "invalid_request")
    elif framing <= limit - 64 and trailer_bytes < limit // 2:
        assert answer.status == 200, (framing, answer)
