"""The messages, in Dutch, plain text and HTML, from templates/mail/.

Text is rendered once per distinct content (runbook, role, the reminders and whether
each is late; or one change notice for a role) and kept in a small cache; only the
greeting differs between recipients, so it is put in afterwards. Headers go through
`email.headerregistry`: a display name is quoted by the library and can never add a
recipient.

A change notice for a mailbox in several roles is one message for all of them: the
template's `role` is then those roles together (their names joined, the runbook's page
and its feed with every role).

An address whose local part is not ASCII can only travel with SMTPUTF8: its message's
own headers are written in UTF-8 (RFC 6532) and marked so; every other message is ASCII.

Subjects stay within SUBJECT_MAX characters and name the runbook by `short_name`; the
details are in the body. A reminder's subject counts what it is about by kind
(calgen.notify.due.NOUNS) and says how many of them are late (`[2 van 4 te laat]
Herinnering Migratie naar iWmo/iJw 3.1: 2 mijlpalen, 1 fase en 1 advies`); a change
notice's names the moved, added and cancelled milestones (`Gewijzigd: Migratie naar
iWmo/iJw 3.1, versie 1.1: 3.1.2 en 3.1.3 verschoven`) and its body links each line to
the milestone's row on the page.
"""

from __future__ import annotations

import email.policy
import email.quoprimime
import email.utils
import hashlib
import html
import re
import secrets
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage

import jinja2

from calgen.core import dutch, layout, schedule
from calgen.notify import changes, unsubscribe
from calgen.notify.due import Due, counted
from calgen.notify.state import NotifyError
from calgen.runbook.items import milestone_link
from calgen.runbook.model import Role, Runbook

_WIRE = email.policy.SMTP  # CRLF line ends, as SMTP and .eml files want them
_WIRE_UTF8 = email.policy.SMTPUTF8  # the same, headers in UTF-8 (RFC 6532)
# the recipient's own headers are never folded into RFC 2047 words (a long unsubscribe
# link must stay a URL): lines up to RFC 5322's limit of 998 characters
_HEAD = _WIRE.clone(max_line_length=998)
_HEAD_UTF8 = _WIRE_UTF8.clone(max_line_length=998)
_GREETING = "\x00GROET\x00"  # stands for "Beste …" until the recipient is known
# stands for the recipient's unsubscribe link in the footer: the encoded body is shared by
# every recipient, so the link goes in afterwards (see `_with_link`). ASCII that
# quoted-printable leaves as it is, with a random part so that no runbook text can be it.
_NONCE = secrets.token_hex(4)
_LINK = f"@@AFMELDLINK-{_NONCE}@@"
_LINK_HTML = f"@@AFMELDLINKH-{_NONCE}@@"  # the same in the HTML part, where it is escaped
_CACHE_SIZE = 256
SUBJECT_MAX = 98  # characters of a subject; a longer one is cut at a word, with "…"
SHORT_MAX = 40  # characters of a short name taken from a title
_DRAAIBOEK = re.compile(r"^(landelijk\s+)?draaiboek\s+", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True, slots=True)
class Mail:
    """One message, ready to hand over."""

    msgid: str
    to: str  # the To header, for reports
    rcpt: str  # the envelope recipient
    subject: str
    data: bytes  # RFC 5322, CRLF line ends
    utf8: bool = False  # needs a server offering SMTPUTF8


@dataclass(frozen=True, kw_only=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str
    list_id: str = ""


def _phrase(text: str) -> str:
    """A display name as one RFC 5322 quoted string: no control characters (so no
    newline), quotes and backslashes escaped by the email package."""
    clean = " ".join("".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in text).split())
    return f'"{email.utils.quote(clean)}"'


