"""The delivery state: a small SQLite database (stdlib `sqlite3`, WAL), never a rewritten file.

Tables:
- `messages`: one row per message queued, with its fixed Message-ID, recipient, Date
  and status: `queued` → `claimed` (being handed to the server) → `sent`, or `refused`
  (a permanent 5xx, with the server's reply; never retried automatically) or `deferred`
  (a temporary failure; sent again by the next run, same Message-ID) or `cancelled`
  (its recipient or items are gone from the input). `role` is a role id, or for a change
  notice the role ids it covers joined by `+`.
- `items`: which (runbook, item, lead time, recipient) a message carries, or that was
  recorded as expired: whatever is here is never planned again.
- `seen`: per runbook, the published version its subscribers were last told about
  (change notices); `notices`: the text of each change notice, fixed once.
- `suppressed`: addresses that left a role (`*`: every role), by the one-click link
  (calgen.notify.webapp) or by the operator (`calgen notify --unsubscribe`). Nothing is
  planned for them, and a message queued before they left is settled as `suppressed`
  instead of sent. Written by short transactions without the run's lock, so a click is
  recorded at once, even while a long run delivers.

`over` (messages and items, UTC) is when what a row is about is over: the end of the
event (of the latest event, for a message), or the moment a change notice was queued.
Settled rows whose `over` lies more than the retention period back are pruned, and
reminders of events over for that long are never planned again, so the file stays
bounded and a pruned row cannot bring its reminder back.

Nothing read from the file is trusted: every row is checked as it is read, and a row
calgen cannot use is reported with its id and left as it is (never a traceback, never
dropped or skipped in silence). Each step is one short transaction; claiming a message
is a compare-and-set on the status and attempts it was read with. Locking, opening,
checking the schema and the migrations are in :mod:`calgen.notify.statefile`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import json
import re
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path

from calgen.core.errors import CalgenError
from calgen.core.reminders import Lead, parse_lead

SCHEMA_VERSION = 4

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
    updated TEXT NOT NULL,
    over TEXT
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
    over TEXT,
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
CREATE TABLE IF NOT EXISTS suppressed (
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    since TEXT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (email, role)
) WITHOUT ROWID;
"""

# every column calgen reads, per table: a state missing one is damaged
COLUMNS: Mapping[str, frozenset[str]] = {
    "meta": frozenset({"key", "value"}),
    "messages": frozenset(
        {"id", "msgid", "kind", "runbook", "role", "email", "name", "date", "ref", "status"}
        | {"attempts", "reply", "updated", "over"}
    ),
    "items": frozenset({"runbook", "email", "item", "lead", "message", "late", "status", "over"}),
    "seen": frozenset({"runbook", "version"}),
    "notices": frozenset({"id", "runbook", "old", "new", "role", "lines"}),
    "suppressed": frozenset({"email", "role", "since", "source"}),
}
SINCE = {"suppressed": 4}  # tables newer than schema 2, by the version that added them
EVERY_ROLE = "*"  # the role of a suppression from every role

PENDING = ("queued", "claimed", "deferred")
SETTLED = ("sent", "refused", "cancelled", "suppressed")
MESSAGE_STATUSES = (*PENDING, *SETTLED)
ITEM_STATUSES = (*MESSAGE_STATUSES, "expired")
KINDS = ("reminder", "change")
MAX_LISTED = 1000  # problems listed by name; more are counted

# what calgen itself writes in each column (ASCII only: `\d` would take any script's digits)
_RUNBOOK = re.compile(r"[a-z0-9][a-z0-9.-]{0,63}")
_ROLE = re.compile(r"[a-z][a-z0-9-]{0,39}")
_ROLES = re.compile(r"[a-z][a-z0-9-]{0,39}(\+[a-z][a-z0-9-]{0,39}){0,15}")
_MSGID = re.compile(r"<[0-9a-f]{24}@[A-Za-z0-9.-]{1,253}>")
_VERSION = re.compile(r"[0-9]{1,6}(\.[0-9]{1,6}){0,5}")
_ITEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_REF = re.compile(r"[0-9]{1,18}")


