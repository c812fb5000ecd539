"""Settings rules (`_config.py`): the canonical token URL and how messages name options."""

from __future__ import annotations

import pytest
from screening_eagle_id import ConfigurationError, InsecureTransportError
from screening_eagle_id._config import API_NAMES, CLI_NAMES, canonical_url


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("https://ID.Example.com", "https://id.example.com"),
        ("  https://id.example.com/  ", "https://id.example.com"),
        ("HTTPS://id.example.com:443", "https://id.example.com"),
        ("https://id.example.com:8443/", "https://id.example.com:8443"),
        ("https://id.example.com:", "https://id.example.com"),
        ("https://id.example.com/api/id/v1/auth/token", "https://id.example.com"),
        ("https://id.example.com/api/id/v1/auth/token//", "https://id.example.com"),
        ("https://id.example.com/tenant/api/id/v1/auth/token", "https://id.example.com/tenant"),
        ("https://id.example.com/tenant/", "https://id.example.com/tenant"),
        ("http://LOCALHOST:80/", "http://localhost"),
        ("http://[::1]:8000/api/id/v1/auth/token", "http://[::1]:8000"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ],
)
def test_canonical_forms(given: str, canonical: str) -> None:
    assert canonical_url(given) == canonical
    assert canonical_url(canonical) == canonical  # idempotent


@pytest.mark.parametrize(
    "url",
    [
        "x",
        "",
        "https://",
        "ftp://id.example.com",
        "https://id.example.com/?a=1",
        "https://id.example.com/?",
        "https://id.example.com#top",
        "https://id.example.com:99999",
        "https://id.example.com:1:2",
        "https://id.example.com:\uff18\uff10",  # full-width digits
        "https://[::1",
        "https://[::1]x",
    ],
)
def test_refused(url: str) -> None:
    with pytest.raises(ConfigurationError):
        canonical_url(url)


@pytest.mark.parametrize(
    "url", ["https://me:SENTINEL-PW@id.example.com", "https//me:SENTINEL-PW@id.example.com"]
)
def test_credentials_in_the_url_are_refused_and_never_echoed(url: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        canonical_url(url)
    assert "SENTINEL-PW" not in str(info.value)


def test_plain_http_names_the_option_of_the_caller() -> None:
    with pytest.raises(InsecureTransportError, match=r"allow_insecure_http=True"):
        canonical_url("http://id.example.com", names=API_NAMES)
    with pytest.raises(InsecureTransportError, match=r"pass --allow-insecure-http") as info:
        canonical_url("http://id.example.com", names=CLI_NAMES)
    assert "allow_insecure_http" not in str(info.value)
    assert canonical_url("http://id.example.com", allow_insecure_http=True) == (
        "http://id.example.com"
    )
