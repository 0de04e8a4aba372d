"""The only module that writes `dist/`: the outputs (calgen.site.outputs, a generator) are
streamed into a staging tree beside the output folder, which is swapped in whole once the
last output is written, so a runbook or template that fails part-way leaves the
published folder as it was. Where the folder cannot be swapped (a symlink's target, a
mount point) files are replaced one by one with atomic renames (see `write`). calgen owns
its out folder: it writes only into an absent or empty folder or one holding its
manifest (`target`, `owned_files`). Validation happens before any of this: an invalid
runbook never reaches rendering.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from calgen.core import layout
from calgen.core.errors import CalgenError
from calgen.core.fsutil import atomic_write
from calgen.core.layout import INDEX, MANIFEST, OUTPUT_NAME
from calgen.site.published import read_earlier, read_manifest


class PublishError(CalgenError):
    """The output folder cannot be written (refused, or another build holds it)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Target:
    """Where a build publishes: the folder as given, the real folder, and how."""

    given: Path
    real: Path
    swap: bool  # True: the whole folder is swapped; False: file by file (see write)
    lock: Path


def _temp_name(path: Path) -> Path:
    """The one temporary name calgen uses beside `path` (exact: never a pattern)."""
    return path.with_name(layout.beside(path.name, layout.TEMP))


def target(out: Path, *, protected: Iterable[Path] = ()) -> Target:
    """Check `out` and say how it is published into; PublishError when it is refused.

    Refused: a file, `/`, the home folder, the working directory or a folder holding
    it, and a folder that is or holds any of `protected` (the runbooks, templates).
    """
    given = Path(os.path.abspath(out))
    real = Path(os.path.realpath(given))
    if real.exists() and not real.is_dir():
        raise PublishError(f"--out {out}: is not a folder; nothing was written")
    home = Path(os.path.realpath(Path.home()))
    cwd = Path(os.path.realpath(Path.cwd()))
    reasons = {
        Path(real.anchor): "the root of the file system",
        home: "your home folder",
    }
    if real in reasons:
        raise PublishError(f"--out {out}: refused, it is {reasons[real]}; nothing was written")
    if cwd.is_relative_to(real):
        raise PublishError(
            f"--out {out}: refused, it holds the working directory; publish into a "
            "folder of its own such as dist/"
        )
    for path in protected:
        if Path(os.path.realpath(path)).is_relative_to(real):
            raise PublishError(
                f"--out {out}: refused, it holds {path} (calgen's own input); publish into "
                "a folder of its own such as dist/"
            )
    symlinked = os.path.islink(given)
    mount = real.is_dir() and os.path.ismount(real)
    existing = real.parent
    while not existing.exists():  # the folders write() creates on the way
        existing = existing.parent
    parent_ok = os.access(existing, os.W_OK | os.X_OK)
    swappable = not mount and parent_ok
    lock_name = layout.beside(real.name, layout.LOCK)
    lock = real.parent / lock_name if swappable else real / layout.LOCK
    return Target(given=given, real=real, swap=swappable and not symlinked, lock=lock)


def refuse_early(out: Path, *, protected: Iterable[Path] = ()) -> None:
    """The checks of `write`, before anything is rendered or locked: PublishError when
    `out` is refused or holds files calgen did not write."""
    where = target(out, protected=protected)
    owned_files(where.real, where.lock, clean=False)


def _load_manifest(folder: Path) -> set[str] | None:
    """The files listed in `folder`'s manifest; None without one. PublishError when it
    is there but not calgen's."""
    try:
        return read_manifest(folder)
    except (OSError, ValueError) as exc:
        raise PublishError(
            f"{folder / MANIFEST}: unreadable ({exc}); calgen cannot tell which files are "
            "its own, so nothing was written"
        ) from None


# What an entry of an out folder is, to `owned_files`.
_Whose = Literal["folder", "bookkeeping", "file", "temp", "foreign"]


