"""The reference server over a real loopback socket: every row of DESIGN's status table."""

from __future__ import annotations

import base64

import httpx
import jwt
import pytest
from live_server import LiveServer


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@pytest.fixture
def http(reference_server: LiveServer) -> httpx.Client:
    with httpx.Client(base_url=reference_server.url) as client:
        yield client


def test_demo_client_gets_a_token(reference_server: LiveServer, http: httpx.Client) -> None:
    response = http.post(
        "/api/id/v1/auth/token",
        data={"grant_type": "client_credentials", "scope": "openid email profile inspect offline"},
        headers={"Authorization": basic("demo-client", "demo-secret")},
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    claims = jwt.decode(
        body["access_token"],
        reference_server.signing_key,
        algorithms=["HS256"],
        audience="demo-client",
    )
    assert claims["exp"] - claims["iat"] == body["expires_in"] == 604800
