"""Conformance: independent iCalendar readers read the same instants as the model.

Parsers: ical.js (Thunderbird's parser, npm), libical (Evolution's, through Debian's
gir1.2-ical-3.0 under Debian's own python3), the `ical` package (Home Assistant's,
strict) and icalendar. Each reads every feed in one process per test module and gives
`{uid, summary, start, end, alarms}` per event with UTC instants (see tests/readers/).

Readers people use day to day (tests/everyday_readers.py), each run
once per test session over every feed: khal reading webcal subscriptions through
vdirsyncer's `http` storage from a loopback server, calcurse, node-ical, vobject,
recurring-ical-events, and Radicale as a CalDAV server read back with the `caldav`
client. What each shows as a deadline's end is asserted here and tabled in docs/subscribers.md
("Calendar clients").

Every generated feed is read: both seeds, a fixture with times around both DST changes
and the 3.0-3.1 runbook re-planned onto Monday 5 April 2027. In CI (CI=true) a missing
reader is a failure; locally the test skips and says why, loudly.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from icalendar import Calendar

from calgen.cli import main
from calgen.core.layout import uid
from calgen.core.reminders import Kind
from calgen.runbook.model import Runbook
from calgen.runbook.validate import load_runbook
from calgen.site.outputs import render_all
from tests.calendars import AMS
from tests.conformance_readers import (
    Feeds,
    read_icalendar,
    read_icaljs,
    read_many_ical,
    read_many_icaljs,
    read_many_libical,
    utc_text,
)
from tests.conftest import ROOT, TESTDATA
from tests.everyday_readers import (
    read_many_calcurse,
    read_many_khal,
    read_many_nodeical,
    read_many_radicale,
    read_many_recurring,
    read_many_vobject,
)

pytestmark = pytest.mark.conformance


def expected(runbook: Runbook) -> dict[str, tuple[str, str]]:
    """uid -> (start, end) straight from the model, not from any feed."""
    out = {}
    for p in runbook.phases:
        out[uid(runbook.id, "fase", p.id)] = (utc_text(p.start), utc_text(p.end))
    for m in runbook.milestones:
        # a deadline has no DTEND: RFC 5545 readers give its start as its end
        out[uid(runbook.id, "mijlpaal", m.id)] = (utc_text(m.start), utc_text(m.end or m.start))
    for e in runbook.events:
        if e.day is not None:
            out[uid(runbook.id, "datum", e.id)] = (
                utc_text(e.day),
                utc_text(e.day + dt.timedelta(days=1)),
            )
        else:
            assert e.start is not None
            out[uid(runbook.id, "datum", e.id)] = (utc_text(e.start), utc_text(e.end or e.start))
    return out


# Each reads many feeds in one process: {str(path): events}.
READ_MANY: dict[str, Callable[[list[Path]], Feeds]] = {
    "icalendar": lambda paths: {str(p): read_icalendar(p) for p in paths},
    "ical.js": read_many_icaljs,
    "libical": read_many_libical,
    "ical": read_many_ical,
}


def _runbooks() -> list[tuple[str, Path | None]]:
    return [
        ("iwmo-2.1-2.2", ROOT / "runbooks" / "iwmo-2.1-2.2.yaml"),
        ("iwmo-ijw-3.0-3.1", ROOT / "runbooks" / "iwmo-ijw-3.0-3.1.yaml"),
        ("dst-2022", TESTDATA / "valid" / "dst-2022.yaml"),
        (REPLANNED, None),  # made by `calgen new-release` in the fixture
    ]


REPLANNED = "iwmo-ijw-3.1-3.2"


def _replanned(folder: Path) -> Path:
    """The 3.0-3.1 runbook re-planned onto Monday 5 April 2027 (Easter a week before)."""
    shutil.copytree(ROOT / "runbooks", folder / "runbooks")
    out = folder / "runbooks" / "replanned.yaml"
    code = main(
        [
            "new-release", str(folder / "runbooks" / "iwmo-ijw-3.0-3.1.yaml"),
            "--go-live", "2027-04-05 13:00", "--from", "3.1", "--to", "3.2",
            "--date", "2026-11-01", "--out", str(out), "--accept-warnings",
        ]
    )  # fmt: skip
    assert code == 0
    return out


@pytest.fixture(scope="module")
def feeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Runbook]]:
    folder = tmp_path_factory.mktemp("feeds")
    out = {}
    for _name, source in _runbooks():
        path = source or _replanned(tmp_path_factory.mktemp("replan"))
        runbook, _ = load_runbook(path)
        for rel, data in render_all([runbook]).items():
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            out[rel] = (target, runbook)
    return out


FEED_NAMES = [
    f"{rid}/{feed}.ics"
    for rid, _ in _runbooks()
    for feed in ("all", "gemeenten", "zorgaanbieders", "vecozo", "inlichtingenbureau")
]


@pytest.mark.parametrize("reader", list(READ_MANY))
@pytest.mark.parametrize("feed_name", FEED_NAMES)
def test_reader_agrees_with_model(
    feeds: dict[str, tuple[Path, Runbook]],
    readers: Callable[[str], Feeds],
    reader: str,
    feed_name: str,
) -> None:
    _path, runbook = feeds[feed_name]
    model = expected(runbook)
    read = readers(reader)[feed_name]
    assert read, f"{reader} read no events from {feed_name}"
    for event in read:
        assert event["uid"] in model, f"{reader}: unexpected {event['uid']}"
        assert (event["start"], event["end"]) == model[event["uid"]], (
            f"{reader} reads {event['uid']} in {feed_name} as {event['start']}–{event['end']}"
        )
    if feed_name.endswith("/all.ics"):
        assert sorted(e["uid"] for e in read) == sorted(model), f"{reader}: events missing"


def test_dst_fixture_instants() -> None:
    """The fixture's wall-clock times mean what DOMAIN.md says they mean."""
    runbook, _ = load_runbook(TESTDATA / "valid" / "dst-2022.yaml")
    starts = {m.id: utc_text(m.start) for m in runbook.milestones}
    assert starts["1.1.1"] == "2022-03-27T00:30:00Z"
    assert starts["1.1.2"] == "2022-03-27T01:30:00Z"  # ical.js read 02:30Z with a 03:00 onset
    assert starts["1.2.1"] == "2022-10-29T23:30:00Z"
    assert starts["1.2.2"] == "2022-10-30T02:30:00Z"


