"""Before anything is judged: can this server be judged as configured? If not, `CannotRun`."""

from __future__ import annotations

from ._checks import Context, error_code

__all__ = ["CannotRun", "Unreachable", "preflight"]


class CannotRun(Exception):
    """The suite cannot judge this server as configured: one line says why, exit status 2."""


class Unreachable(CannotRun):
    """The server cannot be reached at all."""


def preflight(ctx: Context) -> None:
    """Is there an endpoint, and does it accept the given credentials? Else CannotRun."""
    target = ctx.target
    exchange = ctx.prober.send("POST", authorization=None)
    if exchange.reply is None:
        raise Unreachable(f"cannot reach {target.token_url}: {exchange.transport_error}")
    if exchange.reply.status == 404:
        raise CannotRun(
            f"{target.token_url} answered 404: is --url the server's base URL or its token "
            "endpoint (see --token-path)?"
        )
    reply = ctx.token().reply
    if reply is None:
        raise Unreachable(f"cannot reach {target.token_url}: {ctx.token().transport_error}")
    error = error_code(reply)
    # 400 invalid_client breaks RFC 6749 §5.2 (a Basic client gets 401), but it still means
    # the credentials were refused: invalid-client judges that once they are right.
    if reply.status == 401 or (reply.status == 400 and error == "invalid_client"):
        answer = f"{reply.status} {error}" if error else str(reply.status)
        raise CannotRun(
            f"the server answered {answer} for {target.client_id}: check the id and secret"
        )
    if (reply.status == 400 and error == "invalid_scope") or reply.status == 403:
        raise CannotRun(
            f"the server refused scope {target.scope!r} for {target.client_id!r} "
            f"({reply.status} error={error!r}): pass --scope with scopes this client is allowed"
        )
