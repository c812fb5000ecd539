"""The FileCache's folder and files: where they are, when the folder is safe, and reading one
entry file without trusting it.

Standard library only: `FileCache` is built on these, and so are the command line's quick
cached path and `eagle-id cache list/clear`, which must not import httpx or attrs. Whatever
a file holds is judged by `_entry.py`; here only the file itself is checked. Paths are `str`
or `os.PathLike` (`os.path`, not `pathlib`: a cached `eagle-id token` counts milliseconds).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator

from ._entry import MAX_ENTRY_BYTES
from ._exceptions import ConfigurationError

__all__ = [
    "KEY_PATTERN",
    "UnusableFile",
    "check_dir",
    "default_cache_folder",
    "entry_files",
    "prepare_dir",
    "read_entry_file",
    "reason",
]

StrPath = str | os.PathLike[str]

#: Keys are `cache_key()` hex digests; anything else must not become a path.
KEY_PATTERN = re.compile(r"[0-9A-Za-z_-]{1,128}")


class UnusableFile(Exception):
    """An entry file that must not be used; the message says why (never its content)."""


def default_cache_folder() -> str:
    """`$XDG_CACHE_HOME/eagle-id`, or `~/.cache/eagle-id` (a relative XDG path is ignored,
    as the XDG spec says)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = base if base and os.path.isabs(base) else os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "eagle-id")


def reason(exc: OSError) -> str:
    """An OSError as a few words (its strerror), for messages and logs."""
    return exc.strerror or type(exc).__name__


def prepare_dir(path: StrPath) -> None:
    """Create the cache folder 0700 if missing; refuse one that is not safely ours."""
    import contextlib  # here: the quick path only reads

    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
    except OSError as exc:
        raise ConfigurationError(
            f"token cache folder {path} is not usable: {reason(exc)}"
        ) from None
    check_dir(path)


def check_dir(path: StrPath) -> None:
    """ConfigurationError unless `path` is a folder of ours that no one else may write to."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise ConfigurationError(
            f"token cache folder {path} is not usable: {reason(exc)}"
        ) from None
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigurationError(f"token cache folder {path} is not a folder")
    if info.st_uid != os.geteuid():
        raise ConfigurationError(
            f"refusing token cache folder {path}: it belongs to another user (uid {info.st_uid})"
        )
    if info.st_mode & 0o022:
        raise ConfigurationError(
            f"refusing token cache folder {path}: other users may write to it "
            f"(mode {stat.S_IMODE(info.st_mode):04o}); run: chmod 700 {path}"
        )
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigurationError(f"token cache folder {path} is not writable")


def read_entry_file(path: StrPath) -> bytes | None:
    """The bytes of entry file `path`; None when there is none. UnusableFile when it is not a
    regular file (a symlink is never followed), not ours, readable by others, unreadable, or
    larger than any entry can be (then not even read)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:  # a symlink (ELOOP), no permission, ...
        raise UnusableFile(f"cannot open it ({reason(exc)})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnusableFile("not a regular file")
        if info.st_uid != os.geteuid():
            raise UnusableFile("owned by another user")
        if info.st_mode & 0o077:
            raise UnusableFile(f"mode {stat.S_IMODE(info.st_mode):04o} lets others in")
        raw = _read(fd, MAX_ENTRY_BYTES + 1)
    except OSError as exc:
        raise UnusableFile(f"cannot read it ({reason(exc)})") from None
    finally:
        os.close(fd)
    if len(raw) > MAX_ENTRY_BYTES:
        raise UnusableFile("too large")
    return raw


def entry_files(path: StrPath) -> Iterator[tuple[str, str]]:
    """(key, file) of every entry file in folder `path`, sorted by key."""
    try:
        names = sorted(os.listdir(path))
    except FileNotFoundError:
        return
    for name in names:
        key, dot, suffix = name.rpartition(".")
        if dot and suffix == "json" and KEY_PATTERN.fullmatch(key):
            yield key, os.path.join(path, name)


def _unusable(path: StrPath, exc: OSError) -> ConfigurationError:
    return ConfigurationError(f"token cache folder {path} is not usable: {reason(exc)}")


def _read(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(fd, limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
