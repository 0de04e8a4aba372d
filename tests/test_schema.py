"""The JSON Schema: valid, in sync with the committed copies, and true of the seeds."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from calgen.cli import main
from calgen.core.errors import Diagnostics
from calgen.runbook.check import KEYWORDS, check
from calgen.runbook.load import load_text
from calgen.runbook.schema import RUNBOOK_SCHEMA, SHARED_SCHEMA
from tests.conftest import ROOT, TESTDATA

SCHEMA_DIR = ROOT / "runbooks" / "schema"


def _as_json(value: Any) -> Any:
    """What an editor's YAML language server sees: dates as strings."""
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


@pytest.mark.parametrize(
    ("flags", "copy"),
    [([], "runbook.schema.json"), (["--shared"], "shared.schema.json")],
)
def test_committed_copy_matches_command(
    capsys: pytest.CaptureFixture[str], flags: list[str], copy: str
) -> None:
    assert main(["schema", *flags]) == 0
    printed = capsys.readouterr().out
    assert printed == (SCHEMA_DIR / copy).read_text(encoding="utf-8"), (
        f"runbooks/schema/{copy} is stale: calgen schema {' '.join(flags)} > it"
    )


@pytest.mark.parametrize("schema", [RUNBOOK_SCHEMA, SHARED_SCHEMA])
def test_schema_is_valid_json_schema(schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)
    json.dumps(schema)


RUNBOOK_FILES = [*sorted((ROOT / "runbooks").glob("*.yaml")), TESTDATA / "valid" / "dst-2022.yaml"]


@pytest.mark.parametrize("path", RUNBOOK_FILES, ids=[p.name for p in RUNBOOK_FILES])
def test_runbooks_satisfy_schema_and_point_at_it(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    first = text.splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    target = (path.parent / first.split("$schema=", 1)[1]).resolve()
    assert target == (SCHEMA_DIR / "runbook.schema.json").resolve()
    jsonschema.validate(_as_json(yaml.safe_load(text)), RUNBOOK_SCHEMA)


SHARED_FILES = sorted((ROOT / "runbooks" / "shared").glob("*.yaml"))


@pytest.mark.parametrize("path", SHARED_FILES, ids=[p.name for p in SHARED_FILES])
def test_shared_files_satisfy_schema(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=../schema/shared.schema.json")
    jsonschema.validate(_as_json(yaml.safe_load(text)), SHARED_SCHEMA)


INVALID = sorted((TESTDATA / "invalid").glob("*.yaml"))
STRUCTURAL = {"unknown-keys", "wrong-types", "message-not-string", "missing-required"}


@pytest.mark.parametrize("stem", sorted(STRUCTURAL))
def test_schema_refuses_what_calgen_refuses_structurally(stem: str) -> None:
    """The editor's schema and calgen's structural check agree on these mistakes."""
    data = _as_json(yaml.safe_load((TESTDATA / "invalid" / f"{stem}.yaml").read_text()))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, RUNBOOK_SCHEMA)


# ----------------------------------------------------------- check and jsonschema agree

ALL_YAML = sorted(TESTDATA.rglob("*.yaml")) + sorted((ROOT / "runbooks").rglob("*.yaml"))


def _both(path: Path, text: str) -> tuple[bool, bool] | None:
    """(check refuses, jsonschema refuses), or None when the file does not load."""
    schema = SHARED_SCHEMA if "shared" in path.parts else RUNBOOK_SCHEMA
    diags = Diagnostics()
    doc = load_text(text, path.name, diags)
    if diags.errors:
        return None  # YAML syntax, duplicate keys: refused before either check
    check(doc, schema, diags)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(_as_json(doc.data)))
    return bool(diags.errors), bool(errors)


@pytest.mark.parametrize("path", ALL_YAML, ids=[str(p.relative_to(ROOT)) for p in ALL_YAML])
def test_check_and_jsonschema_agree_on_every_file(path: Path) -> None:
    found = _both(path, path.read_text(encoding="utf-8"))
    if found is None:
        assert path.parent.name in ("invalid", "fuzz")  # refused while loading
        return
    assert found[0] == found[1], "check refuses" if found[0] else "jsonschema refuses"


