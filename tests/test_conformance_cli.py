"""The conformance command as a CI job uses it: inputs, secrets, exit statuses 0/1/2, reports."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from broken_server import BrokenServer
from screening_eagle_id._cli import main as eagle_id
from screening_eagle_id_conformance import (
    EXIT_CANNOT_RUN,
    EXIT_CONFORMANT,
    EXIT_NOT_CONFORMANT,
    Options,
    Outcome,
    Target,
    main,
    run,
)
from screening_eagle_id_conformance._fuzz import run_schemathesis
from screening_eagle_id_server import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    TOKEN_PATH,
    Registry,
    Settings,
    create_app,
    serve_in_thread,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

SCOPE = "openid email profile inspect"
NARROW_ID, NARROW_SECRET = "inspect-only", "narrow secret +%/ü"


def _client(client_id: str, secret: str, scopes: list[str]) -> str:
    digest = hashlib.sha256(secret.encode()).hexdigest()
    return f"""
[[clients]]
client_id = "{client_id}"
secret_sha256 = "{digest}"
scopes = {json.dumps(scopes)}
grant_types = ["client_credentials"]
[clients.claims]
sub = "{client_id}"
"""


class _MovedEndpoint:
    """Serves the reference app's endpoint at /token (a server that mounts it elsewhere)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if scope["path"] == "/token":
                scope = dict(scope, path=TOKEN_PATH, raw_path=TOKEN_PATH.encode())
            elif scope["path"] == TOKEN_PATH:
                scope = dict(scope, path="/nowhere", raw_path=b"/nowhere")
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    """The reference server (with an `inspect`-only client) served plain, under a prefix, at
    /token, and wrapped in the planted-defect server."""
    registry = Registry.from_toml(
        _client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, ["openid", "email", "profile", "inspect"])
        + _client(NARROW_ID, NARROW_SECRET, ["inspect"])
    )
    app = create_app(Settings(signing_key=secrets.token_bytes(32), registry=registry))
    prefixed = Starlette(routes=[Mount("/idp", app=app)])
    broken = BrokenServer(app, known_client_ids=[c.client_id for c in registry])
    with (
        serve_in_thread(app) as plain,
        serve_in_thread(prefixed) as under,
        serve_in_thread(_MovedEndpoint(app)) as moved,
        serve_in_thread(broken) as defects,
    ):
        yield {"plain": plain, "prefixed": under + "/idp", "moved": moved, "broken": defects}


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The caller's EAGLE_ID_* variables change nothing; reports go to a temp dir."""
    for name in list(os.environ):
        if name.startswith("EAGLE_ID_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["--no-schemathesis", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# ---------------------------------------------------------------- exit statuses


def test_exit_0_when_conformant(
    servers: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", DEMO_CLIENT_SECRET)
    status, out, _ = _run(capsys, "--url", servers["plain"], "--client-id", DEMO_CLIENT_ID)
    assert status == EXIT_CONFORMANT == 0, out
    assert "all applicable checks passed" in out


def test_exit_1_when_not_conformant(
    servers: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", DEMO_CLIENT_SECRET)
    url = servers["broken"] + "/broken/accepts-json"
    status, out, _ = _run(capsys, "--url", url, "--client-id", DEMO_CLIENT_ID)
    assert status == EXIT_NOT_CONFORMANT == 1
    assert "NOT CONFORMANT" in out
    # The FAIL line states the status and error code it got.
    assert "got: 200 error=None" in out


def test_exit_2_when_the_server_rejects_the_given_credentials(
    servers: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A typo in the user's own secret is not the server being non-conformant."""
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", DEMO_CLIENT_SECRET + "-typo")
    status, out, err = _run(capsys, "--url", servers["plain"], "--client-id", DEMO_CLIENT_ID)
    assert status == EXIT_CANNOT_RUN == 2
    assert err == (
        f"conformance: the server answered 401 invalid_client for {DEMO_CLIENT_ID}: "
        "check the id and secret\n"
    )
    assert "FAIL" not in out


def test_exit_2_when_the_configured_scope_is_refused(
    servers: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", NARROW_SECRET)
    status, _, err = _run(capsys, "--url", servers["plain"], "--client-id", NARROW_ID)
    assert status == 2
    assert "refused scope 'openid email profile inspect'" in err
    assert "--scope" in err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--profile", "nonsense"], "invalid choice"),
        (["--timeout", "-1"], "positive number of seconds"),
        (["--timeout", "nan"], "positive number of seconds"),
        (["--max-examples", "0"], "positive integer"),
        (["--url", "ftp://id.example.com", "--client-id", "x"], "absolute http(s) URL"),
    ],
)
def test_exit_2_on_a_usage_error(
    argv: list[str], says: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", "x")
    assert main(argv) == 2
    assert says in capsys.readouterr().err


# ---------------------------------------------------------------- secrets


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--client-secret", "hunter2-on-argv"], "process list"),
        (["--client-secret=hunter2-on-argv"], "process list"),
        (["--special-client-secret", "hunter2-on-argv"], "process list"),
        # Anything argparse does not know may be a secret typed in the wrong place.
        (["--client-sec", "hunter2-on-argv"], "not shown: they may hold a secret"),
        (["--secret=hunter2-on-argv"], "not shown: they may hold a secret"),
        (["hunter2-on-argv"], "not shown: they may hold a secret"),
    ],
)
def test_a_secret_on_the_command_line_is_refused_and_not_echoed(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--url", "https://id.example.com", "--client-id", "x", *argv]) == 2
    captured = capsys.readouterr()
    assert "hunter2" not in captured.out + captured.err
    assert says in captured.err


def test_the_secret_can_come_from_a_file(
    servers: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(NARROW_SECRET + "\n", encoding="utf-8")
    status, out, _ = _run(
        capsys,
        "--url",
        servers["plain"],
        "--client-id",
        NARROW_ID,
        "--client-secret-file",
        str(secret_file),
        "--scope",
        "inspect",
    )
    assert status == 0, out
    assert NARROW_SECRET not in out


@pytest.mark.parametrize("content", [None, "", "two\nlines\n"])
def test_a_bad_secret_file_is_a_configuration_error(
    content: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "secret"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    argv = ["--url", "https://id.example.com", "--client-id", "x"]
    assert main([*argv, "--client-secret-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "secret file" in err


# ---------------------------------------------------------------- where the endpoint is


@pytest.mark.parametrize(
    ("key", "extra"),
    [
        ("prefixed", []),  # a base URL with a path prefix
        ("prefixed", ["--url-suffix"]),  # the full token-endpoint URL
        ("moved", ["--token-path", "/token"]),
    ],
)
def test_url_takes_a_base_or_the_endpoint_and_token_path_moves_it(
    servers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    key: str,
    extra: list[str],
) -> None:
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", DEMO_CLIENT_SECRET)
    url = servers[key]
    if extra == ["--url-suffix"]:
        url, extra = url + TOKEN_PATH, []
    status, out, err = _run(capsys, "--url", url, "--client-id", DEMO_CLIENT_ID, *extra)
    assert status == 0, out + err


def test_the_fuzzer_follows_the_moved_endpoint(servers: dict[str, str]) -> None:
    target = Target(
        url=servers["moved"],
        token_path="/token",
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        scope=SCOPE,
    )
    result = run_schemathesis(target, max_examples=5, seed=1)
    assert result.errors == []
    assert result.successes > 0
    assert result.failures == {}


# ---------------------------------------------------------------- verdict inputs


def test_the_fuzzer_uses_the_configured_scope(servers: dict[str, str]) -> None:
    """A client allowed only `inspect` still gets fuzzed 2xx (the spec's example scope would
    be refused on every request)."""
    target = Target(
        url=servers["plain"], client_id=NARROW_ID, client_secret=NARROW_SECRET, scope="inspect"
    )
    result = run_schemathesis(target, max_examples=10, seed=1)
    assert result.errors == []
    assert result.successes > 0
    assert "positive_data_acceptance" not in result.failures


def _special(url: str, special_scope: str | None) -> Target:
    return Target(
        url=url,
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        scope=SCOPE,
        special_client_id=NARROW_ID,
        special_client_secret=NARROW_SECRET,
        special_scope=special_scope,
    )


def test_the_special_client_uses_its_own_scope(servers: dict[str, str]) -> None:
    report = run(Options(target=_special(servers["plain"], "inspect"), schemathesis=False))
    assert report.outcome("special-credentials") is Outcome.PASSED
    assert report.result("special-credentials").detail == ""


def test_a_scope_refusal_after_authentication_is_not_an_encoding_failure(
    servers: dict[str, str],
) -> None:
    """The special client authenticated (no 401) but may not have the main scope: a note."""
    report = run(Options(target=_special(servers["plain"], None), schemathesis=False))
    result = report.result("special-credentials")
    assert result.outcome is Outcome.PASSED
    assert "authenticated, but scope" in result.detail
    assert "--special-scope" in result.detail


# ---------------------------------------------------------------- reports


def test_reports_json_and_markdown_group_one_behaviour_once(
    servers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", DEMO_CLIENT_SECRET)
    url = servers["broken"] + "/broken/401-without-www-authenticate"
    as_json, as_md = tmp_path / "r.json", tmp_path / "r.md"
    status, out, _ = _run(
        capsys,
        "--url",
        url,
        "--client-id",
        DEMO_CLIENT_ID,
        "--report-json",
        str(as_json),
        "--report-md",
        str(as_md),
    )
    assert status == 1
    document = json.loads(as_json.read_text(encoding="utf-8"))
    assert document["conformant"] is False
    assert document["profile"] == "screening-eagle"
    by_name = {c["check"]: c for c in document["checks"]}
    failed = by_name["invalid-client"]
    assert failed["verdict"] == "FAIL"
    assert failed["level"] == "RFC MUST"
    assert "RFC 6749 §5.2" in failed["source"]
    assert failed["got"] == "401 error='invalid_client'"
    assert failed["curl"].startswith("curl ")
    assert by_name["token-request"]["verdict"] == "PASS"
    # One behaviour (a 401 without WWW-Authenticate to Basic credentials), three checks, once
    # (every-401-challenge judges every 401 the suite got, this one among them).
    by_behaviour = {tuple(b["checks"]): b for b in document["behaviours"]}
    assert ("invalid-client", "malformed-basic", "every-401-challenge") in by_behaviour
    assert out.count("broke: invalid-client (FAIL), malformed-basic (FAIL), every-401") == 1
    markdown = as_md.read_text(encoding="utf-8")
    assert markdown.startswith("## Conformance: **NOT CONFORMANT**")
    assert "| FAIL | `invalid-client` | RFC MUST |" in markdown
    for text in (out, as_json.read_text(encoding="utf-8"), markdown):
        assert DEMO_CLIENT_SECRET not in text


# ---------------------------------------------------------------- eagle-id conformance


def test_eagle_id_conformance_delegates(
    servers: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", DEMO_CLIENT_SECRET)
    argv = ["conformance", "--no-schemathesis", "--url", servers["plain"]]
    assert eagle_id([*argv, "--client-id", DEMO_CLIENT_ID]) == 0
    assert "all applicable checks passed" in capsys.readouterr().out


def test_eagle_id_conformance_without_the_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "screening_eagle_id_conformance", None)
    assert eagle_id(["conformance", "--url", "https://id.example.com"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "install screening-eagle-id[conformance]" in err


# ---------------------------------------------------------------- the package's surface


def test_every_private_module_has_all_and_the_package_exports_one_sorted_all() -> None:
    import importlib
    import pkgutil
    import types

    import screening_eagle_id_conformance as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_") and info.name != "__main__":
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            assert isinstance(module.__all__, list), info.name
    names = package.__all__
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions.
    assert names == sorted(
        names, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n)
    )
    public = {
        name
        for name, value in vars(package).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(names)


def test_a_crash_of_the_suite_is_could_not_run_not_a_verdict(
    servers: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import screening_eagle_id_conformance._cli as runner

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"boom near {DEMO_CLIENT_SECRET}")

    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", DEMO_CLIENT_SECRET)
    monkeypatch.setattr(runner, "run", crash)
    status, out, err = _run(capsys, "--url", servers["plain"], "--client-id", DEMO_CLIENT_ID)
    assert status == 2
    assert "the suite itself failed, nothing was judged: RuntimeError: boom near" in err
    assert DEMO_CLIENT_SECRET not in out + err


def test_credentials_refused_with_400_invalid_client_are_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Some servers refuse bad credentials with 400 invalid_client: still "check the secret"."""

    async def refuse(request: Request) -> JSONResponse:
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        return JSONResponse({"error": "invalid_client"}, status_code=400, headers=headers)

    app = Starlette(routes=[Route(TOKEN_PATH, refuse, methods=["POST"])])
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", "wrong")
    with serve_in_thread(app) as url:
        status, _, err = _run(capsys, "--url", url, "--client-id", "someone")
    assert status == 2
    assert "the server answered 400 invalid_client for someone: check the id and secret" in err


def test_a_hostile_body_cannot_write_to_the_terminal() -> None:
    from screening_eagle_id_conformance import Result, Source

    result = Result(
        name="x",
        title="x",
        reference="r",
        outcome=Outcome.FAILED,
        source=Source.MUST,
        detail="got \x1b[2J\x1b[32mPASS\rall good\nsecond line",
        got="500 error='\x1b]0;title\x07'",
    )
    text = "\n".join(result.lines())
    assert "\x1b" not in text
    assert "\r" not in text
    assert "\x07" not in text
    assert "second line" in text
