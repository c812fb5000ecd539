"""The schemathesis part: every phase and every built-in check, driven by openapi.yaml.

The engine runs in-process (no CLI), so each built-in check becomes one line of the summary,
and failures keep their reproducible curl command (schemathesis masks `Authorization`).
Custom checks registered with `@schemathesis.check` judge every fuzzed response by the same
rules as the named checks; their failures are reported under those checks' names.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import schemathesis
import yaml
from schemathesis import GenerationMode
from schemathesis.engine import Status, events, from_schema

from ._bounded import Budget, bounded_sessions
from ._checks import (
    NotApplicable,
    Violation,
    error_code,
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
from ._http import TOKEN_PATH, Reply, Target, basic_header, request_shape
from ._report import Source

__all__ = [
    "BUILTIN_CHECKS",
    "CUSTOM_CHECKS",
    "DEFAULT_FUZZ_SECONDS",
    "DEFAULT_SEED",
    "SPEC_PATH",
    "Finding",
    "FuzzResult",
    "run_schemathesis",
]


def _spec_path() -> Path:
    """The copy of openapi.yaml the wheel carries; in a checkout, the top-level one."""
    here = Path(__file__).resolve().parent
    shipped = here / "openapi.yaml"
    return shipped if shipped.is_file() else here.parents[1] / "openapi.yaml"


SPEC_PATH = _spec_path()
# The same server gets the same verdicts every run: schemathesis's seed is fixed unless told
# (--seed), and printed with every run and every finding it made.
DEFAULT_SEED = 20250101
# The whole schemathesis phase, every request and body included, ends within this (a server
# that answers every request just under the timeout would otherwise take hours).
DEFAULT_FUZZ_SECONDS = 300.0
# Every built-in check of schemathesis 4.x (max_response_time needs a limit, so it stays off).
BUILTIN_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "positive_data_acceptance",
    "negative_data_rejection",
    "missing_required_header",
    "ignored_auth",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
    "object_level_authorization",
)
# OAuth errors a schema-valid request may legitimately get (see `_drop_schema_blind_spots`).
_UNKNOWABLE_SCOPE_ERRORS = frozenset({"invalid_scope"})
_CODELESS_GRANT_ERRORS = frozenset({"invalid_grant", "invalid_request", "unauthorized_client"})

# What each built-in check judges against.
BUILTIN_SOURCES: dict[str, Source] = {
    name: Source.SPEC for name in BUILTIN_CHECKS if name != "allow_header_conformance"
} | {"allow_header_conformance": Source.MUST}  # RFC 9110 §15.5.6: a 405 MUST send Allow

_RANK = {Source.MUST: 0, Source.SPEC: 1, Source.SHOULD: 2}

# Schemas created by `run_schemathesis` -> the configured scope: the custom checks and hooks
# stay silent for anyone else's schemas.
_OURS: dict[int, str] = {}
_OURS_LOCK = threading.Lock()
# The source of each custom-check failure message (schemathesis keeps only the text).
_SOURCES: dict[str, Source] = {}


@dataclass
class Finding:
    """The first failure of one check: its message and a curl command reproducing it."""

    message: str
    curl: str | None
    source: Source = Source.SPEC
    got: str | None = None
    behaviour: str | None = None


@dataclass
class FuzzResult:
    """What one schemathesis run found, by check name."""

    seed: int
    passed: dict[str, int] = field(default_factory=dict)
    failures: dict[str, Finding] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    requests: int = 0
    # True when the phase stopped at its time budget, with requests left unsent.
    budget_spent: bool = False
    # Fuzzed POSTs answered 2xx: zero means no request got past client authentication.
    successes: int = 0
    # Phase name -> "success" / "failure" / "skipped (not_applicable)" …
    phases: dict[str, str] = field(default_factory=dict)


def _reply(response: Any) -> Reply:
    return Reply.from_lists(response.status_code, response.headers, response.content)


def _is_token_post(case: Any, response: Any) -> bool:
    return id(case.operation.schema) in _OURS and response.request.method == "POST"


def _sourced(violation: Violation, default: Source) -> Violation:
    """Remember which source the failure message rests on, for the report."""
    _SOURCES[str(violation)] = violation.source or default
    return violation


def _off_protocol(response: Any, violation: Violation) -> Violation:
    """An OAuth rule broken answering a request that is no OAuth request (not form-encoded).

    RFC 6749 only speaks of access token requests; openapi.yaml's responses apply to every
    request. So this is a spec deviation, whatever the rule's own source.
    """
    content_type = str(response.request.headers.get("Content-Type", "")).lower()
    if content_type.startswith("application/x-www-form-urlencoded"):
        return violation
    return Violation(
        f"{violation} (answering a {content_type or 'body-less'} request: openapi.yaml's rule)",
        Source.SPEC,
    )


@schemathesis.hook
def before_call(ctx: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Schema-valid requests ask for the configured scope: a client allowed only some scopes
    (`inspect`) would otherwise see every generated scope refused and never get a 2xx."""
    scope = _OURS.get(id(case.operation.schema))
    meta = getattr(case, "meta", None)
    if scope is None or meta is None or not isinstance(case.body, dict):
        return
    if meta.generation.mode is not GenerationMode.POSITIVE or "scope" not in case.body:
        return
    generated = case.body["scope"]
    allowed = set(scope.split())
    if not isinstance(generated, str) or not generated.split() or set(generated.split()) - allowed:
        case.body["scope"] = scope


