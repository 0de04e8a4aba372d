"""`calgen new-release`: the 3.0→3.1 runbook re-planned onto other years' go-lives."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from calgen.cli import main
from calgen.runbook.model import Runbook
from calgen.runbook.validate import load_runbook
from tests.calendars import DEFAULT_CALENDAR
from tests.conftest import ROOT

SOURCE = "iwmo-ijw-3.0-3.1.yaml"

# go-live, and the holiday that falls in the migration window that year
GO_LIVES = [
    ("2023-04-11 13:00", "Easter: Good Friday 7 and Easter Monday 10 April"),
    ("2024-04-02 13:00", "Easter Monday 1 April, the day before"),
    ("2026-05-18 13:00", "Ascension Thursday 14 May"),
    ("2025-06-10 13:00", "Whit Monday 9 June, the day before"),
    ("2025-04-28 13:00", "King's Day on Saturday 26 April"),
    ("2027-04-05 13:00", "Easter Monday 29 March, a week before"),
]


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _new_release(
    go_live: str, out: str = "runbooks/new.yaml", *extra: str, accept: bool = True
) -> int:
    return main(
        [
            "new-release",
            f"runbooks/{SOURCE}",
            "--go-live",
            go_live,
            "--from",
            "3.1",
            "--to",
            "3.2",
            "--date",
            "2022-11-01",
            "--out",
            out,
            *extra,
            *(["--accept-warnings"] if accept else []),
        ]
    )


def _order(runbook: Runbook) -> list[str]:
    return [m.id for m in sorted(runbook.milestones, key=lambda m: (m.start, m.id))]


@pytest.mark.parametrize(("go_live", "why"), GO_LIVES, ids=[g for g, _ in GO_LIVES])
def test_replan(
    workspace: Path, capsys: pytest.CaptureFixture[str], go_live: str, why: str
) -> None:
    source, _ = load_runbook(workspace / "runbooks" / SOURCE)
    assert _new_release(go_live) == 0, capsys.readouterr().err
    new, _ = load_runbook(workspace / "runbooks" / "new.yaml")
    assert f"{new.go_live:%Y-%m-%d %H:%M}" == go_live
    assert new.id == "iwmo-ijw-3.1-3.2"
    assert new.title == "Landelijk draaiboek migratie iWmo 3.1 en iJw 3.1 naar iWmo 3.2 en iJw 3.2"
    old = {m.id: m for m in source.milestones}
    for m in new.milestones:
        before = old[m.id]
        if DEFAULT_CALENDAR.is_working(before.start.date()):
            assert DEFAULT_CALENDAR.is_working(m.start.date()), f"{m.id} on {m.start} ({why})"
            assert DEFAULT_CALENDAR.distance(new.go_live.date(), m.start.date()) == (
                DEFAULT_CALENDAR.distance(source.go_live.date(), before.start.date())
            )
        assert m.start.time() == before.start.time()
    assert _order(new) == _order(source)
    hubs = [m for m in new.milestones if m.id.startswith("3.2.") and m.id != "3.2.4"]
    assert all(m.start < new.go_live for m in hubs)
    assert [p.id for p in new.phases] == ["afsluiting", "transitie", "ingebruikname"]
    assert new.phases[2].start == new.go_live
    # it builds without edits
    assert main(["build", "runbooks/new.yaml", "--out", "site"]) == 0
    assert (workspace / "site" / "iwmo-ijw-3.1-3.2" / "gemeenten.ics").is_file()


def test_plan_table_and_text(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _new_release("2023-04-11 13:00") == 0
    out, err = capsys.readouterr()
    line = next(line for line in out.splitlines() if line.startswith("3.1.2 "))
    assert line.split()[1:7] == ["2022-03-30", "17:00", "2023-04-04", "17:00", "dinsdag", "-3"]
    assert f"runbooks/{SOURCE}:17: kept as written (names '1 januari 2021', not a date" in err
    assert f"runbooks/{SOURCE}:31: kept as written (names release 2.4, not 3.0 or 3.1)" in err
    text = (workspace / "runbooks" / "new.yaml").read_text(encoding="utf-8")
    source = (workspace / "runbooks" / SOURCE).read_text(encoding="utf-8")
    # comments, order and quoting survive; the version table starts again
    assert text.splitlines()[0] == source.splitlines()[0]
    assert "# The version table prints" in text
    assert '  - {version: "0.1", date: 2022-11-01, status: concept, note: Concept}' in text
    assert "Definitief" not in text
    assert "Per 11 april 2023 wordt versie 3.2 van de berichtenstandaard" in text
    assert "woensdag 5 april 2023 om 17.00" not in text
    assert "verzonden door aanbieders (305, 307, 315, 317)." in text
    assert 'at: "2023-04-04 17:00"' in text


def test_refuses_go_live_on_easter_monday(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _new_release("2024-04-01 13:00") == 1
    err = capsys.readouterr().err
    assert "go-live 2024-04-01 is not a working day (maandag, Tweede paasdag)" in err
    assert "the next working day is dinsdag 2 april 2024 (2024-04-02)" in err
    assert not (workspace / "runbooks" / "new.yaml").exists()


def test_does_not_overwrite(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _new_release("2023-04-11 13:00") == 0
    assert _new_release("2023-04-12 13:00") == 1
    assert "exists; pass --force" in capsys.readouterr().err
    assert _new_release("2023-04-12 13:00", "runbooks/new.yaml", "--force") == 0


def test_elsewhere_keeps_shared_files_and_schema(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _new_release("2023-04-11 13:00", "drafts/next.yaml") == 0
    text = (workspace / "drafts" / "next.yaml").read_text(encoding="utf-8")
    assert text.startswith(
        "# yaml-language-server: $schema=../runbooks/schema/runbook.schema.json\n"
    )
    assert "../runbooks/shared/roles.yaml" in text
    runbook, _ = load_runbook(workspace / "drafts" / "next.yaml")
    assert runbook.go_live.date() == dt.date(2023, 4, 11)


def test_relative_times_resolve_against_the_new_go_live(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(ROOT / "tests" / "testdata" / "valid" / "relative-2018.yaml", "rel.yaml")
    text = Path("rel.yaml").read_text(encoding="utf-8")
    Path("rel.yaml").write_text(
        text.replace("[shared/", "[runbooks/shared/")
        .replace(", shared/", ", runbooks/shared/")
        .replace("go_live: ", 'release: {from: "2.1", to: "2.2"}\ngo_live: '),
        encoding="utf-8",
    )
    code = main(
        [
            "new-release",
            "rel.yaml",
            "--go-live",
            "2019-04-02 13:00",
            "--from",
            "2.2",
            "--to",
            "2.3",
            "--id",
            "relative-2019",
            "--date",
            "2019-01-10",
            "--out",
            "rel19.yaml",
        ]
    )
    assert code == 0, capsys.readouterr().err
    new_text = Path("rel19.yaml").read_text(encoding="utf-8")
    assert 'at: "3 working days before go_live at 17:00"' in new_text
    runbook, _ = load_runbook(Path("rel19.yaml"))
    first = next(m for m in runbook.milestones if m.id == "3.1.2")
    assert first.start.date() == DEFAULT_CALENDAR.shift(dt.date(2019, 4, 2), -3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--go-live", "2023-03-26 02:30"], "does not exist"),
        (["--go-live", "next tuesday"], "not a valid date and time"),
        (["--from", "three"], "is not a release such as 3.1"),
        (["--go-live", "٢٠٢٣-04-11 13:00"], "not a valid date and time"),  # Arabic-Indic digits
        (["--date", "2023-02-30"], "is not a valid date"),
    ],
)
def test_bad_arguments(
    workspace: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    base = {"--go-live": "2023-04-11 13:00", "--from": "3.1", "--to": "3.2"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    argv = ["new-release", f"runbooks/{SOURCE}", "--out", "x.yaml"]
    for key, value in base.items():
        argv += [key, value]
    with pytest.raises(SystemExit) as stop:  # argparse's usage error
        main(argv)
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


SOURCE_TEXT = {
    "history": "de overgang van iWmo 2.4 en iJw 2.4 naar iWmo 3.0 en iJw 3.0.",
    "since": "van iWmo 3.0 en iJw 3.0 (de versies die sinds 1 januari 2021 in gebruik zijn) "
    "naar iWmo 3.1 en iJw 3.1.",
}


def test_history_is_kept_and_reported(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Onto Monday 5 April 2027: sentences about earlier releases or dates outside the
    schedule are kept word for word, reported with file:line; without --accept-warnings
    nothing is written and the exit code is 1."""
    source = (workspace / "runbooks" / SOURCE).read_text(encoding="utf-8")
    assert all(sentence in source for sentence in SOURCE_TEXT.values())
    assert _new_release("2027-04-05 13:00", accept=False) == 1
    err = capsys.readouterr().err
    assert not (workspace / "runbooks" / "new.yaml").exists()
    assert "nothing written" in err
    lines = source.splitlines()
    for number, needle in ((17, "1 januari 2021"), (31, "iWmo 2.4 en iJw 2.4")):
        assert needle in lines[number - 1]
        assert f"runbooks/{SOURCE}:{number}: kept as written" in err
    assert "hetzelfde is als de overgang van iWmo 2.4 en iJw 2.4 naar iWmo 3.0 en iJw 3.0." in err

    assert _new_release("2027-04-05 13:00") == 0
    text = (workspace / "runbooks" / "new.yaml").read_text(encoding="utf-8")
    for sentence in SOURCE_TEXT.values():
        assert sentence in text  # as written: not "naar iWmo 3.1", not "3.1 (... 2021)"
    assert "naar iWmo 3.1 en iJw 3.1." not in text.replace(SOURCE_TEXT["since"], "")
    # the migrated pair is rewritten, in every form the runbook writes it
    assert (
        "title: Landelijk draaiboek migratie iWmo 3.1 en iJw 3.1 naar iWmo 3.2 en iJw 3.2" in text
    )
    assert "Bij de migratie van 3.1 naar 3.2 is *geen* sprake" in text
    assert "alle 3.1-berichten ook 3.1-retourberichten" in text
    assert "Per 5 april 2027 wordt versie 3.2 van de berichtenstandaard" in text


