"""Probes of the scope, one per rule, each varying the scope's shape: granted-scope-subset
(known, a known subset), omitted-scope (omitted), unknown-scope (unknown alone, known+unknown),
disallowed-scope (a scope the client is not allowed, alone and with known ones).

One rule, one severity for "the grant claims a scope that was not known / not allowed",
whether the 200 claims it in `scope` or by omitting `scope` (absent means "as requested",
RFC 6749 §5.1): `judge_claimed_scope`.
"""

from __future__ import annotations

from typing import Any

from ._context import Context, Failed, reply_of
from ._facts import Facts, expected_got
from ._http import Exchange
from ._report import Source
from ._validate import NotApplicable, Violation, json_object, validate_granted_scope

__all__ = [
    "UNKNOWN_SCOPE",
    "judge_claimed_scope",
    "probe_disallowed_scope",
    "probe_granted_scope",
    "probe_omitted_scope",
    "probe_unknown_scope",
]

# A scope token no real deployment grants: requesting it must produce an OAuth error.
UNKNOWN_SCOPE = "conformance-check-unknown-scope"
_REFUSALS = "400 invalid_scope, 403 with an error, or 200 stating the granted scope"


def judge_claimed_scope(
    exchange: Exchange, requested: str, body: dict[str, Any], forbidden: str, shape: str
) -> str:
    """The scope a 200 claims it granted, or Failed when that claims `forbidden`.

    An absent `scope` claims the requested one (RFC 6749 §5.1): a server that granted less,
    or nothing, and did not say so breaks the same rule as one that states the grant.
    """
    granted = body.get("scope")
    if granted is not None and not isinstance(granted, str):
        raise Failed(f"`scope` is {granted!r}, expected a space-separated string", exchange)
    claimed = requested if granted is None else granted
    if forbidden in claimed.split():
        how = (
            f"200 without `scope`, which means as requested, so it claims {forbidden!r}"
            if granted is None
            else f"200 whose `scope` {granted!r} grants {forbidden!r}"
        )
        raise Failed(
            f"{shape} ({requested!r}) got {how}; a server that grants less MUST say what it "
            "granted (RFC 6749 §3.3, §5.1), and it cannot grant what it does not define or allow",
            exchange,
            Source.MUST,
        )
    return claimed


def _judge_refused_scope(ctx: Context, forbidden: str, what: str) -> None:
    """`forbidden` alone and with the configured scope: refused, or dropped and said so."""
    known = ctx.target.scope
    shapes = [(f"{what} alone", forbidden)]
    if known.split():
        shapes.append((f"known + {what}", f"{known} {forbidden}"))
    for shape, requested in shapes:
        exchange = ctx.prober.post_form(
            [("grant_type", "client_credentials"), ("scope", requested)]
        )
        reply = reply_of(exchange)
        facts = Facts.of(reply)
        if facts.status == 400 and facts.error == "invalid_scope":
            continue
        if facts.status == 403 and facts.error is not None:
            ctx.note(f"{shape}: 403 error={facts.error!r} (the seed's way)")
            continue
        if facts.status != 200:
            why = f"{shape} ({requested!r}); RFC 6749 §3.3, §5.2"
            ctx.flag(Failed(expected_got(_REFUSALS, reply, why), exchange))
            continue
        try:
            body = json_object(reply)
        except Violation as exc:
            ctx.flag(Failed(f"{shape}: {exc}", exchange))
            continue
        try:
            claimed = judge_claimed_scope(exchange, requested, body, forbidden, shape)
        except Failed as exc:
            ctx.flag(exc)
            continue
        ctx.note(f"{shape}: dropped, 200 with scope {claimed!r} (RFC 6749 §3.3 allows it)")


def probe_unknown_scope(ctx: Context) -> None:
    ctx.require_valid_credentials()
    _judge_refused_scope(ctx, UNKNOWN_SCOPE, "unknown scope")


def probe_disallowed_scope(ctx: Context) -> None:
    if not ctx.disallowed_scope:
        raise NotApplicable("no disallowed scope given (--disallowed-scope)")
    ctx.require_valid_credentials()
    _judge_refused_scope(ctx, ctx.disallowed_scope, "disallowed scope")


def probe_omitted_scope(ctx: Context) -> None:
    """RFC 6749 §3.3: an omitted scope gets a pre-defined default or fails as invalid_scope."""
    ctx.require_valid_credentials()
    exchange = ctx.prober.post_form([("grant_type", "client_credentials")])
    reply = reply_of(exchange)
    facts = Facts.of(reply)
    if facts.status == 400 and facts.error == "invalid_scope":
        return
    if facts.status == 400 and facts.error == "invalid_request":
        ctx.note(
            "an omitted scope is invalid_request: openapi.yaml requires scope (RFC 6749 §5.2: a "
            "missing required parameter), where §3.3 names invalid_scope"
        )
        return
    if facts.status == 200:
        try:
            granted = json_object(reply).get("scope")
        except Violation as exc:
            raise Failed(f"an omitted scope: {exc}", exchange) from None
        if granted:
            ctx.note(f"an omitted scope gets the default {granted!r}")
        return
    raise Failed(
        expected_got(
            "200 with a default scope or 400 invalid_scope",
            reply,
            "scope omitted (RFC 6749 §3.3: MUST use a default or fail with invalid_scope)",
        ),
        exchange,
    )


def probe_granted_scope(ctx: Context) -> None:
    """Known scope, then a known subset: the grant is never more than was asked."""
    requested = ctx.target.scope
    scopes = requested.split()
    for ask in dict.fromkeys([requested, scopes[0] if scopes else ""]):
        if not ask:
            continue
        try:
            exchange, body = ctx.token_body(ask)
        except NotApplicable:
            if ask == requested:
                raise
            return  # the subset request itself was refused: nothing more to judge here
        try:
            validate_granted_scope(ask, body)
        except Violation as exc:
            raise Failed(str(exc), exchange, exc.source) from None
