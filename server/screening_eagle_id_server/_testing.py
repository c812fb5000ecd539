"""`EagleIdServer`: the reference server running inside a test suite, with a registry that
tests extend while it runs (what the pytest plugin's `eagle_id_server` fixture yields).

Adding a client builds a new app from the same `Settings` with the larger registry and swaps
it in whole (one attribute write, atomic for the serving thread); the signing key never
changes, so tokens issued before stay valid.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Receive, Scope, Send

from ._app import create_app
from ._embedded import serve_in_thread
from ._endpoints import TOKEN_PATH
from ._registry import RegisteredClient, Registry, RegistryError
from ._settings import DEFAULT_TOKEN_LIFETIME, MIN_SIGNING_KEY_BYTES, Settings

if TYPE_CHECKING:
    from screening_eagle_id import ClientCredentials

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_SCOPES", "EagleIdServer"]

#: The client every `EagleIdServer` starts with (its secret is random per server).
DEFAULT_CLIENT_ID = "eagle-id-test-client"
#: Scopes a client may ask for unless `add_client(scopes=...)` says otherwise.
DEFAULT_SCOPES = ("openid", "email", "profile", "offline", "inspect")


class EagleIdServer:
    """A reference server on a free 127.0.0.1 port, for tests: `with EagleIdServer().running()`.

    Starts with one client, `DEFAULT_CLIENT_ID` with a random secret (`credentials`); add
    your own with `add_client()`, at any time, also while it serves. Thread-safe.
    """

    def __init__(
        self, *, token_lifetime: int = DEFAULT_TOKEN_LIFETIME, signing_key: bytes | None = None
    ) -> None:
        self._guard = threading.Lock()
        self._requests = 0
        self._url: str | None = None
        self._secret = secrets.token_urlsafe(32)
        default = _client(
            DEFAULT_CLIENT_ID, self._secret, DEFAULT_SCOPES, None, ("client_credentials",)
        )
        self._settings = Settings(
            signing_key=signing_key or secrets.token_bytes(MIN_SIGNING_KEY_BYTES),
            registry=Registry([default]),
            token_lifetime=token_lifetime,
        )
        self._app: ASGIApp = create_app(self._settings)

    def __repr__(self) -> str:
        return f"EagleIdServer(url={self._url!r}, clients={len(self._settings.registry)})"

    @contextmanager
    def running(self) -> Iterator[EagleIdServer]:
        """Serve until the block exits (once at a time)."""
        if self._url is not None:
            raise RuntimeError("this EagleIdServer is already running")
        with serve_in_thread(self) as url:
            self._url = url
            try:
                yield self
            finally:
                self._url = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == TOKEN_PATH:
            with self._guard:
                self._requests += 1
        await self._app(scope, receive, send)

    @property
    def url(self) -> str:
        """The base URL to give `TokenClient`: http://127.0.0.1 and the port it listens on."""
        if self._url is None:
            raise RuntimeError("the EagleIdServer is not running: use `with server.running():`")
        return self._url

    @property
    def token_url(self) -> str:
        """The full URL of the token endpoint."""
        return self.url + TOKEN_PATH

    @property
    def signing_key(self) -> bytes:
        """The HS256 key tokens are signed with: verify them in your resource server's tests."""
        return self._settings.signing_key

    @property
    def issuer(self) -> str:
        """The `iss` claim of every token."""
        return self._settings.issuer

    @property
    def settings(self) -> Settings:
        """The settings in force (the registry as of now)."""
        return self._settings

    @property
    def credentials(self) -> ClientCredentials:
        """The credentials of the client the server starts with (`DEFAULT_CLIENT_ID`)."""
        return _credentials(DEFAULT_CLIENT_ID, self._secret)

    def token_requests(self) -> int:
        """POSTs to the token endpoint so far (to check your service's caching)."""
        return self._requests

    def add_client(
        self,
        client_id: str | None = None,
        *,
        scopes: Iterable[str] = DEFAULT_SCOPES,
        claims: Mapping[str, Any] | None = None,
        grant_types: Iterable[str] = ("client_credentials",),
        client_secret: str | None = None,
    ) -> ClientCredentials:
        """Register a client (a random id and secret unless given) and return its credentials.

        `claims` are its profile claims (`sub` defaults to the client id); they go into the
        ID token as the scopes allow. Raises `RegistryError` for an invalid entry or an id
        already registered.
        """
        if client_id is None:
            client_id = f"client-{secrets.token_hex(6)}"
        if client_secret is None:
            client_secret = secrets.token_urlsafe(32)
        elif not isinstance(client_secret, str) or not client_secret:
            raise RegistryError(f"add_client({client_id!r}): client_secret must be a non-empty str")
        client = _client(client_id, client_secret, scopes, claims, grant_types)
        with self._guard:
            registry = Registry([*self._settings.registry, client])
            self._swap(registry)
        return _credentials(client_id, client_secret)

    def remove_client(self, client_id: str) -> None:
        """Forget a client: its next token request gets 401 (`KeyError` if unknown)."""
        with self._guard:
            if client_id not in self._settings.registry:
                raise KeyError(client_id)
            self._swap(Registry(c for c in self._settings.registry if c.client_id != client_id))

    def _swap(self, registry: Registry) -> None:
        settings = dataclasses.replace(self._settings, registry=registry)
        self._app = create_app(settings)
        self._settings = settings


def _client(
    client_id: str,
    secret: str,
    scopes: Iterable[str],
    claims: Mapping[str, Any] | None,
    grant_types: Iterable[str],
) -> RegisteredClient:
    """One registry entry, validated exactly as a registry file's entries are."""
    if isinstance(scopes, str) or isinstance(grant_types, str):
        raise RegistryError("scopes and grant_types are lists of strings, not one string")
    if claims is not None and not isinstance(claims, Mapping):
        raise RegistryError(f"claims must be a mapping, not {type(claims).__name__}")
    try:
        scopes, grant_types = list(scopes), list(grant_types)
    except TypeError:
        raise RegistryError("scopes and grant_types are lists of strings") from None
    entry = {
        "client_id": client_id,
        "secret_sha256": hashlib.sha256(secret.encode()).hexdigest(),
        "scopes": scopes,
        "grant_types": list(grant_types),
        "claims": {"sub": client_id, **(claims or {})},
    }
    (client,) = Registry.from_mapping({"clients": [entry]}, source="add_client()")
    return client


def _credentials(client_id: str, secret: str) -> ClientCredentials:
    # The client package is imported only here: the server itself depends on neither.
    from screening_eagle_id import ClientCredentials

    return ClientCredentials(client_id, secret)
