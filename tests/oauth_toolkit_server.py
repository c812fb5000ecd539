"""An OAuth 2.0 server nobody here wrote: django-oauth-toolkit (oauthlib under it), for the
conformance suite to be proven against.

Run as a script (`python tests/oauth_toolkit_server.py DIR`): it configures a minimal Django
project (sqlite in DIR), migrates, registers one confidential client_credentials client, serves
Django's ASGI app with uvicorn on a free 127.0.0.1 port and prints one JSON line:
`{"url": …, "client_id": …}` (the secret is the CLIENT_SECRET constant). `serve()` does all
that from a test, as a context manager.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["CLIENT_ID", "CLIENT_SECRET", "SCOPES", "TOKEN_PATH", "serve"]

CLIENT_ID = "conformance-client"
CLIENT_SECRET = "dot-secret-0123456789abcdef"
TOKEN_PATH = "/o/token/"
SCOPES = ("openid", "email", "profile", "inspect", "offline")

# Django's URLconf: this module (ROOT_URLCONF points here when run as the server).
urlpatterns: list[Any] = []


def _configure(directory: Path) -> None:
    import django
    from django.conf import settings
    from django.urls import include, path

    settings.configure(
        DEBUG=False,
        SECRET_KEY=secrets.token_urlsafe(32),
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "oauth2_provider",
        ],
        MIDDLEWARE=[],
        ROOT_URLCONF=__name__,
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(directory / "db.sqlite3"),
                # A test database: no fsync per issued token.
                "OPTIONS": {"init_command": "PRAGMA synchronous=OFF; PRAGMA journal_mode=MEMORY"},
            }
        },
        USE_TZ=True,
        # Tables straight from the models: running every migration costs ~15 s.
        MIGRATION_MODULES={"auth": None, "contenttypes": None, "oauth2_provider": None},
        OAUTH2_PROVIDER={"SCOPES": {scope: scope for scope in SCOPES}},
        LOGGING_CONFIG=None,
    )
    django.setup()
    urlpatterns.append(path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")))


def _register_client() -> None:
    from django.core.management import call_command
    from oauth2_provider.models import get_application_model

    call_command("migrate", verbosity=0, interactive=False, run_syncdb=True)
    application = get_application_model()
    application.objects.create(
        name="conformance",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        # Plain: a PBKDF2-hashed secret costs ~0.5 s per token request, on every request.
        hash_client_secret=False,
        client_type=application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=application.GRANT_CLIENT_CREDENTIALS,
    )


def _main(directory: Path) -> None:
    _configure(directory)
    _register_client()
    import uvicorn
    from django.core.asgi import get_asgi_application

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.listen(128)  # connections wait in the backlog until uvicorn accepts them
    config = uvicorn.Config(
        get_asgi_application(),
        log_level="error",
        access_log=False,
        lifespan="off",
        ws="none",
        http="h11",
    )
    server = uvicorn.Server(config)
    print(json.dumps({"url": f"http://127.0.0.1:{port}", "client_id": CLIENT_ID}), flush=True)
    server.run(sockets=[sock])


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Start the server in a subprocess; yield its base URL; stop it on exit."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONDONTWRITEBYTECODE": "1",
        # Warnings of Django's own are not ours to fail on.
        "PYTHONWARNINGS": "ignore",
    }
    process = subprocess.Popen(
        [sys.executable, __file__, str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            _, err = process.communicate(timeout=10)
            raise RuntimeError(f"django-oauth-toolkit did not start:\n{err[-3000:]}")
        yield json.loads(line)["url"]
    finally:
        process.terminate()
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


if __name__ == "__main__":
    _main(Path(sys.argv[1]))