def test_icalendar_generated_zone_is_misread(tmp_path: Path) -> None:
    """Why calgen writes its own VTIMEZONE: with the zone icalendar generates (DAYLIGHT
    onset 03:00, RDATE list), ical.js reads 03:30 on the spring Sunday an hour late.
    If this ever starts passing, the wrapper in calgen/render/vtimezone.py can go."""
    runbook, _ = load_runbook(TESTDATA / "valid" / "dst-2022.yaml")
    feed = Calendar.from_ical(render_all([runbook])["dst-2022/all.ics"])
    for zone in feed.walk("VTIMEZONE"):
        feed.subcomponents.remove(zone)
    feed.add_missing_timezones()
    path = tmp_path / "generated-zone.ics"
    path.write_bytes(feed.to_ical())
    read = {e["uid"]: e["start"] for e in read_icaljs(path)}
    after_jump = uid(runbook.id, "mijlpaal", "1.1.2")  # 03:30 local = 01:30Z
    assert read[after_jump] == "2022-03-27T02:30:00Z"


def expected_alarms(runbook: Runbook, role: str | None) -> dict[str, list[str]]:
    """uid -> the reminder instants the model says the feed of `role` carries."""
    policy, calendar = runbook.reminders, runbook.calendar
    out: dict[str, list[str]] = {}
    for p in runbook.phases:
        leads = policy.leads(Kind.PHASE, role)
        out[uid(runbook.id, "fase", p.id)] = [utc_text(x.trigger(p.start, calendar)) for x in leads]
    for m in runbook.milestones:
        leads = policy.leads(m.kind, role, m.reminders)
        out[uid(runbook.id, "mijlpaal", m.id)] = [
            utc_text(x.trigger(m.start, calendar)) for x in leads
        ]
    for e in runbook.events:
        leads = policy.leads(Kind.EVENT, role, e.reminders)
        out[uid(runbook.id, "datum", e.id)] = [
            utc_text(x.trigger(e.moment, calendar)) for x in leads
        ]
    return out


