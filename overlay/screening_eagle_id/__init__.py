"""Screening Eagle ID client: cached, single-flight OAuth 2.0 client-credentials tokens.

from screening_eagle_id import BearerAuth, ClientCredentials, TokenClient

tokens = TokenClient("https://id.example.com", ClientCredentials("id", "secret"), scope="openid")
with httpx.Client(auth=BearerAuth(tokens)) as api:
    api.get("https://api.example.com/...")
"""

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
    "RetryPolicy",
    "ServerError",
    "Token",
    "TokenCache",
    "TokenClient",
    "TokenError",
    "TokenTransportError",
    "cache_key",
]
