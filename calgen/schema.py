"""The runbook format as JSON Schema, and a structural check driven by it.

The schema is the single description of which keys exist and what type each has: editors
get it through `calgen schema` (and the copy in `runbooks/schema/`), and :func:`check`
walks a loaded document against the same dictionary, so the two cannot drift apart.
`check` implements exactly the keywords in :data:`KEYWORDS` (the subset of JSON Schema
used here; `tests/test_schema.py` fails on any other, and runs `check` and `jsonschema`
over every test file and runbook expecting the same accept or refuse), and words its
messages for planners, with a did-you-mean for misspelt keys. One deliberate difference:
a `pattern` must match the whole text, as in editors (ECMA-262, where `$` is the end);
Python's `jsonschema` lets `$` match before a final line break.
Domain rules (existing roles, order of times, DST) live in `calgen.model`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from typing import Any

from calgen.errors import Diagnostics
from calgen.load import Document, PathKey, format_path
from calgen.reminders import LEAD_PATTERN, OFFICE_HOURS_PATTERN
from calgen.schedule import RELATIVE_PATTERN

LOCAL_TIME = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$"
# Every number in a runbook is bounded by its pattern: calgen plans the years 1996-2099,
# so no count of days or lead time needs more than four digits, no milestone number more
# than eight parts of four digits.
MAX_COUNT_DIGITS = 4
_PART = r"\d{1,4}"
MILESTONE_ID = rf"^{_PART}(\.{_PART}){{1,7}}$"
# `3 working days before go_live at 17:00`, `2 days after 3.1.2`, `go_live at 12:00`
RELATIVE_TIME = RELATIVE_PATTERN  # the rule calgen.schedule parses with (bounded there)
TIME = f"{LOCAL_TIME}|{RELATIVE_TIME}"
DATE = r"^\d{4}-\d{2}-\d{2}$"
# Ids become folder and file names and URL parts: a safe set, bounded in length, and
# never a name calgen itself writes (index.html beside the runbook folders; all.ics,
# index.html, runbook.md and versies/ inside them).
RESERVED_RUNBOOK_IDS = ("index.html",)
RESERVED_ROLE_IDS = ("all", "index", "runbook", "versies")
ID = r"^[a-z0-9][a-z0-9.-]{0,63}$"
RUNBOOK_ID = r"^(?!(index\.html)$)[a-z0-9][a-z0-9.-]{0,63}$"
MESSAGE_CODE = r"^(WMO|JW)?\d{3}$"
NONBLANK = r"^\s*\S[\s\S]*$"  # free text: something besides spaces and line breaks
ROLE_ID = r"^(?!(all|index|runbook|versies)$)[a-z][a-z0-9-]{0,39}$"
VERSION = r"^\d{1,6}(\.\d{1,6}){0,5}$"
REFRESH = r"^P(T\d{1,4}[HM]|\d{1,3}D)$"
# reminders.LEAD_PATTERN with the count bounded like every other count
BOUNDED_LEAD = LEAD_PATTERN.replace(r"^\d+ ", r"^\d{1,4} ")


_leads = {
    "type": "array",
    "items": {"type": "string", "pattern": BOUNDED_LEAD},
    "description": "reminder lead times: '1 week', '2 days', '2 hours', '30 minutes', "
    "'1 working day'; an empty list: no reminders",
}


_clock = {
    "type": "string",
    "pattern": OFFICE_HOURS_PATTERN,
    "description": "Europe/Amsterdam wall-clock time HH:MM (quoted)",
}
_office_hours = {
    "description": "when reminders may go off: on working days from `start` to `end` "
    "(default 08:00-18:00); a moment outside moves earlier into them; 'off': never moved",
    "anyOf": [
        {"type": "string", "enum": ["off"]},
        {"type": "boolean", "enum": [False]},
        {
            "type": "object",
            "properties": {"start": _clock, "end": _clock},
            "required": ["start", "end"],
            "additionalProperties": False,
        },
    ],
}


# how `calgen new-release` (calgen.release) counts an item's distance to go-live
DISTANCES = ("working days", "calendar days")  # the first is the default
_distance = {
    "type": "string",
    "enum": list(DISTANCES),
    "description": "how `calgen new-release` keeps this item's distance to go-live: "
    "'working days' (the default) or 'calendar days' (say, four weeks of aftercare)",
}


def _text(description: str) -> dict[str, Any]:
    return {"type": "string", "pattern": NONBLANK, "description": description}


_TEXT = {"type": "string", "pattern": NONBLANK}


def _obj(props: dict[str, Any], required: list[str], description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
    }
    if description:
        schema = {"description": description, **schema}
    return schema


_absolute_time = {
    "type": "string",
    "pattern": LOCAL_TIME,
    "description": "Europe/Amsterdam wall-clock time, written YYYY-MM-DD HH:MM (quoted)",
}
_local_time = {
    "type": "string",
    "pattern": TIME,
    "description": "Europe/Amsterdam wall-clock time 'YYYY-MM-DD HH:MM', or relative: "
    "'3 working days before go_live at 17:00', '2 days after 3.1.2', 'go_live at 12:00'",
}
_date = {"type": "string", "format": "date", "pattern": DATE, "description": "YYYY-MM-DD"}
_role_list = {
    "type": "array",
    "items": {"type": "string", "pattern": ROLE_ID},
    "description": "role ids, e.g. gemeenten, zorgaanbieders, vecozo, inlichtingenbureau",
}
_inform = {
    "description": "roles whose feeds also carry these events: 'all' or a list of role ids",
    "anyOf": [{"type": "string", "enum": ["all"]}, _role_list],
}
_contact_refs = {
    "type": "array",
    "items": {"type": "string", "pattern": ID},
    "description": "contact ids, rendered after the text",
}
_block = _obj(
    {
        "title": _text("heading (optional)"),
        "text": _text("Markdown text"),
        "contacts": _contact_refs,
    },
    [],
)
_numbered = _obj(
    {
        "number": {"type": "string", "pattern": MILESTONE_ID},
        "title": _text("heading"),
        "text": _text("Markdown text"),
    },
    ["number", "title", "text"],
)
_contact_fields: dict[str, Any] = {
    "organisation": _text("organisation, e.g. Zorginstituut Nederland"),
    "name": _text("desk or department, e.g. ServiceDesk Inlichtingenbureau"),
    "team": _text("team"),
    "phone": _text("telephone number as written"),
    "email": _text("e-mail address"),
    "web": _text("web address"),
    "visit_address": {"type": "array", "items": _TEXT},
    "postal_address": {"type": "array", "items": _TEXT},
    "channels": {
        "type": "array",
        "items": _obj(
            {"audience": _text("for whom"), "email": _text("address"), "note": _text("note")},
            ["email"],
        ),
    },
}

RUNBOOK_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://calgen.invalid/schema/runbook.schema.json",
    "title": "calgen runbook (Landelijk draaiboek migratie)",
    **_obj(
        {
            "id": {"type": "string", "pattern": RUNBOOK_ID, "description": "e.g. iwmo-ijw-3.0-3.1"},
            "title": _text("title of the runbook"),
            "standards": {"type": "array", "items": _TEXT},
            "release": _obj({"from": _TEXT, "to": _TEXT}, ["from", "to"]),
            "timezone": {"type": "string", "enum": ["Europe/Amsterdam"]},
            "go_live": _absolute_time,
            "working_days": _obj(
                {
                    "count_as_working": {
                        "type": "array",
                        "items": _TEXT,
                        "description": "Dutch holiday names that are working days here, "
                        "as `calgen holidays` prints them (e.g. Bevrijdingsdag)",
                    },
                    "closures": {
                        "type": "array",
                        "items": _obj(
                            {"date": _date, "reason": _text("why, in Dutch")}, ["date", "reason"]
                        ),
                        "description": "extra non-working days",
                    },
                },
                [],
                "which days count as working days (default: Monday-Friday, not Dutch holidays)",
            ),
            "reminders": _obj(
                {
                    "default": _leads,
                    "roles": {
                        "type": "object",
                        "additionalProperties": _leads,
                        "description": "lead times per role id",
                    },
                    "kinds": _obj(
                        {"deadline": _leads, "period": _leads, "phase": _leads, "event": _leads},
                        [],
                        "lead times per kind of event",
                    ),
                    "office_hours": _office_hours,
                },
                [],
                "reminders in the feeds (VALARM) and by e-mail (calgen notify)",
            ),
            "uses": {
                "type": "array",
                "items": _TEXT,
                "description": "shared files (roles, messages, contacts), relative to this file",
            },
            "date": _date,
            "versions": {
                "type": "array",
                "items": _obj(
                    {
                        "version": {"type": "string", "pattern": VERSION},
                        "date": _date,
                        "note": _TEXT,
                    },
                    ["version", "date"],
                ),
            },
            "feed": _obj(
                {
                    "refresh": {
                        "type": "string",
                        "pattern": REFRESH,
                        "description": "how often clients should poll, e.g. PT12H (default)",
                    }
                },
                [],
            ),
            "introduction": {"type": "array", "items": _block},
            "goal": _obj(
                {"text": _text("Markdown"), "sections": {"type": "array", "items": _numbered}},
                [],
            ),
            "principles": {"type": "array", "items": _numbered},
            "phases": {
                "type": "array",
                "minItems": 1,
                "items": _obj(
                    {
                        "id": {
                            "type": "string",
                            "enum": ["afsluiting", "transitie", "ingebruikname"],
                        },
                        "title": _text("e.g. afsluiting"),
                        "start": _local_time,
                        "end": _local_time,
                        "summary": _text("the paragraph in 1.1"),
                        "text": _text("the phase chapter's introduction"),
                        "distance": _distance,
                        "end_note": _text(
                            "when the runbook gives no end date: how `end` was derived "
                            "(shown on the page and in the feeds)"
                        ),
                    },
                    ["id", "title", "start", "end"],
                ),
            },
            "sections": {
                "type": "array",
                "items": _obj(
                    {
                        "number": {"type": "string", "pattern": MILESTONE_ID},
                        "phase": {
                            "type": "string",
                            "enum": ["afsluiting", "transitie", "ingebruikname"],
                        },
                        "title": _text("heading"),
                        "text": _text("Markdown text"),
                        "inform": _inform,
                        "contacts": _contact_refs,
                    },
                    ["number", "phase"],
                ),
            },
            "milestones": {
                "type": "array",
                "items": _obj(
                    {
                        "id": {
                            "type": "string",
                            "pattern": MILESTONE_ID,
                            "description": "the runbook's number, e.g. '3.1.2'",
                        },
                        "title": _text("short title for calendars; codes are appended"),
                        "description": _text("the table's bullet, verbatim"),
                        "notes": {"type": "array", "items": _TEXT},
                        "at": _local_time,
                        "start": _local_time,
                        "end": _local_time,
                        "time_label": _text("time column text when it says more than the time"),
                        "roles": {**_role_list, "minItems": 1},
                        "actionholder": _text("Actiehouder column text, when not the role names"),
                        "inform": _inform,
                        "messages": {
                            "type": "array",
                            "items": {"type": "string", "pattern": MESSAGE_CODE},
                            "description": "message codes as strings, e.g. '305' or 'WMO305'",
                        },
                        "reminders": _leads,
                        "distance": _distance,
                    },
                    ["id", "title", "roles"],
                ),
            },
            "events": {
                "type": "array",
                "items": _obj(
                    {
                        "id": {"type": "string", "pattern": ID},
                        "title": _text("title"),
                        "text": _text("Markdown text"),
                        "date": _date,
                        "at": _local_time,
                        "start": _local_time,
                        "end": _local_time,
                        "roles": {**_role_list, "minItems": 1},
                        "reminders": _leads,
                        "distance": _distance,
                    },
                    ["id", "title", "roles"],
                ),
            },
            "contacts": {
                "type": "array",
                "items": {
                    "anyOf": [
                        {"type": "string", "pattern": ID},
                        _obj(
                            {"ref": {"type": "string", "pattern": ID}, **_contact_fields}, ["ref"]
                        ),
                    ]
                },
            },
        },
        ["id", "title", "timezone", "go_live", "phases", "milestones"],
    ),
}

SHARED_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://calgen.invalid/schema/shared.schema.json",
    "title": "calgen shared runbook data (roles, messages, contacts)",
    **_obj(
        {
            "roles": {
                "type": "array",
                "items": _obj(
                    {
                        "id": {"type": "string", "pattern": ROLE_ID},
                        "name": _text("Dutch name, e.g. Gemeenten"),
                        "description": _text("who they are"),
                    },
                    ["id", "name"],
                ),
            },
            "messages": {
                "type": "array",
                "items": _obj(
                    {
                        "code": {"type": "string", "pattern": r"^\d{3}$"},
                        "name": _text("e.g. Toewijzing"),
                        "kind": {"type": "string", "enum": ["heen", "retour", "antwoord"]},
                        "sender": {"type": "string", "pattern": ROLE_ID},
                    },
                    ["code", "name"],
                ),
            },
            "contacts": {
                "type": "array",
                "items": _obj(
                    {"id": {"type": "string", "pattern": ID}, **_contact_fields},
                    ["id", "organisation"],
                ),
            },
        },
        [],
    ),
}

# Every keyword `check` implements (the annotations title, description and $schema are
# read by editors only; `format: date` lets YAML's own dates stand for date strings).
KEYWORDS = frozenset(
    {
        "type", "properties", "required", "additionalProperties", "items", "enum",
        "pattern", "minItems", "minLength", "anyOf", "format",
        "title", "description", "$schema", "$id",
    }
)  # fmt: skip

_TYPE_WORDS = {
    "object": "a mapping of keys",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "boolean": "true or false",
}


def _type_of(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, dt.date):
        return "date"  # YAML reads 2022-03-30 as a date: only a `format: date` takes it
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return type(value).__name__


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a true/false value"
    if isinstance(value, int | float):
        if isinstance(value, int) and abs(value) >= 10**40:
            return "a number of more than 40 digits"  # (repr refuses beyond 4300 digits)
        return f"the number {value!r}"
    if isinstance(value, dt.date):
        return f"the date {value.isoformat()}"
    shown = repr(value)
    return shown if len(shown) <= 80 else f"{shown[:60]}…' ({len(str(value))} characters)"


def check(doc: Document, schema: dict[str, Any], diags: Diagnostics, *, echo: bool = True) -> None:
    """Report every structural problem of `doc` against `schema`.

    `echo=False` (shared files): messages name the offending key and the kind of value,
    never the value itself, so a file that is not what it should be is not shown."""
    _check(doc, schema, doc.data, (), diags, echo)


def _problems(
    doc: Document, schema: dict[str, Any], value: Any, path: PathKey, echo: bool
) -> Diagnostics:
    sub = Diagnostics()
    _check(doc, schema, value, path, sub, echo)
    return sub


def _check(
    doc: Document,
    schema: dict[str, Any],
    value: Any,
    path: PathKey,
    diags: Diagnostics,
    echo: bool = True,
) -> None:
    def error(message: str) -> None:  # where and what path: worked out only on an error
        diags.error(doc.pos(path), message, format_path(path))

    def describe(value: Any) -> str:
        if echo or isinstance(value, dict | list | bool) or value is None:
            return _describe(value)
        kind = _type_of(value)
        return "the text" if kind == "string" else _TYPE_WORDS.get(kind, f"a {kind}")

    if "anyOf" in schema:
        attempts = [_problems(doc, s, value, path, echo) for s in schema["anyOf"]]
        if all(a.errors for a in attempts):
            # report the branch of the value's own type, which says most
            same_type = [
                a
                for s, a in zip(schema["anyOf"], attempts, strict=True)
                if s.get("type") == _type_of(value)
            ]
            diags.extend(same_type[0] if same_type else attempts[0])
        return
    expected = schema.get("type")
    found = _type_of(value)
    if found == "date" and expected == "string" and schema.get("format") == "date":
        found = "string"
    if expected and found != expected:
        hint = ""
        quotable = isinstance(value, int | float | dt.date) and not isinstance(value, bool)
        if expected == "string" and quotable and echo:
            hint = f"; write it in quotes: '{value}'"
        if schema.get("pattern") == OFFICE_HOURS_PATTERN and type(value) is int:
            # YAML 1.1 reads an unquoted 18:00 as sexagesimal 1080
            hint = f"; write it in quotes: '{value // 60:02d}:{value % 60:02d}'"
        error(f"expected {_TYPE_WORDS[expected]}, found {describe(value)}{hint}")
        return
    if "enum" in schema and value not in schema["enum"]:
        options = ", ".join(str(v) for v in schema["enum"])
        guess = difflib.get_close_matches(str(value), [str(v) for v in schema["enum"]], n=1)
        suggestion = f" (did you mean '{guess[0]}'?)" if guess and echo else ""
        error(f"{describe(value)} is not one of: {options}{suggestion}")
        return
    if expected == "string":
        text = value.isoformat() if isinstance(value, dt.date) else value
        if len(text) < schema.get("minLength", 0):
            need = schema["minLength"]
            error("text is empty" if not text else f"text is shorter than {need} characters")
        elif "pattern" in schema and not re.fullmatch(schema["pattern"], text):
            if schema["pattern"] == NONBLANK:
                error("text is empty")
            else:
                error(f"{describe(value)} is not {_pattern_words(schema)}")
        return
    if expected == "array":
        if len(value) < schema.get("minItems", 0):
            error("needs at least one entry")
        for i, item in enumerate(value):
            _check(doc, schema.get("items", {}), item, (*path, i), diags, echo)
        return
    if expected == "object":
        props: dict[str, Any] = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                what = f"'{format_path(path)}'" if path else "the file"
                error(f"{what} is missing required key '{key}'")
        for key, item in value.items():
            extra = schema.get("additionalProperties")
            if key in props:
                _check(doc, props[key], item, (*path, key), diags, echo)
            elif isinstance(extra, dict):
                _check(doc, extra, item, (*path, key), diags, echo)
            elif extra is False:
                guess = difflib.get_close_matches(key, list(props), n=1, cutoff=0.6)
                suggestion = f"; did you mean '{guess[0]}'?" if guess else ""
                allowed = ", ".join(props)
                diags.error(
                    doc.key_pos((*path, key)),
                    f"unknown key '{key}'{suggestion} (allowed here: {allowed})",
                    format_path((*path, key)),
                )


def _pattern_words(schema: dict[str, Any]) -> str:
    return {
        LOCAL_TIME: "a local time written YYYY-MM-DD HH:MM",
        TIME: "a local time written YYYY-MM-DD HH:MM, or a relative time such as "
        "'3 working days before go_live at 17:00' (at most 9999 days, milestone numbers "
        "of at most 8 parts of 4 digits)",
        DATE: "a date written YYYY-MM-DD",
        ID: "an id of lowercase letters, digits, dots and dashes (at most 64)",
        RUNBOOK_ID: "a runbook id of lowercase letters, digits, dots and dashes (at most 64), "
        "and not " + ", ".join(RESERVED_RUNBOOK_IDS),
        MILESTONE_ID: "a milestone number such as '3.1.2' (at most 8 parts of 4 digits)",
        MESSAGE_CODE: "a message code such as '305' or 'WMO305'",
        ROLE_ID: "a role id of lowercase letters, digits and dashes (at most 40), and not "
        + ", ".join(RESERVED_ROLE_IDS)
        + " (calgen's own file names)",
        VERSION: "a version number such as '1.0' (at most 6 parts of 6 digits)",
        REFRESH: "a refresh interval such as PT12H or P1D (at most PT9999H, PT9999M or P999D)",
        BOUNDED_LEAD: "a lead time such as '1 week', '2 hours' or '1 working day' (at most 9999)",
        OFFICE_HOURS_PATTERN: "a time of day written HH:MM, such as '08:00'",
        r"^\d{3}$": "a three-digit message code such as '305'",
    }.get(schema["pattern"], f"in the form {schema['pattern']}")
