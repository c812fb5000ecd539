"""`token_path`: the client and `eagle-id token` against an OAuth 2.0 server at any path, and
against one nobody here wrote (django-oauth-toolkit, token endpoint at `/o/token/`)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oauth_toolkit_server import CLIENT_ID, CLIENT_SECRET
from oauth_toolkit_server import TOKEN_PATH as DOT_PATH
from oauth_toolkit_server import serve as serve_toolkit
from plain_oauth_server import PlainServer, start_plain_server
from screening_eagle_id import (
    ClientCredentials,
    ConfigurationError,
    EndpointNotFoundError,
    TokenClient,
    _cli,
)
from screening_eagle_id._credentials import load_profile
from screening_eagle_id._entry import cache_key
from screening_eagle_id._filecache import FileCache
from screening_eagle_id._quick import cached_entry

SPEC_PATH = "/api/id/v1/auth/token"


@pytest.fixture
def plain() -> Iterator[PlainServer]:
    with start_plain_server("/oauth2/token") as server:
        yield server


def _creds(server: PlainServer) -> ClientCredentials:
    return ClientCredentials(server.client_id, server.client_secret)


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return _cli.main(list(argv), out=out), out.getvalue()


def test_a_client_gets_tokens_from_a_server_at_any_path(plain: PlainServer) -> None:
    with TokenClient(plain.url, _creds(plain), scope="read", token_path="/oauth2/token") as tc:
        assert tc.url == plain.url + "/oauth2/token"
        assert (tc.base_url, tc.token_path) == (plain.url, "/oauth2/token")
        first = tc.get_token()
        assert tc.get_token() is first
    assert plain.requests == 1


def test_the_full_token_url_with_its_path_is_the_same_endpoint(plain: PlainServer) -> None:
    full = TokenClient(
        plain.url + "/oauth2/token", _creds(plain), scope="read", token_path="/oauth2/token"
    )
    base = TokenClient(plain.url, _creds(plain), scope="read", token_path="/oauth2/token")
    assert (full.url, full.base_url, full.cache_key) == (base.url, base.base_url, base.cache_key)
    with full:
        full.get_token()
    assert plain.requests == 1


def test_without_the_path_the_404_says_what_was_requested(plain: PlainServer) -> None:
    with (
        TokenClient(plain.url + "/oauth2/token", _creds(plain), scope="read") as tc,
        pytest.raises(EndpointNotFoundError) as caught,
    ):
        tc.get_token()
    message = str(caught.value)
    assert f"from {plain.url}/oauth2/token{SPEC_PATH}" in message
    assert "token path" in message
    assert plain.client_secret not in message


def test_the_token_path_is_part_of_the_cache_key() -> None:
    creds = ClientCredentials("id", "secret")
    url = "https://id.example.com"
    default = TokenClient(url, creds, scope="openid")
    explicit = TokenClient(url, creds, scope="openid", token_path=SPEC_PATH)
    other = TokenClient(url, creds, scope="openid", token_path="/token")
    # The spec's path keeps the key clients had before token paths existed.
    assert default.cache_key == explicit.cache_key == cache_key(url, "id", ["openid"])
    assert other.cache_key != default.cache_key
    assert other.cache_key == cache_key(url, "id", ["openid"], "/token")


@pytest.mark.parametrize(
    "path",
    [
        "token",
        "",
        "//evil.example.com/token",
        "/token?x=1",
        "/token#x",
        "/a/../token",
        "/a/%2E%2e/token",
        "/./token",
        "/to ken",
        "/token\n",
        "/token\x00",
        "/tøken",
        "/" + "a" * 1024,
    ],
)
def test_a_bad_token_path_is_a_clear_configuration_error(path: str) -> None:
    with pytest.raises(ConfigurationError, match="token_path"):
        TokenClient(
            "https://id.example.com", ClientCredentials("i", "s"), scope="o", token_path=path
        )


def test_a_token_path_that_is_no_string_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="token_path must be a string"):
        TokenClient(
            "https://id.example.com", ClientCredentials("i", "s"), scope="o", token_path=b"/t"
        )  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.text(max_size=40),
        st.lists(st.text(alphabet="ab.%2eE/?#~!$&'()*+,;=:@- \t", max_size=6), max_size=5).map(
            lambda parts: "/" + "/".join(parts)
        ),
    )
)
def test_a_token_path_is_refused_or_requested_exactly(path: str) -> None:
    seen: list[httpx.Request] = []

    def endpoint(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"access_token": "t", "token_type": "Bearer"})

    try:
        tc = TokenClient(
            "https://id.example.com/base",
            ClientCredentials("i", "s"),
            scope="openid",
            token_path=path,
            http_client=httpx.Client(transport=httpx.MockTransport(endpoint)),
            assume_lifetime=60,
        )
    except ConfigurationError:
        return
    tc.get_token()
    assert seen[0].url.raw_path.decode("ascii") == "/base" + path
    assert str(seen[0].url) == tc.url


def test_the_token_path_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EAGLE_ID_TOKEN_PATH", "/oauth2/token")
    tc = TokenClient("https://id.example.com", ClientCredentials("i", "s"), scope="openid")
    assert tc.url == "https://id.example.com/oauth2/token"
    assert TokenClient(
        "https://id.example.com", ClientCredentials("i", "s"), scope="x", token_path="/t"
    ).url.endswith("/t")  # the argument first


def test_a_profiles_token_path_goes_with_its_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    path = tmp_path / "eagle-id" / "credentials.toml"
    path.parent.mkdir()
    path.write_text(
        '[default]\nurl = "https://idp.example.com"\ntoken_path = "/connect/token"\n'
        'client_id = "i"\nclient_secret = "s"\nscope = "openid"\n'
    )
    path.chmod(0o600)
    assert TokenClient().url == "https://idp.example.com/connect/token"
    assert load_profile().token_path == "/connect/token"
    # Another URL (an argument) does not take the profile's path.
    assert TokenClient("https://other.example.com").url == f"https://other.example.com{SPEC_PATH}"


def test_eagle_id_token_takes_a_token_path(
    plain: PlainServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EAGLE_ID_CLIENT_ID", plain.client_id)
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", plain.client_secret)
    argv = ["--url", plain.url, "--scope", "read", "--token-path", "/oauth2/token"]
    status, first = run("token", *argv)
    assert status == 0
    assert first.strip()
    status, again = run("token", *argv)  # the cached token, from the quick path
    assert (status, again) == (0, first)
    assert plain.requests == 1
    assert run("token", "--url", plain.url, "--scope", "read")[0] == 1  # another endpoint
    assert run("cache", "clear", *argv)[1].startswith("removed the cached token")


def test_eagle_id_token_path_is_checked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EAGLE_ID_CLIENT_ID", "i")
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", "s")
    monkeypatch.setenv("EAGLE_ID_SCOPE", "openid")
    status, _ = run("token", "--url", "https://x.example.com", "--token-path", "/a/../b")
    assert status == 2
    assert "--token-path must not have '.' or '..' segments" in capsys.readouterr().err


@pytest.fixture(scope="module")
def toolkit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_toolkit(tmp_path_factory.mktemp("django-oauth-toolkit")) as url:
        yield url


@pytest.mark.slow
def test_a_token_from_django_oauth_toolkit(toolkit: str) -> None:
    creds = ClientCredentials(CLIENT_ID, CLIENT_SECRET)
    with TokenClient(toolkit, creds, scope="openid email", token_path=DOT_PATH) as tc:
        token = tc.get_token()
    assert token.access_token
    assert token.scope == {"openid", "email"}
    with (
        TokenClient(toolkit, creds, scope="openid") as tc,
        pytest.raises(EndpointNotFoundError),  # the spec's path is not there
    ):
        tc.get_token()


@pytest.mark.slow
def test_eagle_id_token_from_django_oauth_toolkit(
    toolkit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EAGLE_ID_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", CLIENT_SECRET)
    argv = ["token", "--url", toolkit + DOT_PATH, "--token-path", DOT_PATH, "--scope", "openid"]
    status, first = run(*argv)
    assert status == 0
    assert first.strip()
    assert run(*argv) == (0, first)  # cached: django-oauth-toolkit issues a new one per request


@pytest.mark.slow
def test_eagle_id_token_says_once_what_it_waits_for(tmp_path: Path) -> None:
    # The first request is accepted and never answered (until its 10 s timeout): after a few
    # seconds the command says so, once, then the retry gets the token.
    with start_plain_server("/token", hang=1) as server:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "EAGLE_ID_CLIENT_ID": server.client_id,
            "EAGLE_ID_CLIENT_SECRET": server.client_secret,
        }
        argv = ["token", "--url", server.url, "--token-path", "/token", "--scope", "read"]
        done = subprocess.run(
            [str(Path(sys.executable).parent / "eagle-id"), *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"eagle-id: still waiting for {server.url}/token: no answer yet")
    assert "try 1 of at most 4" in line
    assert server.client_secret not in done.stderr
    assert server.requests == 1  # the hung request is not counted: it was never answered


def test_a_bad_token_path_names_where_it_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    creds = ClientCredentials("i", "s")
    monkeypatch.setenv("EAGLE_ID_TOKEN_PATH", "/a?b")
    with pytest.raises(ConfigurationError, match=r"^EAGLE_ID_TOKEN_PATH may hold only"):
        TokenClient("https://id.example.com", creds, scope="openid")
    monkeypatch.setenv("EAGLE_ID_CLIENT_ID", "i")
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", "s")
    assert run("token", "--url", "https://id.example.com", "--scope", "o")[0] == 2
    assert "eagle-id: EAGLE_ID_TOKEN_PATH may hold only" in capsys.readouterr().err
    monkeypatch.delenv("EAGLE_ID_TOKEN_PATH")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    path = tmp_path / "eagle-id" / "credentials.toml"
    path.parent.mkdir()
    path.write_text(
        '[p]\nurl = "https://idp.example.com"\ntoken_path = "token"\n'
        'client_id = "i"\nclient_secret = "s"\nscope = "openid"\n'
    )
    path.chmod(0o600)
    with pytest.raises(ConfigurationError, match=r"^token_path of profile 'p' in .* must be"):
        TokenClient(profile="p")


def test_the_quick_path_finds_the_entry_under_the_same_key(
    plain: PlainServer, tmp_path: Path
) -> None:
    folder = tmp_path / "cache"
    with TokenClient(
        plain.url,
        _creds(plain),
        scope="read",
        token_path="/oauth2/token",
        cache=FileCache(folder),
    ) as tc:
        token = tc.get_token()
    args = (plain.url, plain.client_id, plain.client_secret, ["read"])
    quick = cached_entry(*args, folder=folder, token_path="/oauth2/token")
    assert quick is not None
    assert quick.access_token == token.access_token
    assert cached_entry(*args, folder=folder) is None  # the spec's path: another endpoint
