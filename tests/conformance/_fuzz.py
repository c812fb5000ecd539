"""The schemathesis part: every phase and every built-in check, driven by openapi.yaml.

The engine runs in-process (no CLI), so each built-in check becomes one line of the summary,
and failures keep their reproducible curl command (schemathesis masks `Authorization`).
Custom checks registered with `@schemathesis.check` judge every fuzzed response by the same
rules as the named checks; their failures are reported under those checks' names.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import schemathesis
from schemathesis.engine import Status, events, from_schema

from ._checks import (
    NotApplicable,
    Violation,
    json_object,
    validate_cache_headers,
    validate_error_body,
    validate_expires_in,
    validate_granted_scope,
    validate_invalid_client,
    validate_jwt_lifetime,
    validate_token_type,
)
from ._http import Reply, Target, basic_header

__all__ = [
    "BUILTIN_CHECKS",
    "CUSTOM_CHECKS",
    "SPEC_PATH",
    "Finding",
    "FuzzResult",
    "run_schemathesis",
]

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi.yaml"
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

# Schemas created by `run_schemathesis`: the custom checks stay silent for anyone else's.
_OURS: set[int] = set()
_OURS_LOCK = threading.Lock()


@dataclass
class Finding:
    """The first failure of one check: its message and a curl command reproducing it."""

    message: str
    curl: str | None


@dataclass
class FuzzResult:
    """What one schemathesis run found, by check name."""

    seed: int
    passed: dict[str, int] = field(default_factory=dict)
    failures: dict[str, Finding] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    requests: int = 0
    # Fuzzed POSTs answered 2xx: zero means no request got past client authentication.
    successes: int = 0
    # Phase name -> "success" / "failure" / "skipped (not_applicable)" …
    phases: dict[str, str] = field(default_factory=dict)


def _reply(response: Any) -> Reply:
    return Reply.from_lists(response.status_code, response.headers, response.content)


def _is_token_post(case: Any, response: Any) -> bool:
    return id(case.operation.schema) in _OURS and response.request.method == "POST"


def _success_body(case: Any, response: Any) -> dict[str, Any] | None:
    if not _is_token_post(case, response) or response.status_code != 200:
        return None
    return json_object(_reply(response))


# Custom checks: each is named after the named check (see CUSTOM_CHECKS) it feeds evidence to.


@schemathesis.check
def oauth_cache_headers(ctx: Any, response: Any, case: Any) -> None:
    """RFC 6749 §5.1 on every token-endpoint response."""
    if _is_token_post(case, response):
        validate_cache_headers(_reply(response))


@schemathesis.check
def oauth_error_body(ctx: Any, response: Any, case: Any) -> None:
    """OAuth error body on every 400/401/403 of the token endpoint."""
    if _is_token_post(case, response) and response.status_code in (400, 401, 403):
        validate_error_body(_reply(response))  # notes (allowed deviations) are not failures


@schemathesis.check
def oauth_invalid_client(ctx: Any, response: Any, case: Any) -> None:
    """Every 401 is invalid_client with a Basic challenge (RFC 6749 §5.2)."""
    if _is_token_post(case, response) and response.status_code == 401:
        validate_invalid_client(_reply(response))


@schemathesis.check
def oauth_token_type(ctx: Any, response: Any, case: Any) -> None:
    """Every token is a Bearer token."""
    body = _success_body(case, response)
    if body is not None:
        validate_token_type(body)


@schemathesis.check
def oauth_expires_in(ctx: Any, response: Any, case: Any) -> None:
    """Every token has a positive integer lifetime."""
    body = _success_body(case, response)
    if body is not None:
        validate_expires_in(body)


@schemathesis.check
def oauth_jwt_lifetime(ctx: Any, response: Any, case: Any) -> None:
    """A JWT's exp - iat matches expires_in."""
    body = _success_body(case, response)
    if body is not None:
        try:
            validate_jwt_lifetime(body)
        except NotApplicable:
            return


