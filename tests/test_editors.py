"""Editors publish safely (issue 20), end to end through the command line.

- A published version is a record: moving a milestone without a new version row is
  refused, with the version, the move and the fix, and the published folder stays byte
  for byte as it was; with a new row the move reaches each affected subscriber once, by
  mail through a real SMTP server (aiosmtpd on 127.0.0.1).
- Drafts stay drafts: a concept is a preview (banner, TENTATIVE feeds of its own) that
  no subscribe-once feed and no e-mail carries, until a final version is built.
- Plausibility: the Christmas slip and the Easter-2026 re-plan are warnings at file:line,
  errors with --strict.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import hashlib
import re
import shutil
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import icalendar
import pytest
from aiosmtpd.controller import Controller

from calgen.cli import main
from calgen.runbook.model import Runbook, Version
from calgen.runbook.schema import CONCEPT
from calgen.site.outputs import render_all
from tests.conftest import BASE_URL, ROOT, check_golden

SEED = "runbooks/iwmo-ijw-3.0-3.1.yaml"
SEED_ID = "iwmo-ijw-3.0-3.1"
NEXT = "runbooks/iwmo-ijw-3.1-3.2.yaml"
NEXT_ID = "iwmo-ijw-3.1-3.2"
# moments for SOURCE_DATE_EPOCH: the seed's own publication, and re-planning days
NOV_2021, DEC_2021 = "1637650800", "1638345600"  # 2021-11-23 07:00Z, 2021-12-01 08:00Z
DEC_2026, JAN_2027 = "1796112000", "1799971200"  # 2026-12-01 08:00Z, 2027-01-15 00:00Z
SUBSCRIBERS = """\
from: "Draaiboek <draaiboek@example.org>"
subscribers:
  gemeenten:
    - planning@gemeente-a.nl
    - {email: ict@gemeente-b.nl, name: ICT Gemeente B}
  zorgaanbieders: [backoffice@aanbieder.nl]
  vecozo: [support@vecozo.example]
