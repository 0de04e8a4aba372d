"""The runbook documents: golden files, Dutch dates, Markdown, anchors, role views, index."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from markdown_it import MarkdownIt

from calgen.cli import main
from calgen.core import dutch, schedule
from calgen.render.page import document, timeline
from calgen.render.page.timeline import build_timeline
from calgen.runbook.model import Runbook
from tests.conftest import BASE_URL, ROOT, SEEDS, check_golden

AMS = ZoneInfo("Europe/Amsterdam")
DOCS = [f"{seed}/{name}" for seed in SEEDS for name in ("index.html", "runbook.md")]
DOCS.append("index.html")


@pytest.mark.parametrize("name", DOCS)
def test_golden(seed_outputs: dict[str, bytes], name: str, update_golden: bool) -> None:
    check_golden(name, seed_outputs[name], update_golden)


def _at(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=AMS)


@pytest.mark.parametrize(
    ("start", "end", "date", "time"),
    [
        ("2022-03-30 17:00", None, "woensdag 30 maart 2022", "17.00 uur"),
        ("2022-03-31 14:00", "2022-03-31 23:00", "donderdag 31 maart 2022", "14.00 - 23.00 uur"),
        (
            "2022-03-31 13:00",
            "2022-04-04 13:00",
            "donderdag 31 maart – maandag 4 april 2022",
            "13.00 uur – 13.00 uur",
        ),
        (
            "2021-12-30 09:00",
            "2022-01-03 09:30",
            "donderdag 30 december 2021 – maandag 3 januari 2022",
            "09.00 uur – 09.30 uur",
        ),
    ],
)
def test_dutch_columns(start: str, end: str | None, date: str, time: str) -> None:
    assert dutch.columns(_at(start), _at(end) if end else None) == (date, time)


def test_dutch_names_are_babels() -> None:
    """calgen.core.dutch writes CLDR's Dutch names out instead of loading Babel: they
    and every date made from them are what Babel's format_date gives."""
    from babel.dates import format_date, get_day_names, get_month_names

    days = get_day_names("wide", locale=dutch.LOCALE)
    months = get_month_names("wide", locale=dutch.LOCALE)
    assert tuple(str(days[n]) for n in range(7)) == schedule.WEEKDAYS_NL
    assert tuple(str(months[n]) for n in range(1, 13)) == dutch.MONTHS
    first = dt.date(2019, 12, 30)  # two whole years and their edges, a leap day among them
    for day in (first + dt.timedelta(days=n) for n in range(2 * 366 + 7)):
        for ours, pattern in (
            (dutch.date_long, "EEEE d MMMM y"),
            (dutch.date_plain, "d MMMM y"),
            (dutch.date_short, "EEEE d MMMM"),
            (dutch.month_name, "MMMM"),
        ):
            assert ours(day) == format_date(day, pattern, locale=dutch.LOCALE), (day, pattern)
    moment = dt.datetime(2022, 3, 30, 17, 0, tzinfo=AMS)  # a datetime reads as its date
    assert dutch.date_long(moment) == format_date(moment, "EEEE d MMMM y", locale=dutch.LOCALE)


def _row(html: str, number: str) -> str:
    match = re.search(rf'<tr id="m-{re.escape(number)}"[^>]*>(.*?)</tr>', html, re.S)
    assert match, f"no row m-{number}"
    return re.sub(r"\s+", " ", match.group(1))


def test_row_of_3_1_2(seed_outputs: dict[str, bytes]) -> None:
    row = _row(seed_outputs["iwmo-ijw-3.0-3.1/index.html"].decode(), "3.1.2")
    assert "<td>woensdag 30 maart 2022</td>" in row
    assert "<td>17.00 uur</td>" in row
    assert "<td>Zorgaanbieders</td>" in row
    assert '<a href="#m-3.1.2">3.1.2</a>' in row


def test_periods_as_the_runbook_writes_them(seed_outputs: dict[str, bytes]) -> None:
    html = seed_outputs["iwmo-ijw-3.0-3.1/index.html"].decode()
    assert "<td>14.00 - 23.00 uur</td>" in _row(html, "3.1.6")
    migration = _row(html, "3.2.3")
    assert "<td>donderdag 31 maart – maandag 4 april 2022</td>" in migration
    assert "<td>13.00 uur – 13.00 uur</td>" in migration
    assert "<td>Voor uiterlijk 13.00 uur</td>" in _row(
        seed_outputs["iwmo-2.1-2.2/index.html"].decode(), "4.1.2"
    )