@schemathesis.check
def oauth_granted_scope(ctx: Any, response: Any, case: Any) -> None:
    """Granted scope ⊆ requested scope, for whatever scope was generated."""
    body = _success_body(case, response)
    requested = case.body.get("scope") if isinstance(case.body, dict) else None
    if body is not None and isinstance(requested, str):
        validate_granted_scope(requested, body)


CUSTOM_CHECKS: dict[str, str] = {
    "oauth_cache_headers": "cache-headers",
    "oauth_error_body": "error-body",
    "oauth_invalid_client": "invalid-client",
    "oauth_token_type": "token-type-bearer",
    "oauth_expires_in": "expires-in",
    "oauth_jwt_lifetime": "jwt-lifetime",
    "oauth_granted_scope": "granted-scope-subset",
}


def _oauth_error(response: Any) -> str | None:
    try:
        error = json_object(_reply(response)).get("error")
    except Violation:
        return None
    return error if isinstance(error, str) else None


def _has_repeated_names(body: object) -> bool:
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not isinstance(body, bytes):
        return False
    names = [name for name, _ in parse_qsl(body.decode("latin-1"), keep_blank_values=True)]
    return len(names) != len(set(names))


def _drop_schema_blind_spots(ctx: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep a failure unless it is one the schema cannot know is wrong (filter_failure hook).

    Only `positive_data_acceptance` rejections with a 400 are considered, and only these:
    - `invalid_scope`: a syntactically valid scope the server does not know (RFC 6749 §5.2);
    - `authorization_code` refused with invalid_grant/invalid_request/unauthorized_client:
      the spec's enum lists it, but the spec has no `code` parameter (RFC 6749 §4.1.3);
    - a body whose form serialization repeats a name (nested extra properties do): RFC 6749
      §3.2 forbids repeated parameters, so such a request is not valid on the wire.
    """
    if "positive_data_acceptance" not in getattr(type(failure), "checks", ()):
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


def run_schemathesis(
    target: Target,
    *,
    max_examples: int,
    seed: int | None,
) -> FuzzResult:
    """Run every applicable phase with every built-in and custom check against `target`."""
    config = schemathesis.Config(seed=seed)
    project = config.projects.override
    project.update(
        base_url=target.url.rstrip("/"),
        # Not `basic_auth=`: schemathesis does not form-urlencode the id and secret first
        # (RFC 6749 §2.3.1), so a client with `+ % : /` or non-ASCII would get only 401s.
        headers={"Authorization": basic_header(target.client_id, target.client_secret)},
        continue_on_failure=True,
        request_timeout=target.timeout,
    )
    project.generation.update(max_examples=max_examples, database="none")
    schema = schemathesis.openapi.from_path(SPEC_PATH, config=config)
    schema.hook("filter_failure")(_drop_schema_blind_spots)
    result = FuzzResult(seed=config.seed)
    with _OURS_LOCK:
        _OURS.add(id(schema))
    try:
        for event in from_schema(schema).execute():
            if isinstance(event, events.ScenarioFinished):
                _collect(result, event)
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
    finally:
        with _OURS_LOCK:
            _OURS.discard(id(schema))
    return result


def _collect(result: FuzzResult, event: events.ScenarioFinished) -> None:
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
            elif name in result.failures:
                continue
            elif node.failure_info is not None:
                failure = node.failure_info.failure
                interaction = recorder.interactions.get(failure.case_id or case_id)
                message = failure.title
                if interaction is not None and interaction.response is not None:
                    message += f" (got {interaction.response.status_code})"
                if failure.message:
                    message += f": {failure.message.strip()}"
                # schemathesis masks the header as `[Filtered]`; say it like the named checks do.
                curl = node.failure_info.code_sample.replace(
                    "Authorization: [Filtered]", "Authorization: Basic [REDACTED]"
                )
                result.failures[name] = Finding(message, curl)
            else:
                result.failures[name] = Finding(f"the check itself crashed ({node.status})", None)
