"""The four independent iCalendar readers, as functions: path in, events out.

Each returns `[{uid, summary, start, end, ...}]` with UTC instants (see tests/readers/).
In CI (CI=true) a missing reader fails the test; locally it skips, saying why loudly.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar

from tests.conftest import ROOT

READERS = ROOT / "tests" / "readers"
SYSTEM_PYTHON = Path("/usr/bin/python3")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"conformance reader unavailable in CI: {reason}")
    pytest.skip(f"CONFORMANCE READER MISSING, NOT TESTED: {reason}")


def utc_text(value: dt.date | dt.datetime) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat()


def read_icalendar(path: Path) -> list[dict[str, Any]]:
    cal = Calendar.from_ical(path.read_bytes())
    return [
        {
            "uid": str(e["UID"]),
            "start": utc_text(e.decoded("DTSTART")),
            "end": utc_text(e.decoded("DTEND")),
        }
        for e in cal.walk("VEVENT")
    ]


def _run(command: list[str]) -> list[dict[str, Any]]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{command[0]} failed: {done.stderr}"
    result: list[dict[str, Any]] = json.loads(done.stdout)
    return result


def read_icaljs(path: Path) -> list[dict[str, Any]]:
    node = shutil.which("node")
    if node is None:
        _missing("node is not installed")
    if not (ROOT / "node_modules" / "ical.js").is_dir():
        _missing("npm package ical.js is not installed (run `npm ci`)")
    return _run([str(node), str(READERS / "icaljs_read.mjs"), str(path)])


def read_libical(path: Path) -> list[dict[str, Any]]:
    if not SYSTEM_PYTHON.exists():
        _missing("Debian's /usr/bin/python3 is not there")
    probe = subprocess.run(
        [
            str(SYSTEM_PYTHON),
            "-c",
            "import gi; gi.require_version('ICalGLib', '3.0'); from gi.repository import ICalGLib",
        ],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        _missing("libical is not installed (apt-get install python3-gi gir1.2-ical-3.0)")
    return _run([str(SYSTEM_PYTHON), str(READERS / "libical_read.py"), str(path)])


def read_ical(path: Path) -> list[dict[str, Any]]:
    try:
        import ical  # noqa: F401
    except ImportError:
        _missing("the `ical` package is not installed (pip install -e '.[test]')")
    return _run([sys.executable, str(READERS / "ical_read.py"), str(path)])
