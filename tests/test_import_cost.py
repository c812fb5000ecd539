"""What `from screening_eagle_id import TokenClient, BearerAuth` costs a sync user: the modules
it imports beyond httpx's own (asserted, not timed; `make bench` times it)."""

from __future__ import annotations

import json
import subprocess
import sys

# Only async users need asyncio (and what it imports); httpcore (and anyio, which it imports)
# comes with the first connection, as for any httpx user; the generated client with the first
# token request (a process that only reads a shared cache never needs it).
NOT_AT_IMPORT = [
    "asyncio",
    "anyio",
    "httpcore",
    "concurrent.futures",
    "subprocess",
    "screening_eagle_id_client",
    # attrs cost more to import (and to build classes with) than the rest of the client: the
    # overlay's value classes are `_frozen.Frozen`; attrs comes with the generated client,
    # at the first token request.
    "attr",
    "attrs",
    "platform",
]

# Everything a sync client may import beyond httpx (the stdlib modules httpx lacks, and our
# own modules): a module added to the sync path fails here until it is weighed and listed.
ALLOWED_AT_IMPORT = {
    "_contextvars",
    "contextvars",
    "hmac",
    *(
        f"screening_eagle_id.{m}"
        for m in (
            *("_auth", "_cache", "_client", "_clock", "_config", "_connect", "_credentials"),
            *("_deadline", "_drive", "_effects", "_engine", "_entry", "_exceptions", "_expiry"),
            *("_frozen", "_httpx2", "_request", "_response", "_telemetry", "_token"),
            *("_tokenurl", "_transport", "_version"),
        )
    ),
    "screening_eagle_id",
}


def _new_modules(code: str) -> list[str]:
    script = (
        "import sys, json\n"
        "import httpx\n"
        "before = set(sys.modules)\n"
        f"{code}\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    modules: list[str] = json.loads(result.stdout)
    return modules


def test_a_sync_import_pulls_in_nothing_only_async_users_need() -> None:
    new = _new_modules("from screening_eagle_id import TokenClient, BearerAuth")
    assert [m for m in NOT_AT_IMPORT if m in new] == []


def test_a_sync_import_pulls_in_only_the_modules_weighed_for_it() -> None:
    new = _new_modules("from screening_eagle_id import TokenClient, BearerAuth, ClientCredentials")
    assert sorted(set(new) - ALLOWED_AT_IMPORT) == []


def test_a_sync_client_made_and_closed_pulls_in_no_asyncio_nor_attrs() -> None:
    new = _new_modules(
        "from screening_eagle_id import TokenClient, ClientCredentials, RetryPolicy\n"
        "creds = ClientCredentials('a', 'b')\n"
        "TokenClient('https://id.example.com', creds, scope='s', retry=RetryPolicy()).close()"
    )
    assert [m for m in NOT_AT_IMPORT if m in new] == []


def test_a_process_that_reads_a_shared_cache_needs_no_attrs() -> None:
    new = _new_modules(
        "from screening_eagle_id import TokenClient, FileCache, RedisCache, AsyncRedisCache"
    )
    assert [m for m in ("attr", "attrs", "screening_eagle_id_client") if m in new] == []


def test_the_async_client_still_gets_what_it_needs() -> None:
    new = _new_modules(
        "import asyncio\n"
        "from screening_eagle_id import AsyncTokenClient, ClientCredentials\n"
        "async def main():\n"
        "    creds = ClientCredentials('a', 'b')\n"
        "    client = AsyncTokenClient('https://x.example', creds, scope='s')\n"
        "    assert client._sleep is asyncio.sleep\n"
        "    async with client, client._lock():\n"
        "        pass\n"
        "asyncio.run(main())"
    )
    assert "screening_eagle_id._client" in new
