"""What the validators of :mod:`calgen.runbook.validate` share while they build one runbook.

:class:`Context` holds the loaded document, the diagnostics, the roles, messages and
contacts of the shared files in `uses` (read by :func:`load_shared`), the paths the
structural check found wrong, and the resolution of absolute and relative times.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from calgen.core import schedule
from calgen.core.errors import Diagnostics
from calgen.core.mailaddress import check_address
from calgen.runbook.check import check
from calgen.runbook.load import (
    Document,
    PathKey,
    SharedPathError,
    format_path,
    load_file,
    shared_path_of,
)
from calgen.runbook.model import Channel, Contact, Message, Role
from calgen.runbook.schema import SHARED_SCHEMA


def _and_above(path: str) -> Iterator[str]:
    """`milestones[4].at` -> itself, `milestones[4]`, `milestones`."""
    yield path
    for i in range(len(path) - 1, 0, -1):
        if path[i] in ".[":
            yield path[:i]


class Context:
    """What the validators share: the document, the diagnostics, and lookups."""

    def __init__(self, doc: Document, diags: Diagnostics, holidays: schedule.HolidayTable) -> None:
        self.doc = doc
        self.diags = diags
        self.roles: dict[str, Role] = {}
        self.messages: dict[str, Message] = {}
        self.contacts: dict[str, Contact] = {}
        # paths the structural check found wrong: domain checks pass over them, so that
        # one run reports every problem without tripping over malformed data
        self.broken: Iterable[str] = ()
        self.suggestions = 0  # did-you-means given (calgen.runbook.context.unknown)
        self._known: dict[str, tuple[list[str], str]] = {}
        # time resolution: relative times refer to go-live or to a milestone's start
        self.holidays = holidays
        self.calendar = schedule.WorkCalendar(holidays=holidays)
        self.go_live: dt.datetime | None = None
        self.milestone_starts: dict[str, tuple[PathKey, str]] = {}
        self.resolved: dict[PathKey, dt.datetime | None] = {}
        self.rules: dict[PathKey, schedule.Relative] = {}

    @property
    def broken(self) -> frozenset[str]:
        return self._broken

    @broken.setter
    def broken(self, paths: Iterable[str]) -> None:
        self._broken = frozenset(p for p in paths if p)
        # every broken path and each path above one: a lookup per path, not per entry
        self._above_broken = frozenset(a for p in self._broken for a in _and_above(p))

    def known_names(self, what: str, known: Collection[str]) -> tuple[list[str], str]:
        """`known` sorted, and the list a message shows: made once per kind of name and
        size, as an unknown reference is reported for every entry that has one."""
        found = self._known.get(what)
        if found is None or len(found[0]) != len(known):
            names = sorted(known)
            listing = ", ".join(names[:MAX_LISTED])
            if len(names) > MAX_LISTED:
                listing += f" and {len(names) - MAX_LISTED} more"
            found = self._known[what] = (names, listing)
        return found

    def is_broken(self, path: PathKey) -> bool:
        """Whether `path` is a broken path, lies inside one, or holds one."""
        if not self._broken:
            return False  # the common case: a structurally sound file
        here = format_path(path)
        return here in self._above_broken or any(a in self._broken for a in _and_above(here))

    def items(self, key: str) -> Iterable[tuple[int, Any]]:
        """The structurally sound entries of the top-level list `key`."""
        values = self.doc.data.get(key)
        if not isinstance(values, list):
            return
        for i, item in enumerate(values):
            if not self.is_broken((key, i)):
                yield i, item

    def value(self, key: str) -> Any:
        """A structurally sound top-level value, or None."""
        return None if self.is_broken((key,)) else self.doc.data.get(key)

    def error(self, path: PathKey, message: str) -> None:
        self.diags.error(self.doc.pos(path), message, format_path(path))

    def warning(self, path: PathKey, message: str) -> None:
        self.diags.warning(self.doc.pos(path), message, format_path(path))

    def time(self, path: PathKey, value: Any) -> dt.datetime | None:
        """An absolute or relative time, resolved; None (with an error) when it cannot be.

        A chain of relative times (`1 day after 3.1.2`, whose 3.1.2 is relative too, …)
        is followed with a loop, never recursion: any length of chain is fine."""
        if path in self.resolved:
            return self.resolved[path]
        chain = [(path, value)]
        in_chain = {path}
        while True:  # collect the unresolved anchors, nearest first
            rule = schedule.parse_relative(chain[-1][1]) if isinstance(chain[-1][1], str) else None
            if rule is None or rule.anchor not in self.milestone_starts:
                break
            anchor_path, anchor_text = self.milestone_starts[rule.anchor]
            if anchor_path in self.resolved or anchor_path in in_chain:
                break
            chain.append((anchor_path, anchor_text))
            in_chain.add(anchor_path)
        for here, text in reversed(chain):  # then resolve from the far end back
            in_chain.discard(here)
            self.resolved[here] = self._resolve(here, text, in_chain)
        return self.resolved[path]

    def _resolve(self, path: PathKey, value: Any, waiting: set[PathKey]) -> dt.datetime | None:
        """`value` at `path`, its anchor already resolved unless it is one of `waiting`
        (the times that wait for this one: a cycle)."""
        rule = schedule.parse_relative(value)
        if rule is None:
            try:
                return schedule.parse_local(value)
            except schedule.TimeError as exc:
                self.error(path, str(exc))
                return None
        self.rules[path] = rule
        if rule.anchor == "go_live":
            anchor = self.go_live
            if anchor is None:
                return None  # go_live itself is wrong, and reported
        else:
            if rule.anchor not in self.milestone_starts:
                unknown(self, path, "milestone", rule.anchor, self.milestone_starts)
                return None
            anchor_path, _anchor_text = self.milestone_starts[rule.anchor]
            if anchor_path in waiting or anchor_path == path:
                self.error(path, f"'{value}' depends on itself through milestone {rule.anchor}")
                return None
            anchor = self.resolved.get(anchor_path)
            if anchor is None:
                return None
        try:
            return rule.resolve(anchor, self.calendar)
        except schedule.TimeError as exc:
            self.error(path, str(exc))
            return None

    def rule(self, path: PathKey) -> str:
        """The relative rule written at `path`, in Dutch, or ""."""
        found = self.rules.get(path)
        return found.dutch() if found else ""

    def date(self, path: PathKey, value: Any) -> dt.date | None:
        try:
            return schedule.parse_date(value)
        except schedule.TimeError as exc:
            self.error(path, str(exc))
            return None


def load_shared(ctx: Context, path: Path, display: str | None) -> None:
    """The shared files of `uses`: each read once, and only as `load.shared_path` allows.
    A shared file's problems name its keys, never its values beyond the offending key."""
    seen: dict[Path, list[int]] = {}
    listed: dict[str, list[int]] = {}
    for i, ref in ctx.items("uses"):
        listed.setdefault(ref, []).append(i)
    for ref, places in listed.items():  # each entry checked and reported once
        i = places[0]
        if len(places) > 1:
            ctx.error(("uses", places[1]), f"shared file '{ref}' is listed {len(places)} times")
        shown = str(Path(display).parent / ref) if display else str(path.parent / ref)
        try:
            shared_path = shared_path_of(path, ref)
        except SharedPathError as exc:
            ctx.error(("uses", i), f"shared file '{ref}' {exc}")
            continue
        if shared_path in seen:
            ctx.error(("uses", i), f"shared file '{ref}' is the same file as an earlier entry")
            continue
        seen[shared_path] = places
        sub = Diagnostics()
        shared = load_file(shared_path, sub, shown)
        if not sub.errors and not isinstance(shared.data, dict):
            sub.error(shared.pos(()), "a shared file is a mapping with roles, messages, contacts")
        if not sub.errors:
            check(shared, SHARED_SCHEMA, sub, echo=False)
        ctx.diags.extend(sub)
        if sub.errors:
            continue
        _collect_shared(ctx, shared)


