"""`python -m screening_eagle_id_server`: refusals at start-up, dev mode, several workers."""

from __future__ import annotations

import argparse
import asyncio
import errno
import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import jwt
import pytest
from screening_eagle_id_server import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, TOKEN_PATH, main
from screening_eagle_id_server._cli import (
    ENV_CLIENTS,
    ENV_DEV,
    ENV_DEV_KEY,
    ENV_LIFETIME,
    ENV_SIGNING_KEY,
    _parser,
    prepare_environment,
    settings_from_env,
)
from screening_eagle_id_server._protocol import LimitedHttpToolsProtocol

KEY = "k" * 40
FORM = {"grant_type": "client_credentials", "scope": "inspect"}


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A private copy of os.environ for `main`, without any of the server's variables."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {ENV_SIGNING_KEY, ENV_CLIENTS, ENV_DEV, ENV_DEV_KEY, ENV_LIFETIME}
    }
    monkeypatch.setattr(os, "environ", env)
    return env


def registry_file(tmp_path: Path, client_id: str = "svc", secret: str = "svc-secret") -> Path:
    path = tmp_path / "clients.toml"
    path.write_text(
        f"""[[clients]]
client_id = "{client_id}"
secret_sha256 = "{hashlib.sha256(secret.encode()).hexdigest()}"
scopes = ["inspect"]
grant_types = ["client_credentials"]
[clients.claims]
sub = "1"
""",
        encoding="utf-8",
    )
    return path


def _parse(argv: tuple[str, ...]) -> argparse.Namespace:
    return _parser().parse_args(list(argv))


