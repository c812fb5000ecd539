"""`eagle-id cache list|clear` and `eagle-id decode`: the subcommands that need no token
client (standard library and the stdlib-only modules only, like `_cli.py`)."""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from types import SimpleNamespace
from typing import Any, TextIO

from . import _config
from ._cachedir import UnusableFile, default_cache_folder, entry_names, open_dir, read_entry_file
from ._config import CLI_NAMES
from ._entry import EntryError, cache_key, decode

__all__ = ["cache_clear", "cache_list", "decode_jwt_command"]


# -- cache ------------------------------------------------------------------------------------


def cache_list(args: SimpleNamespace, out: TextIO) -> int:
    folder = default_cache_folder()
    rows: list[dict[str, Any]] = []
    if os.path.lexists(folder):
        dir_fd = open_dir(folder, create=False)
        try:
            rows = _rows(dir_fd, time.time())
        finally:
            os.close(dir_fd)
    if args.json:
        out.write(json.dumps(rows, indent=2) + "\n")
        return 0
    if not rows:
        out.write(f"no cached tokens in {folder}\n")
        return 0
    header = ("KEY", "CLIENT ID", "SCOPE", "EXPIRES (UTC)", "STATUS")
    lines = [header] + [
        (
            row["key"][:16],
            row.get("client_id") or "-",
            row.get("scope", "-"),
            _utc(row["expires_at"]) if "expires_at" in row else "-",
            row["status"],
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    for line in lines:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        out.write("  ".join([*cells, line[-1]]) + "\n")
    return 0


def _rows(dir_fd: int, now: float) -> list[dict[str, Any]]:
    """What `cache list` shows of each entry file: never a token."""
    rows: list[dict[str, Any]] = []
    for key, name in entry_names(dir_fd):
        row: dict[str, Any] = {"key": key}
        try:
            raw = read_entry_file(name, dir_fd=dir_fd)
            if raw is None:
                continue  # removed while we listed
            entry = decode(raw)
        except (UnusableFile, EntryError) as exc:  # neither message holds the content
            row["status"] = f"unusable: {exc}"
        else:
            row.update(
                client_id=entry.client_id,
                scope=" ".join(sorted(entry.scope)),
                expires_at=entry.expires_at,
                status="valid" if now < entry.expires_at else "expired",
            )
        rows.append(row)
    return rows


def _utc(timestamp: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def cache_clear(args: SimpleNamespace, out: TextIO) -> int:
    folder = default_cache_folder()
    if not os.path.lexists(folder):
        out.write(f"no cached tokens in {folder}\n")
        return 0
    key = None
    if not args.all:
        settings = _config.resolve(
            args.url,
            None,
            None,
            args.scope,
            token_path=args.token_path,
            profile=args.profile,
            names=CLI_NAMES,
        )
        # No credentials are sent: plain http is fine for naming the entry.
        url, path = _config.endpoint_of(settings, allow_insecure_http=True, names=CLI_NAMES)
        scopes = _config.normalise_scope(settings.scope)
        key = cache_key(url, settings.client_id, scopes, path)
        what = (
            f"client {settings.client_id!r}, scope {' '.join(sorted(set(scopes)))!r} at {url}{path}"
        )
    dir_fd = open_dir(folder, create=False)
    try:
        if key is None:
            results = [_remove(name, dir_fd) for _, name in entry_names(dir_fd)]
            removed = results.count(None)
            out.write(f"removed {removed} cached token{'s' * (removed != 1)} from {folder}\n")
            skipped = [why for why in results if why not in (None, _GONE)]
        else:
            why = _remove(f"{key}.json", dir_fd)
            if why is None:
                out.write(f"removed the cached token of {what}\n")
            elif why is _GONE:
                out.write(f"no cached token for {what}\n")
            skipped = [why] if why not in (None, _GONE) else []
    finally:
        os.close(dir_fd)
    for why in skipped:
        print(f"eagle-id: {why}", file=sys.stderr)
    return 1 if skipped else 0


_GONE = "gone"  # `_remove`: there was nothing to remove


def _remove(name: str, dir_fd: int) -> str | None:
    """Remove the entry file `name` of the folder `dir_fd`: None when removed, `_GONE` when
    there was none, else why it was left in place. Only a regular file is removed: a
    directory, symlink (never followed), FIFO or device named like an entry is someone
    else's, and a `.lock` file is never deleted (see `_filecache.py`)."""
    try:
        info = os.lstat(name, dir_fd=dir_fd)
        if not stat.S_ISREG(info.st_mode):
            return f"left {name} in place: {_kind(info.st_mode)}, not a cached token"
        os.unlink(name, dir_fd=dir_fd)  # a file swapped for a directory since: EISDIR
    except FileNotFoundError:
        return _GONE
    except OSError as exc:
        return f"cannot remove {name}: {exc.strerror or type(exc).__name__}"
    return None


def _kind(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symlink"), (stat.S_ISFIFO, "a FIFO"))
    return next((kind for test, kind in kinds if test(mode)), "not a regular file")


# -- decode -----------------------------------------------------------------------------------


def decode_jwt_command(args: SimpleNamespace, out: TextIO) -> int:
    from ._token import decode_jwt_unverified

    text: str = sys.stdin.read() if args.jwt == "-" else args.jwt
    header, claims = decode_jwt_unverified(_bare_jwt(text))
    if args.json:
        out.write(json.dumps({"verified": False, "header": header, "claims": claims}, indent=2))
        out.write("\n")
        return 0
    out.write("# UNVERIFIED: the signature was not checked; do not trust these claims.\n")
    out.write("# header\n" + json.dumps(header, indent=2, sort_keys=True) + "\n")
    out.write("# claims\n" + json.dumps(claims, indent=2, sort_keys=True) + "\n")
    out.write(_times_section(claims))
    return 0


# The registered claims that hold a time (RFC 7519 §4.1.4-6): seconds since the epoch.
_TIME_CLAIMS = ("exp", "iat", "nbf")
_SHOWN_CHARS = 24  # of a time claim's value, in the times section


def _times_section(claims: dict[str, Any]) -> str:
    """`exp`, `iat`, `nbf` as their number and the UTC time it means, aligned; "" when none."""
    rows = []
    for name in _TIME_CLAIMS:
        if name in claims:
            shown = json.dumps(claims[name])
            if len(shown) > _SHOWN_CHARS:
                shown = shown[: _SHOWN_CHARS - 1] + "…"
            rows.append((name, shown, _utc_text(claims[name])))
    if not rows:
        return ""
    width = max(len(shown) for _, shown, _ in rows)
    return "# times (UTC)\n" + "".join(f"{n}  {v:<{width}}  {t}\n" for n, v, t in rows)


def _utc_text(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "(not a time)"
    from datetime import UTC, datetime

    try:
        when = datetime.fromtimestamp(value, UTC)
    except (OverflowError, ValueError, OSError):  # out of datetime's range, NaN, infinite
        return "(not a time)"
    return when.isoformat(sep=" ", timespec="seconds").removesuffix("+00:00") + " UTC"


def _bare_jwt(text: str) -> str:
    """The JWT in `TOKEN`, `Bearer TOKEN` or `Authorization: Bearer TOKEN` (any case)."""
    words = text.split()
    if words and words[0].lower() == "authorization:":
        words = words[1:]
    if words and words[0].lower() == "bearer":
        words = words[1:]
    if len(words) != 1:
        raise ValueError("not a JWT: expected one token, alone or after 'Bearer'")
    return words[0]
