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
having sent nothing. Locking, opening and the migration of a version-1 JSON state are in
:mod:`calgen.notify.statefile`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from calgen.core.errors import CalgenError

SCHEMA_VERSION = "2"

TABLES = """
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


class StateBusyError(StateError):
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


def problem(path: Path, exc: BaseException) -> StateError:
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
            raise problem(self.path, exc) from None

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
            raise problem(self.path, exc) from None
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
            raise problem(self.path, exc) from None
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
            raise problem(self.path, exc) from None
        return [(str(r[0]), str(r[1]), bool(r[2])) for r in rows]

    def counts(self) -> dict[str, int]:
        try:
            rows = self.db.execute("SELECT status, count(*) FROM messages GROUP BY status")
            return {str(s): int(n) for s, n in rows}
        except sqlite3.Error as exc:
            raise problem(self.path, exc) from None

    def _one(self, sql: str, args: tuple[object, ...]) -> tuple[object, ...] | None:
        try:
            row: tuple[object, ...] | None = self.db.execute(sql, args).fetchone()
        except sqlite3.Error as exc:
            raise problem(self.path, exc) from None
        return row
