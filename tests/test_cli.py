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
from live_server import LiveServer
from screening_eagle_id import MemoryCache, Token, _cli


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
    assert json.loads(claims) == {"aud": "x", "sub": "1302"}


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
    token = Token.from_dict(json.loads(output))
    assert token.scope == {"openid"}
    assert "client_secret" not in output


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

    calls: list[list[str]] = []

    def fake_main(argv: list[str]) -> int:
        calls.append(argv)
        return 7

    monkeypatch.setattr(screening_eagle_id_server, "main", fake_main)
    assert _cli.main(["serve", "--dev", "--port", "0"]) == 7
    assert calls == [["--dev", "--port", "0"]]


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
