"""Every milestone of both seed runbooks: its instant in UTC and exactly the feeds it is in.

The table below is transcribed by hand from `../shared/seeds/` (the published PDFs),
independently of `runbooks/*.yaml`, with the UTC instants worked out by hand: CET
(UTC+1) before the spring change on 25 March 2018 / 27 March 2022, CEST (UTC+2) after.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import functools
import re
from pathlib import Path

import pytest

from calgen.cli import main
from calgen.runbook.model import Runbook
from calgen.site.outputs import render_all
from tests.calendars import (
    Feed,
    assert_event_at,
    assert_in_feed,
    assert_not_in_feed,
    assert_period,
    local,
)
from tests.conftest import ROOT

G, Z, V, IB = "gemeenten", "zorgaanbieders", "vecozo", "inlichtingenbureau"
HUBS = (V, IB)
EVERYONE = (G, Z, V, IB)

# (runbook, number, local start, local end or None, UTC start, role feeds it belongs to)
MILESTONES = [
    ("iwmo-2.1-2.2", "3.1.1", "2018-03-18 23:00", None, "2018-03-18 22:00", (Z,)),
    ("iwmo-2.1-2.2", "3.1.2", "2018-03-27 17:00", None, "2018-03-27 15:00", (Z,)),
    ("iwmo-2.1-2.2", "3.1.3", "2018-03-27 17:00", None, "2018-03-27 15:00", (G,)),
    ("iwmo-2.1-2.2", "3.1.4", "2018-03-29 13:00", None, "2018-03-29 11:00", (Z,)),
    ("iwmo-2.1-2.2", "3.1.5", "2018-03-29 13:00", None, "2018-03-29 11:00", (G,)),
    ("iwmo-2.1-2.2", "3.1.6", "2018-03-29 14:00", "2018-03-29 23:00", "2018-03-29 12:00", (G,)),
    ("iwmo-2.1-2.2", "3.1.7", "2018-03-29 14:00", "2018-03-29 23:00", "2018-03-29 12:00", (Z,)),
    ("iwmo-2.1-2.2", "3.2.1", "2018-03-27 17:00", None, "2018-03-27 15:00", EVERYONE),
    ("iwmo-2.1-2.2", "3.2.2", "2018-03-29 13:00", None, "2018-03-29 11:00", EVERYONE),
    ("iwmo-2.1-2.2", "3.2.3", "2018-03-29 13:00", "2018-04-03 13:00", "2018-03-29 11:00", EVERYONE),
    ("iwmo-2.1-2.2", "3.2.4", "2018-04-03 13:00", None, "2018-04-03 11:00", EVERYONE),
    ("iwmo-2.1-2.2", "4.1.1", "2018-04-03 13:00", None, "2018-04-03 11:00", HUBS),
    ("iwmo-2.1-2.2", "4.1.2", "2018-04-03 13:00", None, "2018-04-03 11:00", EVERYONE),
    ("iwmo-2.1-2.2", "4.1.3", "2018-04-03 13:00", None, "2018-04-03 11:00", (G,)),
    ("iwmo-2.1-2.2", "4.1.4", "2018-04-03 13:00", None, "2018-04-03 11:00", (Z,)),
    ("iwmo-ijw-3.0-3.1", "3.1.1", "2022-03-23 23:00", None, "2022-03-23 22:00", (Z,)),
    ("iwmo-ijw-3.0-3.1", "3.1.2", "2022-03-30 17:00", None, "2022-03-30 15:00", (Z,)),
    ("iwmo-ijw-3.0-3.1", "3.1.3", "2022-03-30 17:00", None, "2022-03-30 15:00", (G,)),
    ("iwmo-ijw-3.0-3.1", "3.1.4", "2022-03-31 13:00", None, "2022-03-31 11:00", (Z,)),
    ("iwmo-ijw-3.0-3.1", "3.1.5", "2022-03-31 13:00", None, "2022-03-31 11:00", (G,)),
    ("iwmo-ijw-3.0-3.1", "3.1.6", "2022-03-31 14:00", "2022-03-31 23:00", "2022-03-31 12:00", (G,)),
    ("iwmo-ijw-3.0-3.1", "3.1.7", "2022-03-31 14:00", "2022-03-31 23:00", "2022-03-31 12:00", (Z,)),
    ("iwmo-ijw-3.0-3.1", "3.2.1", "2022-03-30 17:00", None, "2022-03-30 15:00", EVERYONE),
    ("iwmo-ijw-3.0-3.1", "3.2.2", "2022-03-31 13:00", None, "2022-03-31 11:00", EVERYONE),
    (
        "iwmo-ijw-3.0-3.1",
        "3.2.3",
        "2022-03-31 13:00",
        "2022-04-04 13:00",
        "2022-03-31 11:00",
        EVERYONE,
    ),
    ("iwmo-ijw-3.0-3.1", "3.2.4", "2022-04-04 13:00", None, "2022-04-04 11:00", EVERYONE),
    ("iwmo-ijw-3.0-3.1", "3.3.1", "2022-03-01 23:00", None, "2022-03-01 22:00", (Z,)),
    ("iwmo-ijw-3.0-3.1", "3.3.2", "2022-03-31 13:00", None, "2022-03-31 11:00", (G,)),
    # a blocking reaches every feed, as 3.2's do (the page promises every role "de blokkering")
    ("iwmo-ijw-3.0-3.1", "3.3.3", "2022-03-31 13:00", None, "2022-03-31 11:00", EVERYONE),
    ("iwmo-ijw-3.0-3.1", "4.1.1", "2022-04-04 13:00", None, "2022-04-04 11:00", HUBS),
    ("iwmo-ijw-3.0-3.1", "4.1.2", "2022-04-04 13:00", None, "2022-04-04 11:00", (G,)),
    ("iwmo-ijw-3.0-3.1", "4.1.3", "2022-04-04 13:00", None, "2022-04-04 11:00", (Z,)),
]

MESSAGES = {
    ("iwmo-ijw-3.0-3.1", "3.1.2"): "3.1.2 Alle heenberichten verzonden door aanbieders "
    "(305, 307, 315, 317)",
    ("iwmo-ijw-3.0-3.1", "3.1.5"): "(306, 308, 316, 318, 325)",
    ("iwmo-ijw-3.0-3.1", "3.2.1"): "(301, 305, 307, 315, 317, 319, 323)",
    ("iwmo-2.1-2.2", "3.1.5"): "(WMO316, WMO304)",
    ("iwmo-2.1-2.2", "3.2.1"): "(WMO301, WMO303, WMO305, WMO307, WMO315)",
}


def _feed(outputs: dict[str, bytes], runbook: str, feed: str) -> Feed:
    name = f"{runbook}/{feed}.ics"
    return _parsed(outputs[name], name)


@functools.cache
def _parsed(data: bytes, name: str) -> Feed:
    """Each feed parsed once per session (the tests only read it)."""
    return Feed.parse(data, name)


def test_table_covers_every_milestone(seed_runbooks: dict[str, Runbook]) -> None:
    for rid, runbook in seed_runbooks.items():
        expected = [number for r, number, *_ in MILESTONES if r == rid]
        assert [m.id for m in runbook.milestones] == expected


@pytest.mark.parametrize(
    ("runbook", "number", "start", "end", "utc", "roles"),
    MILESTONES,
    ids=[f"{r}:{n}" for r, n, *_ in MILESTONES],
)
def test_milestone_time_and_feeds(
    seed_outputs: dict[str, bytes],
    runbook: str,
    number: str,
    start: str,
    end: str | None,
    utc: str,
    roles: tuple[str, ...],
) -> None:
    everything = _feed(seed_outputs, runbook, "all")
    if end is None:
        assert_event_at(everything, number, start)
    else:
        assert_period(everything, number, start, end)
    instant = everything.event(number).decoded("DTSTART").astimezone(dt.UTC)
    assert instant.strftime("%Y-%m-%d %H:%M") == utc
    for role in EVERYONE:
        feed = _feed(seed_outputs, runbook, role)
        if role in roles:
            assert_in_feed(feed, number)
            assert feed.event(number).decoded("DTSTART") == everything.event(number).decoded(
                "DTSTART"
            )
        else:
            assert_not_in_feed(feed, number)


@pytest.mark.parametrize(("key", "text"), MESSAGES.items(), ids=[f"{r}:{n}" for r, n in MESSAGES])
def test_summary_names_number_and_codes(
    seed_outputs: dict[str, bytes], key: tuple[str, str], text: str
) -> None:
    runbook, number = key
    summary = str(_feed(seed_outputs, runbook, "all").event(number)["SUMMARY"])
    assert summary.startswith(number + " ")
    assert text in summary


PHASES = [
    ("iwmo-2.1-2.2", "Fase 1: afsluiting", "2018-03-18 23:00", "2018-03-29 13:00"),
    ("iwmo-2.1-2.2", "Fase 2: transitie", "2018-03-29 13:00", "2018-04-03 13:00"),
    ("iwmo-2.1-2.2", "Fase 3: ingebruikname en nazorg", "2018-04-03 13:00", "2018-05-01 13:00"),
    ("iwmo-ijw-3.0-3.1", "Fase 1: afsluiting", "2022-03-23 23:00", "2022-03-31 13:00"),
    ("iwmo-ijw-3.0-3.1", "Fase 2: transitie", "2022-03-31 13:00", "2022-04-04 13:00"),
    (
        "iwmo-ijw-3.0-3.1",
        "Fase 3: ingebruikname en nazorg",
        "2022-04-04 13:00",
        "2022-05-02 13:00",
    ),
]


@pytest.mark.parametrize(("runbook", "summary", "start", "end"), PHASES)
@pytest.mark.parametrize("feed_id", ["all", *EVERYONE])
def test_phases_in_every_feed(
    seed_outputs: dict[str, bytes], runbook: str, summary: str, start: str, end: str, feed_id: str
) -> None:
    feed = _feed(seed_outputs, runbook, feed_id)
    found = [e for e in feed.events() if str(e["SUMMARY"]) == summary]
    assert len(found) == 1
    assert found[0].decoded("DTSTART") == local(start)
    assert found[0].decoded("DTEND") == local(end)


def test_unnumbered_dated_facts(seed_outputs: dict[str, bytes]) -> None:
    feed = _feed(seed_outputs, "iwmo-ijw-3.0-3.1", "gemeenten")
    by_summary = {str(e["SUMMARY"]): e for e in feed.events()}
    kto = next(e for s, e in by_summary.items() if "KTO" in s)
    assert kto.decoded("DTSTART") == dt.date(2021, 12, 1)  # all-day
    failure = next(e for s, e in by_summary.items() if "infrastructuur" in s)
    assert failure.decoded("DTSTART") == local("2022-04-04 12:00")
    old = _feed(seed_outputs, "iwmo-2.1-2.2", "vecozo")
    assert any(e.decoded("DTSTART") == local("2018-04-03 12:00") for e in old.events()), (
        "the 2018 runbook's 12:00 announcement deadline"
    )


def test_description_carries_full_text(seed_outputs: dict[str, bytes]) -> None:
    event = _feed(seed_outputs, "iwmo-ijw-3.0-3.1", "zorgaanbieders").event("3.1.1")
    text = str(event["DESCRIPTION"])
    assert "Alle beschikbare declaratieberichten zijn verzonden (323)." in text
    assert "Let op: Dit is een procedurele afspraak; berichten worden niet geblokkeerd." in text
    assert "woensdag 23 maart 2022, 23.00 uur" in text
    assert "Actiehouder: Zorgaanbieders" in text
    assert "- 323 Declaratie" in text


def test_action_holder_text_as_in_runbook(seed_outputs: dict[str, bytes]) -> None:
    event = _feed(seed_outputs, "iwmo-ijw-3.0-3.1", "gemeenten").event("3.2.2")
    assert "Actiehouder: VECOZO / IB" in str(event["DESCRIPTION"])


# ------------------------------------------------- fidelity: the pages against the PDFs


def _page(seed_outputs: dict[str, bytes], runbook: str) -> str:
    return seed_outputs[f"{runbook}/index.html"].decode()


def _between(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end, text.index(start))]


def test_1_1_heading_lead_and_list_from_the_runbook(
    seed_runbooks: dict[str, Runbook], seed_outputs: dict[str, bytes]
) -> None:
    """2018 §1.1 lists the three phases before describing them; 2022 does not."""
    old = _between(_page(seed_outputs, "iwmo-2.1-2.2"), "<h3>1.1 ", "<h4>Fase 1")
    assert "<h3>1.1 Migratieperiode met drie fasen</h3>" in old
    assert "<p>De migratieperiode kent drie fasen:</p>" in old
    items = re.findall(r"<li>(.*?)</li>", old)
    assert items == ["afsluiting;", "transitie;", "ingebruikname en nazorg."]
    md = seed_outputs["iwmo-2.1-2.2/runbook.md"].decode()
    assert "- afsluiting;\n- transitie;\n- ingebruikname en nazorg.\n" in md
    new = _between(_page(seed_outputs, "iwmo-ijw-3.0-3.1"), "<h3>1.1 ", "<h4>Fase 1")
    assert "De migratieperiode kent drie fasen:" in new
    assert "<li>" not in new
    # taken from the runbook, not the template: change it there and the page follows
    runbook = seed_runbooks["iwmo-ijw-3.0-3.1"]
    edited = dataclasses.replace(
        runbook,
        goal_sections=tuple(
            dataclasses.replace(b, title="Drie fasen", text="Er zijn drie fasen.")
            if b.number == "1.1"
            else b
            for b in runbook.goal_sections
        ),
    )
    page = render_all([edited])["iwmo-ijw-3.0-3.1/index.html"].decode()
    assert "<h3>1.1 Drie fasen</h3>\n<p>Er zijn drie fasen.</p>" in page
    assert "Migratieperiode met drie fasen" not in page
    assert page.count("<h3>1.1 ") == 1


@pytest.mark.parametrize("runbook", ["iwmo-2.1-2.2", "iwmo-ijw-3.0-3.1"])
def test_vecozo_channel_notes_keep_their_parentheses(
    seed_outputs: dict[str, bytes], runbook: str
) -> None:
    html = _page(seed_outputs, runbook)
    assert "support@vecozo.nl</a> (werking certificaten en diensten)</p>" in html
    assert "administratie@vecozo.nl</a> (administratieve zaken)</p>" in html
    md = seed_outputs[f"{runbook}/runbook.md"].decode()
    assert "support@vecozo.nl (werking certificaten en diensten)" in md
    assert "administratie@vecozo.nl (administratieve zaken)" in md


def test_4_1_2_time_label_in_tooltip_alarm_and_feed(seed_outputs: dict[str, bytes]) -> None:
    """2018 4.1.2 "Voor uiterlijk 13.00 uur": the table, the timeline's tooltip, the
    reminders (VALARM) and the description all keep it."""
    html = _page(seed_outputs, "iwmo-2.1-2.2")
    svg = _between(html, "<svg", "</svg>")
    tooltip = re.search(r"<title>4\.1\.2 [^<]*</title>", svg)
    assert tooltip
    assert "dinsdag 3 april 2018, 13.00 uur (Voor uiterlijk 13.00 uur)" in tooltip.group(0)
    event = _feed(seed_outputs, "iwmo-2.1-2.2", "gemeenten").event("4.1.2")
    assert "(Voor uiterlijk 13.00 uur)" in str(event["DESCRIPTION"])
    alarms = list(event.walk("VALARM"))
    assert alarms
    for alarm in alarms:
        assert "13.00 uur (Voor uiterlijk 13.00 uur)" in str(alarm["DESCRIPTION"])


def test_4_1_2_time_label_in_reminder_mail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "s.yaml").write_text("subscribers:\n  gemeenten: [a@example.nl]\n")
    monkeypatch.chdir(tmp_path)
    args = ["notify", str(ROOT / "runbooks/iwmo-2.1-2.2.yaml"), "--subscribers", "s.yaml"]
    assert main([*args, "--outbox", "out", "--at", "2018-04-02 09:00"]) == 0
    capsys.readouterr()
    texts = []
    for path in sorted((tmp_path / "out").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        plain = message.get_body(("plain",))
        html = message.get_body(("html",))
        assert plain is not None
        assert html is not None
        texts.append((plain.get_content(), html.get_content()))
    mentioned = [(p, h) for p, h in texts if "4.1.2 " in p]
    assert mentioned
    for plain, html in mentioned:
        line = next(x for x in plain.splitlines() if "(Voor uiterlijk" in x)
        assert line == "  Wanneer: dinsdag 3 april 2018, 13.00 uur (Voor uiterlijk 13.00 uur)"
        assert "13.00 uur (Voor uiterlijk 13.00 uur)</td>" in html


# The action holders' heading over each table, as the PDFs print it: "Actie-/houder"
# (2018, broken over two lines) and "Actiehouder" (2022) over 3.1, 3.2 and 3.3; "Actie
# houders" only over chapter 4's table (4.1) in both.
HOLDERS = {"3.1": "Actiehouder", "3.2": "Actiehouder", "3.3": "Actiehouder", "4.1": "Actie houders"}


@pytest.mark.parametrize("runbook", ["iwmo-2.1-2.2", "iwmo-ijw-3.0-3.1"])
def test_schedule_tables_headed_as_the_runbook_heads_them(
    seed_outputs: dict[str, bytes], runbook: str
) -> None:
    html = _page(seed_outputs, runbook)
    tables = re.findall(
        r'<th scope="col">Wanneer \(tijd\)</th><th scope="col">([^<]+)</th>.*?<tr id="m-(\d\.\d)',
        html,
        re.S,
    )
    assert len(tables) == (3 if runbook == "iwmo-2.1-2.2" else 4)
    for heading, section in tables:
        assert heading == HOLDERS[section], section
    md = seed_outputs[f"{runbook}/runbook.md"].decode()
    tables = re.findall(r"\| Wanneer \(tijd\) \| ([^|]+) \|\n.*?\n\| <a id=\"m-(\d\.\d)", md)
    assert len(tables) == (3 if runbook == "iwmo-2.1-2.2" else 4)
    for heading, section in tables:
        assert heading == HOLDERS[section], section


@pytest.mark.parametrize(
    ("runbook", "end"),
    [("iwmo-2.1-2.2", "dinsdag 1 mei 2018, 13.00 uur"), ("iwmo-ijw-3.0-3.1", "maandag 2 mei 2022")],
)
def test_phase_3_end_shown_as_derived(
    seed_outputs: dict[str, bytes], runbook: str, end: str
) -> None:
    """Neither source gives phase 3 an end: calgen's four weeks (from 5.2) say so."""
    html = _page(seed_outputs, runbook)
    phase3 = _between(html, "<h4>Fase 3", "</section>")
    note = re.search(r'<p class="meta derived">(.*?)</p>', phase3)
    assert note
    assert end in note.group(1)
    assert "noemt geen einddatum" in note.group(1)
    assert "afgeleid uit 5.2" in note.group(1)
    assert html.count('class="meta derived"') == 1  # phases 1 and 2 have their end dates
    for feed_id in ("all", *EVERYONE):
        feed = _feed(seed_outputs, runbook, feed_id)
        phase = next(e for e in feed.events() if str(e["SUMMARY"]).startswith("Fase 3"))
        assert "afgeleid uit 5.2" in str(phase["DESCRIPTION"])
        other = next(e for e in feed.events() if str(e["SUMMARY"]).startswith("Fase 2"))
        assert "afgeleid" not in str(other["DESCRIPTION"])