def _success_body(case: Any, response: Any) -> dict[str, Any] | None:
    if not _is_token_post(case, response) or response.status_code != 200:
        return None
    return json_object(_reply(response))


# Custom checks: each is named after the named check (see CUSTOM_CHECKS) it feeds evidence to.


@schemathesis.check
def oauth_cache_headers(ctx: Any, response: Any, case: Any) -> None:
    """RFC 6749 §5.1 on every token-endpoint response."""
    if _is_token_post(case, response):
        try:
            validate_cache_headers(_reply(response))
        except Violation as exc:
            raise _sourced(_off_protocol(response, exc), Source.MUST) from None


@schemathesis.check
def oauth_error_body(ctx: Any, response: Any, case: Any) -> None:
    """OAuth error body on every 400/401/403 of the token endpoint."""
    if _is_token_post(case, response) and response.status_code in (400, 401, 403):
        try:  # notes (allowed deviations) are not failures
            validate_error_body(_reply(response), spec_naming=True)
        except Violation as exc:
            raise _sourced(_off_protocol(response, exc), Source.MUST) from None


@schemathesis.check
def oauth_invalid_client(ctx: Any, response: Any, case: Any) -> None:
    """Every 401 is invalid_client with a Basic challenge (RFC 6749 §5.2)."""
    if _is_token_post(case, response) and response.status_code == 401:
        reply = _reply(response)
        try:
            validate_invalid_client(reply)
        except Violation as exc:
            authorization = response.request.headers.get("Authorization")
            if "not Basic" in str(exc) and not authorization:
                return  # no scheme was used: any challenge will do
            raise _sourced(exc, Source.MUST) from None


@schemathesis.check
def oauth_undeclared_method(ctx: Any, response: Any, case: Any) -> None:
    """A method openapi.yaml does not declare: the one rule of `judge_undeclared_method`."""
    method = str(response.request.method).upper()
    if id(case.operation.schema) not in _OURS or method in ("POST", "OPTIONS"):
        return
    violation = judge_undeclared_method(method, _reply(response))
    if violation is not None:
        raise _sourced(violation, Source.SHOULD)


@schemathesis.check
def oauth_token_type(ctx: Any, response: Any, case: Any) -> None:
    """Every token is a Bearer token."""
    body = _success_body(case, response)
    if body is not None:
        try:
            validate_token_type(body)
        except Violation as exc:
            raise _sourced(exc, Source.MUST) from None


@schemathesis.check
def oauth_expires_in(ctx: Any, response: Any, case: Any) -> None:
    """Every token has a positive integer lifetime."""
    body = _success_body(case, response)
    if body is not None:
        try:
            validate_expires_in(body)
        except Violation as exc:
            raise _sourced(exc, Source.SPEC) from None


@schemathesis.check
def oauth_jwt_lifetime(ctx: Any, response: Any, case: Any) -> None:
    """A JWT's exp - iat matches expires_in."""
    body = _success_body(case, response)
    if body is not None:
        try:
            validate_jwt_lifetime(body)
        except NotApplicable:
            return
        except Violation as exc:
            raise _sourced(exc, Source.MUST) from None


