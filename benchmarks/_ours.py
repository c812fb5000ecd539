"""This package's clients, built the way the docs show. The one place that knows their API."""

from __future__ import annotations

from typing import Any

__all__ = ["Unavailable", "access_token", "async_token_client", "bearer_auth", "token_client"]


class Unavailable(Exception):
    """The overlay (or the part of it a benchmark needs) is not importable in this checkout."""


def _overlay() -> Any:
    try:
        import screening_eagle_id
    except ImportError as exc:  # pragma: no cover - only on a broken checkout
        raise Unavailable(f"screening_eagle_id does not import: {exc}") from exc
    for name in ("TokenClient", "AsyncTokenClient", "BearerAuth", "ClientCredentials"):
        if not hasattr(screening_eagle_id, name):
            raise Unavailable(f"screening_eagle_id.{name} does not exist yet")
    return screening_eagle_id


def token_client(
    base_url: str, client_id: str, client_secret: str, scope: str, http_client: Any = None
) -> Any:
    """A `TokenClient` with its default (memory) cache, on a cold cache."""
    sei = _overlay()
    creds = sei.ClientCredentials(client_id, client_secret)
    return sei.TokenClient(base_url, creds, scope=scope, http_client=http_client)


def async_token_client(
    base_url: str, client_id: str, client_secret: str, scope: str, http_client: Any = None
) -> Any:
    """An `AsyncTokenClient` with its default (memory) cache, on a cold cache."""
    sei = _overlay()
    creds = sei.ClientCredentials(client_id, client_secret)
    return sei.AsyncTokenClient(base_url, creds, scope=scope, http_client=http_client)


def bearer_auth(client: Any) -> Any:
    """`BearerAuth` over a token client."""
    return _overlay().BearerAuth(client)


def access_token(token: Any) -> str:
    """The access token string of what `get_token()` returns."""
    return str(getattr(token, "access_token", token))