@pytest.mark.parametrize(
    ("runbook", "end"),
    [("iwmo-2.1-2.2", "dinsdag 1 mei 2018"), ("iwmo-ijw-3.0-3.1", "maandag 2 mei 2022")],
)
@pytest.mark.parametrize("page", ["index", "gemeenten"])
def test_phase_3_end_derived_in_timeline_list_and_band(
    seed_outputs: dict[str, bytes], runbook: str, end: str, page: str
) -> None:
    """The phone's timeline list and the phase band's tooltip say so too (they showed
    the derived end of phase 3 as if the runbook gave it)."""
    html = seed_outputs[f"{runbook}/{page}.html"].decode()
    listed = _between(html, '<li class="tl-phase ingebruikname">', "<ol>")
    assert f"{end}, 13.00 uur – 13.00 uur (einde afgeleid)" in listed
    assert "het einde is afgeleid uit 5.2" in listed
    for phase in ("afsluiting", "transitie"):
        assert "afgeleid" not in _between(html, f'<li class="tl-phase {phase}">', "<ol>")
    svg = _between(html, "<svg", "</svg>")
    bands = dict(re.findall(r'<rect class="band ([a-z]+)"[^>]*><title>([^<]*)</title>', svg))
    assert bands["ingebruikname"].startswith(
        "Fase 3: ingebruikname en nazorg (einde afgeleid: het "
    )
    assert "afgeleid uit 5.2" in bands["ingebruikname"]
    assert "afgeleid" not in bands["afsluiting"] + bands["transitie"]


