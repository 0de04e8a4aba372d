"""The delivery state: a small SQLite database (stdlib `sqlite3`, WAL), never a rewritten file.

Tables:
- `messages`: one row per message ever queued, with its fixed Message-ID, recipient, Date
  and status: `queued` → `claimed` (being handed to the server) → `sent`, or `refused`
  (a permanent 5xx, with the server's reply; never retried automatically) or `deferred`
  (a temporary failure; sent again by the next run, same Message-ID) or `cancelled`
  (its recipient or items are gone from the input).
- `items`: which (runbook, item, lead time, recipient) a message carries, or that was
  recorded as expired: whatever is here is never planned again.
- `seen`: per runbook, the published version its subscribers were last told about
  (change notices).

Each step is one short transaction. A run holds an exclusive `fcntl.flock` on
`<state>.lock` for its whole length; a second run waits a bounded time, then gives up
having sent nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from calgen.errors import CalgenError
from calgen.fsutil import atomic_write

SCHEMA_VERSION = "2"
_SQLITE_MAGIC = b"SQLite format 3\x00"
LEGACY_DEFAULT = Path("notify-state.json")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    msgid TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    runbook TEXT NOT NULL,
    role TEXT NOT NULL,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    date TEXT NOT NULL,
    ref TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    reply TEXT NOT NULL DEFAULT '',
    updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_status ON messages (status, id);
CREATE TABLE IF NOT EXISTS items (
    runbook TEXT NOT NULL,
    email TEXT NOT NULL,
    item TEXT NOT NULL,
    lead TEXT NOT NULL,
    message INTEGER,
    late INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    PRIMARY KEY (runbook, email, item, lead)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_message ON items (message);
CREATE TABLE IF NOT EXISTS seen (runbook TEXT PRIMARY KEY, version TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS notices (
    id INTEGER PRIMARY KEY,
    runbook TEXT NOT NULL,
    old TEXT NOT NULL,
    new TEXT NOT NULL,
    role TEXT NOT NULL,
    lines TEXT NOT NULL,
    UNIQUE (runbook, old, new, role)
);
"""

PENDING = ("queued", "claimed", "deferred")


class NotifyError(CalgenError):
    """A failure of `calgen notify` that is not a mistake in a runbook."""


class StateError(NotifyError):
    """The state database cannot be read, written or locked."""


