"""Settings: where the URL, credentials and scope come from, and their canonical forms.

Standard library only, and nothing imported that a cached `eagle-id token` does not need
(`tomllib` is imported when a profile is actually read): the command line resolves its
settings here before deciding whether it needs the full client at all. `_credentials.py`
wraps the same rules in the public `ClientCredentials` / `load_profile()` / `resolve_config()`.

Per item, first match wins: the argument (or command-line option), then the environment
(`EAGLE_ID_URL`, `EAGLE_ID_CLIENT_ID` + `EAGLE_ID_CLIENT_SECRET`, `EAGLE_ID_SCOPE`), then a
profile of `$XDG_CONFIG_HOME/eagle-id/credentials.toml`. A missing credentials file or
profile only means "not there"; a broken one (invalid TOML, a value of the wrong type, a file
others may read) is an error of its own, reported as such.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterable, Mapping

from ._entry import MAX_LIFETIME
from ._exceptions import ConfigurationError
from ._tokenurl import TOKEN_PATH, canonical_url, check_token_path, is_loopback

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: a cache hit skips it
if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "API_NAMES",
    "CLI_NAMES",
    "DEFAULT_PROFILE",
    "ENV_ASSUME_LIFETIME",
    "ENV_CLIENT_ID",
    "ENV_CLIENT_SECRET",
    "ENV_PROFILE",
    "ENV_SCOPE",
    "ENV_TOKEN_PATH",
    "ENV_URL",
    "TOKEN_PATH",
    "RawProfile",
    "Settings",
    "canonical_url",
    "check_assume_lifetime",
    "check_token_path",
    "credentials_path",
    "endpoint_of",
    "is_loopback",
    "normalise_scope",
    "read_profile",
    "resolve",
]

ENV_URL = "EAGLE_ID_URL"
ENV_CLIENT_ID = "EAGLE_ID_CLIENT_ID"
ENV_CLIENT_SECRET = "EAGLE_ID_CLIENT_SECRET"  # noqa: S105 - a variable name, not a secret
ENV_SCOPE = "EAGLE_ID_SCOPE"
ENV_PROFILE = "EAGLE_ID_PROFILE"
ENV_TOKEN_PATH = "EAGLE_ID_TOKEN_PATH"  # noqa: S105 - a variable name, not a secret
ENV_ASSUME_LIFETIME = "EAGLE_ID_ASSUME_LIFETIME"
DEFAULT_PROFILE = "default"

#: How messages name each setting a caller passes: in Python (`API_NAMES`) or on the command
#: line (`CLI_NAMES`). None: there is no such argument (credentials never go on a command line).
API_NAMES: Mapping[str, str | None] = {
    "url": "base_url argument",
    "credentials": "credentials argument",
    "scope": "scope argument",
    "token_path": "token_path",
    "assume_lifetime": "assume_lifetime",
    "insecure": "pass allow_insecure_http=True",
}
CLI_NAMES: Mapping[str, str | None] = {
    "url": "--url option",
    "credentials": None,
    "scope": "--scope option",
    "token_path": "--token-path",
    "assume_lifetime": "--assume-lifetime",
    "insecure": "pass --allow-insecure-http",
}

_PROFILE_KEYS = ("client_id", "client_secret", "url", "scope", "token_path")


def credentials_path(environ: Mapping[str, str] | None = None) -> Path:
    """`$XDG_CONFIG_HOME/eagle-id/credentials.toml` (XDG_CONFIG_HOME defaults to ~/.config)."""
    from pathlib import Path  # here: only reading a profile needs it

    env = os.environ if environ is None else environ
    config_home = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "eagle-id" / "credentials.toml"


class _NotThere(ConfigurationError):
    """No credentials file, or no such profile in it: the profile simply does not apply."""


class RawProfile:
    """One table of the credentials file, checked: `values` holds `client_id`,
    `client_secret`, and `url` and `scope` when set (all non-empty strings)."""

    __slots__ = ("name", "path", "values")

    def __init__(self, name: str, path: Path, values: dict[str, str]) -> None:
        self.name, self.path, self.values = name, path, values

    def __repr__(self) -> str:
        return f"RawProfile({self.name!r}, {str(self.path)!r})"


# Far more than any profile file needs; bounds what a mistaken path costs to read.
MAX_PROFILE_BYTES = 1024 * 1024


def _read_small_file(path: Path) -> bytes:
    """The bytes of a regular file of at most MAX_PROFILE_BYTES. Opened non-blocking and
    checked on the open descriptor: a FIFO (or a device) is refused, never waited on."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigurationError(f"credentials file {path} is not a regular file")
        data = fh.read(MAX_PROFILE_BYTES + 1)
    if len(data) > MAX_PROFILE_BYTES:
        raise ConfigurationError(
            f"credentials file {path} is larger than {MAX_PROFILE_BYTES} bytes: not a profile file"
        )
    return data