def fit(text: str, limit: int = SUBJECT_MAX) -> str:
    """`text` on one line, cut at a word to at most `limit` characters (with "…")."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 1)]
    if text[len(cut)] != " " and " " in cut.strip():
        cut = cut.rsplit(" ", 1)[0]  # no half word
    return cut.rstrip(" ,;:(–-") + "…"


def short_name(runbook: Runbook) -> str:
    """The runbook as a subject names it. From its standards and the release it
    migrates to (`Migratie naar iWmo/iJw 3.1`, `Migratie naar iWmo 2.2`); without both,
    its title without a leading `Landelijk draaiboek`, cut at a word to SHORT_MAX."""
    if runbook.standards and runbook.release_to:
        return fit(f"Migratie naar {'/'.join(runbook.standards)} {runbook.release_to}", SHORT_MAX)
    title = _DRAAIBOEK.sub("", " ".join(runbook.title.split())) or runbook.title
    return fit(title[:1].upper() + title[1:], SHORT_MAX)


def _and(parts: Sequence[str]) -> str:
    """`a`, `a en b`, `a, b en c`; "" for none."""
    return ", ".join(parts[:-1]) + " en " + parts[-1] if len(parts) > 1 else "".join(parts)


def late_label(late: int, total: int) -> str:
    """`[te laat] ` when every item is late, `[2 van 4 te laat] ` when some are, or ""."""
    if not late:
        return ""
    return "[te laat] " if late == total else f"[{late} van {total} te laat] "


def reminder_subject(runbook: Runbook, dues: Sequence[Due]) -> str:
    """One item: its title (cut to fit) and day; several: how many of each kind, as many
    kinds as fit and the rest as `N andere`. Late ones counted in front."""
    head = f"{late_label(sum(d.late for d in dues), len(dues))}Herinnering {short_name(runbook)}: "
    if len(dues) == 1:
        item = dues[0].item
        local = item.start.astimezone(schedule.AMSTERDAM)
        day = f", {local.day} {dutch.month_name(local)}"
        return fit(head + fit(item.title, max(SUBJECT_MAX - len(head) - len(day), 12)) + day)
    kinds = counted([d.item.noun for d in dues])
    for shown in range(len(kinds), 0, -1):
        rest = len(dues) - sum(n for n, _ in kinds[:shown])
        words = [text for _, text in kinds[:shown]] + ([f"{rest} andere"] if rest else [])
        if len(head) + len(_and(words)) <= SUBJECT_MAX:
            return head + _and(words)
    return fit(head + _and([text for _, text in kinds]))


def notice_subject(runbook: Runbook, new: str, lines: Sequence[str]) -> str:
    """The changes by verb, in the first of these forms that fits: their ids (`3.1.2 en
    3.1.3 verschoven, 3.1.4 toegevoegd`; more than three of a verb counted, `12 mijlpalen
    verschoven, 3.1.4 toegevoegd`), how many (`12 mijlpalen verschoven en 1 toegevoegd`,
    then `12 verschoven en 1 toegevoegd`), or how many changes in all (`14 wijzigingen`)."""
    head = f"Gewijzigd: {short_name(runbook)}, versie {new}: "
    by_verb: dict[str, list[str]] = {verb: [] for verb in changes.NOTIFIED}
    other = 0
    for line in lines:
        ident, verb = changes.about(line)
        if verb:
            by_verb[verb].append(ident)
        else:
            other += 1  # a line in no form calgen writes: counted, not named
    groups = [(ids, verb) for verb, ids in by_verb.items() if ids]
    bare = [f"{len(ids)} {verb}" for ids, verb in groups]
    numbered = [
        f"{len(ids)} {'mijlpaal' if len(ids) == 1 else 'mijlpalen'} {verb}" for ids, verb in groups
    ]
    named = [
        f"{_and(ids)} {verb}" if len(ids) <= 3 else n
        for (ids, verb), n in zip(groups, numbered, strict=True)
    ]
    nouned = numbered[:1] + bare[1:]  # `12 mijlpalen verschoven en 1 toegevoegd`
    extra = [f"{other} {'wijziging' if other == 1 else 'wijzigingen'}"] if other else []
    total = f"{len(lines)} {'wijziging' if len(lines) == 1 else 'wijzigingen'}"
    for text in (", ".join(named + extra), _and(nouned + extra), _and(bare + extra), total):
        if text and len(head) + len(text) <= SUBJECT_MAX:
            return head + text
    return fit(head + total)


def list_id(role: Role, domain: str) -> str:
    """The List-Id of a role (RFC 2919): its name as the phrase, its id as a label under
    draaiboeken.<the sender's domain>; anything but a-z, 0-9 and - becomes -."""
    label = re.sub(r"[^a-z0-9-]+", "-", role.id.lower()).strip("-") or "rol"
    host = re.sub(r"[^a-z0-9.-]+", "-", (domain or "calgen").lower()).strip(".-") or "calgen"
    return f"{_phrase(f'Draaiboek migratie - {role.name}')} <{label}.draaiboeken.{host}>"


