"""A cached `eagle-id token`, answered from the FileCache with the standard library alone.

A shell script calls `eagle-id token` once per API call; on a cache hit, importing httpx,
attrs and the generated client would cost ten times the file read. So the command line asks
`cached_entry()` first, which judges the cached entry exactly as `TokenClient` with a
`FileCache` does, from the same code: the folder and file checks of `_cachedir.py`, the
entry's shape, secret binding, scopes and issue time (`_entry.decode`, `verify`), the hard expiry
(`_expiry.py`), and times rounded to microseconds as a `Token` keeps them.

It answers only a hit the full client would serve as it is. Anything else (no folder, no
entry, an unusable or expired one, a folder the FileCache would refuse) is None, and the
caller runs the full client, which fetches, logs or reports exactly as it always does.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable

from ._cachedir import StrPath, UnusableFile, default_cache_folder, open_dir, read_entry_file
from ._entry import Entry, EntryError, binding_key, cache_key, decode, verify
from ._exceptions import ConfigurationError
from ._expiry import hard_expiry

__all__ = ["cached_entry"]


def cached_entry(
    url: str,
    client_id: str,
    client_secret: str,
    scopes: Iterable[str],
    *,
    folder: StrPath | None = None,
    now: float | None = None,
    token_path: str | None = None,
) -> Entry | None:
    """The entry `TokenClient(url, ..., cache=FileCache(folder), token_path=token_path)` would
    serve from the cache right now (wall clock `now`), or None. `url` is canonical
    (`_config.canonical_url`), `token_path` checked (None: the spec's)."""
    folder = folder if folder is not None else default_cache_folder()
    scopes = tuple(scopes)
    try:
        dir_fd = open_dir(folder, create=False)
    except ConfigurationError:
        return None  # missing, a symlink, not safely ours: the full client creates or refuses
    try:
        key = cache_key(url, client_id, scopes, token_path)
        raw = read_entry_file(f"{key}.json", dir_fd=dir_fd)
        if raw is None:
            return None
        entry = _as_a_token_keeps_it(decode(raw))
        wall = time.time() if now is None else now
        verify(entry, key=binding_key(client_secret, key), scopes=scopes, now=wall)
    except (UnusableFile, EntryError, ValueError, OverflowError, OSError):
        return None
    finally:
        os.close(dir_fd)
    lifetime = (_microseconds(entry.expires_at) - _microseconds(entry.issued_at)) / 1_000_000
    # The client's test, on its clock anchored at `wall`: now >= anchor + lifetime - leeway.
    if hard_expiry(entry.issued_at - wall, lifetime) <= 0.0:
        return None
    return entry


def _as_a_token_keeps_it(entry: Entry) -> Entry:
    """The entry with its times as a `Token` holds them (datetimes: whole microseconds), so
    the binding is checked on, and the command prints, the very values the full client has."""
    return entry._replace(
        issued_at=_microseconds(entry.issued_at) / 1_000_000,
        expires_at=_microseconds(entry.expires_at) / 1_000_000,
    )


def _microseconds(timestamp: float) -> int:
    """Whole microseconds since the epoch, rounded as `datetime.fromtimestamp()` rounds
    (CPython's _PyTime_ObjectToTimeval, half to even), so that `/ 1_000_000` equals
    `datetime.fromtimestamp(timestamp, UTC).timestamp()` for every timestamp an entry may
    hold; without importing datetime (a few ms of a cache hit). A test compares the two."""
    fraction, whole = math.modf(timestamp)
    micros = round(fraction * 1e6)
    if micros >= 1_000_000:
        micros -= 1_000_000
        whole += 1.0
    elif micros < 0:
        micros += 1_000_000
        whole -= 1.0
    return int(whole) * 1_000_000 + micros
