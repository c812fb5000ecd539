"""ClientCredentials, the Basic header (RFC 6749 §2.3.1), env and profile resolution."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import attrs
import pytest
from screening_eagle_id import ClientCredentials, ConfigurationError, TokenClient
from screening_eagle_id._credentials import (
    basic_value,
    credentials_path,
    load_profile,
    resolve_config,
)

SECRET = "SENTINEL-SECRET-7f3a"


def _decoded(value: str) -> str:
    return base64.b64decode(value).decode()


def test_repr_and_str_hide_the_secret() -> None:
    creds = ClientCredentials("client-1", SECRET)
    assert SECRET not in repr(creds)
    assert SECRET not in str(creds)
    assert "client-1" in repr(creds)


def test_credentials_are_frozen() -> None:
    creds = ClientCredentials("client-1", SECRET)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        creds.client_secret = "x"  # type: ignore[misc]


@pytest.mark.parametrize(("client_id", "secret"), [("", "s"), ("id", "")])
def test_empty_parts_are_refused(client_id: str, secret: str) -> None:
    with pytest.raises(ConfigurationError, match="empty"):
        ClientCredentials(client_id, secret)


def test_basic_form_urlencodes_before_base64() -> None:
    value = ClientCredentials("my client:1", "p@ss:w/rd +100% é~").basic_value()
    assert _decoded(value) == "my+client%3A1:p%40ss%3Aw%2Frd+%2B100%25+%C3%A9~"


def test_basic_leaves_unreserved_characters_alone() -> None:
    assert _decoded(basic_value("abc-XYZ_09.~", "s")) == "abc-XYZ_09.~:s"


def test_basic_raw_does_not_encode() -> None:
    value = basic_value("my client:1", "p@ss é", "basic_raw")
    assert _decoded(value) == "my client:1:p@ss é"


def test_unknown_client_auth_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="client_auth"):
        basic_value("a", "b", "digest")  # type: ignore[arg-type]


# --- environment --------------------------------------------------------------------------


def test_from_env() -> None:
    env = {"EAGLE_ID_CLIENT_ID": "env-id", "EAGLE_ID_CLIENT_SECRET": SECRET}
    assert ClientCredentials.from_env(env) == ClientCredentials("env-id", SECRET)


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({}, "EAGLE_ID_CLIENT_ID and EAGLE_ID_CLIENT_SECRET"),
        ({"EAGLE_ID_CLIENT_ID": "x"}, "EAGLE_ID_CLIENT_SECRET"),
        ({"EAGLE_ID_CLIENT_SECRET": "x"}, "EAGLE_ID_CLIENT_ID"),
    ],
)
def test_from_env_names_what_is_missing(env: dict[str, str], missing: str) -> None:
    with pytest.raises(ConfigurationError, match=f"^{missing} not set"):
        ClientCredentials.from_env(env)


# --- profile file -------------------------------------------------------------------------

PROFILES = f"""
[default]
url = "https://id.example.com"
client_id = "default-id"
client_secret = "{SECRET}"
scope = "openid email"

[prod]
client_id = "prod-id"
client_secret = "prod-secret"

[broken]
client_id = "no-secret"

