"""`eagle-id token` past the quick path: the full token client, and what the command says on
stderr while it waits for an endpoint that does not answer.

Imported only when the cache could not answer (`_cli.py` keeps a cached call light).
"""

from __future__ import annotations

import sys
from threading import Timer
from types import SimpleNamespace

from . import _config
from ._cache import TokenCache
from ._client import TokenClient
from ._credentials import ClientCredentials
from ._entry import Entry

__all__ = ["NOTICE_AFTER", "from_the_client", "waiting_notice"]


def from_the_client(
    args: SimpleNamespace,
    settings: _config.Settings,
    endpoint: tuple[str, str],
    scopes: tuple[str, ...],
    cache: TokenCache | None,
) -> Entry:
    """The full client: adopts a cached token, else fetches (always, with --refresh)."""
    with TokenClient(
        endpoint[0],
        ClientCredentials(settings.client_id, settings.client_secret),
        scope=scopes,
        cache=cache,
        allow_insecure_http=args.allow_insecure_http,
        token_path=endpoint[1],
        assume_lifetime=settings.assume_lifetime,
    ) as tokens:
        notice = waiting_notice(tokens)
        try:
            token = tokens.fetch_token() if args.refresh else tokens.get_token()
        finally:
            notice.cancel()
    return token.to_entry()


#: Seconds `eagle-id token` waits for the endpoint before it says, once, what it waits for.
NOTICE_AFTER = 5.0


def waiting_notice(tokens: TokenClient) -> Timer:
    """A started timer that tells stderr, once, what `eagle-id token` is waiting for, should
    the endpoint not have answered after NOTICE_AFTER seconds (a server that accepts and
    never answers would otherwise leave it silent for its whole retry budget)."""
    retry, limit = tokens._retry, tokens._endpoint.request_limit

    def say() -> None:
        if not tokens._attempt:  # no try yet: another process holds the cache's fetch lock
            what = "the token another eagle-id is fetching (the cache's lock)"
        else:
            each = f", up to {limit:g} s each" if limit else ""
            what = (
                f"{tokens.url}: no answer yet (try {tokens._attempt} of at most "
                f"{retry.attempts}{each}; no new try after {retry.total_timeout:g} s)"
            )
        print(f"eagle-id: still waiting for {what}", file=sys.stderr, flush=True)

    timer = Timer(NOTICE_AFTER, say)
    timer.daemon = True
    timer.start()
    return timer
