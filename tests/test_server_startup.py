"""Every bad input at start-up is one line on stderr and exit status 2, never a traceback:
the registry (TOML, nesting, huge numbers, encodings, types), the signing key, the flags, the
address, and a missing `server` extra."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from screening_eagle_id_server import Registry, RegistryError, main
from screening_eagle_id_server._cli import (
    ENV_CLIENTS,
    ENV_DEV,
    ENV_DEV_KEY,
    ENV_LIFETIME,
    ENV_SIGNING_KEY,
)

KEY = "k" * 40
VALID = f"""[[clients]]
client_id = "svc"
secret_sha256 = "{hashlib.sha256(b"svc-secret").hexdigest()}"
scopes = ["inspect"]
grant_types = ["client_credentials"]
[clients.claims]
sub = "1"
"""


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {ENV_SIGNING_KEY, ENV_CLIENTS, ENV_DEV, ENV_DEV_KEY, ENV_LIFETIME}
    }
    env[ENV_SIGNING_KEY] = KEY
    monkeypatch.setattr(os, "environ", env)
    return env


@pytest.fixture(autouse=True)
def no_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a bad input got as far as serving")

    monkeypatch.setattr(uvicorn, "run", refuse)


def one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    try:
        status = main(argv)
    except SystemExit as exc:
        status = exc.code  # type: ignore[assignment]
    err = capsys.readouterr().err
    assert status == 2, err
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def write(tmp_path: Path, data: str | bytes) -> Path:
    path = tmp_path / "clients.toml"
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


BAD_REGISTRIES: list[tuple[str, str | bytes, str]] = [
    ("5000-digit integer", VALID + "n = " + "9" * 5000 + "\n", "digits"),
    ("arrays 3000 deep", VALID + "n = " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
    ("tables 3000 deep", VALID + "n = " + "{a=" * 3000 + "1" + "}" * 3000 + "\n", "nested"),
    ("hex integer past 64 bits", VALID + "n = 0x" + "f" * 5000 + "\n", "64-bit"),
    ("claims 40 deep", VALID + "n = " + "[" * 40 + "]" * 40 + "\n", "nested more than"),
    ("bad UTF-8", VALID.encode() + b'name = "\xff\xfe"\n', "not UTF-8"),
    ("not TOML", "[[clients]\n", "not valid TOML"),
    ("empty", "", "[[clients]]"),
    ("scopes not a list", VALID.replace('["inspect"]', "1"), "scopes must be"),
    ("claims not a table", VALID.replace('[clients.claims]\nsub = "1"', "claims = 2"), "claims"),
    ("client_id not a string", VALID.replace('"svc"', "5"), "client_id"),
    ("a date claim", VALID + "born = 1979-05-27\n", "cannot go into a JWT"),
    ("a newline in a key", VALID + '"a\\nb" = 1979-05-27\n', "cannot go into a JWT"),
    ("nan", VALID + "n = nan\n", "NaN"),
]


@pytest.mark.parametrize(
    ("data", "message"),
    [pytest.param(d, m, id=i) for i, d, m in BAD_REGISTRIES],
)
def test_a_bad_registry_is_one_line_and_exit_2(
    environ: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    data: str | bytes,
    message: str,
) -> None:
    path = write(tmp_path, data)
    line = one_line_exit_2(["--clients", str(path)], capsys)
    assert message in line
    assert str(path) in line


@pytest.mark.parametrize("kind", ["missing", "directory", "device"])
def test_an_unreadable_registry_is_one_line_and_exit_2(
    environ: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    path = {"missing": tmp_path / "nope.toml", "directory": tmp_path, "device": Path("/dev/zero")}
    line = one_line_exit_2(["--clients", str(path[kind])], capsys)
    assert "registry" in line or "larger than" in line


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--header-timeout", "nan"], "--header-timeout"),
        (["--header-timeout", "-1"], "--header-timeout"),
        (["--body-timeout", "abc"], "--body-timeout"),
        (["--keep-alive-timeout", "inf"], "--keep-alive-timeout"),
        (["--write-timeout", "0"], "--write-timeout"),
        (["--max-body-bytes", "100"], "--max-body-bytes"),
        (["--limit-concurrency", "0"], "--limit-concurrency"),
        (["--max-head-bytes", "10"], "--max-head-bytes"),
        (["--max-header-fields", "1" * 5000], "--max-header-fields"),
        (["--backlog", "0"], "--backlog"),
        (["--port", "70000"], "--port"),
        (["--port", "http"], "--port"),
        (["--workers", "0"], "--workers"),
        (["--lifetime", "1" + "0" * 20], "token_lifetime"),
        (["--lifetime", "1" * 5000], "--lifetime"),
        (["--no-such-flag"], "--no-such-flag"),
        (["--host", "999.1.1.1"], "cannot listen"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(
    environ: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    registry = str(write(tmp_path, VALID))
    assert message in one_line_exit_2(["--clients", registry, *argv], capsys)


@pytest.mark.parametrize(
    ("key", "message"),
    [("", "not set"), ("short", "at least 32 bytes"), ("é" * 15, "at least 32 bytes")],
)
def test_signing_key_problems_are_one_line_and_exit_2(
    environ: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    key: str,
    message: str,
) -> None:
    environ[ENV_SIGNING_KEY] = key
    line = one_line_exit_2(["--clients", str(write(tmp_path, VALID))], capsys)
    assert message in line
    if key:
        assert key not in line


def test_a_signing_key_that_is_not_utf8_is_its_bytes(tmp_path: Path) -> None:
    """A key that is not valid UTF-8 starts the server (its bytes are the key), no traceback."""
    code = (
        "import sys, uvicorn\n"
        "uvicorn.run = lambda *a, **k: None\n"
        "from screening_eagle_id_server import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    env = {k: v for k, v in os.environb.items() if not k.startswith(b"EAGLE_ID")}
    env[ENV_SIGNING_KEY.encode()] = b"\xff" * 40
    result = subprocess.run(
        [sys.executable, "-c", code, "--clients", str(write(tmp_path, VALID)), "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("entry", "argv"),
    [
        ("from screening_eagle_id_server._cli import main", ["--dev"]),
        ("from screening_eagle_id._cli import main", ["serve", "--dev"]),
    ],
    ids=["python -m screening_eagle_id_server", "eagle-id serve"],
)
@pytest.mark.parametrize("missing", ["starlette", "uvicorn", "httptools"])
def test_without_the_server_extra_one_line_and_exit_2(
    entry: str, argv: list[str], missing: str
) -> None:
    # A module set to None in sys.modules cannot be imported: as if it were not installed.
    code = f"import sys; sys.modules[{missing!r}] = None; {entry}; sys.exit(main(sys.argv[1:]))"
    result = subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert missing in lines[0]
    assert "pip install 'screening-eagle-id[server]'" in lines[0]


def test_python_m_without_the_server_extra_one_line_and_exit_2() -> None:
    code = (
        "import runpy, sys; sys.modules['starlette'] = None; sys.argv[0] = 'x';"
        " runpy.run_module('screening_eagle_id_server', run_name='__main__', alter_sys=True)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "--dev"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "starlette" in result.stderr


def test_fuzzed_registries_load_or_fail_with_a_registry_error() -> None:
    """Random damage to a valid registry: it loads, or RegistryError; nothing else escapes."""
    rng = random.Random(12)
    pieces = ["[", "]", "{", "}", "=", '"', "'", "\n", "\\", "0x", "9" * 50, "\xff", "\x00", ","]
    failures = 0
    for _ in range(400):
        text = list(VALID)
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(text) + 1)
            if rng.random() < 0.5 and text:
                del text[at : at + rng.randint(1, 5)]
            else:
                text[at:at] = rng.choice(pieces) * rng.randint(1, 3)
        try:
            Registry.from_toml("".join(text), source="fuzz")
        except RegistryError as exc:
            failures += 1
            message = str(exc)
        else:
            message = "fuzz"
        assert message.startswith("fuzz")
    assert failures > 100  # the fuzzing did damage
