"""One `calgen notify` run: lock the state, queue what is due, deliver the queue, report.

1. Open the state (an exclusive lock, bounded wait; a JSON state migrated once) and prove
   it can be written: if not, stop before anything is sent.
2. Queue: every reminder due and not handled before becomes part of one message per
   (runbook, role, recipient); each published new version adds one change notice per
   subscriber of an affected role. Recipients are taken in chunks; nothing is composed yet.
3. Deliver the queue in order, a page at a time: compose (text rendered once per distinct
   content), record *claimed*, hand over, record *sent* / *refused* / *deferred*.
"""

from __future__ import annotations

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
from calgen.notify import changes
from calgen.notify.addresses import Recipient, Subscribers
from calgen.notify.compose import Composer, Mail, Rendered, notice_id, reminder_id
from calgen.notify.due import DEFAULT_EXPIRE, Due, Item, items, role_dues
from calgen.notify.state import NewItem, NewMessage, NotifyError, Queued, State
from calgen.notify.statefile import open_state
from calgen.notify.transport import (
    ConnectionLostError,
    OutboxSender,
    Outcome,
    Sender,
    SmtpSender,
    SmtpTarget,
)
from calgen.render.templating import environment
from calgen.runbook.model import Runbook

CHUNK = 500  # recipients planned per transaction, messages read per page


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
    progress: TextIO | None = None  # a terminal to show progress on


