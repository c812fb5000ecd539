"""The quick cached path of `eagle-id token`: the standard library alone on a hit, judging
an entry exactly as `TokenClient` with a `FileCache` does, printing what a fetch prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from live_server import LiveServer
from screening_eagle_id import ClientCredentials, FileCache, TokenClient, TokenError
from screening_eagle_id._entry import Entry, binding_key, decode, encode, sign
from screening_eagle_id._quick import _microseconds, cached_entry

SCOPES = ("openid", "inspect")
_ONE_MICROSECOND = datetime.fromtimestamp(0.000001, tz=UTC) - datetime.fromtimestamp(0, tz=UTC)
# What must not be imported on a cache hit.
HEAVY = {
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "attr",
    "attrs",
    "screening_eagle_id_client",
    "screening_eagle_id._client",
    "screening_eagle_id._token",
    "screening_eagle_id._filecache",
}
# Nor these: each costs a good part of an interpreter's start-up, and a hit needs none of them.
LEAN = {"typing", "argparse", "pathlib", "tomllib", "shutil", "logging", "asyncio"}


def _client(server: LiveServer, folder: Path, secret: str | None = None) -> TokenClient:
    creds = ClientCredentials(server.client_id, secret or server.client_secret)
    return TokenClient(server.url, creds, scope=SCOPES, cache=FileCache(folder))


def _resign(server: LiveServer, key: str, **changes: object) -> Callable[[Entry], Entry]:
    def edit(entry: Entry) -> Entry:
        return sign(entry._replace(**changes), binding_key(server.client_secret, key))

    return edit


def _times(issued_ago: float, lifetime: float) -> dict[str, float]:
    issued = time.time() - issued_ago
    return {"issued_at": issued, "expires_at": issued + lifetime}


# name -> how the stored entry is changed: a function of the Entry (re-signed or not), raw
# bytes, or the file itself.
VARIANTS: dict[str, str] = {
    "as written": "same",
    "fresh, re-signed": "signed:valid",
    "past hard expiry (29 s left of 1 h)": "signed:29s",
    "before hard expiry (40 s left of 1 h)": "signed:40s",
    "short-lived, leeway capped at half, still valid": "signed:short-valid",
    "short-lived, past the capped leeway": "signed:short-expired",
    "issued in the future": "signed:future",
    "a requested scope not granted": "signed:scope",
    "token_type not Bearer": "signed:mac",
    "access token altered, not re-signed": "altered",
    "binding removed": "unbound",
    "another format version": "v2",
    "garbage": "garbage",
    "too large": "huge",
    "readable by others": "mode",
    "a symlink to a valid entry": "symlink",
    "the folder writable by others": "folder",
    "the folder a symlink": "folder-symlink",
}
# The variants both must serve; every other one both must refuse.
HITS = {"same", "signed:valid", "signed:40s", "signed:short-valid"}


def _apply(kind: str, server: LiveServer, folder: Path, key: str, raw: bytes) -> None:
    path = folder / f"{key}.json"
    entry = decode(raw)
    signed = {
        "signed:valid": {},
        "signed:29s": _times(3600 - 29, 3600),
        "signed:40s": _times(3600 - 40, 3600),
        "signed:short-valid": _times(15, 40),  # hard expiry = issued + 40 - 20: 5 s left
        "signed:short-expired": _times(25, 40),  # 5 s past it
        "signed:future": _times(-600, 3600),
        "signed:scope": {"scope": frozenset({"openid"})},
        "signed:mac": {"token_type": "mac"},
    }
    data: bytes = raw
    if kind in signed:
        data = encode(_resign(server, key, **signed[kind])(entry))
    elif kind == "altered":
        data = encode(entry._replace(access_token=entry.access_token[:-2] + "xx"))
    elif kind == "unbound":
        data = encode(entry._replace(binding=None))
    elif kind == "v2":
        data = raw.replace(b'"v":1', b'"v":2')
    elif kind == "garbage":
        data = b"\x00not json"
    elif kind == "huge":
        data = b" " * (1 << 20) + raw
    if kind == "folder-symlink":
        real = folder.with_name("real-cache")
        folder.rename(real)
        folder.symlink_to(real)
        return
    path.unlink()
    if kind == "symlink":
        target = folder / "elsewhere.json"
        target.write_bytes(raw)
        target.chmod(0o600)
        path.symlink_to(target)
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    if kind == "mode":
        path.chmod(0o644)
    if kind == "folder":
        folder.chmod(0o777)


@pytest.mark.parametrize("kind", list(VARIANTS.values()), ids=list(VARIANTS))
def test_the_quick_path_serves_exactly_what_the_client_would(
    reference_server: LiveServer, tmp_path: Path, kind: str
) -> None:
    folder = tmp_path / "cache"
    with _client(reference_server, folder) as client:
        client.get_token()
        key = client.cache_key
    _apply(kind, reference_server, folder, key, (folder / f"{key}.json").read_bytes())
    try:
        quick = cached_entry(
            client.base_url,
            reference_server.client_id,
            reference_server.client_secret,
            SCOPES,
            folder=folder,
        )
        before = reference_server.token_requests()
        try:
            with _client(reference_server, folder) as full:
                served = full.get_token()
        except TokenError:  # e.g. a folder others may write to is refused
            served = None
        adopted = reference_server.token_requests() == before and served is not None
    finally:
        folder.chmod(0o700)
    assert (quick is not None) == adopted == (kind in HITS)
    if quick is not None and served is not None:
        assert quick.access_token == served.access_token
        assert (quick.issued_at, quick.expires_at) == (
            served.issued_at.timestamp(),
            served.expires_at.timestamp(),
        )


def test_a_wrong_secret_misses_on_the_quick_path(
    reference_server: LiveServer, tmp_path: Path
) -> None:
    folder = tmp_path / "cache"
    with _client(reference_server, folder) as client:
        client.get_token()
    args = (client.base_url, reference_server.client_id)
    assert cached_entry(*args, reference_server.client_secret, SCOPES, folder=folder)
    assert cached_entry(*args, "not-the-secret", SCOPES, folder=folder) is None
    assert cached_entry(*args, reference_server.client_secret, ["email"], folder=folder) is None


def _imported(importtime_stderr: str) -> set[str]:
    return {
        line.rsplit("|", 1)[-1].strip()
        for line in importtime_stderr.splitlines()
        if line.startswith("import time:")
    }


def test_a_cache_hit_imports_no_httpx_attrs_or_generated_client_and_prints_what_a_fetch_did(
    reference_server: LiveServer, tmp_path: Path
) -> None:
    script = Path(sys.executable).parent / "eagle-id"
    env = {
        **os.environ,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "EAGLE_ID_URL": reference_server.url,
        "EAGLE_ID_CLIENT_ID": reference_server.client_id,
        "EAGLE_ID_CLIENT_SECRET": reference_server.client_secret,
        "EAGLE_ID_SCOPE": "openid offline",
    }

    def eagle_id(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-X", "importtime", str(script), *args]
        result = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return result

    before = reference_server.token_requests()
    fetched = eagle_id("token", "--json")
    assert HEAVY & _imported(fetched.stderr)  # the probe sees the full client when it runs
    hit = eagle_id("token", "--json")
    assert reference_server.token_requests() == before + 1
    assert not (HEAVY | LEAN) & _imported(hit.stderr)
    assert hit.stdout == fetched.stdout
    assert json.loads(hit.stdout)["refresh_token"]  # every field, optional ones too
    plain = eagle_id("token")
    assert not (HEAVY | LEAN) & _imported(plain.stderr)
    assert plain.stdout == json.loads(fetched.stdout)["access_token"] + "\n"
    refreshed = eagle_id("token", "--refresh")
    assert HEAVY & _imported(refreshed.stderr)
    assert refreshed.stdout != plain.stdout


@settings(max_examples=1000, deadline=None)
@given(st.floats(min_value=0.0, max_value=253402300799.0))
@example(0.0000005)
@example(0.0000015)
@example(1764639000.9999995)
@example(1764639000.1234565)
@example(253402300799.0)
@example(1e-300)
def test_times_round_to_microseconds_as_datetime_does(timestamp: float) -> None:
    """The quick path rounds cached times without datetime; it must agree with it exactly."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    micros = _microseconds(timestamp)
    assert micros / 1_000_000 == moment.timestamp()
    assert micros == (moment - datetime.fromtimestamp(0, tz=UTC)) // _ONE_MICROSECOND
    assert _microseconds(micros / 1_000_000) == micros