def owned_files(folder: Path, lock: Path | None = None, *, clean: bool = True) -> set[str]:
    """The files in `folder` that calgen wrote (relative paths), when everything in it
    is calgen's; PublishError naming what is not.

    A folder is calgen's when it is absent or empty, when every entry is listed in its
    manifest (folders in between, and calgen's own temporary names, aside), or, without
    a manifest, when it holds `index.html`, a feed, and only names calgen writes (a dist/
    built before manifests existed: adopted once, and from then on it has a manifest).
    """
    if not folder.exists():
        return set()
    manifest = _load_manifest(folder)

    def written_by_calgen(rel: str) -> bool:
        return rel in manifest if manifest is not None else bool(OUTPUT_NAME.fullmatch(rel))

    found: dict[_Whose, list[str]] = {w: [] for w in get_args(_Whose)}
    for rel, path, info in _entries(folder):
        found[_whose(rel, path, info, written_by_calgen, lock)].append(rel)
    files = set(found["file"])
    foreign = found["foreign"] + _unused_folders(found["folder"], [*files, *found["temp"]])
    if manifest is None and files and not foreign and not _adoptable(files):
        foreign.extend(sorted(files))
    _refuse_foreign(folder, foreign)
    for rel in found["temp"] if clean else ():  # a killed build's (we hold the lock)
        (folder / rel).unlink(missing_ok=True)
    return files


def _entries(folder: Path) -> Iterator[tuple[str, Path, os.stat_result]]:
    """Every entry under `folder`, folders too: relative path, path and lstat."""
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        for name in [*dirnames, *filenames]:
            path = here / name
            yield path.relative_to(folder).as_posix(), path, path.lstat()
        # never follow a symlinked folder: it is foreign, and reported as such
        dirnames[:] = [d for d in dirnames if not (here / d).is_symlink()]


def _whose(
    rel: str,
    path: Path,
    info: os.stat_result,
    written_by_calgen: Callable[[str], bool],
    lock: Path | None,
) -> _Whose:
    """Whether an entry is a folder, calgen's bookkeeping (manifest, lock), one of its
    files, the temporary name of one, or something calgen did not write."""
    if stat.S_ISDIR(info.st_mode):
        return "folder"
    if rel == MANIFEST or (lock is not None and path == lock):
        return "bookkeeping"
    if not stat.S_ISREG(info.st_mode):
        return "foreign"
    if written_by_calgen(rel):
        return "file"
    of = _temp_of(rel)
    return "temp" if of is not None and (of == MANIFEST or written_by_calgen(of)) else "foreign"


def _temp_of(rel: str) -> str | None:
    """The file whose exact temporary name (`.<name>.calgen-tmp`) `rel` is, or None."""
    name = Path(rel).name
    base = name.removeprefix(".").removesuffix(layout.TEMP)
    if name != layout.beside(base, layout.TEMP):
        return None
    return (Path(rel).parent / base).as_posix().removeprefix("./")


def _unused_folders(folders: Iterable[str], kept: Iterable[str]) -> list[str]:
    """The folders holding none of calgen's files (written `name/`): not calgen's."""
    needed = {p.as_posix() for f in kept for p in Path(f).parents} - {"."}
    return sorted(f"{d}/" for d in set(folders) - needed)


def _adoptable(files: set[str]) -> bool:
    """A folder from before manifests is adopted only when it looks like a build: an
    index and a feed, not merely names that happen to match."""
    return INDEX in files and any(f.endswith(".ics") for f in files)


def _refuse_foreign(folder: Path, foreign: list[str]) -> None:
    """PublishError naming (the first five of) what calgen did not write."""
    if not foreign:
        return
    shown = ", ".join(sorted(foreign)[:5]) + (" …" if len(foreign) > 5 else "")
    raise PublishError(
        f"--out {folder}: holds {len(foreign)} item(s) calgen did not write ({shown}); "
        "calgen publishes only into an empty folder or one it built itself "
        f"(with {MANIFEST}): nothing was written"
    )


