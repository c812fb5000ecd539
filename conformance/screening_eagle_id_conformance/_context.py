"""What the probes work with: findings and their source per profile, the context, the prober
that keeps every exchange (so rules about every reply can judge them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._facts import Facts, expected_got
from ._http import Exchange, Prober, Reply, Target
from ._report import Profile, Source
from ._validate import NotApplicable, Violation, json_object

__all__ = [
    "ByProfile",
    "Context",
    "Failed",
    "RecordingProber",
    "challenge_missing",
    "expect_error",
    "judge",
    "reply_of",
    "resolve",
]


@dataclass(frozen=True)
class ByProfile:
    """A rule whose source depends on the profile: which document decides under each."""

    screening_eagle: Source
    oauth2: Source

    def under(self, profile: Profile) -> Source:
        """The source that decides under `profile`."""
        return self.oauth2 if profile is Profile.OAUTH2 else self.screening_eagle


def resolve(source: Source | ByProfile, profile: Profile) -> Source:
    """The plain source of `source` under `profile`."""
    return source.under(profile) if isinstance(source, ByProfile) else source


class Failed(Exception):
    """A named check found a broken rule; `exchange` is the request that shows it."""

    def __init__(
        self,
        message: str,
        exchange: Exchange | None = None,
        source: Source | ByProfile | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exchange = exchange
        self.source = source


def reply_of(exchange: Exchange) -> Reply:
    """The reply, or Failed when the request got none."""
    if exchange.reply is None:
        raise Failed(f"no response: {exchange.transport_error}", exchange)
    return exchange.reply


def judge(exchange: Exchange, rule: Callable[[Reply], object]) -> None:
    """Apply a pure rule to the reply; its Violation becomes a Failed with the exchange."""
    try:
        rule(reply_of(exchange))
    except Violation as exc:
        raise Failed(str(exc), exchange, exc.source) from None


def expect_error(
    exchange: Exchange, status: int, error: str, source: Source | ByProfile | None = None
) -> None:
    """Failed unless the reply is `status` with `error`; the message states what came."""
    reply = reply_of(exchange)
    facts = Facts.of(reply)
    if facts.status == status and facts.error == error:
        return
    raise Failed(expected_got(f"{status} {error}", reply), exchange, source)


class RecordingProber(Prober):
    """A Prober that remembers what every-reply rules need: each 401 without a challenge.

    Only those exchanges are kept (a handful at most), never every reply: a hostile server's
    large bodies are not retained past the probe that read them.
    """

    # Distinct behaviours kept (one exchange each, with how often it was seen).
    KEEP = 8

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self.unchallenged: dict[str, tuple[Exchange, int]] = {}

    def send(
        self,
        method: str,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        authorization: str | bytes | None = "configured",
        secret_bearing: bool | None = None,
    ) -> Exchange:
        """Send one request (see Prober.send); remember it if it is a 401 without challenge."""
        exchange = super().send(
            method,
            body=body,
            content_type=content_type,
            authorization=authorization,
            secret_bearing=secret_bearing,
        )
        reply = exchange.reply
        if reply is not None and challenge_missing(reply.status, reply.header("www-authenticate")):
            behaviour = exchange.behaviour()
            seen, count = self.unchallenged.get(behaviour, (exchange, 0))
            if behaviour in self.unchallenged or len(self.unchallenged) < self.KEEP:
                self.unchallenged[behaviour] = (seen, count + 1)
        return exchange


def challenge_missing(status: int, challenge: str | None) -> bool:
    """RFC 9110 §15.5.2: a 401 MUST carry a WWW-Authenticate challenge."""
    return status == 401 and not (challenge or "").strip()


@dataclass
class Context:
    """What a probe works with: the target, an HTTP prober and memoized token responses."""

    target: Target
    prober: Prober
    profile: Profile = Profile.SCREENING_EAGLE
    # A scope the server knows but does not allow this client (None: not judged).
    disallowed_scope: str | None = None
    _tokens: dict[str, Exchange] = field(default_factory=dict)
    # Remarks of a passing check (shown on its PASS line); the runner empties it per check.
    notes: list[str] = field(default_factory=list)
    # Broken rules a probe recorded and went on past; the runner empties it per check.
    findings: list[Failed] = field(default_factory=list)

    def token(self, scope: str | None = None) -> Exchange:
        """The (memoized) token request for `scope` (default: the configured scope)."""
        scope = self.target.scope if scope is None else scope
        if scope not in self._tokens:
            fields = [("grant_type", "client_credentials"), ("scope", scope)]
            self._tokens[scope] = self.prober.post_form(fields)
        return self._tokens[scope]

    def flag(self, failure: Failed) -> None:
        """Record a broken rule and let the probe go on (it may find a worse one)."""
        self.findings.append(failure)

    def note(self, text: str) -> None:
        """A remark for the PASS line (once)."""
        if text not in self.notes:
            self.notes.append(text)

    def require_valid_credentials(self) -> None:
        """NotApplicable when the configured credentials themselves are refused with 401."""
        reply = self.token().reply
        if reply is not None and reply.status == 401:
            raise NotApplicable("the configured credentials are refused (see token-request)")

    def token_body(self, scope: str | None = None) -> tuple[Exchange, dict[str, Any]]:
        """A successful token response as JSON, or NotApplicable (token-request says why)."""
        exchange = self.token(scope)
        reply = exchange.reply
        if reply is None or reply.status != 200:
            raise NotApplicable("no successful token response (see token-request)")
        try:
            return exchange, json_object(reply)
        except Violation:
            raise NotApplicable(
                "the token response is not a JSON object (see token-request)"
            ) from None
