"""The runbook format as JSON Schema, and a structural check driven by it.

The schema is the single description of which keys exist and what type each has: editors
get it through `calgen schema` (and the copy in `runbooks/schema/`), and :func:`check`
walks a loaded document against the same dictionary, so the two cannot drift apart.
`check` understands the subset of JSON Schema used here (type, properties, required,
additionalProperties, items, enum, pattern, minItems, minLength, anyOf, $ref) and
words its messages for planners, with a did-you-mean for misspelt keys.
Domain rules (existing roles, order of times, DST) live in `calgen.model`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from typing import Any

from calgen.errors import Diagnostics
from calgen.load import Document, PathKey, format_path
from calgen.reminders import LEAD_PATTERN

LOCAL_TIME = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$"
# `3 working days before go_live at 17:00`, `2 days after 3.1.2`, `go_live at 12:00`
RELATIVE_TIME = (
    r"^(\d+ (working days?|days?) (before|after) )?(go_live|\d+(\.\d+)+)( at \d{2}:\d{2})?$"
)
TIME = f"{LOCAL_TIME}|{RELATIVE_TIME}"
DATE = r"^\d{4}-\d{2}-\d{2}$"
ID = r"^[a-z0-9][a-z0-9.-]*$"
MILESTONE_ID = r"^\d+(\.\d+)+$"
MESSAGE_CODE = r"^(WMO|JW)?\d{3}$"
ROLE_ID = r"^[a-z][a-z0-9-]*$"
VERSION = r"^\d+(\.\d+)*$"


_leads = {
    "type": "array",
    "items": {"type": "string", "pattern": LEAD_PATTERN},
    "description": "reminder lead times: '1 week', '2 days', '2 hours', '30 minutes', "
    "'1 working day'; an empty list: no reminders",
}


def _text(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


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
    "visit_address": {"type": "array", "items": {"type": "string"}},
    "postal_address": {"type": "array", "items": {"type": "string"}},
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
            "id": {"type": "string", "pattern": ID, "description": "e.g. iwmo-ijw-3.0-3.1"},
            "title": _text("title of the runbook"),
            "standards": {"type": "array", "items": {"type": "string"}},
            "release": _obj({"from": {"type": "string"}, "to": {"type": "string"}}, ["from", "to"]),
            "timezone": {"type": "string", "enum": ["Europe/Amsterdam"]},
            "go_live": _absolute_time,
            "working_days": _obj(
                {
                    "count_as_working": {
                        "type": "array",
                        "items": {"type": "string"},
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
                },
                [],
                "reminders in the feeds (VALARM) and by e-mail (calgen notify)",
            ),
            "uses": {
                "type": "array",
                "items": {"type": "string"},
                "description": "shared files (roles, messages, contacts), relative to this file",
            },
            "date": _date,
            "versions": {
                "type": "array",
                "items": _obj(
                    {
                        "version": {"type": "string", "pattern": VERSION},
                        "date": _date,
                        "note": {"type": "string"},
                    },
                    ["version", "date"],
                ),
            },
            "feed": _obj(
                {
                    "refresh": {
                        "type": "string",
                        "pattern": r"^P(T\d+[HM]|\d+D)$",
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
                        "notes": {"type": "array", "items": {"type": "string"}},
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
        return f"the number {value!r}"
    if isinstance(value, dt.date):
        return f"the date {value.isoformat()}"
    return repr(value)


def check(doc: Document, schema: dict[str, Any], diags: Diagnostics) -> None:
    """Report every structural problem of `doc` against `schema`."""
    _check(doc, schema, doc.data, (), diags)


def _problems(doc: Document, schema: dict[str, Any], value: Any, path: PathKey) -> Diagnostics:
    sub = Diagnostics()
    _check(doc, schema, value, path, sub)
    return sub


def _check(
    doc: Document, schema: dict[str, Any], value: Any, path: PathKey, diags: Diagnostics
) -> None:
    def error(message: str) -> None:  # where and what path: worked out only on an error
        diags.error(doc.pos(path), message, format_path(path))

    if "anyOf" in schema:
        attempts = [_problems(doc, s, value, path) for s in schema["anyOf"]]
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
        if expected == "string" and quotable:
            hint = f"; write it in quotes: '{value}'"
        error(f"expected {_TYPE_WORDS[expected]}, found {_describe(value)}{hint}")
        return
    if "enum" in schema and value not in schema["enum"]:
        options = ", ".join(str(v) for v in schema["enum"])
        guess = difflib.get_close_matches(str(value), [str(v) for v in schema["enum"]], n=1)
        suggestion = f" (did you mean '{guess[0]}'?)" if guess else ""
        error(f"{_describe(value)} is not one of: {options}{suggestion}")
        return
    if expected == "string":
        text = value.isoformat() if isinstance(value, dt.date) else value
        if "pattern" in schema and not re.fullmatch(schema["pattern"], text):
            error(f"{_describe(value)} is not {_pattern_words(schema)}")
        elif not text.strip() and schema.get("pattern") is None:
            error("text is empty")
        return
    if expected == "array":
        if len(value) < schema.get("minItems", 0):
            error("needs at least one entry")
        for i, item in enumerate(value):
            _check(doc, schema.get("items", {}), item, (*path, i), diags)
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
                _check(doc, props[key], item, (*path, key), diags)
            elif isinstance(extra, dict):
                _check(doc, extra, item, (*path, key), diags)
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
        "'3 working days before go_live at 17:00'",
        DATE: "a date written YYYY-MM-DD",
        ID: "an id of lowercase letters, digits, dots and dashes",
        MILESTONE_ID: "a milestone number such as '3.1.2'",
        MESSAGE_CODE: "a message code such as '305' or 'WMO305'",
        ROLE_ID: "a role id of lowercase letters",
        VERSION: "a version number such as '1.0'",
        LEAD_PATTERN: "a lead time such as '1 week', '2 hours' or '1 working day'",
        r"^\d{3}$": "a three-digit message code such as '305'",
    }.get(schema["pattern"], f"in the form {schema['pattern']}")
