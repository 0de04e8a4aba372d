"""`calgen notify --status`: the queue as an operator and a monitor read it, on an empty,
a busy and a damaged state (issue 22)."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path

import pytest

from calgen.cli import main
from tests.test_notify_state import AT, EARLY, STATE, _notify, _queue_only, make_workspace


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return make_workspace(tmp_path, monkeypatch)


def _status(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, str], str]:
    capsys.readouterr()
    code = main(["notify", "--status", *args])
    captured = capsys.readouterr()
    fields = dict(line.split(": ", 1) for line in captured.out.splitlines())
    return code, fields, captured.err


def test_no_state_is_unknown_to_a_monitor(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, fields, err = _status(capsys)
    assert code == 3
    assert fields == {}
    assert "no notify state here" in err
    assert not Path(STATE).exists()  # asking made nothing


def test_an_empty_state_is_ok(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _notify("--outbox", "outbox", at=EARLY) == 0  # nothing due yet
    code, fields, err = _status(capsys, "--at", EARLY)
    assert code == 0, err
    assert {
        k: fields[k] for k in ("queued", "claimed", "deferred", "sent", "refused")
    } == dict.fromkeys(("queued", "claimed", "deferred", "sent", "refused"), "0")
    assert fields["suppressed"] == "0"
    assert fields["suppression list"] == "0 address(es)"
    assert fields["running"] == "no"
    assert fields["last run"] != "never"
    # the first reminder after EARLY, of any role
    assert fields["next due"].startswith("2021-")
    assert "iwmo-ijw-3.0-3.1" in fields["next due"]
    assert fields["status"] == "ok"


def test_a_busy_state_counts_its_queue_and_flags_what_is_left_over(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _queue_only()  # three messages queued, the outbox could not be made
    assert main(["notify", "--unsubscribe", "x@gemeente.nl"]) == 0
    code, fields, _ = _status(capsys, "--at", AT)
    assert (fields["queued"], fields["sent"], fields["suppression list"]) == (
        "3",
        "0",
        "1 address(es)",
    )
    assert code == 1
    assert fields["status"].startswith("attention: 3 queued while no run is busy")

    # while a run holds the state, a queue is its business: not flagged
    fd = os.open(STATE, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        code, fields, _ = _status(capsys, "--at", AT)
    finally:
        os.close(fd)
    assert fields["running"] == "yes"
    assert (code, fields["status"]) == (0, "ok")

    assert _notify("--outbox", "outbox") == 0
    code, fields, _ = _status(capsys, "--at", AT)
    assert (code, fields["queued"], fields["sent"]) == (0, "0", "3")


def test_rows_calgen_cannot_use_and_a_silent_timer_need_attention(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _notify("--outbox", "outbox") == 0
    db = sqlite3.connect(STATE, isolation_level=None)
    db.execute("UPDATE messages SET status = 'paused' WHERE email = 'a@gemeente.nl'")
    db.execute("UPDATE meta SET value = '2020-01-01T00:00:00Z' WHERE key = 'last_run'")
    db.close()
    code, fields, _ = _status(capsys)
    assert code == 1
    assert "unknown status 'paused'" in fields["status"]
    assert "no run since 2020-01-01 01:00 (Europe/Amsterdam)" in fields["status"]
    assert fields["last run"].endswith(" day(s) ago)")  # not tens of thousands of minutes


@pytest.mark.parametrize(
    "content",
    [b"SQLite format 3\x00" + b"\xff" * 4000, b"not a state at all", b'{"sent": []}'],
)
def test_a_damaged_state_cannot_be_read(
    workspace: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    Path(STATE).write_bytes(content)
    code, fields, err = _status(capsys)
    assert code == 3
    assert fields == {}
    assert STATE in err
    assert "Traceback" not in err
    assert Path(STATE).read_bytes() == content  # untouched


def test_runbooks_that_cannot_be_read_leave_next_due_unknown(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _notify("--outbox", "outbox") == 0
    code, fields, err = _status(capsys, "nowhere")
    assert code == 1
    assert fields["next due"] == "unknown (the runbooks could not be read)"
    assert "nowhere:1:1: no such file or folder" in err
