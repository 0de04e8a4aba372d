"""One `calgen notify` run: lock the state, queue what is due, deliver the queue, report.

1. Open the state (an exclusive lock on the database file, bounded wait; a JSON or
   schema-2 state migrated once) and prove it can be written: if not, stop before
   anything is sent.
2. Queue: every reminder due and not handled before becomes part of one message per
   (runbook, role, recipient); each published new version adds one change notice per
   mailbox with an affected role (all its roles' changes in one message). Recipients
   are taken in chunks; nothing is composed yet. Once a day (of `at`), rows about what
   was over more than the retention period ago are pruned.
3. Deliver the queue in order, a page at a time: compose (text rendered once per distinct
   content), claim (a compare-and-set), hand over, record *sent* / *refused* / *deferred*.

What cannot be used is named and skipped, and the run goes on: an address in the
subscribers file, a published snapshot (no change notice for that runbook this run), a
row of the state. Each makes the exit code 1.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.utils import format_datetime
from pathlib import Path
from types import MappingProxyType
from typing import TextIO

from calgen.core.reminders import Lead
from calgen.notify import changes, unsubscribe
from calgen.notify.addresses import Recipient, Subscribers
from calgen.notify.compose import Composer, Mail, Rendered, notice_id, reminder_id
from calgen.notify.due import DEFAULT_EXPIRE, Due, Item, items, role_dues
from calgen.notify.state import (
    MAX_LISTED,
    Expired,
    NewItem,
    NewMessage,
    NotifyError,
    Queued,
    State,
    staying,
    utc,
)
from calgen.notify.statefile import FILL_OVER, open_state
from calgen.notify.transport import (
    ConnectionLostError,
    OutboxSender,
    Outcome,
    Sender,
    SmtpSender,
    SmtpTarget,
)
from calgen.render.changes import Snapshot
from calgen.render.templating import environment
from calgen.runbook.model import Runbook

CHUNK = 500  # recipients planned per transaction, messages read per page
DEFAULT_RETENTION = dt.timedelta(days=400)


@dataclass(frozen=True, kw_only=True, slots=True)
class Options:
    runbooks: Sequence[Runbook]
    subscribers: Subscribers
    at: dt.datetime
    state: Path
    smtp: SmtpTarget | None = None
    outbox: Path | None = None
    dry_run: bool = False
    expire: dt.timedelta = DEFAULT_EXPIRE
    base_url: str = ""
    dist: Path = Path("dist")
    lock_wait: float = 30.0
    retention: dt.timedelta = DEFAULT_RETENTION
    progress: TextIO | None = None  # a terminal to show progress on

    @property
    def horizon(self) -> dt.timedelta:
        """How long after its event a reminder is still planned, and its rows kept."""
        return max(self.retention, self.expire)


OUTCOMES = ("sent", "refused", "deferred", "expired", "cancelled", "suppressed")


@dataclass(kw_only=True)
class RunTally:
    """What a run has done so far: filled in while it runs, then frozen into a Report."""

    verb: str  # sent, written, would send
    runbooks: tuple[str, ...] = ()  # the run's runbooks, in order: one summary line each
    # per runbook: OUTCOMES (a dry run: "planned" too) -> how many messages (expired:
    # reminders, one per recipient and item)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)  # "address: reply (subject)"
    deferred: list[str] = field(default_factory=list)
    expired: dict[str, int] = field(default_factory=dict)  # "runbook: what" -> recipients
    resent: list[str] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)  # dry run: "address\tsubject"
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # skipped input: exit 1, run goes on
    stopped: list[str] = field(default_factory=list)  # why the run stopped early

    def add(self, runbook: str, status: str, n: int = 1) -> None:
        mine = self.counts.setdefault(runbook, {})
        mine[status] = mine.get(status, 0) + n

    def record(self, runbook: str, status: str, line: str) -> None:
        """A message's outcome; a refused or deferred one is listed too (the first 1000)."""
        self.add(runbook, status)
        if status != "sent":
            listed = self.refused if status == "refused" else self.deferred
            if len(listed) < 1000:
                listed.append(line)

    def report(self) -> Report:
        return Report(
            verb=self.verb,
            runbooks=self.runbooks + tuple(r for r in self.counts if r not in self.runbooks),
            counts=MappingProxyType({r: MappingProxyType(dict(c)) for r, c in self.counts.items()}),
            refused=tuple(self.refused),
            deferred=tuple(self.deferred),
            expired=MappingProxyType(dict(self.expired)),
            resent=tuple(self.resent),
            planned=tuple(self.planned),
            notes=tuple(self.notes),
            warnings=tuple(self.warnings),
            stopped=tuple(self.stopped),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Report:
    """What a run did (the fields of RunTally, as they were at its end)."""

    verb: str
    runbooks: tuple[str, ...]
    counts: Mapping[str, Mapping[str, int]]  # per runbook, see RunTally
    refused: tuple[str, ...]
    deferred: tuple[str, ...]
    expired: Mapping[str, int]
    resent: tuple[str, ...]
    planned: tuple[str, ...]
    notes: tuple[str, ...]
    warnings: tuple[str, ...]
    stopped: tuple[str, ...]

    def total(self, status: str) -> int:
        return sum(c.get(status, 0) for c in self.counts.values())

    @property
    def exit_code(self) -> int:
        """0 when everything due went out; 1 when something could not be sent, or some
        input (an address, a published snapshot, a state row) was skipped."""
        failed = self.total("refused") + self.total("deferred")
        return 1 if failed or self.stopped or self.warnings else 0

    def lines(self, verbose: bool = False) -> Iterator[str]:
        """What an operator reads: problems, then one line per runbook and the total.
        `verbose`: each expired reminder too (otherwise only counted)."""
        yield from self.warnings
        if verbose:
            for what, n in self.expired.items():
                yield f"expired, not sent: {what}" + (f" ({n} recipients)" if n > 1 else "")
        yield from self.notes
        for line in self.resent:
            yield f"resent with the same Message-ID (not recorded as sent before): {line}"
        for line in self.refused:
            yield f"refused, not retried: {line}"
        for line in self.deferred:
            yield f"deferred, stays queued for the next run: {line}"
        yield from (f"calgen notify: {why}" for why in self.stopped)
        for runbook in self.runbooks:
            yield f"{runbook}: {self._summary(self.counts.get(runbook, {}))}"
        if self.verb == "would send":
            yield f"dry run: would send {len(self.planned)} message(s)"
            return
        total = {status: self.total(status) for status in OUTCOMES}
        yield f"{total['sent']} message(s) {self.verb}; {self._summary(total, first=False)}"
        if self.stopped:
            yield "what was not sent stays queued; run again to send the rest"

    def _summary(self, counts: Mapping[str, int], first: bool = True) -> str:
        """`N sent; N refused, N deferred, N expired` and, when any, cancelled and
        suppressed; a dry run: `would send N` and what it would withhold."""
        if self.verb == "would send":
            held = [f"{counts[s]} {s}" for s in ("expired", "suppressed") if counts.get(s)]
            return ", ".join([f"would send {counts.get('planned', 0)}", *held])
        rest = ", ".join(
            f"{counts.get(status, 0)} {status}"
            for status in OUTCOMES[1:]
            if status in ("refused", "deferred", "expired") or counts.get(status, 0)
        )
        return f"{counts.get('sent', 0)} {self.verb}; {rest}" if first else rest


class _UnusableError(Exception):
    """A queued message whose rows cannot be used (reported by the state): left as it is."""


class _Run:
    def __init__(self, options: Options, state: State, tally: RunTally) -> None:
        self.options = options
        self.state = state
        self.tally = tally
        self.sender_address: Address = options.subscribers.sender
        subscribers = options.subscribers
        secret = unsubscribe.secret_from_environment()
        self.composer = Composer(
            environment(),
            self.sender_address,
            options.base_url,
            unsubscribe_mailto=subscribers.unsubscribe_mailto,
            unsubscribe_url=subscribers.unsubscribe_url,
            secret=secret,
        )
        if subscribers.unsubscribe_url and secret is None:
            tally.notes.append(
                f"warning: {unsubscribe.SECRET_VARIABLE} is not set (or shorter than 16"
                " characters): messages carry the mailto unsubscribe only, no https link"
            )
        self.date = format_datetime(options.at.astimezone(dt.UTC))
        self.runbooks = {rb.id: rb for rb in options.runbooks}
        self._items: dict[str, dict[str, Item]] = {}
        self._dues: dict[tuple[str, str, str, bool], Due | None] = {}
        # a dry run records nothing: what it would queue, per runbook (email, item, lead),
        # so that a mailbox in two roles is planned an item once, as a real run does
        self._planned: dict[str, set[tuple[str, str, str]]] = {}
        self.members = {
            role: {r.key: r for r in recipients}
            for role, recipients in options.subscribers.by_role.items()
        }

    # ------------------------------------------------------------------ queue

    def queue(self, write: bool) -> None:
        at, horizon = self.options.at, self.options.horizon
        for runbook in self.options.runbooks:
            self._queue_notices(runbook, write)
            candidates = items(runbook, self.options.base_url)
            self._items[runbook.id] = {i.id: i for i in candidates}
            for role in runbook.roles:
                recipients = self.options.subscribers.by_role.get(role.id, ())
                if not recipients:
                    continue
                # over for longer than the rows are kept: forgotten, never planned again
                dues = [
                    d for d in role_dues(runbook, candidates, role.id, at) if at <= d.over + horizon
                ]
                if not dues:
                    continue
                for start in range(0, len(recipients), CHUNK):
                    self._queue_chunk(
                        runbook, role.id, dues, recipients[start : start + CHUNK], write
                    )

    def maintain(self) -> None:
        """Once a day (of `at`): give rows of an older state their `over`, then prune what
        was over more than the retention period ago (see calgen.notify.state)."""
        state, at = self.state, self.options.at
        today = at.date().isoformat()
        if state.meta("pruned") == today:
            return
        if state.meta(FILL_OVER):
            for runbook_id, found in self._items.items():
                overs = {i.id: utc(i.end or i.start) for i in found.values()}
                state.fill_over(runbook_id, overs, utc(at))
            if not state.unfilled():
                state.set_meta(FILL_OVER, None)
        messages, records = state.prune(utc(at - self.options.horizon))
        state.set_meta("pruned", today)
        if messages or records:
            days = self.options.horizon.days
            self.tally.notes.append(
                f"pruned {messages} message(s) and {records} record(s) about what was over"
                f" more than {days} days ago"
            )

    def _queue_chunk(
        self,
        runbook: Runbook,
        role: str,
        dues: Sequence[Due],
        chunk: Sequence[Recipient],
        write: bool,
    ) -> None:
        keys = [r.key for r in chunk]
        handled = self.state.handled(runbook.id, keys)
        if not write:
            handled |= self._planned.setdefault(runbook.id, set())
        left = self.state.suppressed_roles(keys)
        batch: list[NewMessage] = []
        expired: list[Expired] = []
        overs = {d.item.id: utc(d.over) for d in dues}
        for recipient in chunk:
            key = recipient.key
            mine = [d for d in dues if (key, d.item.id, d.lead.key) not in handled]
            send = []
            for due in mine:
                if self.options.at > due.over + self.options.expire:
                    what = f"{runbook.id}: {due.item.title} ({due.lead.dutch()} vooraf)"
                    self.tally.add(runbook.id, "expired")
                    if len(self.tally.expired) < MAX_LISTED or what in self.tally.expired:
                        self.tally.expired[what] = self.tally.expired.get(what, 0) + 1
                    expired.append(
                        Expired(
                            runbook=runbook.id,
                            email=key,
                            item=due.item.id,
                            lead=due.lead.key,
                            over=overs[due.item.id],
                        )
                    )
                else:
                    send.append(due)
            # a mailbox in two roles gets an item once (in the first role's message), and
            # an expired one is counted once
            taken = [(key, d.item.id, d.lead.key) for d in mine]
            handled.update(taken)
            if not write:
                self._planned[runbook.id].update(taken)
            if not send:
                continue
            done = [(d.item.id, d.lead.key) for d in send]
            status = "queued" if staying(left.get(key, ()), [role]) else "suppressed"
            message = NewMessage(
                msgid=reminder_id(runbook.id, recipient.key, done, self.sender_address),
                kind="reminder",
                runbook=runbook.id,
                role=role,
                email=recipient.key,
                name=recipient.name,
                date=self.date,
                ref="",
                over=max(overs[d.item.id] for d in send),
                items=tuple(
                    NewItem(item=d.item.id, lead=d.lead.key, late=d.late, over=overs[d.item.id])
                    for d in send
                ),
                status=status,
            )
            if status == "suppressed":
                self.tally.add(runbook.id, "suppressed")  # recorded: never planned again
            if write:
                batch.append(message)
            elif status == "queued":
                self.tally.add(runbook.id, "planned")
                _, rendered = self.composer.reminder(runbook, role, send)
                self.tally.planned.append(f"{recipient.email}\t{rendered.subject}")
        if write:
            self.state.enqueue(batch, expired)

    def _queue_notices(self, runbook: Runbook, write: bool) -> None:
        """One change notice for each mailbox with a role the changes concern, once per
        published version (on the first run, subscribers know the published version).
        A published snapshot that cannot be used skips the notice, with a warning, until
        it is fixed; reminders go on."""
        if not runbook.versions:
            return
        current = runbook.versions[0].version
        usable, new = self._published(runbook, current, current)
        if not usable or new is None:
            return  # unusable (warned), or not published (yet): nothing to tell
        usable, seen = self.state.usable_seen(runbook.id)
        if not usable or seen == current:
            return
        if seen is not None:
            usable, old = self._published(runbook, seen, current)
            if not usable:
                return  # told about later, once the snapshot is fixed
            if old is None:
                self.tally.notes.append(
                    f"{runbook.id}: no change notice from version {seen} to {current}: the"
                    f" published snapshot of version {seen} is missing in {self.options.dist}"
                )
            else:
                self._queue_notice(runbook, changes.notice(runbook, seen, old, current, new), write)
        if write:
            # together with the last notices' rows: told once per version, however it ends
            self.state.set_seen(runbook.id, current)

    def _published(
        self, runbook: Runbook, version: str, current: str
    ) -> tuple[bool, Snapshot | None]:
        """(usable, the published snapshot of `version` or None when there is none)."""
        path = changes.snapshot_path(self.options.dist, runbook.id, version)
        try:
            return True, changes.read_snapshot(path)
        except changes.UnusableSnapshotError as exc:
            self.tally.warnings.append(
                f"warning: {path}: the published snapshot cannot be used ({exc.reason}); no"
                f" change notice for {runbook.id} version {current} in this run (it goes out"
                " once the file is fixed, e.g. by `calgen build`); reminders go out as usual"
            )
            return False, None

    def _mailboxes(
        self, roles: frozenset[str]
    ) -> dict[tuple[tuple[str, ...], bool], list[Recipient]]:
        """The subscribers of any of `roles`, each mailbox once, grouped by which of
        those roles it is in and has not left (so a notice is rendered once per group),
        and whether it left them all (then the notice is recorded, never sent)."""
        found: dict[str, tuple[Recipient, list[str]]] = {}
        for role, recipients in self.options.subscribers.by_role.items():
            if role in roles:
                for r in recipients:
                    found.setdefault(r.key, (r, []))[1].append(role)
        left = self.state.suppressed_roles(list(found))
        groups: dict[tuple[tuple[str, ...], bool], list[Recipient]] = {}
        for recipient, theirs in found.values():
            kept = staying(left.get(recipient.key, ()), theirs)
            groups.setdefault((tuple(sorted(kept or theirs)), not kept), []).append(recipient)
        return groups

    def _queue_notice(self, runbook: Runbook, notice: changes.Notice, write: bool) -> None:
        """One message per mailbox: the changes for all of its roles, stored once per
        group of roles, queued for each of its mailboxes."""
        old, new = notice.old, notice.new
        for (roles, suppressed), recipients in self._mailboxes(notice.roles).items():
            lines = notice.lines_for(roles)
            status = "suppressed" if suppressed else "queued"
            if suppressed or not write:
                self.tally.add(runbook.id, status if suppressed else "planned", len(recipients))
            if not write:
                if not suppressed:
                    _, rendered = self.composer.notice(runbook, roles, old, new, lines)
                    self.tally.planned.extend(f"{r.email}\t{rendered.subject}" for r in recipients)
                continue
            role = "+".join(roles)
            ref = self.state.add_notice(runbook.id, old, new, role, lines)
            for start in range(0, len(recipients), CHUNK):
                self.state.enqueue(
                    [
                        NewMessage(
                            msgid=notice_id(runbook.id, old, new, role, r.key, self.sender_address),
                            kind="change",
                            runbook=runbook.id,
                            role=role,
                            email=r.key,
                            name=r.name,
                            date=self.date,
                            ref=ref,
                            over=utc(self.options.at),
                            status=status,
                        )
                        for r in recipients[start : start + CHUNK]
                    ]
                )

    # ------------------------------------------------------------------ deliver

    def compose(self, q: Queued) -> Mail | None:
        """The queued message, or None when it no longer applies (cancelled).
        _UnusableError when its rows in the state cannot be used (reported there)."""
        runbook = self.runbooks[q.runbook]
        recipient = next(
            (r for role in q.roles if (r := self.members.get(role, {}).get(q.email))), None
        )
        if recipient is None or not set(q.roles) <= {r.id for r in runbook.roles}:
            return None  # unsubscribed, or the role is gone from the runbook, since queued
        rendered: Rendered
        key: tuple[object, ...]
        if q.kind == "change":
            notice = self.state.notice(q)
            if notice is None:
                raise _UnusableError
            key, rendered = self.composer.notice(
                runbook, q.roles, notice.old, notice.new, notice.lines
            )
        else:
            dues = self._queued_dues(runbook, q)
            if not dues:
                return None
            key, rendered = self.composer.reminder(runbook, q.role, dues)
        return self.composer.message(
            key,
            rendered,
            to=recipient.address,
            date=q.date,
            msgid=q.msgid,
            role=q.role,
            utf8=recipient.box.utf8,
        )

    def _queued_dues(self, runbook: Runbook, q: Queued) -> list[Due]:
        """The reminders a queued message still carries, in order."""
        found, rows = self.state.items_of(q)
        if not found:
            if not rows:
                self.state.report_row(
                    f"messages row {q.id}", "a reminder without items", "left as it is, not sent"
                )
            raise _UnusableError
        dues = []
        for item_id, lead, late in found:
            due = self._due(runbook, item_id, lead, late)
            # gone from the runbook, or over for too long while it waited in the queue
            if due is not None and self.options.at <= due.over + self.options.expire:
                dues.append(due)
        dues.sort(key=lambda d: (d.item.start, d.item.id, d.lead.key))
        return dues

    def _due(self, runbook: Runbook, item_id: str, lead: Lead, late: bool) -> Due | None:
        key = (runbook.id, item_id, lead.key, late)
        if key not in self._dues:
            item = self._items.get(runbook.id, {}).get(item_id)
            lead = dataclasses.replace(lead, hours=runbook.reminders.office_hours)
            self._dues[key] = (
                None
                if item is None
                else Due(
                    item=item,
                    lead=lead,
                    trigger=lead.trigger(item.start, runbook.calendar),
                    late=late,
                )
            )
        return self._dues[key]

    def deliver(self, sender: Sender) -> None:
        """Every queued message in order, a page at a time."""
        total = self.state.db.execute(
            "SELECT count(*) FROM messages WHERE status IN ('queued', 'claimed', 'deferred')"
        ).fetchone()[0]
        self.state.unknown_statuses()
        done, last_id, shown = 0, 0, 0.0
        skipped: dict[str, int] = {}
        while True:
            page, read = self.state.pending(after=last_id, limit=CHUNK)
            if read == last_id:
                break
            last_id = read
            for q in page:
                if q.runbook not in self.runbooks:
                    skipped[q.runbook] = skipped.get(q.runbook, 0) + 1
                elif self._deliver_one(sender, q):
                    done += 1
                    shown = self._show_progress(f"{done}/{total} {sender.verb}", shown)
        if self.options.progress is not None and shown:
            self.options.progress.write(f"\r{done}/{total} {sender.verb}\n")
        for runbook, n in skipped.items():
            self.tally.stopped.append(
                f"{n} queued message(s) of runbook {runbook} not sent: it is not among the"
                " runbooks of this run"
            )

    def _deliver_one(self, sender: Sender, q: Queued) -> bool:
        """Compose, claim, hand over and record one message; False when it was not
        handed over (cancelled, unusable, or taken by another run)."""
        try:
            message = self.compose(q)
        except _UnusableError:
            return False
        if message is None:
            self.state.finish(q, "cancelled", "unsubscribed, or its items are gone or expired")
            self.tally.add(q.runbook, "cancelled")
            return False
        if self.state.has_left(q.email, q.roles):  # unsubscribed since it was queued
            self.state.finish(q, "suppressed", "unsubscribed (suppression list)")
            self.tally.add(q.runbook, "suppressed")
            return False
        if not self.state.claim(q):  # before the server sees it; a compare-and-set
            self.tally.notes.append(
                f"{message.to} {q.msgid}: taken by another run since it was read; not sent by"
                " this one"
            )
            return False
        if q.status == "claimed":
            self.tally.resent.append(f"{message.to} {q.msgid}")
        try:
            outcome = self._hand_over(sender, message, q)
        except NotifyError as exc:
            self.state.finish(q, "deferred", str(exc))
            raise
        self.state.finish(q, outcome.status, outcome.reply)
        self.tally.record(
            q.runbook, outcome.status, f"{message.to}: {outcome.reply} ({message.subject})"
        )
        return True

    def _show_progress(self, text: str, shown: float) -> float:
        """`text` on the terminal, at most twice a second; returns when it was last shown."""
        now = time.monotonic()
        if self.options.progress is None or now - shown <= 0.5:
            return shown
        self.options.progress.write(f"\r{text}")
        self.options.progress.flush()
        return now

    def _hand_over(self, sender: Sender, message: Mail, q: Queued) -> Outcome:
        """Send; after a lost connection reconnect and try once more, then defer."""
        envelope_from = self.sender_address.addr_spec
        reply = ""
        for _attempt in range(2):
            try:
                return sender.send(message, envelope_from, message.rcpt)
            except ConnectionLostError as lost:
                reply = lost.reply
                sender.reconnect()  # NotifyError when the server is gone: the run stops
        return Outcome(
            status="deferred", reply=f"{reply} (outcome unknown; same Message-ID next run)"
        )


def run(options: Options) -> Report:
    """The whole run; raises NotifyError (a StateError included) only before sending."""
    verb = "would send" if options.dry_run else ("written" if options.outbox else "sent")
    tally = RunTally(verb=verb, runbooks=tuple(rb.id for rb in options.runbooks))
    tally.warnings.extend(options.subscribers.skipped)
    with open_state(options.state, wait=options.lock_wait, readonly=options.dry_run) as opened:
        tally.notes.extend(opened.notes)
        work = _Run(options, opened.state, tally)
        try:
            _run(options, work, opened.state, tally)
        finally:
            _state_problems(opened.state, tally)
    return tally.report()


def _state_problems(state: State, tally: RunTally) -> None:
    tally.warnings.extend(state.problems)
    more = state.problem_count - len(state.problems)
    if more:
        tally.warnings.append(f"{state.path}: {more} more unusable row(s)")


def _run(options: Options, work: _Run, state: State, tally: RunTally) -> None:
    if options.dry_run:
        waiting = state.counts()
        earlier = sum(waiting.get(s, 0) for s in ("queued", "claimed", "deferred"))
        if earlier:
            tally.notes.append(f"{earlier} message(s) queued by earlier runs would go out too")
        work.queue(write=False)
        return
    state.check_writable()  # a state that cannot record stops us here
    work.queue(write=True)
    work.maintain()
    sender: Sender
    try:
        sender = (
            SmtpSender(options.smtp)
            if options.smtp
            else OutboxSender(options.outbox or Path("outbox"))
        )
    except NotifyError as exc:
        tally.stopped.append(f"{exc}; nothing was sent")
        return
    try:
        work.deliver(sender)
    except NotifyError as exc:
        tally.stopped.append(str(exc))
    finally:
        sender.close()