@pytest.mark.parametrize("reader", ["ical.js", "libical"])
@pytest.mark.parametrize("feed_name", FEED_NAMES)
def test_reminders_agree_with_model(
    feeds: dict[str, tuple[Path, Runbook]],
    readers: Callable[[str], Feeds],
    reader: str,
    feed_name: str,
) -> None:
    _path, runbook = feeds[feed_name]
    role = feed_name.split("/")[1].removesuffix(".ics")
    model = expected_alarms(runbook, None if role == "all" else role)
    read = readers(reader)[feed_name]
    assert any(e["alarms"] for e in read), f"{feed_name} has no reminders at all"
    for event in read:
        assert event["alarms"] == model[event["uid"]], f"{reader}: {event['uid']} in {feed_name}"


# --- readers people use day to day -------------------------------------------------

# What each reader shows as the end of a deadline (DTSTART, no DTEND) and of an all-day
# fact (DTSTART;VALUE=DATE D, DTEND D+1); docs/subscribers.md's reader table says the same.
DEADLINE_END = {
    "khal": "start + 1 hour",  # khal's default length for an event without an end
    "calcurse": "start",
    "node-ical": "start",
    "vobject": "none",  # keeps what is written: no DTEND
    "recurring-ical-events": "start",
    "radicale": "none",  # the stored object as written: no DTEND
}
ALL_DAY_END = {
    "khal": "same day",  # khal prints the last day an all-day event covers
    "calcurse": "none",  # an all-day "event" in calcurse has a day, no end
    "node-ical": "next day",
    "vobject": "next day",
    "recurring-ical-events": "next day",
    "radicale": "next day",
}
EVERYDAY = list(DEADLINE_END)
# a subscription and a CalDAV collection per feed: these two read each runbook's all.ics,
# which carries every event (the role feeds are made of the same serialized bytes)
WHOLE_ONLY = ("khal", "radicale")
EVERYDAY_CASES = [
    (feed, reader)
    for feed in FEED_NAMES
    for reader in EVERYDAY
    if reader not in WHOLE_ONLY or feed.endswith("/all.ics")
]


@pytest.fixture(scope="module")
def readers(
    feeds: dict[str, tuple[Path, Runbook]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], Feeds]]:
    """Every reader, the four above and the everyday ones, started at once in the
    background, each run once over every feed; `readers(name)` waits for one and gives
    {feed name: events}. A missing reader skips (or fails in CI) the tests that ask."""
    names = {name: feeds[name][0] for name in FEED_NAMES}
    whole = {name: path for name, path in names.items() if name.endswith("/all.ics")}
    by_path: dict[str, Callable[[list[Path]], Feeds]] = {
        **READ_MANY,
        "node-ical": read_many_nodeical,
        "vobject": read_many_vobject,
        "recurring-ical-events": read_many_recurring,
        "calcurse": lambda paths: read_many_calcurse(paths, tmp_path_factory.mktemp("calcurse")),
    }
    by_name: dict[str, Callable[[dict[str, Path]], Feeds]] = {
        "khal": lambda feeds: read_many_khal(feeds, tmp_path_factory.mktemp("khal")),
        "radicale": lambda feeds: read_many_radicale(feeds, tmp_path_factory.mktemp("radicale")),
    }

    def keyed_by_name(read: Callable[[list[Path]], Feeds]) -> Feeds:
        found = read(list(names.values()))
        return {name: found[str(path)] for name, path in names.items()}

    # the readers are other processes or servers: running them side by side halves the wait
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(by_path) + len(by_name)) as pool:
        running = {r: pool.submit(keyed_by_name, read) for r, read in by_path.items()}
        running |= {r: pool.submit(read, whole) for r, read in by_name.items()}
        yield lambda reader: running[reader].result()


