"""`make demo`: the whole story against a local reference server, in a few seconds.

Starts the reference server in --dev mode on a free loopback port (a subprocess, exactly as
`make serve` runs it), gets a token through the overlay, gets it again from the cache, shows
the token and its claims, shows the typed error a wrong secret gives, and stops the server.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import TextIO

from ._client import TokenClient
from ._credentials import ClientCredentials
from ._exceptions import TokenError
from ._token import decode_jwt_unverified

__all__ = ["main"]

SCOPE = "openid email profile inspect"
_START_TIMEOUT = 10.0
_HOT_CALLS = 100_000


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _reference_server() -> Iterator[str]:
    """Run `python -m screening_eagle_id_server --dev` on a free port; yield its URL."""
    port = _free_port()
    command = [sys.executable, "-m", "screening_eagle_id_server", "--dev"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if k != "EAGLE_ID_SIGNING_KEY"}
    with tempfile.TemporaryFile() as log:
        # A fixed argv: this interpreter running the server package, nothing from input.
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)  # noqa: S603
        try:
            deadline = time.monotonic() + _START_TIMEOUT
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    output = log.read().decode(errors="replace")
                    raise RuntimeError(f"the reference server did not start:\n{output}")
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", port), timeout=0.2),
                ):
                    break
                time.sleep(0.05)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _claims_text(jwt: str) -> str:
    try:
        claims = decode_jwt_unverified(jwt)[1]
    except ValueError as exc:
        return f"(not a JWT: {exc})"
    return json.dumps(claims, indent=2, sort_keys=True).replace("\n", "\n    ")


def run(out: TextIO) -> None:
    """The demo itself, printing to `out`."""
    try:
        from screening_eagle_id_server import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
    except ImportError as exc:
        raise SystemExit(
            f"the demo needs the reference server ({exc.name} missing): "
            "pip install 'screening-eagle-id[server]'"
        ) from None

    def say(text: str = "") -> None:
        out.write(text + "\n")
        out.flush()

    started = time.perf_counter()
    with _reference_server() as url:
        say(f"1. Reference server (dev mode) listening on {url}")
        creds = ClientCredentials(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
        say(f"   client {creds!r}  (the secret never appears in a repr)")

        with TokenClient(url, creds, scope=SCOPE) as tokens:
            t0 = time.perf_counter()
            token = tokens.get_token()
            fetched_ms = (time.perf_counter() - t0) * 1e3
            say(f"2. get_token(): fetched from the endpoint in {fetched_ms:.1f} ms")

            t0 = time.perf_counter()
            again = tokens.get_token()
            once_us = (time.perf_counter() - t0) * 1e6
            t0 = time.perf_counter()
            for _ in range(_HOT_CALLS):
                tokens.get_token()
            mean_us = (time.perf_counter() - t0) * 1e6 / _HOT_CALLS
            say(
                f"3. get_token() again: served from cache in {once_us:.1f} µs "
                f"(mean of {_HOT_CALLS:,} calls: {mean_us:.2f} µs); same token: {again is token}"
            )

        say("4. The token:")
        say(f"   token_type   {token.token_type}")
        say(f"   scope        {' '.join(sorted(token.scope))}")
        say(f"   expires_at   {token.expires_at.isoformat(timespec='seconds')}")
        say(f"   access_token {token.access_token}")
        say(f"   claims (UNVERIFIED, decoded only):\n    {_claims_text(token.access_token)}")
        if token.id_token:
            say(f"   id_token claims (UNVERIFIED):\n    {_claims_text(token.id_token)}")

        wrong = ClientCredentials(DEMO_CLIENT_ID, "not-the-secret")
        with TokenClient(url, wrong, scope=SCOPE) as bad:
            try:
                bad.get_token()
            except TokenError as exc:
                say("5. A wrong secret raises a typed error:")
                say(f"   {type(exc).__name__}: status_code={exc.status_code} error={exc.error!r}")
                say(f"   error_description={exc.error_description!r} retryable={exc.retryable}")
            else:  # pragma: no cover - the server accepted a wrong secret
                raise RuntimeError("a wrong secret was accepted")
    say(f"6. Server stopped. Demo took {time.perf_counter() - started:.1f} s.")


def main() -> int:
    """Entry point of `python -m screening_eagle_id._demo`."""
    run(sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
