"""schemathesis against the reference server on a real loopback socket.

Every phase that applies to one stateless operation (examples, coverage, fuzzing; the
stateful phase needs OpenAPI links between operations, and there is one operation) and
every built-in check, with the demo client's credentials. The configuration, and why each
setting is there: tests/schemathesis.toml.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from live_server import LiveServer
from schemathesis import GenerationMode
from schemathesis.specs.openapi.schemas import OpenApiSchema

ROOT = Path(__file__).resolve().parents[1]
CONFIG = Path(__file__).with_name("schemathesis.toml")
MIN_CASES = 1000

# Cases sent, per phase; checked by the last test of this module.
cases_per_phase: Counter[str] = Counter()


@pytest.fixture(scope="module")
def api_schema(reference_server: LiveServer) -> OpenApiSchema:
    config = schemathesis.Config.from_path(CONFIG)
    schema = schemathesis.openapi.from_path(ROOT / "openapi.yaml", config=config)
    schema.config.update(base_url=reference_server.url)
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_token_endpoint_conforms(case: schemathesis.Case) -> None:
    response = case.call_and_validate()
    assert case.meta is not None
    cases_per_phase[case.meta.phase.name.value] += 1
    # What the spec documents but does not mark `required`, so schemathesis cannot check it:
    # RFC 6749 §5.1 no-store on every response, and the error body's shape on every error.
    assert response.headers.get("cache-control") == ["no-store"]
    assert response.headers.get("pragma") == ["no-cache"]
    if response.status_code >= 400 and case.method.upper() != "HEAD":
        assert set(response.json()) == {"error", "errorDescription"}
    if response.status_code == 401:
        assert response.headers.get("www-authenticate") == ['Basic realm="Screening Eagle ID"']
    if case.meta.generation.mode is GenerationMode.POSITIVE and response.status_code == 400:
        # Sharper than positive_data_acceptance can say: the only 400 a request valid
        # against the spec may get is invalid_grant for authorization_code.
        assert response.json()["error"] == "invalid_grant"
        assert isinstance(case.body, dict)
        assert case.body["grant_type"] == "authorization_code"


def test_every_phase_ran_enough_cases() -> None:
    # Runs after the test above (file order): fewer cases would prove too little.
    assert set(cases_per_phase) == {"examples", "coverage", "fuzzing"}, cases_per_phase
    assert sum(cases_per_phase.values()) >= MIN_CASES, cases_per_phase
