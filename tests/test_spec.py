"""openapi.yaml says what the published endpoint description (the seed) says.

The seed is kept verbatim in tests/data/seed.txt. Each parametrised case is a fact the seed
states; the test checks both that the seed really states it (so the table cannot drift into
invention) and that openapi.yaml encodes it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate

ROOT = Path(__file__).resolve().parents[1]
SEED = (ROOT / "tests" / "data" / "seed.txt").read_text(encoding="utf-8")
PATH = "/api/id/v1/auth/token"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))


def operation(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["paths"][PATH]["post"]


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def request_schema(spec: dict[str, Any]) -> dict[str, Any]:
    body = operation(spec)["requestBody"]["content"]["application/x-www-form-urlencoded"]
    return resolve(spec, body["schema"])


def response(spec: dict[str, Any], status: str) -> dict[str, Any]:
    return resolve(spec, operation(spec)["responses"][status])


def response_schema(spec: dict[str, Any], status: str) -> dict[str, Any]:
    return resolve(spec, response(spec, status)["content"]["application/json"]["schema"])


def test_spec_is_valid_openapi_31(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1")
    validate(spec)


def test_seed_names_the_operation(spec: dict[str, Any]) -> None:
    assert f"POST{PATH}" in SEED
    assert list(spec["paths"]) == [PATH]
    assert list(spec["paths"][PATH]) == ["post"]
    assert operation(spec)["operationId"] == "generateAuthAccessToken"
    assert operation(spec)["summary"] == SEED.splitlines()[0]


@pytest.mark.parametrize("field", ["grant_type", "scope"])
def test_request_field_is_required(spec: dict[str, Any], field: str) -> None:
    assert field in SEED
    assert operation(spec)["requestBody"]["required"] is True
    schema = request_schema(spec)
    assert field in schema["properties"]
    assert field in schema["required"]


@pytest.mark.parametrize("grant", ["client_credentials", "authorization_code"])
def test_grant_type_enum(spec: dict[str, Any], grant: str) -> None:
    assert grant in SEED.split("Possible values:")[1].split("Specifies")[0]
    enum = resolve(spec, request_schema(spec)["properties"]["grant_type"])["enum"]
    assert grant in enum
    assert len(enum) == 2


@pytest.mark.parametrize(
    ("where", "content_type"),
    [("request", "application/x-www-form-urlencoded"), ("200", "application/json")],
)
def test_content_types(spec: dict[str, Any], where: str, content_type: str) -> None:
    assert content_type in SEED
    if where == "request":
        assert list(operation(spec)["requestBody"]["content"]) == [content_type]
    else:
        assert list(response(spec, where)["content"]) == [content_type]


STATUSES = ["200", "400", "401", "403", "404", "500"]


@pytest.mark.parametrize("status", STATUSES)
def test_every_seed_status_is_documented(spec: dict[str, Any], status: str) -> None:
    assert re.search(rf"^- {status}$", SEED, re.MULTILINE)
    assert status in operation(spec)["responses"]
    headers = response(spec, status)["headers"]
    assert {"Cache-Control", "Pragma"} <= set(headers)


def test_no_status_beyond_the_seed(spec: dict[str, Any]) -> None:
    assert sorted(operation(spec)["responses"]) == STATUSES


def test_401_documents_www_authenticate(spec: dict[str, Any]) -> None:
    assert "WWW-Authenticate" in response(spec, "401")["headers"]


TOKEN_FIELDS = ["scope", "token_type", "access_token", "expires_in", "id_token", "refresh_token"]


@pytest.mark.parametrize("field", TOKEN_FIELDS)
def test_token_response_fields(spec: dict[str, Any], field: str) -> None:
    assert f'"{field}":' in SEED
    assert field in response_schema(spec, "200")["properties"]


def test_token_response_required_and_types(spec: dict[str, Any]) -> None:
    schema = response_schema(spec, "200")
    assert sorted(schema["required"]) == ["access_token", "expires_in", "token_type"]
    assert schema["properties"]["expires_in"]["type"] == "integer"
    assert schema["properties"]["expires_in"]["minimum"] == 1


@pytest.mark.parametrize("status", STATUSES[1:])
@pytest.mark.parametrize("field", ["error", "errorDescription"])
def test_error_response_fields(spec: dict[str, Any], status: str, field: str) -> None:
    assert f'"{field}":' in SEED
    assert field in response_schema(spec, status)["properties"]


def test_basic_security_scheme(spec: dict[str, Any]) -> None:
    assert "Basic base64(client_id:client_secret)" in SEED
    (requirement,) = operation(spec)["security"]
    (name,) = requirement
    scheme = spec["components"]["securitySchemes"][name]
    assert (scheme["type"], scheme["scheme"]) == ("http", "basic")
    assert "Basic base64(client_id:client_secret)" in scheme["description"]


def test_examples_are_the_seeds(spec: dict[str, Any]) -> None:
    seed_token = json.loads(SEED[SEED.index('{\n"scope"') : SEED.index("}\n400") + 1])
    assert spec["components"]["examples"]["Token"]["value"] == seed_token
    seed_error = {"error": "Forbidden", "errorDescription": "permission denied"}
    assert spec["components"]["examples"]["Error"]["value"] == seed_error


SCOPE_OK = ["openid", "openid email profile inspect", "a!#[]~", "x" * 200]
SCOPE_BAD = ["", " openid", "openid ", "openid  email", 'a"b', "a\\b", "a\tb", "é", "a\nb"]


@pytest.mark.parametrize("scope", SCOPE_OK)
def test_scope_pattern_accepts_scope_token_lists(spec: dict[str, Any], scope: str) -> None:
    pattern = request_schema(spec)["properties"]["scope"]["pattern"]
    assert re.fullmatch(pattern, scope)


@pytest.mark.parametrize("scope", SCOPE_BAD)
def test_scope_pattern_rejects_non_scope_tokens(spec: dict[str, Any], scope: str) -> None:
    pattern = request_schema(spec)["properties"]["scope"]["pattern"]
    assert not re.search(pattern, scope)
