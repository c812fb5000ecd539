"""The OAuth rules on every fuzzed response: schemathesis custom checks, hooks and the filter.

Each `@schemathesis.check` applies a named check's rule (`_validate`) to every response of the
schemathesis phase; its failures are reported under that check's name (`CUSTOM_CHECKS`). The
checks and hooks stay silent for every schema but the ones `ours()` registers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

import schemathesis
from schemathesis import GenerationMode

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
from ._http import Reply
from ._report import Source

__all__ = ["CUSTOM_CHECKS", "drop_schema_blind_spots", "ours", "source_of"]

# OAuth errors a schema-valid request may legitimately get (see `drop_schema_blind_spots`).
_UNKNOWABLE_SCOPE_ERRORS = frozenset({"invalid_scope"})
_CODELESS_GRANT_ERRORS = frozenset({"invalid_grant", "invalid_request", "unauthorized_client"})

# Schemas registered by `ours` -> the configured scope: the custom checks and hooks stay
# silent for anyone else's schemas.
_OURS: dict[int, str] = {}
_OURS_LOCK = threading.Lock()
# The source of each custom-check failure message (schemathesis keeps only the text).
_SOURCES: dict[str, Source] = {}


@contextmanager
def ours(schema: object, scope: str) -> Iterator[None]:
    """While inside, the custom checks and hooks judge `schema`'s calls; it asks for `scope`."""
    with _OURS_LOCK:
        _OURS[id(schema)] = scope
    try:
        yield
    finally:
        with _OURS_LOCK:
            _OURS.pop(id(schema), None)


def source_of(message: str) -> Source | None:
    """The source a custom check's failure `message` rests on; None if no custom check said it."""
    return _SOURCES.get(message)


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


def _on_token(
    rule: Callable[[dict[str, Any]], None], body: dict[str, Any] | None, source: Source
) -> None:
    """`rule` on a token response's body (None: no token response); its failures rest on
    `source` unless they name their own."""
    if body is None:
        return
    try:
        rule(body)
    except NotApplicable:
        return
    except Violation as exc:
        raise _sourced(exc, source) from None


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
    _on_token(validate_token_type, _success_body(case, response), Source.MUST)


@schemathesis.check
def oauth_expires_in(ctx: Any, response: Any, case: Any) -> None:
    """Every token has a positive integer lifetime."""
    _on_token(validate_expires_in, _success_body(case, response), Source.SPEC)


@schemathesis.check
def oauth_jwt_lifetime(ctx: Any, response: Any, case: Any) -> None:
    """A JWT's exp - iat matches expires_in."""
    _on_token(validate_jwt_lifetime, _success_body(case, response), Source.MUST)


@schemathesis.check
def oauth_granted_scope(ctx: Any, response: Any, case: Any) -> None:
    """Granted scope ⊆ requested scope, for whatever scope was generated."""
    body = _success_body(case, response)
    requested = case.body.get("scope") if isinstance(case.body, dict) else None
    if isinstance(requested, str):
        _on_token(partial(validate_granted_scope, requested), body, Source.MUST)


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


def _has_repeated_names(body: object) -> bool:
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not isinstance(body, bytes):
        return False
    names = [name for name, _ in parse_qsl(body.decode("latin-1"), keep_blank_values=True)]
    return len(names) != len(set(names))


def drop_schema_blind_spots(ctx: Any, failure: Any, case: Any, response: Any) -> bool:
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
    error = error_code(_reply(response))
    if error in _UNKNOWABLE_SCOPE_ERRORS:
        return False
    grant = case.body.get("grant_type") if isinstance(case.body, dict) else None
    if grant == "authorization_code" and error in _CODELESS_GRANT_ERRORS:
        return False
    return not (error == "invalid_request" and _has_repeated_names(response.request.body))