def test_refuses_to_start_without_a_signing_key(
    environ: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--clients", str(registry_file(tmp_path))]) == 2
    assert ENV_SIGNING_KEY in capsys.readouterr().err


def test_refuses_a_short_signing_key(
    environ: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    environ[ENV_SIGNING_KEY] = "short"
    assert main(["--clients", str(registry_file(tmp_path))]) == 2
    assert "at least 32 bytes" in capsys.readouterr().err


def test_refuses_to_start_without_clients(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    environ[ENV_SIGNING_KEY] = KEY
    assert main([]) == 2
    assert "--clients" in capsys.readouterr().err


def test_a_bad_registry_stops_start_up_naming_the_entry(
    environ: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    environ[ENV_SIGNING_KEY] = KEY
    path = registry_file(tmp_path)
    path.write_text(path.read_text() + path.read_text(), encoding="utf-8")
    assert main(["--clients", str(path)]) == 2
    err = capsys.readouterr().err
    assert "clients[1] (client_id 'svc'): duplicate client_id" in err
    assert str(path) in err


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com"])
def test_dev_mode_binds_loopback_only(
    environ: dict[str, str], host: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--dev", "--host", host]) == 2
    assert "loopback only" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--workers", "0"], "--workers"), (["--lifetime", "0"], "token_lifetime")],
)
def test_bad_numbers_are_refused(
    environ: dict[str, str], argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--dev", *argv]) == 2
    assert message in capsys.readouterr().err


def test_dev_key_is_made_once_by_the_parent_and_shared_with_workers() -> None:
    env: dict[str, str] = {}
    parent = prepare_environment(_parse(("--dev", "--workers", "2")), env)
    # Each worker rebuilds its settings from the same environment: same key, same clients.
    first, second = settings_from_env(dict(env)), settings_from_env(dict(env))
    assert parent.signing_key == first.signing_key == second.signing_key
    assert len(parent.signing_key) >= 32
    assert DEMO_CLIENT_ID in first.registry
    # A second parent makes another key.
    assert prepare_environment(_parse(("--dev",)), {}).signing_key != parent.signing_key


def test_dev_mode_ignores_a_set_signing_key_and_adds_the_demo_client(tmp_path: Path) -> None:
    """The demo client's secret is public: --dev must never sign with a (possibly real) key."""
    env = {ENV_SIGNING_KEY: KEY}
    settings = prepare_environment(
        _parse(("--dev", "--workers", "2", "--clients", str(registry_file(tmp_path)))), env
    )
    assert settings.signing_key != KEY.encode()
    assert len(settings.signing_key) >= 32
    # The workers get the parent's fresh key, not the user's.
    assert settings_from_env(dict(env)).signing_key == settings.signing_key
    assert sorted(c.client_id for c in settings.registry) == [DEMO_CLIENT_ID, "svc"]


def test_dev_mode_warns_that_a_set_signing_key_is_ignored(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    environ[ENV_SIGNING_KEY] = KEY
    assert main(["--dev", "--port", "0"]) == 0
    err = capsys.readouterr().err
    assert f"{ENV_SIGNING_KEY} is set but ignored" in err
    assert KEY not in err


def test_a_dev_key_left_in_the_environment_is_not_a_production_key(tmp_path: Path) -> None:
    """Outside --dev only EAGLE_ID_SIGNING_KEY counts: the private hand-over name does not."""
    env = {ENV_DEV_KEY: KEY}
    with pytest.raises(Exception, match=ENV_SIGNING_KEY):
        prepare_environment(_parse(("--clients", str(registry_file(tmp_path)))), env)
    assert ENV_DEV_KEY not in env


def test_lifetime_reaches_the_settings() -> None:
    settings = prepare_environment(_parse(("--dev", "--lifetime", "90")), {})
    assert settings.token_lifetime == 90


# --- the real thing, in a subprocess -----------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(argv: list[str], env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "screening_eagle_id_server", "--port", str(port), *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None:
                    pytest.fail(f"the server exited: {proc.communicate()[1]}")
                proc_wait(proc, 0.05)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def proc_wait(proc: subprocess.Popen[str], seconds: float) -> None:
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=seconds)


def server_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {ENV_SIGNING_KEY, ENV_CLIENTS, ENV_DEV, ENV_DEV_KEY, ENV_LIFETIME}
    }
    env.update(extra)
    return env


@pytest.mark.slow
def test_dev_mode_serves_the_demo_client_and_says_so() -> None:
    with serve(["--dev"], server_env()) as (url, proc):
        response = httpx.post(
            url + TOKEN_PATH, data=FORM, auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
        )
        assert response.status_code == 200, response.text
    _, err = proc.communicate()
    assert "DEV MODE" in err
    assert DEMO_CLIENT_SECRET not in err.split("Not for production")[1]
    assert response.json()["access_token"] not in err


@pytest.mark.slow
def test_two_workers_sign_with_the_same_key(tmp_path: Path) -> None:
    path = registry_file(tmp_path)
    env = server_env(**{ENV_SIGNING_KEY: KEY})
    tokens = []
    with serve(["--workers", "2", "--clients", str(path)], env) as (url, proc):
        # A fresh connection per request, so that both workers get to answer.
        for _ in range(60):
            response = httpx.post(url + TOKEN_PATH, data=FORM, auth=("svc", "svc-secret"))
            assert response.status_code == 200, response.text
            tokens.append(response.json()["access_token"])
    _, err = proc.communicate()
    for token in tokens:
        claims = jwt.decode(token, KEY.encode(), algorithms=["HS256"], audience="svc")
        assert claims["scp"] == "inspect"
    workers = set(re.findall(r"\[(\d+)\] screening_eagle_id_server\.access: method=POST", err))
    assert len(workers) == 2, err


# --- TCP_NODELAY on every connection (uvicorn issue #3149) -------------------------------


async def _server_side_nodelay(protocol_class: type[asyncio.Protocol]) -> int:
    """TCP_NODELAY of the server side of one loopback connection served by `protocol_class`,
    its listening socket bound the way uvicorn's `--workers N` binds it (protocol 0)."""
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    async def app(scope: object, receive: object, send: object) -> None:  # never called
        raise AssertionError("no request is sent")

    config = Config(app, http=protocol_class, lifespan="off", log_config=None)
    config.load()
    loop = asyncio.get_running_loop()
    protocols: list[asyncio.Protocol] = []

    def factory() -> asyncio.Protocol:
        protocols.append(protocol_class(config, ServerState(), {}))  # type: ignore[call-arg]
        return protocols[-1]

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # proto 0, as uvicorn binds
    listener.bind(("127.0.0.1", 0))
    server = await loop.create_server(factory, sock=listener)
    try:
        _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
        for _ in range(200):
            if protocols and getattr(protocols[0], "transport", None) is not None:
                break
            await asyncio.sleep(0.01)
        transport = protocols[0].transport  # type: ignore[attr-defined]
        sock = transport.get_extra_info("socket")
        nodelay: int = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        writer.close()
        await writer.wait_closed()
        return nodelay
    finally:
        server.close()
        await server.wait_closed()


def test_the_protocol_sets_tcp_nodelay_where_asyncio_does_not() -> None:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    # uvicorn's own protocol on a protocol-0 listener: Nagle stays on (the bug) ...
    assert asyncio.run(_server_side_nodelay(HttpToolsProtocol)) == 0
    # ... and ours turns it off.
    assert asyncio.run(_server_side_nodelay(LimitedHttpToolsProtocol)) != 0


@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_cli_serves_with_the_nodelay_protocol(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    import uvicorn

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    assert main(["--dev", "--port", "0", "--workers", workers]) == 0
    (kwargs,) = calls
    assert kwargs["http"].func is LimitedHttpToolsProtocol
    assert kwargs["workers"] == int(workers)


_SYS_PIDFD_GETFD = 438  # the same number on every Linux architecture


def _descendants(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [p for child in map(int, children) for p in (child, *_descendants(child))]


def _peer_socket_nodelay(server_pid: int, peer: tuple[str, int]) -> int | None:
    """TCP_NODELAY of the socket, in any process of the server, connected to `peer`: the
    socket is duplicated out of the worker with pidfd_getfd(2) and asked directly."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for pid in [server_pid, *_descendants(server_pid)]:
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            continue
        try:
            for entry in Path(f"/proc/{pid}/fd").iterdir():
                with suppress(OSError):
                    if not os.readlink(entry).startswith("socket:"):
                        continue
                fd = libc.syscall(_SYS_PIDFD_GETFD, pidfd, int(entry.name), 0)
                if fd < 0:
                    err = ctypes.get_errno()
                    if err in (errno.EPERM, errno.ENOSYS):
                        pytest.skip(f"pidfd_getfd not permitted here: {os.strerror(err)}")
                    continue
                with socket.socket(fileno=fd) as sock:
                    if sock.family != socket.AF_INET:
                        continue
                    with suppress(OSError):
                        if sock.getpeername() == peer:
                            value: int = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                            return value
        finally:
            os.close(pidfd)
    return None


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pidfd_getfd is Linux-only")
def test_two_workers_accept_connections_with_tcp_nodelay() -> None:
    with (
        serve(["--workers", "2", "--dev"], server_env()) as (url, proc),
        httpx.Client(base_url=url) as http,
    ):
        response = http.post(TOKEN_PATH, data=FORM, auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET))
        assert response.status_code == 200, response.text
        # The keep-alive connection stays open in whichever worker accepted it.
        stream = response.extensions["network_stream"]
        client_address = stream.get_extra_info("client_addr")
        nodelay = _peer_socket_nodelay(proc.pid, client_address)
    proc.communicate()
    assert nodelay == 1
