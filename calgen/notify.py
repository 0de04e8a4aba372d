"""E-mail reminders that arrive exactly once: `calgen notify`.

Calendar clients drop reminders from subscribed feeds (Google ignores VALARM, Apple offers
to strip them), so calgen also mails each role's subscribers when a reminder is due. The
lead times are the feeds' (calgen.reminders). A state file records every (runbook, item,
lead time, recipient) that went out, written atomically after each accepted message, so a
rerun sends nothing twice and a run that failed part-way sends only the rest.

Which reminders a run sends, at moment `at`:
- due: its moment has come (`trigger <= at`) and it is not in the state file;
- late: due for more than LATE_AFTER when first seen (cron did not run): sent once,
  marked late in subject and text;
- expired: its event ended more than `expire` ago: not sent (a 2018 deadline helps
  nobody), but listed on stderr and recorded, so it is never silently dropped nor repeated.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import smtplib
import ssl
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from urllib.parse import urlsplit

import jinja2

from calgen.errors import Diagnostics, InvalidRunbook, Pos
from calgen.load import format_path, load_file
from calgen.model import Runbook
from calgen.reminders import Lead
from calgen.render import dutch
from calgen.render.document import anchor
from calgen.render.ics import phase_label, summary

LATE_AFTER = dt.timedelta(hours=6)
DEFAULT_EXPIRE = dt.timedelta(days=14)
DEFAULT_FROM = "Landelijk draaiboek migratie <calgen@localhost>"
_EMAIL = re.compile(r"^[^@\s<>(),;:\"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


class NotifyError(Exception):
    """A failure while sending: what went out is recorded; the rest goes next run."""


# --------------------------------------------------------------------------- subscribers


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str = ""

    @property
    def address(self) -> str:
        return formataddr((self.name, self.email)) if self.name else self.email


@dataclass(frozen=True)
class Subscribers:
    sender: str
    by_role: dict[str, tuple[Recipient, ...]]


def load_subscribers(path: Path, roles: Iterable[str]) -> Subscribers:
    """Read the subscribers file; every problem with file:line:col, then raise once.

    from: "Draaiboek <draaiboek@example.org>"    # optional
    subscribers:
      gemeenten: [planning@gemeente.nl, {email: ict@gemeente.nl, name: ICT}]
    """
    diags = Diagnostics()
    doc = load_file(path, diags)
    known = set(roles)
    by_role: dict[str, tuple[Recipient, ...]] = {}
    sender = DEFAULT_FROM
    data = doc.data
    if not diags.errors and not isinstance(data, dict):
        diags.error(doc.pos(()), "a subscribers file is a mapping with `subscribers:`")
    elif not diags.errors:
        for key in data:
            if key not in ("from", "subscribers"):
                diags.error(
                    doc.key_pos((key,)), f"unknown key '{key}' (allowed: from, subscribers)"
                )
        if "from" in data:
            if not isinstance(data["from"], str) or not _EMAIL.match(parseaddr(data["from"])[1]):
                diags.error(
                    doc.pos(("from",)), f"'from' is not an e-mail address: {data['from']!r}"
                )
            else:
                sender = data["from"]
        subs = data.get("subscribers")
        if not isinstance(subs, dict):
            diags.error(
                doc.pos(("subscribers",)), "`subscribers` maps role ids to lists of addresses"
            )
            subs = {}
        for role, entries in subs.items():
            path_role = ("subscribers", role)
            if role not in known:
                hint = ", ".join(sorted(known))
                diags.error(doc.key_pos(path_role), f"unknown role '{role}' (known: {hint})")
                continue
            if not isinstance(entries, list):
                diags.error(doc.pos(path_role), f"role '{role}': expected a list of addresses")
                continue
            recipients = []
            for i, entry in enumerate(entries):
                where = (*path_role, i)
                email, name = (entry, "") if isinstance(entry, str) else (None, "")
                if isinstance(entry, dict):
                    email, name = entry.get("email"), entry.get("name", "")
                if not isinstance(email, str) or not _EMAIL.match(email):
                    diags.error(
                        doc.pos(where),
                        f"not a valid e-mail address: {email or entry!r}",
                        format_path(where),
                    )
                    continue
                recipients.append(Recipient(email, str(name)))
            by_role[role] = tuple(recipients)
    diags.raise_if_errors()
    return Subscribers(sender, by_role)


# --------------------------------------------------------------------------- what is due


@dataclass(frozen=True)
class Item:
    """Something a reminder is about: a phase, a milestone or a dated fact."""

    runbook: Runbook
    kind: str
    id: str  # milestone number, `fase-afsluiting`, `datum-kto`
    title: str
    start: dt.datetime
    end: dt.datetime | None
    audience: frozenset[str]
    own: tuple[Lead, ...] | None
    description: str = ""
    actionholder: str = ""
    messages: tuple[str, ...] = ()
    link: str = ""  # the milestone's row on the page


@dataclass(frozen=True)
class Due:
    item: Item
    lead: Lead
    trigger: dt.datetime
    late: bool

    def key(self, recipient: Recipient) -> str:
        return f"{self.item.runbook.id}|{self.item.id}|{self.lead.key}|{recipient.email.lower()}"


def items(runbook: Runbook, base_url: str) -> list[Item]:
    from calgen.render.ics import actionholder

    base = base_url.rstrip("/")
    every = frozenset(r.id for r in runbook.roles)
    out = [
        Item(runbook, "phase", f"fase-{p.id}", phase_label(p), p.start, p.end, every, None)
        for p in runbook.phases
    ]
    for m in runbook.milestones:
        out.append(
            Item(
                runbook,
                m.kind,
                m.id,
                summary(m),
                m.start,
                m.end,
                m.audience,
                m.reminders,
                m.description or m.title,
                actionholder(runbook, m),
                tuple(f"{r.written} {r.message.name}" for r in m.messages),
                f"{base}/{runbook.id}/#{anchor(m.id)}" if base else "",
            )
        )
    for e in runbook.events:
        out.append(
            Item(
                runbook,
                "event",
                f"datum-{e.id}",
                e.title,
                e.moment,
                e.end,
                frozenset(e.roles),
                e.reminders,
                e.text,
            )
        )
    return out


@dataclass
class Outgoing:
    """One message: the due reminders of one role, for one recipient."""

    runbook: Runbook
    role: str
    recipient: Recipient
    due: list[Due]
    message: EmailMessage | None = None

    @property
    def keys(self) -> list[str]:
        return [d.key(self.recipient) for d in self.due]


@dataclass
class Plan:
    outgoing: list[Outgoing] = field(default_factory=list)
    expired: list[tuple[str, str]] = field(default_factory=list)  # (key, what)


def plan(
    runbooks: Sequence[Runbook],
    subscribers: Subscribers,
    sent: set[str],
    at: dt.datetime,
    base_url: str = "",
    expire: dt.timedelta = DEFAULT_EXPIRE,
) -> Plan:
    """Every message this run must send, and the reminders that expired unsent."""
    result = Plan()
    for runbook in runbooks:
        candidates = items(runbook, base_url)
        for role in runbook.roles:
            per_recipient: dict[Recipient, list[Due]] = {}
            for item in candidates:
                if role.id not in item.audience:
                    continue
                for lead in runbook.reminders.leads(item.kind, role.id, item.own):
                    trigger = lead.trigger(item.start, runbook.calendar)
                    if trigger > at:
                        continue
                    due = Due(item, lead, trigger, late=at - trigger > LATE_AFTER)
                    over = (item.end or item.start) + expire
                    for recipient in subscribers.by_role.get(role.id, ()):
                        key = due.key(recipient)
                        if key in sent:
                            continue
                        if at > over:
                            what = f"{item.title} ({lead.dutch()} vooraf, {recipient.email})"
                            result.expired.append((key, what))
                            continue
                        per_recipient.setdefault(recipient, []).append(due)
            for recipient, dues in per_recipient.items():
                dues.sort(key=lambda d: (d.item.start, d.item.id, d.lead.key))
                result.outgoing.append(Outgoing(runbook, role.id, recipient, dues))
    return result


# --------------------------------------------------------------------------- messages


def compose(
    env: jinja2.Environment,
    out: Outgoing,
    sender: str,
    at: dt.datetime,
    base_url: str,
) -> EmailMessage:
    """The message, in Dutch, plain text and HTML, from templates/mail/."""
    base = base_url.rstrip("/")
    role = out.runbook.role(out.role)
    # one entry per item, even when several of its lead times are due at once
    seen: dict[str, Due] = {}
    for due in out.due:
        seen.setdefault(due.item.id, due)
    context = {
        "runbook": out.runbook,
        "role": role,
        "recipient": out.recipient,
        "entries": [
            {
                "item": d.item,
                "when": dutch.when(d.item.start, d.item.end),
                "lead": d.lead.dutch(),
                "late": d.late,
                "trigger": dutch.when(d.trigger),
            }
            for d in seen.values()
        ],
        "late": any(d.late for d in out.due),
        "page": f"{base}/{out.runbook.id}/{role.id}.html" if base else "",
        "feed": f"{base}/{out.runbook.id}/{role.id}.ics" if base else "",
    }
    message = EmailMessage()
    message["Subject"] = " ".join(env.get_template("mail/subject.txt.j2").render(context).split())
    message["From"] = sender
    message["To"] = out.recipient.address
    message["Date"] = format_datetime(at.astimezone(dt.UTC))
    digest = hashlib.sha256("\n".join(sorted(out.keys)).encode()).hexdigest()[:24]
    domain = parseaddr(sender)[1].rpartition("@")[2] or "calgen"
    message["Message-ID"] = f"<{digest}@{domain}>"  # the same reminders, the same id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    message["Content-Language"] = "nl"
    message.set_content(env.get_template("mail/reminder.txt.j2").render(context))
    message.add_alternative(
        env.get_template("mail/reminder.html.j2").render(context), subtype="html"
    )
    return message


# --------------------------------------------------------------------------- state


def load_state(path: Path) -> dict[str, str]:
    """key -> when it was sent. A missing file is an empty state."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        sent = data["sent"]
        if not isinstance(sent, dict):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidRunbook(
            _one(path, f"not a calgen notify state file ({exc.__class__.__name__})")
        ) from None
    return {str(k): str(v) for k, v in sent.items()}


