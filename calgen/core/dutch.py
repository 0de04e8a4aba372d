"""Dates and times the way the published runbooks write them.

`woensdag 30 maart 2022`, `17.00 uur`, `14.00 - 23.00 uur`, and periods over several
days: `donderdag 31 maart – maandag 4 april 2022, 13.00 uur – 13.00 uur`.

The Dutch day names (calgen.core.schedule.WEEKDAYS_NL) and month names are CLDR's for
nl_NL, written out rather than asked of Babel: loading Babel and its locale data for
these nineteen words took a tenth of a build of the seeds. tests/test_documents.py
checks every name, and the dates made from them, against Babel's `format_date`.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from calgen.core.schedule import WEEKDAYS_NL  # Monday first

LOCALE = "nl_NL"
# Babel's get_month_names("wide") for LOCALE (and WEEKDAYS_NL its get_day_names("wide")).
MONTHS = (
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
)


def date_long(day: dt.date) -> str:
    """`woensdag 30 maart 2022` (Babel's `EEEE d MMMM y`)"""
    return f"{WEEKDAYS_NL[day.weekday()]} {day.day} {MONTHS[day.month - 1]} {day.year}"


def date_plain(day: dt.date) -> str:
    """`23 november 2021` (the version table has no weekday; Babel's `d MMMM y`)."""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def date_short(day: dt.date) -> str:
    """`donderdag 31 maart` (no year), for the first day of a period in the same year."""
    return f"{WEEKDAYS_NL[day.weekday()]} {day.day} {MONTHS[day.month - 1]}"


def clock(moment: dt.datetime | dt.time) -> str:
    """`17.00` - Dutch runbooks write the hour and minutes separated by a full stop."""
    return f"{moment.hour:02d}.{moment.minute:02d}"


def time_of(moment: dt.datetime) -> str:
    """`17.00 uur`"""
    return f"{clock(moment)} uur"


@lru_cache(maxsize=8192)
def columns(start: dt.datetime, end: dt.datetime | None = None) -> tuple[str, str]:
    """The date and the time, as the runbook tables' two *Wanneer* columns write them."""
    if end is None:
        return date_long(start), time_of(start)
    if start.date() == end.date():
        return date_long(start), f"{clock(start)} - {clock(end)} uur"
    first = date_short(start) if start.year == end.year else date_long(start)
    return f"{first} – {date_long(end)}", f"{time_of(start)} – {time_of(end)}"


@lru_cache(maxsize=8192)
def when(start: dt.datetime, end: dt.datetime | None = None) -> str:
    """The whole moment or period in one phrase, as a feed description or e-mail says it."""
    return ", ".join(columns(start, end))


def month_name(day: dt.date) -> str:
    """`maart`"""
    return MONTHS[day.month - 1]
