"""HS256 JWT minting and the shape of the token response (checked with PyJWT)."""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Any

import jwt
import pytest
from screening_eagle_id_server import DEMO_CLIENT_ID, Registry, Settings
from screening_eagle_id_server._tokens import TokenIssuer, TokenSigner

KEY = secrets.token_bytes(32)
NOW = 1_715_861_418


def decode(token: str, **options: Any) -> dict[str, Any]:
    return jwt.decode(
        token,
        KEY,
        algorithms=["HS256"],
        audience=DEMO_CLIENT_ID,
        issuer="Screening Eagle ID",
        options={"verify_exp": False, **options},
    )


@pytest.fixture
def issuer() -> TokenIssuer:
    settings = Settings(signing_key=KEY, registry=Registry.demo(), clock=lambda: NOW + 0.9)
    return TokenIssuer(settings)


def issue(issuer: TokenIssuer, scope: str) -> dict[str, Any]:
    client = Registry.demo().get(DEMO_CLIENT_ID)
    assert client is not None
    body: dict[str, Any] = json.loads(issuer.issue(client, scope.split()))
    return body


def test_signer_output_verifies_with_pyjwt_and_has_a_standard_header() -> None:
    token = TokenSigner(KEY).sign({"a": 1, "ü": "✓"})
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    assert jwt.decode(token, KEY, algorithms=["HS256"]) == {"a": 1, "ü": "✓"}


def test_signer_with_another_key_does_not_verify() -> None:
    token = TokenSigner(secrets.token_bytes(32)).sign({"a": 1})
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, KEY, algorithms=["HS256"])


def test_signer_repr_hides_the_key() -> None:
    assert KEY.hex() not in repr(TokenSigner(KEY))
    assert "hidden" in repr(TokenSigner(KEY))


def test_access_token_claims_are_shaped_like_the_seed(issuer: TokenIssuer) -> None:
    body = issue(issuer, "inspect email")
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "inspect email"
    assert body["expires_in"] == 604_800
    claims = decode(body["access_token"])
    assert list(claims)[:7] == ["aud", "exp", "jti", "iat", "iss", "sub", "scp"]
    assert claims["iat"] == NOW
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    assert claims["sub"] == "1302"
    assert claims["scp"] == "inspect email"
    # The client's claims travel in the access token.
    assert claims["email"] == "test@example.com"
    assert claims["name"] == "Test User"


def test_jti_is_unique(issuer: TokenIssuer) -> None:
    ids = {decode(issue(issuer, "inspect")["access_token"])["jti"] for _ in range(50)}
    assert len(ids) == 50
    for jti in ids:
        parsed = uuid.UUID(jti)
        assert str(parsed) == jti
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_no_id_token_without_openid_and_no_refresh_token_without_offline(
    issuer: TokenIssuer,
) -> None:
    body = issue(issuer, "inspect email profile")
    assert "id_token" not in body
    assert "refresh_token" not in body


@pytest.mark.parametrize(
    ("scope", "present", "absent"),
    [
        ("openid", set(), {"email", "name", "email_verified"}),
        ("openid email", {"email"}, {"name"}),
        ("openid profile", {"name"}, {"email"}),
        ("openid email profile", {"email", "name"}, set()),
    ],
)
def test_id_token_claims_are_filtered_by_scope(
    issuer: TokenIssuer, scope: str, present: set[str], absent: set[str]
) -> None:
    claims = decode(issue(issuer, scope)["id_token"])
    assert {"aud", "exp", "iat", "iss", "sub"} <= set(claims)
    assert claims["sub"] == "1302"
    assert present <= set(claims)
    assert not absent & set(claims)
    assert "scp" not in claims


def test_refresh_token_only_with_offline(issuer: TokenIssuer) -> None:
    body = issue(issuer, "offline inspect")
    claims = decode(body["refresh_token"])
    assert claims["scp"] == "offline inspect"
    assert claims["exp"] - claims["iat"] == 15_552_000
    assert claims["jti"] != decode(body["access_token"])["jti"]


def test_lifetime_is_configurable() -> None:
    settings = Settings(
        signing_key=KEY, registry=Registry.demo(), clock=lambda: NOW, token_lifetime=60
    )
    body = issue(TokenIssuer(settings), "openid")
    assert body["expires_in"] == 60
    for name in ("access_token", "id_token"):
        claims = decode(body[name])
        assert claims["exp"] - claims["iat"] == 60


def test_a_client_with_the_same_id_but_other_claims_gets_its_own_claims(
    issuer: TokenIssuer,
) -> None:
    issue(issuer, "openid email")
    other = Registry.from_toml(
        f"""[[clients]]
client_id = "{DEMO_CLIENT_ID}"
secret_sha256 = "{"0" * 64}"
scopes = ["openid", "email"]
grant_types = ["client_credentials"]
[clients.claims]
sub = "9"
email = "other@example.com"
"""
    ).get(DEMO_CLIENT_ID)
    assert other is not None
    body = json.loads(issuer.issue(other, ["openid", "email"]))
    assert decode(body["id_token"])["email"] == "other@example.com"
    assert decode(body["access_token"])["sub"] == "9"


def test_an_id_token_is_the_same_within_a_second_and_the_access_token_never_is() -> None:
    clock = [NOW + 0.1]
    settings = Settings(signing_key=KEY, registry=Registry.demo(), clock=lambda: clock[0])
    issuer = TokenIssuer(settings)
    first = issue(issuer, "openid email inspect")
    clock[0] = NOW + 0.9
    second = issue(issuer, "openid email inspect")
    other_scopes = issue(issuer, "openid profile inspect")
    clock[0] = NOW + 1.0
    next_second = issue(issuer, "openid email inspect")
    # An ID token has no jti: the same claims within the same second are the same token ...
    assert first["id_token"] == second["id_token"]
    assert decode(first["id_token"])["iat"] == NOW
    # ... but not for other released claims, nor in the next second.
    assert other_scopes["id_token"] != first["id_token"]
    assert decode(next_second["id_token"])["iat"] == NOW + 1
    # Every access token is new (its jti).
    access = [t["access_token"] for t in (first, second, other_scopes, next_second)]
    assert len(set(access)) == 4


def test_token_ids_are_unique_across_threads() -> None:
    import threading

    from screening_eagle_id_server._tokens import _uuid4

    ids: list[list[str]] = [[] for _ in range(4)]

    def draw(out: list[str]) -> None:
        out.extend(_uuid4() for _ in range(3000))

    threads = [threading.Thread(target=draw, args=(out,)) for out in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [i for out in ids for i in out]
    assert len(set(every)) == len(every) == 12_000
    assert all(uuid.UUID(i).version == 4 for i in every[:100])
