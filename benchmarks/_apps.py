"""The two small servers the benchmarks compare against.

- `bare_app`: the throughput baseline, a bare Starlette JSON handler on the token path.
- `storm_app`: a stand-in token endpoint with an injected latency that counts the token requests
  it receives, for the cold-cache storms (the clients, not the server, are measured there).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import urllib.parse

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["ENV_STORM_DELAY", "TOKEN_PATH", "bare_app", "fake_jwt", "storm_app"]

TOKEN_PATH = "/api/id/v1/auth/token"
ENV_STORM_DELAY = "EAGLE_BENCH_STORM_DELAY"

# Shaped and sized like a real answer from the reference server, so the baseline serialises
# a comparable body.
_BARE_BODY = {
    "access_token": "e" * 300,
    "id_token": "i" * 400,
    "token_type": "Bearer",
    "expires_in": 604800,
    "scope": "openid email profile inspect",
}


async def _bare_token(request: Request) -> Response:
    return JSONResponse(_BARE_BODY)


bare_app = Starlette(routes=[Route(TOKEN_PATH, _bare_token, methods=["POST"])])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def fake_jwt(claims: dict[str, object]) -> str:
    """A JWT-shaped, unsigned-in-spirit token: clients only ever decode it unverified."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header}.{payload}.{_b64(b'x' * 32)}"


def storm_app() -> Starlette:
    """A token endpoint answering after EAGLE_BENCH_STORM_DELAY seconds (0.05 by default).

    `GET /stats` returns the number of token requests so far; `POST /reset` zeroes it and
    restores the delay; `POST /drain` drops the delay, to end a capped storm quickly.
    """
    state = {"count": 0, "delay": float(os.environ.get(ENV_STORM_DELAY, "0.05"))}
    initial_delay = state["delay"]

    async def token(request: Request) -> Response:
        state["count"] += 1
        form = urllib.parse.parse_qs((await request.body()).decode())
        if state["delay"]:
            await asyncio.sleep(state["delay"])
        now = int(time.time())
        lifetime = 3600
        scope = form.get("scope", ["openid"])[0]
        claims = {"sub": "1302", "iat": now, "exp": now + lifetime, "scp": scope}
        return JSONResponse(
            {
                "access_token": fake_jwt(claims),
                "token_type": "Bearer",
                "expires_in": lifetime,
                "scope": scope,
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    async def stats(request: Request) -> Response:
        return JSONResponse({"count": state["count"]})

    async def reset(request: Request) -> Response:
        state["count"] = 0
        state["delay"] = initial_delay
        return JSONResponse({"count": 0})

    async def drain(request: Request) -> Response:
        state["delay"] = 0.0
        return JSONResponse({"count": state["count"]})

    return Starlette(
        routes=[
            Route(TOKEN_PATH, token, methods=["POST"]),
            Route("/stats", stats, methods=["GET"]),
            Route("/reset", reset, methods=["POST"]),
            Route("/drain", drain, methods=["POST"]),
        ]
    )
