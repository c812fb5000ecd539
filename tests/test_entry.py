"""The cache-entry format (`_entry.py`): strict decoding, the secret binding, stdlib only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from screening_eagle_id import _entry
from screening_eagle_id._entry import (
    MAX_ENTRY_BYTES,
    MAX_LIFETIME,
    MAX_TOKEN_CHARS,
    Entry,
    EntryError,
    binding_key,
    cache_key,
    decode,
    encode,
    load,
    sign,
    to_mapping,
    verify,
)

SECRET = "ENTRY-SECRET-5e1f"
KEY = cache_key("https://id.example.com", "client-1", ["openid"])
BINDING = binding_key(SECRET, KEY)
NOW = 1_700_000_100.0
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"


def _entry_of(**overrides: object) -> Entry:
    fields: dict[str, object] = {
        "access_token": TOKEN,
        "token_type": "Bearer",
        "scope": frozenset({"openid", "email"}),
        "issued_at": NOW - 100,
        "expires_at": NOW + 3500,
        "id_token": "id.tok.en",
    }
    fields.update(overrides)
    return sign(Entry(**fields), BINDING)  # type: ignore[arg-type]


def _raw(**overrides: object) -> bytes:
    """A signed entry, then fields replaced in its JSON (as someone writing the cache would)."""
    data = to_mapping(_entry_of())
    data.update(overrides)
    return json.dumps(data).encode()


def test_importing_it_pulls_in_nothing_but_the_standard_library() -> None:
    path = Path(_entry.__file__)
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('entry_alone', {str(path)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('httpx', 'attrs', 'attr', 'screening_eagle_id', 'screening_eagle_id_client', 'redis'))\n"
        "print(bad)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert result.stdout.strip() == "[]"


def test_round_trip_and_load() -> None:
    entry = _entry_of()
    assert decode(encode(entry)) == entry
    assert load(encode(entry), key=BINDING, scopes=["openid"], now=NOW) == entry
    assert len(entry.binding or "") == 64


def test_the_binding_holds_no_trace_of_the_secret() -> None:
    raw = encode(_entry_of())
    assert SECRET.encode() not in raw
    assert BINDING.hex().encode() not in raw
    assert binding_key(SECRET, KEY) == BINDING  # deterministic: one key per client
    assert binding_key(SECRET, "cd" * 32) != BINDING  # salted with the cache key


def test_another_secret_fails_verify() -> None:
    with pytest.raises(EntryError, match="secret"):
        load(encode(_entry_of()), key=binding_key("wrong", KEY), scopes=["openid"], now=NOW)


@pytest.mark.parametrize(
    "overrides",
    [
        {"expires_at": NOW + 5 * 365 * 86400},  # binding copied from a genuine entry
        {"scope": "openid email admin"},
        {"access_token": TOKEN + "x"},
        {"issued_at": NOW - 200},
        {"binding": None},
        {"binding": "0" * 64},
    ],
)
def test_an_altered_entry_fails_verify(overrides: dict[str, object]) -> None:
    entry = decode(_raw(**overrides))
    with pytest.raises(EntryError):
        verify(entry, key=BINDING, scopes=["openid"], now=NOW)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"expires_at": NOW - 100 + MAX_LIFETIME + 1}, "10 years"),
        ({"expires_at": 253402300799.0}, "10 years"),
        ({"expires_at": NOW - 100}, "not after"),
        ({"expires_at": NOW - 200}, "not after"),
        ({"token_type": "mac"}, "not Bearer"),
        ({"token_type": "Bearer\r\n"}, "not Bearer"),
        ({"access_token": "a" * (MAX_TOKEN_CHARS + 1)}, "longer"),
        ({"access_token": "tok\r\nX-Evil: 1"}, "b64token"),
        ({"access_token": "tok en"}, "b64token"),
        ({"access_token": "tökén"}, "b64token"),
        ({"access_token": ""}, "access_token"),
        ({"access_token": 5}, "access_token"),
        ({"scope": ["openid"]}, "scope"),
        ({"scope": "openid\nadmin"}, "scope"),
        ({"id_token": "a\x00b"}, "id_token"),
        ({"refresh_token": 7}, "refresh_token"),
        ({"issued_at": True}, "issued_at"),
        ({"issued_at": "yesterday"}, "issued_at"),
        ({"issued_at": 10**400}, "issued_at"),
        ({"issued_at": -1}, "issued_at"),
        ({"expires_at": 1e300}, "expires_at"),
        ({"v": 2}, "version"),
        ({"v": True}, "version"),
        ({"binding": "XYZ"}, "binding"),
    ],
)
def test_a_malformed_entry_is_refused_without_echoing_it(
    overrides: dict[str, object], reason: str
) -> None:
    with pytest.raises(EntryError, match=reason) as info:
        decode(_raw(**overrides))
    for value in overrides.values():
        if isinstance(value, str) and len(value) > 4:
            assert value not in str(info.value)


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"v": 1, "scope": ' + b"[" * 50_000,
        b"{" + b'"a":{' * 30_000,
        b"",
        b"\xff\xfe",
        b"null",
        b"[]",
        b'"a"',
        b"1" * 5000,
        b"NaN",
    ],
)
def test_garbage_and_deep_nesting_are_entry_errors(raw: bytes) -> None:
    with pytest.raises(EntryError):
        decode(raw)


def test_size_is_bounded_before_parsing() -> None:
    with pytest.raises(EntryError, match="larger"):
        decode(b" " * (MAX_ENTRY_BYTES + 1))


def test_verify_needs_every_requested_scope_and_a_sane_issue_time() -> None:
    entry = _entry_of()
    verify(entry, key=BINDING, scopes=["email"], now=NOW)
    with pytest.raises(EntryError, match="scope"):
        verify(entry, key=BINDING, scopes=["openid", "profile"], now=NOW)
    future = _entry_of(issued_at=NOW + 3600, expires_at=NOW + 7200)
    with pytest.raises(EntryError, match="future"):
        verify(future, key=BINDING, scopes=["openid"], now=NOW)


def test_verify_checks_an_entry_built_in_memory_too() -> None:
    # MemoryCache holds Token objects, never decoded: verify() gives them the field checks.
    entry = _entry_of(token_type="mac")
    with pytest.raises(EntryError, match="Bearer"):
        verify(entry, key=BINDING, scopes=["openid"], now=NOW)
    with pytest.raises(EntryError):
        verify(_entry_of()._replace(binding="é" * 64), key=BINDING, scopes=["openid"], now=NOW)
