"""The schemathesis part: every phase and every built-in check, driven by openapi.yaml.

The engine runs in-process (no CLI), so each built-in check becomes one line of the summary,
and failures keep their reproducible curl command (schemathesis masks `Authorization`).
Custom checks registered with `@schemathesis.check` (`_fuzz_checks`) judge every fuzzed
response by the same rules as the named checks; their failures are reported under those checks'
names. Every body schemathesis reads is bounded (`_bounded`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import schemathesis
import yaml
from schemathesis.engine import Status, events, from_schema

from ._bounded import Budget, bounded_sessions
from ._fuzz_checks import CUSTOM_CHECKS, drop_schema_blind_spots, ours, source_of
from ._http import TOKEN_PATH, Reply, Target, basic_header, request_shape
from ._report import Source

__all__ = [
    "BUILTIN_CHECKS",
    "BUILTIN_SOURCES",
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


# What each built-in check judges against.
BUILTIN_SOURCES: dict[str, Source] = {
    name: Source.SPEC for name in BUILTIN_CHECKS if name != "allow_header_conformance"
} | {"allow_header_conformance": Source.MUST}  # RFC 9110 §15.5.6: a 405 MUST send Allow

_RANK = {Source.MUST: 0, Source.SPEC: 1, Source.SHOULD: 2}


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
    schema.hook("filter_failure")(drop_schema_blind_spots)
    result = FuzzResult(seed=config.seed)
    budget = Budget(deadline=time.monotonic() + seconds, timeout=target.timeout)
    with ours(schema, target.scope), bounded_sessions(budget):
        stream = from_schema(schema).execute()
        for event in stream:
            _on_event(result, event, authorization)
            if budget.spent or time.monotonic() > budget.deadline:
                stream.stop()  # its next event is the last
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
                source = source_of(failure.message.strip() if failure.message else "")
                if source is None:
                    source = source_of(failure.title)
                if source is None:
                    source = BUILTIN_SOURCES.get(name, Source.SPEC)
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
