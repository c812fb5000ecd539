"""Screening Eagle ID client: cached, single-flight OAuth 2.0 client-credentials tokens."""

from ._cache import AsyncTokenCache, MemoryCache, TokenCache, cache_key
from ._clock import Clock
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
from ._token import Token

__all__ = [
    "AccessDeniedError",
    "AsyncTokenCache",
    "Clock",
    "ConfigurationError",
    "EndpointNotFoundError",
    "InsecureTransportError",
    "InvalidClientError",
    "InvalidRequestError",
    "MemoryCache",
    "RateLimitedError",
    "ServerError",
    "Token",
    "TokenCache",
    "TokenError",
    "TokenTransportError",
    "cache_key",
]
