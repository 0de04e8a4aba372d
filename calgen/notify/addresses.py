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
from urllib.parse import urlsplit

from calgen.core.errors import Diagnostics
from calgen.core.mailaddress import Mailbox, has_control, parse_address
from calgen.runbook.context import MAX_SUGGESTIONS, did_you_mean
from calgen.runbook.load import Document, PathKey, format_path, load_file

DEFAULT_FROM = Address("Landelijk draaiboek migratie", "calgen", "localhost")
_REGISTRY = HeaderRegistry()
SKIPPED = "skipped: that entry gets nothing, everyone else does"


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
    unsubscribe_mailto: str = ""  # `unsubscribe: {mailto:}`; empty: the sender's address
    unsubscribe_url: str = ""  # `unsubscribe: {url:}`, https; empty: none


def check_name(name: str) -> str | None:
    if has_control(name):
        return "control characters (such as a newline) in a display name"
    if len(name) > 200:
        return "a display name of more than 200 characters"
    return None


def parse_sender(text: str) -> Address | str:
    """The `from:` value as one Address (its domain in IDNA form), or why it is not
    acceptable."""
    if has_control(text):
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
    unsubscribe:                                  # optional, both keys optional
      mailto: afmelden@example.org
      url: https://draaiboeken.example.org/afmelden
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
        unsubscribe_mailto=subscribers.unsubscribe_mailto,
        unsubscribe_url=subscribers.unsubscribe_url,
    )


def _subscribers(
    doc: Document, known: set[str], diags: Diagnostics, skipped: Diagnostics
) -> Subscribers:
    data = doc.data
    if not isinstance(data, dict):
        diags.error(doc.pos(()), "a subscribers file is a mapping with `subscribers:`")
        return Subscribers(sender=DEFAULT_FROM, by_role={})
    for key in data:
        if key not in ("from", "unsubscribe", "subscribers"):
            diags.error(
                doc.key_pos((key,)),
                f"unknown key '{key}' (allowed: from, unsubscribe, subscribers)",
            )
    sender = _sender(doc, data, diags)
    mailto, url = _unsubscribe(doc, data, diags)
    subs = data.get("subscribers")
    if not isinstance(subs, dict):
        diags.error(doc.pos(("subscribers",)), "`subscribers` maps role ids to lists of addresses")
        subs = {}
    by_role: dict[str, tuple[Recipient, ...]] = {}
    names = sorted(known)
    listing = ", ".join(names)
    unknown = 0  # a did-you-mean for the first MAX_SUGGESTIONS unknown roles only
    for role, entries in subs.items():
        if role not in known:
            unknown += 1
            hint = did_you_mean(str(role), names) if unknown <= MAX_SUGGESTIONS else ""
            skipped.error(
                doc.key_pos(("subscribers", role)),
                f"unknown role '{role}'{hint} (known: {listing})",
            )
            continue
        recipients = _role_recipients(doc, role, entries, skipped)
        if recipients is not None:
            by_role[role] = recipients
    return Subscribers(
        sender=sender, by_role=by_role, unsubscribe_mailto=mailto, unsubscribe_url=url
    )


def _unsubscribe(doc: Document, data: dict[str, Any], diags: Diagnostics) -> tuple[str, str]:
    """`unsubscribe: {mailto: ADDRESS, url: https://…}`, both optional: the address for
    List-Unsubscribe's mailto (plain ASCII, no display name) and the base of the one-click
    link (https, a host, no fragment, no user part, printable ASCII only)."""
    if "unsubscribe" not in data:
        return "", ""
    found = data["unsubscribe"]
    if not isinstance(found, dict):
        diags.error(doc.pos(("unsubscribe",)), "`unsubscribe` maps `mailto` and/or `url`")
        return "", ""
    for key in found:
        if key not in ("mailto", "url"):
            diags.error(
                doc.key_pos(("unsubscribe", key)), f"unknown key '{key}' (allowed: mailto, url)"
            )
    mailto = ""
    if "mailto" in found:
        value = found["mailto"]
        box = parse_address(value) if isinstance(value, str) and not has_control(value) else None
        if box is None or isinstance(box, str) or box.utf8 or "?" in value or "<" in value:
            diags.error(
                doc.pos(("unsubscribe", "mailto")),
                f"'mailto' is not one plain e-mail address: {value!r}",
            )
        else:
            mailto = f"{box.local}@{box.ascii_domain}"
    url = ""
    if "url" in found:
        value = found["url"]
        why = _url_problem(value)
        if why:
            diags.error(doc.pos(("unsubscribe", "url")), why)
        else:
            url = value
    return mailto, url


def _url_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"'url' is not an https URL: {value!r}"
    if len(value) > 300:
        return "'url' is longer than 300 characters"
    if any(not (33 <= ord(c) < 127) for c in value) or any(c in value for c in '<>"\\,'):
        return f"'url' must be printable ASCII without spaces, <, >, quotes or commas: {value!r}"
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        return f"'url' must be an https URL with a host (RFC 8058): {value!r}"
    if parts.fragment or parts.username or parts.password:
        return f"'url' must have no fragment and no user part: {value!r}"
    return None


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
    doc: Document, role: str, entries: Any, skipped: Diagnostics
) -> tuple[Recipient, ...] | None:
    """A known role's valid recipients, once per mailbox; None when its list is wrong."""
    path_role: PathKey = ("subscribers", role)
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