def test_every_milestone_has_an_anchor_the_feed_links_to(
    seed_runbooks: dict[str, Runbook], seed_outputs: dict[str, bytes]
) -> None:
    for rid, runbook in seed_runbooks.items():
        html = seed_outputs[f"{rid}/index.html"].decode()
        cal = Calendar.from_ical(seed_outputs[f"{rid}/all.ics"])
        urls = {str(e["SUMMARY"]).split()[0]: str(e.get("URL", "")) for e in cal.walk("VEVENT")}
        for m in runbook.milestones:
            assert html.count(f'id="m-{m.id}"') == 1
            assert urls[m.id] == f"{BASE_URL}/{rid}/#m-{m.id}"


def test_markdown_emphasis(seed_outputs: dict[str, bytes]) -> None:
    html = seed_outputs["iwmo-ijw-3.0-3.1/index.html"].decode()
    md = seed_outputs["iwmo-ijw-3.0-3.1/runbook.md"].decode()
    assert "Er is dus <em>geen</em> conversieperiode" in html
    assert "Er is dus *geen* conversieperiode" in md
    assert "*geen*" not in html


def test_content_in_the_runbook_order(seed_outputs: dict[str, bytes]) -> None:
    html = seed_outputs["iwmo-ijw-3.0-3.1/index.html"].decode()
    headings = [
        "Versies",
        "Inleiding",
        "Big bang-scenario",
        "Meer informatie",
        "1 Doel",
        "1.1 Migratieperiode met drie fasen",
        "Fase 1: afsluiting",
        "1.2 Geen conversiemogelijkheid",
        "1.3 Procedurele afspraken declaratie- en factuurberichten",
        "2 Uitgangspunten",
        "2.1 Rollen en verantwoordelijkheden",
        "2.2 Afhandeling retourberichten",
        "2.3 Spoedprocedure levering zorg",
        "2.4 Geen go/no-go-moment",
        "3 Fase 1: afsluiting",
        "3.1 Tijdschema",
        "3.2 Tijdschema blokkeren en vrijgeven berichtenverkeer (technisch)",
        "3.3 Tijdschema uitfasering en afsluiting declaratie-/factuurberichten 303 en 304",
        "4 Fase 2: transitie",
        "5 Fase 3: ingebruikname en nazorg",
        "5.1 Ingebruikname",
        "5.2 Nazorg",
    ]
    main_text = html[html.index('<h2 id="inleiding">') :]
    position = 0
    for heading in headings[1:]:
        found = main_text.find(f">{heading}<", position)
        assert found > position, f"'{heading}' missing or out of order"
        position = found
    assert html.index(">Versies<") < html.index('<h2 id="inleiding">')
    for contact in ("0800 222 11 22", "(013) 462 56 41", "Willem Dudokhof 1"):
        assert contact in html


def test_markdown_tables(seed_runbooks: dict[str, Runbook], seed_outputs: dict[str, bytes]) -> None:
    """runbook.md parses back into one 5-column table row per milestone."""
    for rid, runbook in seed_runbooks.items():
        tokens = (
            MarkdownIt("commonmark")
            .enable("table")
            .parse(seed_outputs[f"{rid}/runbook.md"].decode())
        )
        rows, cells = 0, 0
        for token in tokens:
            if token.type == "tr_open":
                rows += 1
            if token.type == "td_open":
                cells += 1
        header_rows = sum(1 for t in tokens if t.type == "thead_open")
        version_rows = len(runbook.versions) + (1 if runbook.versions else 0)
        assert rows - header_rows == len(runbook.milestones) + version_rows - (
            1 if runbook.versions else 0
        )
        assert cells == 5 * len(runbook.milestones) + 3 * len(runbook.versions)


def test_role_view_shows_only_that_roles_rows(
    seed_runbooks: dict[str, Runbook], seed_outputs: dict[str, bytes]
) -> None:
    runbook = seed_runbooks["iwmo-ijw-3.0-3.1"]
    for role in runbook.roles:
        html = seed_outputs[f"iwmo-ijw-3.0-3.1/{role.id}.html"].decode()
        shown = set(re.findall(r'<tr id="m-([\d.]+)"', html))
        assert shown == {m.id for m in runbook.milestones if role.id in m.audience}
        assert f"Weergave voor <strong>{role.name}</strong>" in html


def test_subscribe_links(seed_outputs: dict[str, bytes]) -> None:
    html = seed_outputs["iwmo-ijw-3.0-3.1/index.html"].decode()
    for feed in ("all", "gemeenten", "zorgaanbieders", "vecozo", "inlichtingenbureau"):
        assert f'href="webcal://draaiboeken.example.org/iwmo-ijw-3.0-3.1/{feed}.ics"' in html
        assert f'href="{feed}.ics" download' in html
        assert f"iwmo-ijw-3.0-3.1/{feed}.ics" in seed_outputs


def test_index_lists_newest_first(seed_outputs: dict[str, bytes]) -> None:
    html = seed_outputs["index.html"].decode()
    assert html.index("iWmo 3.1 en iJw 3.1") < html.index("naar iWmo 2.2")
    assert 'href="iwmo-2.1-2.2/index.html"' in html


