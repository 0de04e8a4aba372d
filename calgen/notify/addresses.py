"""The subscribers file: addresses and display names through `email.headerregistry`.

One address per entry, no control characters anywhere, display names always quoted by
the standard library (so `Café, evil@evil.example` stays a name, never a second
recipient), duplicates within a role merged case-insensitively, and `from:` a single
address whose display name holds no address.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address, HeaderRegistry
from pathlib import Path

from calgen.core.errors import Diagnostics
from calgen.runbook.load import PathKey, format_path, load_file

DEFAULT_FROM = Address("Landelijk draaiboek migratie", "calgen", "localhost")
# on top of the standard library's parse: a domain with a dot, nothing exotic
_PLAIN = re.compile(r"^[^@\s<>(),;:\"\[\]\\]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_REGISTRY = HeaderRegistry()


@dataclass(frozen=True, kw_only=True, slots=True)
class Recipient:
    email: str  # as written (the key is its lower case)
    name: str = ""

    @property
    def key(self) -> str:
        return self.email.lower()

    @property
    def address(self) -> Address:
        return Address(display_name=self.name, addr_spec=self.email)


@dataclass(frozen=True, kw_only=True, slots=True)
class Subscribers:
    sender: Address
    by_role: dict[str, tuple[Recipient, ...]]


def _control(text: str) -> bool:
    return any(not c.isprintable() for c in text)


def check_address(text: str) -> str | None:
    """Why `text` is not one plain e-mail address, or None when it is."""
    if _control(text):
        return "control characters (such as a newline) in an e-mail address"
    try:
        parsed = Address(addr_spec=text)
    except (ValueError, HeaderParseError, IndexError) as exc:
        return f"not a valid e-mail address: {text!r} ({exc})"
    if parsed.addr_spec != text or not _PLAIN.match(text):
        return f"not a valid e-mail address: {text!r}"
    return None


def check_name(name: str) -> str | None:
    if _control(name):
        return "control characters (such as a newline) in a display name"
    if len(name) > 200:
        return "a display name of more than 200 characters"
    return None


def parse_sender(text: str) -> Address | str:
    """The `from:` value as one Address, or why it is not acceptable."""
    if _control(text):
        return "control characters (such as a newline) in 'from'"
    try:
        header = _REGISTRY("From", text)
    except (ValueError, HeaderParseError, IndexError) as exc:
        return f"'from' is not an e-mail address: {text!r} ({exc})"
    addresses = header.addresses  # type: ignore[attr-defined]
    if header.defects or len(addresses) != 1:
        return f"'from' is not one e-mail address: {text!r}"
    address: Address = addresses[0]
    if check_address(address.addr_spec):
        return f"'from' is not an e-mail address: {text!r}"
    if "@" in address.display_name or "<" in address.display_name:
        return f"the display name of 'from' must not hold an address: {text!r}"
    return address


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
            found = (
                parse_sender(data["from"])
                if isinstance(data["from"], str)
                else f"'from' is not an e-mail address: {data['from']!r}"
            )
            if isinstance(found, str):
                diags.error(doc.pos(("from",)), found)
            else:
                sender = found
        subs = data.get("subscribers")
        if not isinstance(subs, dict):
            diags.error(
                doc.pos(("subscribers",)), "`subscribers` maps role ids to lists of addresses"
            )
            subs = {}
        for role, entries in subs.items():
            path_role: PathKey = ("subscribers", role)
            if role not in known:
                hint = ", ".join(sorted(known))
                diags.error(doc.key_pos(path_role), f"unknown role '{role}' (known: {hint})")
                continue
            if not isinstance(entries, list):
                diags.error(doc.pos(path_role), f"role '{role}': expected a list of addresses")
                continue
            recipients: dict[str, Recipient] = {}
            for i, entry in enumerate(entries):
                where: PathKey = (*path_role, i)
                email, name = (entry, "") if isinstance(entry, str) else (None, "")
                if isinstance(entry, dict):
                    unknown = set(entry) - {"email", "name"}
                    if unknown:
                        diags.error(
                            doc.pos(where),
                            f"unknown key '{sorted(map(str, unknown))[0]}' (allowed: email, name)",
                            format_path(where),
                        )
                        continue
                    email, name = entry.get("email"), entry.get("name", "")
                    where = (*where, "email")
                if not isinstance(email, str):
                    diags.error(
                        doc.pos(where),
                        f"not a valid e-mail address: {entry!r}",
                        format_path(where),
                    )
                    continue
                problem = check_address(email)
                if problem is None and not isinstance(name, str):
                    where, problem = (*where[:-1], "name"), "the name must be text"
                elif problem is None and (problem := check_name(name)) is not None:
                    where = (*where[:-1], "name")
                if problem:
                    diags.error(doc.pos(where), problem, format_path(where))
                    continue
                recipient = Recipient(email=email, name=str(name).strip())
                # the same mailbox twice in a role (other case, other name): one message
                recipients.setdefault(recipient.key, recipient)
            by_role[role] = tuple(recipients.values())
    diags.raise_if_errors()
    return Subscribers(sender=sender, by_role=by_role)
