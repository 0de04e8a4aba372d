"""Pure time logic: wall-clock strings to aware datetimes, DST refusal, Dutch holidays.

There is exactly one time zone object in calgen, :data:`AMSTERDAM`. Nothing past this
module handles naive datetimes.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
# The feeds' VTIMEZONE states the EU summer-time rule, which holds from 1996 on.
FIRST_YEAR = 1996
LAST_YEAR = 2099
UTC = dt.UTC

WEEKDAYS_NL = ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag")


class TimeProblem(ValueError):
    """A wall-clock time that cannot be written into a feed reliably."""


def parse_local(text: str) -> dt.datetime:
    """`"2022-03-30 17:00"` -> aware datetime in Europe/Amsterdam.

    Refuses a time that falls in the spring-forward gap (it does not exist) or in the
    autumn fold (it exists twice): calendar clients disagree on both.
    """
    try:
        naive = dt.datetime.strptime(text, "%Y-%m-%d %H:%M")  # noqa: DTZ007 - zone set below
    except ValueError as exc:
        raise TimeProblem(f"'{text}' is not a valid date and time ({exc})") from None
    if not FIRST_YEAR <= naive.year <= LAST_YEAR:
        raise TimeProblem(f"'{text}' is outside the years {FIRST_YEAR}-{LAST_YEAR} calgen plans")
    aware = naive.replace(tzinfo=AMSTERDAM)
    if aware.astimezone(UTC).astimezone(AMSTERDAM).replace(tzinfo=None) != naive:
        raise TimeProblem(
            f"'{text}' does not exist in Europe/Amsterdam: the clocks jump from 02:00 to "
            "03:00 that night (start of summer time)"
        )
    if aware.replace(fold=0).utcoffset() != aware.replace(fold=1).utcoffset():
        raise TimeProblem(
            f"'{text}' exists twice in Europe/Amsterdam: the clocks go back from 03:00 to "
            "02:00 that night (end of summer time); choose a time outside 02:00-03:00"
        )
    return aware


def parse_date(value: str | dt.date) -> dt.date:
    if isinstance(value, dt.datetime):
        raise TimeProblem(f"'{value}' has a time; a date is written YYYY-MM-DD")
    if isinstance(value, dt.date):
        day = value
    else:
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            raise TimeProblem(f"'{value}' is not a valid date (YYYY-MM-DD)") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise TimeProblem(f"'{value}' is outside the years {FIRST_YEAR}-{LAST_YEAR} calgen plans")
    return day


@lru_cache(maxsize=64)
def _dutch_holidays(year: int) -> dict[dt.date, str]:
    # Imported here: `holidays` is large and only the checks that need it pay for it.
    import holidays

    return dict(holidays.country_holidays("NL", years=year, language="nl").items())


def holiday_name(day: dt.date) -> str | None:
    """The Dutch name of the public holiday on `day`, from the `holidays` package."""
    return _dutch_holidays(day.year).get(day)


def non_working_reason(day: dt.date) -> str | None:
    """Why `day` is not a working day ('zondag', 'Tweede paasdag', ...), or None."""
    name = holiday_name(day)
    if name:
        return name
    if day.weekday() >= 5:
        return WEEKDAYS_NL[day.weekday()]
    return None