def staying(left: Collection[str], roles: Iterable[str]) -> list[str]:
    """Those of `roles` an address has not left, given the roles it left (see
    `State.suppressed_roles`; EVERY_ROLE among them: all). The one rule for reminders,
    change notices and messages queued before a click."""
    return [] if EVERY_ROLE in left else [r for r in roles if r not in left]


class NotifyError(CalgenError):
    """A failure of `calgen notify` that is not a mistake in a runbook."""


class StateError(NotifyError):
    """The state database cannot be read, written or locked."""


class StateBusyError(StateError):
    """Another run holds the state."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Queued:
    """A message row as the delivery loop needs it (checked: see `State.pending`)."""

    id: int
    msgid: str
    kind: str  # reminder | change
    runbook: str
    role: str  # change: the roles it covers, joined by "+"
    email: str
    name: str
    date: str
    ref: str  # change: the id of its row in `notices`
    status: str
    attempts: int

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(self.role.split("+"))


@dataclass(frozen=True, kw_only=True, slots=True)
class NewItem:
    item: str
    lead: str
    late: bool
    over: str  # UTC, see `utc`


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
    over: str
    items: tuple[NewItem, ...] = ()
    status: str = "queued"  # or "suppressed": its recipient left, it is never sent


@dataclass(frozen=True, kw_only=True, slots=True)
class Expired:
    runbook: str
    email: str
    item: str
    lead: str
    over: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Notice:
    old: str
    new: str
    lines: tuple[str, ...]


def utc(moment: dt.datetime) -> str:
    """A moment as the state keeps it: UTC, sortable as text."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now() -> str:
    return utc(dt.datetime.now(dt.UTC))


def damaged(exc: sqlite3.Error) -> bool:
    """Whether SQLite says the file itself is broken (not busy, not full, not read-only)."""
    return getattr(exc, "sqlite_errorname", "") in ("SQLITE_CORRUPT", "SQLITE_NOTADB")


def problem(path: Path, exc: BaseException) -> StateError:
    if isinstance(exc, sqlite3.Error) and damaged(exc):
        return StateError(f"{path}: the notify state is damaged ({exc}); {REPAIR}")
    return StateError(f"{path}: the notify state cannot be used: {exc}")


REPAIR = (
    "nothing was sent. Restore the state from a backup, or move it away to start a new one"
    " (then every reminder that is due and not expired goes out again)"
)


def lead_from_key(key: object) -> Lead | None:
    """The lead time a state row names (`1-working-day`), or None when it names none."""
    return _lead(key) if isinstance(key, str) else None


@functools.lru_cache(maxsize=256)  # a state holds a handful of distinct lead times
def _lead(key: str) -> Lead | None:
    if not key.isascii():
        return None
    amount, _, unit = key.partition("-")
    lead = parse_lead(f"{amount} {unit.replace('-', ' ')}")
    return lead if lead is not None and lead.key == key else None


@functools.lru_cache(maxsize=4096)
def _item_ok(item: str) -> bool:
    return bool(_ITEM.fullmatch(item))


def _printable(value: object, limit: int) -> bool:
    return isinstance(value, str) and len(value) <= limit and value.isprintable()


