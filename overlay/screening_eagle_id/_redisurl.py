"""Redis URLs: which client one builds (plain, or a cluster for `redis+cluster://`), checked
up front, and shown or logged without any password it carries."""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from ._exceptions import ConfigurationError

__all__ = ["check_url", "connector", "import_redis", "is_cluster_url", "public_url", "secrets_of"]

# Seconds a command may take before Redis counts as away (for caches built from a URL).
_SOCKET_TIMEOUT = 2.0
# URL schemes that mean "a Redis Cluster", and the scheme redis-py's cluster client expects.
_CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def connector(module: ModuleType, url: str) -> Callable[[], Any]:
    """Builds the client for `url`: a cluster client for a `redis+cluster://` URL, else a
    plain one (`module` is `redis` or `redis.asyncio`)."""
    scheme, _, rest = url.partition("://")
    cluster_scheme = _CLUSTER_SCHEMES.get(scheme.lower())
    options = {"socket_timeout": _SOCKET_TIMEOUT, "socket_connect_timeout": _SOCKET_TIMEOUT}
    if cluster_scheme is None:
        return functools.partial(module.Redis.from_url, url, **options)
    return functools.partial(
        module.cluster.RedisCluster.from_url, f"{cluster_scheme}://{rest}", **options
    )


def is_cluster_url(url: str) -> bool:
    """Whether `url` names a Redis Cluster (`redis+cluster://`, `rediss+cluster://`)."""
    return url.partition("://")[0].lower() in _CLUSTER_SCHEMES


def import_redis() -> ModuleType:
    """`redis`, with `redis.asyncio` loaded; ConfigurationError saying what to install."""
    try:
        import redis
        import redis.asyncio
    except ImportError:
        raise ConfigurationError(
            "RedisCache needs the 'redis' package: pip install 'screening-eagle-id[redis]'"
        ) from None
    return redis


def public_url(url: str) -> str:
    """The URL for repr and logs: no password (userinfo masked) and no query or fragment,
    which may carry one too (redis-py reads `?password=`)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        if parts.port is not None:
            host = f"{host}:{parts.port}"
    except ValueError:  # a malformed netloc or port: show nothing of it
        return "<unparseable Redis URL>"
    user = parts.username or ""
    if parts.password is not None:
        user += ":***"
    netloc = f"{user}@{host}" if user else host
    public = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return public + ("?***" if parts.query or parts.fragment else "")


def secrets_of(url: str) -> list[str]:
    """Every password the URL carries (userinfo and query), to scrub from error messages."""
    try:
        parts = urlsplit(url)
        found = [parts.password or ""]
        found += [v for k, vs in parse_qs(parts.query).items() if "password" in k for v in vs]
    except ValueError:
        return []
    return sorted({f for f in found if f} | {unquote(f) for f in found if f}, key=len, reverse=True)


def check_url(redis: ModuleType, url: str, where: str, secrets: list[str]) -> None:
    """Refuse a malformed URL up front, with a clear error (never echoing its password: `where`
    is the URL as shown, `secrets` what to scrub), rather than when the first command runs (a
    cluster client connects only then)."""
    scheme, _, rest = url.partition("://")
    cluster_scheme = _CLUSTER_SCHEMES.get(scheme.lower())
    try:
        options = redis.connection.parse_url(f"{cluster_scheme or scheme}://{rest}")
    except ValueError as exc:
        message = str(exc)
        for secret in secrets:
            message = message.replace(secret, "***")
        if "scheme" in message:
            message += "; for a Redis Cluster: redis+cluster:// or rediss+cluster://"
        raise ConfigurationError(f"Redis URL {where!r} is not valid: {message}") from None
    if cluster_scheme is not None and not options.get("host"):
        raise ConfigurationError(
            f"Redis URL {where!r}: a {scheme}:// URL needs the host:port of a node"
        )
