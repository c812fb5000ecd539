"""A separate process for the FileCache / RedisCache tests: `python tests/cache_worker.py MODE`.

Modes (the cache is `--file DIR` or `--redis URL`):

* `storm --threads N`: one TokenClient (credentials from EAGLE_ID_* variables), print
  "ready", wait for a line on stdin, then N threads call get_token() at once; print JSON
  {"tokens": [sha256 of each distinct access token], "errors": [...]}.
* `hold-lock KEY`: take the cache's fetch lock, print "locked", then block until killed.
* `mid-write KEY`: take the lock and start writing a token whose fsync never returns (print
  "writing" from inside it), so a kill lands between the write and the rename.
* `write-loop KEY`: rewrite the token file forever (print "started" after the first write).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

from screening_eagle_id import FileCache, RedisCache, Token, TokenCache, TokenClient


def synthetic_token(value: str) -> Token:
    """A well-formed token that no server issued (for write tests)."""
    now = datetime.now(tz=UTC)
    return Token(
        access_token=value,
        token_type="Bearer",
        scope=frozenset({"openid"}),
        issued_at=now,
        expires_at=now + timedelta(hours=1),
    )


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _storm(cache: TokenCache, threads: int) -> None:
    tokens: set[str] = set()
    errors: list[str] = []
    guard = threading.Lock()
    with TokenClient(cache=cache) as client:
        barrier = threading.Barrier(threads)

        def call() -> None:
            barrier.wait()
            try:
                value = client.get_token().access_token
            except Exception as exc:
                with guard:
                    errors.append(repr(exc))
                return
            with guard:
                tokens.add(hashlib.sha256(value.encode()).hexdigest())

        workers = [threading.Thread(target=call) for _ in range(threads)]
        _say("ready")
        sys.stdin.readline()  # the parent's "go": every process starts at once
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    _say(json.dumps({"tokens": sorted(tokens), "errors": errors}))


def _block_forever(*_: object) -> None:
    _say("writing")
    time.sleep(3600)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["storm", "hold-lock", "mid-write", "write-loop"])
    parser.add_argument("key", nargs="?", default="")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--file")
    where.add_argument("--redis")
    parser.add_argument("--threads", type=int, default=50)
    parser.add_argument("--lock-timeout", type=float, default=15.0)
    args = parser.parse_args()
    cache: TokenCache = (
        FileCache(args.file, lock_timeout=args.lock_timeout)
        if args.file
        else RedisCache(args.redis, lock_timeout=args.lock_timeout)
    )
    if args.mode == "storm":
        _storm(cache, args.threads)
    elif args.mode == "hold-lock":
        with cache.lock(args.key) as acquired:
            _say("locked" if acquired else "not locked")
            time.sleep(3600)
    elif args.mode == "mid-write":
        os.fsync = _block_forever  # the child only: the write never completes
        with cache.lock(args.key):
            cache.set(args.key, synthetic_token("NEW-NEVER-RENAMED"))
    else:
        n = 0
        while True:
            n += 1
            cache.set(args.key, synthetic_token(f"loop-{n}-" + "x" * (n % 4096)))
            if n == 1:
                _say("started")


if __name__ == "__main__":
    main()
