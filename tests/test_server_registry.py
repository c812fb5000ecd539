"""The TOML client registry: loading, validation that names the bad entry, authentication."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from screening_eagle_id_server import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    RegisteredClient,
    Registry,
    RegistryError,
)

SECRET_HEX = hashlib.sha256(b"s3cret").hexdigest()


def entry(client_id: str = "svc", **overrides: str) -> str:
    fields = {
        "client_id": f'"{client_id}"',
        "secret_sha256": f'"{SECRET_HEX}"',
        "scopes": '["openid", "inspect"]',
        "grant_types": '["client_credentials"]',
    }
    fields.update(overrides)
    lines = [f"{k} = {v}" for k, v in fields.items() if v != "<omit>"]
    return "[[clients]]\n" + "\n".join(lines) + '\n[clients.claims]\nsub = "42"\n'


def test_loads_the_documented_shape(tmp_path: Path) -> None:
    path = tmp_path / "clients.toml"
    path.write_text(entry("svc") + entry("other"), encoding="utf-8")
    registry = Registry.from_file(path)
    assert sorted(c.client_id for c in registry) == ["other", "svc"]
    client = registry.get("svc")
    assert client is not None
    assert client.scopes == {"openid", "inspect"}
    assert client.grant_types == {"client_credentials"}
    assert client.sub == "42"


def test_demo_registry_holds_the_documented_demo_client() -> None:
    registry = Registry.demo()
    client = registry.authenticate(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
    assert client is not None
    assert client.scopes == {"openid", "email", "profile", "inspect", "offline"}
    assert client.grant_types == {"client_credentials"}
    assert dict(client.claims) == {"sub": "1302", "email": "test@example.com", "name": "Test User"}


def test_authenticate_accepts_only_the_right_secret() -> None:
    registry = Registry.from_toml(entry("svc"))
    assert isinstance(registry.authenticate("svc", "s3cret"), RegisteredClient)
    assert registry.authenticate("svc", "wrong") is None
    assert registry.authenticate("nobody", "s3cret") is None


def test_secret_digest_is_not_in_repr() -> None:
    registry = Registry.from_toml(entry("svc"))
    client = registry.get("svc")
    assert SECRET_HEX not in repr(client)
    assert repr(bytes.fromhex(SECRET_HEX)) not in repr(client)
    assert "svc" in repr(registry)


def test_merged_keeps_existing_clients_and_adds_new_ones() -> None:
    merged = Registry.from_toml(entry(DEMO_CLIENT_ID)).merged(Registry.demo())
    # The file's own demo-client wins over the built-in one.
    assert merged.authenticate(DEMO_CLIENT_ID, "s3cret") is not None
    assert merged.authenticate(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET) is None
    assert len(Registry.from_toml(entry("svc")).merged(Registry.demo())) == 2


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            entry("svc", secret_sha256="<omit>"),
            "clients[0] (client_id 'svc'): missing field 'secret_sha256'",
        ),
        (entry("svc", scopes="<omit>"), "clients[0] (client_id 'svc'): missing field 'scopes'"),
        (entry("svc") + entry("svc"), "clients[1] (client_id 'svc'): duplicate client_id"),
        (
            entry("svc", secret_sha256='"xyz"'),
            "clients[0] (client_id 'svc'): secret_sha256 must be",
        ),
        (entry("svc", secret_sha256=f'"{SECRET_HEX[:-1]}g"'), "(client_id 'svc'): secret_sha256"),
        (entry("svc", scopes='["open id"]'), "(client_id 'svc'): invalid scope-token"),
        (entry("svc", scopes='"openid"'), "(client_id 'svc'): scopes must be a list of strings"),
        (entry("svc", grant_types='["password"]'), "(client_id 'svc'): unknown grant type"),
        (entry("svc", colour='"blue"'), "(client_id 'svc'): unknown field(s) ['colour']"),
        (entry(""), "clients[0]: client_id must be a non-empty"),
        (
            entry("a") + entry("b").replace('sub = "42"', 'name = "x"'),
            "clients[1] (client_id 'b'): claims.sub",
        ),
        (
            entry("svc").replace('sub = "42"', 'sub = "42"\niss = "me"'),
            "'svc'): claims ['iss'] are set by",
        ),
        (entry("svc").replace('sub = "42"', 'sub = "42"\nborn = 1979-05-27'), "claims.born: date"),
        # JSON has no NaN or Infinity: a token carrying one would not be valid JSON.
        (
            entry("svc").replace('sub = "42"', 'sub = "42"\nweight = nan'),
            "(client_id 'svc'): claims.weight: nan",
        ),
        (
            entry("svc").replace('sub = "42"', 'sub = "42"\nlimits = [1.5, -inf]'),
            "(client_id 'svc'): claims.limits[1]: -inf",
        ),
        (
            entry("svc").replace('sub = "42"', 'sub = "42"\n[clients.claims.x]\ny = +inf'),
            "claims.x.y: inf",
        ),
        ("clients = []", "expected at least one [[clients]] entry"),
        ("", "expected at least one [[clients]] entry"),
        ("[[clients]]\nclient_id = ", "not valid TOML"),
        ("[server]\nport = 1\n" + entry("svc"), "unknown top-level key(s) ['server']"),
    ],
)
def test_bad_registries_fail_with_a_message_naming_the_entry(document: str, message: str) -> None:
    with pytest.raises(RegistryError) as raised:
        Registry.from_toml(document, source="clients.toml")
    assert message in str(raised.value)
    assert str(raised.value).startswith("clients.toml")


def test_unreadable_file_is_a_registry_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="cannot read"):
        Registry.from_file(tmp_path / "missing.toml")


def test_duplicate_ids_are_refused_when_building_from_clients() -> None:
    client = Registry.demo().get(DEMO_CLIENT_ID)
    assert client is not None
    with pytest.raises(RegistryError, match="duplicate"):
        Registry([client, client])
