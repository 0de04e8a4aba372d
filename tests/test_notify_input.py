"""`calgen notify`: hostile subscriber files and arguments, the state file, change notices.

Everything through the command line into an outbox folder, read back with the standard
library's parser (the way a mail client reads it).
"""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import sqlite3
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage
from pathlib import Path

import pytest

from calgen.cli import main
from calgen.core.errors import CalgenError
from calgen.notify import NotifyError, StateError
from calgen.render.changes import snapshot, to_json
from calgen.runbook.validate import load_runbook
from tests.conftest import ROOT

AT = "2022-03-29 17:30"  # 3.1.2/3.1.3's 1-working-day reminders are due
RUNBOOK = "iwmo-ijw-3.0-3.1"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    (tmp_path / "runbooks" / "iwmo-2.1-2.2.yaml").unlink()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _subscribers(text: str) -> None:
    Path("subscribers.yaml").write_text(text, encoding="utf-8")


def _notify(*args: str, at: str = AT) -> int:
    return main(["notify", "--subscribers", "subscribers.yaml", "--at", at, *args])


def _outbox(folder: str = "outbox") -> list[EmailMessage]:
    found = []
    for path in sorted(Path(folder).glob("*.eml")):
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        found.append(parsed)
    return found


# --------------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            'from: "Draaiboek\\n<d@example.org>"\nsubscribers: {}\n',
            "1:7: control characters (such as a newline) in 'from'",
        ),
        (
            'from: "ceo@bank.example <d@example.org>"\nsubscribers: {}\n',
            "1:7: 'from' is not one e-mail address",
        ),
        (
            'from: "\\"ceo@bank.example\\" <d@example.org>"\nsubscribers: {}\n',
            "1:7: the display name of 'from' must not hold an address",
        ),
        ('from: "a@b.nl, c@d.nl"\nsubscribers: {}\n', "1:7: 'from' is not one e-mail address"),
    ],
)
def test_a_hostile_sender_refuses_the_file(
    workspace: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    _subscribers(content)
    assert _notify("--outbox", "outbox") == 1
    err = capsys.readouterr().err
    assert f"subscribers.yaml:{message}" in err
    assert "Traceback" not in err
    assert not Path("outbox").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            'subscribers:\n  gemeenten: ["a@gemeente.nl\\n"]\n',
            "2:15: control characters (such as a newline) in an e-mail address",
        ),
        (
            "subscribers:\n  gemeenten:\n"
            '    - {email: a@gemeente.nl, name: "ICT\\nBcc: x@evil.example"}\n',
            "3:36: control characters (such as a newline) in a display name",
        ),
        (
            "subscribers:\n  gemeenten: [a@gemeente.nl]\n  vecozo: ['a@b.nl,c@d.nl']\n",
            "3:12: not a valid e-mail address: 'a@b.nl,c@d.nl' (more than one @)",
        ),
        (
            "subscribers:\n  gemeenten: [{email: a@gemeente.nl, naam: X}]\n",
            "2:15: unknown key 'naam' (allowed: email, name)",
        ),
    ],
)
def test_a_hostile_entry_is_skipped_and_everyone_else_is_mailed(
    workspace: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    _subscribers(content + "  zorgaanbieders: [ok@aanbieder.nl]\n")
    assert _notify("--outbox", "outbox") == 1
    err = capsys.readouterr().err
    assert f"subscribers.yaml:{message}" in err
    assert "skipped: that entry gets nothing, everyone else does" in err
    assert "Traceback" not in err
    assert "ok@aanbieder.nl" in [str(m["To"]) for m in _outbox()]
    assert all("evil" not in str(m["To"]) and "\n" not in str(m["To"]) for m in _outbox())


def test_a_display_name_cannot_add_a_recipient(workspace: Path) -> None:
    _subscribers(
        "subscribers:\n  gemeenten:\n"
        '    - {email: planning@gemeente.nl, name: "Café, evil@evil.example"}\n'
    )
    assert _notify("--outbox", "outbox") == 0
    (message,) = _outbox()
    to = HeaderRegistry()("To", str(message["To"]))
    assert [a.addr_spec for a in to.addresses] == ["planning@gemeente.nl"]  # type: ignore[attr-defined]
    assert to.addresses[0].display_name == "Café, evil@evil.example"  # type: ignore[attr-defined]
    text = message.get_body(("plain",))
    assert text is not None
    assert text.get_content().startswith("Beste Café, evil@evil.example,\n")


def test_the_same_mailbox_twice_in_a_role_gets_one_message(workspace: Path) -> None:
    _subscribers(
        "subscribers:\n  gemeenten:\n    - Planning@Gemeente.nl\n"
        "    - {email: planning@gemeente.nl, name: Planning}\n"
    )
    assert _notify("--outbox", "outbox") == 0
    assert len(_outbox()) == 1


@pytest.mark.parametrize(
    "args",
    [
        ["--expire-days", "10000000000"],
        ["--expire-days", "-1"],
        ["--lock-wait", "nan"],
        ["--smtp-timeout", "0"],
    ],
)
def test_out_of_range_numbers_are_usage_errors(
    workspace: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    _subscribers("subscribers: {}\n")
    with pytest.raises(SystemExit) as stop:
        _notify("--outbox", "outbox", *args)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "is not from" in err or "not a number" in err


def test_errors_are_calgen_errors() -> None:
    assert issubclass(NotifyError, CalgenError)
    assert issubclass(StateError, NotifyError)


# --------------------------------------------------------------------------- state


def test_a_json_state_is_migrated_once(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _subscribers("subscribers:\n  gemeenten: [a@gemeente.nl, b@gemeente.nl]\n")
    legacy = {  # what calgen 0.x recorded: a's reminder for 3.1.3 went out already
        "version": 1,
        "sent": {
            f"{RUNBOOK}|3.1.3|1-working-day|a@gemeente.nl": "2022-03-29T15:05:00Z",
            f"{RUNBOOK}|3.1.3|1-week|a@gemeente.nl": "2022-03-23T16:05:00Z",
            f"{RUNBOOK}|3.1.3|1-week|b@gemeente.nl": "2022-03-23T16:05:00Z",
        },
    }
    Path("old.json").write_text(json.dumps(legacy), encoding="utf-8")
    assert _notify("--outbox", "outbox", "--state", "old.json") == 0
    err = capsys.readouterr().err
    assert "migrated the JSON state old.json (3 records) to SQLite" in err
    assert Path("old.json").read_bytes().startswith(b"SQLite format 3\x00")
    assert json.loads(Path("old.json.v1.json").read_text(encoding="utf-8")) == legacy
    texts = {}
    for message in _outbox():
        body = message.get_body(("plain",))
        assert body is not None
        texts[str(message["To"])] = body.get_content()
    assert "3.1.3 Alle heenberichten verzonden door gemeenten" not in texts["a@gemeente.nl"]
    assert "3.1.3 Alle heenberichten verzonden door gemeenten" in texts["b@gemeente.nl"]
    assert _notify("--outbox", "outbox", "--state", "old.json") == 0
    assert "migrated" not in capsys.readouterr().err
    assert len(_outbox()) == 2


def test_the_default_json_state_is_picked_up(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _subscribers("subscribers:\n  gemeenten: [a@gemeente.nl]\n")
    key = f"{RUNBOOK}|3.1.3|1-working-day|a@gemeente.nl"
    Path("notify-state.json").write_text(json.dumps({"version": 1, "sent": {key: "x"}}))
    assert _notify("--outbox", "outbox") == 0
    assert "migrated the JSON state notify-state.json (1 records) to notify-state.sqlite" in (
        capsys.readouterr().err
    )
    assert Path("notify-state.json").is_file()  # left as it was
    db = sqlite3.connect("notify-state.sqlite")
    assert db.execute(
        "SELECT status FROM items WHERE item = '3.1.3' AND lead = '1-working-day'"
    ).fetchone() == ("sent",)


@pytest.mark.parametrize("content", [b"{not json", b'{"sent": []}', b"\x00\x01garbage"])
def test_a_broken_state_is_a_notify_error_not_a_runbook_error(
    workspace: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    _subscribers("subscribers:\n  gemeenten: [a@gemeente.nl]\n")
    Path("state.db").write_bytes(content)
    assert _notify("--outbox", "outbox", "--state", "state.db") == 1
    err = capsys.readouterr().err
    assert "state.db: neither a calgen notify state database nor a version-1 JSON state" in err
    assert "Traceback" not in err
    assert Path("state.db").read_bytes() == content  # not ours to change
    assert not Path("outbox").exists()


def test_a_state_in_a_folder_that_cannot_be_made(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _subscribers("subscribers:\n  gemeenten: [a@gemeente.nl]\n")
    Path("file").write_text("not a folder")
    assert _notify("--outbox", "outbox", "--state", "file/state.sqlite") == 1
    err = capsys.readouterr().err
    assert "file/state.sqlite: the notify state cannot be used" in err
    assert "Traceback" not in err


def test_text_is_rendered_once_per_distinct_content(workspace: Path) -> None:
    from calgen.notify import deliver
    from calgen.notify.transport import Sender

    people = [f"p{i}@gemeente{i}.nl" for i in range(40)]
    _subscribers("subscribers:\n  gemeenten: [" + ", ".join(people) + "]\n")
    renders: list[int] = []
    original = deliver._Run.deliver

    def counting(self: deliver._Run, sender: Sender) -> None:
        original(self, sender)
        renders.append(self.composer.renders)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(deliver._Run, "deliver", counting)
        assert _notify("--outbox", "outbox") == 0
    assert len(_outbox()) == 40
    assert renders == [1]  # one content for the whole role


# --------------------------------------------------------------------------- changes


def _publish_snapshot(version: str) -> None:
    """What `calgen build` writes to dist/<id>/versies/, from the runbook as it is now."""
    runbook, diags = load_runbook(Path("runbooks") / f"{RUNBOOK}.yaml")
    assert not diags.errors
    folder = Path("dist") / RUNBOOK / "versies"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{version}.json").write_text(to_json(version, snapshot(runbook)), encoding="utf-8")


def _new_version(move_to: str) -> None:
    path = Path("runbooks") / f"{RUNBOOK}.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace(
        "versions:\n",
        'versions:\n  - {version: "1.1", date: 2022-03-01, note: 3.1.3 verplaatst}\n',
        1,
    )
    start = text.index('- id: "3.1.3"')
    head, tail = text[:start], text[start:]
    moved = head + tail.replace('at: "2022-03-30 17:00"', f'at: "{move_to}"', 1)
    assert moved != text
    path.write_text(moved, encoding="utf-8")


def test_a_moved_milestone_is_announced_once_to_its_role(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _subscribers(
        "subscribers:\n  gemeenten: [a@gemeente.nl, {email: b@gemeente.nl, name: B}]\n"
        "  zorgaanbieders: [z@aanbieder.nl]\n"
    )
    _publish_snapshot("1.0")
    early = "2021-11-24 09:00"  # nothing due yet: only the version is recorded
    assert _notify("--outbox", "outbox", at=early) == 0
    assert _outbox() == []
    _new_version("2022-03-31 17:00")
    assert _notify("--outbox", "outbox", at=early) == 0  # 1.1 is not published yet
    assert _outbox() == []
    _publish_snapshot("1.1")
    assert _notify("--outbox", "outbox", at=early) == 0
    assert "2 message(s) written" in capsys.readouterr().err
    messages = _outbox()
    assert sorted(str(m["To"]) for m in messages) == ["B <b@gemeente.nl>", "a@gemeente.nl"]
    message = messages[0]
    assert (
        message["Subject"] == "Gewijzigd: Migratie naar iWmo/iJw 3.1, versie 1.1: 3.1.3 verschoven"
    )
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert (
        "- 3.1.3 verschoven van woensdag 30 maart 2022, 17.00 uur naar donderdag 31 maart"
        " 2022, 17.00 uur (Alle heenberichten verzonden door gemeenten)"
    ) in text
    assert "ten opzichte van versie 1.0" in text
    assert "3.1.2" not in text
    # once per version: later runs say nothing more about 1.1
    assert _notify("--outbox", "outbox", at=early) == 0
    assert len(_outbox()) == 2


def test_an_sqlite_database_that_is_not_ours_is_left_alone(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _subscribers("subscribers:\n  gemeenten: [a@gemeente.nl]\n")
    other = sqlite3.connect("app.db")
    other.execute("CREATE TABLE customers (name TEXT)")
    other.commit()
    other.close()
    before = Path("app.db").read_bytes()
    assert _notify("--outbox", "outbox", "--state", "app.db") == 1
    assert "app.db: an SQLite database that is not a calgen notify state" in (
        capsys.readouterr().err
    )
    assert Path("app.db").read_bytes() == before
    assert not Path("outbox").exists()


def test_dry_run_says_would_send_and_writes_nothing(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _subscribers("subscribers:\n  gemeenten: [a@gemeente.nl, b@gemeente.nl]\n")
    assert _notify("--outbox", "outbox", "--dry-run") == 0
    captured = capsys.readouterr()
    assert "dry run: would send 2 message(s)" in captured.err
    assert captured.out.startswith("a@gemeente.nl\t[8 van 10 te laat] Herinnering")
    assert sorted(p.name for p in workspace.iterdir()) == ["runbooks", "subscribers.yaml"]


def test_progress_on_a_terminal(workspace: Path) -> None:
    import io

    from calgen import notify
    from calgen.core import schedule
    from calgen.runbook.validate import load_runbook

    runbook, _ = load_runbook(Path("runbooks") / f"{RUNBOOK}.yaml")
    people = tuple(notify.Recipient(email=f"p{i}@gemeente.nl") for i in range(3))
    screen = io.StringIO()
    report = notify.run(
        notify.Options(
            runbooks=[runbook],
            subscribers=notify.Subscribers(
                sender=notify.addresses.DEFAULT_FROM, by_role={"gemeenten": people}
            ),
            at=schedule.parse_local(AT),
            state=Path("state.sqlite"),
            outbox=Path("outbox"),
            progress=screen,
        )
    )
    assert report.exit_code == 0
    assert report.total("sent") == 3
    assert report.counts[runbook.id]["sent"] == 3
    assert screen.getvalue().endswith("\r3/3 written\n")


def test_no_link_or_image_from_runbook_data_in_a_mail(workspace: Path) -> None:
    path = Path("runbooks") / f"{RUNBOOK}.yaml"
    text = path.read_text(encoding="utf-8")
    hostile = (
        'description: "Zie ![pixel](http://tracker.example/p.png) en'
        ' [hier](javascript:alert(1)) en <https://phish.example/>."'
    )
    start = text.index('- id: "3.1.3"')
    tail = text[start:]
    old = tail[tail.index("description:") :].split("\n", 1)[0]
    path.write_text(text[:start] + tail.replace(old, hostile, 1), encoding="utf-8")
    _subscribers("subscribers:\n  gemeenten: [a@gemeente.nl]\n")
    assert _notify("--outbox", "outbox", "--base-url", "https://draaiboek.example.org") == 0
    (message,) = _outbox()
    html = message.get_body(("html",))
    assert html is not None
    markup = html.get_content()
    assert "Zie" in markup
    assert "<img" not in markup
    assert "tracker.example" not in markup
    for bad in ('href="javascript:', 'href="https://phish'):  # shown as text, never a link
        assert bad not in markup
    hrefs = [part.split('"', 1)[0] for part in markup.split('href="')[1:]]
    assert hrefs
    assert all(h.startswith("https://draaiboek.example.org/") for h in hrefs)


@pytest.mark.parametrize("kind", ["empty file", "empty database"])
def test_a_state_killed_while_being_made_is_taken_up(workspace: Path, kind: str) -> None:
    """Found by the SIGKILL test: a run killed as it made the state left an empty file."""
    _subscribers("subscribers:\n  gemeenten: [a@gemeente.nl]\n")
    if kind == "empty file":
        Path("notify-state.sqlite").write_bytes(b"")
    else:
        db = sqlite3.connect("notify-state.sqlite")
        db.execute("PRAGMA journal_mode = WAL")  # the header, nothing else
        db.close()
    assert _notify("--outbox", "outbox") == 0
    assert len(_outbox()) == 1
