"""The anchors: httpx-auth and Authlib set up the way their docs show, for client credentials.

Both come from the `bench` extra; nothing else in the project imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import httpx

__all__ = [
    "authlib_async_client",
    "authlib_http",
    "authlib_ok_transport",
    "authlib_sync_client",
    "expired_authlib_token",
    "httpx_auth_auth",
    "httpx_auth_clear",
    "httpx_auth_lookup",
]


def httpx_auth_auth(
    token_url: str, client_id: str, client_secret: str, scope: str, client: httpx.Client
) -> Any:
    """httpx-auth's `OAuth2ClientCredentials` (an `httpx.Auth`), fetching with `client`."""
    from httpx_auth import OAuth2ClientCredentials

    return OAuth2ClientCredentials(
        token_url, client_id=client_id, client_secret=client_secret, scope=scope, client=client
    )


def httpx_auth_lookup(auth: Any) -> Callable[[], str]:
    """Exactly what httpx-auth's `auth_flow` does to get the token for each request."""
    from httpx_auth import OAuth2

    return partial(
        OAuth2.token_cache.get_token,
        auth.state,
        early_expiry=auth.early_expiry,
        on_missing_token=auth.request_new_token,
        on_expired_token=auth.refresh_token,
    )


def httpx_auth_clear() -> None:
    """Empty httpx-auth's process-wide token cache (a cold start)."""
    from httpx_auth import OAuth2

    OAuth2.token_cache.clear()


def expired_authlib_token() -> dict[str, Any]:
    """What a cold Authlib client holds: Authlib refuses to send without a token, so a cold
    client-credentials client is given an expired one and `ensure_active_token` fetches."""
    return {"access_token": "cold", "token_type": "Bearer", "expires_at": 1}


def authlib_http() -> Any:
    """The HTTP library Authlib's httpx integration runs on: httpx2 when it is installed (our
    dev group installs it), httpx otherwise. Its mock transports must come from the same one."""
    from authlib.integrations.httpx_client._compat import httpx2

    return httpx2


def authlib_ok_transport(*, asynchronous: bool = False) -> Any:
    """A MockTransport answering 200 `{"ok":true}`, of the library Authlib runs on."""
    http = authlib_http()

    def ok(request: Any) -> Any:
        return http.Response(200, content=b'{"ok":true}')

    async def aok(request: Any) -> Any:
        return ok(request)

    return http.MockTransport(aok if asynchronous else ok)


def authlib_sync_client(
    token_url: str, client_id: str, client_secret: str, scope: str, **kwargs: Any
) -> Any:
    """Authlib's `OAuth2Client` for client credentials."""
    from authlib.integrations.httpx_client import OAuth2Client

    return OAuth2Client(
        client_id=client_id,
        client_secret=client_secret,
        scope=scope,
        token_endpoint=token_url,
        grant_type="client_credentials",
        **kwargs,
    )


def authlib_async_client(
    token_url: str, client_id: str, client_secret: str, scope: str, **kwargs: Any
) -> Any:
    """Authlib's `AsyncOAuth2Client` for client credentials."""
    from authlib.integrations.httpx_client import AsyncOAuth2Client

    return AsyncOAuth2Client(
        client_id=client_id,
        client_secret=client_secret,
        scope=scope,
        token_endpoint=token_url,
        grant_type="client_credentials",
        **kwargs,
    )