PAGE_JS = (ROOT / "templates" / "html" / "page.js").read_text(encoding="utf-8")


def test_no_external_resources(seed_outputs: dict[str, bytes]) -> None:
    for name, data in seed_outputs.items():
        if name.endswith(".html"):
            html = data.decode()
            # one script, calgen's own, inlined: no src, nothing else
            scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
            assert [(attributes, body.strip()) for attributes, body in scripts] == [
                ("", PAGE_JS.strip())
            ], name
            assert html.count("<script") == 1
            assert "<link" not in html
            assert not re.search(r'src="(https?:)?//', html)
            assert "@import" not in html
            assert "url(" not in html


def test_timeline_marks_dst_and_holidays(seed_outputs: dict[str, bytes]) -> None:
    html = seed_outputs["iwmo-2.1-2.2/index.html"].decode()
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert '<title id="tl-title">' in svg
    assert "<desc id=" in svg
    assert "zomertijd (zondag 25 maart 2018)" in svg
    for holiday in ("Goede vrijdag", "Eerste paasdag", "Tweede paasdag"):
        assert f"<title>{holiday}</title>" in svg
    assert "live dinsdag 3 april 2018, 13.00 uur" in svg


def test_own_templates_replace_built_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mine" / "md").mkdir(parents=True)
    (tmp_path / "mine" / "md" / "runbook.md.j2").write_text("# {{ doc.runbook.title }}\n")
    monkeypatch.chdir(ROOT)
    out = tmp_path / "out"
    assert main(["build", "--out", str(out), "--templates", str(tmp_path / "mine")]) == 0
    assert (out / "iwmo-2.1-2.2" / "runbook.md").read_text() == (
        "# Landelijk draaiboek migratie iWmo 2.1 naar iWmo 2.2\n"
    )
    assert "<table" in (out / "iwmo-2.1-2.2" / "index.html").read_text()  # built-in kept
    (tmp_path / "mine" / "md" / "runbook.md.j2").write_text("{{ doc.nonsense }}\n")
    assert (
        main(["build", "--out", str(tmp_path / "out2"), "--templates", str(tmp_path / "mine")]) == 1
    )
    err = capsys.readouterr().err
    assert "template error" in err
    assert "nonsense" in err
    assert not (tmp_path / "out2").exists()


def test_own_feed_template_without_its_macro(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mine" / "ics").mkdir(parents=True)
    (tmp_path / "mine" / "ics" / "alarm.txt.j2").write_text("Herinnering\n")  # no macro
    monkeypatch.chdir(ROOT)
    out = tmp_path / "out"
    assert main(["build", "--out", str(out), "--templates", str(tmp_path / "mine")]) == 1
    assert "ics/alarm.txt.j2 must define the macro `alarm`" in capsys.readouterr().err
    assert not out.exists()


def test_go_live_per_standard_is_its_newest_runbook(seed_runbooks: dict[str, Runbook]) -> None:
    """Beside "Abonneer één keer": per standard the go-live of its newest runbook;
    standards whose newest runbook is the same share one line."""
    old, new = seed_runbooks["iwmo-2.1-2.2"], seed_runbooks["iwmo-ijw-3.0-3.1"]
    lines = document.go_lives([old, new])
    assert [(g.standards, g.when, g.page) for g in lines] == [
        ("iWmo en iJw", "maandag 4 april 2022, 13.00 uur", "iwmo-ijw-3.0-3.1/index.html")
    ]
    later = dataclasses.replace(
        old, id="iwmo-next", go_live=old.go_live.replace(year=2027), standards=("iWmo",)
    )
    lines = document.go_lives([old, new, later])
    assert [(g.standards, g.page) for g in lines] == [
        ("iWmo", "iwmo-next/index.html"),
        ("iJw", "iwmo-ijw-3.0-3.1/index.html"),
    ]


def test_a_crowded_lane_labels_what_fits_and_counts_the_rest(
    seed_runbooks: dict[str, Runbook],
) -> None:
    """Thirty deadlines at one moment: five rows of numbers under the lane, the other
    twenty-five counted ("+25 zonder nummer"), so a lane never grows without bound."""
    seed = seed_runbooks["iwmo-ijw-3.0-3.1"]
    first = seed.milestones[1]
    crowd = tuple(
        dataclasses.replace(first, id=f"9.9.{n}", audience=frozenset({"gemeenten"}))
        for n in range(30)
    )
    lane = build_timeline(dataclasses.replace(seed, milestones=crowd), "gemeenten").lanes[0]
    assert len(lane.labels) == timeline.LABEL_ROWS
    assert lane.unlabelled == 30 - timeline.LABEL_ROWS
    assert lane.height == timeline.LANE + timeline.LABEL_ROWS * timeline.LABEL_ROW
    assert len({label.y for label in lane.labels}) == timeline.LABEL_ROWS
