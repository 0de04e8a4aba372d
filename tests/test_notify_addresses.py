"""Addresses that are unusual, not wrong (issue 19, item 9): internationalised domains are
delivered, a non-ASCII local part goes with SMTPUTF8 where the server offers it, RFC 5321's
length limits hold, and one address that cannot be used is named with its file:line and
skipped while everyone else gets their mail.
"""

from __future__ import annotations

import email
import email.policy
import shutil
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from calgen.cli import main
from tests.conftest import ROOT
from tests.test_notify import _free_port

AT = "2022-03-29 17:30"  # 3.1.3's reminders for gemeenten are due


class Inbox:
    """Keeps the envelope recipient and the message of everything it accepts."""

    def __init__(self) -> None:
        self.received: list[tuple[str, EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.received.append((envelope.rcpt_tos[0], _parse(envelope.content)))
        return "250 OK"

    def to(self) -> dict[str, EmailMessage]:
        return dict(self.received)


def _parse(raw: bytes) -> EmailMessage:
    """A message as a mail client reads it; UTF-8 headers (RFC 6532) included."""
    parsed = email.message_from_string(raw.decode("utf-8"), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _outbox() -> list[EmailMessage]:
    return [_parse(path.read_bytes()) for path in sorted(Path("outbox").glob("*.eml"))]


def _idna(domain: str) -> str:
    """The standard library's IDNA 2003, the same as IDNA 2008 for these letters."""
    return domain.encode("idna").decode("ascii")


def _server(utf8: bool) -> Iterator[tuple[Inbox, str]]:
    handler = Inbox()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, enable_SMTPUTF8=utf8)
    controller.start()
    try:
        yield handler, f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()


@pytest.fixture
def plain_server() -> Iterator[tuple[Inbox, str]]:
    """A server that does not offer SMTPUTF8 (ASCII only, as many still are)."""
    yield from _server(utf8=False)


@pytest.fixture
def utf8_server() -> Iterator[tuple[Inbox, str]]:
    yield from _server(utf8=True)


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    (tmp_path / "runbooks" / "iwmo-2.1-2.2.yaml").unlink()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _subscribers(*entries: str, sender: str = "Draaiboek <draaiboek@example.org>") -> None:
    lines = [f'from: "{sender}"', "subscribers:", "  gemeenten:"]
    lines.extend(f"    - {entry}" for entry in entries)
    Path("subscribers.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _notify(*args: str) -> int:
    return main(["notify", "--subscribers", "subscribers.yaml", "--at", AT, *args])


# --------------------------------------------------------------------------- IDN


def test_an_internationalised_domain_is_delivered_in_idna_form(
    workspace: Path, plain_server: tuple[Inbox, str], capsys: pytest.CaptureFixture[str]
) -> None:
    handler, url = plain_server
    _subscribers(
        "planning@gemeente-süd.nl",
        '{email: "ict@straße.example", name: Jörg Müller}',
        "plain@gemeente.nl",
    )
    assert _notify("--smtp", url) == 0, capsys.readouterr().err
    received = handler.to()
    assert sorted(received) == [
        "ict@xn--strae-oqa.example",  # IDNA 2008 (DENIC's straße.de): ß kept, not "ss"
        "plain@gemeente.nl",
        f"planning@{_idna('gemeente-süd.nl')}",
    ]
    to = received["ict@xn--strae-oqa.example"]["To"]
    assert to.addresses[0].addr_spec == "ict@xn--strae-oqa.example"
    assert to.addresses[0].display_name == "Jörg Müller"


def test_the_same_idn_mailbox_written_twice_gets_one_message(
    workspace: Path, plain_server: tuple[Inbox, str]
) -> None:
    handler, url = plain_server
    _subscribers("Info@Bücher.example", "info@xn--bcher-kva.example")
    assert _notify("--smtp", url) == 0
    assert [rcpt for rcpt, _ in handler.received] == ["Info@xn--bcher-kva.example"]


def test_an_idn_sender_is_written_in_idna_form(
    workspace: Path, plain_server: tuple[Inbox, str]
) -> None:
    handler, url = plain_server
    _subscribers("a@gemeente.nl", sender="Draaiboek <draaiboek@zorginstituut-bücher.nl>")
    assert _notify("--smtp", url) == 0
    ((_, message),) = handler.received
    domain = _idna("zorginstituut-bücher.nl")
    assert domain.startswith("xn--")
    assert str(message["From"]) == f"Draaiboek <draaiboek@{domain}>"
    assert str(message["Message-ID"]).endswith(f"@{domain}>")


def test_a_non_ascii_local_part_goes_with_smtputf8(
    workspace: Path, utf8_server: tuple[Inbox, str], capsys: pytest.CaptureFixture[str]
) -> None:
    handler, url = utf8_server
    _subscribers('{email: "jörg@bücher.example", name: Jörg}', "plain@gemeente.nl")
    assert _notify("--smtp", url) == 0, capsys.readouterr().err
    received = handler.to()
    assert sorted(received) == ["jörg@bücher.example", "plain@gemeente.nl"]
    assert received["jörg@bücher.example"]["To"].addresses[0].username == "jörg"


def test_a_non_ascii_local_part_without_smtputf8_is_refused_for_that_address_only(
    workspace: Path, plain_server: tuple[Inbox, str], capsys: pytest.CaptureFixture[str]
) -> None:
    handler, url = plain_server
    _subscribers("jörg@bücher.example", "plain@gemeente.nl")
    assert _notify("--smtp", url) == 1
    err = capsys.readouterr().err
    assert "refused, not retried: jörg@bücher.example: not sent: the server does not offer" in err
    assert "1 message(s) sent; 1 refused" in err
    assert [rcpt for rcpt, _ in handler.received] == ["plain@gemeente.nl"]


def test_a_non_ascii_local_part_in_the_outbox_is_an_smtputf8_message(workspace: Path) -> None:
    _subscribers("jörg@bücher.example")
    assert _notify("--outbox", "outbox") == 0
    (message,) = _outbox()
    assert message["To"].addresses[0].addr_spec == "jörg@bücher.example"


# --------------------------------------------------------------------------- limits


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("x" * 65 + "@gemeente.nl", "a local part of more than 64 octets"),
        ("ö" * 33 + "@gemeente.nl", "a local part of more than 64 octets"),
        ("a@" + "b" * 64 + ".nl", "a domain label of more than 63 octets"),
        ("a@" + ("b" * 62 + ".") * 4 + "nl", "more than 254 octets"),
        ("a@" + ("b" * 63 + ".") * 4 + "nl", "a domain of more than 255 octets"),
        ("x" * 64 + "@" + ("b" * 60 + ".") * 3 + "b" * 7 + ".nl", "more than 254 octets"),
        ("a@-example.org", "a domain label that starts or ends with a hyphen: '-example'"),
        ("a@example-.org", "a domain label that starts or ends with a hyphen: 'example-'"),
        ("a@exa_mple.org", "characters not allowed in a domain"),
        ("a@localhost", "a domain without a dot"),
        ("a@[192.0.2.1]", "an address literal"),
        ("a@192.0.2.1", "a domain ending in a number"),
        ("a..b@gemeente.nl", "an empty part before the @ or between dots"),
        ("'\"a b\"@gemeente.nl'", "a quoted local part"),
        ("'a@b@gemeente.nl'", "more than one @"),
        ("a@😀.nl", "characters not allowed in a domain"),
    ],
)
def test_an_address_beyond_rfc_5321_is_named_and_skipped(
    workspace: Path, capsys: pytest.CaptureFixture[str], entry: str, why: str
) -> None:
    _subscribers("first@gemeente.nl", entry, "last@gemeente.nl")
    assert _notify("--outbox", "outbox") == 1
    err = capsys.readouterr().err
    assert "subscribers.yaml:5:7: not a valid e-mail address: " in err
    assert f"({why}" in err
    assert "skipped: that entry gets nothing, everyone else does" in err
    assert sorted(str(m["To"]) for m in _outbox()) == ["first@gemeente.nl", "last@gemeente.nl"]


@pytest.mark.parametrize(
    "entry",
    [
        "x" * 64 + "@gemeente.nl",
        "a@" + "b" * 63 + ".nl",
        "x" * 64 + "@" + ("b" * 60 + ".") * 3 + "b" * 3 + ".nl",
    ],
)
def test_an_address_at_the_limits_is_delivered(workspace: Path, entry: str) -> None:
    assert len(entry.encode()) <= 254
    _subscribers(entry)
    assert _notify("--outbox", "outbox") == 0
    (message,) = _outbox()
    assert message["To"].addresses[0].addr_spec == entry


def test_one_unusable_address_among_ten_thousand_stops_nobody(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    people = [f"planner{i}@gemeente{i % 400}.nl" for i in range(10_000)]
    people[4321] = "'\"quoted planner\"@gemeente.nl'"
    people[5000] = "planner@gemeente-süd.nl"  # usable: in IDNA form
    people[6000] = "plännér@gemeente.nl"  # usable where the server offers SMTPUTF8
    _subscribers(*people)
    assert _notify("--outbox", "outbox", "--dry-run") == 1
    captured = capsys.readouterr()
    assert 'subscribers.yaml:4325:7: not a valid e-mail address: \'"quoted planner"' in (
        captured.err
    )
    assert "dry run: would send 9999 message(s)" in captured.err
    assert "planner@gemeente-süd.nl\t" in captured.out
