"""`FileCache`: tokens shared by the processes of one host, in files under the user cache dir.

POSIX only: the cross-process lock is `fcntl.flock`. A flock belongs to an open file, so the
kernel drops it the moment its holder exits, even by `kill -9`; a lock *file* whose existence
means "locked" would instead outlive a crashed holder and need stale-lock guessing.

On disk, in a folder only we may write to (created 0700), opened once (never through a
symlink) and checked; every file operation after that is relative to that descriptor
(`dir_fd=`, `O_NOFOLLOW`), so a folder path swapped for a symlink later is never followed:

* `<key>.json` -- one token in the entry format of `_entry.py` (never the client secret; at
  most `MAX_ENTRY_BYTES`, a larger file is not even read), mode 0600,
  replaced atomically: written to a temp file in the same folder, fsynced, `os.replace`d,
  and the folder fsynced, so a reader sees the old file or the new one, never half of one.
* `<key>.lock` -- empty; only ever flocked, never deleted (deleting a flocked file lets two
  processes lock two different inodes of the same name).

A corrupt, truncated, foreign (not ours, not a regular file, readable by others) or
unreadable token file is logged (without its content) and treated as missing; the next
`set()` replaces it. A write that fails is logged too: the cache is an optimisation, so
nothing on disk ever stops a caller from getting its token. (This departs from the
`TokenCache` contract's "errors propagate", as RedisCache does for an outage; an unsafe
folder is still refused up front with ConfigurationError.)
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from pathlib import Path

from ._cache import DEFAULT_LOCK_TIMEOUT
from ._cachedir import (
    KEY_PATTERN,
    UnusableFile,
    default_cache_folder,
    open_dir,
    read_entry_file,
    reason,
)
from ._entry import EntryError
from ._entry import decode as decode_entry
from ._entry import encode as encode_entry
from ._exceptions import ConfigurationError
from ._token import Token

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX (Windows)
    fcntl = None  # type: ignore[assignment]

__all__ = ["FileCache", "default_cache_dir"]

logger = logging.getLogger("screening_eagle_id")

# Lock polling: start fast (a fetch takes milliseconds on a LAN), back off to this.
_POLL_FIRST, _POLL_MAX = 0.002, 0.05
# A temp file this old is a crashed writer's leftover (a write takes milliseconds).
_STALE_TEMP = 60.0


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/eagle-id`, or `~/.cache/eagle-id` (a relative XDG path is ignored,
    as the XDG spec says)."""
    return Path(default_cache_folder())


