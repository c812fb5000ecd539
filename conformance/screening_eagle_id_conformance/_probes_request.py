"""Probes of how a request is parsed and refused: error-body, repeated-parameters,
non-form-body, unsupported-grant-type, other-methods."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from ._context import ByProfile, Context, Failed, expect_error, reply_of
from ._facts import Facts, expected_got
from ._probes_scope import UNKNOWN_SCOPE
from ._report import Source
from ._validate import (
    NotApplicable,
    Violation,
    judge_undeclared_method,
    unregistered_error,
    validate_error_body,
)

__all__ = [
    "OTHER_METHODS",
    "UNREGISTERED_ERROR_SOURCE",
    "UNSUPPORTED_GRANTS",
    "probe_error_body",
    "probe_non_form_body",
    "probe_other_methods",
    "probe_repeated_parameters",
    "probe_unsupported_grant",
]

# The first is defined by RFC 6749 but not offered to this client; the second exists nowhere.
UNSUPPORTED_GRANTS = ("password", "urn:example:conformance:unsupported-grant")
OTHER_METHODS = ("GET", "PUT", "PATCH", "DELETE")
# An `error` outside RFC 6749 §5.2's list and IANA's registry: RFC 6749 §5.2 says the code is
# one "from the following" (§8.5: extensions register theirs), so under oauth2 a MUST; openapi.yaml
# types `error` as any string and its own example says "Forbidden", so under screening-eagle
# the spec allows it and the RFC's list is advice.
UNREGISTERED_ERROR_SOURCE = ByProfile(screening_eagle=Source.SHOULD, oauth2=Source.MUST)


def probe_error_body(ctx: Context) -> None:
    prober = ctx.prober
    exchanges = [
        prober.post_form([("scope", ctx.target.scope)]),  # invalid_request
        prober.post_form(authorization=None),  # invalid_client
        prober.post_form([("grant_type", "client_credentials"), ("scope", UNKNOWN_SCOPE)]),
        prober.post_form([("grant_type", UNSUPPORTED_GRANTS[0]), ("scope", ctx.target.scope)]),
    ]
    judged = 0
    for exchange in exchanges:
        reply = reply_of(exchange)
        if reply.status < 400:
            continue
        judged += 1
        try:
            notes = validate_error_body(reply, spec_naming=True)
        except Violation as exc:
            ctx.flag(Failed(str(exc), exchange, exc.source))
            continue
        for note in notes:
            ctx.note(note)
        code = Facts.of(reply).error
        if code is not None and unregistered_error(code):
            ctx.flag(
                Failed(
                    f"{reply.status} `error` {code!r} is neither an RFC 6749 §5.2 code nor in "
                    "IANA's OAuth Extensions Error Registry (RFC 6749 §8.5, §11.4)",
                    exchange,
                    UNREGISTERED_ERROR_SOURCE,
                )
            )
    if not judged:
        raise NotApplicable("none of the error-provoking requests produced an error")


def _repeated(name: str, scope: str) -> list[tuple[str, str]]:
    """A token request with `name` sent twice (two different scopes, when there are two)."""
    scopes = scope.split()
    if name == "grant_type":
        grant = ("grant_type", "client_credentials")
        return [grant, grant, ("scope", scope)]
    first, rest = (scopes[0], " ".join(scopes[1:])) if len(scopes) > 1 else (scope, scope)
    return [("grant_type", "client_credentials"), ("scope", first), ("scope", rest)]


def probe_repeated_parameters(ctx: Context) -> None:
    """RFC 6749 §3.2: every parameter the request is about, each sent twice."""
    ctx.require_valid_credentials()
    for name in ("grant_type", "scope"):
        exchange = ctx.prober.post_form(_repeated(name, ctx.target.scope))
        reply = reply_of(exchange)
        facts = Facts.of(reply)
        if facts.status == 400 and facts.error == "invalid_request":
            continue
        why = f"`{name}` sent twice (RFC 6749 §3.2: MUST NOT be included more than once)"
        if facts.status == 200:
            why += ", and a token was issued for a value the client did not send alone"
        ctx.flag(Failed(expected_got("400 invalid_request", reply, why), exchange))


def probe_non_form_body(ctx: Context) -> None:
    ctx.require_valid_credentials()
    body = json.dumps({"grant_type": "client_credentials", "scope": ctx.target.scope}).encode()
    exchange = ctx.prober.send("POST", body=body, content_type="application/json")
    reply = reply_of(exchange)
    if 200 <= reply.status < 300:
        raise Failed(
            f"a JSON body was accepted ({reply.status}); parameters are form-encoded "
            "(RFC 6749 §4.4.2, §3.2)",
            exchange,
            Source.SPEC,
        )
    # Which 4xx and which code is advice: without a form body, grant_type is missing, for which
    # RFC 6749 §5.2 names invalid_request; openapi.yaml declares 400 for a bad request, not 415.
    expect_error(exchange, 400, "invalid_request", Source.SHOULD)


def probe_unsupported_grant(ctx: Context) -> None:
    ctx.require_valid_credentials()
    # Only a grant type no server supports: a server that supports the password grant rightly
    # answers a password request without username with invalid_request, or unauthorized_client.
    grant = UNSUPPORTED_GRANTS[1]
    exchange = ctx.prober.post_form([("grant_type", grant), ("scope", ctx.target.scope)])
    expect_error(exchange, 400, "unsupported_grant_type")


def probe_other_methods(ctx: Context) -> None:
    form = urlencode([("grant_type", "client_credentials"), ("scope", ctx.target.scope)]).encode()
    for method in OTHER_METHODS:
        # A body only where the method defines one: a proxy may rightly refuse a GET with a body.
        with_body = method in ("PUT", "PATCH")
        exchange = ctx.prober.send(
            method,
            body=form if with_body else None,
            content_type="application/x-www-form-urlencoded" if with_body else None,
        )
        violation = judge_undeclared_method(method, reply_of(exchange))
        if violation is not None:
            ctx.flag(Failed(str(violation), exchange, violation.source))
