"""Never a traceback: mutated seed runbooks and hostile YAML end in exit 0 or 1.

A property-based suite (hypothesis) mutates the two seed runbooks, at the data level
(deleted and renamed keys, values of the wrong type, impossible dates, times in the DST gap
or fold, relative times, duplicate milestone ids, huge and odd text) and at the text level
(duplicate key lines, anchors, aliases and merge keys, tabs, truncation, stray characters,
invalid UTF-8), and runs `calgen validate` and `calgen build` in-process on each case. Every
run must return 0 or 1 and, on 1, say what is wrong as `file:line:col: message`; a build
that returns 0 must have written the feeds.

The limit tests run calgen in a subprocess (a guard of 60 s, never a timed assertion): an
alias bomb, deep nesting and a 50 MB file are refused with exit 1, a message naming the
file, no traceback, and a bounded peak memory.

CI runs a fixed, derandomized set of cases; `CALGEN_FUZZ_EXAMPLES=5000 pytest
tests/test_fuzz.py` runs more of them locally.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import difflib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, currently_in_test_context, given, note, settings
from hypothesis import strategies as st

from calgen.cli import main
from calgen.schema import RUNBOOK_SCHEMA

ROOT = Path(__file__).resolve().parent.parent
RUNBOOKS = ROOT / "runbooks"
SEEDS = ("iwmo-2.1-2.2.yaml", "iwmo-ijw-3.0-3.1.yaml")
SEED_TEXT = {seed: (RUNBOOKS / seed).read_text(encoding="utf-8") for seed in SEEDS}
SEED_DATA = {seed: yaml.safe_load(text) for seed, text in SEED_TEXT.items()}
ROLES = tuple(
    r["id"] for r in yaml.safe_load((RUNBOOKS / "shared" / "roles.yaml").read_text())["roles"]
)
FEEDS = ("all", *ROLES)

# Examples per property: the default keeps this file well under two minutes; set
# CALGEN_FUZZ_EXAMPLES for a longer local run, and CALGEN_FUZZ_SHRINK=1 to have Hypothesis
# shrink a failure (each step runs calgen twice: minutes). Without shrinking, a failure is
# reported as generated, with the list of mutations that made it.
EXAMPLES = int(os.environ.get("CALGEN_FUZZ_EXAMPLES", "750"))
SHRINK = os.environ.get("CALGEN_FUZZ_SHRINK", "") not in ("", "0")
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # a build takes ~0.1 s; timing is not what is tested here
    derandomize=True,  # the same cases on every run and every machine
    database=None,
    print_blob=False,
    phases=[Phase.explicit, Phase.generate, *([Phase.shrink] if SHRINK else [])],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

DIAGNOSTIC = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+): \S")
# What the names of built files and folders look like (runbook ids, roles, versions).
SAFE_NAME = re.compile(r"[a-z0-9][a-z0-9.-]*\Z")
# Lines calgen prints that are not diagnostics about a place in a file.
SUMMARY = re.compile(
    r"^(build stopped: nothing was written"
    r"|\d+ runbook\(s\) valid"
    r"|built \d+ runbook\(s\): \d+ of \d+ file\(s\) changed in .*)$"
)

# --------------------------------------------------------------------------- values

ODD_TEXT = (
    "",
    " ",
    "\t",
    "tab\tin\ttext",
    "cr\rlf\nboth\r\n",
    "line one\nline two\n\n",
    "a;b,c\\d",
    "BEGIN:VEVENT\r\nUID:evil\r\nEND:VEVENT",
    "END:VCALENDAR",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "| a | b |\n|---|---|",
    "a|b|c",
    "{{ 7 * 7 }} {% raw %}",
    "*geen* _nadruk_ `code` [link](javascript:alert(1))",
    "# kop\n- lijst",
    "\u202eRTL override\u202c",
    "שלום עולם",
    "مرحبا",
    "zero\u200bwidth\u200c\u200d\u2060joiners",
    "\ufeffbom",
    "👩\u200d👩\u200d👧\u200d👦 🇳🇱 🏳️\u200d🌈",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛",
    "e\u0301\u0301\u0301 Z\u0351\u0352\u0353\u0354",
    "\x01\x02\x07\x08\x0b\x0c\x1b[31m\x7f",
    "\u0085next line\u2028line sep\u2029para",
    "ǅ ß ﬁ İ",
    "null",
    "~",
    "yes",
    "NO",
    "0x1F",
    "1e400",
    ".inf",
    "-.nan",
    "---",
    "...",
    "&anchor",
    "*alias",
    "!!python/object/apply:os.system ['true']",
    "%YAML 1.1",
    "@",
    "`",
    "' \" '",
    "x" * 1000,
)

TIMES = (
    "2022-02-30 10:00",
    "2022-02-29 10:00",
    "2022-13-01 10:00",
    "2022-00-10 10:00",
    "2022-04-31 10:00",
    "2022-04-04 24:00",
    "2022-04-04 23:60",
    "2022-04-04 1:00",
    "2022-04-04T13:00",
    "2022-04-04 13:00:00",
    "2022-04-04 13:00 ",
    " 2022-04-04 13:00",
    "2022-04-04  13:00",
    "2022-04-04",
    "13:00",
    "2022-03-27 02:30",
    "2022-03-27 02:00",
    "2022-03-27 03:00",
    "2022-10-30 02:30",
    "2022-10-30 02:00",
    "2022-10-30 03:00",
    "2018-03-25 02:30",
    "2018-10-28 02:59",
    "1995-12-31 23:59",
    "1996-01-01 00:00",
    "2099-12-31 23:59",
    "2100-01-01 00:00",
    "0001-01-01 00:00",
    "9999-12-31 23:59",
    "２０２２-０４-０４ １３:００",  # full-width digits
    "٢٠٢٢-٠٤-٠٤ ١٣:٠٠",  # Arabic-Indic digits
)

RELATIVE = (
    "go_live",
    "go_live at 12:00",
    "go_live at 02:30",
    "go_live at 25:00",
    "go_live at 24:00",
    "3 working days before go_live at 17:00",
    "1 working day after go_live",
    "0 days after go_live",
    "2 days after go_live at 09:30",
    "1 working day after 3.1.2",
    "3.1.4 at 14:00",
    "1 day after 9.9.9",
    "1 day after 3.1",
    "99999 working days before go_live",
    "3000000 working days after go_live",
    "99999999 days after go_live",
    "1000000000000000000000 days before go_live",
    "1 days after go_live",
    "1 working days after go_live",
    "3 werkdagen voor go_live",
    "go-live at 12:00",
    "GO_LIVE",
)

MILESTONE_IDS = sorted(
    {m["id"] for data in SEED_DATA.values() for m in data["milestones"]} | {"9.9.9", "1.1"}
)

# naive: times are written as wall-clock text
WALL_CLOCK_RANGE = (dt.datetime(1990, 1, 1), dt.datetime(2110, 1, 1))  # noqa: DTZ001
relative_times = st.one_of(
    st.sampled_from(RELATIVE),
    st.builds(
        "{} {} {} {}{}".format,
        st.integers(min_value=0, max_value=10**25),
        st.sampled_from(["day", "days", "working day", "working days"]),
        st.sampled_from(["before", "after"]),
        st.sampled_from(["go_live", *MILESTONE_IDS]),
        st.sampled_from(["", " at 00:00", " at 02:30", " at 13:00", " at 23:59", " at 99:99"]),
    ),
)
time_strings = st.one_of(
    st.sampled_from(TIMES),
    st.builds(
        "{:04d}-{:02d}-{:02d} {:02d}:{:02d}".format,
        st.integers(1990, 2105),
        st.integers(0, 13),
        st.integers(0, 32),
        st.integers(0, 25),
        st.integers(0, 61),
    ),
    st.datetimes(*WALL_CLOCK_RANGE).map(lambda d: d.strftime("%Y-%m-%d %H:%M")),
    relative_times,
)
date_values = st.one_of(
    st.dates(),  # a YAML date, any year from 1 to 9999
    st.sampled_from(["2022-02-30", "2021-02-29", "2022-13-01", "2022-1-1", "20220101", "2022-04"]),
    st.datetimes(),  # a YAML timestamp: a date with a time
)
# Text without surrogates (YAML cannot carry them) and without NUL.
odd_text = st.one_of(
    st.sampled_from(ODD_TEXT),
    st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        max_size=30,
    ),
)
huge_text = st.builds(
    lambda unit, n: unit * n,
    st.sampled_from(["x", "é", "😀", "a\t", "<b>", "BEGIN:VEVENT\r\n", "\u200b", "regel\n"]),
    st.integers(min_value=10_000, max_value=200_000),
)
scalars = st.one_of(
    st.integers(),
    st.sampled_from([0, -1, 1, 305, 2022, 10**30, -(10**30)]),
    st.floats(),
    st.booleans(),
    st.none(),
    date_values,
    odd_text,
    time_strings,
    st.sampled_from(["3.1.2", "301", "WMO301", "gemeenten", "all", "1 week", "PT12H"]),
)
keys = st.one_of(
    odd_text,
    st.integers(),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
    st.dates(),
)
values = st.one_of(
    scalars,
    huge_text,
    st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=8,
    ),
)


def _schema_keys(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for key, sub in schema.items():
            if key == "properties" and isinstance(sub, dict):
                yield from sub
            yield from _schema_keys(sub)
    elif isinstance(schema, list):
        for sub in schema:
            yield from _schema_keys(sub)


KNOWN_KEYS = sorted(set(_schema_keys(RUNBOOK_SCHEMA)))
TIME_KEYS = ("at", "start", "end", "go_live")
INTERESTING = (*TIME_KEYS, "date", "id", "roles", "messages", "uses", "phases", "phase")
INTERESTING += ("number", "inform", "contacts", "versions", "reminders", "working_days")
INTERESTING += ("milestones", "sections", "events", "timezone", "feed", "refresh")

# Optional parts the seeds leave out, in valid and broken forms.
EXTRAS = {
    "reminders": st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "default": st.lists(
                    st.sampled_from(["1 week", "2 days", "2 hours", "30 minutes", "1 working day"])
                    | st.builds(
                        "{} {}".format,
                        st.integers(0, 10**20),
                        st.sampled_from(["weeks", "days", "hours", "minutes", "working days"]),
                    ),
                    max_size=3,
                ),
                "roles": st.dictionaries(
                    st.sampled_from([*ROLES, "gemeente", "nobody"]),
                    st.lists(st.sampled_from(["2 hours", "1 working day", "0 minutes"])),
                    max_size=2,
                ),
                "kinds": st.dictionaries(
                    st.sampled_from(["deadline", "period", "phase", "event", "milestone"]),
                    st.lists(st.sampled_from(["1 week", "100000 weeks", "2 working days"])),
                    max_size=2,
                ),
            },
        ),
        values,
    ),
    "working_days": st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "count_as_working": st.lists(
                    st.sampled_from(["Goede vrijdag", "Tweede paasdag", "Koningsdag", "Kerst"]),
                    max_size=3,
                ),
                "closures": st.lists(
                    st.fixed_dictionaries(
                        {"date": date_values | st.dates(dt.date(2018, 3, 1), dt.date(2022, 5, 1))},
                        optional={"reason": odd_text},
                    ),
                    max_size=3,
                ),
            },
        ),
        values,
    ),
    "feed": st.one_of(
        st.fixed_dictionaries({"refresh": st.sampled_from(["PT1H", "P1D", "PT0M", "P99999999D"])}),
        values,
    ),
    "events": st.lists(
        st.fixed_dictionaries(
            {"id": st.sampled_from(["e", "kto", "E!"]), "title": odd_text},
            optional={
                "roles": st.lists(st.sampled_from([*ROLES, "niemand"]), max_size=3),
                "date": date_values,
                "at": time_strings,
                "start": time_strings,
                "end": time_strings,
                "reminders": st.lists(st.sampled_from(["1 week", "99999999 weeks"])),
            },
        ),
        max_size=3,
    ),
}

# --------------------------------------------------------------------------- data mutations

PathKey = tuple[Any, ...]


def _paths(node: Any, prefix: PathKey = ()) -> Iterator[PathKey]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


def _get(data: Any, path: PathKey) -> Any:
    for part in path:
        data = data[part]
    return data


def _near_miss(key: str, choice: int) -> str:
    """A key as a planner might mistype it."""
    if not key:
        return "_"
    swapped = key[1] + key[0] + key[2:] if len(key) > 1 else key + key
    variants = (
        key.upper(),
        key.title(),
        key + "s",
        key[:-1] or key + "_",
        swapped,
        key.replace("_", "-") if "_" in key else key + "-x",
        key.replace("_", " ") if "_" in key else " " + key,
        key + " ",
        key + "\t",
        key.replace("a", "\u0430", 1) if "a" in key else key + "\u200b",  # Cyrillic a
        f"'{key}'",
        key + ":",
    )
    return variants[choice % len(variants)]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else f"{text[:100]}... ({len(text)} characters)"


def _where(path: PathKey) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path) or "(root)"


class Case:
    """A mutated seed: what calgen reads, and the steps that made it. Hypothesis prints
    this short form (seed, size, steps), not the whole file."""

    def __init__(self, seed: str, content: bytes = b"", steps: list[str] | None = None) -> None:
        self.seed = seed
        self.content = content
        self.steps = steps if steps is not None else []

    def __repr__(self) -> str:
        steps = "".join(f"\n    {step}" for step in self.steps)
        return f"Case({self.seed}, {len(self.content):,} bytes:{steps})"


def _perturb(value: Any, choice: int) -> str:
    """A value as it might arrive from a copy and paste: invisible differences."""
    text = value if isinstance(value, str) else str(value)
    variants = (
        text + "\n",
        text + "\r\n",
        text + " ",
        " " + text,
        text + "\t",
        text.replace(" ", "\t"),
        text.replace(" ", "\u00a0"),
        text + "\u200b",
        "\ufeff" + text,
        text.replace("-", "\u2011"),
        text.replace(".", "\u2024"),
        text.upper(),
    )
    return variants[choice % len(variants)]


@st.composite
def data_mutation(draw: st.DrawFn, data: Any, steps: list[str]) -> Any:
    """Apply one mutation to `data` (changed in place where possible); return the result."""
    paths = list(_paths(data))
    interesting = [p for p in paths if p and p[-1] in INTERESTING]
    if interesting and draw(st.booleans()):
        path = draw(st.sampled_from(interesting))
    else:
        path = draw(st.sampled_from(paths))
    kind = draw(
        st.sampled_from(
            [
                "delete",
                "rename",
                "replace",
                "time",
                "date",
                "add",
                "extra",
                "duplicate-id",
                "duplicate-item",
                "swap",
                "relative",
                "perturb",
            ]
        )
    )
    if not path and kind in ("delete", "rename", "replace"):
        new_root = draw(values)
        steps.append(f"replace the whole document with {_short(new_root)}")
        return new_root
    parent = _get(data, path[:-1]) if path else None
    last = path[-1] if path else None

    def put(where: PathKey, value: Any) -> None:
        _get(data, where[:-1])[where[-1]] = value
        steps.append(f"set {_where(where)} to {_short(value)}")

    if kind == "delete":
        del parent[last]
        steps.append(f"delete {_where(path)}")
    elif kind == "rename" and isinstance(last, str):
        new = _near_miss(last, draw(st.integers(0, 50)))
        items = [(new if k == last else k, v) for k, v in parent.items()]
        parent.clear()
        parent.update(items)
        steps.append(f"rename {_where(path)} to {new!r}")
    elif kind in ("time", "date") and (
        targets := [p for p in paths if p and p[-1] in (TIME_KEYS if kind == "time" else ("date",))]
    ):
        put(draw(st.sampled_from(targets)), draw(time_strings if kind == "time" else date_values))
    elif kind == "add" and isinstance(_get(data, path), dict):
        put((*path, draw(st.sampled_from(KNOWN_KEYS) | keys)), draw(values))
    elif kind == "extra" and isinstance(data, dict):
        key = draw(st.sampled_from(sorted(EXTRAS)))
        put((key,), draw(EXTRAS[key]))
    elif (
        kind == "duplicate-id"
        and isinstance(data, dict)
        and isinstance(data.get("milestones"), list)
    ):
        milestones = [i for i, m in enumerate(data["milestones"]) if isinstance(m, dict)]
        if len(milestones) >= 2:
            first, second = draw(st.lists(st.sampled_from(milestones), min_size=2, max_size=2))
            put(("milestones", second, "id"), data["milestones"][first].get("id"))
    elif kind == "duplicate-item" and (
        lists := [p for p in paths if isinstance(_get(data, p), list) and _get(data, p)]
    ):
        where = path if path in lists else draw(st.sampled_from(lists))
        node = _get(data, where)
        i, at = draw(st.integers(0, len(node) - 1)), draw(st.integers(0, len(node)))
        node.insert(at, copy.deepcopy(node[i]))
        steps.append(f"copy {_where(where)}[{i}] to position {at}")
    elif kind == "swap" and (
        lists := [p for p in paths if isinstance(_get(data, p), list) and len(_get(data, p)) > 1]
    ):
        where = draw(st.sampled_from(lists))
        node = _get(data, where)
        i, j = draw(st.integers(0, len(node) - 1)), draw(st.integers(0, len(node) - 1))
        node[i], node[j] = node[j], node[i]
        steps.append(f"swap {_where(where)}[{i}] and [{j}]")
    elif kind == "relative" and isinstance(data, dict) and isinstance(data.get("milestones"), list):
        milestones = [i for i, m in enumerate(data["milestones"]) if isinstance(m, dict)]
        if milestones:
            i = draw(st.sampled_from(milestones))
            m = data["milestones"][i]
            key = "at" if "at" in m or "start" not in m else draw(st.sampled_from(["start", "end"]))
            put(
                ("milestones", i, key), draw(relative_times | st.just(f"1 day after {m.get('id')}"))
            )
    elif kind == "perturb" and path and not isinstance(_get(data, path), dict | list):
        put(path, _perturb(_get(data, path), draw(st.integers(0, 50))))
    elif path:  # replace, and the fallback of the kinds above that did not apply
        put(path, draw(values))
    else:
        steps.append(f"({kind} did not apply)")
    return data


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)


@st.composite
def mutated_data(draw: st.DrawFn) -> Case:
    """A seed with 1-4 data-level mutations, dumped with yaml.safe_dump."""
    case = Case(draw(st.sampled_from(SEEDS)))
    data: Any = copy.deepcopy(SEED_DATA[case.seed])
    for _ in range(draw(st.integers(1, 4))):
        data = draw(data_mutation(data, case.steps))
    case.content = _dump(data).encode("utf-8")
    return case


# --------------------------------------------------------------------------- text mutations

KEY_LINE = re.compile(r"^(?P<indent> *)(?P<dash>- )?(?P<key>[A-Za-z_][\w-]*):(?P<rest>.*)$")
STRAY = (
    ":",
    "-",
    "[",
    "]",
    "{",
    "}",
    ",",
    "#",
    "&",
    "*",
    "!",
    "|",
    ">",
    "%",
    "@",
    "`",
    "'",
    '"',
    "?",
    "\t",
    "\n",
    "\r",
    "\x01",
    "\x1b",
    "\x7f",
    "\x85",
    "\u2028",
    "\ufeff",
    "\ufffe",
    "\uffff",
    "\U0001f600",
    "\u202e",
)
TAGS = (
    "!!python/object/apply:os.system ['true'] ",
    "!!binary ",
    "!!int ",
    "!!float ",
    "!!bool ",
    "!!null ",
    "!!str ",
    "!!timestamp ",
    "!!set ",
    "!!omap ",
    "!!map ",
    "!!seq ",
    "!custom ",
    "!<tag:yaml.org,2002:int> ",
)


def _key_lines(lines: list[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if KEY_LINE.match(line)]


@st.composite
def text_mutation(draw: st.DrawFn, text: str, steps: list[str]) -> str:
    """Apply one text-level mutation."""
    lines = text.split("\n")
    key_lines = _key_lines(lines)
    kind = draw(
        st.sampled_from(
            [
                "duplicate-line",
                "duplicate-key-later",
                "anchor-alias",
                "merge",
                "bad-merge",
                "undefined-alias",
                "tab",
                "truncate",
                "replace-chars",
                "insert-chars",
                "line-endings",
                "bom",
                "documents",
                "tag",
                "unbalanced",
            ]
        )
    )
    steps.append(f"text: {kind}")
    if kind == "duplicate-line" and key_lines:
        i = draw(st.sampled_from(key_lines))
        lines.insert(i + 1, lines[i])
    elif kind == "duplicate-key-later" and key_lines:
        i = draw(st.sampled_from(key_lines))
        indent = len(lines[i]) - len(lines[i].lstrip(" "))
        same = [
            j
            for j in key_lines
            if j > i
            and len(lines[j]) - len(lines[j].lstrip(" ")) == indent
            and not lines[j].lstrip().startswith("- ")
        ]
        if same:
            j = draw(st.sampled_from(same))
            lines.insert(j + 1, " " * indent + lines[i].lstrip(" ").removeprefix("- "))
    elif kind == "anchor-alias" and len(key_lines) >= 2:
        i, j = sorted(draw(st.lists(st.sampled_from(key_lines), min_size=2, max_size=2)))
        m = KEY_LINE.match(lines[i])
        n = KEY_LINE.match(lines[j])
        assert m
        assert n
        name = draw(st.sampled_from(["a", "x1", "anker", "🙂"]))
        lines[i] = f"{m['indent']}{m['dash'] or ''}{m['key']}: &{name}{m['rest']}"
        if i != j:
            lines[j] = f"{n['indent']}{n['dash'] or ''}{n['key']}: *{name}"
    elif kind in ("merge", "bad-merge") and len(key_lines) >= 2:
        i, j = sorted(draw(st.lists(st.sampled_from(key_lines), min_size=2, max_size=2)))
        m = KEY_LINE.match(lines[i])
        n = KEY_LINE.match(lines[j])
        assert m
        assert n
        lines[i] = f"{m['indent']}{m['dash'] or ''}{m['key']}: &m{m['rest']}"
        indent = len(n["indent"]) + (2 if n["dash"] else 0)
        target = draw(
            st.sampled_from(["*m", "[*m, *m]"])
            if kind == "merge"
            else st.sampled_from(["5", "text", "[1, 2]", "[*m, 5]", "~", "*nope"])
        )
        lines.insert(j + 1, " " * indent + f"<<: {target}")
    elif kind == "undefined-alias" and key_lines:
        i = draw(st.sampled_from(key_lines))
        m = KEY_LINE.match(lines[i])
        assert m
        lines[i] = f"{m['indent']}{m['dash'] or ''}{m['key']}: *undefined"
    elif kind == "tab":
        indented = [i for i, line in enumerate(lines) if line.startswith(" ")]
        if indented:
            i = draw(st.sampled_from(indented))
            width = len(lines[i]) - len(lines[i].lstrip(" "))
            how = draw(st.sampled_from(["\t", "\t" * max(1, width // 2), " \t", "\t "]))
            lines[i] = how + lines[i].lstrip(" ")
    elif kind == "truncate":
        return text[: draw(st.integers(0, len(text)))]
    elif kind in ("replace-chars", "insert-chars"):
        chars = list(text)
        for _ in range(draw(st.integers(1, 5))):
            at = draw(st.integers(0, max(0, len(chars) - 1)))
            new = draw(st.sampled_from(STRAY) | st.characters(blacklist_categories=("Cs",)))
            if kind == "replace-chars" and chars:
                chars[at] = new
            else:
                chars.insert(at, new)
        return "".join(chars)
    elif kind == "line-endings":
        how = draw(st.sampled_from(["\r\n", "\r", "\u2028", "\x85"]))
        return "\n".join(lines).replace("\n", how)
    elif kind == "bom":
        at = draw(st.sampled_from([0, len(text) // 2]))
        return text[:at] + "\ufeff" + text[at:]
    elif kind == "documents":
        at = draw(st.integers(0, len(lines)))
        lines.insert(at, draw(st.sampled_from(["---", "...", "--- !!map", "%YAML 1.2", "--- |"])))
    elif kind == "tag" and key_lines:
        i = draw(st.sampled_from(key_lines))
        m = KEY_LINE.match(lines[i])
        assert m
        lines[i] = f"{m['indent']}{m['dash'] or ''}{m['key']}: {draw(st.sampled_from(TAGS))}"
        lines[i] += m["rest"].lstrip()
    elif kind == "unbalanced":
        brackets = [i for i, c in enumerate(text) if c in "[]{}\"'"]
        if brackets:
            at = draw(st.sampled_from(brackets))
            return text[:at] + text[at + 1 :]
    return "\n".join(lines)


@st.composite
def mutated_text(draw: st.DrawFn) -> Case:
    """A seed file (as written, as dumped, or data-mutated and dumped) with 1-3 text
    mutations, sometimes with bytes that are not UTF-8."""
    how = draw(st.sampled_from(["as written", "dumped", "data-mutated"]))
    if how == "data-mutated":
        case = draw(mutated_data())
        text = case.content.decode("utf-8")
    else:
        case = Case(draw(st.sampled_from(SEEDS)), steps=[f"seed {how}"])
        text = SEED_TEXT[case.seed] if how == "as written" else _dump(SEED_DATA[case.seed])
    for _ in range(draw(st.integers(1, 3))):
        text = draw(text_mutation(text, case.steps))
    content = text.encode("utf-8")
    if draw(st.integers(0, 9)) == 0:
        at = draw(st.integers(0, len(content)))
        bad = draw(st.sampled_from([b"\xff", b"\xc3(", b"\xed\xa0\x80", b"\xe2\x82", b"\x80"]))
        content = content[:at] + bad + content[at:]
        case.steps.append(f"bytes: insert {bad!r} at byte {at}")
    case.content = content
    return case


# --------------------------------------------------------------------------- the property


def _show(content: bytes, seed: str) -> str:
    """The offending input: a diff against its seed (as written, or as dumped by
    yaml.safe_dump, whichever diff is shorter), then the whole file."""
    text = content.decode("utf-8", "backslashreplace")
    diffs = [
        "".join(
            difflib.unified_diff(
                original.splitlines(keepends=True),
                text.splitlines(keepends=True),
                f"runbooks/{seed}{how}",
                "mutated",
                n=1,
            )
        )
        for original, how in ((SEED_TEXT[seed], ""), (_dump(SEED_DATA[seed]), " (dumped)"))
    ]
    diff = min(diffs, key=len)
    if len(diff) > 20_000:
        diff = diff[:20_000] + "\n[diff cut at 20,000 characters]\n"
    whole = text if len(text) <= 200_000 else text[:200_000] + "\n[file cut at 200,000 characters]"
    return f"--- diff against the seed ---\n{diff}\n--- the whole file ---\n{whole}"


class EscapedException(AssertionError):
    """An exception escaped `main`: the user would see a traceback."""


class DiagnosticWithoutPosition(AssertionError):
    """A line on stderr that is neither `file:line:col: ...` nor a known summary."""


class ExitCodeProblem(AssertionError):
    """An exit code other than 0 or 1, or validate and build disagreeing."""


class BuildOutputProblem(AssertionError):
    """Exit 0 without every feed, or exit 1 with files written."""


def _call(argv: list[str], case: Case) -> tuple[int, str]:
    err, out = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main(argv)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # anything escaping main is a traceback the user would see
        # `from exc`: Hypothesis tells failures apart by where the original was raised
        raise EscapedException(
            f"`calgen {argv[0]}` raised instead of exiting 0 or 1:\n{traceback.format_exc()}\n"
            f"stderr before it:\n{err.getvalue()}\n{_show(case.content, case.seed)}"
        ) from exc
    return code, err.getvalue()


def _lines_without_position(stderr: str) -> list[str]:
    """Lines that are neither a `file:line:col: ` diagnostic (line and column from 1)
    nor a known summary."""
    bad = []
    for line in stderr.splitlines():
        m = DIAGNOSTIC.match(line)
        if not (SUMMARY.match(line) or (m and int(m["line"]) >= 1 and int(m["col"]) >= 1)):
            bad.append(line)
    return bad


def run_case(case: Case) -> None:
    """Run `validate` and `build` on the case next to a copy of runbooks/shared/."""
    with tempfile.TemporaryDirectory(prefix="calgen-fuzz-") as tmp:
        folder = Path(tmp)
        shutil.copytree(RUNBOOKS / "shared", folder / "shared")
        path = folder / "runbook.yaml"
        path.write_bytes(case.content)
        out = folder / "out"
        codes: dict[str, int] = {}
        for argv in (["validate", str(path)], ["build", str(path), "--out", str(out)]):
            code, stderr = _call(argv, case)
            if currently_in_test_context():
                note(f"calgen {argv[0]}: exit {code}\n{stderr}")
            codes[argv[0]] = code
            shown = f"`calgen {argv[0]}` exited {code}; stderr:\n{stderr}\n"
            if code not in (0, 1):
                raise ExitCodeProblem(shown + _show(case.content, case.seed))
            bad = _lines_without_position(stderr)
            if bad or (code == 1 and not any(DIAGNOSTIC.match(x) for x in stderr.splitlines())):
                raise DiagnosticWithoutPosition(
                    f"{shown}lines without file:line:col: {bad or '(exit 1, no diagnostic)'}\n"
                    + _show(case.content, case.seed)
                )
        if codes["validate"] != codes["build"]:
            raise ExitCodeProblem(
                f"validate exited {codes['validate']} but build {codes['build']}\n"
                + _show(case.content, case.seed)
            )
        problem = ""
        if codes["build"] == 0:
            built = sorted(out.glob("*/all.ics"))
            missing = [f for f in FEEDS if built and not (built[0].parent / f"{f}.ics").exists()]
            if len(built) != 1 or missing or not (out / "index.html").is_file():
                problem = f"build exited 0 but wrote {len(built)} all.ics; missing {missing}"
            odd = [str(p.relative_to(out)) for p in out.rglob("*") if not SAFE_NAME.match(p.name)]
            if odd:
                problem = f"build exited 0 and wrote files with odd names: {odd[:5]}"
        elif out.exists() and any(out.rglob("*")):
            problem = "build exited 1 but wrote files"
        if problem:
            raise BuildOutputProblem(problem + "\n" + _show(case.content, case.seed))


@FUZZ
@given(mutated_data())
def test_data_mutations_exit_0_or_1_with_positions(case: Case) -> None:
    run_case(case)


@FUZZ
@given(mutated_text())
def test_text_mutations_exit_0_or_1_with_positions(case: Case) -> None:
    run_case(case)


@pytest.mark.parametrize("seed", SEEDS)
def test_unmutated_seeds_pass_the_same_checks(seed: str) -> None:
    """The harness itself: each seed validates and builds, with nothing on stderr but
    summaries and warnings in file:line:col form."""
    run_case(Case(seed, SEED_TEXT[seed].encode("utf-8"), ["unchanged"]))


# --------------------------------------------------------------------------- limits

TIMEOUT = 60  # a guard against hanging, not a measure of speed
MEMORY_GUARD = 3 * 1024**3  # address-space limit of calgen: a runaway fails, not the host
PEAK_BOUND_MB = 500
# calgen, as its command line runs it, under an address-space limit.
CHILD = f"""
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_GUARD}, {MEMORY_GUARD}))
from calgen.cli import main
sys.exit(main(sys.argv[1:]))
"""
# A small launcher (no site, a few MB) runs calgen and reports its exit code and peak RSS
# from RUSAGE_CHILDREN. Not measured from this process: Linux carries the RSS of the
# process that forks over into the child's ru_maxrss, and pytest is large.
LAUNCHER = f"""
import json, resource, subprocess, sys
try:
    code = subprocess.run(
        [sys.executable, "-c", sys.argv[1], *sys.argv[2:]],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout={TIMEOUT},
    ).returncode
