"""Client credentials: where they come from, and the HTTP Basic value they make."""

from __future__ import annotations

import base64
import os
import stat
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import quote, quote_plus

from attrs import field, frozen

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

ENV_URL = "EAGLE_ID_URL"
ENV_CLIENT_ID = "EAGLE_ID_CLIENT_ID"
ENV_CLIENT_SECRET = "EAGLE_ID_CLIENT_SECRET"  # noqa: S105 - a variable name, not a secret
ENV_SCOPE = "EAGLE_ID_SCOPE"
ENV_PROFILE = "EAGLE_ID_PROFILE"
DEFAULT_PROFILE = "default"


def credentials_path(environ: Mapping[str, str] | None = None) -> Path:
    """`$XDG_CONFIG_HOME/eagle-id/credentials.toml` (XDG_CONFIG_HOME defaults to ~/.config)."""
    env = os.environ if environ is None else environ
    config_home = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "eagle-id" / "credentials.toml"


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
    """One table of the credentials file: credentials plus optional `url` and `scope`."""

    name: str
    credentials: ClientCredentials
    url: str | None = None
    scope: str | None = None


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
    """
    env = os.environ if environ is None else environ
    name = name or env.get(ENV_PROFILE) or DEFAULT_PROFILE
    path = path or credentials_path(env)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigurationError(
            f"no credentials file at {path} (looked for profile {name!r})"
        ) from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read credentials file {path}: {exc.strerror}") from None
    if sys.platform != "win32" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigurationError(
            f"credentials file {path} is accessible by group or others "
            f"(mode {stat.S_IMODE(st.st_mode):03o}); refusing it: run `chmod 600 {path}`"
        )
    try:
        with path.open("rb") as fh:
            document = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"credentials file {path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigurationError(
            f"credentials file {path} is not a credentials file: nested too deeply"
        ) from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read credentials file {path}: {exc.strerror}") from None
    table = document.get(name)
    if not isinstance(table, dict):
        known = ", ".join(sorted(k for k, v in document.items() if isinstance(v, dict))) or "none"
        raise ConfigurationError(f"no profile {name!r} in {path} (profiles: {known})")
    values: dict[str, str] = {}
    for key in ("client_id", "client_secret", "url", "scope"):
        value = table.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigurationError(f"{key} of profile {name!r} in {path} is not a string")
        if value:
            values[key] = value
    missing = [key for key in ("client_id", "client_secret") if key not in values]
    if missing:
        raise ConfigurationError(f"profile {name!r} in {path} has no {' or '.join(missing)}")
    return Profile(
        name=name,
        credentials=ClientCredentials(values["client_id"], values["client_secret"]),
        url=values.get("url"),
        scope=values.get("scope"),
    )


@frozen
class ResolvedConfig:
    """What a token client needs, after arguments, environment and profile were consulted."""

    url: str
    credentials: ClientCredentials
    scope: str


def resolve_config(
    url: str | None,
    credentials: ClientCredentials | None,
    scope: str | None,
    *,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> ResolvedConfig:
    """Fill in `url`, `credentials` and `scope`; per item, first match wins: the argument,
    then `EAGLE_ID_URL` / `EAGLE_ID_CLIENT_ID` + `EAGLE_ID_CLIENT_SECRET` / `EAGLE_ID_SCOPE`,
    then the profile (`profile`, `$EAGLE_ID_PROFILE` or "default"). Naming a `profile`
    explicitly skips the environment. The profile file is read only when something is missing.
    """
    env = os.environ if environ is None else environ
    use_env = profile is None
    loaded: list[Profile] = []
    profile_error: list[ConfigurationError] = []

    def from_profile() -> Profile | None:
        if not loaded and not profile_error:
            try:
                loaded.append(load_profile(profile, environ=env))
            except ConfigurationError as exc:
                profile_error.append(exc)
        return loaded[0] if loaded else None

    def profile_url() -> str | None:
        found = from_profile()
        return found.url if found is not None else None

    def profile_scope() -> str | None:
        found = from_profile()
        return found.scope if found is not None else None

    def looked(what: str, env_names: str) -> str:
        where = [f"no {what} argument"]
        if use_env:
            where.append(f"{env_names} not set")
        where.append(str(profile_error[0]) if profile_error else "not in the profile")
        return f"no {what} found: " + "; ".join(where)

    if credentials is None:
        if use_env and (env.get(ENV_CLIENT_ID) or env.get(ENV_CLIENT_SECRET)):
            credentials = ClientCredentials.from_env(env)
        elif (found := from_profile()) is not None:
            credentials = found.credentials
        else:
            raise ConfigurationError(
                looked("client credentials", f"{ENV_CLIENT_ID}/{ENV_CLIENT_SECRET}")
            )
    if url is None:
        url = (env.get(ENV_URL) if use_env else None) or profile_url()
        if not url:
            raise ConfigurationError(looked("token endpoint URL", ENV_URL))
    if scope is None:
        scope = (env.get(ENV_SCOPE) if use_env else None) or profile_scope()
        if not scope:
            raise ConfigurationError(looked("scope", ENV_SCOPE))
    return ResolvedConfig(url=url, credentials=credentials, scope=scope)
