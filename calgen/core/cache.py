"""A per-user cache folder for things that are slow to make and safe to keep.

Two things are kept, both only by the command line (calgen.cli.commands), never by the pure modules:
- compiled Jinja templates (Jinja's own bytecode cache, in `jinja-<Jinja version>/`);
- the Dutch public holidays the `holidays` package gives, in `holidays/`: one JSON file
  holding every year calgen asked for, named by a key over everything that changes the
  answer: the package's version and the size and mtime of its Dutch module, its Dutch
  translation, its base classes (observed holidays included), helpers, holiday groups
  and calendars, and of dateutil's Easter. Another key (an upgrade, a patched file) is
  another file.

The root is $CALGEN_CACHE_DIR, else $XDG_CACHE_HOME/calgen, else ~/.cache/calgen.

Only what the current user made is trusted. Compiled templates are marshalled Python
code: a file another user could have written would run as whoever builds. So the root,
`jinja-<version>/` and `holidays/` must each be a folder (never a symlink) owned by the
effective user and writable by nobody else (calgen makes them 0700), the two folders
must carry calgen's CACHEDIR.TAG, and every file read (the tag too) must be owned by the
effective user and writable by nobody else, checked with fstat on what was opened
(O_NOFOLLOW), not on the name. The root may also never be, or lie in, a folder calgen
publishes into (one holding its manifest) or a folder named like the staging, old or
temporary names calgen.site.publish uses beside an out folder (`.<name>.calgen-new`,
`.calgen-old`, ...): it would be swapped into the published folder, and every later
build would refuse that folder. Anything else means no cache for the rest of the run,
with one warning on stderr naming the path and why (:func:`refuse`): nothing there is
read, written or removed. In the root calgen only makes those folders (the root itself,
0700, when absent), and removes only other Jinja versions' folders that are its own and
carry its tag. Where a folder cannot be made or written nothing is kept. A build whose
out folder is the root or holds it runs without the cache (calgen.cli.commands: it
would be published).

It stays small: writing keeps only the current holidays file and the current Jinja
version's folder, and at most :data:`MAX_TEMPLATES` compiled templates (the newest).
Nothing read from it is trusted further than that: a file is read only when it is a
regular file (not a symlink, FIFO or device) of at most :data:`MAX_FILE_BYTES`, and the
holidays file only when it is exactly what calgen writes (years in FIRST_YEAR-LAST_YEAR,
each a non-empty object of that year's YYYY-MM-DD dates and printable names of 1 to
:data:`MAX_NAME` characters). Anything else counts as damaged: the whole file is
ignored, and the holidays a command needs are asked of the package again and kept in
its place.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import importlib.util
import json
import os
import re
import stat
import sys
from collections.abc import Mapping
from pathlib import Path

from calgen.core import layout
from calgen.core.fsutil import UntrustedError, atomic_write, not_own, read_regular
from calgen.core.layout import MANIFEST
from calgen.core.schedule import FIRST_YEAR, LAST_YEAR

ENV = "CALGEN_CACHE_DIR"
MAX_TEMPLATES = 200  # compiled templates kept; calgen ships about 30
MAX_FILE_BYTES = 4 * 1024 * 1024  # any file read: holidays ~1 KB a year, templates ~30 KB
MAX_NAME = 200  # characters in a holiday's name ("Bevrijdingsdag; Hemelvaartsdag": 30)
HolidayTable = dict[int, dict[dt.date, str]]
# Each folder calgen makes carries a CACHEDIR.TAG (backup tools skip it), and calgen uses
# no folder without it; it removes only files and folders named as it names them, in
# folders with that tag, so a CALGEN_CACHE_DIR pointed at a folder of other things never
# loses any of them.
TAG = "CACHEDIR.TAG"
TAG_TEXT = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by calgen.\n"
)
_JINJA = re.compile(r"jinja-[0-9][0-9A-Za-z.+-]*")
_COMPILED = re.compile(r"__jinja2_[0-9a-f]+\.cache")
_HOLIDAYS = re.compile(r"NL-[0-9a-f]{20}\.json")
_YEAR = re.compile(r"[0-9]{4}")
_in_use = True  # see use()
_warned = False  # one warning per run (see refuse)


def root() -> Path:
    own = os.environ.get(ENV)
    if own:
        return Path(own)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "calgen"


def within(place: Path) -> bool:
    """The cache's folder is `place` or inside it (both resolved); True when that cannot
    be told. calgen.cli.commands builds into such a folder without the cache, which would
    otherwise be published with the build."""
    try:
        return root().resolve().is_relative_to(place.resolve())
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop
        return True


def use(on: bool) -> None:
    """Use the cache (the default), or not at all: nothing is then read or written.
    calgen.cli.commands turns it back on as each run ends, so the next run (in the same
    process) checks the cache again and may warn again."""
    global _in_use, _warned
    _in_use = on
    if on:
        _warned = False


def in_use() -> bool:
    return _in_use


def refuse(path: Path, why: str) -> None:
    """No cache for the rest of this run, and (once per run) a warning saying why.
    The cache is used deep inside rendering, long after the command line has set up the
    run: this is the one place it speaks."""
    global _warned
    use(False)
    if not _warned:
        _warned = True
        print(
            f"warning: the cache is not used in this run: {path} {why} (remove it, or set "
            f"{ENV} to a folder of your own that only you can write)",
            file=sys.stderr,
        )


def read_file(path: Path, limit: int = MAX_FILE_BYTES) -> bytes | None:
    """The bytes of the cache file `path` (calgen.core.fsutil.read_regular), or None; a
    file another user could have written is never read: the cache is refused."""
    if not _in_use:
        return None
    try:
        return read_regular(path, limit, own=True)
    except UntrustedError as exc:
        refuse(path, str(exc).removeprefix(f"{path} "))
        return None


def folder(name: str, *, create: bool = True) -> Path | None:
    """`root()/name` if calgen may use it: a folder it makes now (0700, tagged), or its own
    one that carries its CACHEDIR.TAG (see the module's rules). None when there is none
    and `create` is False, when it cannot be made or written, or when the cache is not
    in use; anything not calgen's there refuses the cache (`refuse`)."""
    if not _in_use:
        return None
    base = root()
    problem = _root_problem(base, create)
    if problem is not None:
        if problem:
            refuse(base, problem)
        return None
    path = base / name
    try:
        info: os.stat_result | None = path.lstat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        refuse(path, f"cannot be examined ({exc.strerror or exc})")
        return None
    if info is None:
        return _make(path) if create else None
    problem = _folder_problem(path, info) or _tag_problem(path)
    if problem:
        refuse(path, problem)
        return None
    return path if not create or os.access(path, os.W_OK) else None


def _make(path: Path) -> Path | None:
    """`path` made now, 0700 whatever the umask, with calgen's tag; None when it cannot be."""
    try:
        path.mkdir(mode=0o700)  # FileExistsError: something appeared meanwhile
    except OSError:
        return None
    try:
        atomic_write(path / TAG, TAG_TEXT)
    except OSError:
        with contextlib.suppress(OSError):
            path.rmdir()  # made just now, and still empty
        return None
    return path


def _root_problem(base: Path, create: bool) -> str | None:
    """Why the cache root may not be used ("" when it is absent and not to be made);
    None when it may. It is made (0700) when absent and `create`."""
    problem = _publishing_problem(base)
    if problem:
        return problem
    try:
        info = base.lstat()
    except FileNotFoundError:
        if not create:
            return ""
        try:
            base.parent.mkdir(parents=True, exist_ok=True)
            base.mkdir(mode=0o700)
            info = base.lstat()
        except OSError:
            return ""  # cannot be made: no cache, as where it cannot be written
    except OSError as exc:
        return f"cannot be examined ({exc.strerror or exc})"
    return _folder_problem(base, info) or None


def _folder_problem(path: Path, info: os.stat_result) -> str:
    """Why the folder `path` (its lstat `info`, then fstat of it opened) could hold
    another user's files; "" when it cannot."""
    if stat.S_ISLNK(info.st_mode):
        return "is a symlink"
    if not stat.S_ISDIR(info.st_mode):
        return "is not a folder"
    try:  # what is opened, not what the name said a moment ago
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        return f"cannot be opened ({exc.strerror or exc})"
    try:
        opened = os.fstat(fd)
    finally:
        os.close(fd)
    if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
        return "was replaced while it was examined"
    return not_own(opened) or ""


def _tag_problem(path: Path) -> str:
    """Why `path` is not a folder calgen made: no CACHEDIR.TAG of its own; "" when it is."""
    try:
        tag = read_regular(path / TAG, len(TAG_TEXT), own=True)
    except UntrustedError as exc:
        return f"holds {TAG}, which {str(exc).removeprefix(f'{path / TAG} ')}"
    except (OSError, ValueError):
        tag = None
    if tag != TAG_TEXT.encode():
        return f"is not a folder calgen made (no {TAG} of calgen's in it)"
    return ""


def _publishing_problem(place: Path) -> str:
    """Why `place` may not hold the cache: it is, or lies in, a folder calgen publishes
    into (one holding its manifest) or one named like what calgen.site.publish makes
    beside an out folder. The cache would be published with the next build, and every
    build after it would refuse the folder. "" when neither."""
    given = Path(os.path.abspath(place))
    try:
        here = given.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop
        return "cannot be resolved"
    for part in (*given.parts, *here.parts):
        if layout.PUBLISHING_NAME.fullmatch(part):
            return (
                f"is named like a folder calgen publishes through ({part}): it would be "
                "published with the next build"
            )
    for folder in (here, *here.parents):
        with contextlib.suppress(OSError):
            if (folder / MANIFEST).exists():
                return f"is inside a folder calgen publishes into ({folder} holds {MANIFEST})"
    return ""


def _is_calgen_folder(path: Path) -> bool:
    """`path` is calgen's own folder: not a symlink, owned by this user and writable by
    nobody else, with calgen's tag. Quietly: for folders the cache does not use."""
    try:
        return not (_folder_problem(path, path.lstat()) or _tag_problem(path))
    except OSError:
        return False


# --------------------------------------------------------------------------- templates


def jinja_folder(version: str) -> Path | None:
    """The bytecode folder for this Jinja version; other versions' folders (calgen's, by
    their tag) are emptied of compiled templates and removed, and only the newest
    :data:`MAX_TEMPLATES` compiled templates kept."""
    name = f"jinja-{version}"
    path = folder(name)
    if path is None:
        return None
    with contextlib.suppress(OSError):  # pruning is housekeeping: the cache still works
        for other in path.parent.iterdir():
            if other.name != name and _JINJA.fullmatch(other.name) and _is_calgen_folder(other):
                for entry in other.iterdir():
                    if _COMPILED.fullmatch(entry.name) or entry.name == TAG:
                        with contextlib.suppress(OSError):  # a folder of that name stays
                            entry.unlink()
                with contextlib.suppress(OSError):  # something else in it: it stays
                    other.rmdir()
        compiled = sorted(
            (entry.stat(follow_symlinks=False).st_mtime_ns, entry.path)
            for entry in os.scandir(path)
            if _COMPILED.fullmatch(entry.name)
        )
        for _, old in compiled[:-MAX_TEMPLATES]:
            with contextlib.suppress(OSError):
                Path(old).unlink()
    return path


# --------------------------------------------------------------------------- holidays


def holidays_key() -> str:
    """Names the installed `holidays` package's Dutch answer without importing it
    (importing it loads every country, some 50 ms); "" when it cannot be told."""
    spec = importlib.util.find_spec("holidays")
    if spec is None or spec.origin is None:
        return ""
    base = Path(spec.origin).parent
    version = _version(base)
    if not version:
        return ""
    files = [
        base / "countries" / "netherlands.py",
        base / "locale" / "nl" / "LC_MESSAGES" / "NL.mo",
        base / "holiday_base.py",
        base / "observed_holiday_base.py",  # King's Day on the 26th when the 27th is a Sunday
        base / "helpers.py",
        *sorted((base / "groups").glob("*.py")),
        *sorted((base / "calendars").glob("*.py")),
    ]
    easter = importlib.util.find_spec("dateutil")  # Easter comes from dateutil.easter
    if easter is not None and easter.origin is not None:
        files.append(Path(easter.origin).parent / "easter.py")
    parts = [version] + [f"{f.name}:{f.parent.name}:{_stamp(f)}" for f in files]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def _version(base: Path) -> str:
    """The installed holidays version: from the one `holidays-<version>.dist-info` beside
    the package, as pip installs it, else from importlib.metadata. (Importing
    importlib.metadata costs some 20 ms, a twentieth of a build of the seeds.)"""
    found = list(base.parent.glob("holidays-*.dist-info"))
    if len(found) == 1:
        return found[0].name.removeprefix("holidays-").removesuffix(".dist-info")
    import importlib.metadata

    try:
        return importlib.metadata.version("holidays")
    except (ValueError, importlib.metadata.PackageNotFoundError):
        return ""


def _stamp(path: Path) -> str:
    try:
        stat = path.stat()
    except OSError:
        return "-"
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _holidays_file(key: str, create: bool) -> Path | None:
    if not key:
        return None
    place = folder("holidays", create=create)
    return place / f"NL-{key}.json" if place else None


def load_holidays() -> HolidayTable:
    """Every year kept for the installed package; {} when none, or when the file is
    damaged in any way (then the answer is made again)."""
    path = _holidays_file(holidays_key(), create=False)
    if path is None:
        return {}
    try:
        raw = read_file(path)
        if raw is None:
            return {}
        return _table(json.loads(raw.decode("utf-8"), object_pairs_hook=_unique))
    except (OSError, ValueError, RecursionError):
        return {}


def _unique(pairs: list[tuple[str, object]]) -> dict[str, object]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ValueError("a key twice")
    return found


def _table(data: object) -> HolidayTable:
    """The holidays in `data`, when it is exactly what save_holidays writes: years as
    4-digit keys in FIRST_YEAR-LAST_YEAR, each a non-empty object of that year's days
    (YYYY-MM-DD) and printable, non-empty names of at most MAX_NAME characters.
    ValueError for anything else."""
    if not isinstance(data, dict):
        raise ValueError("not an object")
    table: HolidayTable = {}
    for year_key, days in data.items():
        year = int(year_key) if _YEAR.fullmatch(year_key) else 0
        if not FIRST_YEAR <= year <= LAST_YEAR or not isinstance(days, dict) or not days:
            raise ValueError(f"not a year's holidays: {year_key}")
        table[year] = {}
        for day_key, name in days.items():
            day = dt.date.fromisoformat(day_key)
            if day.isoformat() != day_key or day.year != year or not _name_ok(name):
                raise ValueError(f"not a holiday: {day_key}")
            table[year][day] = name
    return table


def _name_ok(name: object) -> bool:
    return isinstance(name, str) and 0 < len(name) <= MAX_NAME and name.isprintable()


def save_holidays(table: Mapping[int, Mapping[dt.date, str]]) -> None:
    """Keep `table` (merged with what is kept) and drop other keys' files; a failure
    only means no cache."""
    if not table:
        return
    key = holidays_key()
    path = _holidays_file(key, create=True)
    if path is None:
        return
    merged: dict[int, Mapping[dt.date, str]] = {**load_holidays(), **table}
    data = {
        str(year): {day.isoformat(): name for day, name in sorted(days.items())}
        for year, days in sorted(merged.items())
    }
    try:
        _table(data)  # never write what would be read as damaged
        atomic_write(path, json.dumps(data, ensure_ascii=False, sort_keys=True))
    except (OSError, ValueError):
        return
    with contextlib.suppress(OSError):  # pruning is housekeeping: the cache still works
        for other in path.parent.iterdir():
            if other != path and _HOLIDAYS.fullmatch(other.name):
                with contextlib.suppress(OSError):  # a folder of that name stays
                    other.unlink()
