"""Change notices (issue 19, items 3 and 5): one per mailbox per version, whatever its
roles; a published snapshot that cannot be used skips only its runbook's notice, with a
warning, and never stops a reminder.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from collections import Counter
from email.message import EmailMessage
from pathlib import Path

import pytest

from calgen.cli import main
from calgen.render.changes import snapshot, to_json
from calgen.runbook.validate import load_runbook
from tests.conftest import ROOT
from tests.test_notify_input import _outbox

AT = "2022-03-29 17:30"  # reminders of 3.1.2 (providers) and 3.1.3 (gemeenten) are due
EARLY = "2021-11-24 09:00"  # nothing due yet
RUNBOOK = "iwmo-ijw-3.0-3.1"
MOVED = {"3.1.2": "zorgaanbieders", "3.1.3": "gemeenten"}  # both to 31 March 17:00


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    (tmp_path / "runbooks" / "iwmo-2.1-2.2.yaml").unlink()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _notify(*args: str, at: str = EARLY) -> int:
    return main(["notify", "--subscribers", "subscribers.yaml", "--at", at, *args])


def _subscribers(roles: dict[str, list[str]]) -> None:
    lines = ["subscribers:"]
    for role, people in roles.items():
        lines.append(f"  {role}:")
        lines.extend(f"    - {p}" for p in people)
    Path("subscribers.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _copy_runbook(new_id: str) -> None:
    text = (Path("runbooks") / f"{RUNBOOK}.yaml").read_text(encoding="utf-8")
    copy = text.replace(f"id: {RUNBOOK}\n", f"id: {new_id}\n", 1).replace(
        "title: Landelijk draaiboek", f"title: Draaiboek {new_id}", 1
    )
    (Path("runbooks") / f"{new_id}.yaml").write_text(copy, encoding="utf-8")


def _publish(runbook_id: str, version: str) -> Path:
    """What `calgen build` writes to dist/<id>/versies/, from the runbook as it is now."""
    runbook, diags = load_runbook(Path("runbooks") / f"{runbook_id}.yaml")
    assert not diags.errors
    folder = Path("dist") / runbook_id / "versies"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{version}.json"
    path.unlink(missing_ok=True)
    path.write_text(to_json(version, snapshot(runbook)), encoding="utf-8")
    return path


def _version_1_1(runbook_id: str) -> None:
    """Version 1.1 of a runbook: 3.1.2 and 3.1.3 a day later."""
    path = Path("runbooks") / f"{runbook_id}.yaml"
    text = path.read_text(encoding="utf-8").replace(
        "versions:\n", 'versions:\n  - {version: "1.1", date: 2022-03-01, note: verplaatst}\n', 1
    )
    for mid in MOVED:
        start = text.index(f'- id: "{mid}"')
        head, tail = text[:start], text[start:]
        text = head + tail.replace('at: "2022-03-30 17:00"', 'at: "2022-03-31 17:00"', 1)
    path.write_text(text, encoding="utf-8")


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def _runbook_title(message: EmailMessage) -> str:
    """`Landelijk draaiboek`, `Draaiboek proef-a`: the copies share the subject's short
    name (the same standards and release), so the body's title tells them apart."""
    return _text(message).split(" van het ", 1)[1].split(" migratie ", 1)[0]


def _notices(folder: str = "outbox") -> list[EmailMessage]:
    return [m for m in _outbox(folder) if str(m["Subject"]).startswith("Gewijzigd:")]


def _announce(*ids: str) -> None:
    """Publish 1.0, tell nobody (the first run only records it), then publish 1.1."""
    for runbook_id in ids:
        _publish(runbook_id, "1.0")
    assert _notify("--outbox", "first-run") == 0
    for runbook_id in ids:
        _version_1_1(runbook_id)
        _publish(runbook_id, "1.1")


# --------------------------------------------------------------------------- item 5


