"""The feeds as bytes: golden files, RFC 5545 line rules, calendar metadata, stable UIDs."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from icalendar import Calendar

from calgen.core.layout import uid
from calgen.core.reminders import Kind, Lead
from calgen.runbook.model import Runbook
from calgen.runbook.validate import load_runbook
from calgen.site.outputs import render_all
from tests.calendars import alarm_instants
from tests.conftest import GOLDEN, ROOT, SEEDS, check_golden

FEEDS = ("all", "gemeenten", "zorgaanbieders", "vecozo", "inlichtingenbureau")
NAMES = [f"{seed}/{feed}.ics" for seed in SEEDS for feed in FEEDS]


@pytest.mark.parametrize("name", NAMES)
def test_golden(seed_outputs: dict[str, bytes], name: str, update_golden: bool) -> None:
    check_golden(name, seed_outputs[name], update_golden)


def test_golden_set_is_complete() -> None:
    from tests.test_durable import GOLDEN_NAMES  # the durable feeds' golden files
    from tests.test_editors import CONCEPT_GOLDEN  # a concept's own feed

    found = sorted(str(p.relative_to(GOLDEN)) for p in GOLDEN.rglob("*.ics"))
    assert found == sorted([*NAMES, *GOLDEN_NAMES, CONCEPT_GOLDEN])


@pytest.mark.parametrize("name", NAMES)
def test_lines_crlf_and_folded_at_75_octets(seed_outputs: dict[str, bytes], name: str) -> None:
    data = seed_outputs[name]
    assert data.endswith(b"END:VCALENDAR\r\n")
    assert b"\n" not in data.replace(b"\r\n", b""), "bare LF"
    assert b"\r" not in data.replace(b"\r\n", b""), "bare CR"
    for line in data.split(b"\r\n")[:-1]:
        assert len(line) <= 75, line
        line.decode("utf-8")  # a fold never splits a UTF-8 character


def test_folding_never_splits_a_character() -> None:
    """Long Dutch text with multi-byte characters in every position."""
    runbook_text = (ROOT / "runbooks" / "iwmo-ijw-3.0-3.1.yaml").read_text(encoding="utf-8")
    for shift in range(4):
        title = "x" * shift + "ëé€𝄞" * 40
        data = _render_with(
            runbook_text.replace(
                "title: Alle heenberichten verzonden door aanbieders",
                f"title: {title}",
            )
        )
        for line in data.split(b"\r\n")[:-1]:
            assert len(line) <= 75
            line.decode("utf-8")
        assert title in str(Calendar.from_ical(data).walk("VEVENT")[4]["SUMMARY"])


def _render_with(text: str, name: str = "all.ics") -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        runbooks = Path(folder) / "runbooks"
        (runbooks / "shared").mkdir(parents=True)
        for shared in (ROOT / "runbooks" / "shared").glob("*.yaml"):
            (runbooks / "shared" / shared.name).write_bytes(shared.read_bytes())
        path = runbooks / "edited.yaml"
        path.write_text(text, encoding="utf-8")
        runbook, _ = load_runbook(path)
        return render_all([runbook])[f"{runbook.id}/{name}"]


@pytest.mark.parametrize("feed", FEEDS)
def test_calendar_metadata(seed_outputs: dict[str, bytes], feed: str) -> None:
    data = seed_outputs[f"iwmo-ijw-3.0-3.1/{feed}.ics"]
    cal = Calendar.from_ical(data)
    assert cal["METHOD"] == "PUBLISH"
    assert cal["VERSION"] == "2.0"
    assert str(cal["PRODID"]).startswith("-//calgen//")
    role = {
        "all": "alle rollen",
        "gemeenten": "Gemeenten",
        "zorgaanbieders": "Zorgaanbieders",
        "vecozo": "VECOZO",
        "inlichtingenbureau": "Inlichtingenbureau",
    }[feed]
    for key in ("NAME", "X-WR-CALNAME"):
        assert "iWmo 3.0 en iJw 3.0 naar iWmo 3.1 en iJw 3.1" in str(cal[key])
        assert role in str(cal[key])
    assert b"\r\nREFRESH-INTERVAL;VALUE=DURATION:PT12H\r\n" in data
    assert b"\r\nX-PUBLISHED-TTL:PT12H\r\n" in data
    zones = cal.walk("VTIMEZONE")
    assert len(zones) == 1
    assert zones[0]["TZID"] == "Europe/Amsterdam"
    # every timed value of an event names the zone that is defined
    events = data.decode().split("BEGIN:VEVENT")[1:]
    for line in "".join(events).split("\r\n"):
        if re.match(r"DT(START|END)[;:]", line) and "VALUE=DATE" not in line:
            assert re.match(r"DT(START|END);TZID=Europe/Amsterdam:\d{8}T\d{6}$", line), line


def test_uids_unique_and_dtstamp_from_data(
    seed_runbooks: dict[str, Runbook], seed_outputs: dict[str, bytes]
) -> None:
    cal = Calendar.from_ical(seed_outputs["iwmo-ijw-3.0-3.1/all.ics"])
    uids = [str(e["UID"]) for e in cal.walk("VEVENT")]
    assert len(uids) == len(set(uids))
    assert "mijlpaal-3.1.2.iwmo-ijw-3.0-3.1@calgen" in uids
    stamps = {e.decoded("DTSTAMP").isoformat() for e in cal.walk("VEVENT")}
    assert stamps == {"2021-11-23T00:00:00+00:00"}  # version 1.0 of the runbook


def test_uid_survives_edits_of_text_and_time() -> None:
    text = (ROOT / "runbooks" / "iwmo-ijw-3.0-3.1.yaml").read_text(encoding="utf-8")
    before = Calendar.from_ical(_render_with(text))
    edited = text.replace(
        "title: Alle heenberichten verzonden door aanbieders",
        "title: Alle heenberichten echt verzonden",
    ).replace('at: "2022-03-30 17:00"', 'at: "2022-03-30 16:00"', 1)
    after = Calendar.from_ical(_render_with(edited))

    def by_uid(cal: Calendar) -> dict[str, tuple[str, str]]:
        return {
            str(e["UID"]): (str(e["SUMMARY"]), e.decoded("DTSTART").isoformat())
            for e in cal.walk("VEVENT")
        }

    old, new = by_uid(before), by_uid(after)
    assert old.keys() == new.keys()
    changed = {uid for uid in old if old[uid] != new[uid]}
    assert changed == {"mijlpaal-3.1.2.iwmo-ijw-3.0-3.1@calgen"}


@pytest.mark.parametrize("name", NAMES)
def test_every_reminder_in_office_hours(
    seed_runbooks: dict[str, Runbook], seed_outputs: dict[str, bytes], name: str
) -> None:
    """Every reminder in the seeds' feeds goes off on a working day, 08:00-18:00
    Amsterdam, at the moment the model (and so `calgen notify`) computes."""
    runbook = seed_runbooks[name.split("/")[0]]
    role = name.split("/")[1].removesuffix(".ics")
    by_uid: dict[str, tuple[Kind, dt.datetime, tuple[Lead, ...] | None]] = {
        uid(runbook.id, "fase", p.id): (Kind.PHASE, p.start, None) for p in runbook.phases
    }
    by_uid |= {
        uid(runbook.id, "mijlpaal", m.id): (m.kind, m.start, m.reminders)
        for m in runbook.milestones
    }
    by_uid |= {
        uid(runbook.id, "datum", e.id): (Kind.EVENT, e.moment, e.reminders) for e in runbook.events
    }
    seen = 0
    for event in Calendar.from_ical(seed_outputs[name]).walk("VEVENT"):
        kind, start, own = by_uid[str(event["UID"])]
        leads = runbook.reminders.leads(kind, None if role == "all" else role, own)
        model = [lead.trigger(start, runbook.calendar) for lead in leads]
        read = alarm_instants(event)
        assert read == model, f"{name} {event['SUMMARY']}"
        for moment in read:
            seen += 1
            assert runbook.calendar.is_working(moment.date()), f"{name}: {moment}"
            assert dt.time(8) <= moment.time() <= dt.time(18), f"{name}: {moment}"
    assert seen
