"""The rule table: every named check as one row of data.

A row says which requests the check sends (`sends`), which facts of the replies it reads
(`reads`), the sections it enforces (`rfc`), and which source decides its verdict (`source`:
openapi.yaml, an RFC MUST or a SHOULD, or a `ByProfile` when the deciding document differs
between profiles; `also`: the sources its other findings rest on). The probes live in the
module named after what they probe (`_probes_client`, `_probes_token`, `_probes_scope`,
`_probes_request`); the pure rules they share with the schemathesis phase in `_validate`; the
one FAIL message in `_facts`. The runner turns each finding into FAIL or WARN per profile.
`every-401-challenge` runs last and judges every reply the suite got (a 401 needs a challenge).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ._context import ByProfile, Context, Failed, resolve
from ._facts import Facts, expected_got
from ._probes_client import (
    CERTIFICATE_INVALID,
    probe_cache_headers,
    probe_every_401,
    probe_indistinguishable,
    probe_invalid_client,
    probe_malformed_basic,
    probe_special_credentials,
    probe_tls,
    probe_token_request,
)
from ._probes_request import (
    OTHER_METHODS,
    UNREGISTERED_ERROR_SOURCE,
    probe_error_body,
    probe_non_form_body,
    probe_other_methods,
    probe_repeated_parameters,
    probe_unsupported_grant,
)
from ._probes_scope import (
    UNKNOWN_SCOPE,
    probe_disallowed_scope,
    probe_granted_scope,
    probe_omitted_scope,
    probe_unknown_scope,
)
from ._probes_token import on_token, probe_jwt_claims, probe_unguessability
from ._report import Profile, Source, verdict_for
from ._validate import (
    CHALLENGE_MISSING,
    JWT_SKEW_SECONDS,
    MIN_TOKEN_BITS,
    REGISTERED_ERRORS,
    UNDECLARED_METHOD_STATUSES,
    NotApplicable,
    Violation,
    error_code,
    estimate_token_bits,
    json_object,
    judge_undeclared_method,
    validate_cache_headers,
    validate_error_body,
    validate_expires_in,
    validate_granted_scope,
    validate_invalid_client,
    validate_jwt_lifetime,
    validate_token_type,
)

__all__ = [
    "CERTIFICATE_INVALID",
    "CHALLENGE_MISSING",
    "CHECKS",
    "JWT_SKEW_SECONDS",
    "MIN_TOKEN_BITS",
    "OTHER_METHODS",
    "REGISTERED_ERRORS",
    "UNDECLARED_METHOD_STATUSES",
    "UNKNOWN_SCOPE",
    "ByProfile",
    "Check",
    "Context",
    "Facts",
    "Failed",
    "NotApplicable",
    "Violation",
    "error_code",
    "estimate_token_bits",
    "expected_got",
    "json_object",
    "judge_undeclared_method",
    "probe_tls",
    "resolve",
    "rule_table",
    "validate_cache_headers",
    "validate_error_body",
    "validate_expires_in",
    "validate_granted_scope",
    "validate_invalid_client",
    "validate_jwt_lifetime",
    "validate_token_type",
]

SourceRule = Source | ByProfile


@dataclass(frozen=True)
class Check:
    """One row of the rule table (see the module docstring)."""

    id: str
    title: str
    rfc: str
    probe: Callable[[Context], None] = field(repr=False)
    # The requests the probe sends, and the facts of their replies it reads.
    sends: str = ""
    reads: str = ""
    # What a finding without a source of its own rests on.
    source: SourceRule = Source.MUST
    # The sources its other findings may rest on.
    also: tuple[SourceRule, ...] = ()

    @property
    def sources(self) -> tuple[SourceRule, ...]:
        """Every source a finding of this check may rest on, its own first."""
        return (self.source, *self.also)

    def verdicts(self, profile: Profile) -> str:
        """What a broken rule of this check gives under `profile`: `FAIL (RFC MUST)` …."""
        seen: dict[str, None] = {}
        for rule in self.sources:
            source = resolve(rule, profile)
            seen[f"{verdict_for(profile, source).value} ({source.value})"] = None
        return ", ".join(seen)


CHECKS: tuple[Check, ...] = (
    Check(
        "tls",
        "https: TLS 1.2 or later, a valid certificate, TLS 1.0/1.1 refused",
        "RFC 6749 §1.6, §3.2; RFC 8996; RFC 9700 §2; BCP 195",
        probe_tls,
        sends="TLS handshakes: verified, then offering only TLS 1.0/1.1",
        reads="certificate validity, negotiated version",
    ),
    Check(
        "token-request",
        "client_credentials with the given client and scope → 200 JSON token",
        "RFC 6749 §4.4.2, §4.4.3, §5.1",
        probe_token_request,
        sends="POST grant_type=client_credentials, the known scope",
        reads="status, Content-Type, access_token",
    ),
    Check(
        "cache-headers",
        "Cache-Control: no-store and Pragma: no-cache on success and errors",
        "RFC 6749 §5.1",
        probe_cache_headers,
        sends="a token request; grant_type omitted; no credentials",
        reads="Cache-Control, Pragma",
        also=(Source.SPEC,),
    ),
    Check(
        "invalid-client",
        "wrong/unknown credentials → 401 invalid_client + WWW-Authenticate; none → 401",
        "RFC 6749 §5.2; RFC 9110 §15.5.2",
        probe_invalid_client,
        sends="wrong secret; unknown client; no credentials",
        reads="status, error, WWW-Authenticate scheme",
        also=(Source.SPEC,),
    ),
    Check(
        "indistinguishable-client-errors",
        "unknown client and wrong secret answer alike",
        "RFC 6749 §10.1; RFC 6819 §5.1.4.2.2",
        probe_indistinguishable,
        sends="wrong secret; unknown client",
        reads="status, error, description, keys, WWW-Authenticate, Content-Type",
        source=Source.SHOULD,
    ),
    Check(
        "malformed-basic",
        "malformed Basic → 401 + WWW-Authenticate; other schemes → 4xx; never 2xx/5xx",
        "RFC 6749 §2.3.1, §5.2; RFC 7617 §2",
        probe_malformed_basic,
        sends="6 malformed Basic values; Bearer and Digest",
        reads="status, WWW-Authenticate",
        also=(Source.SPEC,),
    ),
    Check(
        "token-type-bearer",
        "token_type is Bearer (case-insensitive)",
        "RFC 6749 §5.1, §7.1; RFC 6750 §6.1.1",
        on_token(validate_token_type),
        sends="the token request",
        reads="token_type",
    ),
    Check(
        "expires-in",
        "expires_in is a positive integer",
        "openapi.yaml (required); RFC 6749 §5.1",
        on_token(validate_expires_in),
        sends="the token request",
        reads="expires_in",
        source=Source.SPEC,
    ),
    Check(
        "jwt-lifetime",
        "a JWT access token's exp - iat equals expires_in (±1 s)",
        "RFC 6749 §5.1; RFC 7519 §4.1.4, §4.1.6",
        on_token(validate_jwt_lifetime),
        sends="the token request",
        reads="expires_in, JWT exp and iat",
    ),
    Check(
        "jwt-claims",
        f"a JWT: alg not none, exp > iat, iat within {JWT_SKEW_SECONDS} s of Date",
        "RFC 7519 §4.1.4, §4.1.6; RFC 8725 §3.1",
        probe_jwt_claims,
        sends="the token request",
        reads="JWT alg, exp, iat, aud; Date",
        also=(Source.SHOULD,),
    ),
    Check(
        "granted-scope-subset",
        "granted scope ⊆ requested scope (known scope, and a known subset)",
        "RFC 6749 §3.3, §5.1",
        probe_granted_scope,
        sends="scope: known; its first token alone",
        reads="status, scope (absent = as requested)",
    ),
    Check(
        "omitted-scope",
        "an omitted scope → a default scope or 400 invalid_scope",
        "RFC 6749 §3.3; openapi.yaml (scope required: 400 invalid_request)",
        probe_omitted_scope,
        sends="scope omitted",
        reads="status, error (any status), scope",
    ),
    Check(
        "unknown-scope",
        "an unknown scope, alone or with known ones → 400 invalid_scope, 403, or 200 stating "
        "a grant without it",
        "RFC 6749 §3.3, §5.1, §5.2",
        probe_unknown_scope,
        sends=f"scope: {UNKNOWN_SCOPE} alone; known + it",
        reads="status, error (any status), scope (absent = as requested)",
    ),
    Check(
        "disallowed-scope",
        "a scope the client is not allowed, alone or with known ones → refused, or a 200 "
        "stating a grant without it",
        "RFC 6749 §3.3, §5.1, §5.2",
        probe_disallowed_scope,
        sends="scope: the disallowed one alone; known + it (only with --disallowed-scope)",
        reads="status, error (any status), scope (absent = as requested)",
    ),
    Check(
        "error-body",
        "errors are JSON objects with a registered string `error` and the spec's "
        "`errorDescription`",
        "openapi.yaml ErrorResponse; RFC 6749 §5.2, §8.5",
        probe_error_body,
        sends="grant_type omitted; no credentials; unknown scope alone; the password grant",
        reads="body (empty, not JSON, no `error`), error, errorDescription / error_description",
        also=(Source.SPEC, UNREGISTERED_ERROR_SOURCE),
    ),
    Check(
        "repeated-parameters",
        "each parameter repeated (grant_type, scope) → 400 invalid_request",
        "RFC 6749 §3.2",
        probe_repeated_parameters,
        sends="grant_type twice; scope twice (two values)",
        reads="status, error (any status)",
    ),
    Check(
        "non-form-body",
        "a JSON body → 400 invalid_request",
        "openapi.yaml (form body, 400); RFC 6749 §3.2, §4.4.2",
        probe_non_form_body,
        sends="the token request as a JSON body",
        reads="status, error (any status)",
        source=Source.SPEC,
        also=(Source.SHOULD,),
    ),
    Check(
        "unsupported-grant-type",
        "an unknown grant_type → 400 unsupported_grant_type",
        "RFC 6749 §5.2",
        probe_unsupported_grant,
        sends="grant_type=urn:example:conformance:unsupported-grant",
        reads="status, error (any status)",
    ),
    Check(
        "other-methods",
        "GET/PUT/PATCH/DELETE → 405 with Allow, 404 or 501; never 2xx/5xx",
        "RFC 9110 §9.1, §15.5.6; openapi.yaml (POST only)",
        probe_other_methods,
        sends=", ".join(OTHER_METHODS),
        reads="status, Allow",
        also=(Source.SPEC, Source.SHOULD),
    ),
    Check(
        "token-unguessability",
        f"tokens cannot be guessed (>= {MIN_TOKEN_BITS} bits; a JWT by its signature)",
        "RFC 6749 §10.10",
        probe_unguessability,
        sends="6 token requests",
        reads="access_token (JWT alg and signature, or varying bits)",
        also=(Source.SHOULD,),
    ),
    Check(
        "special-credentials",
        "id/secret with reserved characters authenticate",
        "RFC 6749 §2.3.1, Appendix B",
        probe_special_credentials,
        sends="the token request as the special client (only with --special-client-id)",
        reads="status, error (any status)",
    ),
    Check(
        "every-401-challenge",
        "every 401 the suite got, to any probe, carries WWW-Authenticate",
        "RFC 9110 §15.5.2",
        probe_every_401,
        sends="a wrong secret in the form body; reads every reply before it (runs last)",
        reads="status, WWW-Authenticate",
    ),
)


def rule_table() -> str:
    """The rule table as Markdown (the docs site shows it; a test keeps the docs in sync)."""
    head = (
        "| check | probes (what it sends) | reads | sources | screening-eagle | oauth2 |\n"
        "|---|---|---|---|---|---|\n"
    )
    rows = []
    for check in CHECKS:
        cells = [
            f"`{check.id}`",
            check.sends,
            check.reads,
            check.rfc,
            check.verdicts(Profile.SCREENING_EAGLE),
            check.verdicts(Profile.OAUTH2),
        ]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |\n")
    return head + "".join(rows)
