"""Working days, `calgen holidays`, and times written relative to go-live."""

from __future__ import annotations

import datetime as dt

import pytest

from calgen.cli import main
from calgen.core.schedule import WorkCalendar, parse_relative
from calgen.runbook.validate import load_runbook
from tests.calendars import DEFAULT_CALENDAR, local
from tests.conftest import TESTDATA

D = dt.date


def _holidays(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    assert main(["holidays", *args]) == 0
    return capsys.readouterr().out.splitlines()


def test_lustrum_year_has_liberation_day(capsys: pytest.CaptureFixture[str]) -> None:
    lines = _holidays(capsys, "2025")
    assert "2025-05-05  maandag 5 mei 2025            Bevrijdingsdag" in lines
    assert "2025-04-18  vrijdag 18 april 2025         Goede vrijdag" in lines
    assert not any("Bevrijdingsdag" in line for line in _holidays(capsys, "2024"))


def test_kings_day_moves_to_the_26th(capsys: pytest.CaptureFixture[str]) -> None:
    lines = _holidays(capsys, "2014")
    assert "2014-04-26  zaterdag 26 april 2014        Koningsdag" in lines
    assert not any(line.startswith("2014-04-27") for line in lines)


def test_holidays_with_runbook_calendar(capsys: pytest.CaptureFixture[str]) -> None:
    lines = _holidays(capsys, "2018", "--runbook", str(TESTDATA / "valid" / "relative-2018.yaml"))
    assert "2018-03-26  maandag 26 maart 2018         Onderhoud keteninfrastructuur" in lines
    assert not any("Goede vrijdag" in line for line in lines)  # counted as working there


def test_holidays_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:  # argparse's usage error
        main(["holidays", "1800"])
    assert stop.value.code == 2
    assert "argument YEAR: 1800 is not from 1996 to 2099" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (D(2018, 4, 3), -1, D(2018, 3, 29)),  # over Easter Monday, the weekend, Good Friday
        (D(2018, 3, 29), 1, D(2018, 4, 3)),
        (D(2022, 4, 4), -3, D(2022, 3, 30)),
        (D(2026, 5, 18), -2, D(2026, 5, 13)),  # Fri 15th, then over Ascension (14th)
        (D(2025, 6, 10), -1, D(2025, 6, 6)),  # over Whit Monday
        (D(2022, 4, 4), 0, D(2022, 4, 4)),
    ],
)
def test_shift_and_distance(start: D, n: int, expected: D) -> None:
    assert DEFAULT_CALENDAR.shift(start, n) == expected
    assert DEFAULT_CALENDAR.distance(start, expected) == n


def test_closures_and_holidays_counted_as_working() -> None:
    calendar = WorkCalendar(
        working_holidays=frozenset({"Goede vrijdag"}), closures=((D(2018, 3, 28), "Sluiting"),)
    )
    assert calendar.is_working(D(2018, 3, 30))
    assert calendar.non_working_reason(D(2018, 3, 28)) == "Sluiting"
    assert calendar.shift(D(2018, 4, 3), -2) == D(2018, 3, 29)


@pytest.mark.parametrize(
    ("text", "count", "working", "anchor", "dutch"),
    [
        (
            "3 working days before go_live at 17:00",
            -3,
            True,
            "go_live",
            "3 werkdagen vóór go-live, 17.00 uur",
        ),
        ("1 working day after 3.1.2", 1, True, "3.1.2", "1 werkdag na 3.1.2"),
        ("2 days after go_live at 09:30", 2, False, "go_live", "2 dagen na go-live, 09.30 uur"),
        ("go_live at 12:00", 0, False, "go_live", "op go-live, 12.00 uur"),
    ],
)
def test_relative_syntax(text: str, count: int, working: bool, anchor: str, dutch: str) -> None:
    rule = parse_relative(text)
    assert rule is not None
    assert (rule.count, rule.working, rule.anchor) == (count, working, anchor)
    assert rule.dutch() == dutch


@pytest.mark.parametrize("text", ["3 werkdagen voor go_live", "go_live at 25:00", "2022-03-30"])
def test_relative_syntax_refused(text: str) -> None:
    assert parse_relative(text) is None


def test_relative_fixture_resolves() -> None:
    runbook, warnings = load_runbook(TESTDATA / "valid" / "relative-2018.yaml")
    starts = {m.id: m.start for m in runbook.milestones}
    # go-live Tue 3 April 2018; Good Friday counts as working; Mon 26 March is closed
    assert starts["3.1.2"] == local("2018-03-28 17:00")
    assert starts["3.1.3"] == starts["3.1.2"]
    assert starts["3.1.4"] == local("2018-03-30 13:00")
    six = runbook.phases[0].start
    assert six == local("2018-03-22 23:00")  # the closure on the 26th is skipped
    assert runbook.phases[2].end == local("2018-05-01 13:00")
    period = next(m for m in runbook.milestones if m.id == "3.1.6")
    assert (period.start, period.end) == (local("2018-03-30 14:00"), local("2018-03-30 23:00"))
    assert period.start_rule == "op 3.1.4, 14.00 uur"
    assert starts["3.1.7"] == local("2018-04-01 09:00")  # calendar days: Easter Sunday
    assert any("Eerste paasdag" in str(w) for w in warnings)


def test_page_shows_the_rule() -> None:
    from calgen.site.outputs import render_all

    runbook, _ = load_runbook(TESTDATA / "valid" / "relative-2018.yaml")
    html = render_all([runbook])["relative-2018/index.html"].decode()
    assert '<span class="rule">(3 werkdagen vóór go-live, 17.00 uur)</span>' in html