def test_messages_catalogue_note_on_303_304_is_the_runbooks(
    seed_runbooks: dict[str, Runbook],
) -> None:
    """The catalogue's note on 303/304 says what the runbooks say: in use under 3.0, a
    separate phase-out runbook, and its three dates (3.3.1, 3.3.2, 3.3.3) as the 2022
    runbook schedules them; it claimed 323/325 replaced them, which neither says, and
    left out 3.3.1 (no new 303 messages from 1 March 2022 23.00)."""
    lines = (ROOT / "runbooks/shared/messages.yaml").read_text(encoding="utf-8").splitlines()
    note = " ".join(line.removeprefix("#").strip() for line in lines if line.startswith("#"))
    assert "belong to the 2.x standard" not in note
    assert "replaced" not in note
    assert "323" not in note
    assert "325" not in note
    assert "in use under 3.0" in note
    assert "separate runbook" in note
    runbook = seed_runbooks["iwmo-ijw-3.0-3.1"]
    dated = re.findall(r"(\d{1,2} March 2022 \d\d\.\d\d) \((3\.3\.\d)", note)
    assert [number for _, number in dated] == ["3.3.1", "3.3.2", "3.3.3"]
    for when, number in dated:
        milestone = next(m for m in runbook.milestones if m.id == number)
        start = milestone.start
        assert f"{start.day} March {start.year} {start:%H.%M}" == when, number


