"""The state file on disk: which file `--state` names, the lock on it, what it holds
(judged from its header and its schema, never by reading it whole), the migrations of a
version-1 JSON state and of a schema-2 database, and opening the
:class:`~calgen.notify.state.State`.

The lock is an exclusive `flock` on the database file itself (its inode, found through
the resolved path), not on a file beside it: removing a lock file, or reaching the same
state under a second name (a symlink, a hard link), cannot let two runs deliver.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from calgen.core.fsutil import atomic_write
from calgen.notify.state import (
    COLUMNS,
    REPAIR,
    SCHEMA_VERSION,
    SINCE,
    TABLES,
    State,
    StateBusyError,
    StateError,
    problem,
)

_SQLITE_MAGIC = b"SQLite format 3\x00"
LEGACY_DEFAULT = Path("notify-state.json")
MAX_LEGACY_BYTES = 256 * 1024 * 1024  # a version-1 JSON state, read once to migrate it
_SUPPRESSED = TABLES[TABLES.index("CREATE TABLE IF NOT EXISTS suppressed") :].split(";")[0]
_UPGRADES = {  # from a schema version to the current one
    2: (
        "ALTER TABLE messages ADD COLUMN over TEXT",
        "ALTER TABLE items ADD COLUMN over TEXT",
        _SUPPRESSED,
    ),
    3: (_SUPPRESSED,),
}
FILL_OVER = "fill-over"  # meta key: rows without `over` may be left (see State.fill_over)


def _refuse(given: Path, what: str) -> StateError:
    return StateError(
        f"{given}: {what}; --state must name a regular file, or one that does not exist yet;"
        " nothing was sent"
    )


def _what(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "is a folder"
    if stat.S_ISFIFO(mode):
        return "is a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "is a socket"
    return "is a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "is not a regular file"


def real_path(given: Path) -> Path:
    """The file `given` names: symlinks resolved once, to where they point (which need not
    exist yet: the state is made there, and the link stays). Refused: a symlink loop, and
    anything that is not a regular file."""
    try:
        real = Path(os.path.realpath(given, strict=True))
    except FileNotFoundError:
        real = Path(os.path.realpath(given))  # absent, or a link to what is not made yet
        if os.path.lexists(real):
            raise _refuse(given, "a symlink that leads nowhere (a loop)") from None
        return real
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refuse(given, "a symlink loop") from None
        raise problem(given, exc) from None
    mode = os.stat(real).st_mode
    if not stat.S_ISREG(mode):
        raise _refuse(given, _what(mode))
    return real


def _open_regular(real: Path, given: Path, flags: int) -> int:
    """An fd on the regular file `real` (never through a symlink, never blocking on a FIFO)."""
    try:
        fd = os.open(real, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refuse(given, "a symlink") from None
        raise problem(given, exc) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise _refuse(given, _what(mode))
    return fd


def _lock(real: Path, given: Path, wait: float) -> int:
    """An fd on the state file holding an exclusive flock, waiting at most `wait` seconds.

    The file is made (empty) when there is none. When it was replaced while this run
    waited (a JSON state converted by the run before), the lock moves to the new file."""
    deadline = time.monotonic() + wait
    while True:
        fd = _open_regular(real, given, os.O_RDWR | os.O_CREAT)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise StateBusyError(
                        f"{given}: another calgen notify run is using this state; waited"
                        f" {wait:g} s; nothing was sent (it will be sent by a later run)"
                    ) from None
                time.sleep(0.05)
        mine = os.fstat(fd)
        try:
            now = os.stat(real, follow_symlinks=False)
        except FileNotFoundError:
            now = None
        if now is not None and (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino):
            return fd
        os.close(fd)  # the file at that path is another one now: lock that one


def _header(fd: int, given: Path, real: Path) -> str:
    """What the file holds, from its first bytes: `empty`, `sqlite` or `json`.

    A calgen database shorter than its header says (cut off by a full disk or a copy)
    is damaged; anything else is refused."""
    head = os.pread(fd, 100, 0)
    if not head:
        return "empty"  # SQLite takes an empty file as an empty database
    if head.startswith(_SQLITE_MAGIC):
        _check_length(fd, head, given, real)
        return "sqlite"
    if head.lstrip(b" \t\r\n").startswith((b"{", b"\xef\xbb\xbf{")):
        return "json"
    raise StateError(
        f"{given}: neither a calgen notify state database nor a version-1 JSON state file;"
        " nothing was sent"
    )


def _check_length(fd: int, head: bytes, given: Path, real: Path) -> None:
    if len(head) < 100:
        raise StateError(f"{given}: the notify state is damaged (its header is cut off); {REPAIR}")
    with contextlib.suppress(OSError):
        if os.stat(f"{real}-wal").st_size:
            return  # a write-ahead log may hold what the file lacks: SQLite judges
    page = int.from_bytes(head[16:18], "big")
    page = 65536 if page == 1 else page
    pages = int.from_bytes(head[28:32], "big")
    valid = pages and head[24:28] == head[92:96]  # the header's size is current
    if valid and os.fstat(fd).st_size < page * pages:
        raise StateError(
            f"{given}: the notify state is damaged (shorter than its header says:"
            f" {os.fstat(fd).st_size} of {page * pages} bytes); {REPAIR}"
        )


def _read_json(fd: int | None, path: Path) -> tuple[bytes, dict[str, str]]:
    """The bytes and the `sent` map of a version-1 JSON state (from `fd`, else `path`)."""
    try:
        if fd is None:
            fd = _open_regular(path, path, os.O_RDONLY)
            try:
                raw = _read_fd(fd, path)
            finally:
                os.close(fd)
        else:
            raw = _read_fd(fd, path)
        data = json.loads(raw.decode("utf-8-sig"))
        sent = data["sent"]
        if not isinstance(sent, dict):
            raise TypeError("`sent` is not a mapping")
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise StateError(
            f"{path}: neither a calgen notify state database nor a version-1 JSON state file"
            f" ({exc.__class__.__name__}); nothing was sent"
        ) from None
    return raw, {str(k): str(v) for k, v in sent.items()}


def _read_fd(fd: int, path: Path) -> bytes:
    size = os.fstat(fd).st_size
    if size > MAX_LEGACY_BYTES:
        raise ValueError(f"larger than {MAX_LEGACY_BYTES} bytes")
    return os.pread(fd, size + 1, 0)


def _legacy_rows(sent: dict[str, str]) -> list[tuple[str, str, str, str]]:
    rows = []
    for key in sent:
        parts = key.split("|")
        if len(parts) == 4:
            runbook, item, lead, email = parts
            rows.append((runbook, email.lower(), item, lead))
    return rows


def _create(db: sqlite3.Connection, sent: dict[str, str], source: str) -> None:
    """Tables, schema version and migrated rows, in one transaction: a run killed while
    making a state leaves an empty database or a whole one."""
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in TABLES.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        if source:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('migrated_from', ?)", (source,))
        rows = _legacy_rows(sent)
        if rows:
            db.executemany(
                "INSERT OR IGNORE INTO items VALUES (?, ?, ?, ?, NULL, 0, 'sent', NULL)", rows
            )
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, '1')", (FILL_OVER,))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _convert_json(real: Path, given: Path, raw: bytes, sent: dict[str, str]) -> int:
    """Replace the JSON state at `real` by a database; the fd of the new file, locked.

    The JSON is kept as `<name>.v1.json` first, and the database is made whole beside it
    and locked before it takes the name: any crash leaves the JSON state or the database,
    and a run that waited on the old file finds the new one locked."""
    atomic_write(real.with_name(real.name + ".v1.json"), raw, durable=True)
    tmp = real.with_name(f".{real.name}.new")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
        leftover.unlink(missing_ok=True)
    db = sqlite3.connect(tmp, isolation_level=None)
    try:
        _create(db, sent, given.name)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    fd = _open_regular(tmp, given, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody else knows this file yet
    os.fsync(fd)
    os.replace(tmp, real)
    folder = os.open(real.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return fd


def _schema(db: sqlite3.Connection, given: Path) -> int | None:
    """The schema version of a calgen state; None for an empty database. Refused: a
    database calgen did not make, one a newer calgen made, and a damaged one."""
    tables = {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        return None
    ours = tables & set(COLUMNS)
    row = (
        db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if "meta" in tables
        else None
    )
    if row is None:
        if ours - {"meta"}:
            raise _damaged(given, "its schema version is missing")
        raise StateError(
            f"{given}: an SQLite database that is not a calgen notify state; nothing was sent"
        )
    version = row[0]
    if not (isinstance(version, str) and version.isascii() and version.isdigit()):
        raise _damaged(given, f"schema version {version!r}")
    number = int(version)
    if number > SCHEMA_VERSION:
        raise StateError(
            f"{given}: a notify state of schema version {number}, made by a newer calgen;"
            f" this calgen reads versions 2 to {SCHEMA_VERSION}: use the newer calgen;"
            " nothing was sent"
        )
    if number < 2:
        raise _damaged(given, f"schema version {number}")
    for table, columns in COLUMNS.items():
        if number < SINCE.get(table, 2):
            continue  # added by the upgrade
        found = {str(r[1]) for r in db.execute(f"PRAGMA table_info({table})")}
        if not found:
            raise _damaged(given, f"table {table} is missing")
        lacking = sorted(columns - found - ({"over"} if number == 2 else set()))
        if lacking:
            raise _damaged(given, f"table {table} lacks column {', '.join(lacking)}")
    return number


def _damaged(given: Path, what: str) -> StateError:
    return StateError(f"{given}: the notify state is damaged ({what}); {REPAIR}")


def _upgrade(db: sqlite3.Connection, version: int) -> None:
    """To the current schema in one transaction: from 2, `over` added (filled in by later
    runs); from 2 and 3, the `suppressed` table."""
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in _UPGRADES[version]:
            db.execute(statement)
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION),))
        if version == 2:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, '1')", (FILL_OVER,))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


@dataclass(frozen=True, kw_only=True, slots=True)
class Opened:
    state: State
    notes: tuple[str, ...]  # for the report: a migration, a second name


@contextlib.contextmanager
def open_state(path: Path, *, wait: float, readonly: bool = False) -> Iterator[Opened]:
    """Lock, migrate a JSON state once, open. `readonly` (dry run): no lock, no writes."""
    real = real_path(path)
    if readonly:
        with _open_readonly(path, real) as opened:
            yield opened
        return
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise problem(path, exc) from None
    fds = [_lock(real, path, wait)]
    try:
        notes: list[str] = []
        db = _open_locked(path, real, fds, notes)
        try:
            yield Opened(state=State(db, path), notes=tuple(notes))
        finally:
            db.close()  # before the fds: closing one drops SQLite's own locks on the file
    finally:
        for fd in fds:
            os.close(fd)  # releases the lock


def _open_locked(path: Path, real: Path, fds: list[int], notes: list[str]) -> sqlite3.Connection:
    """The locked state as a database: made, migrated or upgraded as needed."""
    try:
        kind = _header(fds[0], path, real)
        sent: dict[str, str] = {}
        source = ""
        if kind == "json":
            raw, sent = _read_json(fds[0], path)
            fds.append(_convert_json(real, path, raw, sent))
            notes.append(
                f"migrated the JSON state {path} ({len(sent)} records) to SQLite;"
                f" the JSON file is kept as {real.name}.v1.json"
            )
        elif kind == "empty" and path.suffix != ".json":
            old = path.with_name(LEGACY_DEFAULT.name)
            if old.is_file() and not _is_sqlite(old):
                _, sent = _read_json(None, old)
                source = old.name
                notes.append(f"migrated the JSON state {old} ({len(sent)} records) to {path}")
        links = os.fstat(fds[-1]).st_nlink
        if links > 1:
            notes.append(
                f"warning: {path} has {links} names (hard links); runs through any of them"
                " wait for each other, but SQLite keeps its journal beside each name: use one"
            )
        db = sqlite3.connect(real, isolation_level=None, timeout=5)
    except (OSError, sqlite3.Error) as exc:
        raise problem(path, exc) from None
    try:
        version = _schema(db, path)
        if version is None:
            _create(db, sent, source)
        else:
            if version < SCHEMA_VERSION:
                _upgrade(db, version)
            db.execute("PRAGMA journal_mode = WAL")
        # NORMAL: each commit survives a killed process; a power cut may forget the last
        # few (then those messages go again, with the same Message-ID). FULL would add
        # an fsync to every step of every message.
        db.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.Error as exc:
        db.close()
        raise problem(path, exc) from None
    except BaseException:
        db.close()
        raise
    return db


def _is_sqlite(path: Path) -> bool:
    fd = _open_regular(path, path, os.O_RDONLY)
    try:
        return os.pread(fd, 16, 0) == _SQLITE_MAGIC
    finally:
        os.close(fd)


@contextlib.contextmanager
def _open_readonly(path: Path, real: Path) -> Iterator[Opened]:
    """The state as it is, for a dry run: nothing locked, made or changed."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for statement in TABLES.split(";"):
            if statement.strip():
                db.execute(statement)
        if os.path.lexists(real):
            fd = _open_regular(real, path, os.O_RDONLY)
            try:
                kind = _header(fd, path, real)
                if kind == "json":
                    _, sent = _read_json(fd, path)
                    db.executemany(
                        "INSERT OR IGNORE INTO items VALUES (?, ?, ?, ?, NULL, 0, 'sent', NULL)",
                        _legacy_rows(sent),
                    )
            finally:
                os.close(fd)
            if kind == "sqlite":
                db.close()
                db = sqlite3.connect(f"{real.as_uri()}?mode=ro", uri=True, isolation_level=None)
                version = _schema(db, path)
                if version is None:
                    db.close()
                    db = sqlite3.connect(":memory:", isolation_level=None)
                    db.executescript(TABLES)
                elif version < SINCE["suppressed"]:  # as the upgrade will make it, empty
                    db.execute(_SUPPRESSED.replace("TABLE IF NOT EXISTS", "TEMP TABLE"))
    except (OSError, sqlite3.Error) as exc:
        db.close()
        raise problem(path, exc) from None
    except BaseException:
        db.close()
        raise
    try:
        yield Opened(state=State(db, path), notes=())
    finally:
        db.close()


