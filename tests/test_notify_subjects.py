"""Honest subjects and bodies (issue 22, item 4, and item 5's did-you-mean): an unknown
role in the subscribers file gets a did-you-mean.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from calgen.cli import main
from calgen.runbook.context import MAX_SUGGESTIONS
from tests.conftest import ROOT


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    (tmp_path / "runbooks" / "iwmo-2.1-2.2.yaml").unlink()  # the 2022 runbook alone
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _subscribers(text: str) -> None:
    Path("subscribers.yaml").write_text(f"subscribers:\n{text}", encoding="utf-8")


def _notify(*args: str, at: str) -> int:
    return main(["notify", "--subscribers", "subscribers.yaml", "--at", at, *args])


# --------------------------------------------------------------------------- did-you-mean


def test_an_unknown_role_gets_a_did_you_mean_with_file_and_line(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _subscribers(
        "  gemeenten: [a@gemeente.nl]\n  gemeentes: [b@gemeente.nl]\n  onbekend: [c@x.nl]\n"
    )
    assert _notify("--outbox", "outbox", at="2022-03-29 17:30") == 1
    err = capsys.readouterr().err
    known = "(known: gemeenten, inlichtingenbureau, vecozo, zorgaanbieders)"
    assert (
        f"subscribers.yaml:3:3: unknown role 'gemeentes'; did you mean 'gemeenten'? {known};"
        " skipped: that entry gets nothing, everyone else does"
    ) in err
    assert f"subscribers.yaml:4:3: unknown role 'onbekend' {known}" in err
    assert len(list(Path("outbox").glob("*.eml"))) == 1  # a@gemeente.nl gets hers


def test_did_you_means_are_bounded(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    many = MAX_SUGGESTIONS + 30
    _subscribers("".join(f"  gemeente{i}: [a{i}@gemeente.nl]\n" for i in range(many)))
    assert _notify("--outbox", "outbox", "--dry-run", at="2022-03-29 17:30") == 1
    err = capsys.readouterr().err
    assert err.count("unknown role 'gemeente") == many
    assert err.count("did you mean 'gemeenten'?") == MAX_SUGGESTIONS
