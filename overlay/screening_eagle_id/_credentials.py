"""Client credentials: where they come from, and the HTTP Basic value they make."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import quote, quote_plus

from attrs import field, frozen

from . import _config
from ._config import ENV_CLIENT_ID, ENV_CLIENT_SECRET, credentials_path
from ._exceptions import ConfigurationError

__all__ = [
    "ClientAuth",
    "ClientCredentials",
    "Profile",
    "ResolvedConfig",
    "basic_value",
    "credentials_path",
    "load_profile",
    "resolve_config",
    "secret_forms",
]

ClientAuth = Literal["basic", "basic_raw"]


@frozen
class ClientCredentials:
    """A client id and secret. The secret never appears in repr or str."""

    client_id: str
    client_secret: str = field(repr=False)

    def __attrs_post_init__(self) -> None:
        if not self.client_id:
            raise ConfigurationError("client_id is empty")
        if not self.client_secret:
            raise ConfigurationError(f"client_secret is empty for client {self.client_id!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ClientCredentials:
        """From `EAGLE_ID_CLIENT_ID` and `EAGLE_ID_CLIENT_SECRET`."""
        env = os.environ if environ is None else environ
        client_id, secret = env.get(ENV_CLIENT_ID), env.get(ENV_CLIENT_SECRET)
        missing = [
            name for name, v in ((ENV_CLIENT_ID, client_id), (ENV_CLIENT_SECRET, secret)) if not v
        ]
        if missing or client_id is None or secret is None:
            raise ConfigurationError(f"{' and '.join(missing)} not set in the environment")
        return cls(client_id, secret)

    @classmethod
    def from_profile(
        cls, name: str | None = None, *, path: Path | None = None
    ) -> ClientCredentials:
        """From profile `name` (default `$EAGLE_ID_PROFILE`, else "default") of the
        credentials file; see `load_profile()`."""
        return load_profile(name, path=path).credentials

    def basic_value(self, client_auth: ClientAuth = "basic") -> str:
        """The base64 part of the `Authorization: Basic ...` header; see `basic_value()`."""
        return basic_value(self.client_id, self.client_secret, client_auth)


def secret_forms(client_id: str, client_secret: str) -> tuple[str, ...]:
    """Every form in which a token request may carry the secret, for `scrub()`: as is,
    form-urlencoded (`+` or `%20` for a space), and both Basic header values with the
    decoded `id:secret` pairs they hold."""
    forms = {client_secret, quote_plus(client_secret, safe=""), quote(client_secret, safe="")}
    for client_auth in get_args(ClientAuth):
        forms.add(basic_value(client_id, client_secret, client_auth))
    return tuple(sorted(forms, key=len, reverse=True))


def basic_value(client_id: str, client_secret: str, client_auth: ClientAuth = "basic") -> str:
    """base64(id ":" secret). With "basic" both are first form-urlencoded
    (application/x-www-form-urlencoded, RFC 6749 §2.3.1 and Appendix B: space becomes "+",
    everything but unreserved characters becomes %XX of its UTF-8); "basic_raw" skips
    that step for servers that do not decode."""
    if client_auth == "basic":
        client_id, client_secret = (
            quote_plus(client_id, safe=""),
            quote_plus(client_secret, safe=""),
        )
    elif client_auth != "basic_raw":
        raise ConfigurationError(f"client_auth must be 'basic' or 'basic_raw', not {client_auth!r}")
    return base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")


@frozen
class Profile:
    """One table of the credentials file: credentials plus optional `url`, `scope` and
    `token_path` (used with the profile's `url`)."""

    name: str
    credentials: ClientCredentials
    url: str | None = None
    scope: str | None = None
    token_path: str | None = None


def load_profile(
    name: str | None = None,
    *,
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Profile:
    """Read profile `name` from the credentials file.

    The file must not be readable or writable by group or others (like ssh, we refuse it
    otherwise: `chmod 600`). A table looks like::

        [default]
        url = "https://id.example.com"
        client_id = "..."
        client_secret = "..."
        scope = "openid email"
        token_path = "/oauth2/token"   # optional: the spec's /api/id/v1/auth/token otherwise
    """
    raw = _config.read_profile(name, path=path, environ=environ)
    return Profile(
        name=raw.name,
        credentials=ClientCredentials(raw.values["client_id"], raw.values["client_secret"]),
        url=raw.values.get("url"),
        scope=raw.values.get("scope"),
        token_path=raw.values.get("token_path"),
    )


@frozen
class ResolvedConfig:
    """What a token client needs, after arguments, environment and profile were consulted."""

    url: str
    credentials: ClientCredentials
    scope: str
    token_path: str | None = None
    assume_lifetime: int | None = None


def resolve_config(
    url: str | None,
    credentials: ClientCredentials | None,
    scope: str | None,
    *,
    token_path: str | None = None,
    assume_lifetime: int | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> ResolvedConfig:
    """Fill in `url`, `credentials` and `scope`; per item, first match wins: the argument,
    then `EAGLE_ID_URL` / `EAGLE_ID_CLIENT_ID` + `EAGLE_ID_CLIENT_SECRET` / `EAGLE_ID_SCOPE`,
    then the profile (`profile`, `$EAGLE_ID_PROFILE` or "default"). Naming a `profile`
    explicitly skips the environment. The profile file is read only when something is missing;
    a broken one (invalid TOML, a value of the wrong type) is reported as such. `token_path`:
    the argument, `EAGLE_ID_TOKEN_PATH`, or the profile's when its URL is used (None: the spec's);
    `assume_lifetime` alike (`EAGLE_ID_ASSUME_LIFETIME`; None: none).
    """
    settings = _config.resolve(
        url,
        credentials.client_id if credentials is not None else None,
        credentials.client_secret if credentials is not None else None,
        scope,
        token_path=token_path,
        assume_lifetime=assume_lifetime,
        profile=profile,
        environ=environ,
    )
    if credentials is None:
        credentials = ClientCredentials(settings.client_id, settings.client_secret)
    return ResolvedConfig(
        url=settings.url,
        credentials=credentials,
        scope=settings.scope,
        token_path=settings.token_path,
        assume_lifetime=settings.assume_lifetime,
    )
