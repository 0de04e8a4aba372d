"""Headers of a notify message read back by the email package: no newline from data
(role names, role ids, display names) can add a header or a recipient."""

from __future__ import annotations

import email
import email.policy
from email.headerregistry import Address
from email.message import EmailMessage

import pytest

from calgen.notify.compose import _LINK as LINK
from calgen.notify.compose import Composer, Rendered, list_id
from calgen.notify.state import NotifyError
from calgen.notify.unsubscribe import (
    SECRET_VARIABLE,
    BadTokenError,
    make_token,
    read_token,
    secret_from_environment,
)
from calgen.render.templating import environment
from calgen.runbook.model import Role

HOSTILE = [
    'Evil"\r\nBcc: victim@example.com',
    "Gemeenten\nX-Injected: ja",
    '\\" <x@y> \r\n\r\nbody',
    "Zorgaanbieders \u2013 jeugd",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_list_id_holds_no_newline_and_stays_one_header(name: str) -> None:
    role = Role(id="gem\r\nBcc: a@b.example", name=name)
    value = list_id(role, "Example.ORG")
    assert "\r" not in value
    assert "\n" not in value
    assert value.endswith("<gem-bcc-a-b-example.draaiboeken.example.org>")

    composer = Composer(environment(), Address("Draaiboek", "draaiboek", "example.org"), "")
    rendered = Rendered(subject="Onderwerp", text="tekst", html="<p>tekst</p>", list_id=value)
    mail = composer.message(
        ("k",),
        rendered,
        to=Address(display_name=name.replace("\r", " ").replace("\n", " "), addr_spec="a@b.nl"),
        date="Tue, 29 Mar 2022 17:30:00 +0200",
        msgid="<id@example.org>",
    )
    parsed = email.message_from_bytes(mail.data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["Bcc"] is None
    assert parsed["X-Injected"] is None
    assert parsed["List-Id"] is not None
    assert str(parsed["List-Id"]).endswith("<gem-bcc-a-b-example.draaiboeken.example.org>")
    assert len(parsed.get_all("List-Id") or []) == 1
    assert [a.addr_spec for a in parsed["To"].addresses] == ["a@b.nl"]
    assert parsed["List-Unsubscribe"] == "<mailto:draaiboek@example.org?subject=afmelden>"
    parts = [p for p in parsed.walk() if p.get_content_maintype() == "text"]
    assert [p["Content-Language"] for p in parts] == ["nl", "nl"]


def test_tokens_round_trip_and_refuse_tampering_and_expiry() -> None:
    secret = b"k" * 32
    token = make_token(secret, "a@b.nl", "gemeenten", 2_000)
    claim = read_token(secret, token, now=1_000)
    assert (claim.address, claim.role, claim.expires) == ("a@b.nl", "gemeenten", 2_000)
    with pytest.raises(BadTokenError, match="expired"):
        read_token(secret, token, now=2_000)
    with pytest.raises(BadTokenError):
        read_token(b"x" * 32, token, now=1_000)
    payload, _, signature = token.partition(".")
    other = make_token(secret, "c@d.nl", "gemeenten", 2_000).partition(".")[0]
    for bad in (f"{other}.{signature}", f"{payload}.{signature[:-1]}A", payload, "", "..", "a.b"):
        with pytest.raises(BadTokenError):
            read_token(secret, bad, now=1_000)


def test_the_secret_comes_from_the_environment_only() -> None:
    assert secret_from_environment({}) is None
    assert secret_from_environment({SECRET_VARIABLE: "short"}) is None
    assert secret_from_environment({SECRET_VARIABLE: "x" * 16}) == b"x" * 16


def test_a_token_in_the_header_stays_one_url_for_a_long_address() -> None:
    composer = Composer(
        environment(),
        Address("Draaiboek", "draaiboek", "example.org"),
        "",
        unsubscribe_url="https://draaiboeken.example.org/afmelden",
        secret=b"k" * 32,
    )
    rendered = Rendered(subject="Onderwerp", text="tekst", html="<p>tekst</p>")
    mail = composer.message(
        ("k",),
        rendered,
        to=Address(addr_spec=f"{'a' * 64}@{'b' * 60}.example.nl"),
        date="Tue, 29 Mar 2022 17:30:00 +0200",
        msgid="<id@example.org>",
        role="gemeenten\r\nBcc: x@y.nl",
    )
    assert b"=?" not in mail.data.split(b"\r\n\r\n")[0]  # no RFC 2047 words in the head
    parsed = email.message_from_bytes(mail.data, policy=email.policy.default)
    assert parsed["Bcc"] is None
    https = str(parsed["List-Unsubscribe"]).split(", ")[0]
    token = https.removeprefix("<").removesuffix(">").partition("?t=")[2]
    assert read_token(b"k" * 32, token, now=0).role == "gemeenten\r\nBcc: x@y.nl"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@pytest.mark.parametrize("base", ["https://a.example/afmelden", "https://a.example/x?lijst=1"])
def test_the_footer_link_is_each_recipients_own_and_decodes_exactly(base: str) -> None:
    """The encoded body is shared; each recipient's link is put into it afterwards."""
    sender = Address("Draaiboek", "draaiboek", "example.org")
    composer = Composer(environment(), sender, "", unsubscribe_url=base, secret=b"k" * 32)
    text = f"Beste\n\nAfmelden:\n{LINK}\nEinde @@AFMELDLINK@@ " + "é" * 300
    rendered = Rendered(
        subject="Onderwerp",
        text=text,
        html=f'<p>Afmelden:\n<a href="{LINK}">hier</a>.</p>',
    )
    links = []
    for address in ("a@b.nl", "c@d.nl"):
        mail = composer.message(
            ("k",),
            rendered,
            to=Address(addr_spec=address),
            date="Tue, 29 Mar 2022 17:30:00 +0200",
            msgid="<id@example.org>",
            role="gemeenten",
        )
        assert max(len(line) for line in mail.data.split(b"\r\n")) <= 998
        parsed = email.message_from_bytes(mail.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        link = str(parsed["List-Unsubscribe"]).split(">")[0].lstrip("<")
        claim = read_token(b"k" * 32, link.rpartition("t=")[2], now=0)
        assert claim.address == address
        plain, markup = (parsed.get_body((kind,)) for kind in ("plain", "html"))
        assert plain is not None
        assert markup is not None
        decoded = plain.get_content().replace("\r\n", "\n")
        assert decoded == text.replace(LINK, link) + "\n"  # runbook text cannot be a link
        assert f'<a href="{link.replace("&", "&amp;")}">hier</a>' in markup.get_content()
        links.append(link)
    assert links[0] != links[1]


def test_a_template_that_hides_the_link_in_a_long_line_is_refused() -> None:
    sender = Address("Draaiboek", "draaiboek", "example.org")
    composer = Composer(
        environment(), sender, "", unsubscribe_url="https://a.example/af", secret=b"k" * 32
    )
    rendered = Rendered(subject="Onderwerp", text="x" * 70 + f" {LINK}", html="<p>x</p>")
    with pytest.raises(NotifyError, match="must stand on a short line"):
        composer.message(
            ("k",),
            rendered,
            to=Address(addr_spec="a@b.nl"),
            date="Tue, 29 Mar 2022 17:30:00 +0200",
            msgid="<id@example.org>",
        )


@pytest.mark.parametrize("extra", range(0, 120, 7))
def test_the_footer_link_keeps_quoted_printable_lines_within_76(extra: int) -> None:
    """RFC 2045 6.7: at most 76 characters a line, whatever the link's length."""
    sender = Address("D", "d", "example.org")
    url = "https://a.example/" + "p" * extra
    composer = Composer(environment(), sender, "", unsubscribe_url=url, secret=b"k" * 32)
    text = f"Afmelden:\n{LINK}\nen {'x' * 40} {LINK} ook hier\n"
    rendered = Rendered(subject="S", text=text, html=f'<p>\n<a href="{LINK}">x</a>\n</p>')
    mail = composer.message(
        ("k",),
        rendered,
        to=Address(addr_spec="a@b.nl"),
        date="Tue, 29 Mar 2022 17:30:00 +0200",
        msgid="<id@example.org>",
        role="gemeenten",
    )
    body = mail.data.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76
    parsed = email.message_from_bytes(mail.data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    plain = parsed.get_body(("plain",))
    assert plain is not None
    link = str(parsed["List-Unsubscribe"]).split(">")[0].lstrip("<")
    assert plain.get_content().replace("\r\n", "\n") == text.replace(LINK, link)
