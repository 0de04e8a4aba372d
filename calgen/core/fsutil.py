"""The one way calgen replaces a single file: write beside it, flush, rename over it.

A reader (a web server, a cron run, an editor) sees the old bytes or the new ones, never
a half-written file; a crash leaves at most a hidden temporary file next to the target.
And the one way calgen reads a file it did not just write (earlier output, its cache):
bounded, and only a regular file; for the cache also only one no other user could have
written (`UntrustedError`).
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from calgen.core.errors import CalgenError


class UntrustedError(CalgenError, ValueError):
    """A file or folder another user could have written (see `not_own`)."""


def not_own(info: os.stat_result) -> str | None:
    """Why a file or folder with this status could hold another user's bytes: not owned
    by the effective user, or writable by its group or by others; None when only the
    effective user (or root) can have written it."""
    me = os.geteuid()
    if info.st_uid != me:
        return f"is owned by uid {info.st_uid}, not by you (uid {me})"
    writers = [
        w for w, bit in (("group", stat.S_IWGRP), ("others", stat.S_IWOTH)) if info.st_mode & bit
    ]
    if writers:
        mode = stat.S_IMODE(info.st_mode)
        return f"is writable by {' and '.join(writers)} (mode {mode:04o})"
    return None


def read_regular(path: Path, limit: int, *, own: bool = False) -> bytes | None:
    """The bytes of the regular file at `path`, or None when there is none.

    The file is untrusted: a symlink at `path` is not followed (OSError), a FIFO or a
    device is never read, which could block or never end (ValueError), nor a file larger
    than `limit` bytes (ValueError). `own`: nor a file another user could have written
    (UntrustedError, a ValueError), checked on what was opened, not on the name.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in (errno.ENOTDIR, errno.ENOENT):
            return None
        raise
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        problem = not_own(info) if own else None
        if problem:
            raise UntrustedError(f"{path} {problem}")
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > limit:
            raise ValueError(f"larger than {limit} bytes")
        return fh.read(limit + 1)


def atomic_write(
    path: Path,
    data: bytes | str,
    *,
    durable: bool = False,
    mode: int = 0o644,
    temp: Path | None = None,
) -> None:
    """Replace `path` with `data` atomically.

    `durable` also fsyncs the file and its folder, for state that must survive a power cut
    (it costs milliseconds, so outputs that can be rebuilt do without). `temp`: the exact
    temporary name to write first (calgen.site.publish, in a folder where it names every file
    it may touch), replacing what a killed run left there; else a fresh unique one.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    folder = path.parent
    if temp is None:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    else:
        temp.unlink(missing_ok=True)
        fd, tmp = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), str(temp)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
