"""E-mail addresses as RFC 5321 and RFC 6531 have them, checked the same wherever calgen
meets one (subscribers, a runbook's contacts).

A dot-atom local part of at most 64 octets (non-ASCII letters allowed: such an address
needs a server offering SMTPUTF8), a domain of at most 255 octets in labels of at most
63, none starting or ending with a hyphen, and at most 254 octets in all. An
internationalised domain is written on the wire in its IDNA form (`bücher.example` →
`xn--bcher-kva.example`, by the `idna` package), which every server takes.
"""

from __future__ import annotations

from dataclasses import dataclass

_ATEXT = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
)
_LDH = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
MAX_LOCAL, MAX_DOMAIN, MAX_LABEL, MAX_PATH = 64, 255, 63, 254  # octets, RFC 5321 4.5.3.1


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


def has_control(text: str) -> bool:
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
    if has_control(text):
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