except subprocess.TimeoutExpired:
    code = "timeout"
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({{"code": code, "peak_kib": peak}}))
"""


def _run_limited(argv: list[str], cwd: Path) -> tuple[int, str, float]:
    """Run calgen in a child process: (exit code, stderr, peak RSS in MB)."""
    err_path = cwd / "stderr.txt"
    with open(err_path, "wb") as err:
        launched = subprocess.run(
            [sys.executable, "-I", "-S", "-c", LAUNCHER, CHILD, *argv],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            timeout=TIMEOUT + 30,  # the launcher stops calgen after TIMEOUT
            check=True,
        )
    stderr = err_path.read_text(encoding="utf-8", errors="replace")
    report = json.loads(launched.stdout)
    if report["code"] == "timeout":
        pytest.fail(f"calgen {' '.join(argv)} still ran after {TIMEOUT} s:\n{stderr[:5000]}")
    return report["code"], stderr, report["peak_kib"] / 1024  # KiB on Linux


def _billion_laughs() -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\nid: bomb\n"


def _deep_block_mappings(depth: int) -> str:
    # one space per level keeps the file small: 2,000 levels is about 2 MB
    return "".join(" " * i + f"k{i}:\n" for i in range(depth)) + " " * depth + "x\n"


def _merge_key_bomb(levels: int) -> str:
    """Each mapping merges the previous one twice: a few hundred bytes, 2**levels keys."""
    lines = ["m0: &m0 {x: 1, y: 2}"]
    lines += [f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}]}}" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def _fifty_megabytes(path: Path) -> None:
    """A well-formed runbook of 50 MB: a seed whose first milestone has 50,000 long notes."""
    head, marker, tail = SEED_TEXT["iwmo-ijw-3.0-3.1.yaml"].partition("\n    notes:\n")
    assert marker, "the seed's first notes list moved"
    line = "      - Let op: " + "regel " * 170 + "\n"
    with open(path, "w", encoding="utf-8") as fh:
        size = fh.write(head + marker)
        while size < 50 * 1024 * 1024:
            size += fh.write(line)
        fh.write(tail)


LIMIT_CASES: dict[str, Callable[[Path], None]] = {
    "billion-laughs": lambda p: p.write_text(_billion_laughs()),
    "flow-list-10000-deep": lambda p: p.write_text("[" * 10_000 + "]" * 10_000 + "\n"),
    "flow-mapping-10000-deep": lambda p: p.write_text("{a: " * 10_000 + "1" + "}" * 10_000),
    "block-sequence-10000-deep": lambda p: p.write_text("- " * 10_000 + "x\n"),
    "block-mappings-2000-deep": lambda p: p.write_text(_deep_block_mappings(2_000)),
    "50-megabytes": _fifty_megabytes,
    # beyond the list: the same promise for two inputs the limits do not cover
    "merge-key-bomb": lambda p: p.write_text(_merge_key_bomb(24)),
    "flat-list-just-under-5-mb": lambda p: p.write_text("[" + "0," * 2_500_000 + "0]\n"),
}
COMMANDS = ("validate", "build")


# the loader is the same for both commands: the slowest cases run under validate only
_LIMIT_RUNS = [
    (case, command)
    for case in sorted(LIMIT_CASES)
    for command in COMMANDS
    if not (case in ("merge-key-bomb", "flat-list-just-under-5-mb") and command == "build")
]


@pytest.mark.parametrize(("case", "command"), _LIMIT_RUNS)
def test_hostile_input_is_refused_quickly_in_bounded_memory(
    case: str, command: str, tmp_path: Path
) -> None:
    path = tmp_path / f"{case}.yaml"
    LIMIT_CASES[case](path)
    argv = [command, path.name] + (["--out", "out"] if command == "build" else [])
    code, stderr, peak_mb = _run_limited(argv, tmp_path)
    print(f"\n{case} ({path.stat().st_size:,} bytes) {command}: exit {code}, peak {peak_mb:.0f} MB")
    assert "Traceback" not in stderr, stderr
    assert code == 1, f"exit {code}:\n{stderr[:5000]}"
    lines = stderr.splitlines()
    assert lines, "no message at all"
    assert lines[0].startswith(f"{path.name}:"), f"the message does not name the file: {lines[0]}"
    assert "refused" in stderr, f"not refused as too big or too deep:\n{stderr[:5000]}"
    assert len(lines) <= 10, f"{len(lines)} lines of messages, first ones:\n" + "\n".join(
        lines[:10]
    )
    assert not (tmp_path / "out").exists(), "a refused build wrote files"
    assert peak_mb < PEAK_BOUND_MB, f"peak memory {peak_mb:.0f} MB"
