"""The four independent iCalendar readers, as functions: path in, events out, or (the
`read_many_*` forms) many paths in, one process per reader, {path: events} out.

Each event is `{uid, summary, start, end, ...}` with UTC instants (see tests/readers/).
In CI (CI=true) a missing reader fails the test; locally it skips, saying why loudly.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

import pytest
from icalendar import Calendar, Event

from tests.conftest import ROOT

READERS = ROOT / "tests" / "readers"
SYSTEM_PYTHON = Path("/usr/bin/python3")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing_reader(reason: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"conformance reader unavailable in CI: {reason}")
    pytest.skip(f"CONFORMANCE READER MISSING, NOT TESTED: {reason}")


def utc_text(value: dt.date | dt.datetime) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat()


def read_icalendar(path: Path) -> list[dict[str, Any]]:
    cal = Calendar.from_ical(path.read_bytes())
    out = []
    for e in cal.walk("VEVENT"):
        assert isinstance(e, Event), e
        out.append(
            {
                "uid": str(e["UID"]),
                "start": utc_text(e.decoded("DTSTART")),
                "end": utc_text(e.end),  # DTEND, else DTSTART (+ DURATION), per RFC 5545
            }
        )
    return out


Feeds = dict[str, list[dict[str, Any]]]


def output_of(what: str, command: list[str], env: dict[str, str] | None = None) -> str:
    """What `command` prints; the test fails, naming `what`, when it exits non-zero."""
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, check=False, env=env, input=""
    )
    assert done.returncode == 0, f"{what} failed: {done.stderr}{done.stdout}"
    return done.stdout


def run_reader(command: list[str], paths: list[Path], env: dict[str, str] | None = None) -> Feeds:
    """One reader process over many files: {str(path): events}."""
    result: Feeds = json.loads(output_of(Path(command[-1]).name, [*command, *map(str, paths)], env))
    return result


def read_many_icaljs(paths: list[Path]) -> Feeds:
    node = shutil.which("node")
    if node is None:
        missing_reader("node is not installed")
    if not (ROOT / "node_modules" / "ical.js").is_dir():
        missing_reader("npm package ical.js is not installed (run `npm ci`)")
    return run_reader([node, str(READERS / "icaljs_read.mjs")], paths)


@functools.cache
def _libicalmissing_reader() -> bool:
    if not SYSTEM_PYTHON.exists():
        return True
    probe = subprocess.run(
        [
            str(SYSTEM_PYTHON),
            "-c",
            "import gi; gi.require_version('ICalGLib', '3.0'); from gi.repository import ICalGLib",
        ],
        capture_output=True,
        check=False,
    )
    return probe.returncode != 0


def read_many_libical(paths: list[Path]) -> Feeds:
    if _libicalmissing_reader():
        missing_reader(
            f"libical under {SYSTEM_PYTHON} is not installed"
            " (apt-get install python3-gi gir1.2-ical-3.0)"
        )
    return run_reader([str(SYSTEM_PYTHON), str(READERS / "libical_read.py")], paths)


def read_many_ical(paths: list[Path]) -> Feeds:
    try:
        import ical  # noqa: F401
    except ImportError:
        missing_reader("the `ical` package is not installed (pip install -e '.[test]')")
    return run_reader([sys.executable, str(READERS / "ical_read.py")], paths)


def read_icaljs(path: Path) -> list[dict[str, Any]]:
    return read_many_icaljs([path])[str(path)]


def read_libical(path: Path) -> list[dict[str, Any]]:
    return read_many_libical([path])[str(path)]


def read_ical(path: Path) -> list[dict[str, Any]]:
    return read_many_ical([path])[str(path)]
