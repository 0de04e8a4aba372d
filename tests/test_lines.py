"""calgen's content-line writer, checked by parsing back what it wrote.

calgen.render.ical.lines writes every event (revised ones too); icalendar only reads. Here
icalendar reads every event of every seed, fixture and hostile runbook back to the values
calgen meant (and tests/test_conformance.py and tests/test_updates.py do the same with
ical.js, libical and the `ical` package), so no test depends on how icalendar writes.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from icalendar import Calendar, Component, Event, vDuration, vInt

from calgen.render.ical import feeds as ics
from calgen.render.ical import revise
from calgen.render.ical.lines import component, duration, escape, fold
from calgen.render.templating import environment
from calgen.runbook.validate import load_runbook
from calgen.site.outputs import render_all
from tests.conftest import BASE_URL, ROOT, TESTDATA

RUNBOOKS = [
    ROOT / "runbooks" / "iwmo-2.1-2.2.yaml",
    ROOT / "runbooks" / "iwmo-ijw-3.0-3.1.yaml",
    TESTDATA / "valid" / "dst-2022.yaml",
    TESTDATA / "valid" / "relative-2018.yaml",
    TESTDATA / "hostile" / "hostile.yaml",
]
_EVENT = re.compile(rb"BEGIN:VEVENT\r\n.*?END:VEVENT\r\n", re.S)
NOW = dt.datetime(2024, 3, 9, 16, 0, tzinfo=dt.UTC)
_BOOKKEEPING = {"SEQUENCE", "LAST-MODIFIED", "STATUS"}


def _as_read(text: str) -> str:
    """TEXT as any reader returns it: line breaks are `\\n` on the wire, so CR goes."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _physical_lines_ok(data: bytes) -> None:
    assert data.endswith(b"\r\n")
    for physical in data.split(b"\r\n")[:-1]:
        assert len(physical) <= 75, physical
        physical.decode("utf-8")  # never split inside a character


def _sequence(event: Component) -> int:
    value = event["SEQUENCE"]
    assert isinstance(value, vInt), value
    return int(value)


@pytest.mark.parametrize("path", RUNBOOKS, ids=[p.stem for p in RUNBOOKS])
def test_events_read_back_by_icalendar(path: Path) -> None:
    runbook, _ = load_runbook(path)
    for item in ics.items(environment(), runbook, BASE_URL):
        _physical_lines_ok(item.data)
        event = Event.from_ical(item.data)
        assert str(event["UID"]) == item.item.uid
        assert str(event["SUMMARY"]) == _as_read(item.item.title)
        start = event.decoded("DTSTART")
        if item.all_day:
            assert start == item.item.start.date()
        else:
            assert start == item.item.start
            assert start.utcoffset() == item.item.start.utcoffset()
        assert _sequence(event) == 0
        assert str(event["STATUS"]) == "CONFIRMED"


@pytest.mark.parametrize("path", RUNBOOKS, ids=[p.stem for p in RUNBOOKS])
def test_feeds_read_back_by_icalendar(path: Path) -> None:
    """Whole feeds, head, VTIMEZONE and alarms included, parse to as many events."""
    runbook, _ = load_runbook(path)
    outputs = render_all([runbook], base_url=BASE_URL)
    feeds = {name: data for name, data in outputs.items() if name.endswith(".ics")}
    assert feeds
    for name, data in feeds.items():
        _physical_lines_ok(data)
        calendar = Calendar.from_ical(data)
        events = calendar.walk("VEVENT")
        assert len(events) == len(_EVENT.findall(data)) > 0, name
        assert len(calendar.walk("VTIMEZONE")) == 1
        for event in events:
            for alarm in event.walk("VALARM"):
                assert str(alarm["ACTION"]) == "DISPLAY"
                assert str(alarm["DESCRIPTION"]).strip()


def _others(event: Component) -> dict[str, bytes]:
    return {k: v.to_ical() for k, v in event.items() if k not in _BOOKKEEPING}


WHY = "Vervallen sinds versie 1.1 (1 december 2021) van het draaiboek; zie de pagina."