def read_profile(
    name: str | None = None,
    *,
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> RawProfile:
    """Read profile `name` (default `$EAGLE_ID_PROFILE`, else "default") of the credentials
    file. The file must not be accessible by group or others (`chmod 600`, as ssh insists)."""
    env = os.environ if environ is None else environ
    name = name or env.get(ENV_PROFILE) or DEFAULT_PROFILE
    path = path or credentials_path(env)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise _NotThere(f"no credentials file at {path} (looked for profile {name!r})") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read credentials file {path}: {exc.strerror}") from None
    if sys.platform != "win32" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigurationError(
            f"credentials file {path} is accessible by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):03o}); refusing it: run `chmod 600 {path}`"
        )
    import tomllib  # here, not at the top: only a call that reads a profile pays for it

    try:
        document = tomllib.loads(_read_small_file(path).decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        # The message carries the line and column ("... (at line 3, column 7)").
        raise ConfigurationError(f"credentials file {path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigurationError(
            f"credentials file {path} is not a credentials file: nested too deeply"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ConfigurationError(f"cannot read credentials file {path}: {reason}") from None
    except ValueError as exc:  # not a TOMLDecodeError: an integer of more than 4300 digits
        # Without its advice to call sys.set_int_max_str_digits(), meant for programmers.
        reason = str(exc).partition(";")[0]
        raise ConfigurationError(f"credentials file {path} is not valid TOML: {reason}") from None
    table = document.get(name)
    if table is None:
        known = ", ".join(sorted(k for k, v in document.items() if isinstance(v, dict))) or "none"
        raise _NotThere(f"no profile {name!r} in {path} (profiles: {known})")
    if not isinstance(table, dict):
        raise ConfigurationError(
            f"{name} in {path} is {_toml_type(table)}, not a profile table ([{name}])"
        )
    values: dict[str, str] = {}
    lifetime = table.get("assume_lifetime")
    if lifetime is not None:
        where = f"assume_lifetime of profile {name!r} in {path}"
        if isinstance(lifetime, bool) or not isinstance(lifetime, int):
            raise ConfigurationError(f"{where} is {_toml_type(lifetime)}, not an integer")
        values["assume_lifetime"] = str(check_assume_lifetime(lifetime, where))
    for key in _PROFILE_KEYS:
        value = table.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigurationError(
                f"{key} of profile {name!r} in {path} is {_toml_type(value)}, not a string"
            )
        if value:
            values[key] = value
    missing = [key for key in ("client_id", "client_secret") if key not in values]
    if missing:
        raise ConfigurationError(f"profile {name!r} in {path} has no {' or '.join(missing)}")
    return RawProfile(name, path, values)


def _toml_type(value: object) -> str:
    """What a TOML value is, with its article ("an integer")."""
    kinds = {
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        list: "an array",
        dict: "a table",
    }
    return next((kind for t, kind in kinds.items() if isinstance(value, t)), "a date or time")


class Settings:
    """What a token client needs: `url`, `client_id`, `client_secret`, `scope` (raw strings,
    every one non-empty; see `canonical_url()` and `normalise_scope()` for their forms),
    `token_path` (None: the spec's; see `check_token_path()`), `assume_lifetime` (None: none)
    and `profile`, the profile that supplied any of them, if one did."""

    __slots__ = (
        "assume_lifetime",
        "client_id",
        "client_secret",
        "profile",
        "scope",
        "token_path",
        "url",
    )

    def __init__(
        self,
        url: str,
        client_id: str,
        client_secret: str,
        scope: str,
        profile: RawProfile | None = None,
        token_path: str | None = None,
        assume_lifetime: int | None = None,
    ) -> None:
        self.url, self.client_id, self.client_secret = url, client_id, client_secret
        self.scope, self.profile, self.token_path = scope, profile, token_path
        self.assume_lifetime = assume_lifetime

    def __repr__(self) -> str:  # never the secret
        return (
            f"Settings(url={self.url!r}, client_id={self.client_id!r}, scope={self.scope!r}, "
            f"token_path={self.token_path!r})"
        )


def resolve(
    url: str | None,
    client_id: str | None,
    client_secret: str | None,
    scope: str | None,
    *,
    token_path: str | None = None,
    assume_lifetime: int | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
    names: Mapping[str, str | None] = API_NAMES,
) -> Settings:
    """Fill in each missing item from the environment, then from the profile (`profile`,
    `$EAGLE_ID_PROFILE` or "default"); naming a `profile` explicitly skips the environment.
    The credentials file is read only when something is still missing. `names` says how
    messages call the caller's own arguments (`API_NAMES` or `CLI_NAMES`).

    `token_path` (None: the spec's) comes from the argument, then `EAGLE_ID_TOKEN_PATH`, then
    the profile's `token_path`, but only when the URL came from the profile too: a profile's
    path belongs to its URL. Checked here (`check_token_path()`), naming where it came from.
    `assume_lifetime` likewise: the argument, `EAGLE_ID_ASSUME_LIFETIME`, the URL's profile."""
    env = os.environ if environ is None else environ
    use_env = profile is None
    found: list[RawProfile] = []
    absent: list[str] = []

    def from_profile(key: str) -> str | None:
        if not found and not absent:
            try:
                found.append(read_profile(profile, environ=env))
            except _NotThere as exc:
                absent.append(str(exc))
        return found[0].values.get(key) if found else None

    def looked(what: str, item: str, env_names: str) -> ConfigurationError:
        where = [f"no {name}" for name in [names.get(item)] if name]
        if use_env:
            where.append(f"{env_names} not set")
        where.append(absent[0] if absent else f"not in profile {found[0].name!r}")
        return ConfigurationError(f"no {what} found: " + "; ".join(where))

    if client_id is None and client_secret is None:
        if use_env and (env.get(ENV_CLIENT_ID) or env.get(ENV_CLIENT_SECRET)):
            client_id, client_secret = env.get(ENV_CLIENT_ID), env.get(ENV_CLIENT_SECRET)
            pairs = ((ENV_CLIENT_ID, client_id), (ENV_CLIENT_SECRET, client_secret))
            missing = [env_name for env_name, value in pairs if not value]
            if missing:
                raise ConfigurationError(f"{' and '.join(missing)} not set in the environment")
        elif from_profile("client_id") is not None:
            client_id = found[0].values["client_id"]
            client_secret = found[0].values["client_secret"]
        else:
            env_names = f"{ENV_CLIENT_ID}/{ENV_CLIENT_SECRET}"
            raise looked("client credentials", "credentials", env_names)
    if not client_id:
        raise ConfigurationError("client_id is empty")
    if not client_secret:
        raise ConfigurationError(f"client_secret is empty for client {client_id!r}")
    path_from = names.get("token_path") or "token_path"
    if token_path is None and use_env:
        token_path, path_from = env.get(ENV_TOKEN_PATH) or None, ENV_TOKEN_PATH
    if url is None:
        url = (env.get(ENV_URL) if use_env else None) or from_profile("url")
        if not url:
            raise looked("token endpoint URL", "url", ENV_URL)
        if token_path is None and found and found[0].values.get("url") == url:
            token_path = found[0].values.get("token_path")
            path_from = f"token_path of profile {found[0].name!r} in {found[0].path}"
    if token_path is not None:
        check_token_path(token_path, path_from)
    if assume_lifetime is not None:
        check_assume_lifetime(assume_lifetime, names.get("assume_lifetime") or "assume_lifetime")
    elif use_env and env.get(ENV_ASSUME_LIFETIME):
        text = env[ENV_ASSUME_LIFETIME]
        assume_lifetime = check_assume_lifetime(text, ENV_ASSUME_LIFETIME, text=True)
    elif found and found[0].values.get("url") == url and "assume_lifetime" in found[0].values:
        assume_lifetime = int(found[0].values["assume_lifetime"])  # checked when read
    if scope is None:
        scope = (env.get(ENV_SCOPE) if use_env else None) or from_profile("scope")
        if not scope:
            raise looked("scope", "scope", ENV_SCOPE)
    profile_used = found[0] if found else None
    return Settings(url, client_id, client_secret, scope, profile_used, token_path, assume_lifetime)


def check_assume_lifetime(
    value: object, name: str = "assume_lifetime", *, text: bool = False
) -> int:
    """`value` if it is a usable lifetime to assume: whole seconds (an int; with `text`, as
    from the environment, its decimal digits), 1 s to MAX_LIFETIME (10 years); else
    ConfigurationError."""
    if text and isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value[:12]) if len(value) <= 12 else MAX_LIFETIME + 1
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIFETIME:
        shown = repr(value)[:40]
        raise ConfigurationError(
            f"{name} must be whole seconds from 1 to {MAX_LIFETIME} (10 years), not {shown}"
        )
    return value


def endpoint_of(
    settings: Settings, *, allow_insecure_http: bool, names: Mapping[str, str | None]
) -> tuple[str, str]:
    """(canonical base URL, checked token path) of `settings`, as the token client makes them."""
    path = TOKEN_PATH if settings.token_path is None else settings.token_path
    path = check_token_path(path, names.get("token_path") or "token_path")
    url = canonical_url(
        settings.url, allow_insecure_http=allow_insecure_http, names=names, token_path=path
    )
    return url, path


def normalise_scope(scope: str | Iterable[str]) -> tuple[str, ...]:
    """Scope tokens in request order, each once; ConfigurationError when there is none."""
    items = scope.split() if isinstance(scope, str) else [s for part in scope for s in part.split()]
    unique = tuple(dict.fromkeys(items))
    if not unique:
        raise ConfigurationError("scope is empty; the token endpoint requires at least one")
    return unique
