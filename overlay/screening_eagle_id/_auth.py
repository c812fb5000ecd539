"""`BearerAuth`: httpx authentication with tokens from a `TokenClient` / `AsyncTokenClient`."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import Self

import httpx
from attrs import frozen

from ._client import AsyncTokenClient, TokenClient
from ._httpx2 import httpx2_if_imported, with_httpx2_base
from ._token import Token

__all__ = ["BearerAuth"]


@frozen
class _NeedToken:
    """Yielded by `BearerAuth.flow`: "send me a token", after invalidating `rejected` if set."""

    rejected: Token | None = None


# How one generator serves both httpx.Client and httpx.AsyncClient:
#
# All the logic lives in the one generator `flow()`: set the header, send, and on a 401
# decide whether to try again. The only thing that differs between sync and async is
# *getting a token*, which may mean network I/O (blocking, or awaited). So `flow()` does
# not get tokens itself: it yields a `_NeedToken` and receives the `Token` through
# `.send()`; requests are yielded and responses received as in any httpx auth flow.
# Two small drivers answer the `_NeedToken`s: `auth_flow` (the httpx contract, used by
# httpx's own `sync_auth_flow`) with the blocking TokenClient, `async_auth_flow` with an
# awaited AsyncTokenClient. Neither duplicates a decision, and neither holds a lock: the
# token client is single-flight already. (Yielding a sentinel rather than obtaining the
# token before starting the flow is what lets the 401 path fetch a *second* token.)
class BearerAuth(httpx.Auth):
    """Adds `Authorization: Bearer <token>` to every request, from a token client.

    On a 401 from the resource server it invalidates the token only if it is still the
    cached one (another request may have replaced it already), gets a token once and
    retries the request once. Use a `TokenClient` with `httpx.Client` and an
    `AsyncTokenClient` with `httpx.AsyncClient`.
    """

    def __new__(cls, *args: object, **kwargs: object) -> Self:
        # Also an httpx2.Auth when httpx2 is in use (see _httpx2.py): never imports httpx2.
        if httpx2_if_imported() is not None and not _is_httpx2_auth_class(cls):
            cls = with_httpx2_base(cls)
        return super().__new__(cls)

    def __init__(self, tokens: TokenClient | AsyncTokenClient) -> None:
        self._tokens = tokens

    def __repr__(self) -> str:
        return f"BearerAuth({self._tokens!r})"

    def flow(
        self, request: httpx.Request, *, replayable: bool | None = None
    ) -> Generator[httpx.Request | _NeedToken, httpx.Response | Token, None]:
        """The authentication flow; yields requests and token requests (see module comment).

        Any request with a `headers` mapping and any response with a `status_code` will do
        (httpx, httpx2, requests); `replayable` says whether the body can be sent again, and
        defaults to what an httpx or httpx2 request's stream says.
        """
        token = yield _NeedToken()
        assert isinstance(token, Token)
        request.headers["Authorization"] = f"Bearer {token.access_token}"
        response = yield request
        assert not isinstance(response, Token)
        if replayable is None:
            replayable = _replayable(request)
        if response.status_code != 401 or not replayable:
            return
        fresh = yield _NeedToken(rejected=token)
        assert isinstance(fresh, Token)
        if fresh.access_token == token.access_token:
            return  # the same token again: retrying would get the same 401
        request.headers["Authorization"] = f"Bearer {fresh.access_token}"
        yield request

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Drive `flow()` for `httpx.Client`, getting tokens from the `TokenClient`."""
        tokens = self._tokens
        if not isinstance(tokens, TokenClient):
            raise TypeError(
                "BearerAuth with an AsyncTokenClient needs an httpx.AsyncClient (or httpx2's)"
            )
        flow = self.flow(request)
        step = next(flow)
        while True:
            reply: httpx.Response | Token
            if isinstance(step, _NeedToken):
                if step.rejected is not None:
                    tokens.invalidate(step.rejected)
                reply = tokens.get_token()
            else:
                reply = yield step
            try:
                step = flow.send(reply)
            except StopIteration:
                return

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Drive `flow()` for `httpx.AsyncClient`, awaiting tokens from the `AsyncTokenClient`."""
        tokens = self._tokens
        if not isinstance(tokens, AsyncTokenClient):
            raise TypeError("BearerAuth with a TokenClient needs an httpx.Client (or httpx2's)")
        flow = self.flow(request)
        step = next(flow)
        while True:
            reply: httpx.Response | Token
            if isinstance(step, _NeedToken):
                if step.rejected is not None:
                    await tokens.invalidate(step.rejected)
                reply = await tokens.get_token()
            else:
                reply = yield step
            try:
                step = flow.send(reply)
            except StopIteration:
                return


def _is_httpx2_auth_class(cls: type) -> bool:
    httpx2 = httpx2_if_imported()
    return httpx2 is None or httpx2 is httpx or issubclass(cls, httpx2.Auth)


def _replayable(request: httpx.Request) -> bool:
    """Whether the body can be sent again: in memory (bytes, form, JSON), not a one-shot stream.
    An httpx2 request is checked against httpx2's own stream class (already imported then)."""
    if isinstance(request.stream, httpx.ByteStream):
        return True
    httpx2 = httpx2_if_imported()
    return httpx2 is not None and isinstance(request.stream, httpx2.ByteStream)