@dataclass(kw_only=True)
class RunTally:
    """What a run has done so far: filled in while it runs, then frozen into a Report."""

    verb: str  # sent, written, would send
    counts: dict[str, int] = field(default_factory=dict)  # sent, refused, deferred, cancelled
    refused: list[str] = field(default_factory=list)  # "address: reply (subject)"
    deferred: list[str] = field(default_factory=list)
    expired: dict[str, int] = field(default_factory=dict)  # what -> how many recipients
    resent: list[str] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)  # dry run: "address\tsubject"
    notes: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)  # why the run stopped early

    def add(self, status: str) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1

    def record(self, status: str, line: str) -> None:
        """A message's outcome; a refused or deferred one is listed too (the first 1000)."""
        self.add(status)
        if status != "sent":
            listed = self.refused if status == "refused" else self.deferred
            if len(listed) < 1000:
                listed.append(line)

    def report(self) -> Report:
        return Report(
            verb=self.verb,
            counts=MappingProxyType(dict(self.counts)),
            refused=tuple(self.refused),
            deferred=tuple(self.deferred),
            expired=MappingProxyType(dict(self.expired)),
            resent=tuple(self.resent),
            planned=tuple(self.planned),
            notes=tuple(self.notes),
            stopped=tuple(self.stopped),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Report:
    """What a run did (the fields of RunTally, as they were at its end)."""

    verb: str
    counts: Mapping[str, int]
    refused: tuple[str, ...]
    deferred: tuple[str, ...]
    expired: Mapping[str, int]
    resent: tuple[str, ...]
    planned: tuple[str, ...]
    notes: tuple[str, ...]
    stopped: tuple[str, ...]

    @property
    def exit_code(self) -> int:
        """0 when everything due went out; 1 when something could not be sent."""
        failed = self.counts.get("refused", 0) + self.counts.get("deferred", 0)
        return 1 if failed or self.stopped else 0

    def lines(self) -> Iterator[str]:
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
        c = self.counts
        if self.verb == "would send":
            yield f"dry run: would send {len(self.planned)} message(s)"
            return
        yield (
            f"{c.get('sent', 0)} message(s) {self.verb}; {c.get('refused', 0)} refused,"
            f" {c.get('deferred', 0)} deferred, {sum(self.expired.values())} expired"
        )
        if self.stopped:
            yield "what was not sent stays queued; run again to send the rest"


def _lead(key: str) -> Lead:
    amount, _, unit = key.partition("-")
    return Lead(amount=int(amount), unit=unit.replace("-", " "))


class _Run:
    def __init__(self, options: Options, state: State, tally: RunTally) -> None:
        self.options = options
        self.state = state
        self.tally = tally
        self.sender_address: Address = options.subscribers.sender
        self.composer = Composer(environment(), self.sender_address, options.base_url)
        self.date = format_datetime(options.at.astimezone(dt.UTC))
        self.runbooks = {rb.id: rb for rb in options.runbooks}
        self._items: dict[str, dict[str, Item]] = {}
        self._dues: dict[tuple[str, str, str, bool], Due | None] = {}
        self.members = {
            role: {r.key: r for r in recipients}
            for role, recipients in options.subscribers.by_role.items()
        }

    # ------------------------------------------------------------------ queue

    def queue(self, write: bool) -> None:
        for runbook in self.options.runbooks:
            self._queue_notices(runbook, write)
            candidates = items(runbook, self.options.base_url)
            self._items[runbook.id] = {i.id: i for i in candidates}
            for role in runbook.roles:
                recipients = self.options.subscribers.by_role.get(role.id, ())
                if not recipients:
                    continue
                dues = list(role_dues(runbook, candidates, role.id, self.options.at))
                if not dues:
                    continue
                for start in range(0, len(recipients), CHUNK):
                    self._queue_chunk(
                        runbook, role.id, dues, recipients[start : start + CHUNK], write
                    )

    def _queue_chunk(
        self,
        runbook: Runbook,
        role: str,
        dues: Sequence[Due],
        chunk: Sequence[Recipient],
        write: bool,
    ) -> None:
        handled = self.state.handled(runbook.id, [r.key for r in chunk])
        batch: list[NewMessage] = []
        expired: list[tuple[str, str, str, str]] = []
        for recipient in chunk:
            mine = [d for d in dues if (recipient.key, d.item.id, d.lead.key) not in handled]
            send = []
            for due in mine:
                if self.options.at > due.over + self.options.expire:
                    what = f"{due.item.title} ({due.lead.dutch()} vooraf)"
                    if len(self.tally.expired) < 1000 or what in self.tally.expired:
                        self.tally.expired[what] = self.tally.expired.get(what, 0) + 1
                    expired.append((runbook.id, recipient.key, due.item.id, due.lead.key))
                else:
                    send.append(due)
            if not send:
                continue
            keys = [(d.item.id, d.lead.key) for d in send]
            message = NewMessage(
                msgid=reminder_id(runbook.id, recipient.key, keys, self.sender_address),
                kind="reminder",
                runbook=runbook.id,
                role=role,
                email=recipient.key,
                name=recipient.name,
                date=self.date,
                ref="",
                items=tuple(NewItem(item=d.item.id, lead=d.lead.key, late=d.late) for d in send),
            )
            if write:
                batch.append(message)
                # a mailbox in two roles gets an item once (in the first role's message)
                handled.update((recipient.key, i, lead) for i, lead in keys)
            else:
                _, rendered = self.composer.reminder(runbook, role, send)
                self.tally.planned.append(f"{recipient.email}\t{rendered.subject}")
        if write:
            self.state.enqueue(batch, expired)

    def _queue_notices(self, runbook: Runbook, write: bool) -> None:
        """A change notice for each subscriber of an affected role, once per published
        version (on the first run, subscribers know the published version)."""
        if not runbook.versions:
            return
        current = runbook.versions[0].version
        new_path = changes.snapshot_path(self.options.dist, runbook.id, current)
        if not new_path.is_file():
            return  # not published (yet): nothing to tell
        seen = self.state.seen(runbook.id)
        if seen == current:
            return
        if seen is not None:
            for role, lines in self._changes_since(runbook, seen, current, new_path).items():
                self._queue_notice(runbook, role, (seen, current), lines, write)
        if write:
            # together with the last notices' rows: told once per version, however it ends
            self.state.set_seen(runbook.id, current)

    def _changes_since(
        self, runbook: Runbook, seen: str, current: str, new_path: Path
    ) -> dict[str, tuple[str, ...]]:
        """The changes from version `seen` to `current`, by role; none (noted) when a
        published snapshot is missing."""
        old = changes.read_snapshot(changes.snapshot_path(self.options.dist, runbook.id, seen))
        new = changes.read_snapshot(new_path)
        if old is None or new is None:
            self.tally.notes.append(
                f"{runbook.id}: no change notice from version {seen} to {current}: the"
                f" published snapshot of version {seen} is missing in {self.options.dist}"
            )
            return {}
        return changes.notice(runbook, seen, old, current, new).by_role

    def _queue_notice(
        self,
        runbook: Runbook,
        role: str,
        versions: tuple[str, str],
        lines: tuple[str, ...],
        write: bool,
    ) -> None:
        """One role's change notice: stored once, queued for each of its subscribers."""
        recipients = self.options.subscribers.by_role.get(role, ())
        if not recipients:
            return
        old, new = versions
        if not write:
            _, rendered = self.composer.notice(runbook, role, old, new, lines)
            self.tally.planned.extend(f"{r.email}\t{rendered.subject}" for r in recipients)
            return
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
                    )
                    for r in recipients[start : start + CHUNK]
                ]
            )

    # ------------------------------------------------------------------ deliver

    def compose(self, q: Queued) -> Mail | None:
        """The queued message, or None when it no longer applies (cancelled)."""
        runbook = self.runbooks[q.runbook]
        recipient = self.members.get(q.role, {}).get(q.email)
        if recipient is None:
            return None  # unsubscribed since it was queued
        rendered: Rendered
        key: tuple[object, ...]
        if q.kind == "change":
            lines = self.state.notice_lines(q.ref)
            if not lines:
                return None
            old, new = self._notice_versions(q)
            key, rendered = self.composer.notice(runbook, q.role, old, new, lines)
        else:
            dues = []
            for item_id, lead_key, late in self.state.items_of(q):
                due = self._due(runbook, item_id, lead_key, late)
                # gone from the runbook, or over for too long while it waited in the queue
                if due is not None and self.options.at <= due.over + self.options.expire:
                    dues.append(due)
            if not dues:
                return None
            dues.sort(key=lambda d: (d.item.start, d.item.id, d.lead.key))
            key, rendered = self.composer.reminder(runbook, q.role, dues)
        to = Address(display_name=recipient.name, addr_spec=recipient.email)
        return self.composer.message(key, rendered, to=to, date=q.date, msgid=q.msgid)

    def _due(self, runbook: Runbook, item_id: str, lead_key: str, late: bool) -> Due | None:
        key = (runbook.id, item_id, lead_key, late)
        if key not in self._dues:
            item = self._items.get(runbook.id, {}).get(item_id)
            lead = _lead(lead_key)
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

    def _notice_versions(self, q: Queued) -> tuple[str, str]:
        row = self.state.db.execute(
            "SELECT old, new FROM notices WHERE id = ?", (int(q.ref),)
        ).fetchone()
        return (str(row[0]), str(row[1])) if row else ("?", "?")

    def deliver(self, sender: Sender) -> None:
        """Every queued message in order, a page at a time."""
        total = self.state.db.execute(
            "SELECT count(*) FROM messages WHERE status IN ('queued', 'claimed', 'deferred')"
        ).fetchone()[0]
        done, last_id, shown = 0, 0, 0.0
        skipped: dict[str, int] = {}
        while page := self.state.pending(after=last_id, limit=CHUNK):
            for q in page:
                last_id = q.id
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
        """Compose, claim, hand over and record one message; False when it was cancelled."""
        message = self.compose(q)
        if message is None:
            self.state.finish(q, "cancelled", "unsubscribed, or its items are gone or expired")
            self.tally.add("cancelled")
            return False
        if q.status == "claimed":
            self.tally.resent.append(f"{message.to} {q.msgid}")
        self.state.claim(q)  # before the server sees it
        try:
            outcome = self._hand_over(sender, message, q)
        except NotifyError as exc:
            self.state.finish(q, "deferred", str(exc))
            raise
        self.state.finish(q, outcome.status, outcome.reply)
        self.tally.record(outcome.status, f"{message.to}: {outcome.reply} ({message.subject})")
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
                return sender.send(message, envelope_from, q.email)
            except ConnectionLostError as lost:
                reply = lost.reply
                sender.reconnect()  # NotifyError when the server is gone: the run stops
        return Outcome(
            status="deferred", reply=f"{reply} (outcome unknown; same Message-ID next run)"
        )


def run(options: Options) -> Report:
    """The whole run; raises NotifyError (a StateError included) only before sending."""
    verb = "would send" if options.dry_run else ("written" if options.outbox else "sent")
    tally = RunTally(verb=verb)
    with open_state(options.state, wait=options.lock_wait, readonly=options.dry_run) as opened:
        if opened.migrated:
            tally.notes.append(opened.migrated)
        work = _Run(options, opened.state, tally)
        if options.dry_run:
            waiting = opened.state.counts()
            earlier = sum(waiting.get(s, 0) for s in ("queued", "claimed", "deferred"))
            if earlier:
                tally.notes.append(f"{earlier} message(s) queued by earlier runs would go out too")
            work.queue(write=False)
            return tally.report()
        opened.state.check_writable()  # a state that cannot record stops us here
        work.queue(write=True)
        sender: Sender
        try:
            sender = (
                SmtpSender(options.smtp)
                if options.smtp
                else OutboxSender(options.outbox or Path("outbox"))
            )
        except NotifyError as exc:
            tally.stopped.append(f"{exc}; nothing was sent")
            return tally.report()
        try:
            work.deliver(sender)
        except NotifyError as exc:
            tally.stopped.append(str(exc))
        finally:
            sender.close()
    return tally.report()
