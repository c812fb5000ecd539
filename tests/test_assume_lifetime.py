"""A token response without `expires_in` (RFC 6749 §5.1: RECOMMENDED, not required): refused by
default with an error naming the option, used for `assume_lifetime` seconds when the caller
says so; a 401 from a resource server still forces a new token through BearerAuth."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from plain_oauth_server import PlainServer, start_plain_server
from resource_server import start_resource_server
from screening_eagle_id import (
    AsyncTokenClient,
    BearerAuth,
    ClientCredentials,
    ConfigurationError,
    TokenClient,
    TokenError,
    _cli,
)
from screening_eagle_id._entry import MAX_LIFETIME
from test_client import FakeClock


@pytest.fixture
def plain() -> Iterator[PlainServer]:
    with start_plain_server("/token", expires_in=None) as server:
        yield server


def _client(server: PlainServer, **options: object) -> TokenClient:
    return TokenClient(
        server.url,
        ClientCredentials(server.client_id, server.client_secret),
        scope="read",
        token_path=server.path,
        **options,  # type: ignore[arg-type]
    )


def test_refused_by_default_with_an_error_naming_the_option(plain: PlainServer) -> None:
    with _client(plain) as tc, pytest.raises(TokenError) as caught:
        tc.get_token()
    message = str(caught.value)
    assert "missing expires_in" in message
    assert "assume_lifetime" in message
    assert "--assume-lifetime" in message
    assert plain.requests == 1  # a 200 that is unusable is not retried


def test_the_token_is_cached_for_the_assumed_lifetime(plain: PlainServer) -> None:
    clock = FakeClock()
    with _client(plain, assume_lifetime=600, clock=clock) as tc:
        token = tc.get_token()
        assert (token.expires_at - token.issued_at).total_seconds() == 600
        clock.advance(400)  # before the refresh-ahead point (75-90 %)
        assert tc.get_token() is token
        assert plain.requests == 1
        clock.advance(200)  # past the hard expiry
        assert tc.get_token() is not token
        assert plain.requests == 2


@pytest.mark.parametrize("assumed", [None, 120])
def test_a_null_expires_in_is_a_missing_one(assumed: int | None) -> None:
    def endpoint(request: httpx.Request) -> httpx.Response:
        body = {"access_token": "t", "token_type": "Bearer", "expires_in": None}
        return httpx.Response(200, json=body)

    with TokenClient(
        "https://id.example.com",
        ClientCredentials("i", "s"),
        scope="openid",
        http_client=httpx.Client(transport=httpx.MockTransport(endpoint)),
        assume_lifetime=assumed,
    ) as tc:
        if assumed is None:
            with pytest.raises(TokenError, match="assume_lifetime=SECONDS"):
                tc.get_token()
        else:
            token = tc.get_token()
            assert (token.expires_at - token.issued_at).total_seconds() == assumed


def test_the_assumed_lifetime_only_fills_a_missing_expires_in() -> None:
    with (
        start_plain_server("/token", expires_in=60) as server,
        _client(server, assume_lifetime=3600) as tc,
    ):
        token = tc.get_token()
    assert (token.expires_at - token.issued_at).total_seconds() == 60


def test_the_async_client_assumes_it_too(plain: PlainServer) -> None:
    async def main() -> float:
        async with AsyncTokenClient(
            plain.url,
            ClientCredentials(plain.client_id, plain.client_secret),
            scope="read",
            token_path="/token",
            assume_lifetime=90,
        ) as tc:
            token = await tc.get_token()
        return (token.expires_at - token.issued_at).total_seconds()

    assert asyncio.run(main()) == 90


def test_a_401_from_the_resource_server_still_gets_a_new_token(plain: PlainServer) -> None:
    with (
        _client(plain, assume_lifetime=3600) as tc,
        start_resource_server(reject_first=1) as api,
        httpx.Client(auth=BearerAuth(tc)) as http,
    ):
        assert http.get(api.url + "/things").status_code == 200
        first, second = (authorization for authorization, _ in api.seen)
    assert first != second
    assert plain.requests == 2


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "60", MAX_LIFETIME + 1, 10**100])
def test_a_bad_assumed_lifetime_is_a_clear_configuration_error(value: object) -> None:
    with pytest.raises(ConfigurationError, match="assume_lifetime must be whole seconds"):
        TokenClient(
            "https://id.example.com",
            ClientCredentials("i", "s"),
            scope="openid",
            assume_lifetime=value,  # type: ignore[arg-type]
        )


def test_eagle_id_token_assume_lifetime(
    plain: PlainServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EAGLE_ID_CLIENT_ID", plain.client_id)
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", plain.client_secret)
    argv = ["token", "--url", plain.url, "--token-path", "/token", "--scope", "read"]
    assert _cli.main(argv, out=io.StringIO()) == 1
    assert "--assume-lifetime" in capsys.readouterr().err
    out = io.StringIO()
    assert _cli.main([*argv, "--assume-lifetime", "300"], out=out) == 0
    again = io.StringIO()
    assert _cli.main(argv, out=again) == 0  # cached: no lifetime needed to serve it
    assert again.getvalue() == out.getvalue()
    assert plain.requests == 2
    capsys.readouterr()
    for bad in ("abc", "-5", "0", str(MAX_LIFETIME + 1)):
        try:
            status = _cli.main([*argv, "--assume-lifetime", bad], out=io.StringIO())
        except SystemExit as exited:  # argparse's usage error
            status = exited.code  # type: ignore[assignment]
        assert status == 2
        assert "assume-lifetime" in capsys.readouterr().err.replace("_", "-")
    assert plain.requests == 2


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.integers(), st.floats(allow_nan=True), st.text(max_size=5), st.none()))
def test_an_assumed_lifetime_is_whole_seconds_within_bounds_or_refused(value: object) -> None:
    def build() -> TokenClient:
        return TokenClient(
            "https://id.example.com",
            ClientCredentials("i", "s"),
            scope="openid",
            assume_lifetime=value,  # type: ignore[arg-type]
        )

    if value is None or (type(value) is int and 1 <= value <= MAX_LIFETIME):
        build()
        return
    with pytest.raises(ConfigurationError, match="assume_lifetime must be whole seconds") as caught:
        build()
    assert len(str(caught.value)) <= 200  # an absurd value is not echoed whole


def test_the_lifetime_comes_from_the_environment_or_the_urls_profile(
    plain: PlainServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EAGLE_ID_ASSUME_LIFETIME", "240")
    with _client(plain) as tc:
        token = tc.get_token()
    assert (token.expires_at - token.issued_at).total_seconds() == 240
    monkeypatch.setenv("EAGLE_ID_ASSUME_LIFETIME", "4h")
    with pytest.raises(ConfigurationError, match=r"^EAGLE_ID_ASSUME_LIFETIME must be whole"):
        _client(plain)
    monkeypatch.delenv("EAGLE_ID_ASSUME_LIFETIME")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    path = tmp_path / "eagle-id" / "credentials.toml"
    path.parent.mkdir()
    path.write_text(
        f'[default]\nurl = "{plain.url}"\ntoken_path = "/token"\nassume_lifetime = 180\n'
        f'client_id = "{plain.client_id}"\nclient_secret = "{plain.client_secret}"\n'
        'scope = "read"\n'
    )
    path.chmod(0o600)
    with TokenClient() as tc:
        token = tc.get_token()
    assert (token.expires_at - token.issued_at).total_seconds() == 180
    status = _cli.main(["token"], out=io.StringIO())  # the command line reads it too
    assert status == 0
    path.write_text(path.read_text().replace("180", '"180"'))
    with pytest.raises(ConfigurationError, match=r"assume_lifetime of profile .* not an integer"):
        TokenClient()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "access_token": st.one_of(st.just("abc.def"), JSON),
            "token_type": st.one_of(st.just("Bearer"), JSON),
            "scope": st.one_of(st.just("openid"), JSON),
            "refresh_token": JSON,
        },
    ),
)
def test_any_body_without_expires_in_is_a_token_or_a_token_error(body: dict[str, object]) -> None:
    def endpoint(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    with TokenClient(
        "https://id.example.com",
        ClientCredentials("i", "s"),
        scope="openid",
        http_client=httpx.Client(transport=httpx.MockTransport(endpoint)),
        assume_lifetime=60,
    ) as tc:
        try:
            token = tc.get_token()
        except TokenError:
            return
    assert (token.expires_at - token.issued_at).total_seconds() == 60
