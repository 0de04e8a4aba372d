"""A published folder is data from outside: damaged files in it never crash a build.

Each case plants a file that a hand edit, a truncated copy or a stranger could leave in
dist/, and checks that calgen names it in one warning and goes on as if it were absent,
or refuses with a message where going on could damage what it does not own."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from calgen.cli import main
from tests.conftest import ROOT, TESTDATA

RUNBOOK = "runbooks/iwmo-ijw-3.0-3.1.yaml"
SNAPSHOTS = Path("dist/iwmo-ijw-3.0-3.1/versies")
PLANTED = TESTDATA / "hostile" / "published"
DEEP = "[" * 100_000  # a RecursionError for a parser that recurses


@pytest.fixture
def published(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The 2022 seed published at version 1.0, then given a version 1.1 that moves 3.1.2."""
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert main(["build", "runbooks"]) == 0
    path = Path(RUNBOOK)
    text = path.read_text(encoding="utf-8")
    text = text.replace(
        "versions:\n", 'versions:\n  - {version: "1.1", date: 2021-12-01, note: Verschoven}\n'
    )
    text = text.replace('at: "2022-03-30 17:00"', 'at: "2022-03-29 17:00"', 1)
    path.write_text(text, encoding="utf-8")
    return tmp_path


def _tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


CASES = [p.name for p in sorted(PLANTED.glob("snapshot-*.json"))] + ["deep"]


@pytest.mark.parametrize("planted", CASES)
def test_a_damaged_version_snapshot_is_named_and_treated_as_absent(
    published: Path, planted: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = SNAPSHOTS / "1.0.json"
    if planted == "deep":
        target.write_text(DEEP, encoding="utf-8")
    else:
        shutil.copy(PLANTED / planted, target)
    capsys.readouterr()
    assert main(["build", "runbooks"]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    warnings = [line for line in err.splitlines() if "1.0.json" in line]
    assert len(warnings) == 1
    assert "earlier output is unreadable" in warnings[0]
    page = Path("dist/iwmo-ijw-3.0-3.1/index.html").read_text(encoding="utf-8")
    assert "Wijzigingen sinds versie 1.0" not in page  # what 1.0 scheduled is not known
    assert main(["build", "--check", "runbooks"]) == 0
    assert "Traceback" not in capsys.readouterr().err


def test_a_readable_snapshot_still_gives_the_changes(
    published: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", "runbooks"]) == 0
    page = Path("dist/iwmo-ijw-3.0-3.1/index.html").read_text(encoding="utf-8")
    assert "Wijzigingen sinds versie 1.0" in page
    assert "unreadable" not in capsys.readouterr().err


@pytest.mark.parametrize("content", [DEEP, '{"calgen": 1, "files": [[[[]]]]}', "{"])
def test_a_damaged_manifest_stops_the_build_and_changes_nothing(
    published: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("dist/.calgen-manifest.json").write_text(content, encoding="utf-8")
    before = _tree(Path("dist"))
    capsys.readouterr()
    assert main(["build", "runbooks"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert ".calgen-manifest.json: unreadable" in err
    assert "nothing was written" in err
    assert main(["build", "--check", "runbooks"]) == 1  # stale: 1.1 is not built yet
    assert "Traceback" not in capsys.readouterr().err
    assert _tree(Path("dist")) == before
