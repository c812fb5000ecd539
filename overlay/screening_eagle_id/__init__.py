"""Screening Eagle ID client: cached, single-flight OAuth 2.0 client-credentials tokens.

from screening_eagle_id import BearerAuth, ClientCredentials, TokenClient

tokens = TokenClient("https://id.example.com", ClientCredentials("id", "secret"), scope="openid")
with httpx.Client(auth=BearerAuth(tokens)) as api:
    api.get("https://api.example.com/...")
"""

import importlib as _importlib
import typing as _typing

from ._auth import BearerAuth
from ._cache import AsyncTokenCache, MemoryCache, TokenCache, cache_key
from ._client import DEFAULT_TIMEOUT, AsyncTokenClient, RetryPolicy, TokenClient
from ._clock import Clock
from ._credentials import ClientCredentials
from ._exceptions import (
    AccessDeniedError,
    ConfigurationError,
    EndpointNotFoundError,
    InsecureTransportError,
    InvalidClientError,
    InvalidRequestError,
    RateLimitedError,
    ServerError,
    TokenError,
    TokenTransportError,
)
from ._filecache import FileCache
from ._rediscache import AsyncRedisCache, RedisCache
from ._token import CLOCK_SKEW, REFRESH_AHEAD, REFRESH_BACKOFF, Token

if _typing.TYPE_CHECKING:
    from ._requests import RequestsBearerAuth

# Integrations with optional dependencies: imported on first use, so `import screening_eagle_id`
# never imports (or needs) requests.
_OPTIONAL = {"RequestsBearerAuth": "._requests"}


def __getattr__(name: str) -> _typing.Any:
    module = _OPTIONAL.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "CLOCK_SKEW",
    "DEFAULT_TIMEOUT",
    "REFRESH_AHEAD",
    "REFRESH_BACKOFF",
    "AccessDeniedError",
    "AsyncRedisCache",
    "AsyncTokenCache",
    "AsyncTokenClient",
    "BearerAuth",
    "ClientCredentials",
    "Clock",
    "ConfigurationError",
    "EndpointNotFoundError",
    "FileCache",
    "InsecureTransportError",
    "InvalidClientError",
    "InvalidRequestError",
    "MemoryCache",
    "RateLimitedError",
    "RedisCache",
    "RequestsBearerAuth",
    "RetryPolicy",
    "ServerError",
    "Token",
    "TokenCache",
    "TokenClient",
    "TokenError",
    "TokenTransportError",
    "cache_key",
]
