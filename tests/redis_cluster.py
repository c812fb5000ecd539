"""Run a real local Redis Cluster for the RedisCache cluster tests: three masters, no replicas.

Each master is a `redis-server --cluster-enabled yes` on a free 127.0.0.1 port with its own
temp dir (no persistence); `redis-cli --cluster create` assigns the 16384 slots. Skipped
like the single-instance tests when the binaries are missing (a failure under CI).
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import redis
import redis.cluster
from redis_server import RedisServer, redis_server_binary

__all__ = ["RedisCluster", "start_cluster"]

_READY_TIMEOUT = 15.0


def _redis_cli() -> str:
    found = shutil.which("redis-cli") or (
        "/usr/bin/redis-cli" if os.access("/usr/bin/redis-cli", os.X_OK) else None
    )
    if found is None:
        message = "redis-cli is not installed (apt-get install redis-server; .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too; at most 55535, as Redis wants."""
    for _ in range(200):
        port = random.randint(20000, 55535)
        if _bindable(port) and _bindable(port + 10000):
            return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


class _ClusterNode(RedisServer):
    """One cluster-enabled redis-server (a short node timeout: tests see failures quickly)."""

    def __init__(self, binary: str, workdir: Path) -> None:
        super().__init__(binary, workdir)
        self.port = _cluster_port()

    def extra_args(self) -> list[str]:
        return [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            str(self._dir / f"nodes-{self.port}.conf"),
            "--cluster-node-timeout",
            "1000",
        ]

    def kill(self) -> None:
        """SIGKILL, as a crashed or partitioned master."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)


class RedisCluster:
    """Three running masters: their ports, a `redis+cluster://` URL, clients, a kill switch."""

    def __init__(self, nodes: list[_ClusterNode]) -> None:
        self.nodes = nodes

    @property
    def url(self) -> str:
        """The URL form RedisCache takes for a cluster (one node is enough)."""
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def client(self) -> redis.cluster.RedisCluster:
        """A new synchronous cluster client (close it)."""
        return redis.cluster.RedisCluster(
            host="127.0.0.1", port=self.nodes[0].port, socket_timeout=5
        )

    def node_for(self, key: str) -> _ClusterNode:
        """The master that serves `key`'s hash slot."""
        with self.client() as client:
            node = client.get_node_from_key(key)
        return next(n for n in self.nodes if n.port == node.port)


@contextmanager
def start_cluster(workdir: Path) -> Iterator[RedisCluster]:
    """A running three-master cluster for the duration of the block (skips if not installed)."""
    binary, cli = redis_server_binary(), _redis_cli()
    with ExitStack() as stack:
        nodes = []
        for i in range(3):
            folder = workdir / f"node{i}"
            folder.mkdir()
            node = _ClusterNode(binary, folder)
            try:
                node.start()
            except RuntimeError:  # the port was taken between probing and binding: once more
                node = _ClusterNode(binary, folder)
                node.start()
            stack.callback(node.stop)
            nodes.append(node)
        addresses = [f"127.0.0.1:{n.port}" for n in nodes]
        subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=30,
        )
        deadline = time.monotonic() + _READY_TIMEOUT
        while not all(_ready(n) for n in nodes):
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis Cluster did not become ready")
            time.sleep(0.05)
        yield RedisCluster(nodes)


def _ready(node: RedisServer) -> bool:
    with node.client() as client:
        info = client.execute_command("CLUSTER", "INFO")
        text = info.decode() if isinstance(info, bytes) else str(info)
        slots = client.execute_command("CLUSTER", "SLOTS")
    return "cluster_state:ok" in text and len(slots) == 3
