"""`calgen notify` against a real SMTP server (aiosmtpd on 127.0.0.1, started and stopped
here): the right messages to the right people, exactly once, also across a failure."""

from __future__ import annotations

import email
import email.policy
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from calgen.cli import main
from calgen.notify import unsubscribe
from tests.conftest import ROOT

AT = "2022-03-29 17:30"  # 3.1.2/3.1.3's 1-working-day reminders (29 March 17:00) are due
SUBSCRIBERS = """\
from: "Draaiboek <draaiboek@example.org>"
subscribers:
  gemeenten:
    - planning@gemeente-a.nl
    - {email: ict@gemeente-b.nl, name: ICT Gemeente B}
  zorgaanbieders: [backoffice@aanbieder.nl]
"""


class Inbox:
    """An aiosmtpd handler that keeps what it accepts and can refuse after `limit`."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.limit: int | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.limit is not None and len(self.messages) >= self.limit:
            return "451 4.3.0 try again later"
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    (tmp_path / "runbooks" / "iwmo-2.1-2.2.yaml").unlink()  # one runbook keeps counts plain
    (tmp_path / "subscribers.yaml").write_text(SUBSCRIBERS, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _notify(*args: str, at: str = AT) -> int:
    return main(["notify", "--subscribers", "subscribers.yaml", "--at", at, *args])


def test_sends_each_role_its_due_deadlines_once(
    workspace: Path, inbox: tuple[Inbox, int], capsys: pytest.CaptureFixture[str]
) -> None:
    handler, port = inbox
    assert _notify("--smtp", f"smtp://127.0.0.1:{port}", "--expire-days", "400") == 0
    by_rcpt = {
        rcpts[0]: m for (_, rcpts), m in zip(handler.envelopes, handler.messages, strict=True)
    }
    assert sorted(by_rcpt) == [
        "backoffice@aanbieder.nl",
        "ict@gemeente-b.nl",
        "planning@gemeente-a.nl",
    ]
    gemeente = by_rcpt["planning@gemeente-a.nl"]
    assert gemeente["From"] == "Draaiboek <draaiboek@example.org>"
    assert gemeente["To"] == "planning@gemeente-a.nl"
    assert by_rcpt["ict@gemeente-b.nl"]["To"] == "ICT Gemeente B <ict@gemeente-b.nl>"
    assert gemeente["Message-ID"].endswith("@example.org>")
    assert gemeente["Date"]
    assert gemeente["Auto-Submitted"] == "auto-generated"
    _assert_list_headers(gemeente, "gemeenten")
    _assert_list_headers(by_rcpt["backoffice@aanbieder.nl"], "zorgaanbieders")
    # caught up: 3.1.3's and 3.2.1's latest reminders (17:00) on time, the rest late; the
    # kinds counted as far as they fit (the body names each)
    assert gemeente["Subject"] == (
        "[9 van 11 te laat] Herinnering Migratie naar iWmo/iJw 3.1: 8 mijlpalen, 1 fase en 2 andere"
    )
    plain = gemeente.get_body(("plain",))
    html = gemeente.get_body(("html",))
    assert plain is not None
    assert html is not None
    text, markup = plain.get_content(), html.get_content()
    assert "3.1.3 Alle heenberichten verzonden door gemeenten (301, 319)" in text
    assert "Wanneer: woensdag 30 maart 2022, 17.00 uur" in text
    assert "Bericht: 301 Toewijzing" in text
    assert "Actiehouder: Gemeenten" in text
    assert (
        "https://draaiboeken.example.org/iwmo-ijw-3.0-3.1/gemeenten.ics" not in text
    )  # no pyproject here
    assert "3.1.2" not in text  # a provider's deadline
    assert "<td>woensdag 30 maart 2022, 17.00 uur</td>" in markup
    # the footer, in both parts: why, how to leave, whom to ask
    for part in (" ".join(text.split()), " ".join(markup.split())):
        assert "aangemeld voor herinneringen voor gemeenten" in part
        assert "mail naar draaiboek@example.org" in part
        assert "Vragen? Neem contact op met:" in part
        assert "servicedesk@inlichtingenbureau.nl" in part
    provider = by_rcpt["backoffice@aanbieder.nl"].get_body(("plain",))
    assert provider is not None
    assert "3.1.2 Alle heenberichten verzonden door aanbieders" in provider.get_content()
    assert "3 message(s) sent; 0 refused, 0 deferred" in capsys.readouterr().err

    # a second run at the same moment, or a little later: nothing new goes out
    assert _notify("--smtp", f"smtp://127.0.0.1:{port}", "--expire-days", "400") == 0
    assert (
        _notify("--smtp", f"smtp://127.0.0.1:{port}", "--expire-days", "400", at="2022-03-29 18:00")
        == 0
    )
    assert len(handler.messages) == 3


def _assert_list_headers(message: EmailMessage, role: str) -> None:
    """The headers of issue 22 part 1, read back by the email package: one list per role
    (RFC 2919), a mailto unsubscribe to the sender, the language on each text part."""
    assert str(message["List-Id"]).endswith(f"<{role}.draaiboeken.example.org>")
    assert str(message["List-Id"]).startswith('"Draaiboek migratie - ')
    assert message["List-Unsubscribe"] == "<mailto:draaiboek@example.org?subject=afmelden>"
    assert message["Auto-Submitted"] == "auto-generated"
    parts = [p for p in message.walk() if p.get_content_maintype() == "text"]
    assert [p.get_content_subtype() for p in parts] == ["plain", "html"]
    assert all(p["Content-Language"] == "nl" for p in parts)
    assert not message.defects


def test_outbox_headers_parse(workspace: Path) -> None:
    assert _notify("--outbox", "outbox", "--expire-days", "400") == 0
    files = sorted(Path("outbox").glob("*.eml"))
    assert files
    for path in files:
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        role = "gemeenten" if "gemeente" in str(parsed["To"]) else "zorgaanbieders"
        _assert_list_headers(parsed, role)


UNSUBSCRIBE = """\
unsubscribe:
  mailto: afmelden@example.org
  url: https://draaiboeken.example.org/afmelden
