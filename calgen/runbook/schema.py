"""The runbook format as JSON Schema: the contract.

The schema is the single description of which keys exist and what type each has: editors
get it through `calgen schema` (and the copy in `runbooks/schema/`), and
:func:`calgen.runbook.check.check` walks a loaded document against the same dictionary, so the
two cannot drift apart. The patterns are named here so that the check can word its
messages for each.
Domain rules (existing roles, order of times, DST) live in `calgen.runbook.validate`.
"""

from __future__ import annotations

from typing import Any

from calgen.core.layout import ROLE_ID, RUNBOOK_ID
from calgen.core.reminders import LEAD_PATTERN, OFFICE_HOURS_PATTERN
from calgen.core.schedule import RELATIVE_PATTERN

LOCAL_TIME = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$"
# Every number in a runbook is bounded by its pattern: calgen plans the years 1996-2099,
# so no count of days or lead time needs more than four digits, no milestone number more
# than eight parts of four digits.
MAX_COUNT_DIGITS = 4
_PART = r"\d{1,4}"
MILESTONE_ID = rf"^{_PART}(\.{_PART}){{1,7}}$"
# `3 working days before go_live at 17:00`, `2 days after 3.1.2`, `go_live at 12:00`
RELATIVE_TIME = RELATIVE_PATTERN  # the rule calgen.core.schedule parses with (bounded there)
TIME = f"{LOCAL_TIME}|{RELATIVE_TIME}"
DATE = r"^\d{4}-\d{2}-\d{2}$"
# Ids become folder and file names and URL parts: a safe set, bounded in length; runbook
# and role ids never a name calgen itself writes (RUNBOOK_ID, ROLE_ID: calgen.core.layout).
ID = r"^[a-z0-9][a-z0-9.-]{0,63}$"
MESSAGE_CODE = r"^(WMO|JW)?\d{3}$"
NONBLANK = r"^\s*\S[\s\S]*$"  # free text: something besides spaces and line breaks
VERSION = r"^\d{1,6}(\.\d{1,6}){0,5}$"
REFRESH = r"^P(T\d{1,4}[HM]|\d{1,3}D)$"
# A version row's `status`: a concept is for reviewers, a final version (the seeds'
# "Definitief") is a publication record people plan on (calgen.runbook.validate derives
# it from the note when a row has none).
CONCEPT, FINAL = "concept", "definitief"
VERSION_STATUSES = (CONCEPT, FINAL)
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


# how `calgen new-release` (calgen.replan.release) counts an item's distance to go-live
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
                        "status": {
                            "type": "string",
                            "enum": list(VERSION_STATUSES),
                            "description": "'concept' (for reviewers: a preview, out of the "
                            "subscribe-once feeds and e-mail) or 'definitief' (published: a "
                            "record people plan on). Default: 'concept' when the note begins "
                            "with the word Concept, else 'definitief'",
                        },
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