def _collect_shared(ctx: Context, shared: Document) -> None:
    for i, role in enumerate(shared.data.get("roles", [])):
        if role["id"] in ctx.roles:
            ctx.diags.error(shared.pos(("roles", i, "id")), f"role '{role['id']}' defined twice")
        ctx.roles[role["id"]] = Role(
            id=role["id"], name=role["name"], description=role.get("description", "")
        )
    for i, msg in enumerate(shared.data.get("messages", [])):
        if msg["code"] in ctx.messages:
            ctx.diags.error(shared.pos(("messages", i, "code")), f"message {msg['code']} twice")
        ctx.messages[msg["code"]] = Message(
            code=msg["code"],
            name=msg["name"],
            kind=msg.get("kind", ""),
            sender=msg.get("sender", ""),
        )
    for i, contact in enumerate(shared.data.get("contacts", [])):
        if contact["id"] in ctx.contacts:
            ctx.diags.error(shared.pos(("contacts", i, "id")), f"contact '{contact['id']}' twice")
        check_contact_addresses(shared, ("contacts", i), contact, ctx.diags)
        ctx.contacts[contact["id"]] = build_contact(contact)


def check_contact_addresses(
    doc: Document, path: PathKey, data: dict[str, Any], diags: Diagnostics
) -> None:
    """A contact's e-mail addresses are checked like subscribers' (calgen.core.mailaddress):
    they become mailto: links on every page."""
    found: list[tuple[PathKey, object]] = [(("email",), data.get("email"))]
    found += [
        (("channels", j, "email"), channel.get("email"))
        for j, channel in enumerate(data.get("channels") or [])
        if isinstance(channel, dict)
    ]
    for where, email in found:
        if isinstance(email, str) and (problem := check_address(email)):
            diags.error(doc.pos((*path, *where)), problem, format_path((*path, *where)))


