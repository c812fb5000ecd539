"""Settings: validated at construction, the key never shown."""

from __future__ import annotations

import secrets

import pytest
from screening_eagle_id_server import DEMO_CLIENT_ID, Registry, Settings


def test_repr_hides_the_signing_key() -> None:
    key = secrets.token_bytes(32)
    text = repr(Settings(signing_key=key, registry=Registry.demo()))
    assert key.hex() not in text
    assert repr(key) not in text
    assert "token_lifetime=604800" in text


def test_defaults() -> None:
    settings = Settings(signing_key=b"k" * 32, registry=Registry.demo())
    assert settings.token_lifetime == 604_800
    assert settings.max_body_bytes == 8 * 1024
    assert settings.issuer == "Screening Eagle ID"


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Settings(signing_key=b"k" * 31, registry=Registry.demo())


@pytest.mark.parametrize("name", ["token_lifetime", "refresh_token_lifetime", "max_body_bytes"])
@pytest.mark.parametrize("value", [0, -1, True, 1.5])
def test_non_positive_integers_are_refused(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=name):
        Settings(signing_key=b"k" * 32, registry=Registry.demo(), **{name: value})  # type: ignore[arg-type]


def test_dev_settings_have_a_fresh_key_and_the_demo_client() -> None:
    first, second = Settings.dev(), Settings.dev()
    assert first.signing_key != second.signing_key
    assert DEMO_CLIENT_ID in first.registry
