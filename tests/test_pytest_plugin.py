"""The pytest plugin (`pytest11` entry point): its fixtures, run in inner sessions by pytester."""

from __future__ import annotations

import subprocess
import sys

import jwt
import pytest
from readme_snippets import snippet
from screening_eagle_id import ClientCredentials, TokenClient
from screening_eagle_id_server import EagleIdServer, RegistryError

pytest_plugins = ["pytester"]

INI = """
[pytest]
addopts = -p no:cacheprovider
filterwarnings = error
"""


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    return pytester


def test_the_fixtures_in_a_users_session(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_user="""
        import jwt
        from screening_eagle_id import TokenClient

        URLS = set()

        def test_a_token(eagle_id_server, eagle_id_credentials, eagle_id_token_client):
            token = eagle_id_token_client.get_token()
            claims = jwt.decode(
                token.access_token, eagle_id_server.signing_key, algorithms=["HS256"],
                audience=eagle_id_credentials.client_id, issuer=eagle_id_server.issuer,
            )
            assert claims["scp"] == "openid"
            assert eagle_id_server.token_requests() >= 1
            URLS.add(eagle_id_server.url)

        def test_same_server_for_the_session(eagle_id_server):
            URLS.add(eagle_id_server.url)
            assert len(URLS) == 1
            assert eagle_id_server.url.startswith("http://127.0.0.1:")
        """
    )
    inner.runpytest_inprocess().assert_outcomes(passed=2)


def test_a_test_registers_its_own_clients_while_the_server_runs(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_registry="""
        import pytest
        from screening_eagle_id import AccessDeniedError, InvalidClientError, TokenClient

        def test_add_and_remove(eagle_id_server):
            creds = eagle_id_server.add_client(
                scopes=["openid", "email", "inspect"],
                claims={"sub": "42", "email": "ada@example.com", "email_verified": True},
            )
            with TokenClient(eagle_id_server.url, creds, scope="openid email") as tokens:
                claims = tokens.get_token().claims()
                assert claims["aud"] == creds.client_id and claims["sub"] == "42"
            with TokenClient(eagle_id_server.url, creds, scope="profile") as tokens:
                with pytest.raises(AccessDeniedError):
                    tokens.get_token()
            eagle_id_server.remove_client(creds.client_id)
            with TokenClient(eagle_id_server.url, creds, scope="openid") as tokens:
                with pytest.raises(InvalidClientError):
                    tokens.get_token()

        def test_the_default_client_still_works(eagle_id_token_client):
            assert eagle_id_token_client.get_token().access_token
        """
    )
    inner.runpytest_inprocess().assert_outcomes(passed=2)


def test_scope_is_a_fixture_to_override(inner: pytest.Pytester) -> None:
    inner.makeconftest(
        """
        import pytest

        @pytest.fixture
        def eagle_id_scope():
            return "inspect offline"
        """
    )
    inner.makepyfile(
        test_scope="""
        def test_scope(eagle_id_token_client):
            token = eagle_id_token_client.get_token()
            assert token.scope == {"inspect", "offline"} and token.refresh_token
        """
    )
    inner.runpytest_inprocess().assert_outcomes(passed=1)


def test_the_async_token_client(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_async="""
        import pytest

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @pytest.mark.anyio
        async def test_async(eagle_id_async_token_client, eagle_id_server):
            token = await eagle_id_async_token_client.get_token()
            assert token.claims()["aud"] == eagle_id_server.credentials.client_id
        """
    )
    inner.runpytest_inprocess().assert_outcomes(passed=1)


def test_the_documented_example(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_plugin_readme_snippet=snippet("pytest"))
    inner.runpytest_inprocess().assert_outcomes(passed=4)


def test_the_readme_example(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_plugin_readme=snippet("readme-pytest"))
    inner.runpytest_inprocess().assert_outcomes(passed=1)


def test_the_quick_start_example(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_plugin_quick_start=snippet("pytest-quick"))
    inner.runpytest_inprocess().assert_outcomes(passed=1)


def test_without_the_server_extra_a_fixture_fails_saying_what_to_install(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A `starlette` that cannot be imported shadows the real one in the inner interpreter.
    shadow = inner.mkdir("shadow")
    (shadow / "starlette").mkdir()
    (shadow / "starlette" / "__init__.py").write_text("raise ImportError('no starlette here')")
    inner.makepyfile(
        test_user="""
        import sys

        def test_plugin_loaded_without_starlette():
            assert "starlette" not in sys.modules and "uvicorn" not in sys.modules

        def test_uses_the_server(eagle_id_server):
            pass
        """
    )
    monkeypatch.setenv("PYTHONPATH", str(shadow))
    # Other plugins of this venv are left out: they only slow the inner interpreter down.
    result = inner.runpytest_subprocess("-p", "no:schemathesis", "-p", "no:hypothesispytest")
    result.assert_outcomes(passed=1, errors=1)
    assert "pip install 'screening-eagle-id[server]' (no starlette here)" in result.stdout.str()
    assert "During handling" not in result.stdout.str()


def test_loading_the_plugin_imports_no_server_and_no_http_stack() -> None:
    code = (
        "import sys, screening_eagle_id._pytest_plugin; "
        "print([m for m in ('starlette', 'uvicorn', 'screening_eagle_id_server') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- EagleIdServer directly, and the fixtures in this very session ------------------------


def test_add_client_validates_like_a_registry_file() -> None:
    server = EagleIdServer()
    with pytest.raises(RegistryError, match="invalid scope-token"):
        server.add_client(scopes=["bad scope"])
    with pytest.raises(RegistryError, match="set by the server"):
        server.add_client(claims={"exp": 1})
    with pytest.raises(RegistryError, match="lists of strings"):
        server.add_client(scopes="openid")
    with pytest.raises(RegistryError, match="non-empty printable"):
        server.add_client("")
    with pytest.raises(RegistryError, match="client_secret"):
        server.add_client(client_secret="")
    with pytest.raises(RegistryError, match="lists of strings"):
        server.add_client(scopes=5)  # type: ignore[arg-type]
    with pytest.raises(RegistryError, match="mapping"):
        server.add_client(claims=["sub"])  # type: ignore[arg-type]
    server.add_client("twice")
    with pytest.raises(RegistryError, match="duplicate"):
        server.add_client("twice")
    with pytest.raises(KeyError):
        server.remove_client("never-added")
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url


def test_no_secret_in_repr(eagle_id_server: EagleIdServer) -> None:
    creds = eagle_id_server.add_client()
    assert creds.client_secret not in repr(eagle_id_server)
    assert eagle_id_server.credentials.client_secret not in repr(eagle_id_server)


def test_tokens_issued_before_a_client_was_added_stay_valid(
    eagle_id_server: EagleIdServer, eagle_id_token_client: TokenClient
) -> None:
    before = eagle_id_token_client.get_token()
    creds: ClientCredentials = eagle_id_server.add_client(scopes=["inspect"])
    with TokenClient(eagle_id_server.url, creds, scope="inspect") as other:
        after = other.get_token()
    for token, audience in (
        (before, eagle_id_server.credentials.client_id),
        (after, creds.client_id),
    ):
        jwt.decode(
            token.access_token, eagle_id_server.signing_key, algorithms=["HS256"], audience=audience
        )


def test_the_plugin_can_be_turned_off(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_off="def test_off(eagle_id_server):\n    pass\n")
    result = inner.runpytest_inprocess("-p", "no:screening_eagle_id")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'eagle_id_server' not found*"])
