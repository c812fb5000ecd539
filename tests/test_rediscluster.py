"""RedisCache / AsyncRedisCache on a real local Redis Cluster (three masters started here),
the real reference server and real processes."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import redis.asyncio.cluster
import redis.cluster
from cache_support import assert_valid, spawn, worker_env
from live_server import LiveServer
from readme_snippets import run_snippet
from redis.crc import key_slot
from redis_cluster import RedisCluster, start_cluster
from screening_eagle_id import (
    AsyncRedisCache,
    AsyncTokenClient,
    ClientCredentials,
    ConfigurationError,
    RedisCache,
    Token,
    TokenClient,
    cache_key,
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    with start_cluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


@pytest.fixture
def rc(cluster: RedisCluster) -> Iterator[redis.cluster.RedisCluster]:
    """A raw cluster client on empty masters."""
    with cluster.client() as client:
        client.flushall(target_nodes=redis.cluster.RedisCluster.PRIMARIES)
        yield client


def creds(server: LiveServer) -> ClientCredentials:
    return ClientCredentials(server.client_id, server.client_secret)


def test_token_and_lock_keys_share_a_hash_slot(
    cluster: RedisCluster, rc: redis.cluster.RedisCluster, reference_server: LiveServer
) -> None:
    with RedisCache(cluster.url) as cache:
        for i in range(200):
            key = cache_key(f"https://id{i}.example.com", "c", ["openid"])
            assert key_slot(cache._token_key(key).encode()) == key_slot(
                cache._lock_key(key).encode()
            )
        with TokenClient(
            reference_server.url, creds(reference_server), scope="openid", cache=cache
        ) as client:
            token = client.get_token()
            key = client.cache_key
    stored = rc.get(f"eagle-id:token:{{{key}}}")
    assert stored is not None
    assert json.loads(stored) == token.to_dict()
    assert rc.keyslot(f"eagle-id:token:{{{key}}}") == rc.keyslot(f"eagle-id:lock:{{{key}}}")


def test_a_cluster_client_and_a_cluster_url_see_the_same_entries(
    cluster: RedisCluster, rc: redis.cluster.RedisCluster, reference_server: LiveServer
) -> None:
    with TokenClient(reference_server.url, creds(reference_server), scope="openid") as client:
        token, key = client.get_token(), client.cache_key
    with RedisCache(cluster.url) as by_url, RedisCache(rc) as by_client:
        by_url.set(key, token)
        assert by_client.get(key) == token
        by_client.delete(key)
        assert by_url.get(key) is None
    assert "cluster" in repr(RedisCache(cluster.url))


def test_the_lock_is_exclusive_and_released_by_its_owner(
    cluster: RedisCluster, rc: redis.cluster.RedisCluster
) -> None:
    key = "ab" * 32
    lock_name = f"eagle-id:lock:{{{key}}}"
    with (
        RedisCache(cluster.url, lock_timeout=5) as first,
        RedisCache(rc, lock_timeout=0.2) as other,
    ):
        with first.lock(key) as acquired:
            assert acquired
            assert rc.exists(lock_name) == 1
            with other.lock(key) as also:  # waits its (short) budget, then proceeds unlocked
                assert not also
            assert rc.exists(lock_name) == 1  # the waiter did not delete the owner's lock
        assert rc.exists(lock_name) == 0  # released by the Lua script, on the slot's node


def test_processes_on_a_cold_cache_make_one_request(
    cluster: RedisCluster, rc: redis.cluster.RedisCluster, reference_server: LiveServer
) -> None:
    before = reference_server.token_requests()
    with spawn(
        "storm",
        "--redis",
        cluster.url,
        "--threads",
        "10",
        count=3,
        env=worker_env(reference_server, scope="openid profile"),
    ) as workers:
        assert [w.line() for w in workers] == ["ready"] * 3
        for worker in workers:
            worker.send("go")
        results = [json.loads(w.line()) for w in workers]
        assert [w.process.wait(timeout=60) for w in workers] == [0] * 3
    assert [res["errors"] for res in results] == [[]] * 3
    assert len({h for res in results for h in res["tokens"]}) == 1
    assert reference_server.token_requests() - before == 1


@pytest.mark.parametrize("form", ["client", "url"])
def test_async_clients_on_a_cold_cache_make_one_request(
    cluster: RedisCluster, rc: redis.cluster.RedisCluster, reference_server: LiveServer, form: str
) -> None:
    before = reference_server.token_requests()

    async def storm() -> set[str]:
        raw = redis.asyncio.cluster.RedisCluster(host="127.0.0.1", port=cluster.nodes[1].port)
        async with raw, AsyncRedisCache(raw if form == "client" else cluster.url) as cache:
            clients = [
                AsyncTokenClient(
                    reference_server.url, creds(reference_server), scope="email", cache=cache
                )
                for _ in range(3)
            ]
            tokens = await asyncio.gather(*(c.get_token() for c in clients for _ in range(20)))
            for client in clients:
                await client.aclose()
        return {t.access_token for t in tokens}

    assert len(asyncio.run(storm())) == 1
    assert reference_server.token_requests() - before == 1


def test_the_readme_snippet_runs(
    cluster: RedisCluster, rc: redis.cluster.RedisCluster, reference_server: LiveServer
) -> None:
    scope = run_snippet(
        "redis-cluster",
        cluster_url=cluster.url,
        url=reference_server.url,
        creds=creds(reference_server),
    )
    token = scope["token"]
    assert isinstance(token, Token)
    key = cache_key(reference_server.url, reference_server.client_id, ["inspect"])
    assert rc.get(f"eagle-id:token:{{{key}}}") is not None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+cluster://", "needs the host:port of a node"),
        ("redis+cluster://node:notaport", "Port could not be cast"),
        ("rediss+cluster://:hunter2@node:1?db=x&password=hunter3", "Invalid value for 'db'"),
        ("cluster://node:1", "redis[+]cluster://"),
        ("redis://:hunter2@node:99999", "Port out of range"),
    ],
)
def test_a_malformed_url_is_refused_up_front_without_its_password(url: str, message: str) -> None:
    for cache_class in (RedisCache, AsyncRedisCache):
        with pytest.raises(ConfigurationError, match=message) as caught:
            cache_class(url)
        assert "hunter" not in str(caught.value)


def test_braces_in_the_prefix_are_refused(cluster: RedisCluster) -> None:
    with pytest.raises(ConfigurationError, match="braces"):
        RedisCache(cluster.url, prefix="app{1}:")


def test_a_cluster_that_is_down_at_start_up_is_an_outage_not_an_error(
    reference_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: no node there
    with (
        RedisCache(f"redis+cluster://:pw-in-url@127.0.0.1:{port}") as cache,
        TokenClient(
            reference_server.url, creds(reference_server), scope="openid", cache=cache
        ) as client,
    ):
        assert_valid(client.get_token(), reference_server)
    assert "pw-in-url" not in caplog.text
    assert "fetching tokens directly" in caplog.text


# Last in this module: it kills a master of the module's cluster (a new cluster costs seconds).
def test_a_master_killed_mid_run_still_leaves_callers_with_a_token(
    cluster: RedisCluster, reference_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    with RedisCache(cluster.url, outage_backoff=0.2) as cache:
        key = cache_key(reference_server.url, reference_server.client_id, ["offline"])
        victim = cluster.node_for(cache._token_key(key))
        got: list[Token] = []
        errors: list[BaseException] = []
        guard = threading.Lock()
        deadline = time.monotonic() + 20  # a bound only: the loop ends 20 calls after the kill
        killed = threading.Event()
        after_kill = 0

        def caller() -> None:
            nonlocal after_kill
            while after_kill < 20 and time.monotonic() < deadline:
                try:  # a new process's client each time: cold memory, the cluster decides
                    with TokenClient(
                        reference_server.url, creds(reference_server), scope="offline", cache=cache
                    ) as client:
                        token = client.get_token()
                except BaseException as exc:
                    with guard:
                        errors.append(exc)
                    return
                with guard:
                    got.append(token)
                    if killed.is_set():
                        after_kill += 1
                    elif len(got) == 20:
                        victim.kill()
                        killed.set()

        threads = [threading.Thread(target=caller) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert errors == []
    assert killed.is_set()
    assert after_kill >= 20
    for token in {t.access_token: t for t in got}.values():
        assert_valid(token, reference_server)
    assert "fetching tokens directly" in caplog.text