def test_aftercare_keeps_calendar_time(workspace: Path) -> None:
    """Phase 3's four weeks of aftercare say `distance: calendar days`: four weeks after
    the new go-live, across King's Day (27 April 2027) alike. Counted in working days
    (the default) they would shrink."""
    assert _new_release("2027-04-05 13:00") == 0
    new, _ = load_runbook(workspace / "runbooks" / "new.yaml")
    aftercare = next(p for p in new.phases if p.id == "ingebruikname")
    assert aftercare.end - aftercare.start == dt.timedelta(weeks=4)
    assert f"{aftercare.end:%Y-%m-%d %H:%M}" == "2027-05-03 13:00"

    path = workspace / "runbooks" / SOURCE
    path.write_text(
        path.read_text(encoding="utf-8").replace("    distance: calendar days\n", "", 1),
        encoding="utf-8",
    )
    assert _new_release("2027-04-05 13:00", "runbooks/by-working-days.yaml") == 0
    counted, _ = load_runbook(workspace / "runbooks" / "by-working-days.yaml")
    shorter = next(p for p in counted.phases if p.id == "ingebruikname")
    assert f"{shorter.end:%Y-%m-%d %H:%M}" == "2027-04-29 13:00"  # 17 working days: 24 days


def test_comments_next_to_moved_dates_are_flagged(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _new_release("2027-04-05 13:00") == 0
    err = capsys.readouterr().err
    lines = (workspace / "runbooks" / "new.yaml").read_text(encoding="utf-8").splitlines()
    check = "# CHECK (calgen new-release): the comment below was written about the old schedule"

    def flagged(comment: str) -> str:
        at = next(i for i, line in enumerate(lines) if comment in line)
        return lines[at - 1].strip()

    assert flagged("# 1 March 2022 lies before the start of phase 1").startswith(
        f"{check} (3.3.1 2022-03-01 23:00 -> 2027-02-26 23:00)"
    )
    assert flagged("four weeks of aftercare (5.2)").startswith(check)
    # a section heading between items is about no date: not flagged
    assert not flagged("# 3.3 Tijdschema uitfasering").startswith("# CHECK")
    assert "comment(s) next to moved dates flagged" in err
    # the flags are comments: the file still loads and builds
    assert main(["build", "runbooks/new.yaml", "--out", "site"]) == 0