[typed]
client_id = 12
client_secret = "x"
"""


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("EAGLE_ID_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    path = tmp_path / "eagle-id" / "credentials.toml"
    path.parent.mkdir()
    path.write_text(PROFILES, encoding="utf-8")
    path.chmod(0o600)
    return path


def test_credentials_path_follows_xdg(tmp_path: Path) -> None:
    assert credentials_path({"XDG_CONFIG_HOME": str(tmp_path)}) == (
        tmp_path / "eagle-id" / "credentials.toml"
    )
    assert credentials_path({}) == Path.home() / ".config" / "eagle-id" / "credentials.toml"


def test_from_profile_reads_the_default_profile(config_home: Path) -> None:
    assert ClientCredentials.from_profile() == ClientCredentials("default-id", SECRET)
    profile = load_profile()
    assert (profile.url, profile.scope) == ("https://id.example.com", "openid email")


def test_from_profile_by_name_and_by_env(
    config_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ClientCredentials.from_profile("prod").client_id == "prod-id"
    monkeypatch.setenv("EAGLE_ID_PROFILE", "prod")
    assert ClientCredentials.from_profile().client_id == "prod-id"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644, 0o610])
def test_a_group_or_world_accessible_file_is_refused(config_home: Path, mode: int) -> None:
    config_home.chmod(mode)
    with pytest.raises(ConfigurationError, match="chmod 600") as info:
        ClientCredentials.from_profile()
    assert str(config_home) in str(info.value)
    assert f"{mode:03o}" in str(info.value)
    assert SECRET not in str(info.value)


def test_owner_only_modes_are_accepted(config_home: Path) -> None:
    config_home.chmod(0o400)
    assert ClientCredentials.from_profile().client_id == "default-id"


def test_missing_file_names_the_path(config_home: Path) -> None:
    config_home.unlink()
    with pytest.raises(ConfigurationError, match="no credentials file") as info:
        ClientCredentials.from_profile()
    assert str(config_home) in str(info.value)


def test_missing_profile_lists_the_profiles(config_home: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"no profile 'staging'.*broken, default, prod"):
        ClientCredentials.from_profile("staging")


def test_incomplete_profile_names_the_missing_key(config_home: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"profile 'broken' .* has no client_secret"):
        ClientCredentials.from_profile("broken")


def test_ill_typed_profile_value(config_home: Path) -> None:
    with pytest.raises(ConfigurationError, match="client_id of profile 'typed'"):
        ClientCredentials.from_profile("typed")


def test_invalid_toml(config_home: Path) -> None:
    config_home.write_text("[default\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        ClientCredentials.from_profile()


# --- resolution order: arguments -> environment -> profile --------------------------------


def test_arguments_win(config_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EAGLE_ID_CLIENT_ID", "env-id")
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", "env-secret")
    monkeypatch.setenv("EAGLE_ID_URL", "https://env.example.com")
    config = resolve_config("https://arg.example.com", ClientCredentials("arg", "s"), "inspect")
    assert (config.url, config.credentials.client_id, config.scope) == (
        "https://arg.example.com",
        "arg",
        "inspect",
    )


def test_environment_before_profile(config_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EAGLE_ID_CLIENT_ID", "env-id")
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", "env-secret")
    monkeypatch.setenv("EAGLE_ID_SCOPE", "inspect")
    config = resolve_config(None, None, None)
    assert config.credentials == ClientCredentials("env-id", "env-secret")
    assert config.scope == "inspect"
    assert config.url == "https://id.example.com"  # not in the environment: from the profile


def test_half_set_environment_is_an_error_not_a_silent_fallback(
    config_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EAGLE_ID_CLIENT_ID", "env-id")
    with pytest.raises(ConfigurationError, match="EAGLE_ID_CLIENT_SECRET not set"):
        resolve_config(None, None, None)


def test_explicit_profile_skips_the_environment(
    config_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EAGLE_ID_CLIENT_ID", "env-id")
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", "env-secret")
    config = resolve_config("https://x.example.com", None, "openid", profile="prod")
    assert config.credentials.client_id == "prod-id"


def test_token_client_resolves_from_the_profile(config_home: Path) -> None:
    tokens = TokenClient()
    assert (tokens.base_url, tokens.client_id, tokens.scope) == (
        "https://id.example.com",
        "default-id",
        {"openid", "email"},
    )


def test_nothing_found_says_where_it_looked(config_home: Path) -> None:
    config_home.unlink()
    with pytest.raises(ConfigurationError) as info:
        TokenClient(scope="openid")
    message = str(info.value)
    assert "no client credentials found" in message
    assert "EAGLE_ID_CLIENT_ID/EAGLE_ID_CLIENT_SECRET not set" in message
    assert str(config_home) in message


def test_missing_scope_says_where_it_looked(config_home: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"no scope found.*EAGLE_ID_SCOPE not set"):
        resolve_config(
            "https://id.example.com",
            ClientCredentials("a", "b"),
            None,
            environ={"XDG_CONFIG_HOME": "/nonexistent"},
        )
