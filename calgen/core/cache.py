"""A per-user cache folder for things that are slow to make and safe to keep.

Two things are kept, both only by the command line (calgen.cli.commands), never by the pure modules:
- compiled Jinja templates (Jinja's own bytecode cache, in `jinja-<Jinja version>/`);
- the Dutch public holidays the `holidays` package gives, in `holidays/`: one JSON file
  holding every year calgen asked for, named by a key over everything that changes the
  answer: the package's version and the size and mtime of its Dutch module, its Dutch
  translation, its base classes (observed holidays included), helpers, holiday groups
  and calendars, and of dateutil's Easter. Another key (an upgrade, a patched file) is
  another file.

The root is $CALGEN_CACHE_DIR, else $XDG_CACHE_HOME/calgen, else ~/.cache/calgen. calgen
uses (reads, writes, prunes) `jinja-<version>/` or `holidays/` only when it makes that
folder itself (and tags it with its CACHEDIR.TAG) or it already carries that tag, and
never when it is a symlink: a folder there without the tag (empty or not), with another
tag, or a symlink means no cache for that part, and nothing in it is touched. In the root
calgen only makes those folders (the root itself when absent), and removes only other
Jinja versions' folders that carry its tag. Where a folder cannot be made or written
nothing is kept. A build whose out folder is the root or holds it runs without the cache
(calgen.cli.commands: it would be published).

It stays small: writing keeps only the current holidays file and the current Jinja
version's folder, and at most :data:`MAX_TEMPLATES` compiled templates (the newest).
Nothing read from it is trusted: a file is read only when it is a regular file (not a
symlink, FIFO or device) of at most :data:`MAX_FILE_BYTES`, and the holidays file only
when it is exactly what calgen writes (years in FIRST_YEAR-LAST_YEAR, each a non-empty
object of that year's YYYY-MM-DD dates and printable names of 1 to :data:`MAX_NAME`
characters). Anything else counts as damaged: the whole file is ignored, and the holidays
a command needs are asked of the package again and kept in its place.
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
from collections.abc import Mapping
from pathlib import Path

from calgen.core.fsutil import atomic_write, read_regular
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
    """Use the cache (the default), or not at all: nothing is then read or written."""
    global _in_use
    _in_use = on


def folder(name: str, *, create: bool = True) -> Path | None:
    """`root()/name` if calgen may use it: a folder it makes now (and tags), or one that
    carries its CACHEDIR.TAG; never a symlink, never a folder that was there untagged.
    None when there is no such folder, or (`create`) it cannot be made or written, or
    the cache is not in use."""
    if not _in_use or _published(root()):
        return None
    path = root() / name
    if not _is_calgen_folder(path):
        if not create:
            return None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.mkdir()  # FileExistsError: something calgen did not make is there
        except OSError:
            return None
        try:
            atomic_write(path / TAG, TAG_TEXT)
        except OSError:
            with contextlib.suppress(OSError):
                path.rmdir()  # made just now, and still empty
            return None
    return path if not create or os.access(path, os.W_OK) else None


def _published(place: Path) -> bool:
    """`place` is in a folder calgen publishes into (one holding its manifest): a cache
    there would be published, and would make the next build refuse the folder."""
    try:
        here = place.resolve()
    except (OSError, RuntimeError):
        return True
    return any((p / MANIFEST).exists() for p in (here, *here.parents))


def _is_calgen_folder(path: Path) -> bool:
    """`path` is a folder, not a symlink, with calgen's tag (a regular file, TAG_TEXT)."""
    try:
        if not stat.S_ISDIR(path.lstat().st_mode):
            return False
        return read_regular(path / TAG, len(TAG_TEXT)) == TAG_TEXT.encode()
    except (OSError, ValueError):
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
        raw = read_regular(path, MAX_FILE_BYTES)
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