@contextlib.contextmanager
def open_shared(path: Path, *, wait: float) -> Iterator[State]:
    """The state for a short change beside the runs (an unsubscribe): without the runs'
    lock, so it never waits for a long delivery; SQLite's own locking keeps each
    transaction whole. A state of an older schema is upgraded first under the lock
    (waiting at most `wait` seconds). A state that does not exist is refused, not made: a
    suppression written where no run reads it would protect nobody."""
    real = real_path(path)
    if not os.path.lexists(real):
        raise StateError(
            f"{path}: no notify state here (no run has used this file): give the --state the"
            " notify runs use; nothing changed"
        )
    if not _current(real, path):
        try:
            with open_state(path, wait=wait):
                pass
        except StateBusyError:
            raise StateBusyError(
                f"{path}: a notify run holds this state, which must be upgraded to this"
                f" calgen's schema first; waited {wait:g} s; try again when the run is done;"
                " nothing changed"
            ) from None
    try:
        fd = _open_regular(real, path, os.O_RDONLY)
        try:
            if _header(fd, path, real) != "sqlite":
                raise StateError(f"{path}: not a calgen notify state database; nothing changed")
        finally:
            os.close(fd)
        db = sqlite3.connect(real, isolation_level=None, timeout=max(wait, 1.0))
    except (OSError, sqlite3.Error) as exc:
        raise problem(path, exc) from None
    try:
        try:
            if _schema(db, path) != SCHEMA_VERSION:
                raise StateError(f"{path}: the notify state was changed meanwhile; try again")
        except sqlite3.Error as exc:
            raise problem(path, exc) from None
        yield State(db, path)
    finally:
        db.close()


def _current(real: Path, given: Path) -> bool:
    """Whether `real` is a calgen state database of the current schema (read only)."""
    if not os.path.lexists(real):
        return False
    fd = _open_regular(real, given, os.O_RDONLY)
    try:
        if _header(fd, given, real) != "sqlite":
            return False
    finally:
        os.close(fd)
    try:
        db = sqlite3.connect(f"{real.as_uri()}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise problem(given, exc) from None
    try:
        return _schema(db, given) == SCHEMA_VERSION
    except sqlite3.Error as exc:
        raise problem(given, exc) from None
    finally:
        db.close()