def _message_fault(row: Sequence[object]) -> str | None:
    """Why a `messages` row (as `pending` selects it) cannot be used, or None."""
    _, msgid, kind, runbook, role, email, name, date, ref, _, attempts = row
    one_role = kind == "change" or (isinstance(role, str) and "+" not in role)
    checks: tuple[tuple[bool, str], ...] = (
        (kind in KINDS, f"unknown kind {kind!r}"),
        (isinstance(msgid, str) and bool(_MSGID.fullmatch(msgid)), f"Message-ID {msgid!r}"),
        (isinstance(runbook, str) and bool(_RUNBOOK.fullmatch(runbook)), f"runbook {runbook!r}"),
        (isinstance(role, str) and bool(_ROLES.fullmatch(role)) and one_role, f"role {role!r}"),
        (_email_ok(email), f"address {email!r}"),
        (_printable(name, 200), f"name {name!r}"),
        (_date_ok(date), f"date {date!r}"),
        (isinstance(attempts, int) and 0 <= attempts < 2**31, f"attempts {attempts!r}"),
    )
    for ok, what in checks:
        if not ok:
            return what if what.startswith("unknown") else f"{what} is not one calgen writes"
    if kind == "change" and not (isinstance(ref, str) and _REF.fullmatch(ref)):
        return f"ref {ref!r} is not a change notice's id"
    if kind == "reminder" and ref != "":
        return f"ref {ref!r} on a reminder (calgen leaves it empty)"
    return None


def _email_ok(email: object) -> bool:
    return (
        isinstance(email, str)
        and 3 <= len(email.encode("utf-8", "replace")) <= 254
        and email.isprintable()
        and " " not in email
        and email.count("@") == 1
        and not email.startswith("@")
        and not email.endswith("@")
    )


def _date_ok(date: object) -> bool:
    return isinstance(date, str) and _date_text_ok(date)


@functools.lru_cache(maxsize=256)  # the messages of one run share their Date
def _date_text_ok(date: str) -> bool:
    if not _printable(date, 64):
        return False
    try:
        return parsedate_to_datetime(date).tzinfo is not None
    except (ValueError, TypeError, IndexError, OverflowError):
        return False


