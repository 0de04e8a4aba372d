"""The state file on disk: the lock, refusing a database calgen did not make, migrating a
version-1 JSON state once, and opening the :class:`~calgen.notify.state.State`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from calgen.core.fsutil import atomic_write
from calgen.notify.state import SCHEMA_VERSION, TABLES, State, StateBusyError, StateError, problem

_SQLITE_MAGIC = b"SQLite format 3\x00"
LEGACY_DEFAULT = Path("notify-state.json")


def _lock(path: Path, wait: float) -> int:
    """An exclusive flock on `<state>.lock`, waiting at most `wait` seconds."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise problem(path, exc) from None
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise StateBusyError(
                    f"{path}: another calgen notify run is using this state; waited"
                    f" {wait:g} s; nothing was sent (it will be sent by a later run)"
                ) from None
            time.sleep(0.05)


def _ours(db: sqlite3.Connection, path: Path) -> None:
    """Refuse an SQLite database calgen did not make: it is not ours to change."""
    try:
        empty = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
        row = (
            None if empty else db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        )
    except sqlite3.Error:
        empty, row = False, None
    if empty:
        return
    if row is None:
        db.close()
        raise StateError(
            f"{path}: an SQLite database that is not a calgen notify state; nothing was sent"
        )


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    if readonly:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
        _ours(db, path)
    else:
        existed = path.exists()
        db = sqlite3.connect(path, isolation_level=None, timeout=5)
        if existed:
            _ours(db, path)
        db.execute("PRAGMA journal_mode = WAL")
        # NORMAL: each commit survives a killed process; a power cut may forget the last
        # few (then those messages go again, with the same Message-ID). FULL would add
        # an fsync to every step of every message.
        db.execute("PRAGMA synchronous = NORMAL")
        db.executescript(TABLES)
        db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
    return db


def read_legacy(path: Path) -> dict[str, str] | None:
    """The `sent` map of a version-1 JSON state file; None when `path` is SQLite."""
    raw = path.read_bytes()
    if raw.startswith(_SQLITE_MAGIC) or not raw:  # SQLite takes an empty file as empty
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
        sent = data["sent"]
        if not isinstance(sent, dict):
            raise TypeError("`sent` is not a mapping")
    except (ValueError, KeyError, TypeError) as exc:
        raise StateError(
            f"{path}: neither a calgen notify state database nor a version-1 JSON state file"
            f" ({exc.__class__.__name__}); nothing was sent"
        ) from None
    return {str(k): str(v) for k, v in sent.items()}


def _legacy_rows(sent: dict[str, str]) -> list[tuple[str, str, str, str]]:
    rows = []
    for key in sent:
        parts = key.split("|")
        if len(parts) == 4:
            runbook, item, lead, email = parts
            rows.append((runbook, email.lower(), item, lead))
    return rows


def _migrate(path: Path, source: Path | None, sent: dict[str, str]) -> None:
    """Build the database beside `path` (from a JSON state, or empty) and swap it in.

    A new state is made whole before it appears, so a run killed at its very start leaves
    no state or a complete one. A JSON file is first kept as `<source>.v1.json` (unless
    `source` is not `path`, then it stays where it is): any crash leaves either the JSON
    state or the database.
    """
    tmp = path.with_name(f".{path.name}.new")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
        leftover.unlink(missing_ok=True)
    db = sqlite3.connect(tmp, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode = DELETE")
        db.executescript(TABLES)
        db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        if source is not None:
            db.execute("INSERT INTO meta VALUES ('migrated_from', ?)", (source.name,))
        db.execute("BEGIN")
        db.executemany(
            "INSERT OR IGNORE INTO items VALUES (?, ?, ?, ?, NULL, 0, 'sent')", _legacy_rows(sent)
        )
        db.execute("COMMIT")
    finally:
        db.close()
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if source == path:
        atomic_write(path.with_name(path.name + ".v1.json"), path.read_bytes(), durable=True)
    os.replace(tmp, path)


@dataclass(frozen=True, kw_only=True, slots=True)
class Opened:
    state: State
    migrated: str  # a note for the report, or ""


@contextlib.contextmanager
def open_state(path: Path, *, wait: float, readonly: bool = False) -> Iterator[Opened]:
    """Lock, migrate a JSON state once, open. `readonly` (dry run): no lock, no writes."""
    if readonly:
        db = sqlite3.connect(":memory:", isolation_level=None)
        db.executescript(TABLES)
        try:
            if path.exists():
                legacy = read_legacy(path)
                if legacy is None:
                    db.close()
                    db = _connect(path, readonly=True)
                else:
                    db.executemany(
                        "INSERT OR IGNORE INTO items VALUES (?, ?, ?, ?, NULL, 0, 'sent')",
                        _legacy_rows(legacy),
                    )
        except (OSError, sqlite3.Error) as exc:
            db.close()
            raise problem(path, exc) from None
        try:
            yield Opened(state=State(db, path), migrated="")
        finally:
            db.close()
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        target = path.resolve()  # one lock for every name of the same file
    except OSError as exc:
        raise problem(path, exc) from None
    fd = _lock(target, wait)
    try:
        note = ""
        try:
            if path.exists():
                legacy = read_legacy(path)
                if legacy is not None:
                    _migrate(path, path, legacy)
                    note = (
                        f"migrated the JSON state {path} ({len(legacy)} records) to SQLite;"
                        f" the JSON file is kept as {path.name}.v1.json"
                    )
            elif path.suffix != ".json" and (old := path.with_name(LEGACY_DEFAULT.name)).is_file():
                legacy = read_legacy(old)
                _migrate(path, old, legacy or {})
                if legacy is not None:
                    note = f"migrated the JSON state {old} ({len(legacy)} records) to {path}"
            else:
                _migrate(path, None, {})
            db = _connect(path, readonly=False)
        except (OSError, sqlite3.Error) as exc:
            raise problem(path, exc) from None
        try:
            yield Opened(state=State(db, path), migrated=note)
        finally:
            db.close()
    finally:
        os.close(fd)  # releases the lock
