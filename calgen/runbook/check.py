"""The structural check: a loaded document walked against the JSON Schema of
:mod:`calgen.runbook.schema`.

`check` implements exactly the keywords in :data:`KEYWORDS` (the subset of JSON Schema
used there; `tests/test_schema.py` fails on any other, and runs `check` and `jsonschema`
over every test file and runbook expecting the same accept or refuse), and words its
messages for planners, with a did-you-mean for misspelt keys. One deliberate difference:
a `pattern` must match the whole text, as in editors (ECMA-262, where `$` is the end);
Python's `jsonschema` lets `$` match before a final line break.
Domain rules (existing roles, order of times, DST) live in `calgen.runbook.validate`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass, replace
from typing import Any

from calgen.core.errors import Diagnostics
from calgen.core.layout import (
    RESERVED_ROLE_IDS,
    RESERVED_RUNBOOK_ENDINGS,
    RESERVED_RUNBOOK_IDS,
    ROLE_ID,
    RUNBOOK_ID,
)
from calgen.core.reminders import OFFICE_HOURS_PATTERN
from calgen.runbook.load import Document, PathKey, format_path
from calgen.runbook.schema import (
    BOUNDED_LEAD,
    DATE,
    ID,
    LOCAL_TIME,
    MESSAGE_CODE,
    MILESTONE_ID,
    NONBLANK,
    REFRESH,
    TIME,
    VERSION,
)

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
    _Walk(doc=doc, diags=diags, echo=echo).check(schema, doc.data, ())


def _found_type(schema: dict[str, Any], value: Any) -> str:
    """The value's JSON type; a YAML date counts as text where `format: date` allows it."""
    found = _type_of(value)
    if found == "date" and schema.get("type") == "string" and schema.get("format") == "date":
        return "string"
    return found


@dataclass(frozen=True, kw_only=True, slots=True)
class _Walk:
    """One walk of a document against a schema: where its messages go, and whether they
    may show the values they are about."""

    doc: Document
    diags: Diagnostics
    echo: bool

    def check(self, schema: dict[str, Any], value: Any, path: PathKey) -> None:
        """Report every problem of `value`, found at `path`, against `schema`."""
        if "anyOf" in schema:
            self._check_any_of(schema["anyOf"], value, path)
            return
        expected = schema.get("type")
        if expected and _found_type(schema, value) != expected:
            self._wrong_type(schema, expected, value, path)
        elif "enum" in schema and value not in schema["enum"]:
            self._not_in_enum(schema["enum"], value, path)
        elif expected == "string":
            self._check_text(schema, value, path)
        elif expected == "array":
            self._check_list(schema, value, path)
        elif expected == "object":
            self._check_mapping(schema, value, path)

    def _error(self, path: PathKey, message: str) -> None:
        # where and what path: worked out only on an error
        self.diags.error(self.doc.pos(path), message, format_path(path))

    def _describe(self, value: Any) -> str:
        """The value in a message, or only its kind when values are not to be shown."""
        if self.echo or isinstance(value, dict | list | bool) or value is None:
            return _describe(value)
        kind = _type_of(value)
        return "the text" if kind == "string" else _TYPE_WORDS.get(kind, f"a {kind}")

    def _problems(self, schema: dict[str, Any], value: Any, path: PathKey) -> Diagnostics:
        """The problems `value` would have against `schema`, collected aside."""
        walk = replace(self, diags=Diagnostics())
        walk.check(schema, value, path)
        return walk.diags

    def _check_any_of(self, branches: list[dict[str, Any]], value: Any, path: PathKey) -> None:
        """Valid when one branch is; otherwise the problems of the branch of the value's
        own type are reported, which say most."""
        attempts = [self._problems(branch, value, path) for branch in branches]
        if all(a.errors for a in attempts):
            same_type = [
                a
                for branch, a in zip(branches, attempts, strict=True)
                if branch.get("type") == _type_of(value)
            ]
            self.diags.extend(same_type[0] if same_type else attempts[0])

    def _wrong_type(self, schema: dict[str, Any], expected: str, value: Any, path: PathKey) -> None:
        hint = self._quote_hint(schema, expected, value)
        self._error(path, f"expected {_TYPE_WORDS[expected]}, found {self._describe(value)}{hint}")

    def _quote_hint(self, schema: dict[str, Any], expected: str, value: Any) -> str:
        """How to write a number or date that YAML read where text was meant."""
        if schema.get("pattern") == OFFICE_HOURS_PATTERN and type(value) is int:
            # YAML 1.1 reads an unquoted 18:00 as sexagesimal 1080
            return f"; write it in quotes: '{value // 60:02d}:{value % 60:02d}'"
        quotable = isinstance(value, int | float | dt.date) and not isinstance(value, bool)
        if expected == "string" and quotable and self.echo:
            return f"; write it in quotes: '{value}'"
        return ""

    def _not_in_enum(self, options: list[Any], value: Any, path: PathKey) -> None:
        written = [str(v) for v in options]
        guess = difflib.get_close_matches(str(value), written, n=1)
        suggestion = f" (did you mean '{guess[0]}'?)" if guess and self.echo else ""
        self._error(
            path, f"{self._describe(value)} is not one of: {', '.join(written)}{suggestion}"
        )

    def _check_text(self, schema: dict[str, Any], value: Any, path: PathKey) -> None:
        text = value.isoformat() if isinstance(value, dt.date) else value
        if len(text) < schema.get("minLength", 0):
            need = schema["minLength"]
            self._error(
                path, f"text is shorter than {need} characters" if text else "text is empty"
            )
        elif "pattern" in schema and not re.fullmatch(schema["pattern"], text):
            if schema["pattern"] == NONBLANK:
                self._error(path, "text is empty")
            else:
                self._error(path, f"{self._describe(value)} is not {_pattern_words(schema)}")

    def _check_list(self, schema: dict[str, Any], value: list[Any], path: PathKey) -> None:
        if len(value) < schema.get("minItems", 0):
            self._error(path, "needs at least one entry")
        items = schema.get("items", {})
        for i, item in enumerate(value):
            self.check(items, item, (*path, i))

    def _check_mapping(self, schema: dict[str, Any], value: dict[Any, Any], path: PathKey) -> None:
        props: dict[str, Any] = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                what = f"'{format_path(path)}'" if path else "the file"
                self._error(path, f"{what} is missing required key '{key}'")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in props:
                self.check(props[key], item, (*path, key))
            elif isinstance(extra, dict):
                self.check(extra, item, (*path, key))
            elif extra is False:
                self._unknown_key(props, path, key)

    def _unknown_key(self, props: dict[str, Any], path: PathKey, key: str) -> None:
        """Reported at the key itself, with the closest allowed key as a suggestion."""
        guess = difflib.get_close_matches(key, list(props), n=1, cutoff=0.6)
        suggestion = f"; did you mean '{guess[0]}'?" if guess else ""
        allowed = ", ".join(props)
        self.diags.error(
            self.doc.key_pos((*path, key)),
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
        f"not {' or '.join(RESERVED_RUNBOOK_IDS)} (the durable feeds' folders) and not "
        f"ending in {', '.join(RESERVED_RUNBOOK_ENDINGS)} (calgen's own file names)",
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
