"""RFC 5545 content lines: the one writer of every event calgen publishes.

A feed of thousands of milestones in a dozen role feeds spends most of its time in
icalendar's generic component machinery. calgen's events have a fixed set of properties,
so they are written here directly, revised and cancelled events included
(calgen.render.ical.revise): TEXT escaping, icalendar's property order and 75-octet folding
that never splits a UTF-8 character or a backslash escape. calgen does not use
icalendar at run time at all: it is the oracle in tests, where it and the conformance
readers parse what is written here back to the same values (`tests/test_lines.py`). So a
new icalendar release cannot change a published byte.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

LIMIT = 75  # octets; icalendar folds before a line would reach it


def escape(text: str) -> str:
    """TEXT escaping (RFC 5545 3.3.11): backslash first, then `;`, `,` and line breaks.

    A backslash in the text stays a backslash (`C:\\Nieuw` is written `C:\\\\Nieuw`, which
    icalendar, ical.js and libical read back as written). icalendar's own writer first
    turns a literal `\\N` into a line break; calgen does not copy that."""
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def fold(line: str) -> bytes:
    """One content line, folded at 75 octets without splitting a UTF-8 character or a
    backslash escape (as icalendar does), CRLF at the end."""
    data = line.encode("utf-8")
    if len(data) < LIMIT:
        return data + b"\r\n"
    parts = []
    start, size = 0, len(data)
    while size - start >= LIMIT:
        end = start + LIMIT - 1
        while data[end] & 0xC0 == 0x80:  # never inside a character
            end -= 1
        if data[end - 1] in b"\\^" and end - 1 > start:  # keep `\;`, `\n` together
            end -= 1
        parts.append(data[start:end])
        start = end
    parts.append(data[start:])
    return b"\r\n ".join(parts) + b"\r\n"


def local(moment: dt.datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S")


def utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def duration(delta: dt.timedelta) -> str:
    """icalendar's form of a DURATION: `-P7D`, `-PT2H`, `-PT1H30M`."""
    sign = "-" if delta < dt.timedelta(0) else ""
    delta = abs(delta)
    hours, rest = divmod(delta.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}P"
    if delta.days:
        text += f"{delta.days}D"
    if hours or minutes or seconds:
        text += "T"
        text += f"{hours}H" if hours else ""
        text += f"{minutes}M" if minutes else ""
        text += f"{seconds}S" if seconds else ""
    return text if text not in ("P", "-P") else "P0D"


def component(
    name: str, properties: Iterable[tuple[str, str]], inner: Sequence[bytes] = ()
) -> bytes:
    """`BEGIN:name`, the properties as given (name with parameters, value), the nested
    components, `END:name`."""
    out = [b"BEGIN:" + name.encode() + b"\r\n"]
    out += [fold(f"{key}:{value}") for key, value in properties]
    out += inner
    out.append(b"END:" + name.encode() + b"\r\n")
    return b"".join(out)
