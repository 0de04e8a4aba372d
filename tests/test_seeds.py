"""Every milestone of both seed runbooks: its instant in UTC and exactly the feeds it is in.

The table below is transcribed by hand from `../shared/seeds/` (the published PDFs),
independently of `runbooks/*.yaml`, with the UTC instants worked out by hand: CET
(UTC+1) before the spring change on 25 March 2018 / 27 March 2022, CEST (UTC+2) after.
"""

from __future__ import annotations

import datetime as dt

import pytest

from calgen.model import Runbook
from tests.calendars import (
    Feed,
    assert_event_at,
    assert_in_feed,
    assert_not_in_feed,
    assert_period,
    local,
)

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
    return Feed.parse(outputs[f"{runbook}/{feed}.ics"], f"{runbook}/{feed}.ics")


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