def _shown_end(kind: str, start: str, reader: str) -> str | None:
    if kind == "deadline":
        rule = DEADLINE_END[reader]
        if rule == "none":
            return None
        moment = dt.datetime.fromisoformat(start)
        return utc_text(moment + dt.timedelta(hours=1)) if rule.endswith("hour") else start
    rule = ALL_DAY_END[reader]
    day = dt.date.fromisoformat(start)
    return {"none": None, "same day": start, "next day": (day + dt.timedelta(days=1)).isoformat()}[
        rule
    ]


@pytest.mark.parametrize(("feed_name", "reader"), EVERYDAY_CASES)
def test_everyday_reader_agrees_with_model(
    feeds: dict[str, tuple[Path, Runbook]],
    readers: Callable[[str], Feeds],
    reader: str,
    feed_name: str,
) -> None:
    """Every event present, every start as in the runbook, every end as the table says."""
    path, runbook = feeds[feed_name]
    model = expected(runbook)
    in_feed = {str(e["UID"]): e for e in Calendar.from_ical(path.read_bytes()).walk("VEVENT")}
    read = readers(reader)[feed_name]
    assert sorted(e["uid"] for e in read) == sorted(in_feed), f"{reader}: events missing"
    for event in read:
        start, end = model[event["uid"]]
        assert event["start"] == start, f"{reader} starts {event['uid']} at {event['start']}"
        source = in_feed[event["uid"]]
        if "DTEND" not in source:
            want = _shown_end("deadline", start, reader)
        elif len(start) == 10:
            want = _shown_end("all-day", start, reader)
        else:
            want = end
        assert event["end"] == want, f"{reader} ends {event['uid']} at {event['end']}"


@pytest.mark.parametrize(("feed_name", "reader"), EVERYDAY_CASES)
def test_everyday_reader_keeps_reminders(
    feeds: dict[str, tuple[Path, Runbook]],
    readers: Callable[[str], Feeds],
    reader: str,
    feed_name: str,
) -> None:
    """Every reminder is there. khal ignores absolute triggers, so calgen writes them only
    where no relative form is read alike (hours across a DST change; all-day facts, whose
    relative trigger ical.js and libical cut to a date): khal shows an alarm exactly
    for the events with a relative one. calcurse flags an alarm on timed events only."""
    path, _ = feeds[feed_name]
    in_feed = {str(e["UID"]): e for e in Calendar.from_ical(path.read_bytes()).walk("VEVENT")}
    for event in readers(reader)[feed_name]:
        alarms = in_feed[event["uid"]].walk("VALARM")
        relative = [a for a in alarms if "VALUE" not in a["TRIGGER"].params]
        want: int | None = len(alarms)
        if reader == "khal":
            want = int(bool(relative))
        elif reader == "calcurse":
            want = None if len(event["start"]) == 10 else int(bool(alarms))
        assert event["alarm_count"] == want, f"{reader}: reminders of {event['uid']}"


@pytest.mark.parametrize("reader", ["ical.js", "libical"])
@pytest.mark.parametrize("runbook_id", ["iwmo-2.1-2.2", "iwmo-ijw-3.0-3.1", REPLANNED])
def test_reminders_fire_in_office_hours(
    feeds: dict[str, tuple[Path, Runbook]],
    readers: Callable[[str], Feeds],
    reader: str,
    runbook_id: str,
) -> None:
    """Every reminder instant a reader computes from the seeds' (and the re-planned)
    feeds is on a working day between 08:00 and 18:00 Amsterdam time."""
    feed_name = f"{runbook_id}/all.ics"
    _path, runbook = feeds[feed_name]
    instants = [a for event in readers(reader)[feed_name] for a in event["alarms"]]
    assert instants
    for instant in instants:
        local = dt.datetime.fromisoformat(instant).astimezone(AMS)
        assert runbook.calendar.is_working(local.date()), f"{reader}: {local} is no working day"
        assert dt.time(8) <= local.time() <= dt.time(18), f"{reader}: {local} outside 08-18"
