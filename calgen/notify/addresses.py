"""The subscribers file: addresses and display names through `email.headerregistry`.

One address per entry, no control characters anywhere, display names always quoted by
the standard library (so `Café, evil@evil.example` stays a name, never a second
recipient), duplicates within a role merged case-insensitively, and `from:` a single
address whose display name holds no address.

Addresses as RFC 5321 and RFC 6531 have them: a dot-atom local part of at most 64
octets (non-ASCII letters allowed: such an address needs a server offering SMTPUTF8), a
domain of at most 255 octets in labels of at most 63, none starting or ending with a
hyphen, and at most 254 octets in all. An internationalised domain is written on the
wire in its IDNA form (`bücher.example` → `xn--bcher-kva.example`), which every server
takes. One address that cannot be used never stops the others: it is reported with its
file:line:col and skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.headerregistry import Address, HeaderRegistry
from pathlib import Path
from typing import Any

from calgen.core.errors import Diagnostics
from calgen.runbook.load import Document, PathKey, format_path, load_file

DEFAULT_FROM = Address("Landelijk draaiboek migratie", "calgen", "localhost")
_REGISTRY = HeaderRegistry()
_ATEXT = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
)
_LDH = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
MAX_LOCAL, MAX_DOMAIN, MAX_LABEL, MAX_PATH = 64, 255, 63, 254  # octets, RFC 5321 4.5.3.1
SKIPPED = "skipped: that entry gets nothing, everyone else does"


@dataclass(frozen=True, kw_only=True, slots=True)
class Mailbox:
    """An address split and checked: the local part, the domain as written and its IDNA
    (ASCII) form."""

    local: str
    domain: str
    ascii_domain: str

    @property
    def utf8(self) -> bool:
        """Whether it can only be sent with SMTPUTF8 (a non-ASCII local part)."""
        return not self.local.isascii()

    @property
    def wire_domain(self) -> str:
        return self.domain if self.utf8 else self.ascii_domain

    @property
    def wire(self) -> str:
        """What goes in `RCPT TO` and `To`: ASCII whenever the local part is."""
        return f"{self.local}@{self.wire_domain}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Recipient:
    email: str  # as written
    name: str = ""
    mailbox: Mailbox | None = field(default=None, compare=False)
    key: str = field(init=False, compare=False)  # the form on the wire, in lower case

    def __post_init__(self) -> None:
        if self.mailbox is None:
            parsed = parse_address(self.email)
            if isinstance(parsed, str):
                raise ValueError(parsed)
            object.__setattr__(self, "mailbox", parsed)
        object.__setattr__(self, "key", self.box.wire.lower())

    @property
    def box(self) -> Mailbox:
        assert self.mailbox is not None  # set in __post_init__
        return self.mailbox

    @property
    def address(self) -> Address:
        box = self.box
        return Address(display_name=self.name, username=box.local, domain=box.wire_domain)


@dataclass(frozen=True, kw_only=True, slots=True)
class Subscribers:
    sender: Address
    by_role: dict[str, tuple[Recipient, ...]]
    skipped: tuple[str, ...] = ()  # entries that cannot be used, each `file:line:col: why`


def _control(text: str) -> bool:
    return any(not c.isprintable() for c in text)


def _octets(text: str) -> int:
    return len(text.encode("utf-8"))


def _local_problem(local: str) -> str | None:
    if local.startswith('"'):
        return 'a quoted local part ("…"@…) is not supported'
    if not local or any(not atom for atom in local.split(".")):
        return "an empty part before the @ or between dots"
    for c in local:
        if c != "." and c not in _ATEXT and (c.isascii() or c.isspace()):
            return f"{c!r} is not allowed before the @"
    if _octets(local) > MAX_LOCAL:
        return f"a local part of more than {MAX_LOCAL} octets"
    return None


def _label(label: str) -> tuple[bool, str]:
    """(True, the IDNA (ASCII) form of one domain label), or (False, why there is none)."""
    if not label:
        return False, "an empty label in the domain"
    if label.startswith("-") or label.endswith("-"):
        return False, f"a domain label that starts or ends with a hyphen: {label!r}"
    if label.isascii():
        if any(c not in _LDH for c in label):
            return False, f"characters not allowed in a domain: {label!r}"
        ascii_label = label
    else:  # IDNA 2008 with UTS #46 mapping, by the `idna` package (ß stays ß)
        import idna

        try:
            ascii_label = idna.encode(label, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            return False, f"characters not allowed in a domain: {label!r} ({exc})"
    if len(ascii_label) > MAX_LABEL:
        return False, f"a domain label of more than {MAX_LABEL} octets: {label!r}"
    return True, ascii_label


def _domain(domain: str) -> tuple[str, str] | str:
    """(domain as written, its IDNA form), or why it cannot be used."""
    if domain.startswith("["):
        return "an address literal ([…]) is not supported"
    labels = domain.split(".")
    if len(labels) < 2:
        return "a domain without a dot"
    converted = []
    for label in labels:
        ok, found = _label(label)
        if not ok:
            return found
        converted.append(found)
    if labels[-1].isdigit():
        return "a domain ending in a number"
    ascii_domain = ".".join(converted)
    if max(len(ascii_domain), _octets(domain)) > MAX_DOMAIN:
        return f"a domain of more than {MAX_DOMAIN} octets"
    return domain, ascii_domain


def parse_address(text: str) -> Mailbox | str:
    """`text` as one usable address, or why it is not one."""
    if _control(text):
        return "control characters (such as a newline) in an e-mail address"
    local, at, domain = text.rpartition("@")
    if not at:
        found: tuple[str, str] | str = "no @"
    elif "@" in local and not local.startswith('"'):
        found = "more than one @"
    else:
        found = _local_problem(local) or _domain(domain)
    if isinstance(found, str):
        return f"not a valid e-mail address: {text!r} ({found})"
    box = Mailbox(local=local, domain=found[0], ascii_domain=found[1])
    longest = max(_octets(f"{local}@{found[0]}"), len(f"{local}@{found[1]}".encode()))
    if longest > MAX_PATH:
        return f"not a valid e-mail address: {text!r} (more than {MAX_PATH} octets)"
    return box


def check_address(text: str) -> str | None:
    """Why `text` is not one usable e-mail address, or None when it is."""
    found = parse_address(text)
    return found if isinstance(found, str) else None


def check_name(name: str) -> str | None:
    if _control(name):
        return "control characters (such as a newline) in a display name"
    if len(name) > 200:
        return "a display name of more than 200 characters"
    return None


def parse_sender(text: str) -> Address | str:
    """The `from:` value as one Address (its domain in IDNA form), or why it is not
    acceptable."""
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
    box = parse_address(address.addr_spec)
    if isinstance(box, str) or box.utf8:
        return f"'from' is not an e-mail address: {text!r}"
    if "@" in address.display_name or "<" in address.display_name:
        return f"the display name of 'from' must not hold an address: {text!r}"
    return Address(display_name=address.display_name, username=box.local, domain=box.ascii_domain)


def load_subscribers(path: Path, roles: Iterable[str]) -> Subscribers:
    """Read the subscribers file, every problem with file:line:col.

    A problem with the file itself (YAML, its keys, `from:`) is raised once, at the end;
    an entry or a role that cannot be used is left out and listed in `skipped`.

    from: "Draaiboek <draaiboek@example.org>"    # optional
    subscribers:
      gemeenten: [planning@gemeente.nl, {email: ict@gemeente.nl, name: ICT}]
    """
    diags, skipped = Diagnostics(), Diagnostics()
    doc = load_file(path, diags)
    subscribers = Subscribers(sender=DEFAULT_FROM, by_role={})
    if not diags.errors:
        subscribers = _subscribers(doc, set(roles), diags, skipped)
    diags.raise_if_errors()
    return Subscribers(
        sender=subscribers.sender,
        by_role=subscribers.by_role,
        skipped=tuple(f"{d}; {SKIPPED}" for d in skipped),
    )


def _subscribers(
    doc: Document, known: set[str], diags: Diagnostics, skipped: Diagnostics
) -> Subscribers:
    data = doc.data
    if not isinstance(data, dict):
        diags.error(doc.pos(()), "a subscribers file is a mapping with `subscribers:`")
        return Subscribers(sender=DEFAULT_FROM, by_role={})
    for key in data:
        if key not in ("from", "subscribers"):
            diags.error(doc.key_pos((key,)), f"unknown key '{key}' (allowed: from, subscribers)")
    sender = _sender(doc, data, diags)
    subs = data.get("subscribers")
    if not isinstance(subs, dict):
        diags.error(doc.pos(("subscribers",)), "`subscribers` maps role ids to lists of addresses")
        subs = {}
    by_role: dict[str, tuple[Recipient, ...]] = {}
    for role, entries in subs.items():
        recipients = _role_recipients(doc, role, entries, known, skipped)
        if recipients is not None:
            by_role[role] = recipients
    return Subscribers(sender=sender, by_role=by_role)


def _sender(doc: Document, data: dict[str, Any], diags: Diagnostics) -> Address:
    """The `from:` address, or calgen's default when there is none (or it is wrong)."""
    if "from" not in data:
        return DEFAULT_FROM
    found = (
        parse_sender(data["from"])
        if isinstance(data["from"], str)
        else f"'from' is not an e-mail address: {data['from']!r}"
    )
    if isinstance(found, str):
        diags.error(doc.pos(("from",)), found)
        return DEFAULT_FROM
    return found