class Busy(StateError):
    """Another run holds the state."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Queued:
    """A message row as the delivery loop needs it."""

    id: int
    msgid: str
    kind: str  # reminder | change
    runbook: str
    role: str
    email: str
    name: str
    date: str
    ref: str  # change: "<from version>|<to version>"
    status: str
    attempts: int


@dataclass(frozen=True, kw_only=True, slots=True)
class NewItem:
    item: str
    lead: str
    late: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class NewMessage:
    msgid: str
    kind: str
    runbook: str
    role: str
    email: str
    name: str
    date: str
    ref: str
    items: tuple[NewItem, ...] = ()


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _problem(path: Path, exc: BaseException) -> StateError:
    return StateError(f"{path}: the notify state cannot be used: {exc}")


class State:
    """An open, locked state database. Use as a context manager (see `open_state`)."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self.db = db
        self.path = path

    # ---------------------------------------------------------------- writing

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            raise _problem(self.path, exc) from None

    def check_writable(self) -> None:
        """A write that proves the state can record what this run is about to send."""
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('last_run', ?)", (_now(),))

    def enqueue(
        self, messages: Sequence[NewMessage], expired: Iterable[tuple[str, str, str, str]] = ()
    ) -> None:
        """Queue messages (and record expired (runbook, email, item, lead)) in one transaction."""
        with self._write() as db:
            self._insert(db, messages)
            db.executemany(
                "INSERT OR IGNORE INTO items VALUES (?, ?, ?, ?, NULL, 0, 'expired')", expired
            )

    @staticmethod
    def _insert(db: sqlite3.Connection, messages: Sequence[NewMessage]) -> None:
        now = _now()
        for m in messages:
            cur = db.execute(
                "INSERT INTO messages (msgid, kind, runbook, role, email, name, date, ref,"
                " status, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?)"
                " ON CONFLICT (msgid) DO NOTHING",
                (m.msgid, m.kind, m.runbook, m.role, m.email, m.name, m.date, m.ref, now),
            )
            if not cur.rowcount:
                continue  # the same message is queued already
            db.executemany(
                "INSERT OR IGNORE INTO items VALUES (?, ?, ?, ?, ?, ?, 'queued')",
                [(m.runbook, m.email, i.item, i.lead, cur.lastrowid, int(i.late)) for i in m.items],
            )

    def add_notice(self, runbook: str, old: str, new: str, role: str, lines: Sequence[str]) -> str:
        """Store a notice's text (fixed once: a resend says the same) and return its ref."""
        with self._write() as db:
            db.execute(
                "INSERT OR IGNORE INTO notices (runbook, old, new, role, lines)"
                " VALUES (?, ?, ?, ?, ?)",
                (runbook, old, new, role, json.dumps(list(lines), ensure_ascii=False)),
            )
            row = db.execute(
                "SELECT id FROM notices WHERE runbook = ? AND old = ? AND new = ? AND role = ?",
                (runbook, old, new, role),
            ).fetchone()
        return str(row[0])

    def notice_lines(self, ref: str) -> list[str] | None:
        row = self._one("SELECT lines FROM notices WHERE id = ?", (int(ref),))
        return [str(x) for x in json.loads(str(row[0]))] if row else None

    def set_seen(self, runbook: str, version: str, notices: Sequence[NewMessage] = ()) -> None:
        """Record the version told about together with its notices: exactly once."""
        with self._write() as db:
            self._insert(db, notices)
            db.execute("INSERT OR REPLACE INTO seen VALUES (?, ?)", (runbook, version))

    def claim(self, message: Queued) -> None:
        """Recorded before the message is handed to the server."""
        with self._write() as db:
            db.execute(
                "UPDATE messages SET status = 'claimed', attempts = attempts + 1, updated = ?"
                " WHERE id = ?",
                (_now(), message.id),
            )

    def finish(self, message: Queued, status: str, reply: str = "") -> None:
        """sent, refused, deferred or cancelled."""
        with self._write() as db:
            db.execute(
                "UPDATE messages SET status = ?, reply = ?, updated = ? WHERE id = ?",
                (status, reply, _now(), message.id),
            )
            db.execute("UPDATE items SET status = ? WHERE message = ?", (status, message.id))

    # ---------------------------------------------------------------- reading

    def handled(self, runbook: str, emails: Sequence[str]) -> set[tuple[str, str, str]]:
        """(email, item, lead) already queued, sent, refused or expired, for these emails."""
        found: set[tuple[str, str, str]] = set()
        try:
            for start in range(0, len(emails), 500):
                chunk = emails[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found.update(
                    self.db.execute(
                        "SELECT email, item, lead FROM items"
                        f" WHERE runbook = ? AND email IN ({marks})",
                        (runbook, *chunk),
                    )
                )
        except sqlite3.Error as exc:
            raise _problem(self.path, exc) from None
        return found

    def seen(self, runbook: str) -> str | None:
        row = self._one("SELECT version FROM seen WHERE runbook = ?", (runbook,))
        return str(row[0]) if row else None

    def pending(self, after: int = 0, limit: int = 500) -> list[Queued]:
        """The next page of messages still to send, in queue order."""
        try:
            rows = self.db.execute(
                "SELECT id, msgid, kind, runbook, role, email, name, date, ref, status, attempts"
                " FROM messages WHERE status IN ('queued', 'claimed', 'deferred') AND id > ?"
                " ORDER BY id LIMIT ?",
                (after, limit),
            ).fetchall()
        except sqlite3.Error as exc:
            raise _problem(self.path, exc) from None
        return [
            Queued(
                id=r[0],
                msgid=r[1],
                kind=r[2],
                runbook=r[3],
                role=r[4],
                email=r[5],
                name=r[6],
                date=r[7],
                ref=r[8],
                status=r[9],
                attempts=r[10],
            )
            for r in rows
        ]

    def items_of(self, message: Queued) -> list[tuple[str, str, bool]]:
        try:
            rows = self.db.execute(
                "SELECT item, lead, late FROM items WHERE message = ?", (message.id,)
            ).fetchall()
        except sqlite3.Error as exc:
            raise _problem(self.path, exc) from None
        return [(str(r[0]), str(r[1]), bool(r[2])) for r in rows]

    def counts(self) -> dict[str, int]:
        try:
            rows = self.db.execute("SELECT status, count(*) FROM messages GROUP BY status")
            return {str(s): int(n) for s, n in rows}
        except sqlite3.Error as exc:
            raise _problem(self.path, exc) from None

    def _one(self, sql: str, args: tuple[object, ...]) -> tuple[object, ...] | None:
        try:
            row: tuple[object, ...] | None = self.db.execute(sql, args).fetchone()
        except sqlite3.Error as exc:
            raise _problem(self.path, exc) from None
        return row


# -------------------------------------------------------------------- opening


def _lock(path: Path, wait: float) -> int:
    """An exclusive flock on `<state>.lock`, waiting at most `wait` seconds."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise _problem(path, exc) from None
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise Busy(
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
        db.executescript(_SCHEMA)
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
        db.executescript(_SCHEMA)
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
        db.executescript(_SCHEMA)
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
            raise _problem(path, exc) from None
        try:
            yield Opened(state=State(db, path), migrated="")
        finally:
            db.close()
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        target = path.resolve()  # one lock for every name of the same file
    except OSError as exc:
        raise _problem(path, exc) from None
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
            raise _problem(path, exc) from None
        try:
            yield Opened(state=State(db, path), migrated=note)
        finally:
            db.close()
    finally:
        os.close(fd)  # releases the lock
