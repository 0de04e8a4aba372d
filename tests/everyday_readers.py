"""The calendar readers people use day to day, as functions: many feeds in, one process
(or one server) per reader, {path or feed name: [event, ...]} out, each event with
{uid, start, end, alarm_count} and, where the reader computes reminder instants,
"alarms". start/end are UTC instants ("...Z") or dates; end is None when the reader
gives none. tests/test_conformance.py runs each once per test module. In CI (CI=true) a
missing reader fails the test; locally it skips, saying why loudly.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import http.server
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from icalendar import Calendar

from tests.conformance_readers import (
    READERS,
    SYSTEM_PYTHON,
    Feeds,
    missing_reader,
    output_of,
    run_reader,
    utc_text,
)
from tests.conftest import ROOT

AMSTERDAM = "Europe/Amsterdam"


def read_many_nodeical(paths: list[Path]) -> Feeds:
    node = shutil.which("node")
    if node is None:
        missing_reader("node is not installed")
    if not (ROOT / "node_modules" / "node-ical").is_dir():
        missing_reader("npm package node-ical is not installed (run `npm ci`)")
    return run_reader(
        [node, str(READERS / "nodeical_read.mjs")], paths, env={**os.environ, "TZ": AMSTERDAM}
    )


def _as_read(event: Any) -> dict[str, Any]:
    """An icalendar VEVENT as a reader that hands one back gives it: DTEND only if written."""
    end = event.decoded("DTEND") if "DTEND" in event else None
    return {
        "uid": str(event["UID"]),
        "start": _instant(event.decoded("DTSTART")),
        "end": _instant(end),
        "alarm_count": len(event.walk("VALARM")),
    }


def _instant(value: Any) -> str | None:
    if value is None:
        return None
    return utc_text(value)


def read_many_vobject(paths: list[Path]) -> Feeds:
    try:
        import vobject
    except ImportError:
        missing_reader("the `vobject` package is not installed (pip install -e '.[test]')")
    out: Feeds = {}
    for path in paths:
        events = []
        for calendar in vobject.readComponents(path.read_text(encoding="utf-8")):
            for event in calendar.vevent_list:
                end = event.dtend.value if hasattr(event, "dtend") else None
                events.append(
                    {
                        "uid": event.uid.value,
                        "start": _instant(event.dtstart.value),
                        "end": _instant(end),
                        "alarm_count": len(getattr(event, "valarm_list", [])),
                    }
                )
        out[str(path)] = sorted(events, key=lambda e: e["uid"])
    return out


def read_many_recurring(paths: list[Path]) -> Feeds:
    """recurring-ical-events: every occurrence between 2000 and 2100 (on icalendar)."""
    try:
        import recurring_ical_events
    except ImportError:
        missing_reader(
            "the `recurring-ical-events` package is not installed (pip install -e '.[test]')"
        )
    out: Feeds = {}
    for path in paths:
        calendar = Calendar.from_ical(path.read_bytes())
        events = []
        for event in recurring_ical_events.of(calendar).between(
            dt.date(2000, 1, 1), dt.date(2100, 1, 1)
        ):
            events.append(_as_read(event))
        out[str(path)] = sorted(events, key=lambda e: e["uid"])
    return out


def read_many_calcurse(paths: list[Path], work: Path) -> Feeds:
    """calcurse 4.x: each feed imported into its own data folder, then queried.

    calcurse keeps wall-clock times without a zone (it ignores TZID), so it runs in
    Europe/Amsterdam, as its users there do; epochs out are UTC instants. A timed event
    is an "appointment" (start and end), an all-day one an "event" (a date). calcurse
    keeps no UID: events are matched on SUMMARY; `!` marks an appointment with an alarm.
    """
    calcurse = shutil.which("calcurse")
    # calcurse keeps no UID: match on SUMMARY (unique in calgen's feeds)
    if calcurse is None:
        missing_reader("calcurse is not installed (apt-get install calcurse)")
    env = {**os.environ, "TZ": AMSTERDAM, "HOME": str(work)}
    out: Feeds = {}
    for i, path in enumerate(paths):
        folder = work / f"calcurse-{i}"
        folder.mkdir()
        output_of("calcurse import", [str(calcurse), "-D", str(folder), "-i", str(path)], env)
        first, last = _span(path)
        query = output_of(
            "calcurse query",
            [
                str(calcurse),
                "-D",
                str(folder),
                "-Q",
                "--from",
                f"{first:%m/%d/%Y}",
                "--to",
                f"{last:%m/%d/%Y}",
                "--format-apt",
                "A\t%(start:epoch)\t%(end:epoch)\t%m\n",
                "--format-event",
                "E\t%m\n",
                "--format-recur-apt",
                "R\t%m\n",
                "--format-recur-event",
                "R\t%m\n",
            ],
            env,
        )
        # calcurse's own store: `MM/DD/YYYY @ HH:MM -> ... [>note] [!]SUMMARY`, `!`: alarm
        alarmed = {}
        for stored in (folder / "apts").read_text(encoding="utf-8").splitlines():
            flagged = re.match(r"^.*? -> .*?\d\d:\d\d(?:>\w+)? (!?)(.*)$", stored)
            if flagged:
                alarmed[flagged[2]] = flagged[1] == "!"
        events: list[dict[str, Any]] = []
        day = ""
        for line in query.splitlines():
            if not line.startswith(("A\t", "E\t", "R\t")):
                day = line.rstrip(":")  # a day heading, mm/dd/yy
                continue
            kind, *rest = line.split("\t")
            if kind == "A":
                start, end, summary = rest
                events.append(
                    {
                        "summary": summary,
                        "start": _epoch(start),
                        "end": _epoch(end),
                        "alarm_count": int(alarmed.get(summary, False)),
                    }
                )
            elif kind == "E":
                month, mday, year = day.split("/")
                events.append(
                    {
                        "summary": rest[0],
                        "start": f"20{year}-{month}-{mday}",
                        "end": None,
                        "alarm_count": None,  # calcurse has no alarms for all-day events
                    }
                )
        # a span over several days is listed on each day: once is enough
        unique = {(e["summary"], e["start"]): e for e in events}
        by_summary = _uid_by_summary(path)
        out[str(path)] = [{"uid": by_summary[e["summary"]], **e} for e in unique.values()]
    return out


def _span(path: Path) -> tuple[dt.date, dt.date]:
    """The first and last day a feed's events touch, a day either side (a query over a
    century takes calcurse and khal seconds)."""
    days = []
    for event in Calendar.from_ical(path.read_bytes()).walk("VEVENT"):
        for key in ("DTSTART", "DTEND"):
            if key in event:
                value = event.decoded(key)
                days.append(value.date() if isinstance(value, dt.datetime) else value)
    return min(days) - dt.timedelta(days=1), max(days) + dt.timedelta(days=1)


def _epoch(text: str) -> str:
    return dt.datetime.fromtimestamp(int(text), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextlib.contextmanager
def loopback_http(folder: Path) -> Iterator[str]:
    """Serve `folder` on 127.0.0.1 (a free port) for the duration; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # the base class's names
        pass