def message_id(parts: Sequence[str], sender: Address) -> str:
    """The same content for the same recipient, the same id: a resend is recognisable."""
    digest = hashlib.sha256("\n".join(sorted(parts)).encode()).hexdigest()[:24]
    return f"<{digest}@{sender.domain or 'calgen'}>"


def reminder_id(runbook: str, email: str, keys: Sequence[tuple[str, str]], sender: Address) -> str:
    return message_id([f"{runbook}|{item}|{lead}|{email}" for item, lead in keys], sender)


def notice_id(runbook: str, old: str, new: str, role: str, email: str, sender: Address) -> str:
    return message_id([f"{runbook}|wijziging|{old}|{new}|{role}|{email}"], sender)


class Composer:
    def __init__(
        self,
        env: jinja2.Environment,
        sender: Address,
        base_url: str,
        *,
        unsubscribe_mailto: str = "",
        unsubscribe_url: str = "",
        secret: bytes | None = None,
    ) -> None:
        """`unsubscribe_mailto`: the address for List-Unsubscribe (default: the sender's);
        `unsubscribe_url` with `secret`: an https link with a per-recipient token too, and
        one-click (RFC 8058)."""
        self.env = env
        self.sender = sender
        self.unsubscribe_address = unsubscribe_mailto or sender.addr_spec
        self.mailto = f"<mailto:{self.unsubscribe_address}?subject=afmelden>"
        self.unsubscribe_url = unsubscribe_url if secret is not None else ""
        self.secret = secret
        self.base = base_url.rstrip("/")
        self._cache: OrderedDict[tuple[object, ...], Rendered] = OrderedDict()
        self._bodies: OrderedDict[tuple[tuple[object, ...], str], bytes] = OrderedDict()
        self.renders = 0  # how many times templates ran (tests check the reuse)

    def _context(self, runbook: Runbook, roles: Sequence[str]) -> dict[str, object]:
        """What every message's templates get: the runbook, the role (several roles as
        one), the greeting and links built from the base URL only (no address from data
        ends up in a mail)."""
        base = self.base
        if len(roles) == 1:
            role, page, feed = runbook.role(roles[0]), roles[0], roles[0]
        else:
            names = [runbook.role(r).name for r in roles]
            joined = f"{', '.join(names[:-1])} en {names[-1]}"
            role, page, feed = Role(id="+".join(roles), name=joined), None, layout.ALL
        return {
            "runbook": runbook,
            "role": role,
            "greeting": _GREETING,
            "unsubscribe_address": self.unsubscribe_address,
            "unsubscribe_link": _LINK if self.unsubscribe_url else "",
            "page": layout.runbook_url(base, runbook.id, layout.role_page(page)),
            "feed": layout.runbook_url(base, runbook.id, layout.feed_file(feed)),
        }

    def _hit(self, key: tuple[object, ...]) -> Rendered | None:
        found = self._cache.get(key)
        if found is not None:
            self._cache.move_to_end(key)
        return found

    def _cached(
        self, key: tuple[object, ...], make: dict[str, object], names: tuple[str, str, str]
    ) -> Rendered:
        subject, text, markup = (self.env.get_template(n).render(make) for n in names)
        role = make["role"]
        assert isinstance(role, Role)
        found = Rendered(
            subject=fit(subject),
            text=text,
            html=markup,
            list_id=list_id(role, self.sender.domain),
        )
        self.renders += 1
        self._cache[key] = found
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return found

    def reminder(
        self, runbook: Runbook, role: str, dues: Sequence[Due]
    ) -> tuple[tuple[object, ...], Rendered]:
        key = ("reminder", runbook.id, role, tuple((d.item.id, d.lead.key, d.late) for d in dues))
        if (found := self._hit(key)) is not None:
            return key, found
        # one entry per item, even when several of its lead times are due at once: the
        # latest of them, which says whether it comes late (a missed earlier one does not
        # make an item late whose latest reminder is on time)
        seen: dict[str, Due] = {}
        for due in dues:
            if due.item.id not in seen or due.trigger > seen[due.item.id].trigger:
                seen[due.item.id] = due
        entries = [
            {
                "item": d.item,
                "when": dutch.when(d.item.start, d.item.end),
                "lead": d.lead.dutch(),
                "late": d.late,
                "trigger": dutch.when(d.trigger),
            }
            for d in seen.values()
        ]
        late = [e for e in entries if e["late"]]
        context = self._context(runbook, (role,)) | {
            "subject": reminder_subject(runbook, list(seen.values())),
            "entries": entries,
            "counts": _and([text for _, text in counted([d.item.noun for d in seen.values()])]),
            "late": late,  # the late entries, in the order of `entries`
        }
        names = ("mail/subject.txt.j2", "mail/reminder.txt.j2", "mail/reminder.html.j2")
        return key, self._cached(key, context, names)

    def notice(
        self, runbook: Runbook, roles: Sequence[str], old: str, new: str, lines: Sequence[str]
    ) -> tuple[tuple[object, ...], Rendered]:
        key = ("notice", runbook.id, tuple(roles), old, new, tuple(lines))
        if (found := self._hit(key)) is not None:
            return key, found
        on_page = {m.id for m in runbook.milestones}
        entries = []
        for line in lines:
            ident, verb = changes.about(line)
            # a moved or added milestone has a row on the page; a cancelled one has none
            linked = verb in ("verschoven", "toegevoegd") and ident in on_page
            link = milestone_link(self.base, runbook, ident) if linked else ""
            entries.append({"line": line, "id": ident, "rest": line[len(ident) :], "link": link})
        context = self._context(runbook, roles) | {
            "subject": notice_subject(runbook, new, lines),
            "old": old,
            "new": new,
            "changes": entries,
        }
        names = ("mail/change-subject.txt.j2", "mail/change.txt.j2", "mail/change.html.j2")
        return key, self._cached(key, context, names)

    def message(
        self,
        key: tuple[object, ...],
        rendered: Rendered,
        *,
        to: Address,
        date: str,
        msgid: str,
        role: str = "",
        utf8: bool = False,
    ) -> Mail:
        """The whole message as it goes on the wire (CRLF line ends).

        Two parts, both flattened by the `email` package: the recipient's own headers (To,
        Date, Message-ID) and the rest (Subject, From, the MIME body), which is the same for
        everyone with the same content and greeting and so is built once and reused.
        `utf8`: the address has a non-ASCII local part, so its headers are UTF-8.
        `role`: what the recipient gets this as (the unsubscribe token names it).
        """
        greeting = f"Beste {to.display_name}" if to.display_name else "Beste lezer"
        body = self._bodies.get((key, greeting))
        if body is None:
            body = self._body(rendered, greeting)
            self._bodies[(key, greeting)] = body
            if len(self._bodies) > _CACHE_SIZE:
                self._bodies.popitem(last=False)
        else:
            self._bodies.move_to_end((key, greeting))
        head = EmailMessage()
        head["To"] = to
        head["Date"] = date
        head["Message-ID"] = msgid
        link = self._link(to.addr_spec, role, date)
        head["List-Unsubscribe"] = f"<{link}>, {self.mailto}" if link else self.mailto
        if link:
            head["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058
            body = _with_link(body, link)
        own = head.as_bytes(policy=_HEAD_UTF8 if utf8 else _HEAD)
        assert own.endswith(b"\r\n\r\n")  # headers, then the empty line before a body
        return Mail(
            msgid=msgid,
            to=str(head["To"]),
            rcpt=to.addr_spec,
            subject=rendered.subject,
            data=own[:-2] + body,
            utf8=utf8,
        )

    def _link(self, address: str, role: str, date: str) -> str:
        """The https unsubscribe link with this recipient's token, or "" when none is
        configured (or the secret is not set). The token's expiry follows from the
        message's date, so a resend carries the same bytes."""
        if not self.unsubscribe_url or self.secret is None:
            return ""
        expires = int(email.utils.parsedate_to_datetime(date).timestamp()) + unsubscribe.LIFETIME
        token = unsubscribe.make_token(self.secret, address, role, expires)
        return unsubscribe.link(self.unsubscribe_url, token)

    def _body(self, rendered: Rendered, greeting: str) -> bytes:
        # the Subject on one line (it is at most SUBJECT_MAX characters): folded at 78,
        # Python's email package may begin it with a space or double one before an
        # encoded word (`Alle \r\n =?utf-8?…`), and readers would show both
        subject = EmailMessage()
        subject["Subject"] = rendered.subject
        line = subject.as_bytes(policy=_HEAD)
        assert line.count(b"\r\n") == 2  # one line, then the empty one
        message = EmailMessage()
        message["From"] = self.sender
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
        if rendered.list_id:
            message["List-Id"] = rendered.list_id  # RFC 2919: one list per role
        # quoted-printable always (never base64): `_with_link` puts the link in afterwards
        text = rendered.text.replace(_GREETING, greeting)
        markup = rendered.html.replace(_GREETING, html.escape(greeting)).replace(_LINK, _LINK_HTML)
        message.set_content(text, cte="quoted-printable")
        message.add_alternative(markup, subtype="html", cte="quoted-printable")
        # set_content() clears every Content-* header: the language goes on the parts
        for part in message.iter_parts():
            part["Content-Language"] = "nl"
        encoded = message.as_bytes(policy=_WIRE)
        wanted = text.count(_LINK) + markup.count(_LINK_HTML)
        if encoded.count(_LINK.encode()) + encoded.count(_LINK_HTML.encode()) != wanted:
            raise NotifyError(
                "templates/mail: the unsubscribe link ({{ unsubscribe_link }}) must stand on a"
                " short line (its quoted-printable encoding broke it); nothing was sent"
            )
        return line[:-2] + encoded


def _with_link(body: bytes, link: str) -> bytes:
    """The shared, encoded body with `link` where the footer has _LINK (text part) and
    _LINK_HTML (HTML part, escaped there).

    Both parts are quoted-printable and the placeholders are short ASCII on short lines,
    so they stand as they are in the encoded body (`_body` checks). Each is replaced by a
    soft line break, the link in quoted-printable lines of at most 75 characters, each
    ending in a soft break (so at most 76): decoded, exactly the link where the
    placeholder was. The link is calgen's own (an https URL and a base64url token), so it
    holds no line end. Only the parts are searched, never the headers before them."""
    head, blank, parts = body.partition(b"\r\n\r\n")
    for placeholder, value in ((_LINK, link), (_LINK_HTML, html.escape(link, quote=True))):
        encoded = email.quoprimime.body_encode(value, maxlinelen=75, eol="\r\n")
        parts = parts.replace(placeholder.encode(), b"=\r\n" + encoded.encode() + b"=\r\n")
    return head + blank + parts