SEED = ROOT / "runbooks" / "iwmo-ijw-3.0-3.1.yaml"
EDITS = [  # (old, new) in the seed, each a structural change one of the two could miss
    ("title: Landelijk", 'title: ""\nx_title: Landelijk'),
    ("\ntitle: ", '\ntitle: " "\nx_title: '),
    ('      - "Vanaf dit moment', '      - ""\n      - "Vanaf dit moment'),
    ("    title: Alle heenberichten verzonden door aanbieders", '    title: ""'),
    ("    title: Alle heenberichten verzonden door aanbieders", '    title: ""\n    x: 1'),
    ('    roles: [zorgaanbieders]\n    messages: ["305"', '    roles: []\n    messages: ["305"'),
    ('id: "3.1.2"', 'id: "3.1.2a"'),
    ('id: "3.1.2"', "id: 3.12"),
    ("timezone: Europe/Amsterdam", "timezone: Europe/Brussels"),
    ("timezone: Europe/Amsterdam", "timezone: [Europe/Amsterdam]"),
    ("timezone: Europe/Amsterdam", "tijdzone: Europe/Amsterdam"),
    ('  - id: "3.1.2"\n', '  - id: "3.1.2"\n    inform: alles\n'),
    ('  - id: "3.1.2"\n', '  - id: "3.1.2"\n    inform: all\n'),
    ('  - id: "3.1.2"\n', '  - id: "3.1.2"\n    reminders: ["1 week", "soon"]\n'),
]


@pytest.mark.parametrize(("old", "new"), EDITS)
def test_check_and_jsonschema_agree_on_edits(old: str, new: str) -> None:
    text = SEED.read_text(encoding="utf-8")
    assert old in text
    found = _both(SEED, text.replace(old, new, 1))
    assert found is not None
    assert found[0] == found[1], "check refuses" if found[0] else "jsonschema refuses"


def _keywords(schema: Any) -> set[str]:
    if isinstance(schema, list):
        return set().union(*(_keywords(s) for s in schema)) if schema else set()
    if not isinstance(schema, dict):
        return set()
    found = set(schema)
    for key, value in schema.items():
        if key == "properties":  # names of runbook keys, not keywords
            found |= set().union(*(_keywords(v) for v in value.values()))
        elif key not in ("enum", "required"):
            found |= _keywords(value)
    return found


@pytest.mark.parametrize("schema", [RUNBOOK_SCHEMA, SHARED_SCHEMA])
def test_check_implements_every_keyword_the_schema_uses(schema: dict[str, Any]) -> None:
    assert _keywords(schema) <= KEYWORDS, sorted(_keywords(schema) - KEYWORDS)


@pytest.mark.parametrize("blank", ['""', '" "', '"\\n\\t "'])
def test_blank_text_refused_with_its_place(blank: str) -> None:
    text = SEED.read_text(encoding="utf-8").replace("title: Landelijk", f"title: {blank}\nx: L")
    diags = Diagnostics()
    check(load_text(text, "seed.yaml", diags), RUNBOOK_SCHEMA, diags)
    assert [(d.message, d.path, d.pos.line) for d in diags.errors if d.path == "title"] == [
        ("text is empty", "title", 3)
    ]


def test_pattern_means_the_whole_text() -> None:
    """As in editors (ECMA-262); Python's jsonschema would let `$` match before a final
    line break and accept an id that ends in one."""
    text = SEED.read_text(encoding="utf-8").replace(
        "id: iwmo-ijw-3.0-3.1", 'id: "iwmo-ijw-3.0-3.1\\n"', 1
    )
    diags = Diagnostics()
    check(load_text(text, "seed.yaml", diags), RUNBOOK_SCHEMA, diags)
    assert [d.path for d in diags.errors] == ["id"]