def read_many_khal(feeds: dict[str, Path], work: Path) -> Feeds:
    """khal reading webcal subscriptions: vdirsyncer's `http` storage fetches each feed
    from a loopback server into a vdir, khal lists the vdirs (one calendar per feed).

    khal prints times in the zone it is given (here UTC); `{uid}` in khal's list is the
    vdir file's name, mapped back to the event's UID through the file. khal shows no
    reminder instants: `alarm_count` is 1 when it shows its alarm symbol, else 0.
    `feeds`: name (relative path below a common folder) -> path.
    """
    vdirsyncer, khal = shutil.which("vdirsyncer"), shutil.which("khal")
    if vdirsyncer is None or khal is None:
        missing_reader("khal and vdirsyncer are not installed (apt-get install khal vdirsyncer)")
    root = {p.parent.parent for p in feeds.values()}
    assert len(root) == 1, "feeds for khal must share one folder"
    names = {f"feed{i}": name for i, name in enumerate(feeds)}
    env = {**os.environ, "HOME": str(work), "XDG_DATA_HOME": str(work / "data"), "TZ": "UTC"}
    config = work / "vdirsyncer.conf"
    khal_conf = work / "khal.conf"
    with loopback_http(root.pop()) as base:
        lines = ["[general]", f'status_path = "{work / "status"}"']
        calendars = ["[calendars]"]
        for key, name in names.items():
            vdir = work / "vdirs" / key
            vdir.mkdir(parents=True)
            lines += [
                f"[pair {key}]", f'a = "{key}_web"', f'b = "{key}_local"', "collections = null",
                f"[storage {key}_web]", 'type = "http"', f'url = "{base}/{name}"',
                f"[storage {key}_local]", 'type = "filesystem"', f'path = "{vdir}"',
                'fileext = ".ics"',
                ]  # fmt: skip
            calendars += [f"[[{key}]]", f"path = {vdir}"]
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        for step in ("discover", "sync"):
            output_of(f"vdirsyncer {step}", [str(vdirsyncer), "-c", str(config), step], env)
    khal_conf.write_text(
        "\n".join(
            [
                *calendars,
                "[locale]",
                "timeformat = %H:%M:%S",
                "dateformat = %Y-%m-%d",
                "longdateformat = %Y-%m-%d",
                "datetimeformat = %Y-%m-%dT%H:%M:%S",
                "longdatetimeformat = %Y-%m-%dT%H:%M:%S",
                "local_timezone = UTC",
                "default_timezone = UTC",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    spans = [_span(p) for p in feeds.values()]
    first, last = min(a for a, _ in spans), max(b for _, b in spans)
    listed = output_of(
        "khal list",
        [
            str(khal),
            "-c",
            str(khal_conf),
            "list",
            "--day-format",
            "",
            "--format",
            "{calendar}\t{uid}\t{start}\t{end}\t{alarm-symbol}",
            f"{first:%Y-%m-%d}",
            f"{last:%Y-%m-%d}",
        ],
        env,
    )
    # vdirsyncer's http storage replaces each UID with a hash of the item: match on
    # SUMMARY (unique in calgen's feeds) to the UID the feed itself gives
    uids: dict[tuple[str, str], str] = {}
    for key, name in names.items():
        by_summary = _uid_by_summary(feeds[name])
        for file in (work / "vdirs" / key).glob("*.ics"):
            (item,) = Calendar.from_ical(file.read_bytes()).walk("VEVENT")
            uids[(key, file.stem)] = by_summary[str(item["SUMMARY"])]
    out: Feeds = {name: [] for name in names.values()}
    seen: set[tuple[str, str]] = set()
    for line in listed.splitlines():
        if not line.strip():
            continue
        key, href, start, end, alarm = line.split("\t")
        if (key, href) in seen:  # khal lists an event on every day it spans
            continue
        seen.add((key, href))
        out[names[key]].append(
            {
                "uid": uids[(key, href)],
                "start": _khal_time(start),
                "end": _khal_time(end),
                "alarm_count": int(bool(alarm.strip())),
            }
        )
    return out


@functools.cache
def _uid_by_summary(path: Path) -> dict[str, str]:
    events = Calendar.from_ical(path.read_bytes()).walk("VEVENT")
    found = {str(e["SUMMARY"]): str(e["UID"]) for e in events}
    assert len(found) == len(events), f"{path.name}: summaries repeat"
    return found


def _khal_time(text: str) -> str:
    return text if len(text) == 10 else text + "Z"  # a date, or a UTC time


def read_many_radicale(feeds: dict[str, Path], work: Path) -> Feeds:
    """Radicale (Debian's, under Debian's python3) as a CalDAV server on 127.0.0.1: each
    feed is PUT as one calendar collection (Radicale splits it into events), then read
    back with the `caldav` client: every object of the collection, and a time-range
    REPORT over 2000-2100 (the server's own reading of DTSTART/DTEND) that must find the
    same events. The server is stopped when the reading is done.
    """
    try:
        # the class's own module: the package's lazy `__getattr__` hides its type
        from caldav.davclient import DAVClient
    except ImportError:
        missing_reader("the `caldav` package is not installed (pip install -e '.[test]')")
    probe = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", "import radicale"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        missing_reader("Radicale is not installed (apt-get install radicale)")
    with socket.socket() as sock:  # a free port on the loopback interface
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = work / "radicale.conf"
    config.write_text(
        f"[server]\nhosts = 127.0.0.1:{port}\n[auth]\ntype = none\n[rights]\n"
        f"type = authenticated\n[storage]\nfilesystem_folder = {work / 'collections'}\n"
        "[logging]\nlevel = warning\n",
        encoding="utf-8",
    )
    log = work / "radicale.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [str(SYSTEM_PYTHON), "-m", "radicale", "--config", str(config)],
            stdout=sink,
            stderr=sink,
        )
    try:
        _wait_for_port(port, server, log)
        client = DAVClient(url=f"http://127.0.0.1:{port}/", username="calgen", password="-")
        principal = client.principal()
        out: Feeds = {}
        for i, (name, path) in enumerate(feeds.items()):
            calendar = principal.make_calendar(name=name, cal_id=f"feed{i}")
            put = client.put(
                str(calendar.url),
                path.read_text(encoding="utf-8"),
                {"Content-Type": "text/calendar"},
            )
            assert put.status in (201, 204), f"Radicale refused {name}: {put.status}"
            events: list[dict[str, Any]] = []
            for obj in calendar.events():
                for event in obj.icalendar_instance.walk("VEVENT"):
                    events.append(_as_read(event))
            in_range = calendar.search(
                start=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
                end=dt.datetime(2100, 1, 1, tzinfo=dt.UTC),
                event=True,
            )
            ranged = sorted(str(o.icalendar_component["UID"]) for o in in_range)
            assert ranged == sorted(e["uid"] for e in events), f"Radicale's time range: {name}"
            out[name] = sorted(events, key=lambda e: e["uid"])
        return out
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_for_port(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(100):
        if server.poll() is not None:
            raise AssertionError(f"Radicale exited: {log.read_text(errors='replace')}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("Radicale did not start listening")
