"""Probes of the token itself: token-unguessability and jwt-claims (the pure token rules,
token-type-bearer, expires-in and jwt-lifetime, run through `on_token`)."""

from __future__ import annotations

from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

from ._context import Context, Failed, reply_of
from ._report import Source
from ._validate import (
    JWT_SKEW_SECONDS,
    MIN_TOKEN_BITS,
    NotApplicable,
    Violation,
    estimate_token_bits,
    json_object,
    jwt_parts,
)

__all__ = ["UNGUESSABILITY_SAMPLES", "on_token", "probe_jwt_claims", "probe_unguessability"]

# Tokens collected to estimate how many bits vary between them.
UNGUESSABILITY_SAMPLES = 6


def on_token(
    rule: Callable[[dict[str, Any]], None], scope: str | None = None
) -> Callable[[Context], None]:
    def probe(ctx: Context) -> None:
        exchange, body = ctx.token_body(scope)
        try:
            rule(body)
        except Violation as exc:
            raise Failed(str(exc), exchange, exc.source) from None

    return probe


def probe_unguessability(ctx: Context) -> None:
    first_exchange, first = ctx.token_body()
    tokens = [first.get("access_token")]
    exchanges = [first_exchange]
    for _ in range(UNGUESSABILITY_SAMPLES - 1):
        exchange = ctx.prober.post_form()
        reply = reply_of(exchange)
        if reply.status != 200:
            raise Failed(f"a further token request answered {reply.status}", exchange)
        try:
            tokens.append(json_object(reply).get("access_token"))
        except Violation as exc:
            raise Failed(str(exc), exchange) from None
        exchanges.append(exchange)
    texts = [t for t in tokens if isinstance(t, str)]
    if len(texts) != len(tokens):
        raise NotApplicable("an access token is not a string (see token-request)")
    distinct = sorted(set(texts), key=texts.index)
    if len(distinct) < len(texts):
        ctx.note(
            f"{len(texts)} token requests got {len(distinct)} distinct tokens: the server hands "
            "out its still-valid token again (allowed; each is then shared across callers)"
        )
    parts = [jwt_parts(t) for t in distinct]
    if all(p is not None for p in parts):
        # A signed JWT: its signature carries the bits an attacker must guess; claims such as
        # a uuid4 `jti` are not a credential.
        header, _, signature = parts[0]  # type: ignore[misc]
        alg = header.get("alg")
        bits = 8 * len(signature)
        if (isinstance(alg, str) and alg.lower() == "none") or bits == 0:
            raise Failed(
                f"the JWT access token is unsigned (alg {alg!r}): anyone can forge one "
                "(RFC 6749 §10.10; RFC 8725 §3.1)",
                exchanges[0],
            )
        if bits < MIN_TOKEN_BITS:
            raise Failed(
                f"the JWT signature has {bits} bits, fewer than {MIN_TOKEN_BITS} "
                "(RFC 6749 §10.10: MUST)",
                exchanges[0],
            )
        ctx.note(f"JWT ({alg}): a {bits}-bit signature")
        return
    if len(distinct) < 2:
        raise NotApplicable("every token was the same: nothing to estimate its randomness from")
    estimate = estimate_token_bits(distinct)
    if estimate < MIN_TOKEN_BITS:
        raise Failed(
            f"across {len(distinct)} opaque tokens only about {estimate:.0f} bits vary; RFC 6749 "
            f"§10.10 requires a guess to succeed with probability <= 2^-{MIN_TOKEN_BITS} "
            f"(e.g. {distinct[0][:12]}… vs {distinct[1][:12]}…)",
            exchanges[-1],
        )
    if estimate < 160:
        ctx.flag(
            Failed(
                f"about {estimate:.0f} bits vary across {len(distinct)} opaque tokens; RFC 6749 "
                "§10.10 SHOULD be at least 160",
                exchanges[-1],
                Source.SHOULD,
            )
        )
    ctx.note(f"opaque tokens: about {estimate:.0f} bits vary across {len(distinct)} samples")


def probe_jwt_claims(ctx: Context) -> None:
    exchange, body = ctx.token_body()
    parts = jwt_parts(body.get("access_token"))
    if parts is None:
        raise NotApplicable("the access token is not a JWT")
    header, claims, _ = parts
    alg = header.get("alg")
    if not isinstance(alg, str) or alg.lower() == "none":
        raise Failed(
            f"JWT `alg` is {alg!r}: an unsigned token can be forged "
            "(RFC 8725 §3.1, RFC 7515 §4.1.1)",
            exchange,
        )
    exp, iat = claims.get("exp"), claims.get("iat")
    numeric = isinstance(exp, int | float) and isinstance(iat, int | float)
    if numeric and not exp > iat:  # type: ignore[operator]
        raise Failed(
            f"JWT exp {exp} is not after iat {iat}: the token is expired when issued "
            "(RFC 7519 §4.1.4, §4.1.6)",
            exchange,
        )
    date = exchange.reply.header("date") if exchange.reply is not None else None
    if isinstance(iat, int | float) and date:
        try:
            server_now = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            server_now = None
        if server_now is not None and abs(iat - server_now) > JWT_SKEW_SECONDS:
            ctx.flag(
                Failed(
                    f"JWT iat {iat} is {iat - server_now:+.0f} s from the server's own Date "
                    f"({date}); more than {JWT_SKEW_SECONDS} s of skew (RFC 7519 §4.1.6)",
                    exchange,
                    Source.SHOULD,
                )
            )
    aud = claims.get("aud")
    if aud is not None and aud != ctx.target.client_id and aud != [ctx.target.client_id]:
        ctx.note(
            f"JWT aud {aud!r} is not the client id (the seed's examples show the client id, "
            "but do not state it as a rule)"
        )