def _listed(html: str) -> dict[str, list[str]]:
    """The timeline as a list (phones): phase label -> the milestone numbers under it."""
    listed = _between(html, '<ol class="timeline-list">', "</section>")
    phases = re.split(r'<li class="tl-phase [a-z]+"><strong>', listed)[1:]
    return {
        part.split("</strong>", 1)[0]: re.findall(r'<a href="#m-([0-9.]+)">', part)
        for part in phases
    }


@pytest.mark.parametrize(
    ("runbook", "closing_1", "closing_2"),
    [
        ("iwmo-2.1-2.2", ["3.1.4", "3.1.5", "3.2.2"], ["4.1.1", "4.1.2", "4.1.3", "4.1.4"]),
        (
            "iwmo-ijw-3.0-3.1",
            ["3.1.4", "3.1.5", "3.2.2", "3.3.2", "3.3.3"],
            ["4.1.1", "4.1.2", "4.1.3"],
        ),
    ],
)
def test_phone_timeline_lists_a_closing_deadline_under_the_phase_it_closes(
    seed_outputs: dict[str, bytes],
    seed_runbooks: dict[str, Runbook],
    runbook: str,
    closing_1: list[str],
    closing_2: list[str],
) -> None:
    """A deadline at the instant its own phase ends is listed under that phase, as its
    table (its chapter), runbook.md and the feeds' CATEGORIES place it; the list was
    putting 3.1.4, 3.1.5, 3.3.2 and 4.1.x under the next phase."""
    listed = _listed(_page(seed_outputs, runbook))
    phase_1, phase_2, phase_3 = listed.values()
    for number in closing_1:
        assert number in phase_1, f"{number} not under phase 1: {listed}"
    for number in closing_2:
        assert number in phase_2, f"{number} not under phase 2: {listed}"
    # and every one agrees with its own feed event's category (its chapter's phase)
    feed = _feed(seed_outputs, runbook, "all")
    label = {p.id: f"Fase {p.number}: {p.title}" for p in seed_runbooks[runbook].phases}
    for number in closing_1 + closing_2:
        milestone = next(m for m in seed_runbooks[runbook].milestones if m.id == number)
        category = feed.event(number)["CATEGORIES"].to_ical()
        assert category in (label[milestone.phase], label[milestone.phase].encode())
    # go-live opens phase 3; the migration period (3.2.3) is listed in the transition
    assert "3.2.4" in phase_3
    assert "3.2.3" in phase_2


def test_4_1_2_title_says_it_is_a_deadline(seed_outputs: dict[str, bytes]) -> None:
    """2018 4.1.2 is due "Voor uiterlijk 13.00 uur": a calendar shows its title at 13.00,
    so the title itself says so, not only its description; no other title changes."""
    for feed_id in ("all", *EVERYONE):
        event = _feed(seed_outputs, "iwmo-2.1-2.2", feed_id).event("4.1.2")
        summary = str(event["SUMMARY"])
        assert summary == "4.1.2 Ketentest met Wmo-release 2.2-berichten (voor uiterlijk 13.00 uur)"
    for runbook in ("iwmo-2.1-2.2", "iwmo-ijw-3.0-3.1"):
        others = [
            str(e["SUMMARY"])
            for e in _feed(seed_outputs, runbook, "all").events()
            if "4.1.2 Ketentest" not in str(e["SUMMARY"])
        ]
        assert not [s for s in others if "uiterlijk" in s]