"""


def test_one_click_unsubscribe_headers(
    workspace: Path,
    inbox: tuple[Inbox, int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler, port = inbox
    Path("subscribers.yaml").write_text(UNSUBSCRIBE + SUBSCRIBERS, encoding="utf-8")
    monkeypatch.setenv(unsubscribe.SECRET_VARIABLE, "s" * 32)
    assert _notify("--smtp", f"smtp://127.0.0.1:{port}", "--expire-days", "400") == 0
    assert "is not set" not in capsys.readouterr().err
    assert len(handler.messages) == 3
    for (_, rcpts), message in zip(handler.envelopes, handler.messages, strict=True):
        value = str(message["List-Unsubscribe"])
        https, mailto = value.split(", ")
        assert mailto == "<mailto:afmelden@example.org?subject=afmelden>"
        assert https.startswith("<https://draaiboeken.example.org/afmelden?t=")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        token = https.removesuffix(">").partition("?t=")[2]
        claim = unsubscribe.read_token(b"s" * 32, token, now=time.time() - 10 * 365 * 86400)
        assert claim.address == rcpts[0]
        assert claim.role == ("zorgaanbieders" if "aanbieder" in rcpts[0] else "gemeenten")
        assert str(message["List-Id"]).startswith('"Draaiboek migratie - ')


def test_unsubscribe_url_without_secret_warns_once(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("subscribers.yaml").write_text(UNSUBSCRIBE + SUBSCRIBERS, encoding="utf-8")
    monkeypatch.delenv(unsubscribe.SECRET_VARIABLE, raising=False)
    assert _notify("--outbox", "outbox", "--expire-days", "400") == 0
    assert capsys.readouterr().err.count(f"{unsubscribe.SECRET_VARIABLE} is not set") == 1
    for path in Path("outbox").glob("*.eml"):
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert parsed["List-Unsubscribe"] == "<mailto:afmelden@example.org?subject=afmelden>"
        assert parsed["List-Unsubscribe-Post"] is None


def test_failure_part_way_then_rerun_completes(
    workspace: Path, inbox: tuple[Inbox, int], capsys: pytest.CaptureFixture[str]
) -> None:
    handler, port = inbox
    handler.limit = 1  # a 451 for every message after the first
    assert _notify("--smtp", f"smtp://127.0.0.1:{port}") == 1
    err = capsys.readouterr().err
    assert "1 message(s) sent; 0 refused, 2 deferred" in err
    assert err.count("deferred, stays queued for the next run:") == 2
    assert "451 4.3.0 try again later" in err
    assert "Traceback" not in err
    handler.limit = None
    assert _notify("--smtp", f"smtp://127.0.0.1:{port}") == 0
    recipients = sorted(r for _, rcpts in handler.envelopes for r in rcpts)
    assert recipients == ["backoffice@aanbieder.nl", "ict@gemeente-b.nl", "planning@gemeente-a.nl"]
    assert _notify("--smtp", f"smtp://127.0.0.1:{port}") == 0
    assert len(handler.messages) == 3


def test_server_down_sends_nothing(
    workspace: Path, inbox: tuple[Inbox, int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _notify("--smtp", f"smtp://127.0.0.1:{_free_port()}") == 1
    assert "nothing was sent" in capsys.readouterr().err
    # what was due is queued; the next run, with a server, sends it
    handler, port = inbox
    assert _notify("--smtp", f"smtp://127.0.0.1:{port}") == 0
    assert len(handler.messages) == 3


def test_outbox_and_dry_run(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _notify("--outbox", "outbox", "--dry-run") == 0
    out = capsys.readouterr().out
    assert out.count("\t") == 3
    assert not Path("outbox").exists()
    assert not Path("notify-state.sqlite").exists()
    assert _notify("--outbox", "outbox") == 0
    assert "3 message(s) written" in capsys.readouterr().err
    files = sorted(Path("outbox").glob("*.eml"))
    assert len(files) == 3
    parsed = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert parsed["Subject"].startswith("[8 van 10 te laat] Herinnering")
    assert _notify("--outbox", "outbox") == 0
    assert sorted(Path("outbox").glob("*.eml")) == files


def test_on_time_is_not_late(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _notify("--outbox", "first", at="2022-03-23 16:00") == 0  # catches up, late
    # 23 March 17:00 (CET) is one week, nominal, before 30 March 17:00 (CEST)
    assert _notify("--outbox", "second", at="2022-03-23 17:05") == 0
    messages = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in Path("second").glob("*.eml")
    ]
    gemeente = next(m for m in messages if m["To"] == "planning@gemeente-a.nl")
    assert not gemeente["Subject"].startswith("[te laat]")
    body = gemeente.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "3.1.3 Alle heenberichten verzonden door gemeenten" in text
    assert "3.2.1 Alle heenberichten geblokkeerd" in text  # the hubs', shown to everyone
    assert "te laat" not in text


def test_long_overdue_expires_counted_per_runbook_and_listed_with_v(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _notify("--outbox", "outbox", "--dry-run", at="2022-06-01 09:00") == 0
    err = capsys.readouterr().err
    assert "expired, not sent" not in err  # counted, not listed
    expired = re.search(r"iwmo-ijw-3\.0-3\.1: would send 0, (\d+) expired", err)
    assert expired, err
    assert _notify("--outbox", "outbox", "-v", at="2022-06-01 09:00") == 0
    err = capsys.readouterr().err
    assert (
        "expired, not sent: iwmo-ijw-3.0-3.1: 3.1.3 Alle heenberichten verzonden door gemeenten"
        in err
    )
    assert f"iwmo-ijw-3.0-3.1: 0 written; 0 refused, 0 deferred, {expired[1]} expired" in err
    assert f"0 message(s) written; 0 refused, 0 deferred, {expired[1]} expired" in err
    assert _notify("--outbox", "outbox", "-v", at="2022-06-01 09:00") == 0
    err = capsys.readouterr().err
    assert "expired, not sent" not in err  # reported once, recorded
    assert "0 message(s) written; 0 refused, 0 deferred, 0 expired" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("subscribers:\n  gemeenten: [not-an-address]\n", "2:15: not a valid e-mail address"),
        ("subscribers:\n  gemeentes: [a@b.nl]\n", "2:3: unknown role 'gemeentes'"),
        ("from: nobody\nsubscribers: {}\n", "1:7: 'from' is not one e-mail address"),
        ("subscriber:\n  gemeenten: []\n", "1:1: unknown key 'subscriber'"),
        (
            "unsubscribe: {url: 'http://x.example/a'}\nsubscribers: {}\n",
            "1:20: 'url' must be an https URL",
        ),
        (
            "unsubscribe:\n  url: 'https://x.example/a b'\nsubscribers: {}\n",
            "2:8: 'url' must be printable ASCII",
        ),
        (
            "unsubscribe:\n  mailto: 'a@b.nl?bcc=c@d.nl'\nsubscribers: {}\n",
            "2:11: 'mailto' is not one plain e-mail address",
        ),
        ("unsubscribe:\n  web: x\nsubscribers: {}\n", "2:3: unknown key 'web'"),
        ("unsubscribe: yes\nsubscribers: {}\n", "1:14: `unsubscribe` maps"),
    ],
)
def test_subscribers_file_errors(
    workspace: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    Path("subscribers.yaml").write_text(content, encoding="utf-8")
    assert _notify("--outbox", "outbox") == 1
    err = capsys.readouterr().err
    assert f"subscribers.yaml:{message}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:25", "smtp://user:secret@127.0.0.1:25", "smtp://"]
)
def test_smtp_url_refused(workspace: Path, capsys: pytest.CaptureFixture[str], url: str) -> None:
    assert _notify("--smtp", url) == 2
    assert "calgen notify:" in capsys.readouterr().err


# --------------------------------------------------------------------------- TLS and login


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the machine's openssl."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    openssl = shutil.which("openssl")
    if openssl is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("openssl is missing in CI (apt-get install openssl)")
        pytest.skip("TLS TESTS NOT RUN: openssl is needed to make a test certificate")
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


class _Logins:
    """aiosmtpd authenticator: accepts one user and password, remembers who logged in."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = isinstance(auth, LoginPassword) and (auth.login, auth.password) == (
            b"planner",
            b"geheim",
        )
        if ok:
            self.seen.append(auth.login.decode())
        # handled=False: aiosmtpd answers the failure (535) itself
        return AuthResult(success=ok, handled=False)


