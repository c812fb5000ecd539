"""RequestsBearerAuth: a real requests.Session, the reference server, a real resource server."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from live_server import LiveServer
from readme_snippets import run_snippet
from resource_server import start_resource_server
from screening_eagle_id import (
    AsyncTokenClient,
    ClientCredentials,
    RequestsBearerAuth,
    TokenClient,
)


@pytest.fixture
def tokens(reference_server: LiveServer) -> Iterator[TokenClient]:
    creds = ClientCredentials(reference_server.client_id, reference_server.client_secret)
    with TokenClient(reference_server.url, creds, scope="inspect") as client:
        yield client


def test_sends_the_cached_token(tokens: TokenClient, reference_server: LiveServer) -> None:
    before = reference_server.token_requests()
    with start_resource_server() as api, requests.Session() as session:
        session.auth = RequestsBearerAuth(tokens)
        first = session.get(api.url + "/things")
        second = session.get(api.url + "/things")
    assert (first.status_code, second.status_code) == (200, 200)
    expected = f"Bearer {tokens.get_token().access_token}"
    assert [auth for auth, _ in api.seen] == [expected, expected]
    assert reference_server.token_requests() - before == 1


@pytest.mark.parametrize(
    "body",
    [b"payload-bytes", "payload-str", {"form": "payload"}, None],
    ids=["bytes", "str", "form", "none"],
)
def test_a_401_forgets_the_token_fetches_and_retries_once(
    tokens: TokenClient, reference_server: LiveServer, body: object
) -> None:
    with start_resource_server(reject_first=1) as api, requests.Session() as session:
        session.auth = RequestsBearerAuth(tokens)
        rejected = tokens.get_token()
        before = reference_server.token_requests()
        response = session.post(api.url + "/things", data=body)
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    (first_auth, first_body), (second_auth, second_body) = api.seen
    assert first_auth == f"Bearer {rejected.access_token}"
    fresh = tokens.get_token()
    assert fresh.access_token != rejected.access_token
    assert second_auth == f"Bearer {fresh.access_token}"
    assert first_body == second_body
    assert response.content == second_body
    assert reference_server.token_requests() - before == 1
    assert response.request.headers["Authorization"] == second_auth


def test_a_seekable_file_body_is_rewound_and_sent_again(tokens: TokenClient) -> None:
    upload = io.BytesIO(b"HEADER-" + b"x" * 5000)
    upload.seek(7)  # requests sends from the current position; so must the retry
    with start_resource_server(reject_first=1) as api, requests.Session() as session:
        response = session.put(api.url + "/upload", data=upload, auth=RequestsBearerAuth(tokens))
    assert response.status_code == 200
    assert [body for _, body in api.seen] == [b"x" * 5000, b"x" * 5000]


def test_a_one_shot_body_is_not_retried(tokens: TokenClient, reference_server: LiveServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"only-"
        yield b"once"

    with start_resource_server(reject_first=1) as api, requests.Session() as session:
        session.auth = RequestsBearerAuth(tokens)
        tokens.get_token()
        before = reference_server.token_requests()
        response = session.post(api.url + "/stream", data=chunks())
    assert response.status_code == 401
    assert len(api.seen) == 1
    assert reference_server.token_requests() == before


def test_gives_up_after_one_retry(tokens: TokenClient, reference_server: LiveServer) -> None:
    with start_resource_server(reject_first=10) as api, requests.Session() as session:
        session.auth = RequestsBearerAuth(tokens)
        tokens.get_token()
        before = reference_server.token_requests()
        response = session.get(api.url + "/things")
    assert response.status_code == 401
    assert len(response.history) == 1
    assert len(api.seen) == 2
    assert reference_server.token_requests() - before == 1


def test_a_stale_401_does_not_forget_a_newer_token(
    tokens: TokenClient, reference_server: LiveServer
) -> None:
    """A 401 for a token the client already replaced: no invalidation, retry with the current."""
    stale = tokens.get_token()
    with start_resource_server() as api:
        api.rejected.add(stale.access_token)
        request = requests.Request("GET", api.url + "/things").prepare()
        RequestsBearerAuth(tokens)(request)  # prepared with `stale`, then another thread
        current = tokens.fetch_token()  # replaced it before this request was answered
        before = reference_server.token_requests()
        with requests.Session() as session:
            response = session.send(request)
    assert response.status_code == 200
    assert api.seen[-1][0] == f"Bearer {current.access_token}"
    assert reference_server.token_requests() == before
    assert tokens.get_token() == current


def test_refuses_an_async_token_client(reference_server: LiveServer) -> None:
    creds = ClientCredentials(reference_server.client_id, reference_server.client_secret)
    with pytest.raises(TypeError, match="TokenClient"):
        RequestsBearerAuth(AsyncTokenClient(reference_server.url, creds, scope="inspect"))  # type: ignore[arg-type]


def test_repr_shows_no_secret(tokens: TokenClient, reference_server: LiveServer) -> None:
    assert reference_server.client_secret not in repr(RequestsBearerAuth(tokens))


def test_the_readme_snippet_runs(reference_server: LiveServer) -> None:
    creds = ClientCredentials(reference_server.client_id, reference_server.client_secret)
    with start_resource_server(reject_first=1) as api:
        run_snippet("requests", url=reference_server.url, creds=creds, api_url=api.url)
    assert len(api.seen) == 2  # the snippet's request, and its retry after the 401


def test_without_requests_the_error_says_what_to_install(tmp_path: Path) -> None:
    (tmp_path / "requests").mkdir()
    (tmp_path / "requests" / "__init__.py").write_text("raise ImportError('not installed')")
    code = (
        "import screening_eagle_id as s\n"
        "s.TokenClient  # the package itself works without requests\n"
        "from screening_eagle_id import RequestsBearerAuth"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path), "PATH": ""},
    )
    assert result.returncode == 1
    assert "pip install 'screening-eagle-id[requests]'" in result.stderr