def test_a_mailbox_in_several_roles_gets_one_change_notice_per_version(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _subscribers(
        {
            "gemeenten": ["both@ketenpartner.nl", "b@gemeente.nl"],
            "zorgaanbieders": ["Both@Ketenpartner.nl", "z@aanbieder.nl"],
            "vecozo": ["both@ketenpartner.nl"],  # no change concerns this role
        }
    )
    _announce(RUNBOOK)
    assert _notify("--outbox", "outbox") == 0
    by_to = {str(m["To"]): m for m in _notices()}
    assert sorted(by_to) == ["b@gemeente.nl", "both@ketenpartner.nl", "z@aanbieder.nl"]
    both = by_to["both@ketenpartner.nl"]
    assert both["Subject"].endswith("versie 1.1: 3.1.2 en 3.1.3 verschoven")
    text = _text(both)
    assert "wijzigt de planning voor gemeenten en zorgaanbieders" in text
    assert text.index("- 3.1.2 verschoven") < text.index("- 3.1.3 verschoven")
    assert text.count("verschoven van") == 2
    assert "- 3.1.3 verschoven" in _text(by_to["b@gemeente.nl"])
    assert "3.1.2" not in _text(by_to["b@gemeente.nl"])
    assert "- 3.1.2 verschoven" in _text(by_to["z@aanbieder.nl"])
    assert "3.1.3" not in _text(by_to["z@aanbieder.nl"])
    # the footer in both parts, and the headers of a notice for two roles
    markup = both.get_body(("html",))
    assert markup is not None
    for part in (" ".join(text.split()), " ".join(str(markup.get_content()).split())):
        assert "herinneringen voor gemeenten en zorgaanbieders" in part
        assert "Afmelden:" in part
        assert "Vragen? Neem contact op met:" in part
    assert str(both["List-Id"]).endswith("<gemeenten-zorgaanbieders.draaiboeken.localhost>")
    assert [p["Content-Language"] for p in both.iter_parts()] == ["nl", "nl"]
    # once per version: later runs say nothing more about 1.1
    assert _notify("--outbox", "outbox") == 0
    assert len(_notices()) == 3


def test_one_change_notice_per_mailbox_among_a_thousand(workspace: Path) -> None:
    """The rule of the 10,000-subscriber case (benchmarks/notify_bench.py) at 1,000:
    180 addresses in two to four roles, each mailbox told once."""
    roles = ["gemeenten", "zorgaanbieders", "vecozo", "inlichtingenbureau"]
    chance = random.Random(19)  # a fixed draw, not a secret
    people = [f"planner{i}@ketenpartner{i % 97}.nl" for i in range(1000)]
    lists: dict[str, list[str]] = {role: [] for role in roles}
    for i, person in enumerate(people):
        mine = chance.sample(roles, chance.randint(2, 4)) if i < 180 else [roles[i % 4]]
        for role in mine:
            lists[role].append(person.upper() if role == "vecozo" else person)
    _subscribers(lists)
    affected = {p.lower() for role in set(MOVED.values()) for p in lists[role]}
    _announce(RUNBOOK)
    started = time.monotonic()
    assert _notify("--outbox", "outbox") == 0
    elapsed = time.monotonic() - started
    counts = Counter(str(m["To"]).lower() for m in _notices())
    assert set(counts) == affected
    assert set(counts.values()) == {1}
    assert elapsed < 30  # a few seconds on a quiet machine


# --------------------------------------------------------------------------- item 3


def _corrupt(path: Path, how: str) -> None:
    text = path.read_text(encoding="utf-8")
    path.unlink()
    if how == "naive datetime":
        path.write_text(text.replace("+02:00", ""), encoding="utf-8")
    elif how == "id 3.x.2":
        path.write_text(text.replace('"3.1.2"', '"3.x.2"'), encoding="utf-8")
    elif how == "milestones not a list":
        path.write_text('{"version": "1.1", "milestones": 7}', encoding="utf-8")
    elif how == "deep nesting":
        path.write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    elif how == "truncated":
        path.write_text(text[: len(text) // 2], encoding="utf-8")
    elif how == "too large":
        with path.open("w", encoding="utf-8") as fh:
            fh.write(" " * (9 * 1024 * 1024))
            fh.write(text)
    elif how == "a FIFO":
        os.mkfifo(path)
    elif how == "a symlink":
        (path.parent / "elsewhere.json").write_text(text, encoding="utf-8")
        os.symlink("elsewhere.json", path)
    else:  # pragma: no cover - the parameters above
        raise AssertionError(how)


@pytest.mark.parametrize(
    "how",
    [
        "naive datetime",
        "id 3.x.2",
        "milestones not a list",
        "deep nesting",
        "truncated",
        "too large",
        "a FIFO",
        "a symlink",
    ],
)
@pytest.mark.parametrize("which", ["1.1", "1.0"])
def test_a_corrupt_snapshot_among_three_runbooks_skips_only_its_notice(
    workspace: Path, capsys: pytest.CaptureFixture[str], how: str, which: str
) -> None:
    _copy_runbook("proef-a")
    _copy_runbook("proef-b")
    _subscribers({"gemeenten": ["a@gemeente.nl", "b@gemeente.nl"]})
    ids = (RUNBOOK, "proef-a", "proef-b")
    _announce(*ids)
    bad = Path("dist") / "proef-a" / "versies" / f"{which}.json"
    _corrupt(bad, how)
    capsys.readouterr()
    assert _notify("--outbox", "outbox", at=AT) == 1
    err = capsys.readouterr().err
    assert f"warning: {bad}: the published snapshot cannot be used (" in err
    assert "no change notice for proef-a version 1.1 in this run" in err
    assert "Traceback" not in err
    notices = _notices()
    told = Counter(_runbook_title(m) for m in notices)
    assert told == {"Landelijk draaiboek": 2, "Draaiboek proef-b": 2}
    reminders = [m for m in _outbox() if "Herinnering" in str(m["Subject"])]
    assert len(reminders) == 6  # every runbook's due reminders, proef-a's too
    # fixed (rebuilt): the notice goes out, once
    bad.unlink()
    if which == "1.0":
        _publish_older("proef-a")
    else:
        _publish("proef-a", "1.1")
    assert _notify("--outbox", "outbox", at=AT) == 0
    told = Counter(_runbook_title(m) for m in _notices())
    assert told["Draaiboek proef-a"] == 2
    assert _notify("--outbox", "outbox", at=AT) == 0
    assert len(_notices()) == 6


def _publish_older(runbook_id: str) -> None:
    """The 1.0 snapshot again, as it was (3.1.2 and 3.1.3 on 30 March)."""
    path = Path("runbooks") / f"{runbook_id}.yaml"
    now = path.read_text(encoding="utf-8")
    path.write_text(now.replace('at: "2022-03-31 17:00"', 'at: "2022-03-30 17:00"'), "utf-8")
    _publish(runbook_id, "1.0")
    path.write_text(now, encoding="utf-8")