@pytest.mark.parametrize("mode", ["starttls", "smtps"])
# aiosmtpd warns about AUTH without STARTTLS; with smtps the whole connection is TLS
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_tls_and_login_from_environment(
    workspace: Path,
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    mode: str,
) -> None:
    key, cert = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler, logins, port = Inbox(), _Logins(), _free_port()
    if mode == "starttls":  # plain connection, upgraded; login only after TLS
        controller = Controller(
            handler,
            hostname="127.0.0.1",
            port=port,
            tls_context=context,
            require_starttls=True,
            authenticator=logins,
            auth_required=True,
        )
        url, flags = f"smtp://127.0.0.1:{port}", ["--starttls"]
    else:  # TLS from the first byte
        controller = Controller(
            handler,
            hostname="127.0.0.1",
            port=port,
            ssl_context=context,
            authenticator=logins,
            auth_required=True,
            auth_require_tls=False,
        )
        url, flags = f"smtps://127.0.0.1:{port}", []
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust the test certificate
    monkeypatch.setenv("CALGEN_SMTP_USER", "planner")
    monkeypatch.setenv("CALGEN_SMTP_PASSWORD", "geheim")
    controller.start()
    try:
        assert _notify("--smtp", url, *flags) == 0, capsys.readouterr().err
        assert len(handler.messages) == 3
        assert logins.seen == ["planner"]  # one connection, one login
        # a wrong password: a clear message, nothing sent, nothing recorded
        Path("notify-state.sqlite").unlink()
        monkeypatch.setenv("CALGEN_SMTP_PASSWORD", "fout")
        assert _notify("--smtp", url, *flags) == 1
        err = capsys.readouterr().err
        assert "nothing was sent" in err
        assert "Traceback" not in err
        assert len(handler.messages) == 3
    finally:
        controller.stop()