class FileCache:
    """Tokens shared by every process of this host (POSIX only). Implements `TokenCache` and
    `AsyncTokenCache`.

    `path` is the folder (default `default_cache_dir()`); it is created 0700 and refused with
    `ConfigurationError` when another user owns it or may write to it. `lock(key)` is a
    `flock` on `<key>.lock`, so a token fetch is single-flight across processes; a waiter
    gives up after `lock_timeout` seconds and fetches anyway (a holder that crashed releases
    the lock at once; only a live, stuck one makes anyone wait that long).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ):
        if fcntl is None:  # pragma: no cover - not POSIX
            raise ConfigurationError(
                "FileCache needs POSIX file locks (fcntl), which this platform lacks; "
                "use MemoryCache or RedisCache"
            )
        self._dir = Path(path) if path is not None else default_cache_dir()
        self._lock_timeout = lock_timeout
        # Every file operation is relative to this descriptor of the folder as checked: a
        # path swapped for a symlink afterwards is never followed.
        self._fd = open_dir(self._dir)

    def __repr__(self) -> str:
        return f"FileCache({str(self._dir)!r})"

    def close(self) -> None:
        """Close the folder's descriptor (also done when the cache is garbage collected)."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    @property
    def path(self) -> Path:
        """The folder the token files are in."""
        return self._dir

    def _file(self, key: str, suffix: str) -> str:
        """The name, inside the folder, of `key`'s file (for `dir_fd=` calls)."""
        if not KEY_PATTERN.fullmatch(key):
            raise ValueError("a cache key must be a cache_key() digest")
        return f"{key}{suffix}"

    # -- TokenCache -------------------------------------------------------------------------

    def get(self, key: str) -> Token | None:
        """The token stored under `key`, or None (also for an unusable file, logged)."""
        name = self._file(key, ".json")
        try:
            raw = read_entry_file(name, dir_fd=self._fd)
        except UnusableFile as exc:
            _ignored(self._dir / name, str(exc))
            return None
        if raw is None:
            return None
        try:
            return Token.from_entry(decode_entry(raw))
        except EntryError as exc:  # the reason never holds the content
            _ignored(self._dir / name, f"not a cached token ({exc})")
            return None

    def set(self, key: str, token: Token) -> None:
        """Store `token` under `key`: atomically replace `<key>.json` (0600).

        A failed write (disk full, folder made read-only, ...) is logged, not raised: the
        caller already has its token, and the next fetch tries again.
        """
        name = self._file(key, ".json")
        data = encode_entry(token.to_entry())
        try:
            self._write(key, name, data)
        except OSError as exc:
            logger.warning(
                "token cache: cannot write %s (%s); not cached", self._dir / name, reason(exc)
            )
            return
        self._sweep_temps(key)

    def _write(self, key: str, name: str, data: bytes) -> None:
        # O_EXCL with mode 0600 (as mkstemp, but relative to the folder's descriptor): no
        # other user can ever read the bytes, and no planted name is followed.
        temp = f".{key}.{secrets.token_hex(8)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(temp, flags, 0o600, dir_fd=self._fd)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, name, src_dir_fd=self._fd, dst_dir_fd=self._fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=self._fd)
            raise
        # Make the rename durable: without this a power cut can bring the old file back.
        with contextlib.suppress(OSError):  # some filesystems refuse fsync on a folder
            os.fsync(self._fd)

    def delete(self, key: str) -> None:
        """Forget `key` (no error when absent)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._file(key, ".json"), dir_fd=self._fd)

    def lock(self, key: str) -> AbstractContextManager[bool]:
        """Serialise token fetches for `key` across processes; yields whether it was locked.

        False when the holder stored a token while we waited (the caller re-reads it), after
        `lock_timeout`, or when the lock file cannot be opened (both logged).
        """
        return self._lock(key)

    @contextlib.contextmanager
    def _lock(self, key: str) -> Iterator[bool]:
        fd = self._open_lock(key)
        if fd is None:
            yield False
            return
        try:
            deadline = time.monotonic() + self._lock_timeout
            delay = _POLL_FIRST
            token_file = self._file(key, ".json")
            seen = self._identity(token_file)
            while not _try_flock(fd):
                if self._identity(token_file) not in (seen, None):
                    yield False  # the holder stored a token: read it, stop waiting
                    return
                if time.monotonic() >= deadline:
                    _lock_timed_out(key, self._lock_timeout)
                    yield False
                    return
                time.sleep(delay)
                delay = min(delay * 2, _POLL_MAX)
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # -- AsyncTokenCache: the same files; disk I/O in a worker thread ------------------------

    async def aget(self, key: str) -> Token | None:
        """`get()` for `AsyncTokenClient` (runs in a worker thread)."""
        return await asyncio.to_thread(self.get, key)

    async def aset(self, key: str, token: Token) -> None:
        """`set()` for `AsyncTokenClient` (runs in a worker thread)."""
        await asyncio.to_thread(self.set, key, token)

    async def adelete(self, key: str) -> None:
        """`delete()` for `AsyncTokenClient` (runs in a worker thread)."""
        await asyncio.to_thread(self.delete, key)

    def alock(self, key: str) -> AbstractAsyncContextManager[bool]:
        """`lock()` for `AsyncTokenClient`: polls without blocking the event loop."""
        return self._alock(key)

    @contextlib.asynccontextmanager
    async def _alock(self, key: str) -> AsyncIterator[bool]:
        fd = self._open_lock(key)
        if fd is None:
            yield False
            return
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self._lock_timeout
            delay = _POLL_FIRST
            token_file = self._file(key, ".json")
            seen = self._identity(token_file)
            while not _try_flock(fd):
                if self._identity(token_file) not in (seen, None):
                    yield False  # the holder stored a token: read it, stop waiting
                    return
                if loop.time() >= deadline:
                    _lock_timed_out(key, self._lock_timeout)
                    yield False
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, _POLL_MAX)
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # -- helpers -------------------------------------------------------------------------------

    def _open_lock(self, key: str) -> int | None:
        name = self._file(key, ".lock")
        try:
            return os.open(
                name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=self._fd
            )
        except OSError as exc:
            # The lock only saves requests; without it we still fetch correctly.
            logger.warning(
                "token cache: cannot open lock file %s (%s); fetching without the lock",
                self._dir / name,
                reason(exc),
            )
            return None

    def _identity(self, name: str) -> tuple[int, int, int] | None:
        """Which file is at `name` now: every `set()` renames a new inode into place."""
        try:
            info = os.stat(name, dir_fd=self._fd, follow_symlinks=False)
        except OSError:
            return None
        return info.st_dev, info.st_ino, info.st_mtime_ns

    def _sweep_temps(self, key: str) -> None:
        """Remove temp files a crashed writer left behind (old ones only: a young one may be
        another process's write in progress)."""
        cutoff = time.time() - _STALE_TEMP
        prefix = f".{key}."
        with contextlib.suppress(OSError), os.scandir(self._fd) as entries:
            for entry in entries:
                if not (entry.name.startswith(prefix) and entry.name.endswith(".tmp")):
                    continue
                with contextlib.suppress(OSError):
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(entry.name, dir_fd=self._fd)


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _ignored(path: Path, why: str) -> None:
    # The file's content is never logged: it may be a token.
    logger.warning("token cache: ignoring %s: %s; it will be replaced", path, why)


def _lock_timed_out(key: str, timeout: float) -> None:
    logger.warning(
        "token cache: lock for %s… still held after %.1f s; fetching without it", key[:12], timeout
    )
