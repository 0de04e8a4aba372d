"""calgen's own content-line writer is byte for byte what icalendar writes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from icalendar import Calendar, Event

from calgen.model import load_runbook
from calgen.publish import render_all
from calgen.render.lines import duration, escape, fold
from tests.conftest import ROOT, TESTDATA

RUNBOOKS = [
    ROOT / "runbooks" / "iwmo-2.1-2.2.yaml",
    ROOT / "runbooks" / "iwmo-ijw-3.0-3.1.yaml",
    TESTDATA / "valid" / "dst-2022.yaml",
    TESTDATA / "valid" / "relative-2018.yaml",
    TESTDATA / "hostile" / "hostile.yaml",
]
_EVENT = re.compile(rb"BEGIN:VEVENT\r\n.*?END:VEVENT\r\n", re.S)


@pytest.mark.parametrize("path", RUNBOOKS, ids=[p.stem for p in RUNBOOKS])
def test_events_equal_icalendar_serialization(path: Path) -> None:
    runbook, _ = load_runbook(path)
    outputs = render_all([runbook], base_url="https://draaiboeken.example.org")
    for name, data in outputs.items():
        if not name.endswith(".ics"):
            continue
        events = _EVENT.findall(data)
        assert events
        for raw in events:
            assert Event.from_ical(raw).to_ical() == raw, raw.decode()[:200]
        # the whole feed, head and VTIMEZONE included, is what icalendar writes of it
        assert Calendar.from_ical(data).to_ical() == data


@pytest.mark.parametrize(
    "text",
    [
        "x" * 200,
        "é" * 100,
        "a" + "€" * 60,
        "ab" + "𝄞" * 40,
        "x" * 72 + "\\;" + "y" * 100,
        "x" * 73 + "\\n" + "y" * 100,
        "x" * 74,
        "x" * 75,
        "",
    ],
)
def test_fold_like_icalendar(text: str) -> None:
    from icalendar.parser.string import _foldline

    line = f"DESCRIPTION:{text}"
    assert fold(line) == (_foldline(line) + "\r\n").encode("utf-8")
    for physical in fold(line).split(b"\r\n")[:-1]:
        assert len(physical) <= 75
        physical.decode("utf-8")


def test_escape_like_icalendar() -> None:
    from icalendar.parser.string import _escape_char

    text = "a;b,c\\d\r\ne\nf\rg\\Nh"
    assert escape(text) == _escape_char(text)


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [(-10080, "-P7D"), (-120, "-PT2H"), (-90, "-PT1H30M"), (-1470, "-P1DT30M")],
)
def test_duration_like_icalendar(minutes: int, expected: str) -> None:
    import datetime as dt

    from icalendar import vDuration

    delta = dt.timedelta(minutes=minutes)
    assert duration(delta) == expected
    assert vDuration(delta).to_ical().decode() == expected


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

    from calgen.render.text import html_inline, plain

    parser = MarkdownIt("commonmark", {"html": False})
    assert html_inline(text) == parser.renderInline(text)
    tokens = parser.parseInline(text)[0].children or []
    assert plain(text) == "".join(t.content for t in tokens if t.type in ("text", "code_inline"))
