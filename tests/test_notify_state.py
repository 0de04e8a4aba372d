"""The notify state is data from outside: hand-edited rows, a newer or damaged database,
`--state` through symlinks and FIFOs, its size over the years (issue 19, item 4).

Each test attacks one way the state can be wrong and checks that calgen names it (with
the row's id, never a traceback) and that everything else still goes out.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from calgen.cli import main
from tests.conftest import ROOT
from tests.test_notify_input import _new_version, _outbox, _publish_snapshot

AT = "2022-03-29 17:30"  # 3.1.3's reminders for gemeenten (1 week, late; 1 working day)
EARLY = "2021-11-24 09:00"  # nothing due yet
RUNBOOK = "iwmo-ijw-3.0-3.1"
STATE = "notify-state.sqlite"
PEOPLE = ("a@gemeente.nl", "b@gemeente.nl", "c@gemeente.nl")


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return make_workspace(tmp_path, monkeypatch)


def make_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The seed of 2022 and three subscribers of gemeenten, as the current folder."""
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    (tmp_path / "runbooks" / "iwmo-2.1-2.2.yaml").unlink()
    (tmp_path / "subscribers.yaml").write_text(
        "subscribers:\n  gemeenten: [" + ", ".join(PEOPLE) + "]\n", encoding="utf-8"
    )
    Path(tmp_path / "blocked").write_text("a file, so no outbox can be made in it")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _notify(*args: str, at: str = AT) -> int:
    return main(["notify", "--subscribers", "subscribers.yaml", "--at", at, *args])


def _queue_only(*args: str, at: str = AT) -> None:
    """A run that queues what is due and cannot send it (its outbox cannot be made)."""
    assert _notify("--outbox", "blocked/outbox", *args, at=at) == 1


@pytest.fixture
def db(workspace: Path) -> Iterator[sqlite3.Connection]:
    """The state after a run that queued everything due, open for hand edits."""
    _queue_only()
    connection = sqlite3.connect(STATE, isolation_level=None)
    try:
        yield connection
    finally:
        connection.close()


def _recipients() -> list[str]:
    return sorted(str(m["To"]) for m in _outbox())


def _row(db: sqlite3.Connection, email: str) -> int:
    (found,) = db.execute("SELECT id FROM messages WHERE email = ?", (email,)).fetchone()
    return int(found)


# --------------------------------------------------------------------------- rows


@pytest.mark.parametrize(
    "lead", ["x1-week", "99999999999999999999-week", "400-week", "1-fortnight"]
)
def test_a_hand_edited_lead_is_named_with_its_row_and_the_rest_goes_out(
    db: sqlite3.Connection, capsys: pytest.CaptureFixture[str], lead: str
) -> None:
    db.execute(
        "UPDATE items SET lead = ? WHERE email = 'a@gemeente.nl' AND lead = '1-working-day'",
        (lead,),
    )
    capsys.readouterr()
    assert _notify("--outbox", "outbox") == 1
    err = capsys.readouterr().err
    row = _row(db, "a@gemeente.nl")
    assert f"items row ({RUNBOOK}, a@gemeente.nl, 3.1.3, {lead}) of messages row {row}" in err
    assert "left out of the message" in err
    assert "Traceback" not in err
    assert set(_recipients()) == set(PEOPLE)  # a's other reminder (1 week) still goes out


