"""`calgen new-release`: re-plan a loaded runbook for a file at another place, and write it
once it validates. The re-planning itself is calgen.replan.release; this module relates the
source's folder to the new file's (`uses:` paths, the editor's `$schema=` line) and says
which `--out` may be written (`check_out`): a new path, or with `--force` a regular file,
never a device, FIFO, folder or symlink, and never one of calgen's own inputs."""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
from pathlib import Path

from calgen.core.errors import CalgenError
from calgen.replan import release
from calgen.runbook.model import Runbook
from calgen.runbook.validate import load_runbook


def plan(
    source: Path,
    runbook: Runbook,
    out: Path,
    *,
    go_live: dt.datetime,
    new_from: str,
    new_to: str,
    new_id: str | None,
    today: dt.date,
) -> release.Plan:
    """The plan for writing `source` (loaded as `runbook`), re-planned, to `out`.
    Raises release.ReleaseError when it cannot be re-planned."""
    source_dir = source.resolve().parent
    out_dir = out.resolve().parent
    uses = [os.path.relpath(source_dir / u, out_dir) for u in runbook.uses]
    result = release.replan(
        source.read_text(encoding="utf-8"),
        runbook,
        go_live=go_live,
        new_from=new_from,
        new_to=new_to,
        new_id=new_id,
        today=today,
        uses=uses if out_dir != source_dir else None,
    )
    result.text = _relocate_schema_line(result.text, source_dir, out_dir)
    return result


class OutRefusedError(CalgenError):
    """`--out` names something calgen will not write; nothing was written."""


def check_out(out: Path, source: Path, runbook: Runbook, *, force: bool) -> None:
    """Raise OutRefusedError unless `out` may be written: a path where nothing is yet, or (with
    `force`) a regular file. Never a device such as /dev/null (as root, replacing it would
    turn the device into a file), a FIFO, a folder or a symlink (neither written through
    nor replaced), nor one of calgen's own inputs (`_own_input`)."""
    try:
        info: os.stat_result | None = out.lstat()  # the name itself, not what it leads to
    except FileNotFoundError:
        info = None
    except OSError as exc:  # a file where a folder should be, a name too long
        raise OutRefusedError(f"--out {out}: cannot be written ({exc.strerror or exc})") from None
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise OutRefusedError(
            f"--out {out}: refused, it {_kind(info.st_mode)}; name a new file, or a regular "
            "file with --force"
        )
    own = _own_input(out, info, source, runbook)
    if own:
        raise OutRefusedError(f"--out {out}: refused, it is {own} (calgen's own input)")
    if info is not None and not force:
        raise OutRefusedError(f"{out} exists; pass --force to replace it")


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "is a symlink: calgen neither writes through it nor replaces it"
    if stat.S_ISDIR(mode):
        return "is a folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device"
    if stat.S_ISFIFO(mode):
        return "is a FIFO"
    return "is not a regular file"


def _own_input(out: Path, info: os.stat_result | None, source: Path, runbook: Runbook) -> str:
    """What of calgen's own input `out` is, by its real path or (a hard link) its inode:
    the source, a shared file the source `uses:`, or anything under the templates; ""."""
    from calgen.render.templating import builtin_templates  # here only: jinja2 is heavy

    real = Path(os.path.realpath(out))
    inputs = [(source, "the source runbook")]
    inputs += [(source.parent / use, f"a shared file {source} uses") for use in runbook.uses]
    for path, what in inputs:
        try:
            found = os.stat(path)
        except OSError:
            continue
        same = info is not None and (found.st_dev, found.st_ino) == (info.st_dev, info.st_ino)
        if same or Path(os.path.realpath(path)) == real:
            return what
    templates = Path(os.path.realpath(builtin_templates()))
    if real.is_relative_to(templates):
        return f"inside calgen's templates ({templates})"
    return ""


def write(planned: release.Plan, out: Path, source: Path, runbook: Runbook, *, force: bool) -> None:
    """Write the plan to `out` once a copy beside it loads as a valid runbook and `out` may
    still be written (`check_out`, once more right before the file is replaced); raises
    the CalgenError that refused it."""

    def check(path: Path) -> None:
        load_runbook(path, str(out))
        check_out(out, source, runbook, force=force)

    release.write(planned, out, check)


def _relocate_schema_line(text: str, source_dir: Path, out_dir: Path) -> str:
    """Keep the editor's `$schema=` pointer right when the new file lives elsewhere."""

    def fix(match: re.Match[str]) -> str:
        target = (source_dir / match.group(2)).resolve()
        return match.group(1) + os.path.relpath(target, out_dir)

    return re.sub(r"^(# yaml-language-server: \$schema=)(\S+)", fix, text, count=1, flags=re.M)
