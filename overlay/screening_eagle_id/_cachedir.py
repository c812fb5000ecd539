"""The folder a `FileCache` keeps its files in: where it is by default, and how it is made,
opened once (never through a symlink) and checked before the cache trusts it."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from ._exceptions import ConfigurationError

__all__ = ["default_cache_dir", "open_dir", "reason"]


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/eagle-id`, or `~/.cache/eagle-id` (a relative XDG path is ignored,
    as the XDG spec says)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "eagle-id"


def open_dir(path: Path) -> int:
    """Create the cache folder 0700 if missing, open it (never through a symlink) and refuse
    it unless it is safely ours; the descriptor, checked once, is what the cache uses."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and path.is_symlink():
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


def _check_dir(path: Path, info: os.stat_result) -> None:
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


def reason(exc: OSError) -> str:
    """An OSError in a few words, for messages (never a path or a content)."""
    return exc.strerror or type(exc).__name__