def build_contact(data: dict[str, Any], base: Contact | None = None) -> Contact:
    fields: dict[str, Any] = {}
    for key, value in data.items():
        if key == "ref":
            continue
        if key in ("visit_address", "postal_address"):
            value = tuple(value)
        if key == "channels":
            value = tuple(
                Channel(email=c["email"], audience=c.get("audience", ""), note=c.get("note", ""))
                for c in value
            )
        fields[key] = value
    return dataclasses.replace(base, **fields) if base else Contact(**fields)


# Work per unknown reference stays bounded however many there are: a did-you-mean for
# the first MAX_SUGGESTIONS only, each among at most MAX_CANDIDATES names of about the
# same length, and at most MAX_LISTED known names in the message.
MAX_SUGGESTIONS = 50
MAX_CANDIDATES = 1000
MAX_LISTED = 20


def did_you_mean(value: str, names: Sequence[str]) -> str:
    """`; did you mean 'gemeenten'?`: the name `value` was most likely meant to be,
    among at most MAX_CANDIDATES `names` of about its length; "" when none is close.
    Also the subscribers file's (calgen.notify.addresses)."""
    near = [n for n in names if abs(len(n) - len(value)) <= 3][:MAX_CANDIDATES]
    guess = difflib.get_close_matches(value, near, n=1)
    return f"; did you mean '{guess[0]}'?" if guess else ""


def unknown(ctx: Context, path: PathKey, what: str, value: str, known: Collection[str]) -> None:
    names, listing = ctx.known_names(what, known)
    suggestion = ""
    if ctx.suggestions < MAX_SUGGESTIONS:
        ctx.suggestions += 1
        suggestion = did_you_mean(value, names)
    if not names:
        listing = f"none: is the shared {what}s file in `uses`?"
    ctx.error(path, f"unknown {what} '{value}'{suggestion} (known: {listing})")
