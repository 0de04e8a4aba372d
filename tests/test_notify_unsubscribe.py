"""Leaving: the one-click link under a real WSGI server (waitress on 127.0.0.1, started and
stopped here), the suppression list in the notify state, the operator's --unsubscribe and
--resubscribe, and notify never writing to an address that left (issue 22)."""

from __future__ import annotations

import contextlib
import email
import email.policy
import email.utils
import http.client
import io
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from calgen.cli import main
from calgen.notify import webapp
from calgen.notify.unsubscribe import SECRET_VARIABLE, make_token, read_token
from tests.conftest import ROOT
from tests.test_notify_input import _new_version, _outbox, _publish_snapshot

AT = "2022-03-29 17:30"  # 3.1.3's reminders for gemeenten are due
NEXT = "2022-03-30 13:05"  # phase 2's reminder (1 working day) is due
LATER = "2022-04-05 13:05"  # phase 2's second reminder and more
STATE = "notify-state.sqlite"
SECRET = "s3cret-for-the-tests-only-0123456789"
URL = "https://agenda.example.nl/afmelden"
PEOPLE = ("a@gemeente.nl", "b@gemeente.nl", "c@gemeente.nl")


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    (tmp_path / "runbooks" / "iwmo-2.1-2.2.yaml").unlink()
    (tmp_path / "subscribers.yaml").write_text(
        f"unsubscribe: {{url: '{URL}'}}\nsubscribers:\n  gemeenten: [{', '.join(PEOPLE)}]\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(SECRET_VARIABLE, SECRET)
    return tmp_path


def _notify(*args: str, at: str = AT, folder: str = "outbox") -> int:
    return main(
        ["notify", "--subscribers", "subscribers.yaml", "--at", at, "--outbox", folder, *args]
    )


def _made() -> None:
    """A state as the first notify run makes it (nothing is due yet)."""
    assert _notify(at="2021-11-24 09:00") == 0


def _link(message: EmailMessage) -> str:
    found = re.search(r"<(https://[^>]+)>", str(message["List-Unsubscribe"]))
    assert found, message["List-Unsubscribe"]
    return found.group(1)


def _to(messages: list[EmailMessage]) -> list[str]:
    return sorted(str(m["To"]) for m in messages)


def _suppressed() -> list[tuple[str, str, str]]:
    db = sqlite3.connect(STATE)
    try:
        return [tuple(r) for r in db.execute("SELECT email, role, source FROM suppressed")]
    finally:
        db.close()


@contextlib.contextmanager
def running_server(state: str | Path, secret: str, port: int = 0) -> Iterator[str]:
    """`calgen unsubscribe-server` (waitress) on 127.0.0.1 (`port` 0: a free one), in a
    process of its own, stopped on leaving: its address, host:port."""
    env = {**os.environ, SECRET_VARIABLE: secret}
    command = [sys.executable, "-m", "calgen", "unsubscribe-server"]
    process = subprocess.Popen(
        [*command, "--state", str(state), "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert found, line
        yield f"127.0.0.1:{found.group(1)}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


@pytest.fixture
def server(workspace: Path) -> Iterator[str]:
    with running_server(STATE, SECRET) as where:
        yield where


def _request(
    where: str, method: str, link: str, body: bytes = b""
) -> tuple[int, dict[str, str], str]:
    parts = urlsplit(link)
    connection = http.client.HTTPConnection(where, timeout=10)
    try:
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
        connection.request(method, f"{parts.path}?{parts.query}", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


ONE_CLICK = b"List-Unsubscribe=One-Click"


def test_one_click_under_waitress_and_the_runs_after_it(
    server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _notify() == 0
    first = {str(m["To"]): m for m in _outbox()}
    assert sorted(first) == list(PEOPLE)
    sent_link = _link(first["b@gemeente.nl"])
    assert sent_link.startswith(URL + "?t=")
    assert first["b@gemeente.nl"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # the link names b and the role, and holds for 400 days after the message's date
    date = email.utils.parsedate_to_datetime(str(first["b@gemeente.nl"]["Date"])).timestamp()
    claim = read_token(SECRET.encode(), sent_link.partition("?t=")[2], date)
    assert (claim.address, claim.role) == ("b@gemeente.nl", "gemeenten")
    assert claim.expires == int(date) + 400 * 24 * 3600
    # the footer has the same link, in the text and (escaped) in the HTML part
    for message in first.values():
        own = _link(message)
        plain, markup = (message.get_body((kind,)) for kind in ("plain", "html"))
        assert plain is not None
        assert markup is not None
        assert f"open deze link:\n{own}\n" in plain.get_content()
        assert f'<a href="{own}">meld u hier af</a>' in markup.get_content()
    # that message is from 2022 (--at): its link has expired by now, and is refused
    status, _, page = _request(server, "POST", sent_link, ONE_CLICK)
    assert (status, "ongeldig of verlopen" in page) == (400, True)
    # the link a message of today carries, made the same way
    link = f"{URL}?t={make_token(SECRET.encode(), claim.address, claim.role, 2**40)}"

    # GET: a Dutch page with a button, nothing changed (link scanners follow every URL)
    status, headers, page = _request(server, "GET", link)
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert '<html lang="nl">' in page
    assert "b@gemeente.nl" in page
    assert 'method="post"' in page
    assert _suppressed() == []

    # a changed token: 400, nothing changed
    token = link.partition("?t=")[2]
    payload, _, signature = token.partition(".")
    tampered = make_token(b"another-secret-of-enough-length", "b@gemeente.nl", "gemeenten", 2**40)
    for bad in (
        f"{payload}.{signature[:-2]}AA",
        tampered,
        make_token(SECRET.encode(), "b@gemeente.nl", "gemeenten", int(time.time()) - 60),
    ):
        status, _, page = _request(server, "POST", f"{URL}?t={bad}", ONE_CLICK)
        assert status == 400
        assert "ongeldig of verlopen" in page
    assert _suppressed() == []

    # the one-click POST as a mail client sends it (RFC 8058)
    status, _, page = _request(server, "POST", link, ONE_CLICK)
    assert status == 200
    assert "U bent afgemeld" in page
    assert _suppressed() == [("b@gemeente.nl", "gemeenten", "one-click link")]
    status, _, _ = _request(server, "POST", link, ONE_CLICK)  # twice: still one row
    assert status == 200
    assert len(_suppressed()) == 1

    # the next run sends nothing to b and says so
    shutil.rmtree("outbox")
    capsys.readouterr()
    assert _notify(at=NEXT) == 0
    assert _to(_outbox()) == ["a@gemeente.nl", "c@gemeente.nl"]
    err = capsys.readouterr().err
    assert "iwmo-ijw-3.0-3.1: 2 written; 0 refused, 0 deferred, 0 expired, 1 suppressed" in err
    assert "2 message(s) written; 0 refused, 0 deferred, 0 expired, 1 suppressed" in err

    # the operator brings b back: the next reminder reaches b again
    assert main(["notify", "--resubscribe", "b@gemeente.nl"]) == 0
    assert "b@gemeente.nl: resubscribed (role gemeenten)" in capsys.readouterr().out
    assert _suppressed() == []
    shutil.rmtree("outbox")
    assert _notify(at=LATER) == 0
    assert "b@gemeente.nl" in _to(_outbox())


def test_the_page_answers_head_and_refuses_what_it_does_not_serve(server: str) -> None:
    token = make_token(SECRET.encode(), "b@gemeente.nl", "gemeenten", 2**40)
    status, headers, body = _request(server, "HEAD", f"{URL}?t={token}")
    assert (status, body) == (200, "")
    status, headers, _ = _request(server, "PUT", f"{URL}?t={token}", b"x")
    assert status == 405
    assert headers["Allow"] == "GET, HEAD, POST"
    status, _, _ = _request(server, "GET", f"{URL}?x=1")  # no token
    assert status == 400
    status, _, _ = _request(server, "POST", f"{URL}?t={token}", b"x" * 5000)
    assert status == 413
    assert not Path(STATE).exists() or _suppressed() == []


def _call(app: webapp.Application, method: str, query: str) -> tuple[str, bytes, str]:
    errors = io.StringIO()
    environ = {
        "REQUEST_METHOD": method,
        "QUERY_STRING": query,
        "CONTENT_LENGTH": str(len(ONE_CLICK)),
        "wsgi.input": io.BytesIO(ONE_CLICK),
        "wsgi.errors": errors,
    }
    seen: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], *_: object) -> None:
        seen.append(status)

    body = b"".join(app(environ, start_response))  # type: ignore[arg-type]
    return seen[0], body, errors.getvalue()


@pytest.mark.parametrize(
    ("content", "logged"),
    [
        (b"SQLite format 3\x00" + b"\xff" * 4000, "damaged"),
        (None, "no notify state here"),  # --state names a file no run uses
    ],
)
def test_a_state_that_cannot_be_written_gets_503_and_a_log_line(
    workspace: Path, content: bytes | None, logged: str
) -> None:
    if content is not None:
        Path(STATE).write_bytes(content)
    app = webapp.Application(Path(STATE), SECRET.encode(), lock_wait=0.1)
    token = make_token(SECRET.encode(), "b@gemeente.nl", "gemeenten", 2**40)
    status, body, log = _call(app, "POST", f"t={token}")
    assert status == "503 Service Unavailable"
    assert "Probeer het later opnieuw" in body.decode()
    assert logged in log
    assert content is not None or not Path(STATE).exists()


def test_a_change_notice_token_leaves_each_of_its_roles(workspace: Path) -> None:
    _made()
    app = webapp.Application(Path(STATE), SECRET.encode())
    token = make_token(SECRET.encode(), "B@Gemeente.nl", "gemeenten+zorgaanbieders", 2**40)
    status, _, _ = _call(app, "POST", f"t={token}")
    assert status == "200 OK"
    assert sorted(_suppressed()) == [
        ("b@gemeente.nl", "gemeenten", "one-click link"),
        ("b@gemeente.nl", "zorgaanbieders", "one-click link"),
    ]


@pytest.mark.parametrize(
    "query",
    [
        "t=%C3%A9.AAAA",  # a payload that is not base64url (not even ASCII)
        "t=%ED%A0%80.AAAA",  # a lone surrogate
        "a&b&c&d&e&f&g&h&i&t=x.y",  # more fields than any link has
    ],
)
def test_a_malformed_link_gets_400_not_a_traceback(workspace: Path, query: str) -> None:
    app = webapp.Application(Path(STATE), SECRET.encode())
    for method in ("GET", "POST"):
        status, body, log = _call(app, method, query)
        assert status == "400 Bad Request"
        assert "ongeldig of verlopen" in body.decode()
        assert log == ""


def test_the_address_in_a_token_is_the_key_notify_looks_up(workspace: Path) -> None:
    """Capitals and an internationalised domain: the one-click key is Recipient.key."""
    from calgen.notify.addresses import Recipient

    _made()
    app = webapp.Application(Path(STATE), SECRET.encode())
    for written in ("Upper.Case@Gemeente.NL", "Jan@BÜCHER.example", "Jürgen@Bücher.Example"):
        recipient = Recipient(email=written)
        token = make_token(SECRET.encode(), recipient.address.addr_spec, "gemeenten", 2**40)
        assert _call(app, "POST", f"t={token}")[0] == "200 OK"
        assert (recipient.key, "gemeenten", "one-click link") in _suppressed()


def test_a_message_queued_before_the_click_is_not_sent(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("blocked").write_text("a file: no outbox can be made in it")
    assert _notify(folder="blocked/outbox") == 1  # queued, not sent
    assert main(["notify", "--unsubscribe", "a@gemeente.nl"]) == 0
    capsys.readouterr()
    assert _notify() == 0
    assert _to(_outbox()) == ["b@gemeente.nl", "c@gemeente.nl"]
    assert "1 suppressed" in capsys.readouterr().err
    db = sqlite3.connect(STATE)
    assert db.execute(
        "SELECT status, reply FROM messages WHERE email = 'a@gemeente.nl'"
    ).fetchall() == [("suppressed", "unsubscribed (suppression list)")]
    db.close()


def test_no_change_notice_goes_to_an_address_that_left(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _publish_snapshot("1.0")
    assert _notify() == 0  # the first run learns version 1.0
    shutil.rmtree("outbox")
    _new_version("2022-04-01 17:00")
    _publish_snapshot("1.1")
    assert main(["notify", "--unsubscribe", "c@gemeente.nl", "--role", "gemeenten"]) == 0
    capsys.readouterr()
    assert _notify("--dry-run") == 0
    planned = capsys.readouterr().out
    assert "c@gemeente.nl" not in planned
    assert "a@gemeente.nl" in planned
    assert _notify() == 0
    notices = [m for m in _outbox() if str(m["Subject"]).startswith("Gewijzigd")]
    assert _to(notices) == ["a@gemeente.nl", "b@gemeente.nl"]


def test_the_operators_commands_say_what_they_did(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # no state where the runs would read it: refused, nothing made
    assert main(["notify", "--unsubscribe", "a@gemeente.nl"]) == 1
    assert "no notify state here" in capsys.readouterr().err
    assert not Path(STATE).exists()
    _made()
    # a role no runbook has (a typo) is not reported as done
    assert main(["notify", "--unsubscribe", "a@gemeente.nl", "--role", "gemeentn"]) == 2
    assert "did you mean 'gemeenten'?" in capsys.readouterr().err
    assert _suppressed() == []
    assert main(["notify", "--unsubscribe", "A@GEMEENTE.nl"]) == 0
    assert "a@gemeente.nl: unsubscribed from every role" in capsys.readouterr().out
    assert main(["notify", "--unsubscribe", "a@gemeente.nl", "--role", "gemeenten"]) == 0
    assert "already unsubscribed" in capsys.readouterr().out
    assert _suppressed() == [("a@gemeente.nl", "*", "operator")]
    # one role back while every role is left: said, not done
    assert main(["notify", "--resubscribe", "a@gemeente.nl", "--role", "gemeenten"]) == 1
    assert "still unsubscribed from every role" in capsys.readouterr().out
    assert main(["notify", "--resubscribe", "a@gemeente.nl"]) == 0
    assert _suppressed() == []
    assert main(["notify", "--unsubscribe", "not an address"]) == 2
    assert "nothing changed" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["notify", "--unsubscribe", "a@gemeente.nl", "--outbox", "x"])
    assert exc.value.code == 2
    assert "--unsubscribe takes no --outbox" in capsys.readouterr().err


def test_the_server_needs_its_secret_from_the_environment(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(SECRET_VARIABLE)
    assert main(["unsubscribe-server", "--port", "0"]) == 2
    assert SECRET_VARIABLE in capsys.readouterr().err


def test_a_suppression_row_calgen_cannot_read_counts_as_leaving_every_role(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _made()
    assert main(["notify", "--unsubscribe", "a@gemeente.nl", "--role", "gemeenten"]) == 0
    db = sqlite3.connect(STATE, isolation_level=None)
    db.execute("UPDATE suppressed SET role = 'Gemeenten; DROP' WHERE email = 'a@gemeente.nl'")
    db.close()
    capsys.readouterr()
    assert _notify() == 1  # named, and the run says so in its exit code
    err = capsys.readouterr().err
    assert "suppressed row (a@gemeente.nl, 'Gemeenten; DROP')" in err
    assert "taken as unsubscribed from every role" in err
    assert _to(_outbox()) == ["b@gemeente.nl", "c@gemeente.nl"]
    # --status names it too, and asks for attention
    assert main(["notify", "--status"]) == 1
    assert "suppressed row (a@gemeente.nl, 'Gemeenten; DROP')" in capsys.readouterr().out


def test_a_wsgi_server_can_load_the_application_from_the_environment(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(webapp.STATE_VARIABLE, "elsewhere.sqlite")
    app = webapp.from_environment()
    assert (app.state, app.secret) == (Path("elsewhere.sqlite"), SECRET.encode())
    monkeypatch.setenv(SECRET_VARIABLE, "short")
    with pytest.raises(SystemExit, match=SECRET_VARIABLE):
        webapp.from_environment()


RUNBOOK = Path("runbooks") / "iwmo-ijw-3.0-3.1.yaml"


def _edit(line_start: str, new_line: str) -> None:
    lines = RUNBOOK.read_text(encoding="utf-8").split("\n")
    index = next(i for i, line in enumerate(lines) if line.startswith(line_start))
    lines[index] = new_line
    RUNBOOK.write_text("\n".join(lines), encoding="utf-8")


@pytest.mark.parametrize("padding", [0, 6, 15, 40])
def test_runbook_text_that_looks_like_the_footer_placeholder_changes_nothing(
    workspace: Path, capsys: pytest.CaptureFixture[str], padding: int
) -> None:
    """The placeholder has a random part: an editor's `@@AFMELDLINK@@`, wherever
    quoted-printable wraps it, is text like any other (found by an attack round: it
    used to stop every run, or become the recipient's link)."""
    _edit(
        '    description: "Alle beschikbare heenberichten zijn verzonden door gemeenten',
        '    description: "Alle beschikbare heenberichten zijn verzonden door gemeenten '
        + "x" * padding
        + ' @@AFMELDLINK@@ en @@AFMELDLINKH@@ einde."',
    )
    assert _notify() == 0
    assert _notify() == 0
    messages = _outbox()
    assert len(messages) == 3
    for message in messages:
        plain = message.get_body(("plain",))
        assert plain is not None
        assert "@@AFMELDLINK@@ en @@AFMELDLINKH@@ einde." in " ".join(plain.get_content().split())


def test_the_footer_link_never_reaches_the_headers(workspace: Path) -> None:
    """Even calgen's own placeholder in a title (a one-item reminder's subject) stays
    text: the link goes into the parts only, never into the header block."""
    from calgen.notify.compose import _LINK

    Path("subscribers.yaml").write_text(
        f"unsubscribe: {{url: '{URL}'}}\nsubscribers:\n  zorgaanbieders: [z@za.nl]\n",
        encoding="utf-8",
    )
    _edit(
        "    title: Alle declaratie-/factuurberichten verzonden", f'    title: "Facturen {_LINK}"'
    )
    assert _notify(at="2022-02-28 12:00") == 0
    (message,) = _outbox()
    assert message.defects == []
    assert message["From"] is not None
    assert message.get_content_type() == "multipart/alternative"
    assert _LINK in str(message["Subject"])


def test_the_server_warns_at_start_when_no_state_is_where_it_writes(workspace: Path) -> None:
    env = {**os.environ, SECRET_VARIABLE: SECRET}
    command = [sys.executable, "-m", "calgen", "unsubscribe-server", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--state", "elsewhere.sqlite"], stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stderr is not None
        assert "serving one-click unsubscribe on http://127.0.0.1:" in process.stderr.readline()
        warning = process.stderr.readline()
        assert "elsewhere.sqlite: no notify state here yet" in warning
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()
    assert not Path("elsewhere.sqlite").exists()
