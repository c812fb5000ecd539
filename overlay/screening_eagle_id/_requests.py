"""`RequestsBearerAuth`: `BearerAuth`'s flow for `requests`.

Needs the optional `requests` package (`pip install 'screening-eagle-id[requests]'`); this
module imports it, so the package `__init__` imports this module only when the name is used.

The decisions are `BearerAuth.flow()`'s; this is only its driver for requests, which has no
generator auth protocol: `__call__` runs the flow up to its first request (getting a token),
and a response hook runs the rest. On a 401 the hook resends the request on the same
connection adapter (`r.connection.send`, as requests' own `HTTPDigestAuth` does) and returns
the new response, with the 401 in its `history`.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

try:
    import requests
    import requests.auth
    from requests.cookies import extract_cookies_to_jar
except ImportError as exc:  # say what to install, not only what is missing
    raise ImportError(
        f"RequestsBearerAuth needs the 'requests' package ({exc}): "
        "pip install 'screening-eagle-id[requests]'",
        name=exc.name,
    ) from exc

from ._auth import BearerAuth, _NeedToken
from ._client import AsyncTokenClient, TokenClient
from ._token import Token

__all__ = ["RequestsBearerAuth"]

_Flow = Generator[Any, Any, None]


class RequestsBearerAuth(requests.auth.AuthBase):
    """`Authorization: Bearer <token>` on every request of a `requests.Session`.

    Same behaviour as `BearerAuth`: a token from a `TokenClient`; on a 401 it forgets the
    token only if it is still the cached one, gets one, and retries the request once when the
    body can be sent again (none, bytes, str, or a seekable file; not a generator).
    """

    def __init__(self, tokens: TokenClient) -> None:
        if isinstance(tokens, AsyncTokenClient) or not isinstance(tokens, TokenClient):
            raise TypeError(
                "RequestsBearerAuth needs a TokenClient (requests is synchronous), "
                f"not {type(tokens).__name__}"
            )
        self._tokens = tokens
        self._auth = BearerAuth(tokens)

    def __repr__(self) -> str:
        return f"RequestsBearerAuth({self._tokens!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RequestsBearerAuth) and other._tokens is self._tokens

    def __hash__(self) -> int:
        return id(self._tokens)

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body
        position: int | None = None
        if body is None or isinstance(body, bytes | str):
            replayable = True
        else:
            tell = getattr(body, "tell", None)
            seekable = getattr(body, "seekable", lambda: tell is not None)
            try:
                position = tell() if tell is not None and seekable() else None
            except OSError:
                position = None
            replayable = position is not None
        flow = self._auth.flow(r, replayable=replayable)  # type: ignore[arg-type]
        step = self._advance(flow, None)
        assert step is not None  # the request itself, with its header set
        r.register_hook("response", _Retry(self, flow, position))
        return r

    def _advance(self, flow: _Flow, reply: Any) -> Any:
        """Send `reply` into the flow and answer its token requests; the next request or None."""
        try:
            step = flow.send(reply)
            while isinstance(step, _NeedToken):
                if step.rejected is not None:
                    self._tokens.invalidate(step.rejected)
                token: Token = self._tokens.get_token()
                step = flow.send(token)
        except StopIteration:
            return None
        return step


class _Retry:
    """The response hook of one request: hands the response to the flow, resends if asked."""

    def __init__(self, auth: RequestsBearerAuth, flow: _Flow, position: int | None) -> None:
        self._auth = auth
        self._flow: _Flow | None = flow
        self._position = position

    def __call__(self, r: requests.Response, **kwargs: Any) -> requests.Response:
        flow, self._flow = self._flow, None
        if flow is None:  # a redirect's response, or the retry's: the flow is done
            return r
        again = self._auth._advance(flow, r)
        if again is None:
            return r
        assert isinstance(again, requests.PreparedRequest)
        if self._position is not None:
            again.body.seek(self._position)  # type: ignore[union-attr]
        # Read and release the 401's connection so the retry can reuse it.
        _ = r.content
        r.close()
        prep = again.copy()
        jar = prep._cookies
        if jar is not None:
            extract_cookies_to_jar(jar, r.request, r.raw)
            prep.prepare_cookies(jar)
        retried: requests.Response = r.connection.send(prep, **kwargs)
        retried.history.append(r)
        retried.request = prep
        flow.close()
        return retried
