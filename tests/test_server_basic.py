"""RFC 6749 §2.3.1 Basic client authentication, parsed strictly."""

from __future__ import annotations

import base64
import typing
from pathlib import Path
from urllib.parse import quote_plus

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from screening_eagle_id_server._basic import MAX_AUTHORIZATION_LENGTH, parse_basic_authorization


def header(text: str | bytes, scheme: str = "Basic") -> str:
    raw = text.encode() if isinstance(text, str) else text
    return f"{scheme} {base64.b64encode(raw).decode()}"


@pytest.mark.parametrize(
    ("client_id", "secret"),
    [
        ("demo-client", "demo-secret"),
        ("a b", "c d"),  # spaces, encoded as `+`
        ("id+plus", "se+cret"),  # a literal plus, encoded as %2B
        ("id:colon", "s:e:c"),  # colons, encoded as %3A
        ("ünïcödé", "пароль%"),  # non-ASCII and a literal percent
    ],
)
def test_form_encoded_credentials_round_trip(client_id: str, secret: str) -> None:
    encoded = f"{quote_plus(client_id)}:{quote_plus(secret)}"
    assert parse_basic_authorization(header(encoded)) == (client_id, secret)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id:sec:ret", ("id", "sec:ret")),
        ("id::", ("id", ":")),
        ("a%3Ab:c:d%3A", ("a:b", "c:d:")),
    ],
)
def test_the_first_colon_separates_and_later_ones_belong_to_the_secret(
    text: str, expected: tuple[str, str]
) -> None:
    """RFC 7617 §2: a user-id cannot contain a colon; a secret can."""
    assert parse_basic_authorization(header(text)) == expected


def test_plus_is_a_space_and_percent_2b_a_plus() -> None:
    assert parse_basic_authorization(header("a+b:c%2Bd")) == ("a b", "c+d")


def test_scheme_is_case_insensitive_and_may_be_followed_by_several_spaces() -> None:
    token = base64.b64encode(b"id:secret").decode()
    assert parse_basic_authorization(f"bAsIc   {token}") == ("id", "secret")


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "Basic",
        "Basic ",
        "Bearer abc",
        header("id:secret", scheme="Bearer"),
        "Basic !!!!",  # not base64
        "Basic aWQ6c2VjcmU",  # missing padding
        "Basic aWQ6c2VjcmU==",  # wrong padding
        "Basic aWQ6c2Vj cmV0",  # space inside the token
        header(b"id:\xffsecret"),  # not UTF-8
        header("idsecret"),  # no colon
        header(":secret"),  # empty id
        header("id:"),  # empty secret
        header("id:%zz"),  # bad percent-escape
        header("id:%FF"),  # percent-escape that is not UTF-8
        header("id%00:secret"),  # control character after decoding
        "Basic " + "A" * MAX_AUTHORIZATION_LENGTH,  # longer than any real credential
    ],
)
def test_malformed_headers_are_rejected(value: str | None) -> None:
    assert parse_basic_authorization(value) is None


# No deadline: a wall-clock limit per example would make the test depend on machine load.
@settings(deadline=None)
@given(st.text())
def test_any_text_yields_credentials_or_the_single_rejection(value: str) -> None:
    result = parse_basic_authorization(value)
    assert result is None or (isinstance(result, tuple) and all(result))


@settings(deadline=None)
@given(st.binary())
def test_any_base64_payload_yields_credentials_or_the_single_rejection(payload: bytes) -> None:
    result = parse_basic_authorization(header(payload))
    assert result is None or (len(result) == 2 and all(result))


@settings(deadline=None)
@given(st.text(min_size=1), st.text(min_size=1))
def test_any_form_encoded_pair_round_trips_unless_it_has_control_characters(
    client_id: str, secret: str
) -> None:
    encoded = f"{quote_plus(client_id)}:{quote_plus(secret)}"
    try:
        encoded.encode("utf-8")
    except UnicodeEncodeError:
        return  # lone surrogates cannot be sent at all
    result = parse_basic_authorization(header(encoded))
    has_control = any(ord(c) < 0x20 or ord(c) == 0x7F for c in client_id + secret)
    expected = None if has_control else (client_id, secret)
    if len(header(encoded)) > MAX_AUTHORIZATION_LENGTH:
        expected = None
    assert result == expected


def test_the_spec_says_who_requires_form_encoding_and_that_this_server_decodes() -> None:
    """The seed says only base64(client_id:client_secret); RFC 6749 §2.3.1 adds the encoding."""
    from screening_eagle_id._credentials import ClientAuth

    spec = yaml.safe_load((Path(__file__).parents[1] / "openapi.yaml").read_text("utf-8"))
    text = " ".join(spec["components"]["securitySchemes"]["basicAuth"]["description"].split())
    assert "RFC 6749 section 2.3.1 requires" in text
    assert "reference server decodes" in text
    assert 'client_auth="basic_raw"' in text
    assert "basic_raw" in typing.get_args(ClientAuth)
    # This file's round-trip tests are the "decodes" the spec promises.
    assert parse_basic_authorization(header("a%3Ab:c%2Bd")) == ("a:b", "c+d")
