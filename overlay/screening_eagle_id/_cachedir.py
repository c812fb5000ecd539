"""The FileCache's folder and files: where they are, opening the folder only when it is safely
ours, and reading one entry file without trusting it.

Standard library only: `FileCache` is built on these, and so are the command line's quick
cached path and `eagle-id cache list/clear`, which must not import httpx or attrs. The folder
is opened once, never through a symlink, and checked through its descriptor; every file is
then opened relative to that descriptor (`dir_fd=`), so a path swapped for a symlink later is
never followed. Whatever a file holds is judged by `_entry.py`; here only the file itself is
checked. Paths are `str` or `os.PathLike` (`os.path`, not `pathlib`: a cached
`eagle-id token` counts milliseconds).
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterator

from ._entry import MAX_ENTRY_BYTES
from ._exceptions import ConfigurationError

__all__ = [
    "KEY_PATTERN",
    "StrPath",
    "UnusableFile",
    "default_cache_folder",
    "entry_names",
    "open_dir",
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


def open_dir(path: StrPath, *, create: bool = True) -> int:
    """A descriptor of the cache folder, opened never through a symlink and refused
    (ConfigurationError) unless it is safely ours; with `create`, made 0700 first if missing.
    The caller closes it."""
    try:
        if create:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            if not os.path.lexists(path):  # one that exists is checked below, whatever it is
                _mkdir(path)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(path):
            raise ConfigurationError(
                f"refusing token cache folder {path}: it is a symlink; use the real folder"
            ) from None
        raise ConfigurationError(
            f"token cache folder {path} is not usable: {reason(exc)}"
        ) from None
    try:
        _check_dir(path, os.fstat(fd))
    except BaseException:
        os.close(fd)
        raise
    return fd


def _mkdir(path: StrPath) -> None:
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:  # made meanwhile: checked like any other
        return


def _check_dir(path: StrPath, info: os.stat_result) -> None:
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
    if info.st_mode & 0o300 != 0o300:
        raise ConfigurationError(f"token cache folder {path} is not writable")


def read_entry_file(name: str, *, dir_fd: int) -> bytes | None:
    """The bytes of entry file `name` in the folder `dir_fd`; None when there is none.
    UnusableFile when it is not a regular file (a symlink is never followed), not ours,
    readable by others, unreadable, or larger than any entry can be (then not even read)."""
    try:
        fd = os.open(
            name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd
        )
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


def entry_names(dir_fd: int) -> Iterator[tuple[str, str]]:
    """(key, file name) of every entry file in the folder `dir_fd`, sorted by key."""
    for name in sorted(os.listdir(dir_fd)):
        key, dot, suffix = name.rpartition(".")
        if dot and suffix == "json" and KEY_PATTERN.fullmatch(key):
            yield key, name


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