@contextmanager
def _locked(where: Target) -> Iterator[None]:
    """One build at a time per real output folder; a second one is refused, not queued."""
    where.lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(where.lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "r+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PublishError(
                f"another calgen build is writing {where.real} (lock {where.lock}); "
                "nothing was written: try again when it has finished"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one atomic step (Linux renameat2 RENAME_EXCHANGE)."""
    import ctypes  # only a build that swaps a folder needs it

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    done = renameat2(at_fdcwd, bytes(a), at_fdcwd, bytes(b), rename_exchange)
    return bool(done == 0)


def _remove_exact(path: Path) -> None:
    """Remove calgen's own temporary `path` (an exact name) left by a killed build."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _manifest_bytes(files: Iterable[str]) -> bytes:
    return (json.dumps({"calgen": 1, "files": sorted(files)}, indent=1) + "\n").encode("utf-8")


def write(
    outputs: Iterable[tuple[str, bytes]], out_dir: Path, *, protected: Iterable[Path] = ()
) -> tuple[list[Path], int]:
    """Publish `outputs` into `out_dir`; returns the paths that changed and how many
    outputs there were.

    Only a folder calgen owns is written (see `target` and `owned_files`); files calgen
    wrote before and does not produce now (another runbook, an older version snapshot)
    stay. A plain folder is swapped whole: the new tree is built beside it, file by file
    as the outputs are rendered, and exchanged with one atomic rename under a lock, so a
    failing or killed build leaves the previous folder exactly as it was. A folder that
    cannot be swapped (a symlink's target, a mount point, a parent calgen may not write)
    is updated file by file, each with an atomic rename, the manifest last. When nothing
    changed, nothing is written.
    """
    where = target(out_dir, protected=protected)
    real = where.real
    real.parent.mkdir(parents=True, exist_ok=True)
    changed: list[Path] = []
    total = 0
    with _locked(where):
        owned = owned_files(real, where.lock)
        listed = set(owned)
        staging = real.with_name(layout.beside(real.name, layout.STAGING))
        if where.swap:
            _remove_exact(staging)  # what a killed build left (we hold the lock)
            _remove_exact(real.with_name(layout.beside(real.name, layout.OLD)))
            staging.mkdir()
        try:
            for rel, data in outputs:
                total += 1
                owned.add(rel)
                final = real / rel
                if read_earlier(final) == data:
                    continue  # in a swap, _carry_over links it into the new tree
                changed.append(where.given / rel)
                if where.swap:
                    path = staging / rel
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(data)
                    os.chmod(path, 0o644)
                else:
                    if rel not in listed:
                        # listed before it exists: a build killed after this file
                        # leaves a folder the next build still knows as its own
                        listed.add(rel)
                        _replace(real / MANIFEST, _manifest_bytes(listed))
                    _replace(final, data)
            manifest = _manifest_bytes(owned)
            if not changed or not where.swap:
                # file by file, or only the manifest is new (a folder adopted just now)
                if read_earlier(real / MANIFEST) != manifest:
                    _replace(real / MANIFEST, manifest)
                return changed, total
            _carry_over(real, staging, owned)
            (staging / MANIFEST).write_bytes(manifest)
            os.chmod(staging, stat.S_IMODE(real.stat().st_mode) if real.is_dir() else 0o755)
            _swap(staging, real)
        finally:
            if where.swap and staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return changed, total


def _replace(final: Path, data: bytes) -> None:
    """One file replaced with an atomic rename from its exact temporary name."""
    final.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(final, data, temp=_temp_name(final))


def _carry_over(old: Path, new: Path, owned: set[str]) -> None:
    """calgen's files this build did not rewrite stay: hard links where possible, so
    unchanged files keep their inode and mtime."""
    for rel in sorted(owned):
        source, copy = old / rel, new / rel
        if copy.exists() or not source.is_file() or source.is_symlink():
            continue
        copy.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, copy)
        except OSError:
            shutil.copy2(source, copy)


def _swap(staging: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        os.rename(staging, out_dir)
    elif _exchange(staging, out_dir):
        shutil.rmtree(staging)  # now the old tree
    else:  # no renameat2: two renames, a moment without out_dir
        old = out_dir.with_name(layout.beside(out_dir.name, layout.OLD))
        os.rename(out_dir, old)
        os.rename(staging, out_dir)
        shutil.rmtree(old)