def test_change_notices_carry_the_same_headers_and_footer(
    workspace: Path,
    inbox: tuple[Inbox, int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 22's proof, for change notices through a real SMTP server: List-Id,
    List-Unsubscribe (https token link and mailto), one-click, Content-Language, and the
    footer's own link in the text and the HTML part."""
    from tests.test_notify_input import _new_version, _publish_snapshot

    handler, port = inbox
    Path("subscribers.yaml").write_text(UNSUBSCRIBE + SUBSCRIBERS, encoding="utf-8")
    monkeypatch.setenv(unsubscribe.SECRET_VARIABLE, "s" * 32)
    _publish_snapshot("1.0")
    assert _notify("--smtp", f"smtp://127.0.0.1:{port}", "--expire-days", "400") == 0
    handler.messages.clear()
    handler.envelopes.clear()
    _new_version("2022-03-31 17:00")  # 3.1.3, a deadline of gemeenten, moves a day
    _publish_snapshot("1.1")
    assert _notify("--smtp", f"smtp://127.0.0.1:{port}", "--expire-days", "400") == 0
    notices = [m for m in handler.messages if str(m["Subject"]).startswith("Gewijzigd")]
    assert sorted(str(m["To"]) for m in notices) == [
        "ICT Gemeente B <ict@gemeente-b.nl>",
        "planning@gemeente-a.nl",
    ]
    for message in notices:
        https, mailto = str(message["List-Unsubscribe"]).split(", ")
        link = https.strip("<>")
        assert mailto == "<mailto:afmelden@example.org?subject=afmelden>"
        assert link.startswith("https://draaiboeken.example.org/afmelden?t=")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert str(message["List-Id"]).endswith("<gemeenten.draaiboeken.example.org>")
        assert message["Auto-Submitted"] == "auto-generated"
        assert not message.defects
        parts = [p for p in message.walk() if p.get_content_maintype() == "text"]
        assert [p["Content-Language"] for p in parts] == ["nl", "nl"]
        text, markup = (p.get_content() for p in parts)
        assert "3.1.3 verschoven" in text
        assert f"open deze link:\n{link}\n" in text.replace("\r\n", "\n")
        assert f'<a href="{link}">meld u hier af</a>' in markup
        for part in (" ".join(text.split()), " ".join(markup.split())):
            assert "aangemeld voor herinneringen voor gemeenten" in part
            assert "Vragen? Neem contact op met:" in part


def test_a_dry_run_plans_what_a_real_run_sends_for_a_mailbox_in_two_roles(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A dry run records nothing, yet plans an item once per mailbox as a real run does
    (found by an attack round: it listed shared items twice and counted expiry twice)."""
    from tests.test_notify_input import _outbox

    Path("subscribers.yaml").write_text(
        "subscribers:\n  gemeenten: [v@vendor.nl]\n  zorgaanbieders: [v@vendor.nl]\n",
        encoding="utf-8",
    )
    assert _notify("--outbox", "outbox", "--dry-run") == 0
    dry = capsys.readouterr()
    assert _notify("--outbox", "outbox") == 0
    real = capsys.readouterr().err
    planned = sorted(line.split("\t")[1] for line in dry.out.splitlines())
    assert planned == sorted(str(m["Subject"]) for m in _outbox())
    expired = re.search(r"iwmo-ijw-3\.0-3\.1: would send (\d+), (\d+) expired", dry.err)
    assert expired, dry.err
    assert (
        f"iwmo-ijw-3.0-3.1: {expired[1]} written; 0 refused, 0 deferred, {expired[2]} expired"
        in real
    )