def _role_recipients(
    doc: Document, role: str, entries: Any, known: set[str], skipped: Diagnostics
) -> tuple[Recipient, ...] | None:
    """A role's valid recipients, once per mailbox; None when the role itself is wrong."""
    path_role: PathKey = ("subscribers", role)
    if role not in known:
        hint = ", ".join(sorted(known))
        skipped.error(doc.key_pos(path_role), f"unknown role '{role}' (known: {hint})")
        return None
    if not isinstance(entries, list):
        skipped.error(doc.pos(path_role), f"role '{role}': expected a list of addresses")
        return None
    recipients: dict[str, Recipient] = {}
    for i, entry in enumerate(entries):
        recipient = _recipient(doc, (*path_role, i), entry, skipped)
        if recipient is not None:
            # the same mailbox twice in a role (other case, other name): one message
            recipients.setdefault(recipient.key, recipient)
    return tuple(recipients.values())


def _recipient(doc: Document, where: PathKey, entry: Any, diags: Diagnostics) -> Recipient | None:
    """One entry of a role's list, an address or `{email, name}`; None when it is wrong."""
    if not isinstance(entry, dict):
        email = entry if isinstance(entry, str) else None
        return _checked_recipient(doc, where, entry, email, "", diags)
    unknown = set(entry) - {"email", "name"}
    if unknown:
        diags.error(
            doc.pos(where),
            f"unknown key '{sorted(map(str, unknown))[0]}' (allowed: email, name)",
            format_path(where),
        )
        return None
    email, name = entry.get("email"), entry.get("name", "")
    return _checked_recipient(doc, (*where, "email"), entry, email, name, diags)


def _checked_recipient(
    doc: Document, where: PathKey, entry: Any, email: Any, name: Any, diags: Diagnostics
) -> Recipient | None:
    """The recipient when its address and name are acceptable; else each problem is
    reported where it is (`where` is the address's place, its name is beside it)."""
    if not isinstance(email, str):
        diags.error(doc.pos(where), f"not a valid e-mail address: {entry!r}", format_path(where))
        return None
    box = parse_address(email)
    problem = box if isinstance(box, str) else None
    if problem is None:
        where = (*where[:-1], "name")
        problem = "the name must be text" if not isinstance(name, str) else check_name(name)
    if problem or isinstance(box, str):
        diags.error(doc.pos(where), problem or "", format_path(where))
        return None
    return Recipient(email=email, name=str(name).strip(), mailbox=box)
