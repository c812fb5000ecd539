"""Shared caches written by someone else: a poisoned entry is a miss and is overwritten by the
next fetch; a client with another secret never gets a cached token; Redis locks that never
end are stale. Real FileCache folders, a real redis-server, the real reference server."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from hostile_server import json_response, serve
from live_server import LiveServer
from redis_server import RedisServer, start_redis
from screening_eagle_id import (
    AsyncRedisCache,
    AsyncTokenClient,
    ClientCredentials,
    ConfigurationError,
    FileCache,
    InvalidClientError,
    MemoryCache,
    RedisCache,
    Token,
    TokenCache,
    TokenClient,
    _cli,
    cache_key,
)
from screening_eagle_id._entry import MAX_ENTRY_BYTES, binding_key, decode, verify


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with start_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def r(redis_server: RedisServer) -> Iterator[redis.Redis]:
    with redis_server.client() as client:
        client.flushdb()
        yield client


def creds(server: LiveServer, secret: str | None = None) -> ClientCredentials:
    return ClientCredentials(server.client_id, secret or server.client_secret)


class Store:
    """One kind of shared cache, and raw access to what it stores under a key."""

    def __init__(
        self,
        cache: TokenCache,
        read: Callable[[str], bytes | None],
        write: Callable[[str, bytes], None],
    ) -> None:
        self.cache, self.read, self.write = cache, read, write


@pytest.fixture(params=["file", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "file":
        folder = tmp_path / "cache"
        cache = FileCache(folder)

        def write(key: str, raw: bytes) -> None:
            (folder / f"{key}.json").write_bytes(raw)
            (folder / f"{key}.json").chmod(0o600)

        def read(key: str) -> bytes | None:
            path = folder / f"{key}.json"
            return path.read_bytes() if path.exists() else None

        yield Store(cache, read, write)
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    raw: redis.Redis = request.getfixturevalue("r")
    with RedisCache(server.url) as rcache:
        yield Store(
            rcache,
            lambda key: raw.get(f"eagle-id:token:{key}"),  # type: ignore[arg-type,return-value]
            lambda key, value: raw.set(f"eagle-id:token:{key}", value),  # type: ignore[func-returns-value]
        )


def _genuine(server: LiveServer, cache: TokenCache) -> tuple[str, dict[str, object]]:
    """Fetch a real token through `cache`; its key and its stored entry as a dict."""
    with TokenClient(server.url, creds(server), scope="openid", cache=cache) as tc:
        token = tc.get_token()
    return tc.cache_key, token.to_dict()


def _poisons(genuine: dict[str, object]) -> dict[str, Callable[[], bytes]]:
    """Ways to poison an entry, each building its bytes from a genuine entry when called."""
    now = time.time()

    def variant(**changes: object) -> Callable[[], bytes]:
        # The genuine binding stays: copied from a genuine entry.
        return lambda: json.dumps({**genuine, **changes}).encode()

    return {
        "deep JSON": lambda: b"[" * 200_000,
        "deep JSON in a field": lambda: b'{"v": 1, "access_token": ' + b"[" * 50_000,
        "not JSON": lambda: b"\xff\x00garbage",
        "year 9999": variant(expires_at=253402300799.0),
        "5 years from now": variant(expires_at=now + 5 * 365 * 86400),
        "issued in the future": variant(issued_at=now + 86400, expires_at=now + 90000),
        "another scope": variant(scope="admin"),
        "token_type mac": variant(token_type="mac"),
        "8 MiB token": variant(access_token="A" * (8 << 20)),
        "token with CR/LF": variant(access_token="abc\r\nX-Evil: 1"),
        "no binding": variant(binding=None),
        "another secret's binding": variant(binding="0" * 64),
        "an old entry without a version": lambda: json.dumps(
            {k: v for k, v in genuine.items() if k not in ("v", "binding")}
        ).encode(),
    }


POISONS = list(_poisons({"v": 1}))


@pytest.mark.parametrize("poison", POISONS)
def test_a_poisoned_entry_is_a_miss_and_gets_overwritten(
    reference_server: LiveServer, store: Store, poison: str
) -> None:
    key, genuine = _genuine(reference_server, store.cache)
    store.write(key, _poisons(genuine)[poison]())
    before = reference_server.token_requests()
    with TokenClient(
        reference_server.url, creds(reference_server), scope="openid", cache=store.cache
    ) as tc:
        token = tc.get_token()
    assert reference_server.token_requests() == before + 1  # the entry was not served
    assert token.access_token != "A" * 10
    raw = store.read(key)
    assert raw is not None
    assert len(raw) < MAX_ENTRY_BYTES
    entry = decode(raw)  # overwritten with a good one
    verify(
        entry,
        key=binding_key(reference_server.client_secret, key),
        scopes=["openid"],
        now=time.time(),
    )
    assert entry.access_token == token.access_token


def test_poisoned_memory_cache_entries_are_misses_too(reference_server: LiveServer) -> None:
    cache = MemoryCache()
    key, genuine = _genuine(reference_server, cache)
    good = Token.from_dict(genuine)
    for poison in (
        Token.from_dict({**genuine, "binding": None}),
        Token(  # a forged token, with a binding copied from a genuine one
            access_token="forged",
            token_type="Bearer",
            scope=frozenset({"openid"}),
            issued_at=good.issued_at,
            expires_at=good.expires_at,
            binding=good.binding,
        ),
        Token(
            access_token="forged",
            token_type="mac",
            scope=frozenset({"admin"}),
            issued_at=good.issued_at,
            expires_at=good.expires_at,
        ),
    ):
        cache.set(key, poison)
        before = reference_server.token_requests()
        with TokenClient(
            reference_server.url, creds(reference_server), scope="openid", cache=cache
        ) as tc:
            assert tc.get_token().access_token != "forged"
        assert reference_server.token_requests() == before + 1
        stored = cache.get(key)
        assert stored is not None
        assert stored.access_token not in ("forged", poison.access_token)


# --- 5. a wrong secret never gets a cached token ----------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "file", "redis"])
def test_a_wrong_secret_misses_the_entry_and_the_server_refuses_it(
    reference_server: LiveServer,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    kind: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache: TokenCache
    if kind == "memory":
        cache = MemoryCache()
    elif kind == "file":
        cache = FileCache(tmp_path / "cache")
    else:
        cache = RedisCache(request.getfixturevalue("redis_server").url)
        request.getfixturevalue("r")  # an empty database
    with TokenClient(
        reference_server.url, creds(reference_server), scope="openid", cache=cache
    ) as right:
        token = right.get_token()
    with (
        TokenClient(
            reference_server.url, creds(reference_server, "wrong"), scope="openid", cache=cache
        ) as wrong,
        pytest.raises(InvalidClientError),
        caplog.at_level(logging.WARNING, logger="screening_eagle_id"),
    ):
        wrong.get_token()
    # Checked before and under the cache lock, said once.
    assert caplog.text.count("not using the cached token") == 1
    stored = cache.get(right.cache_key)
    assert stored is not None
    assert stored.access_token == token.access_token  # left alone


def test_the_cli_with_a_wrong_secret_gets_no_token(
    reference_server: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("EAGLE_ID_URL", reference_server.url)
    monkeypatch.setenv("EAGLE_ID_CLIENT_ID", reference_server.client_id)
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", reference_server.client_secret)
    monkeypatch.setenv("EAGLE_ID_SCOPE", "openid")
    assert _cli.main(["token"]) == 0  # cached in the default FileCache
    token = capsys.readouterr().out.strip()
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", "wrong")
    assert _cli.main(["token"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "InvalidClientError" in captured.err
    assert token not in captured.err
    cache_dir = Path(_cli._file_cache().path)  # type: ignore[attr-defined]
    for path in cache_dir.iterdir():
        assert b"wrong" not in path.read_bytes()
        assert reference_server.client_secret.encode() not in path.read_bytes()


def test_the_cli_with_a_poisoned_file_entry_or_profile_prints_one_line(
    reference_server: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("EAGLE_ID_URL", reference_server.url)
    monkeypatch.setenv("EAGLE_ID_CLIENT_ID", reference_server.client_id)
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", reference_server.client_secret)
    monkeypatch.setenv("EAGLE_ID_SCOPE", "openid")
    folder = Path(_cli._file_cache().path)  # type: ignore[attr-defined]
    key = cache_key(reference_server.url, reference_server.client_id, ["openid"])
    (folder / f"{key}.json").write_bytes(b"[" * 200_000)
    (folder / f"{key}.json").chmod(0o600)
    assert _cli.main(["token"]) == 0
    assert capsys.readouterr().out.count(".") == 2
    # A profile file nested too deeply: one line, exit 2.
    for name in ("EAGLE_ID_URL", "EAGLE_ID_CLIENT_ID", "EAGLE_ID_CLIENT_SECRET"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    profile = tmp_path / "eagle-id" / "credentials.toml"
    profile.parent.mkdir()
    profile.write_text("[default]\nclient_id = " + "[" * 5000 + "\n")
    profile.chmod(0o600)
    assert _cli.main(["token"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Traceback" not in err


# --- 8. Redis locks: stale ones are taken over, a holder keeps its own ------------------------


def _slow_token(delay: float, served: list[float]) -> Callable[[socket.socket, bytes], None]:
    body = {"access_token": "slow.token.x", "token_type": "Bearer", "expires_in": 3600}

    def respond(conn: socket.socket, request: bytes) -> None:
        served.append(time.monotonic())
        time.sleep(delay)
        json_response(200, body)(conn, request)

    return respond


@pytest.mark.parametrize(
    "lock_value", ["no TTL", "an old heartbeat", "an old heartbeat, no holder TTL", "not a string"]
)
def test_a_stale_redis_lock_does_not_make_fetches_wait(
    reference_server: LiveServer, redis_server: RedisServer, r: redis.Redis, lock_value: str
) -> None:
    key = cache_key(reference_server.url, reference_server.client_id, ["openid"])
    name = f"eagle-id:lock:{key}"
    if lock_value == "no TTL":
        r.set(name, "crashed-holder")
    elif lock_value == "an old heartbeat":
        seconds, micros = r.time()  # type: ignore[misc]
        old_ms = seconds * 1000 + micros // 1000 - 120_000
        # The holder declared a 30 s lock_timeout and has not beaten for 120 s.
        r.set(name, f"someone:{old_ms}:30000", px=3_600_000)
    elif lock_value == "an old heartbeat, no holder TTL":
        seconds, micros = r.time()  # type: ignore[misc]
        old_ms = seconds * 1000 + micros // 1000 - 120_000
        r.set(name, f"someone:{old_ms}", px=3_600_000)
    else:
        r.rpush(name, "x")
    with (
        RedisCache(redis_server.url, lock_timeout=5) as cache,
        TokenClient(
            reference_server.url, creds(reference_server), scope="openid", cache=cache
        ) as tc,
    ):
        started = time.monotonic()
        tc.get_token()
        assert time.monotonic() - started < 2.5  # not the 5 s lock_timeout
    assert r.exists(name) == 0  # taken over, then released


def test_a_redis_lock_holder_extends_its_lock_while_it_fetches(
    redis_server: RedisServer, r: redis.Redis
) -> None:
    served: list[float] = []
    with serve(_slow_token(1.5, served)) as url:
        key = cache_key(url, "client-1", ["openid"])
        name = f"eagle-id:lock:{key}"
        results: list[str] = []

        def fetch() -> None:
            with (
                RedisCache(redis_server.url, lock_timeout=0.6) as cache,
                TokenClient(
                    url, ClientCredentials("client-1", "s"), scope="openid", cache=cache
                ) as tc,
            ):
                results.append(tc.get_token().access_token)

        first = threading.Thread(target=fetch)
        first.start()
        time.sleep(1.0)  # the holder's fetch takes 1.5 s; its lock_timeout is 0.6 s
        assert r.exists(name) == 1
        assert 0 < r.pttl(name) <= 600
        second = threading.Thread(target=fetch)
        second.start()
        first.join(10)
        second.join(10)
    assert results == ["slow.token.x", "slow.token.x"]
    assert len(served) == 1  # the second waited for the holder and adopted its token


# --- 8. FileCache: a folder swapped for a symlink after the check is never followed -----------


def test_a_cache_folder_swapped_for_a_symlink_is_never_followed(
    reference_server: LiveServer, tmp_path: Path
) -> None:
    folder, moved, victim = tmp_path / "cache", tmp_path / "moved", tmp_path / "victim"
    cache = FileCache(folder)
    victim.mkdir(mode=0o700)
    folder.rename(moved)
    folder.symlink_to(victim)  # someone swaps the checked path for a link to their folder
    with TokenClient(
        reference_server.url, creds(reference_server), scope="openid", cache=cache
    ) as tc:
        tc.get_token()
        tc.invalidate()
        tc.get_token()
    assert list(victim.iterdir()) == []
    assert any(p.suffix == ".json" for p in moved.iterdir())  # the folder that was checked
    cache.close()


def test_a_symlinked_cache_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(ConfigurationError, match="symlink"):
        FileCache(tmp_path / "link")


def test_async_redis_lock_without_ttl_is_stale_and_the_holder_extends_its_own(
    redis_server: RedisServer, r: redis.Redis
) -> None:
    served: list[float] = []

    async def main(url: str) -> tuple[str, int]:
        key = cache_key(url, "client-1", ["openid"])
        name = f"eagle-id:lock:{key}"
        r.set(name, "crashed-holder")  # no TTL: would block every cold fetch for lock_timeout
        async with (
            AsyncRedisCache(redis_server.url, lock_timeout=0.6) as cache,
            AsyncTokenClient(
                url, ClientCredentials("client-1", "s"), scope="openid", cache=cache
            ) as tc,
        ):
            fetch = asyncio.ensure_future(tc.get_token())
            await asyncio.sleep(1.0)  # the fetch takes 1.5 s, the lock_timeout is 0.6 s
            pttl = r.pttl(name)
            return (await fetch).access_token, pttl  # type: ignore[return-value]

    with serve(_slow_token(1.5, served)) as url:
        token, pttl = asyncio.run(main(url))
    assert token == "slow.token.x"
    assert 0 < pttl <= 600  # taken over, and still held (extended) after 1 s
    assert len(served) == 1