@schemathesis.check
def oauth_granted_scope(ctx: Any, response: Any, case: Any) -> None:
    """Granted scope ⊆ requested scope, for whatever scope was generated."""
    body = _success_body(case, response)
    requested = case.body.get("scope") if isinstance(case.body, dict) else None
    if body is not None and isinstance(requested, str):
        try:
            validate_granted_scope(requested, body)
        except Violation as exc:
            raise _sourced(exc, Source.MUST) from None


CUSTOM_CHECKS: dict[str, str] = {
    "oauth_cache_headers": "cache-headers",
    "oauth_error_body": "error-body",
    "oauth_invalid_client": "invalid-client",
    "oauth_token_type": "token-type-bearer",
    "oauth_expires_in": "expires-in",
    "oauth_jwt_lifetime": "jwt-lifetime",
    "oauth_granted_scope": "granted-scope-subset",
    "oauth_undeclared_method": "other-methods",
}


def _oauth_error(response: Any) -> str | None:
    return error_code(_reply(response))


def _has_repeated_names(body: object) -> bool:
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not isinstance(body, bytes):
        return False
    names = [name for name, _ in parse_qsl(body.decode("latin-1"), keep_blank_values=True)]
    return len(names) != len(set(names))


def _drop_schema_blind_spots(ctx: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep a failure unless it is one the schema cannot know is wrong (filter_failure hook).

    `unsupported_method`, and `not_a_server_error` for other methods than POST, follow our one
    rule (`judge_undeclared_method`): RFC 9110 allows 404 and 501 as well as 405.
    Of `positive_data_acceptance` rejections, only 400s with these are dropped:
    - `invalid_scope`: a syntactically valid scope the server does not know (RFC 6749 §5.2);
    - `authorization_code` refused with invalid_grant/invalid_request/unauthorized_client:
      the spec's enum lists it, but the spec has no `code` parameter (RFC 6749 §4.1.3);
    - a body whose form serialization repeats a name (nested extra properties do): RFC 6749
      §3.2 forbids repeated parameters, so such a request is not valid on the wire.
    """
    checks = getattr(type(failure), "checks", ())
    method = str(response.request.method).upper()
    if "unsupported_method" in checks or ("not_a_server_error" in checks and method != "POST"):
        # 501 Not Implemented is a server error by class, yet RFC 9110's answer to a method
        # the server does not implement: one rule decides both.
        return judge_undeclared_method(method, _reply(response)) is not None
    if "positive_data_acceptance" not in checks:
        return True
    if response.status_code != 400:
        return True
    error = _oauth_error(response)
    if error in _UNKNOWABLE_SCOPE_ERRORS:
        return False
    grant = case.body.get("grant_type") if isinstance(case.body, dict) else None
    if grant == "authorization_code" and error in _CODELESS_GRANT_ERRORS:
        return False
    return not (error == "invalid_request" and _has_repeated_names(response.request.body))


def _spec(token_path: str) -> dict[str, Any]:
    """openapi.yaml, with its one path moved to where this server mounts the endpoint."""
    spec: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    if token_path != TOKEN_PATH:
        spec["paths"] = {token_path: spec["paths"][TOKEN_PATH]}
    return spec


def run_schemathesis(
    target: Target,
    *,
    max_examples: int,
    seed: int | None,
    seconds: float = DEFAULT_FUZZ_SECONDS,
) -> FuzzResult:
    """Run every applicable phase with every built-in and custom check against `target`,
    within `seconds` in all; every body schemathesis reads is bounded (`_bounded`)."""
    authorization = basic_header(target.client_id, target.client_secret)
    config = schemathesis.Config(seed=DEFAULT_SEED if seed is None else seed)
    project = config.projects.override
    project.update(
        base_url=target.url.rstrip("/"),
        # Not `basic_auth=`: schemathesis does not form-urlencode the id and secret first
        # (RFC 6749 §2.3.1), so a client with `+ % : /` or non-ASCII would get only 401s.
        headers={"Authorization": authorization},
        continue_on_failure=True,
        request_timeout=target.timeout,
    )
    project.generation.update(max_examples=max_examples, database="none")
    schema = schemathesis.openapi.from_dict(_spec(target.token_path), config=config)
    schema.hook("filter_failure")(_drop_schema_blind_spots)
    result = FuzzResult(seed=config.seed)
    budget = Budget(deadline=time.monotonic() + seconds, timeout=target.timeout)
    with _OURS_LOCK:
        _OURS[id(schema)] = target.scope
    try:
        with bounded_sessions(budget):
            stream = from_schema(schema).execute()
            for event in stream:
                _on_event(result, event, authorization)
                if budget.spent or time.monotonic() > budget.deadline:
                    stream.stop()  # its next event is the last
    finally:
        with _OURS_LOCK:
            _OURS.pop(id(schema), None)
    if budget.spent or time.monotonic() > budget.deadline:
        result.budget_spent = True
        result.errors = [e for e in result.errors if "time budget is spent" not in e]
        result.errors.append(
            f"the schemathesis phase stopped at its {seconds:g} s budget after "
            f"{result.requests} requests (raise --fuzz-seconds or lower --max-examples)"
        )
    return result


def _on_event(result: FuzzResult, event: Any, authorization: str) -> None:
    if isinstance(event, events.ScenarioFinished):
        _collect(result, event, authorization)
    elif isinstance(event, events.PhaseFinished):
        phase = event.phase
        skipped = phase.skip_reason
        result.phases[phase.name.value] = (
            f"skipped ({skipped.value})" if skipped is not None else event.status.value
        )
    elif isinstance(event, events.NonFatalError):
        result.errors.append(f"{event.label}: {event.info.title}: {event.value}")
    elif isinstance(event, events.FatalError):
        result.errors.append(f"{type(event.exception).__name__}: {event.exception}")


def _collect(result: FuzzResult, event: events.ScenarioFinished, configured: str) -> None:
    recorder = event.recorder
    for interaction in recorder.interactions.values():
        response = interaction.response
        if response is None:
            continue
        result.requests += 1
        if interaction.request.method == "POST" and 200 <= response.status_code < 300:
            result.successes += 1
    for case_id, nodes in recorder.checks.items():
        for node in nodes:
            name = node.name
            if node.status == Status.SUCCESS:
                result.passed[name] = result.passed.get(name, 0) + 1
            elif name in result.failures and result.failures[name].source is Source.MUST:
                continue  # the first failure of the strongest kind is kept
            elif node.failure_info is not None:
                failure = node.failure_info.failure
                failed = recorder.interactions.get(failure.case_id or case_id)
                message = failure.title
                got = behaviour = None
                if failed is not None and failed.response is not None:
                    got, behaviour = _describe(failed, configured)
                if failure.message:
                    message += f": {failure.message.strip()}"
                if name in CUSTOM_CHECKS and failure.message:
                    message = failure.message.strip()  # the title only repeats the check name
                message += f" (schemathesis seed {result.seed}: --seed {result.seed} replays it)"
                source = _SOURCES.get(failure.message.strip() if failure.message else "")
                if source is None:
                    source = _SOURCES.get(failure.title, BUILTIN_SOURCES.get(name, Source.SPEC))
                # schemathesis masks the header as `[Filtered]`; say it like the named checks do.
                curl = node.failure_info.code_sample.replace(
                    "Authorization: [Filtered]", "Authorization: Basic [REDACTED]"
                )
                known = result.failures.get(name)
                if known is None or _RANK[source] < _RANK[known.source]:
                    result.failures[name] = Finding(message, curl, source, got, behaviour)
            elif name not in result.failures:
                result.failures[name] = Finding(f"the check itself crashed ({node.status})", None)


def _describe(interaction: Any, configured: str) -> tuple[str, str]:
    """(`status error=…`, behaviour) of a fuzzed exchange, as `Exchange` says them."""
    response = interaction.response
    reply = Reply(status=response.status_code, headers={}, body=response.content or b"")
    got = reply.got()
    request = interaction.request
    headers = {k.lower(): v for k, v in (request.headers or {}).items()}
    value = headers.get("authorization")
    if isinstance(value, list):
        value = value[0] if value else None
    if not value:
        who = "without Authorization"
    elif value == configured:
        who = "with the configured credentials"
    elif str(value).lower().startswith("basic"):
        who = "with other Basic credentials"
    else:
        who = "with another Authorization scheme"
    body = request.body
    if isinstance(body, str):
        body = body.encode("utf-8")
    content_type = headers.get("content-type")
    if isinstance(content_type, list):
        content_type = content_type[0] if content_type else None
    shape = request_shape(content_type, body if isinstance(body, bytes) else None)
    return got, f"{request.method} {shape} {who} → {got}"
