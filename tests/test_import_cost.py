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
]


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


def test_a_sync_client_made_and_closed_pulls_in_no_asyncio() -> None:
    new = _new_modules(
        "from screening_eagle_id import TokenClient, ClientCredentials\n"
        "TokenClient('https://id.example.com', ClientCredentials('a', 'b'), scope='s').close()"
    )
    assert "asyncio" not in new


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
