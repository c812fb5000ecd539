"""FileCache: one host, many processes. Real files, real flocks, real processes, the real
reference server on a loopback socket."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import logging
import os
import random
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cache_support import (
    assert_valid,
    secret_forms,
    sentinel_server,
    spawn,
    worker_env,
)
from cache_worker import synthetic_token
from live_server import LiveServer
from screening_eagle_id import (
    AsyncTokenCache,
    AsyncTokenClient,
    ClientCredentials,
    ConfigurationError,
    FileCache,
    TokenCache,
    TokenClient,
    _cli,
    _filecache,
    cache_key,
)

KEY = "ab" * 32


def creds(server: LiveServer) -> ClientCredentials:
    return ClientCredentials(server.client_id, server.client_secret)


def key_of(server: LiveServer, scope: str = "openid") -> str:
    return cache_key(server.url, server.client_id, scope.split())


class RecordingFileCache(FileCache):
    """A FileCache that remembers what each `lock()` yielded (acquired or gave up)."""

    def __init__(self, path: Path, *, lock_timeout: float = 15.0) -> None:
        super().__init__(path, lock_timeout=lock_timeout)
        self.acquired: list[bool] = []

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[bool]:  # type: ignore[override]
        with super().lock(key) as acquired:
            self.acquired.append(acquired)
            yield acquired


# --- files on disk --------------------------------------------------------------------------


def test_implements_both_protocols(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "c")
    assert isinstance(cache, TokenCache)
    assert isinstance(cache, AsyncTokenCache)


def test_round_trip_atomic_file_0600_in_folder_0700(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # even a permissive umask must not widen the modes
    try:
        cache = FileCache(tmp_path / "deep" / "c")
        token = synthetic_token("ACCESS-SENTINEL")
        assert cache.get(KEY) is None
        cache.set(KEY, token)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "deep" / "c").stat().st_mode) == 0o700
    path = tmp_path / "deep" / "c" / f"{KEY}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_bytes()) == token.to_dict()
    got = cache.get(KEY)
    assert got is not None
    assert got.to_dict() == token.to_dict()
    assert not list(path.parent.glob("*.tmp"))  # nothing left from the atomic write
    assert "ACCESS-SENTINEL" not in repr(cache)
    cache.delete(KEY)
    cache.delete(KEY)  # idempotent
    assert cache.get(KEY) is None


def test_a_key_that_is_not_a_digest_never_becomes_a_path(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "c")
    for bad in ("../escape", "a/b", "", ".hidden"):
        with pytest.raises(ValueError, match="cache_key"):
            cache.get(bad)


def test_default_folder_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert FileCache().path == tmp_path / "xdg" / "eagle-id"
    assert _filecache.default_cache_dir() == tmp_path / "xdg" / "eagle-id"
    # A relative XDG_CACHE_HOME is invalid per the spec: ~/.cache is used instead.
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert FileCache().path == tmp_path / "home" / ".cache" / "eagle-id"
    assert stat.S_IMODE((tmp_path / "home" / ".cache" / "eagle-id").stat().st_mode) == 0o700


def test_not_posix_is_a_clear_configuration_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(_filecache, "fcntl", None)
    with pytest.raises(ConfigurationError, match="POSIX"):
        FileCache(tmp_path / "c")


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702])
def test_refuses_a_folder_others_can_write_to(tmp_path: Path, mode: int) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    folder.chmod(mode)
    with pytest.raises(ConfigurationError, match="other users may write") as info:
        FileCache(folder)
    assert "chmod 700" in str(info.value)
    folder.chmod(0o755)  # readable by others is fine: the files themselves are 0600
    FileCache(folder)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_refuses_a_folder_owned_by_another_user(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    folder.mkdir(mode=0o700)
    os.chown(folder, 12345, 12345)
    with pytest.raises(ConfigurationError, match="another user"):
        FileCache(folder)


def test_refuses_a_path_that_is_not_a_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigurationError, match=r"not a folder|not usable"):
        FileCache(tmp_path / "file")


# --- unusable token files: ignored, logged without content, replaced ------------------------


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x00\xffGARBAGE-CONTENT")


def _truncated(path: Path) -> None:
    data = json.dumps(synthetic_token("TRUNCATED-CONTENT").to_dict()).encode()
    path.write_bytes(data[: len(data) // 2])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _foreign_json(path: Path) -> None:
    path.write_text('{"access_token": "FOREIGN-CONTENT", "expires_at": "tomorrow"}')


def _readable_by_others(path: Path) -> None:
    path.write_text(json.dumps(synthetic_token("LEAKED-CONTENT").to_dict()))
    path.chmod(0o644)


def _symlink(path: Path) -> None:
    target = path.parent / "elsewhere"
    target.write_text(json.dumps(synthetic_token("LINKED-CONTENT").to_dict()))
    target.chmod(0o600)
    path.symlink_to(target)


def _other_owner(path: Path) -> None:
    path.write_text(json.dumps(synthetic_token("OTHER-OWNER-CONTENT").to_dict()))
    path.chmod(0o600)
    os.chown(path, 12345, 12345)


def _unreadable(path: Path) -> None:
    path.write_text(json.dumps(synthetic_token("UNREADABLE-CONTENT").to_dict()))
    path.chmod(0o000)


BAD_FILES: list[object] = [
    _garbage,
    _truncated,
    _empty,
    _foreign_json,
    _readable_by_others,
    _symlink,
    pytest.param(
        _other_owner,
        marks=pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root"),
    ),
    pytest.param(
        _unreadable,
        marks=pytest.mark.skipif(os.geteuid() == 0, reason="root reads mode-0 files"),
    ),
]


@pytest.mark.parametrize("spoil", BAD_FILES)
def test_an_unusable_file_is_ignored_then_replaced(
    spoil: Callable[[Path], None],
    reference_server: LiveServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = FileCache(tmp_path / "c")
    key = key_of(reference_server)
    path = cache.path / f"{key}.json"
    spoil(path)
    with caplog.at_level(logging.WARNING, logger="screening_eagle_id"):
        assert cache.get(key) is None
        with TokenClient(
            reference_server.url, creds(reference_server), scope="openid", cache=cache
        ) as client:
            token = client.get_token()
    assert_valid(token, reference_server)
    assert "ignoring" in caplog.text
    assert "CONTENT" not in caplog.text  # the file's bytes are never logged
    assert token.access_token not in caplog.text
    # Replaced by a proper file: ours, regular, 0600, holding the new token.
    info = path.lstat()
    assert stat.S_ISREG(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == os.geteuid()
    again = cache.get(key)
    assert again is not None
    assert again.access_token == token.access_token


@pytest.mark.parametrize(
    "expires_at",
    ["Infinity", "NaN", "1e300", "-1e300", "9" * 400],
    ids=["inf", "nan", "1e300", "-1e300", "huge-int"],
)
def test_a_cached_timestamp_out_of_range_is_ignored(
    expires_at: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = FileCache(tmp_path / "c")
    key = "a" * 64
    fd = os.open(cache.path / f"{key}.json", os.O_WRONLY | os.O_CREAT, 0o600)
    body = '{"access_token": "x", "token_type": "Bearer", "scope": "openid", "issued_at": 0, '
    os.write(fd, f'{body}"expires_at": {expires_at}}}'.encode())
    os.close(fd)
    with caplog.at_level(logging.WARNING, logger="screening_eagle_id"):
        assert cache.get(key) is None
    assert "not a cached token" in caplog.text


# --- single flight across clients, tasks, processes -----------------------------------------


def test_a_second_client_adopts_the_token_from_the_file(
    reference_server: LiveServer, tmp_path: Path
) -> None:
    before = reference_server.token_requests()
    with TokenClient(
        reference_server.url,
        creds(reference_server),
        scope="openid",
        cache=FileCache(tmp_path / "c"),
    ) as first:
        token = first.get_token()
    # A new client and a new FileCache object: as a new process would see it.
    with TokenClient(
        reference_server.url,
        creds(reference_server),
        scope="openid",
        cache=FileCache(tmp_path / "c"),
    ) as second:
        assert second.get_token().access_token == token.access_token
    assert reference_server.token_requests() - before == 1


def test_async_client_tasks_share_the_file(reference_server: LiveServer, tmp_path: Path) -> None:
    before = reference_server.token_requests()

    async def storm() -> set[str]:
        async with AsyncTokenClient(
            reference_server.url,
            creds(reference_server),
            scope="openid",
            cache=FileCache(tmp_path / "c"),
        ) as client:
            tokens = await asyncio.gather(*(client.get_token() for _ in range(50)))
        return {t.access_token for t in tokens}

    first = asyncio.run(storm())
    second = asyncio.run(storm())  # a new client, event loop and cache object: reads the file
    assert len(first) == 1
    assert first == second
    assert reference_server.token_requests() - before == 1


def test_eight_processes_of_fifty_threads_on_a_cold_cache_make_one_request(
    reference_server: LiveServer, tmp_path: Path
) -> None:
    folder = tmp_path / "shared"
    before = reference_server.token_requests()
    with spawn(
        "storm", "--file", str(folder), "--threads", "50", count=8, env=worker_env(reference_server)
    ) as workers:
        assert [w.line() for w in workers] == ["ready"] * 8
        for worker in workers:
            worker.send("go")
        results = [json.loads(w.line()) for w in workers]
        assert [w.process.wait(timeout=60) for w in workers] == [0] * 8
    assert [r["errors"] for r in results] == [[]] * 8
    hashes = {h for r in results for h in r["tokens"]}
    assert len(hashes) == 1  # all 400 callers got the same token...
    assert reference_server.token_requests() - before == 1  # ...from exactly one request
    cached = FileCache(folder).get(key_of(reference_server))
    assert cached is not None
    assert hashlib.sha256(cached.access_token.encode()).hexdigest() in hashes
    assert_valid(cached, reference_server)


# --- crashes: kill -9 while holding the lock, mid-write ------------------------------------


def test_kill_9_of_the_lock_holder_lets_a_waiter_take_the_lock(
    reference_server: LiveServer, tmp_path: Path
) -> None:
    folder = tmp_path / "c"
    key = key_of(reference_server)
    before = reference_server.token_requests()
    with spawn("hold-lock", key, "--file", str(folder)) as (holder,):
        assert holder.line() == "locked"
        cache = RecordingFileCache(folder, lock_timeout=60)
        got: list[str] = []
        client = TokenClient(
            reference_server.url, creds(reference_server), scope="openid", cache=cache
        )
        waiter = threading.Thread(target=lambda: got.append(client.get_token().access_token))
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive()  # blocked on the holder's flock...
        assert got == []
        holder.kill9()
        waiter.join(60)  # ...and released the moment the kernel reaps the holder
    assert not waiter.is_alive()
    assert cache.acquired == [True]  # it took the lock; it did not time out
    assert reference_server.token_requests() - before == 1
    cached = cache.get(key)
    assert cached is not None
    assert cached.access_token == got[0]
    assert_valid(cached, reference_server)
    client.close()


def test_kill_9_mid_write_leaves_the_previous_file_whole(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "c", lock_timeout=30)
    cache.set(KEY, synthetic_token("OLD"))
    with spawn("mid-write", KEY, "--file", str(cache.path)) as (writer,):
        assert writer.line() == "writing"  # the temp file is written, not yet renamed
        writer.kill9()
    got = cache.get(KEY)
    assert got is not None
    assert got.access_token == "OLD"
    (leftover,) = cache.path.glob(f".{KEY}.*.tmp")
    assert b"NEW-NEVER-RENAMED" in leftover.read_bytes()
    with cache.lock(KEY) as acquired:  # the dead writer's lock is gone
        assert acquired is True
    # The next write sweeps a crashed writer's temp file once it is clearly stale.
    stale = time.time() - 3600
    os.utime(leftover, (stale, stale))
    cache.set(KEY, synthetic_token("NEWER"))
    assert not leftover.exists()
    newer = cache.get(KEY)
    assert newer is not None
    assert newer.access_token == "NEWER"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_at_a_random_moment_of_a_write_loop_never_corrupts(
    tmp_path: Path, seed: int
) -> None:
    cache = FileCache(tmp_path / "c")
    with spawn("write-loop", KEY, "--file", str(cache.path)) as (writer,):
        assert writer.line() == "started"
        threading.Event().wait(random.Random(seed).uniform(0, 0.05))
        writer.kill9()
    raw = (cache.path / f"{KEY}.json").read_bytes()
    json.loads(raw)  # whole JSON, never a torn write
    got = cache.get(KEY)
    assert got is not None
    assert got.access_token.startswith("loop-")


# --- lock timeouts --------------------------------------------------------------------------


def test_a_lock_held_too_long_times_out_and_the_caller_still_gets_a_token(
    reference_server: LiveServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    holder = FileCache(tmp_path / "c")
    impatient = RecordingFileCache(tmp_path / "c", lock_timeout=0.05)
    key = key_of(reference_server)
    with holder.lock(key) as held, caplog.at_level(logging.WARNING, logger="screening_eagle_id"):
        assert held is True  # a separate open file: flock excludes it even in this process
        with TokenClient(
            reference_server.url, creds(reference_server), scope="openid", cache=impatient
        ) as c:
            token = c.get_token()

        async def alock() -> bool:
            async with impatient.alock(key) as acquired:
                return bool(acquired)

        assert asyncio.run(alock()) is False
    assert impatient.acquired == [False]
    assert_valid(token, reference_server)
    assert "fetching without it" in caplog.text

    async def free_alock() -> bool:
        async with impatient.alock(key) as acquired:
            return bool(acquired)

    assert asyncio.run(free_alock()) is True


# --- secrets and the command line ----------------------------------------------------------


def test_nothing_secret_in_the_cache_folder(tmp_path: Path) -> None:
    with sentinel_server() as server:
        cache = FileCache(tmp_path / "c")
        with TokenClient(server.url, creds(server), scope="openid offline", cache=cache) as c:
            token = c.get_token()
            c.invalidate()
            c.get_token()  # write, delete, write again
        assert_valid(token, server)
        files = list(cache.path.iterdir())
        assert files  # the token file and its lock file
        for path in files:
            data = path.read_bytes()
            for form in secret_forms(server.client_id, server.client_secret):
                assert form not in data, path.name
            assert server.client_id.encode() not in path.name.encode()


def test_eagle_id_token_reuses_its_token_across_calls(
    reference_server: LiveServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("EAGLE_ID_CLIENT_ID", reference_server.client_id)
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", reference_server.client_secret)
    argv = ["token", "--url", reference_server.url, "--scope", "inspect"]
    before = reference_server.token_requests()
    outputs = []
    for _ in range(3):
        out = io.StringIO()
        assert _cli.main(argv, out=out) == 0
        outputs.append(out.getvalue())
    assert len(set(outputs)) == 1  # the default cache is the file cache
    assert reference_server.token_requests() - before == 1
    assert (tmp_path / "xdg" / "eagle-id" / f"{key_of(reference_server, 'inspect')}.json").exists()
    out = io.StringIO()
    assert _cli.main([*argv, "--cache", "memory"], out=out) == 0
    assert out.getvalue() not in outputs
    assert reference_server.token_requests() - before == 2


def test_an_expired_file_token_is_refetched(reference_server: LiveServer, tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "c")
    key = key_of(reference_server)
    past = datetime.now(tz=UTC) - timedelta(hours=2)
    expired = synthetic_token("EXPIRED")
    cache.set(
        key,
        type(expired)(
            access_token="EXPIRED",
            token_type="Bearer",
            scope=frozenset({"openid"}),
            issued_at=past,
            expires_at=past + timedelta(hours=1),
        ),
    )
    with TokenClient(
        reference_server.url, creds(reference_server), scope="openid", cache=cache
    ) as client:
        token = client.get_token()
    assert token.access_token != "EXPIRED"
    assert_valid(token, reference_server)
    stored = cache.get(key)
    assert stored is not None
    assert stored.access_token == token.access_token


def test_a_failed_write_is_logged_and_the_caller_keeps_its_token(
    reference_server: LiveServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = FileCache(tmp_path / "c")
    key = key_of(reference_server)
    # A non-empty folder where the token file belongs: unreadable and unreplaceable
    # (unlike a read-only folder, this stops root too).
    (cache.path / f"{key}.json" / "in-the-way").mkdir(parents=True)
    with (
        caplog.at_level(logging.WARNING, logger="screening_eagle_id"),
        TokenClient(
            reference_server.url, creds(reference_server), scope="openid", cache=cache
        ) as c,
    ):
        token = c.get_token()
        assert c.get_token() is token  # served from memory afterwards
    assert_valid(token, reference_server)
    assert "not a regular file" in caplog.text
    assert "cannot write" in caplog.text
    assert token.access_token not in caplog.text
    assert not list(cache.path.glob("*.tmp"))  # the failed write cleaned up after itself


def test_waiters_stop_waiting_once_the_holder_stores_a_token(
    reference_server: LiveServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = key_of(reference_server)
    holder = FileCache(tmp_path / "c")
    waiting = RecordingFileCache(tmp_path / "c", lock_timeout=60)
    before = reference_server.token_requests()
    with (
        caplog.at_level(logging.WARNING, logger="screening_eagle_id"),
        TokenClient(reference_server.url, creds(reference_server), scope="openid") as fetcher,
        TokenClient(
            reference_server.url, creds(reference_server), scope="openid", cache=waiting
        ) as client,
        holder.lock(key) as held,  # another process is fetching...
    ):
        assert held is True
        got: list[str] = []
        waiter = threading.Thread(target=lambda: got.append(client.get_token().access_token))
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive()  # ...so this one waits
        token = fetcher.get_token()
        holder.set(key, token)  # ...and stores its token, still holding the lock
        waiter.join(60)
        assert not waiter.is_alive()  # done before the lock was released
    assert got == [token.access_token]
    assert waiting.acquired == [False]
    assert "fetching without it" not in caplog.text  # it did not time out
    assert reference_server.token_requests() - before == 1  # only the holder's fetch


def test_separate_eagle_id_processes_share_one_token(
    reference_server: LiveServer, tmp_path: Path
) -> None:
    script = Path(sys.executable).parent / "eagle-id"
    env = worker_env(reference_server, scope="profile")
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    before = reference_server.token_requests()
    outputs = [
        subprocess.run(
            [str(script), "token"], env=env, capture_output=True, text=True, timeout=60, check=True
        ).stdout
        for _ in range(2)
    ]
    assert outputs[0] == outputs[1]
    assert outputs[0].count(".") == 2  # a JWT
    assert reference_server.token_requests() - before == 1