@pytest.mark.parametrize("path", RUNBOOKS, ids=[p.stem for p in RUNBOOKS])
@pytest.mark.parametrize("cancel", [False, True], ids=["changed", "cancelled"])
def test_revised_events_read_back(path: Path, cancel: bool) -> None:
    """A revised or cancelled event, written by calgen.render.ical.lines, reads back with the
    new SEQUENCE, LAST-MODIFIED and STATUS and everything else as it was; a cancelled
    one's SUMMARY starts with "Vervallen: " and its DESCRIPTION with why, once."""
    runbook, _ = load_runbook(path)
    data = render_all([runbook], base_url=BASE_URL)[f"{runbook.id}/all.ics"]
    why = WHY if cancel else ""
    for raw in _EVENT.findall(data):
        bumped = revise._bump(raw, 4, NOW, why)
        _physical_lines_ok(bumped)
        again = revise._bump(bumped, 5, NOW, why)  # a second revision replaces, never adds
        before, after = Event.from_ical(raw), Event.from_ical(again)
        assert _sequence(after) == 5
        assert after.decoded("LAST-MODIFIED") == NOW
        assert str(after["STATUS"]) == ("CANCELLED" if cancel else str(before["STATUS"]))
        if cancel:
            assert str(after["SUMMARY"]) == "Vervallen: " + str(before["SUMMARY"])
            assert str(after["DESCRIPTION"]) == f"{WHY}\n\n{before['DESCRIPTION']}"
            for name in ("SUMMARY", "DESCRIPTION"):
                after.pop(name)
                before.pop(name)
        assert _others(after) == _others(before)
        assert [a.to_ical() for a in after.subcomponents] == [
            a.to_ical() for a in before.subcomponents
        ]
        assert again.count(b"\r\nSEQUENCE:") == 1
        assert again.count(b"\r\nLAST-MODIFIED:") == 1


TEXTS = [
    "x" * 200,
    "é" * 100,
    "a" + "€" * 60,
    "ab" + "𝄞" * 40,
    "x" * 60 + ";" + "y" * 100,
    "x" * 61 + "\n" + "y" * 100,
    "x" * 62 + "\\" + "y" * 100,
    "x" * 62,
    "x" * 63,
    "a;b,c\\d\r\ne\nf\rg",
    "Er is dus *geen* conversieperiode: zie 3.1.2, 3.1.3; \\n blijft staan",
    "map C:\\Nieuw\\NL en \\N: een backslash blijft een backslash",
    "",
]


@pytest.mark.parametrize("text", TEXTS)
def test_text_reads_back(text: str) -> None:
    """Escaped and folded TEXT is what icalendar reads back (line breaks as `\\n`)."""
    data = component("VEVENT", [("UID", "x@calgen"), ("DESCRIPTION", escape(text))])
    _physical_lines_ok(data)
    assert str(Event.from_ical(data)["DESCRIPTION"]) == _as_read(text)


def test_fold_only_what_needs_it() -> None:
    assert fold("X" * 74) == b"X" * 74 + b"\r\n"
    assert fold("X" * 75).count(b"\r\n ") == 1
    assert fold("X" * 75).replace(b"\r\n ", b"") == b"X" * 75 + b"\r\n"
    # an escape is never split from its backslash, a character never split at all
    for width in range(60, 80):
        for tail in ("\\;" * 20, "é" * 40, "𝄞" * 20):
            line = "D:" + "x" * width + tail
            folded = fold(line)
            _physical_lines_ok(folded)
            assert folded.replace(b"\r\n ", b"") == line.encode() + b"\r\n"
            assert b"\\\r\n " not in folded


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [(-10080, "-P7D"), (-120, "-PT2H"), (-90, "-PT1H30M"), (-1470, "-P1DT30M"), (0, "P0D")],
)
def test_duration_reads_back(minutes: int, expected: str) -> None:
    delta = dt.timedelta(minutes=minutes)
    assert duration(delta) == expected
    assert vDuration.from_ical(duration(delta)) == delta


@pytest.mark.parametrize(
    "text",
    [
        'Gewoon tekst, met komma\'s en "aanhalingstekens" > pijl',
        "Er is dus *geen* conversieperiode",
        "a & b < c",
        "regel | met | pipes en (haakjes) en 3.1-berichten: ok",
        "é ë – — “quote”",
        "tekst met `code` en [link](x)",
    ],
)
def test_markdown_fast_path_equals_markdown_it(text: str) -> None:
    """Plain text skips the parser: the result must be what markdown-it makes of it."""
    from markdown_it import MarkdownIt

    from calgen.render.page.text import html_inline, plain

    parser = MarkdownIt("commonmark", {"html": False})
    assert html_inline(text) == parser.renderInline(text)
    tokens = parser.parseInline(text)[0].children or []
    assert plain(text) == "".join(t.content for t in tokens if t.type in ("text", "code_inline"))


def test_unreadable_sequence_in_a_published_feed_is_refused_by_name() -> None:
    """A hand-edited published feed with a SEQUENCE that is not a number is a ValueError,
    which calgen.site.outputs reports naming the file and builds as if the feed were absent
    (tests/test_publish_owned.py): the damaged line is never carried forward."""
    runbook, _ = load_runbook(RUNBOOKS[1])
    feed = render_all([runbook], base_url=BASE_URL)[f"{runbook.id}/all.ics"]
    (event,) = [e for e in _EVENT.findall(feed) if b"SUMMARY:3.1.1 " in e]
    published = feed.replace(event, event.replace(b"SEQUENCE:0", b"SEQUENCE:abc"))
    assert published.count(b"SEQUENCE:abc") == 1
    with pytest.raises(ValueError, match="SEQUENCE 'abc' is not a number"):
        revise.revise(feed, published, NOW)
