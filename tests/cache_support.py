"""Helpers shared by the FileCache and RedisCache tests: worker processes, a server whose
client secret is a sentinel, token checks."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import secrets
import signal
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import jwt
from live_server import LiveServer, start_server
from screening_eagle_id import Token
from screening_eagle_id_server import Registry, Settings

__all__ = [
    "SENTINEL_CLIENT_ID",
    "SENTINEL_SECRET",
    "Worker",
    "assert_valid",
    "secret_forms",
    "sentinel_server",
    "spawn",
    "worker_env",
]

WORKER = Path(__file__).with_name("cache_worker.py")

SENTINEL_CLIENT_ID = "cache-sentinel-client"
#: A secret that must never show up in any cache (characters a form encoder changes, too).
SENTINEL_SECRET = "SENTINEL-cache-secret+/=" + secrets.token_hex(8)


def secret_forms(client_id: str, secret: str) -> list[bytes]:
    """Every shape the secret travels in: raw, form-encoded, and both Basic encodings."""
    quoted = urllib.parse.quote_plus(secret)
    return [
        secret.encode(),
        quoted.encode(),
        base64.b64encode(f"{client_id}:{secret}".encode()),
        base64.b64encode(f"{urllib.parse.quote_plus(client_id)}:{quoted}".encode()),
    ]


@contextmanager
def sentinel_server() -> Iterator[LiveServer]:
    """A reference server whose only client has the sentinel secret."""
    registry = Registry.from_toml(
        f"""
[[clients]]
client_id = "{SENTINEL_CLIENT_ID}"
secret_sha256 = "{hashlib.sha256(SENTINEL_SECRET.encode()).hexdigest()}"
scopes = ["openid", "email", "profile", "inspect", "offline"]
grant_types = ["client_credentials"]

[clients.claims]
sub = "7"
"""
    )
    with start_server(Settings(signing_key=secrets.token_bytes(32), registry=registry)) as server:
        yield dataclasses.replace(
            server, client_id=SENTINEL_CLIENT_ID, client_secret=SENTINEL_SECRET
        )


def assert_valid(token: Token, server: LiveServer) -> None:
    """The token is a JWT this server signed for its client (raises otherwise)."""
    jwt.decode(
        token.access_token, server.signing_key, algorithms=["HS256"], audience=server.client_id
    )


def worker_env(server: LiveServer, scope: str = "openid") -> dict[str, str]:
    """Environment for a worker process: the server and credentials, nothing from a profile."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EAGLE_ID_")}
    env.update(
        EAGLE_ID_URL=server.url,
        EAGLE_ID_CLIENT_ID=server.client_id,
        EAGLE_ID_CLIENT_SECRET=server.client_secret,
        EAGLE_ID_SCOPE=scope,
    )
    return env


class Worker:
    """A `cache_worker.py` child process, talked to line by line."""

    def __init__(self, args: list[str], env: dict[str, str] | None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def line(self) -> str:
        """The next line it prints ('' if it exited)."""
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def kill9(self) -> None:
        """SIGKILL: no finally blocks, no atexit, no flush: as a crash or the OOM killer."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


@contextmanager
def spawn(*argv: str, count: int = 1, env: dict[str, str] | None = None) -> Iterator[list[Worker]]:
    """Start `count` workers at once (they import in parallel); kill them all on exit."""
    workers: list[Worker] = []
    try:
        for _ in range(count):
            workers.append(Worker(list(argv), env))
        yield workers
    finally:
        for worker in workers:
            worker.close()
