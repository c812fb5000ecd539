"""The `tls` check against real https servers on 127.0.0.1: a valid certificate passes, an
untrusted one fails before any request is sent, and a server that accepts TLS 1.1 fails."""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from screening_eagle_id_conformance import Options, Outcome, Target, main, run
from screening_eagle_id_conformance._checks import Context, Failed, probe_tls
from screening_eagle_id_conformance._http import Prober
from screening_eagle_id_server import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Settings, create_app


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (it is its own CA): (cert file, key file)."""
    directory = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture(scope="module")
def https_url(certificate: tuple[Path, Path]) -> Iterator[str]:
    """The reference server over https (uvicorn's TLS defaults) on a free loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        create_app(Settings.dev()),
        log_level="error",
        lifespan="off",
        ws="none",
        http="h11",
        ssl_certfile=str(certificate[0]),
        ssl_keyfile=str(certificate[1]),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(500):
        if server.started:
            break
        started.wait(0.01)
    try:
        yield f"https://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _target(url: str, ca_file: Path | None) -> Target:
    return Target(
        url=url,
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        scope="openid email profile inspect",
        ca_file=str(ca_file) if ca_file else None,
    )


def test_a_trusted_certificate_and_modern_tls_pass(
    https_url: str, certificate: tuple[Path, Path]
) -> None:
    report = run(Options(target=_target(https_url, certificate[0]), schemathesis=False))
    assert report.ok, "\n".join(line for r in report.failed for line in r.lines())
    tls = report.result("tls")
    assert tls.outcome is Outcome.PASSED
    assert "negotiated TLSv1." in tls.detail
    assert report.outcome("token-request") is Outcome.PASSED


def test_an_untrusted_certificate_fails_and_nothing_is_sent(
    https_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in list(os.environ):
        if name.startswith("EAGLE_ID_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("EAGLE_ID_CLIENT_SECRET", DEMO_CLIENT_SECRET)
    argv = ["--url", https_url, "--client-id", DEMO_CLIENT_ID, "--no-schemathesis"]
    assert main([*argv, "--junit", str(tmp_path / "j.xml")]) == 1
    out = capsys.readouterr().out
    assert "FAIL  tls" in out
    assert "the TLS certificate is not valid for 127.0.0.1" in out
    assert "N/A   token-request" in out


@contextmanager
def _tls_handshakes_only(certificate: tuple[Path, Path], oldest: ssl.TLSVersion) -> Iterator[str]:
    """A TLS server that only shakes hands (what the `tls` check does), from `oldest` on."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate[0], certificate[1])
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = oldest
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(5)
            try:
                context.wrap_socket(conn, server_side=True).close()
            except (OSError, ssl.SSLError):
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_a_server_that_accepts_tls_1_1_fails(certificate: tuple[Path, Path]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        oldest = ssl.TLSVersion.TLSv1
    with _tls_handshakes_only(certificate, oldest) as url:
        target = _target(url, certificate[0])
        prober = Prober(target)
        ctx = Context(target=target, prober=prober)
        try:
            probe_tls(ctx)
        except Failed as exc:
            message = exc.message
        else:
            message = ""
            if any("cannot offer" in note for note in ctx.notes):
                pytest.skip("this Python's OpenSSL cannot offer TLS < 1.2 at all")
        finally:
            prober.close()
    assert "accepts TLSv1" in message
    assert "RFC 8996" in message


def test_the_same_server_refusing_old_tls_passes(certificate: tuple[Path, Path]) -> None:
    with _tls_handshakes_only(certificate, ssl.TLSVersion.TLSv1_2) as url:
        target = _target(url, certificate[0])
        prober = Prober(target)
        ctx = Context(target=target, prober=prober)
        try:
            probe_tls(ctx)
        finally:
            prober.close()
    assert ctx.notes[0].startswith("negotiated TLSv1.")
    assert "refused" in ctx.notes[0]
