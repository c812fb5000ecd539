"""`BearerAuth`: httpx authentication with tokens from a `TokenClient` / `AsyncTokenClient`."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import Self, TypeVar

import httpx

from ._client import AsyncTokenClient, TokenClient
from ._frozen import Frozen
from ._httpx2 import httpx2_if_imported, with_httpx2_base
from ._token import Token

__all__ = ["BearerAuth"]


class _NeedToken(Frozen):
    """Yielded by `BearerAuth.flow`: "send me a token", after invalidating `rejected` if set."""

    __slots__ = ("rejected",)
    rejected: Token | None

    def __init__(self, rejected: Token | None = None) -> None:
        object.__setattr__(self, "rejected", rejected)


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
        tokens, flow, step = self._start(request, TokenClient)
        while step is not None:
            if isinstance(step, _NeedToken):
                if step.rejected is not None:
                    tokens.invalidate(step.rejected)
                step = _send(flow, tokens.get_token())
            else:
                step = _send(flow, (yield step))

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Drive `flow()` for `httpx.AsyncClient`, awaiting tokens from the `AsyncTokenClient`."""
        tokens, flow, step = self._start(request, AsyncTokenClient)
        while step is not None:
            if isinstance(step, _NeedToken):
                if step.rejected is not None:
                    await tokens.invalidate(step.rejected)
                step = _send(flow, await tokens.get_token())
            else:
                step = _send(flow, (yield step))

    def _start(
        self, request: httpx.Request, kind: type[T]
    ) -> tuple[T, _Flow, httpx.Request | _NeedToken | None]:
        """The token client, checked to be of the `kind` this driver needs, and `flow()`
        started on `request`."""
        if not isinstance(self._tokens, kind):
            raise TypeError(f"BearerAuth with {_MISMATCH[kind]}")
        flow = self.flow(request)
        return self._tokens, flow, next(flow)


_Flow = Generator[httpx.Request | _NeedToken, httpx.Response | Token, None]
T = TypeVar("T", TokenClient, AsyncTokenClient)
_MISMATCH = {
    TokenClient: "an AsyncTokenClient needs an httpx.AsyncClient (or httpx2's)",
    AsyncTokenClient: "a TokenClient needs an httpx.Client (or httpx2's)",
}


def _send(flow: _Flow, reply: httpx.Response | Token) -> httpx.Request | _NeedToken | None:
    """The flow's next step after `reply`; None when it has finished."""
    try:
        return flow.send(reply)
    except StopIteration:
        return None


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