def save_state(path: Path, sent: dict[str, str]) -> None:
    """Atomically: a crash leaves the old state or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".state-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"version": 1, "sent": dict(sorted(sent.items()))}, fh, indent=1)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _one(path: Path, message: str) -> Diagnostics:
    diags = Diagnostics()
    diags.error(Pos(str(path)), message)
    return diags


# --------------------------------------------------------------------------- delivery


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    tls: bool  # smtps://
    starttls: bool


def parse_smtp_url(url: str, starttls: bool) -> SmtpTarget:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError(f"{url!r}: expected smtp://host:port or smtps://host:port")
    if parts.username or parts.password:
        raise ValueError(
            "put no user or password in the URL: set CALGEN_SMTP_USER and CALGEN_SMTP_PASSWORD"
        )
    port = parts.port or (465 if parts.scheme == "smtps" else 25)
    return SmtpTarget(parts.hostname, port, parts.scheme == "smtps", starttls)


class SmtpSender:
    """One connection per run; each message handed over and accepted, or an error."""

    def __init__(self, target: SmtpTarget, timeout: float = 30) -> None:
        context = ssl.create_default_context()
        self.smtp: smtplib.SMTP | None = None
        try:
            if target.tls:
                self.smtp = smtplib.SMTP_SSL(
                    target.host, target.port, timeout=timeout, context=context
                )
            else:
                self.smtp = smtplib.SMTP(target.host, target.port, timeout=timeout)
                if target.starttls:
                    self.smtp.starttls(context=context)
            user = os.environ.get("CALGEN_SMTP_USER")
            if user:
                self.smtp.login(user, os.environ.get("CALGEN_SMTP_PASSWORD", ""))
        except (OSError, smtplib.SMTPException) as exc:
            self.close()  # a refused login must not leave the connection open
            raise NotifyError(f"cannot use {target.host}:{target.port}: {exc}") from None

    def send(self, message: EmailMessage) -> None:
        assert self.smtp is not None
        try:
            refused = self.smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise NotifyError(
                f"the server did not accept the message to {message['To']}: {exc}"
            ) from None
        if refused:
            raise NotifyError(f"refused recipients: {', '.join(refused)}")

    def close(self) -> None:
        if self.smtp is None:
            return
        try:
            self.smtp.quit()
        except (OSError, smtplib.SMTPException):
            self.smtp.close()
        self.smtp = None


class OutboxSender:
    """Writes each message as an .eml file instead of sending it."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder

    def send(self, message: EmailMessage) -> None:
        name = re.sub(r"[^A-Za-z0-9.@-]", "_", str(message["Message-ID"]).strip("<>"))
        target = self.folder / f"{name}.eml"
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".eml")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(bytes(message))
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def close(self) -> None:
        pass
