"""The `eagle-id` command line."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
import screening_eagle_id
from hypothesis import given, settings
from hypothesis import strategies as st
from live_server import LiveServer
from screening_eagle_id import MemoryCache, Token, _cli
from screening_eagle_id._filecache import default_cache_dir


def _b64(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


JWT = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64({'sub': '1302', 'aud': 'x'})}.sig"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return _cli.main(list(argv), out=out), out.getvalue()


@pytest.fixture
def env(reference_server: LiveServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("EAGLE_ID_URL", reference_server.url)
    monkeypatch.setenv("EAGLE_ID_CLIENT_ID", reference_server.client_id)
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", reference_server.client_secret)
    monkeypatch.setenv("EAGLE_ID_SCOPE", "openid")


def test_decode_prints_header_and_claims_marked_unverified() -> None:
    status, output = run("decode", JWT)
    assert status == 0
    assert "UNVERIFIED" in output
    header = output.split("# header\n")[1].split("# claims\n")[0]
    claims = output.split("# claims\n")[1]
    assert json.loads(header) == {"alg": "HS256", "typ": "JWT"}
    assert json.loads(claims) == {"aud": "x", "sub": "1302"}  # no times: no times section


def _claims_jwt(claims: dict[str, object]) -> str:
    return f"{_b64({'alg': 'HS256'})}.{_b64(claims)}.sig"


def test_decode_shows_each_time_claim_in_utc_beside_its_number() -> None:
    claims = {"sub": "1", "iat": 1764639000, "nbf": 1764639000.5, "exp": 1765243800}
    status, output = run("decode", _claims_jwt(claims))
    assert status == 0
    printed, times = output.split("# claims\n")[1].split("# times (UTC)\n")
    assert json.loads(printed) == claims
    assert times.splitlines() == [
        "exp  1765243800    2025-12-09 01:30:00 UTC",
        "iat  1764639000    2025-12-02 01:30:00 UTC",
        "nbf  1764639000.5  2025-12-02 01:30:00 UTC",
    ]
    # --json stays machine-readable: the numbers as they came, nothing added.
    status, output = run("decode", "--json", _claims_jwt(claims))
    assert json.loads(output)["claims"] == claims


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)


@settings(max_examples=150, deadline=None)
@given(times=st.dictionaries(st.sampled_from(["exp", "iat", "nbf"]), _JSON))
def test_decode_any_time_claim_is_shown_or_said_not_to_be_a_time(times: dict[str, object]) -> None:
    status, output = run("decode", _claims_jwt({"sub": "1", **times}))
    assert status == 0
    lines = output.split("# times (UTC)\n")[1].splitlines() if times else []
    assert [line.split()[0] for line in lines] == sorted(times)
    for line in lines:
        assert line.endswith((" UTC", "(not a time)")), line


@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "PYTHONUNBUFFERED"])
def test_a_reader_that_goes_away_is_no_error(buffered: bool) -> None:
    """`eagle-id decode … | head -1`: the pipe closes before we write; exit quietly (141)."""
    script = "import sys; from screening_eagle_id._cli import main; sys.exit(main())"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-c", script, "decode", JWT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()  # before the child can write a byte
    stderr = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 141
    assert stderr == b""


def test_decode_reads_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(JWT + "\n"))
    status, output = run("decode", "-")
    assert status == 0
    assert '"sub": "1302"' in output


def test_decode_garbage_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("decode", "not-a-jwt")[0] == 2
    assert "not a JWT" in capsys.readouterr().err


def test_token_prints_an_access_token(env: None, reference_server: LiveServer) -> None:
    status, output = run("token", "--scope", "inspect")
    assert status == 0
    token = output.strip()
    assert token.count(".") == 2
    header, _, _ = token.partition(".")
    assert json.loads(base64.urlsafe_b64decode(header + "=="))["alg"] == "HS256"


def test_token_json(env: None) -> None:
    status, output = run("token", "--json")
    assert status == 0
    shown = json.loads(output)
    assert list(shown) == [
        "access_token",
        "token_type",
        "scope",
        "issued_at",
        "expires_at",
        "id_token",
        "refresh_token",
    ]
    assert shown["scope"] == "openid"
    assert shown["expires_at"] > shown["issued_at"] > 0
    assert "client_secret" not in output
    assert "binding" not in output


def test_token_from_a_profile(
    reference_server: LiveServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    path = tmp_path / "eagle-id" / "credentials.toml"
    path.parent.mkdir()
    path.write_text(
        f'[ci]\nurl = "{reference_server.url}"\nclient_id = "{reference_server.client_id}"\n'
        f'client_secret = "{reference_server.client_secret}"\nscope = "email"\n',
        encoding="utf-8",
    )
    path.chmod(0o600)
    status, output = run("token", "--profile", "ci", "--json")
    assert status == 0
    assert json.loads(output)["scope"] == "email"


def test_wrong_secret_exits_1_without_leaking_it(
    env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", "SENTINEL-CLI-SECRET")
    status, output = run("token")
    captured = capsys.readouterr()
    assert status == 1
    assert output == ""
    assert "InvalidClientError" in captured.err
    assert "SENTINEL-CLI-SECRET" not in captured.err + captured.out


def test_missing_configuration_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(os.environ):
        if name.startswith("EAGLE_ID_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert run("token")[0] == 2
    assert "no credentials file" in capsys.readouterr().err


def test_cache_file_uses_the_file_cache_hook(
    env: None, monkeypatch: pytest.MonkeyPatch, reference_server: LiveServer
) -> None:
    stored: list[Token] = []

    class RecordingCache(MemoryCache):
        def set(self, key: str, token: Token) -> None:
            stored.append(token)
            super().set(key, token)

    fake = types.ModuleType("screening_eagle_id._filecache")
    fake.FileCache = RecordingCache  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "screening_eagle_id._filecache", fake)
    status, output = run("token", "--cache", "file")
    assert status == 0
    assert [t.access_token for t in stored] == [output.strip()]


def test_serve_delegates_to_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    import screening_eagle_id_server

    calls: list[tuple[list[str], str]] = []

    def fake_main(argv: list[str], prog: str) -> int:
        calls.append((argv, prog))
        return 7

    monkeypatch.setattr(screening_eagle_id_server, "main", fake_main)
    assert _cli.main(["serve", "--dev", "--port", "0"]) == 7
    assert calls == [(["--dev", "--port", "0"], "eagle-id serve")]


@pytest.mark.parametrize(
    ("argv", "name"),
    [(["serve"], "eagle-id serve"), ([], "python -m screening_eagle_id_server")],
)
def test_the_server_help_and_errors_name_the_command_that_was_typed(
    argv: list[str], name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from screening_eagle_id_server import main as server_main

    run_it = _cli.main if argv else server_main
    with pytest.raises(SystemExit) as exc:
        run_it([*argv, "--help"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: {name} [-h]")
    with pytest.raises(SystemExit) as exc:
        run_it([*argv, "--workers", "many"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.startswith(f"{name.removeprefix('python -m ')}: argument")
    # Refusals after the arguments are read say the same name.
    assert run_it([*argv, "--dev", "--host", "192.0.2.1"]) == 2
    assert capsys.readouterr().err.startswith(f"{name.removeprefix('python -m ')}: --dev binds")


def test_serve_without_the_server_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "screening_eagle_id_server", None)
    assert _cli.main(["serve"]) == 2
    assert "screening-eagle-id[server]" in capsys.readouterr().err


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "eagle-id"
    result = subprocess.run(
        [str(script), "decode", JWT], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "UNVERIFIED" in result.stdout


def test_usage_error_without_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        _cli.main([])
    assert info.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_cache_file_unavailable_is_a_usage_error(
    env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "screening_eagle_id._filecache", None)
    assert run("token", "--cache", "file")[0] == 2
    assert "--cache file is not available" in capsys.readouterr().err


# -- item 2: cache management -------------------------------------------------------------------


def test_a_second_call_prints_the_cached_token(env: None, reference_server: LiveServer) -> None:
    before = reference_server.token_requests()
    first = run("token")
    second = run("token")
    assert first == second
    assert first[0] == 0
    assert reference_server.token_requests() == before + 1


def test_refresh_fetches_and_replaces_the_cached_token(
    env: None, reference_server: LiveServer
) -> None:
    _, old = run("token")
    status, new = run("token", "--refresh")
    assert status == 0
    assert new != old
    assert run("token") == (0, new)  # the replaced entry is what later calls get
    assert run("token", "--cache", "memory", "--refresh")[0] == 0
    assert run("token") == (0, new)  # --cache memory leaves the file alone


def test_cache_list_shows_key_client_scope_expiry_never_a_token(
    env: None, reference_server: LiveServer
) -> None:
    assert run("cache", "list") == (0, f"no cached tokens in {default_cache_dir()}\n")
    _, token = run("token", "--scope", "inspect openid", "--json")
    status, listing = run("cache", "list")
    assert status == 0
    header, row = listing.splitlines()
    assert header.split()[:3] == ["KEY", "CLIENT", "ID"]
    assert reference_server.client_id in row
    assert "inspect openid" in row
    assert row.endswith("valid")
    status, as_json = run("cache", "list", "--json")
    (entry,) = json.loads(as_json)
    shown = json.loads(token)
    assert entry["client_id"] == reference_server.client_id
    assert entry["scope"] == "inspect openid"
    assert entry["expires_at"] == shown["expires_at"]
    assert len(entry["key"]) == 64
    assert row.startswith(entry["key"][:16])
    for secret in (shown["access_token"], shown["id_token"], reference_server.client_secret):
        assert secret not in listing + as_json


def test_cache_list_reports_an_unusable_file_without_its_content(env: None) -> None:
    run("token")
    (path,) = default_cache_dir().glob("*.json")
    path.write_text('{"access_token": "SENTINEL-CONTENT"', encoding="utf-8")
    status, listing = run("cache", "list")
    assert status == 0
    assert "unusable" in listing
    assert "SENTINEL-CONTENT" not in listing


def test_cache_clear_removes_the_current_entry_then_all(
    env: None, reference_server: LiveServer
) -> None:
    _, first = run("token")
    run("token", "--scope", "email")
    assert len(list(default_cache_dir().glob("*.json"))) == 2
    status, said = run("cache", "clear")
    assert status == 0
    assert said.startswith("removed the cached token of client")
    assert len(list(default_cache_dir().glob("*.json"))) == 1
    assert run("cache", "clear")[1].startswith("no cached token for client")
    _, second = run("token")
    assert second != first  # fetched anew
    assert run("cache", "clear", "--all") == (
        0,
        f"removed 2 cached tokens from {default_cache_dir()}\n",
    )
    assert list(default_cache_dir().glob("*.json")) == []
    assert list(default_cache_dir().glob("*.lock")) != []  # lock files are never deleted


def test_cache_clear_all_removes_every_entry_it_can_and_names_what_it_skips(
    env: None, reference_server: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run("token")
    run("token", "--scope", "email")
    folder = default_cache_dir()
    target = tmp_path / "not-ours.json"
    target.write_text("keep me")
    (folder / "00000000.json").mkdir()  # sorted first: it must not stop the rest
    (folder / "11111111.json").symlink_to(target)
    os.mkfifo(folder / "22222222.json")
    capsys.readouterr()
    status, said = run("cache", "clear", "--all")
    err = capsys.readouterr().err
    assert status == 1  # not every entry is gone
    assert said == f"removed 2 cached tokens from {folder}\n"
    assert "00000000.json in place: a directory" in err
    assert "11111111.json in place: a symlink" in err
    assert "22222222.json in place: a FIFO" in err
    assert "Traceback" not in err
    assert sorted(p.name for p in folder.glob("*.json")) == [
        "00000000.json",
        "11111111.json",
        "22222222.json",
    ]
    assert target.read_text() == "keep me"  # never followed
    for name in ("11111111.json", "22222222.json"):
        (folder / name).unlink()
    (folder / "00000000.json").rmdir()
    run("token")
    assert run("cache", "clear", "--all") == (0, f"removed 1 cached token from {folder}\n")


# -- item 3: CLI polish ---------------------------------------------------------------------------


def test_version_has_one_source(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        _cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"eagle-id {screening_eagle_id.__version__}\n"


@pytest.mark.parametrize(
    "given", [f"Bearer {JWT}", f"bearer  {JWT}\n", f"Authorization: Bearer {JWT}", f" {JWT} "]
)
def test_decode_accepts_a_bearer_prefix(given: str) -> None:
    assert run("decode", given) == run("decode", JWT)


def test_decode_json() -> None:
    status, output = run("decode", "--json", f"Bearer {JWT}")
    assert status == 0
    assert json.loads(output) == {
        "verified": False,
        "header": {"alg": "HS256", "typ": "JWT"},
        "claims": {"sub": "1302", "aud": "x"},
    }


def test_decode_two_tokens_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("decode", f"Bearer {JWT} {JWT}")[0] == 2
    assert "not a JWT" in capsys.readouterr().err


def test_errors_name_command_line_options(
    env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EAGLE_ID_URL", "http://id.example.com")
    assert run("token")[0] == 1
    err = capsys.readouterr().err
    assert "--allow-insecure-http" in err
    assert "allow_insecure_http" not in err
    monkeypatch.delenv("EAGLE_ID_URL")
    assert run("token")[0] == 2
    err = capsys.readouterr().err
    assert "no --url option; EAGLE_ID_URL not set" in err
    assert "argument" not in err
    assert err.count("\n") == 1


def _profile_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "eagle-id" / "credentials.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[default]\nclient_id = "a"\nclient_secret = "b\n', "not valid TOML"),
        ('[default]\nclient_id = "a"\n\nclient_secret = = 2\n', "line 4"),
        ('[default]\nclient_id = "a"\nclient_secret = 12345\n', "client_secret of profile"),
        ('[default]\nclient_id = "a"\nclient_secret = 12345\n', "is an integer, not a string"),
        ('[default]\nclient_id = "a"\nclient_secret = "b"\nscope = ["x"]\n', "scope of"),
        ('default = "a profile"\n', "is a string, not a profile table"),
        ('[default]\nclient_id = "a"\n', "has no client_secret"),
    ],
)
def test_a_broken_profile_file_is_named_as_such(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    expected: str,
) -> None:
    for name in list(os.environ):
        if name.startswith("EAGLE_ID_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    _profile_file(tmp_path, text)
    assert run("token")[0] == 2
    err = capsys.readouterr().err
    assert expected in err
    assert "no client credentials found" not in err
    assert err.count("\n") == 1


def test_a_broken_profile_is_reported_even_with_credentials_in_the_environment(
    env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("EAGLE_ID_SCOPE")  # so the profile is needed for the scope
    _profile_file(tmp_path, "[default\n")
    assert run("token")[0] == 2
    assert "not valid TOML" in capsys.readouterr().err


# -- item 4: the full token URL -------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["/api/id/v1/auth/token", "/api/id/v1/auth/token/", "/"])
def test_token_takes_the_full_token_url(
    env: None, reference_server: LiveServer, suffix: str
) -> None:
    status, output = run("token", "--url", reference_server.url + suffix, "--cache", "memory")
    assert status == 0, output
    assert output.count(".") == 2


def test_the_full_url_and_the_base_url_share_one_cache_entry(
    env: None, reference_server: LiveServer
) -> None:
    _, first = run("token", "--url", reference_server.token_url)
    assert run("token", "--url", reference_server.url) == (0, first)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--json"],
        ["--json", "--refresh", "--allow-insecure-http"],
        ["--url", "https://id.example.com", "--scope", "openid email", "--profile", "ci"],
        ["--scope", ""],
        ["--cache", "memory", "--json"],
        ["--cache", "file"],
        ["--url", "https://id.example.com", "--token-path", "/o/token/"],
        ["--assume-lifetime", "60", "--json"],
        ["--assume-lifetime", "0"],
        ["--assume-lifetime", "1e3"],
        ["--cache", "disk"],
        ["--json", "--json"],
        ["--scope", "a", "--scope", "b"],
        ["--js"],
        ["--scope=openid"],
        ["--scope", "-x"],
        ["--scope"],
        ["-h"],
        ["--", "--json"],
        ["extra"],
    ],
)
def test_plain_token_options_parse_as_argparse_parses_them(argv: list[str]) -> None:
    plain = _cli._plain_token_args(["token", *argv])
    if plain is None:
        return  # argparse parses it (or reports the error)
    parsed = vars(_cli._token_parser().parse_args(argv))
    assert vars(plain) == parsed
