"""What subscribers receive over a sequence of builds: SEQUENCE, LAST-MODIFIED, CANCELLED.

Each step builds over the previous output, as `calgen build` does with dist/, and the
feeds are read back by ical.js and libical (Thunderbird's and Evolution's parsers).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from icalendar import Calendar

from calgen.cli import main
from tests.conformance_readers import read_icaljs, read_libical
from tests.conftest import ROOT

RUNBOOK = "runbooks/iwmo-ijw-3.0-3.1.yaml"
FEED = "dist/iwmo-ijw-3.0-3.1"
UID = "mijlpaal-{}.iwmo-ijw-3.0-3.1@calgen"
READERS = {"ical.js": read_icaljs, "libical": read_libical}
T1, T2 = "1700000000", "1710000000"  # 2023-11-14T22:13:20Z, 2024-03-09T16:00:00Z


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _build(monkeypatch: pytest.MonkeyPatch, epoch: str) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
    assert main(["build", "runbooks/iwmo-ijw-3.0-3.1.yaml"]) == 0


def _edit(old: str, new: str) -> None:
    path = Path(RUNBOOK)
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _new_version(version: str) -> None:
    """A row above the version table's first: a published version's schedule is a
    record, so every change of times below comes with one."""
    _edit("versions:\n", f'versions:\n  - {{version: "{version}", date: 2021-11-23}}\n')


def _read(reader: str, feed: str) -> dict[str, dict[str, object]]:
    return {e["uid"]: e for e in READERS[reader](Path(f"{FEED}/{feed}.ics"))}


def _snapshot() -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in Path("dist").rglob("*.ics")}


@pytest.mark.parametrize("reader", list(READERS))
def test_sequence_of_builds(workspace: Path, monkeypatch: pytest.MonkeyPatch, reader: str) -> None:
    # 1. first publication: every event at SEQUENCE 0, no LAST-MODIFIED
    _build(monkeypatch, T1)
    first = _read(reader, "all")
    assert {e["sequence"] for e in first.values()} == {0}
    assert {e["last_modified"] for e in first.values()} == {""}

    # 2. 3.1.2 moves an hour (version 1.1): only it changes, in every feed that carries it
    _new_version("1.1")
    _edit(
        'at: "2022-03-30 17:00"\n    roles: [zorgaanbieders]',
        'at: "2022-03-30 16:00"\n    roles: [zorgaanbieders]',
    )
    _build(monkeypatch, T2)
    for feed in ("all", "zorgaanbieders"):
        moved = _read(reader, feed)[UID.format("3.1.2")]
        assert moved["sequence"] == 1
        assert moved["last_modified"] == "2024-03-09T16:00:00Z"
        assert moved["start"] == "2022-03-30T14:00:00Z"
    second = _read(reader, "all")
    unchanged = {uid: e for uid, e in second.items() if uid != UID.format("3.1.2")}
    assert all(e["sequence"] == 0 and e["last_modified"] == "" for e in unchanged.values())

    # 3. the same input over the same output: byte-identical, even with another clock
    before = _snapshot()
    _build(monkeypatch, "1720000000")
    assert _snapshot() == before

    # 4. 3.1.3 is removed (version 1.2): cancelled in the feeds that carried it, once more
    _new_version("1.2")
    text = Path(RUNBOOK).read_text(encoding="utf-8")
    start = text.index('  - id: "3.1.3"')
    end = text.index('  - id: "3.1.4"')
    Path(RUNBOOK).write_text(text[:start] + text[end:], encoding="utf-8")
    _build(monkeypatch, T2)
    for feed in ("all", "gemeenten"):
        gone = _read(reader, feed)[UID.format("3.1.3")]
        assert gone["status"] == "CANCELLED"
        assert gone["sequence"] == 1
        assert gone["last_modified"] == "2024-03-09T16:00:00Z"
    assert UID.format("3.1.3") not in _read(reader, "zorgaanbieders")
    # and a rebuild keeps it, unchanged
    before = _snapshot()
    _build(monkeypatch, "1730000000")
    assert _snapshot() == before

    # 5. it comes back (version 1.3): a new SEQUENCE, CONFIRMED again
    Path(RUNBOOK).write_text(text, encoding="utf-8")
    _new_version("1.3")
    _build(monkeypatch, "1740000000")
    back = _read(reader, "gemeenten")[UID.format("3.1.3")]
    assert back["status"] == "CONFIRMED"
    assert back["sequence"] == 2


def test_check_sees_no_change_after_build(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _build(monkeypatch, T1)
    _new_version("1.1")
    _edit('at: "2022-03-30 17:00"', 'at: "2022-03-30 16:00"')
    _build(monkeypatch, T2)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1750000000")
    assert main(["build", "--check", "runbooks/iwmo-ijw-3.0-3.1.yaml"]) == 0


def test_diff_command(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(RUNBOOK, "runbooks/old.yaml")
    _edit(
        'at: "2022-03-30 17:00"\n    roles: [zorgaanbieders]',
        'at: "2022-03-29 17:00"\n    roles: [zorgaanbieders]',
    )
    text = Path(RUNBOOK).read_text(encoding="utf-8")
    start, end = text.index('  - id: "3.1.3"'), text.index('  - id: "3.1.4"')
    Path(RUNBOOK).write_text(text[:start] + text[end:], encoding="utf-8")
    assert main(["diff", "runbooks/old.yaml", RUNBOOK]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "3.1.2 verschoven: woensdag 30 maart 2022, 17.00 uur → dinsdag 29 maart 2022, "
        "17.00 uur (1 werkdag eerder)",
        "3.1.3 vervallen: Alle heenberichten verzonden door gemeenten "
        "(was woensdag 30 maart 2022, 17.00 uur)",
    ]
    assert main(["diff", RUNBOOK, RUNBOOK]) == 0
    assert capsys.readouterr().out == "geen wijzigingen in het tijdschema\n"


def test_page_shows_changes_since_previous_version(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _build(monkeypatch, T1)
    assert Path(f"{FEED}/versies/1.0.json").is_file()
    page = Path(f"{FEED}/index.html").read_text(encoding="utf-8")
    assert "Wijzigingen sinds" not in page  # version 0.1 was never published
    _edit("versions:\n", 'versions:\n  - {version: "1.1", date: 2021-12-01, note: Verschoven}\n')
    _edit(
        'at: "2022-03-30 17:00"\n    roles: [zorgaanbieders]',
        'at: "2022-03-29 17:00"\n    roles: [zorgaanbieders]',
    )
    _build(monkeypatch, T2)
    page = Path(f"{FEED}/index.html").read_text(encoding="utf-8")
    assert '<h2 id="wijzigingen">Wijzigingen sinds versie 1.0</h2>' in page
    assert "<li>3.1.2 verschoven: woensdag 30 maart 2022, 17.00 uur → dinsdag 29 maart" in page
    assert Path(f"{FEED}/versies/1.1.json").is_file()
    before = _snapshot() | {"page": page.encode()}
    _build(monkeypatch, "1760000000")
    after = _snapshot() | {"page": Path(f"{FEED}/index.html").read_bytes()}
    assert after == before


def test_cancelled_event_says_so_in_its_title_and_description(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """calcurse and some Outlook versions ignore STATUS and show a cancelled event as an
    ordinary appointment: its title starts with "Vervallen: " and its description says
    since which version of the runbook, so every client tells the truth."""
    _build(monkeypatch, T1)
    _edit("versions:\n", 'versions:\n  - {version: "1.1", date: 2021-12-01, note: Herzien}\n')
    text = Path(RUNBOOK).read_text(encoding="utf-8")
    start, end = text.index('  - id: "3.1.3"'), text.index('  - id: "3.1.4"')
    Path(RUNBOOK).write_text(text[:start] + text[end:], encoding="utf-8")
    _build(monkeypatch, T2)
    title = "3.1.3 Alle heenberichten verzonden door gemeenten (301, 319)"
    for reader in READERS:
        events = _read(reader, "gemeenten")
        assert events[UID.format("3.1.3")]["summary"] == f"Vervallen: {title}"
        others = [e["summary"] for uid, e in events.items() if uid != UID.format("3.1.3")]
        assert not [s for s in others if str(s).startswith("Vervallen")]
    calendar = Calendar.from_ical(Path(f"{FEED}/gemeenten.ics").read_bytes())
    gone = next(e for e in calendar.walk("VEVENT") if e["UID"] == UID.format("3.1.3"))
    description = str(gone["DESCRIPTION"])
    assert description.startswith(
        "Vervallen sinds versie 1.1 (1 december 2021) van het draaiboek: "
        "dit staat niet meer in deze agenda.\n\nAlle beschikbare heenberichten"
    )
