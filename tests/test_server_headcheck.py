"""The Host and request-line checks of the connection layer, on generated values: every
uri-host[:port] of RFC 3986 is accepted, anything with a byte outside its grammar is not."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from screening_eagle_id_server._headcheck import is_request_line, valid_host

_ALLOWED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;="
_reg_name = st.lists(
    st.one_of(
        st.sampled_from([bytes([c]) for c in _ALLOWED]),
        st.binary(min_size=1, max_size=1).map(lambda b: b"%" + b.hex().encode()),
    ),
    max_size=300,
).map(b"".join)
_port = st.one_of(st.just(b""), st.just(b":"), st.integers(0, 65535).map(lambda p: b":%d" % p))
_ipv6 = st.ip_addresses(v=6).map(lambda a: b"[" + str(a).encode() + b"]")


@given(st.one_of(_reg_name, _ipv6), _port)
def test_every_host_and_port_is_valid(host: bytes, port: bytes) -> None:
    assert valid_host(host + port)


@given(_reg_name, st.binary(min_size=1, max_size=1).filter(lambda b: b not in _ALLOWED + b"%:[]"))
def test_a_byte_outside_the_grammar_makes_it_invalid(host: bytes, bad: bytes) -> None:
    assert not valid_host(host[: len(host) // 2] + bad + host[len(host) // 2 :])


@given(_reg_name, st.integers(65536, 10**12))
def test_a_port_over_65535_is_invalid(host: bytes, port: int) -> None:
    assert not valid_host(host + b":%d" % port)


@given(st.from_regex(rb"\A[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}\Z"), st.sampled_from([b"/", b"/a?b"]))
def test_a_request_line_with_any_token_method_is_one(method: bytes, target: bytes) -> None:
    assert is_request_line(method + b" " + target + b" HTTP/1.1")
    assert not is_request_line(method + b" " + target)
    assert not is_request_line(method + b"\x00 " + target + b" HTTP/1.1")