def test_a_hand_edited_status_is_named_not_silently_never_sent(
    db: sqlite3.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute("UPDATE messages SET status = 'paused' WHERE email = 'a@gemeente.nl'")
    capsys.readouterr()
    assert _notify("--outbox", "outbox") == 1
    err = capsys.readouterr().err
    assert f"messages row {_row(db, 'a@gemeente.nl')}: unknown status 'paused'; not sent" in err
    assert _recipients() == ["b@gemeente.nl", "c@gemeente.nl"]


@pytest.mark.parametrize(
    ("column", "value", "why"),
    [
        ("kind", "'digest'", "unknown kind 'digest'"),
        ("date", "'tomorrow'", "date 'tomorrow' is not one calgen writes"),
        ("msgid", "'<x>' || char(10) || 'Bcc: x@evil.example'", "Message-ID"),
        ("email", "'a@gemeente.nl' || char(13)", "address"),
        ("attempts", "-1", "attempts -1 is not one calgen writes"),
    ],
)
def test_a_hand_edited_message_row_is_named_and_left_alone(
    db: sqlite3.Connection,
    capsys: pytest.CaptureFixture[str],
    column: str,
    value: str,
    why: str,
) -> None:
    row = _row(db, "a@gemeente.nl")
    db.execute(f"UPDATE messages SET {column} = {value} WHERE id = ?", (row,))
    before = db.execute("SELECT * FROM messages WHERE id = ?", (row,)).fetchone()
    capsys.readouterr()
    assert _notify("--outbox", "outbox") == 1
    err = capsys.readouterr().err
    assert f"messages row {row}: {why}" in err
    assert "Traceback" not in err
    assert _recipients() == ["b@gemeente.nl", "c@gemeente.nl"]
    assert db.execute("SELECT * FROM messages WHERE id = ?", (row,)).fetchone() == before


def test_a_reminder_whose_items_are_gone_is_named_not_cancelled(
    db: sqlite3.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    row = _row(db, "a@gemeente.nl")
    db.execute("DELETE FROM items WHERE message = ?", (row,))
    capsys.readouterr()
    assert _notify("--outbox", "outbox") == 1
    assert f"messages row {row}: a reminder without items" in capsys.readouterr().err
    assert db.execute("SELECT status FROM messages WHERE id = ?", (row,)).fetchone() == ("queued",)


def test_a_hand_edited_notice_ref_is_named_with_its_row(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _publish_snapshot("1.0")
    assert _notify("--outbox", "outbox", at=EARLY) == 0  # records 1.0
    _new_version("2022-03-31 17:00")
    _publish_snapshot("1.1")
    _queue_only(at=EARLY)  # three change notices queued
    db = sqlite3.connect(STATE, isolation_level=None)
    row = _row(db, "a@gemeente.nl")
    db.execute("UPDATE messages SET ref = 'abc' WHERE id = ?", (row,))
    db.close()
    capsys.readouterr()
    assert _notify("--outbox", "outbox", at=EARLY) == 1
    err = capsys.readouterr().err
    assert f"messages row {row}: ref 'abc' is not a change notice's id" in err
    assert "Traceback" not in err
    assert _recipients() == ["b@gemeente.nl", "c@gemeente.nl"]


def test_a_hand_edited_seen_version_is_never_a_path(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _publish_snapshot("1.0")
    assert _notify("--outbox", "outbox", at=EARLY) == 0
    db = sqlite3.connect(STATE, isolation_level=None)
    db.execute("UPDATE seen SET version = '../../../etc/passwd'")
    db.close()
    _new_version("2022-03-31 17:00")
    _publish_snapshot("1.1")
    assert _notify("--outbox", "outbox", at=EARLY) == 1
    err = capsys.readouterr().err
    assert f"seen row of runbook {RUNBOOK}: version '../../../etc/passwd' is not a version" in err
    assert _outbox() == []


# --------------------------------------------------------------------------- the database


def test_a_state_of_a_newer_calgen_is_refused(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _notify("--outbox", "outbox", at=EARLY) == 0
    db = sqlite3.connect(STATE, isolation_level=None)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    db.close()
    before = Path(STATE).read_bytes()
    assert _notify("--outbox", "outbox") == 1
    err = capsys.readouterr().err
    assert f"{STATE}: a notify state of schema version 99, made by a newer calgen" in err
    assert "nothing was sent" in err
    assert _outbox() == []
    assert Path(STATE).read_bytes() == before


def test_a_dropped_items_table_is_named_damaged_not_silently_cancelled(
    db: sqlite3.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute("DROP TABLE items")
    capsys.readouterr()
    assert _notify("--outbox", "outbox") == 1
    err = capsys.readouterr().err
    assert f"{STATE}: the notify state is damaged (table items is missing)" in err
    assert _outbox() == []
    assert db.execute("SELECT DISTINCT status FROM messages").fetchall() == [("queued",)]


@pytest.mark.parametrize("keep", [50, 4096, "half"])
def test_a_truncated_state_is_named_damaged(
    workspace: Path, capsys: pytest.CaptureFixture[str], keep: int | str
) -> None:
    many = [f"p{i}@gemeente{i}.nl" for i in range(300)]
    Path("subscribers.yaml").write_text(
        "subscribers:\n  gemeenten: [" + ", ".join(many) + "]\n", encoding="utf-8"
    )
    assert _notify("--outbox", "outbox") == 0
    assert not Path(f"{STATE}-wal").exists()
    data = Path(STATE).read_bytes()
    assert len(data) > 8 * 4096
    Path(STATE).write_bytes(data[: len(data) // 2 if keep == "half" else int(keep)])
    capsys.readouterr()
    assert _notify("--outbox", "outbox2") == 1
    err = capsys.readouterr().err
    assert f"{STATE}: the notify state is damaged" in err
    assert "not a calgen notify state" not in err
    assert "Restore the state from a backup" in err
    assert _outbox("outbox2") == []


# --------------------------------------------------------------------------- --state


def test_a_state_through_a_symlink_loop_is_refused(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.symlink("loop.sqlite", "loop.sqlite")
    assert _notify("--outbox", "outbox", "--state", "loop.sqlite") == 1
    err = capsys.readouterr().err
    assert "loop.sqlite: a symlink loop; --state must name a regular file" in err
    assert "Traceback" not in err
    assert Path("loop.sqlite").is_symlink()


@pytest.mark.parametrize("dry", [False, True])
def test_a_fifo_as_state_is_refused_without_blocking(
    workspace: Path, capsys: pytest.CaptureFixture[str], dry: bool
) -> None:
    os.mkfifo("fifo.sqlite")
    args = [sys.executable, "-m", "calgen", "notify", "--subscribers", "subscribers.yaml"]
    args += ["--at", AT, "--outbox", "outbox", "--state", "fifo.sqlite", "--lock-wait", "1"]
    done = subprocess.run(
        [*args, *(["--dry-run"] if dry else [])], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "fifo.sqlite: is a FIFO (named pipe); --state must name a regular file" in done.stderr
    assert not Path("outbox").exists()


def test_a_symlink_to_a_state_not_made_yet_stays_a_symlink(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("var").mkdir()
    os.symlink("var/real.sqlite", "link.sqlite")
    assert _notify("--outbox", "outbox", "--state", "link.sqlite") == 0
    assert Path("link.sqlite").is_symlink()
    assert Path("var/real.sqlite").read_bytes().startswith(b"SQLite format 3\x00")
    assert len(_outbox()) == 3
    # the real path is the same state: nothing is sent again
    assert _notify("--outbox", "outbox2", "--state", "var/real.sqlite") == 0
    assert _outbox("outbox2") == []


def test_a_json_state_through_a_symlink_is_migrated_where_it_lies(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("var").mkdir()
    Path("var/old.json").write_text('{"version": 1, "sent": {}}', encoding="utf-8")
    os.symlink("var/old.json", "old.json")
    assert _notify("--outbox", "outbox", "--state", "old.json") == 0
    assert "migrated the JSON state old.json (0 records) to SQLite" in capsys.readouterr().err
    assert Path("old.json").is_symlink()
    assert Path("var/old.json").read_bytes().startswith(b"SQLite format 3\x00")
    assert Path("var/old.json.v1.json").is_file()


@pytest.mark.parametrize("dry", [True, False])
def test_the_state_is_never_read_whole(workspace: Path, dry: bool) -> None:
    """A 160 MB state, a run for three people: the peak stays far below the file."""
    assert _notify("--outbox", "outbox", at=EARLY) == 0
    db = sqlite3.connect(STATE, isolation_level=None)
    db.execute("INSERT INTO meta VALUES ('padding', zeroblob(160 * 1024 * 1024))")
    db.close()
    assert Path(STATE).stat().st_size > 160 * 1024 * 1024
    args = ["notify", "--subscribers", "subscribers.yaml", "--at", AT, "--outbox", "outbox"]
    child = subprocess.Popen(
        [sys.executable, "-m", "calgen", *args, *(["--dry-run"] if dry else [])],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    assert child.returncode == 0
    peak_mb = usage.ru_maxrss / 1024
    assert peak_mb < 150, peak_mb  # reading the file whole would take more than 160
    assert len(_outbox()) == (0 if dry else 3)


@pytest.mark.parametrize("where", ["a folder", "/dev/null"])
def test_a_state_that_is_not_a_file_is_refused(
    workspace: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    state = where
    if where == "a folder":
        Path(state).mkdir()
    assert _notify("--outbox", "outbox", "--state", state) == 1
    err = capsys.readouterr().err
    assert "--state must name a regular file" in err
    assert "Traceback" not in err
    assert not Path("outbox").exists()
    assert Path(state).is_dir() if where == "a folder" else Path(state).is_char_device()


# --------------------------------------------------------------------------- retention


def _count(table: str) -> int:
    db = sqlite3.connect(STATE)
    try:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        db.close()


def test_rows_older_than_the_retention_are_pruned_and_never_sent_again(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _notify("--outbox", "outbox") == 0
    assert len(_outbox()) == 3
    assert _count("messages") == 3
    # a year later everything sent is still kept (400 days from the end of its event)
    assert _notify("--outbox", "outbox", at="2023-03-29 17:30") == 0
    assert _count("messages") == 3
    assert _count("items") > 3
    capsys.readouterr()
    # every event of the runbook over for more than 400 days: all pruned, and neither
    # sent again nor reported as expired again
    assert _notify("--outbox", "outbox", at="2024-01-02 10:00") == 0
    err = capsys.readouterr().err
    assert "pruned 3 message(s) and" in err
    assert "expired, not sent" not in err
    assert (_count("messages"), _count("items"), _count("notices")) == (0, 0, 0)
    assert len(_outbox()) == 3
    assert _notify("--outbox", "outbox", at="2024-01-09 10:00") == 0
    err = capsys.readouterr().err
    assert "pruned" not in err
    assert "expired, not sent" not in err
    assert len(_outbox()) == 3
    assert _count("items") == 0


def test_a_longer_retention_keeps_the_rows(workspace: Path) -> None:
    assert _notify("--outbox", "outbox") == 0
    assert _notify("--outbox", "outbox", "--retention-days", "800", at="2024-01-02 10:00") == 0
    assert _count("messages") == 3
    assert len(_outbox()) == 3


@pytest.mark.parametrize("days", ["0", "3651", "-5", "٤٠٠", "many"])
def test_retention_days_out_of_range_is_a_usage_error(
    workspace: Path, capsys: pytest.CaptureFixture[str], days: str
) -> None:
    with pytest.raises(SystemExit) as stop:
        _notify("--outbox", "outbox", "--retention-days", days)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "argument --retention-days:" in err
    assert "is not from 1 to 3650" in err or "not a number" in err


def test_a_schema_3_state_gains_the_suppression_list(workspace: Path) -> None:
    """Schema 3 had no `suppressed` table: a dry run reads it as it is, a run adds it."""
    assert _notify("--outbox", "outbox") == 0
    db = sqlite3.connect(STATE, isolation_level=None)
    db.execute("DROP TABLE suppressed")
    db.execute("UPDATE meta SET value = '3' WHERE key = 'schema'")
    db.close()
    assert _notify("--outbox", "outbox", "--dry-run") == 0  # read only: nothing changed
    db = sqlite3.connect(STATE)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == ("3",)
    db.close()
    assert _notify("--outbox", "outbox") == 0
    db = sqlite3.connect(STATE)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == ("4",)
    assert db.execute("SELECT count(*) FROM suppressed").fetchone() == (0,)
    assert db.execute("SELECT value FROM meta WHERE key = 'fill-over'").fetchone() is None
    db.close()
    assert len(_outbox()) == 3  # nothing sent twice


def test_a_schema_2_state_is_upgraded_and_pruned_later(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The state as calgen wrote it before schema 3: no `over`; filled in from the runbook."""
    assert _notify("--outbox", "outbox") == 0
    db = sqlite3.connect(STATE, isolation_level=None)
    db.execute("ALTER TABLE messages DROP COLUMN over")
    db.execute("ALTER TABLE items DROP COLUMN over")
    db.execute("DROP TABLE suppressed")
    db.execute("UPDATE meta SET value = '2' WHERE key = 'schema'")
    db.execute("DELETE FROM meta WHERE key NOT IN ('schema', 'last_run')")  # as schema 2 had
    db.close()
    assert _notify("--outbox", "outbox") == 0  # upgraded; nothing sent again
    assert len(_outbox()) == 3
    db = sqlite3.connect(STATE)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == ("4",)
    assert db.execute("SELECT count(*) FROM items WHERE over IS NULL").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM suppressed").fetchone() == (0,)
    db.close()
    assert _notify("--outbox", "outbox", at="2024-01-02 10:00") == 0
    assert _count("messages") == 0
    assert len(_outbox()) == 3


# --------------------------------------------------------------------------- claiming


def test_claiming_is_a_compare_and_set_from_what_was_read(db: sqlite3.Connection) -> None:
    from calgen.notify.statefile import open_state

    with open_state(Path(STATE), wait=1) as opened:
        page, _ = opened.state.pending()
        first = page[0]
        # another process (a second run under another name, a hand edit) sends it first
        db.execute("UPDATE messages SET status = 'sent' WHERE id = ?", (first.id,))
        assert opened.state.claim(first) is False
        assert opened.state.claim(page[1]) is True
        assert opened.state.claim(page[1]) is False  # read as queued; claimed since
