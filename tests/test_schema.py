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
from calgen.schema import RUNBOOK_SCHEMA, SHARED_SCHEMA
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


RUNBOOK_FILES = sorted((ROOT / "runbooks").glob("*.yaml")) + [TESTDATA / "valid" / "dst-2022.yaml"]


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