class State:
    """An open, locked state database (see :func:`calgen.notify.statefile.open_state`).

    `problems` lists the rows found unusable so far, each once, with its id."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self.db = db
        self.path = path
        self.problems: list[str] = []
        self.problem_count = 0
        self._reported: set[str] = set()

    def report_row(self, where: str, why: str, consequence: str) -> None:
        """Name a row that cannot be used, once per run."""
        if where in self._reported:
            return
        self._reported.add(where)
        self.problem_count += 1
        if len(self.problems) < MAX_LISTED:
            self.problems.append(f"{self.path}: {where}: {why}; {consequence}")

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

    def enqueue(self, messages: Sequence[NewMessage], expired: Iterable[Expired] = ()) -> None:
        """Queue messages (and record expired items) in one transaction."""
        with self._write() as db:
            self._insert(db, messages)
            db.executemany(
                "INSERT OR IGNORE INTO items VALUES (?, ?, ?, ?, NULL, 0, 'expired', ?)",
                [(e.runbook, e.email, e.item, e.lead, e.over) for e in expired],
            )

    @staticmethod
    def _insert(db: sqlite3.Connection, messages: Sequence[NewMessage]) -> None:
        now = _now()
        for m in messages:
            cur = db.execute(
                "INSERT INTO messages (msgid, kind, runbook, role, email, name, date, ref,"
                " status, updated, over) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (msgid) DO NOTHING",
                (
                    *(m.msgid, m.kind, m.runbook, m.role, m.email, m.name, m.date, m.ref),
                    *(m.status, now, m.over),
                ),
            )
            if not cur.rowcount:
                continue  # the same message is queued already
            db.executemany(
                "INSERT OR IGNORE INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        m.runbook,
                        m.email,
                        i.item,
                        i.lead,
                        cur.lastrowid,
                        int(i.late),
                        m.status,
                        i.over,
                    )
                    for i in m.items
                ],
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

    def set_seen(self, runbook: str, version: str, notices: Sequence[NewMessage] = ()) -> None:
        """Record the version told about together with its notices: exactly once."""
        with self._write() as db:
            self._insert(db, notices)
            db.execute("INSERT OR REPLACE INTO seen VALUES (?, ?)", (runbook, version))

    def claim(self, message: Queued) -> bool:
        """Recorded before the message is handed to the server: a compare-and-set from the
        status and attempts it was read with. False when the row changed since (another
        run has it): then it must not be sent."""
        with self._write() as db:
            cur = db.execute(
                "UPDATE messages SET status = 'claimed', attempts = attempts + 1, updated = ?"
                " WHERE id = ? AND status = ? AND attempts = ?",
                (_now(), message.id, message.status, message.attempts),
            )
        return cur.rowcount == 1

    def finish(self, message: Queued, status: str, reply: str = "") -> None:
        """sent, refused, deferred, cancelled or suppressed."""
        with self._write() as db:
            db.execute(
                "UPDATE messages SET status = ?, reply = ?, updated = ? WHERE id = ?",
                (status, reply, _now(), message.id),
            )
            db.execute("UPDATE items SET status = ? WHERE message = ?", (status, message.id))

    def prune(self, before: str) -> tuple[int, int]:
        """Remove settled messages and items about what was over before `before` (UTC);
        how many of each. Rows without `over` (from before schema 3) are kept."""
        marks = ",".join("?" * len(SETTLED))
        with self._write() as db:
            messages = db.execute(
                f"DELETE FROM messages WHERE status IN ({marks}) AND over < ?", (*SETTLED, before)
            ).rowcount
            items = db.execute(
                f"DELETE FROM items WHERE status IN ({marks}, 'expired') AND over < ?",
                (*SETTLED, before),
            ).rowcount
            db.execute(
                "DELETE FROM notices WHERE id NOT IN"
                " (SELECT CAST(ref AS INTEGER) FROM messages WHERE kind = 'change')"
            )
        return messages, items

    def fill_over(self, runbook: str, overs: Mapping[str, str], fallback: str) -> None:
        """Give rows of a schema-2 state their `over`, from the runbook's items (an item
        gone from the runbook: `fallback`)."""
        with self._write() as db:
            db.execute("CREATE TEMP TABLE IF NOT EXISTS overs (item TEXT PRIMARY KEY, over TEXT)")
            db.execute("DELETE FROM temp.overs")
            db.executemany("INSERT INTO temp.overs VALUES (?, ?)", overs.items())
            db.execute(
                "UPDATE items SET over = coalesce("
                "(SELECT o.over FROM temp.overs o WHERE o.item = items.item), ?)"
                " WHERE runbook = ? AND over IS NULL",
                (fallback, runbook),
            )
            db.execute(
                "UPDATE messages SET over = coalesce("
                "(SELECT max(i.over) FROM items i WHERE i.message = messages.id), ?)"
                " WHERE runbook = ? AND over IS NULL",
                (fallback, runbook),
            )

    def suppress(self, email: str, role: str, source: str) -> bool:
        """Record that `email` left `role` (EVERY_ROLE: all of them); False when it had
        already. Leaving every role takes the place of leaving single ones."""
        with self._write() as db:
            if db.execute(
                "SELECT 1 FROM suppressed WHERE email = ? AND role IN (?, ?)",
                (email, role, EVERY_ROLE),
            ).fetchone():
                return False
            if role == EVERY_ROLE:
                db.execute("DELETE FROM suppressed WHERE email = ?", (email,))
            db.execute("INSERT INTO suppressed VALUES (?, ?, ?, ?)", (email, role, _now(), source))
        return True

    def resubscribe(self, email: str, role: str | None) -> list[str]:
        """Take back the suppressions of `email` (of one role, or all); the roles freed."""
        with self._write() as db:
            where, args = (
                ("email = ?", (email,))
                if role is None
                else (
                    "email = ? AND role = ?",
                    (email, role),
                )
            )
            found = [
                str(r[0]) for r in db.execute(f"SELECT role FROM suppressed WHERE {where}", args)
            ]
            db.execute(f"DELETE FROM suppressed WHERE {where}", args)
        return sorted(found)

    def set_meta(self, key: str, value: str | None) -> None:
        with self._write() as db:
            if value is None:
                db.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # ---------------------------------------------------------------- reading

    def meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row[0]) if row else None

    def unfilled(self) -> bool:
        """Whether rows without `over` are left (from a schema-2 or JSON state)."""
        return (
            self._one("SELECT 1 FROM items WHERE over IS NULL LIMIT 1", ()) is not None
            or self._one("SELECT 1 FROM messages WHERE over IS NULL LIMIT 1", ()) is not None
        )

    def handled(self, runbook: str, emails: Sequence[str]) -> set[tuple[str, str, str]]:
        """(email, item, lead) already queued, sent, refused or expired, for these emails.

        Every row counts, whatever it holds (a row calgen cannot read may stand for a
        message that went out); one it cannot read is reported."""
        found: set[tuple[str, str, str]] = set()
        try:
            for start in range(0, len(emails), 500):
                chunk = emails[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for email, item, lead, status, late in self.db.execute(
                    "SELECT email, item, lead, status, late FROM items"
                    f" WHERE runbook = ? AND email IN ({marks})",
                    (runbook, *chunk),
                ):
                    self._check_item(runbook, email, item, lead, status, late)
                    found.add((email, item, lead))
        except sqlite3.Error as exc:
            raise problem(self.path, exc) from None
        return found

    def _check_item(
        self, runbook: str, email: str, item: object, lead: object, status: object, late: object
    ) -> None:
        if status not in ITEM_STATUSES:
            why = f"unknown status {status!r}"
        elif lead_from_key(lead) is None:
            why = f"lead {lead!r} is not a lead time calgen writes (at most a year)"
        elif not (isinstance(item, str) and _item_ok(item)):
            why = f"item {item!r} is not one calgen writes"
        elif late not in (0, 1):
            why = f"late {late!r} is neither 0 nor 1"
        else:
            return
        self.report_row(
            f"items row ({runbook}, {email}, {item}, {lead})",
            why,
            "that reminder is taken as handled and not sent to that address",
        )

    def usable_seen(self, runbook: str) -> tuple[bool, str | None]:
        """(usable, version last told about)."""
        row = self._one("SELECT version FROM seen WHERE runbook = ?", (runbook,))
        if row is None:
            return True, None
        version = row[0]
        if isinstance(version, str) and _VERSION.fullmatch(version):
            return True, version
        self.report_row(
            f"seen row of runbook {runbook}",
            f"version {version!r} is not a version",
            "no change notice for that runbook until it is fixed",
        )
        return False, None

    def unknown_statuses(self) -> None:
        """Report messages whose status calgen does not know: they are never sent."""
        marks = ",".join("?" * len(MESSAGE_STATUSES))
        try:
            rows = self.db.execute(
                f"SELECT id, status FROM messages WHERE status NOT IN ({marks}) ORDER BY id",
                MESSAGE_STATUSES,
            ).fetchall()
        except sqlite3.Error as exc:
            raise problem(self.path, exc) from None
        for row_id, status in rows:
            self.report_row(f"messages row {row_id}", f"unknown status {status!r}", "not sent")

    def pending(self, after: int = 0, limit: int = 500) -> tuple[list[Queued], int]:
        """The next page of messages still to send, in queue order, and the last id read.
        A row that cannot be used is reported, left as it is, and not among them."""
        try:
            rows = self.db.execute(
                "SELECT id, msgid, kind, runbook, role, email, name, date, ref, status, attempts"
                " FROM messages WHERE status IN ('queued', 'claimed', 'deferred') AND id > ?"
                " ORDER BY id LIMIT ?",
                (after, limit),
            ).fetchall()
        except sqlite3.Error as exc:
            raise problem(self.path, exc) from None
        found = []
        for row in rows:
            fault = _message_fault(row)
            if fault is not None:
                self.report_row(f"messages row {row[0]}", fault, "left as it is, not sent")
                continue
            found.append(
                Queued(**dict(zip((f.name for f in dataclasses.fields(Queued)), row, strict=True)))
            )
        return found, (rows[-1][0] if rows else after)

    def items_of(self, message: Queued) -> tuple[list[tuple[str, Lead, bool]], int]:
        """The (item, lead time, late) a reminder carries, and how many rows it has; a row
        that cannot be used is reported and left out."""
        try:
            rows = self.db.execute(
                "SELECT item, lead, late, status FROM items WHERE message = ?", (message.id,)
            ).fetchall()
        except sqlite3.Error as exc:
            raise problem(self.path, exc) from None
        found = []
        for item, key, late, status in rows:
            lead = lead_from_key(key)
            if lead is None or not (isinstance(item, str) and _item_ok(item)):
                what = f"lead {key!r}" if lead is None else f"item {item!r}"
                self.report_row(
                    f"items row ({message.runbook}, {message.email}, {item}, {key})"
                    f" of messages row {message.id}",
                    f"{what} is not one calgen writes (a lead time is at most a year)",
                    "left out of the message",
                )
                continue
            self._check_item(message.runbook, message.email, item, key, status, late)
            found.append((item, lead, late == 1))
        return found, len(rows)

    def notice(self, message: Queued) -> Notice | None:
        """The change notice a message carries; None (reported) when it cannot be used."""
        row = self._one("SELECT old, new, lines FROM notices WHERE id = ?", (int(message.ref),))
        where = f"notices row {message.ref} (of messages row {message.id})"
        if row is None:
            self.report_row(where, "missing", "that change notice is not sent")
            return None
        old, new, raw = row
        try:
            lines = json.loads(str(raw))
        except (ValueError, RecursionError):
            lines = None
        ok = (
            isinstance(old, str)
            and isinstance(new, str)
            and bool(_VERSION.fullmatch(old))
            and bool(_VERSION.fullmatch(new))
            and isinstance(lines, list)
            and 0 < len(lines) <= 10_000
            and all(_printable(x, 2000) for x in lines)
        )
        if not ok:
            self.report_row(where, "not a change notice calgen writes", "not sent")
            return None
        assert isinstance(lines, list)
        return Notice(old=str(old), new=str(new), lines=tuple(str(x) for x in lines))

    def suppressed_roles(self, emails: Sequence[str]) -> dict[str, frozenset[str]]:
        """For each of `emails` that left something: the roles it left (EVERY_ROLE among
        them: all). A row calgen cannot read is reported and counts as leaving all."""
        found: dict[str, set[str]] = {}
        try:
            for start in range(0, len(emails), 500):
                chunk = emails[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for email, role in self.db.execute(
                    f"SELECT email, role FROM suppressed WHERE email IN ({marks})", chunk
                ):
                    found.setdefault(email, set()).add(self._suppressed_role(email, role))
        except sqlite3.Error as exc:
            raise problem(self.path, exc) from None
        return {email: frozenset(roles) for email, roles in found.items()}

    def _suppressed_role(self, email: str, role: object) -> str:
        if role == EVERY_ROLE or (isinstance(role, str) and _ROLE.fullmatch(role)):
            return str(role)
        self.report_row(
            f"suppressed row ({email}, {role!r})",
            "the role is not one calgen writes",
            "that address is taken as unsubscribed from every role",
        )
        return EVERY_ROLE

    def has_left(self, email: str, roles: Sequence[str]) -> bool:
        """Whether `email` left every one of `roles` (a message for them is not sent)."""
        return not staying(self.suppressed_roles([email]).get(email, frozenset()), roles)

    def suppressions(self) -> list[tuple[str, str, str, str]]:
        """Every suppression: (email, role, since, source), by address; a row whose role
        calgen cannot read is reported (as a run reports it) and given as EVERY_ROLE."""
        try:
            rows = self.db.execute(
                "SELECT email, role, since, source FROM suppressed ORDER BY email, role"
            ).fetchall()
        except sqlite3.Error as exc:
            raise problem(self.path, exc) from None
        return [(str(e), self._suppressed_role(str(e), r), str(t), str(s)) for e, r, t, s in rows]

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