"""
GEMEENTEN = ["ict@gemeente-b.nl", "planning@gemeente-a.nl"]
EVERYONE = sorted([*GEMEENTEN, "backoffice@aanbieder.nl", "support@vecozo.example"])
CONCEPT_GOLDEN = "concept/gemeenten.ics"
MOVED_313 = (
    'at: "2022-03-30 17:00"\n    roles: [gemeenten]',
    'at: "2022-03-31 17:00"\n    roles: [gemeenten]',
)


# ------------------------------------------------------------------------------ helpers


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts, with its recipients."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def recipients(self, since: int = 0) -> list[str]:
        return sorted(r for rcpts, _ in self.received[since:] for r in rcpts)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, str]]:
    handler = Inbox()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Both seeds, a subscribers file, and an editor's working folder."""
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    (tmp_path / "subscribers.yaml").write_text(SUBSCRIBERS, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _build(monkeypatch: pytest.MonkeyPatch, epoch: str, *args: str) -> int:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
    return main(["build", *args])


def _notify(url: str, at: str) -> int:
    return main(["notify", "--subscribers", "subscribers.yaml", "--smtp", url, "--at", at])


def _edit(path: str, old: str, new: str) -> None:
    text = Path(path).read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    Path(path).write_text(text.replace(old, new, 1), encoding="utf-8")


def _add_version(path: str, row: str) -> None:
    """A new row at the top of the version table."""
    text = Path(path).read_text(encoding="utf-8")
    first = re.search(r"^  - \{version: ", text, re.MULTILINE)
    assert first is not None
    Path(path).write_text(text[: first.start()] + f"  - {row}\n" + text[first.start() :])


def _tree(folder: str = "dist") -> dict[str, str]:
    """Every file under `folder` by its SHA-256: what "byte-identical" is checked on."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(folder).rglob("*"))
        if p.is_file()
    }


def _events(path: Path) -> list[str]:
    """The unfolded VEVENTs of a feed, each as one string of content lines."""
    text = path.read_bytes().replace(b"\r\n ", b"").decode("utf-8")
    return re.findall(r"BEGIN:VEVENT\r\n.*?END:VEVENT\r\n", text, re.S)


def _durable_feeds() -> list[Path]:
    return sorted([*Path("dist").glob("*.ics"), *Path("dist/iwmo").glob("*.ics")]) + sorted(
        Path("dist/ijw").glob("*.ics")
    )


def assert_not_in_feed(feed: Path, runbook: str) -> None:
    assert f".{runbook}@calgen" not in feed.read_text(encoding="utf-8"), feed


def assert_in_feed(feed: Path, runbook: str) -> None:
    assert f".{runbook}@calgen" in feed.read_text(encoding="utf-8"), feed


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def assert_refused_unchanged(
    capsys: pytest.CaptureFixture[str], code: int, before: dict[str, str]
) -> str:
    """A refusal: exit 1, the published folder as it was; returns what was said."""
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err
    assert _tree() == before
    return err


# ------------------------------------------------------------- a version is a record


def test_a_moved_milestone_needs_a_new_version_and_then_reaches_its_subscribers(
    workspace: Path,
    smtp: tuple[Inbox, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    inbox, url = smtp
    # 1. version 1.0 is published, and a first notify run knows it (nothing due yet)
    assert _build(monkeypatch, NOV_2021) == 0
    record = Path(f"dist/{SEED_ID}/versies/1.0.json").read_bytes()
    assert _notify(url, "2021-11-24 09:00") == 0
    assert inbox.received == []

    # 2. 3.1.3 moves a day without a new version row: refused, by build and by --check
    _edit(SEED, *MOVED_313)
    published = _tree()
    for args in ((), ("--check",), (SEED,)):
        err = assert_refused_unchanged(capsys, _build(monkeypatch, DEC_2021, *args), published)
        assert f"{SEED}:12:5: version 1.0 of runbook {SEED_ID} is published" in err
        assert (
            "3.1.3 verschoven: woensdag 30 maart 2022, 17.00 uur → donderdag 31 maart 2022, "
            "17.00 uur (1 werkdag later)" in err
        )
        assert "fix: add a new version row above 1.0" in err
        assert "nothing was written" in err

    # 3. with version 1.1 it is published; the record of 1.0 stays as it was
    _add_version(SEED, '{version: "1.1", date: 2021-12-01, status: definitief, note: 3.1.3}')
    assert _build(monkeypatch, DEC_2021) == 0
    assert Path(f"dist/{SEED_ID}/versies/1.0.json").read_bytes() == record
    assert (
        '"3.1.3": {"end": null, "roles": ["gemeenten"], "start": "2022-03-31T17:00:00+02:00"'
        in (Path(f"dist/{SEED_ID}/versies/1.1.json").read_text(encoding="utf-8"))
    )
    assert _build(monkeypatch, DEC_2021, "--check") == 0

    # 4. notify: one change notice to each subscriber of the affected role, no one else
    assert _notify(url, "2021-11-25 09:00") == 0
    assert inbox.recipients() == GEMEENTEN
    for _, message in inbox.received:
        assert message["Subject"].startswith("Gewijzigd: ")
        assert "versie 1.1" in message["Subject"]
        assert (
            "3.1.3 verschoven van woensdag 30 maart 2022, 17.00 uur naar donderdag 31 maart "
            "2022, 17.00 uur" in _text(message)
        )
    # 5. and a second run sends nothing
    assert _notify(url, "2021-11-25 09:05") == 0
    assert len(inbox.received) == 2


def test_wording_may_change_under_a_published_version_but_not_who_acts(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _build(monkeypatch, NOV_2021) == 0
    # a new title: allowed; the event changes (SEQUENCE 1), nothing is refused
    _edit(SEED, "title: Alle heenberichten verzonden door gemeenten", "title: Heenberichten")
    assert _build(monkeypatch, DEC_2021) == 0
    event = next(e for e in _events(Path(f"dist/{SEED_ID}/gemeenten.ics")) if "-3.1.3." in e)
    assert "SUMMARY:3.1.3 Heenberichten (301\\, 319)" in event
    assert "SEQUENCE:1" in event
    # another role acting on it changes the schedule: refused
    _edit(SEED, MOVED_313[0], 'at: "2022-03-30 17:00"\n    roles: [gemeenten, vecozo]')
    published = _tree()
    capsys.readouterr()
    err = assert_refused_unchanged(capsys, _build(monkeypatch, DEC_2021), published)
    assert "3.1.3 actiehouders: gemeenten → gemeenten, vecozo" in err


def test_a_damaged_record_is_noted_and_built_as_before(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _build(monkeypatch, NOV_2021) == 0
    Path(f"dist/{SEED_ID}/versies/1.0.json").write_text("{not json", encoding="utf-8")
    _edit(SEED, *MOVED_313)
    capsys.readouterr()
    assert _build(monkeypatch, DEC_2021) == 0
    err = capsys.readouterr().err
    assert f"dist/{SEED_ID}/versies/1.0.json: earlier output is unreadable" in err
    rewritten = Path(f"dist/{SEED_ID}/versies/1.0.json").read_text(encoding="utf-8")
    assert "2022-03-31T17:00:00+02:00" in rewritten


# ------------------------------------------------------------------ drafts stay drafts


def _new_release(*more: str) -> int:
    return main(
        [
            "new-release",
            SEED,
            "--go-live",
            "2027-04-05 13:00",
            "--from",
            "3.1",
            "--to",
            "3.2",
            "--out",
            NEXT,
            "--date",
            "2026-12-01",
            "--accept-warnings",
            *more,
        ]
    )


def test_a_concept_is_a_preview_until_it_is_made_final(
    workspace: Path,
    smtp: tuple[Inbox, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    inbox, url = smtp
    assert _build(monkeypatch, DEC_2026) == 0  # the two seeds, published
    durable = {str(p): p.read_bytes() for p in _durable_feeds()}
    assert len(durable) == 15

    # new-release writes a concept, built next to the two seeds
    assert _new_release() == 0
    assert '{version: "0.1", date: 2026-12-01, status: concept, note: Concept}' in (
        Path(NEXT).read_text(encoding="utf-8")
    )
    assert _build(monkeypatch, DEC_2026) == 0
    # absent from every durable feed: they are byte for byte what they were
    assert {str(p): p.read_bytes() for p in _durable_feeds()} == durable
    for feed in _durable_feeds():
        assert_not_in_feed(feed, NEXT_ID)
    # a banner on its page, its role views and on the index; none for the seeds
    banner = "Concept — nog niet vastgesteld</strong> · versie 0.1 van 1 december 2026"
    for page in ("index.html", "gemeenten.html"):
        assert banner in Path(f"dist/{NEXT_ID}/{page}").read_text(encoding="utf-8")
    seed_page = Path(f"dist/{SEED_ID}/index.html").read_text(encoding="utf-8")
    assert "Concept — nog niet vastgesteld" not in seed_page
    index = Path("dist/index.html").read_text(encoding="utf-8")
    assert index.count(banner) == 1
    assert index.index(banner) > index.index(f'id="rb-{NEXT_ID}"')
    assert "> **Concept — nog niet vastgesteld** · versie 0.1" in Path(
        f"dist/{NEXT_ID}/runbook.md"
    ).read_text(encoding="utf-8")
    # its own feeds: TENTATIVE, and the titles say concept
    for name in ("all", "gemeenten", "vecozo"):
        feed = Path(f"dist/{NEXT_ID}/{name}.ics")
        head = feed.read_bytes().replace(b"\r\n ", b"").decode("utf-8")
        assert "\r\nX-WR-CALNAME:Concept: Landelijk draaiboek migratie iWmo 3.1" in head
        events = _events(feed)
        assert events
        for event in events:
            assert "\r\nSTATUS:TENTATIVE\r\n" in event
            assert "\r\nSUMMARY:Concept: " in event
    assert not Path(f"dist/{NEXT_ID}/versies").exists()  # a concept is no record yet

    # notify at a moment its reminders would be due: nothing for the concept
    capsys.readouterr()
    assert _notify(url, "2027-03-29 09:00") == 0
    assert inbox.received == []
    assert f"{NEXT_ID} left out: its newest version 0.1 is a concept" in capsys.readouterr().err

    # made final: a final row above the concept, built
    _add_version(NEXT, '{version: "1.0", date: 2027-01-15, status: definitief, note: Definitief}')
    assert _build(monkeypatch, JAN_2027) == 0
    for feed in _durable_feeds():
        assert_in_feed(feed, NEXT_ID)
        for event in _events(feed):
            if f".{NEXT_ID}@calgen" in event:  # new events in the durable feeds
                assert "\r\nSEQUENCE:0\r\n" in event
                assert "\r\nSTATUS:CONFIRMED\r\n" in event
                assert "SUMMARY:Concept" not in event
    page = Path(f"dist/{NEXT_ID}/index.html").read_text(encoding="utf-8")
    assert "Concept — nog niet vastgesteld" not in page
    assert Path(f"dist/{NEXT_ID}/versies/1.0.json").is_file()

    # and notify sends its reminders, to every role that has some due
    assert _notify(url, "2027-03-29 09:00") == 0
    assert inbox.recipients() == EVERYONE
    for _, message in inbox.received:
        assert "Herinnering Migratie naar iWmo/iJw 3.2: " in message["Subject"]  # its short name


def test_a_concept_over_a_published_final_version_is_refused(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _build(monkeypatch, NOV_2021) == 0
    _add_version(SEED, '{version: "1.1", date: 2021-12-01, status: concept, note: Concept}')
    published = _tree()
    err = assert_refused_unchanged(capsys, _build(monkeypatch, DEC_2021), published)
    assert (
        f"{SEED}:12:5: version 1.1 of runbook {SEED_ID} is a concept, but final version 1.0 "
        "is published in dist" in err
    )
    assert f"calgen build {SEED} --out preview" in err
    # reviewed in a folder of its own instead: a preview
    assert _build(monkeypatch, DEC_2021, SEED, "--out", "preview") == 0
    assert "STATUS:TENTATIVE" in Path(f"preview/{SEED_ID}/all.ics").read_text(encoding="utf-8")
    assert _tree() == published


# ---------------------------------------------------------------------- plausibility


def test_christmas_in_phase_one_is_a_warning_at_its_line(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _build(monkeypatch, NOV_2021) == 0
    _edit(SEED, MOVED_313[0], 'at: "2022-12-25 17:00"\n    roles: [gemeenten]')
    capsys.readouterr()
    assert main(["validate", SEED]) == 0
    line = next(
        n
        for n, text in enumerate(Path(SEED).read_text(encoding="utf-8").splitlines(), 1)
        if "2022-12-25 17:00" in text
    )
    err = capsys.readouterr().err
    assert (
        f"{SEED}:{line}:9: warning: milestone 3.1.3 (section 3.1, phase afsluiting) lies "
        "265 days after go-live (2022-04-04 13:00) in a section before go-live: "
        "2022-12-25 17:00; a typing error? (milestones[2].at)" in err
    )
    assert main(["validate", "--strict", SEED]) == 1
    # with a new version row, a --strict build is refused for it; dist stays as it was
    _add_version(SEED, '{version: "1.1", date: 2021-12-01, status: definitief, note: Kerst}')
    published = _tree()
    capsys.readouterr()
    err = assert_refused_unchanged(capsys, _build(monkeypatch, DEC_2021, "--strict"), published)
    assert f"{SEED}:{line + 1}:9: warning: milestone 3.1.3" in err


def test_easter_2026_stretches_the_transition_and_says_where(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "new-release",
        SEED,
        "--go-live",
        "2026-04-07 13:00",  # the Tuesday after Easter Monday 2026
        "--from",
        "3.1",
        "--to",
        "3.2",
        "--date",
        "2025-12-01",
        "--accept-warnings",
    ]
    assert main([*args, "--out", "drafts/strict.yaml", "--strict"]) == 1
    err = capsys.readouterr().err
    assert "transitie: 4 → 6 dagen" in err
    assert "--strict: nothing written" in err
    assert not Path("drafts/strict.yaml").exists()

    assert main([*args, "--out", "drafts/easter.yaml"]) == 0
    err = capsys.readouterr().err
    lines = Path("drafts/easter.yaml").read_text(encoding="utf-8").splitlines()
    line = lines.index("  - id: transitie") + 1
    assert (
        f"drafts/easter.yaml:{line}:5: warning: transitie: 4 → 6 dagen (phase transitie lasts "
        "6 calendar days instead of 4, with Goede vrijdag, Eerste paasdag, Tweede paasdag)" in err
    )
    assert "afsluiting:" not in err  # 8 calendar days before and after
    assert lines[line + 1 : line + 3] == [
        '    start: "2026-04-01 13:00"',
        '    end: "2026-04-07 13:00"',
    ]


def test_a_new_final_version_with_go_live_past_is_a_warning(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # without 3.3.1 (before phase 1, as published: a warning of its own)
    text = Path(SEED).read_text(encoding="utf-8")
    start, end = text.index('  - id: "3.3.1"'), text.index('  - id: "3.3.2"')
    Path(SEED).write_text(text[:start] + text[end:], encoding="utf-8")
    warning = (
        f"{SEED}:12:5: warning: version 1.0 is new and final, but its go-live "
        "(2022-04-04 13:00) is already past at the build's moment (2022-05-01 00:00 UTC)"
    )
    may_2022 = "1651363200"
    strict = ("--strict", "--base-url", BASE_URL)  # a build without one fails --strict too
    assert _build(monkeypatch, may_2022, SEED, *strict, "--out", "late") == 1
    err = capsys.readouterr().err
    assert warning in err
    assert err.count("warning:") == 1
    assert not Path("late").exists()
    assert _build(monkeypatch, NOV_2021, SEED, *strict, "--out", "late") == 0
    assert "is already past" not in capsys.readouterr().err
    # published now: version 1.0 is not new any more
    assert _build(monkeypatch, may_2022, SEED, *strict, "--out", "late") == 0
    assert "is already past" not in capsys.readouterr().err


# ------------------------------------------------------------------------- diff


def test_diff_across_releases_compares_positions_to_go_live(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _new_release() == 0
    provider = 'at: "{}"\n    roles: [zorgaanbieders]'
    _edit(NEXT, provider.format("2027-03-31 17:00"), provider.format("2027-03-30 17:00"))
    capsys.readouterr()
    assert main(["diff", SEED, NEXT]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "go-live: maandag 4 april 2022, 13.00 uur → maandag 5 april 2027, 13.00 uur (3.1 → 3.2)",
        "3.1.2: 3 werkdagen vóór go-live → 4 werkdagen vóór go-live",
    ]
    # two versions of one runbook: by date, as before
    shutil.copy(SEED, "runbooks/old.yaml")
    _edit(SEED, provider.format("2022-03-30 17:00"), provider.format("2022-03-30 16:00"))
    assert main(["diff", "runbooks/old.yaml", SEED]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "3.1.2 verschoven: woensdag 30 maart 2022, 17.00 uur → woensdag 30 maart 2022, "
        "16.00 uur (eerder op de dag)"
    ]


# ------------------------------------------------------------------ the version table


@pytest.mark.parametrize(
    ("rows", "statuses", "concept"),
    [
        # the seed as written: its notes decide
        (
            [
                '{version: "1.0", date: 2021-11-23, note: Definitief}',
                '{version: "0.1", date: 2021-10-19, note: Concept}',
            ],
            ["definitief", "concept"],
            False,
        ),
        # an older new-release's row, and a concept on top of a final version
        (['{version: "0.1", date: 2026-12-01, note: Concept}'], ["concept"], True),
        (
            [
                '{version: "1.1", date: 2022-01-10, note: "Concept. Nog in review"}',
                '{version: "1.0", date: 2021-11-23}',
            ],
            ["concept", "definitief"],
            True,
        ),
        # status wins over the note; no note is final
        (
            ['{version: "1.0", date: 2021-11-23, status: definitief, note: Concept akkoord}'],
            ["definitief"],
            False,
        ),
        (
            ['{version: "0.2", date: 2021-11-23, status: concept, note: Conceptversie}'],
            ["concept"],
            True,
        ),
        (['{version: "2", date: 2021-11-23, note: Conceptversie}'], ["definitief"], False),
    ],
)
def test_each_version_row_is_a_concept_or_final(
    workspace: Path, rows: list[str], statuses: list[str], concept: bool
) -> None:
    from calgen.runbook.validate import load_runbook

    text = Path(SEED).read_text(encoding="utf-8")
    start, end = text.index("  - {version: "), text.index("\nintroduction:")
    body = "".join(f"  - {row}\n" for row in rows)
    Path(SEED).write_text(text[:start] + body + text[end:], encoding="utf-8")
    runbook, _ = load_runbook(Path(SEED))
    assert [v.status for v in runbook.versions] == statuses
    assert runbook.is_concept is concept
    assert (runbook.versions[0].line, runbook.versions[0].col) == (12, 5)


def test_a_status_is_concept_or_definitief(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit(SEED, "note: Definitief}", "status: draft, note: Definitief}")
    assert main(["validate", SEED]) == 1
    err = capsys.readouterr().err
    assert f"{SEED}:12:48:" in err
    assert "'draft'" in err
    assert "concept, definitief" in err


def test_a_runbook_without_versions_is_final(workspace: Path) -> None:
    from calgen.runbook.validate import load_runbook

    runbook, _ = load_runbook(Path("runbooks/iwmo-2.1-2.2.yaml"))
    assert runbook.current is None
    assert not runbook.is_concept


def test_positions_relative_to_go_live(workspace: Path) -> None:
    from calgen.replan.positions import position
    from calgen.runbook.validate import load_runbook

    old, _ = load_runbook(Path("runbooks/iwmo-2.1-2.2.yaml"))
    by_id = {m.id: m for m in old.milestones}
    assert position(old, by_id["3.1.2"].start, True) == "3 werkdagen vóór go-live, 17.00 uur"
    assert position(old, by_id["3.1.1"].start, False) == "10 werkdagen vóór go-live (zondag)"
    assert position(old, by_id["4.1.1"].start, False) == "op de dag van go-live"
    later = old.go_live.replace(day=5)  # Thursday after Tuesday's go-live
    assert position(old, later, False) == "2 werkdagen na go-live"


def test_a_concept_s_outputs(seed_runbooks: dict[str, Runbook], update_golden: bool) -> None:
    """The 2022 runbook with a concept 1.1 on top, rendered: golden feed and Markdown, and
    no subscribe-once feed at all (it is the only runbook)."""
    seed = seed_runbooks[SEED_ID]
    draft = Version(version="1.1", date=dt.date(2021, 12, 1), status=CONCEPT, note="Concept")
    concept = dataclasses.replace(seed, versions=(draft, *seed.versions))
    out = render_all([concept], base_url=BASE_URL)
    assert sorted(p for p in out if "/" not in p or p.startswith(("iwmo/", "ijw/"))) == [
        "index.html"
    ]
    assert f"{SEED_ID}/versies/1.1.json" not in out
    check_golden(CONCEPT_GOLDEN, out[f"{SEED_ID}/gemeenten.ics"], update_golden)
    events = icalendar.Calendar.from_ical(out[f"{SEED_ID}/gemeenten.ics"]).walk("VEVENT")
    assert {str(e["STATUS"]) for e in events} == {"TENTATIVE"}
    assert all(str(e["SUMMARY"]).startswith("Concept: ") for e in events)
    check_golden("concept/runbook.md", out[f"{SEED_ID}/runbook.md"], update_golden)
