"""Durable feeds: subscribe once, every new runbook appears by itself.

The proof of issue 12: both seeds built → each durable feed carries both (each per-standard
feed the runbooks of its standard); then `new-release` onto Monday 5 April 2027 and a
rebuild over that output → the same paths also carry 2027, every earlier event is byte for
byte what it was, and ical.js and libical read the earlier events unchanged and the new
ones added. Plus the retention window (a runbook that leaves is CANCELLED), the names, and
ids that would take a durable feed's path.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar

from calgen.cli import main
from calgen.render.ical import durable
from calgen.runbook.model import Runbook
from tests.conformance_readers import read_icaljs, read_libical
from tests.conftest import BASE_URL, ROOT, check_golden

OLD = ("iwmo-2.1-2.2", "iwmo-ijw-3.0-3.1")
NEW = "iwmo-ijw-3.1-3.2"
ROLES = ("alles", "gemeenten", "zorgaanbieders", "vecozo", "inlichtingenbureau")
# path -> the runbooks it must carry after the seed build
SEED_PLAN = {
    **{f"{r}.ics": OLD for r in ROLES},
    **{f"iwmo/{r}.ics": OLD for r in ROLES},
    **{f"ijw/{r}.ics": OLD[1:] for r in ROLES},
}
_EVENT = re.compile(rb"BEGIN:VEVENT\r\n.*?END:VEVENT\r\n", re.S)
_UID = re.compile(rb"\r\nUID:(.*?)\r\n")


def events(data: bytes) -> dict[str, bytes]:
    """uid -> the event's bytes as published (unfolded UID; events are never reordered
    or re-folded by a durable feed, so bytes compare directly)."""
    out = {}
    for match in _EVENT.finditer(data):
        raw = match.group(0)
        found = _UID.search(raw.replace(b"\r\n ", b""))
        assert found, raw
        out[found.group(1).decode()] = raw
    return out


def runbook_of(uid: str) -> str:
    """`mijlpaal-3.1.2.iwmo-ijw-3.0-3.1@calgen` → `iwmo-ijw-3.0-3.1`"""
    for rid in (*OLD, NEW):
        if uid.endswith(f".{rid}@calgen"):
            return rid
    raise AssertionError(uid)


def _build(out: Path, runbooks: Path) -> None:
    assert main(["build", str(runbooks), "--out", str(out), "--base-url", BASE_URL]) == 0


def _new_release(runbooks: Path) -> None:
    """`calgen new-release` onto Monday 5 April 2027 13:00. Its warnings may be made
    blocking unless `--accept-warnings` (another change): pass it only when listed."""
    with contextlib.redirect_stdout(io.StringIO()) as usage, pytest.raises(SystemExit):
        main(["new-release", "--help"])
    accept = ["--accept-warnings"] if "--accept-warnings" in usage.getvalue() else []
    code = main(
        [
            "new-release",
            str(runbooks / "iwmo-ijw-3.0-3.1.yaml"),
            "--go-live",
            "2027-04-05 13:00",
            "--from",
            "3.1",
            "--to",
            "3.2",
            "--date",
            "2027-01-15",
            "--out",
            str(runbooks / f"{NEW}.yaml"),
            *accept,
        ]
    )
    assert code == 0
    assert (runbooks / f"{NEW}.yaml").is_file()


def _make_final(path: Path) -> None:
    """new-release writes a concept, which no durable feed carries: a final row above it."""
    text = path.read_text(encoding="utf-8")
    concept = '  - {version: "0.1", date: 2027-01-15, status: concept, note: Concept}\n'
    assert concept in text
    final = '  - {version: "1.0", date: 2027-01-15, status: definitief, note: Definitief}\n'
    path.write_text(text.replace(concept, final + concept), encoding="utf-8")


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """The seeds built into dist/; what that published; then new-release and a rebuild of
    the same dist/. Returns dist/ (after) and the durable feeds as first published."""
    root = tmp_path_factory.mktemp("durable")
    runbooks = root / "runbooks"
    shutil.copytree(ROOT / "runbooks", runbooks)
    dist = root / "dist"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", "1800000000")
        _build(dist, runbooks)
        first = {p: (dist / p).read_bytes() for p in SEED_PLAN}
        shutil.copytree(dist, root / "dist-seeds")
        _new_release(runbooks)
        _make_final(runbooks / f"{NEW}.yaml")
        mp.setenv("SOURCE_DATE_EPOCH", "1900000000")
        _build(dist, runbooks)
    return dist, first


def test_each_durable_feed_carries_the_seeds(builds: tuple[Path, dict[str, bytes]]) -> None:
    _, first = builds
    for path, expected in SEED_PLAN.items():
        carried = {runbook_of(u) for u in events(first[path])}
        assert carried == set(expected), path
        # and exactly the events of the per-runbook feed of that role, byte for byte
        role = path.rsplit("/", 1)[-1].removesuffix(".ics")
        per_runbook = "all" if role == "alles" else role
        joined = {}
        for rid in expected:
            joined.update(
                events((builds[0].parent / "dist-seeds" / rid / f"{per_runbook}.ics").read_bytes())
            )
        assert events(first[path]) == joined, path
        data = first[path]
        assert data.count(b"BEGIN:VTIMEZONE") == 1
        assert data.count(b"BEGIN:VCALENDAR") == 1
        assert b"\nMETHOD:PUBLISH\r\n" in data


def test_new_release_adds_2027_and_leaves_earlier_events_byte_unchanged(
    builds: tuple[Path, dict[str, bytes]],
) -> None:
    dist, first = builds
    for path, before in first.items():
        after = events((dist / path).read_bytes())
        earlier = events(before)
        for uid, raw in earlier.items():
            assert after.get(uid) == raw, f"{path}: {uid} changed"
        added = set(after) - set(earlier)
        assert added, f"{path} did not get the 2027 runbook"
        assert {runbook_of(u) for u in added} == {NEW}, path
        assert not any(b"STATUS:CANCELLED" in raw for raw in after.values()), path
    calendar = Calendar.from_ical((dist / "gemeenten.ics").read_bytes())
    go_live = next(
        e for e in calendar.walk("VEVENT") if str(e["UID"]) == f"fase-ingebruikname.{NEW}@calgen"
    )
    start = go_live.decoded("DTSTART")
    assert (start.year, start.month, start.day, start.hour, start.minute) == (2027, 4, 5, 13, 0)
    assert start.strftime("%A") == "Monday"


@pytest.mark.conformance
@pytest.mark.parametrize("reader", [read_icaljs, read_libical], ids=["ical.js", "libical"])
@pytest.mark.parametrize("path", ["gemeenten.ics", "alles.ics", "ijw/zorgaanbieders.ics"])
def test_readers_see_earlier_events_unchanged_and_new_ones_added(
    builds: tuple[Path, dict[str, bytes]], tmp_path: Path, reader: Any, path: str
) -> None:
    dist, first = builds
    before_file = tmp_path / "before.ics"
    before_file.write_bytes(first[path])
    before = {e["uid"]: e for e in reader(before_file)}
    after = {e["uid"]: e for e in reader(dist / path)}
    assert before
    assert set(before) < set(after)
    for uid, event in before.items():
        assert after[uid] == event, uid
    added = set(after) - set(before)
    assert {runbook_of(u) for u in added} == {NEW}
    assert all(after[u]["status"] in ("CONFIRMED", "confirmed") for u in added)


def test_calendar_names_are_dutch_and_stable(builds: tuple[Path, dict[str, bytes]]) -> None:
    dist, first = builds
    calendar = Calendar.from_ical(first["ijw/gemeenten.ics"])
    assert str(calendar["NAME"]) == "Landelijke draaiboeken migratie iJw (Gemeenten)"
    assert str(calendar["X-WR-CALNAME"]) == str(calendar["NAME"])
    assert "drie nieuwste iJw-draaiboeken" in str(calendar["DESCRIPTION"])
    root = Calendar.from_ical(first["alles.ics"])
    assert str(root["NAME"]) == "Landelijke draaiboeken migratie iWmo en iJw (Alle rollen)"
    assert "vanzelf" in str(root["X-WR-CALDESC"])
    # a build over its own output is byte-identical
    again = {p: (dist / p).read_bytes() for p in SEED_PLAN}
    _build(dist, dist.parent / "runbooks")
    assert again == {p: (dist / p).read_bytes() for p in SEED_PLAN}


def test_index_leads_with_subscribe_once(builds: tuple[Path, dict[str, bytes]]) -> None:
    dist, _ = builds
    html = (dist / "index.html").read_text(encoding="utf-8")
    assert html.index(">Abonneer één keer<") < html.index('id="draaiboeken"')
    host = BASE_URL.split("://", 1)[1]
    for path in SEED_PLAN:
        assert f'href="webcal://{host}/{path}"' in html, path
        assert f'data-copy="{BASE_URL}/{path}"' in html, path  # the https address to copy
        assert (dist / path).is_file()
    assert html.count("<table") == 1  # one subscribe table: roles by sets
    assert "Google Agenda" in html  # the steps per client
    assert "nu met Landelijk draaiboek migratie iWmo 3.1 en iJw 3.1 naar iWmo 3.2" in html


# --------------------------------------------------------------------- retention window


def _fake(rid: str, year: int, standards: tuple[str, ...], seed: Runbook) -> Runbook:
    import dataclasses

    return dataclasses.replace(
        seed, id=rid, standards=standards, go_live=seed.go_live.replace(year=year)
    )


def test_window_keeps_three_newest_per_standard(seed_runbooks: dict[str, Runbook]) -> None:
    seed = seed_runbooks["iwmo-ijw-3.0-3.1"]
    books = [
        _fake("a", 2020, ("iWmo",), seed),
        _fake("b", 2021, ("iWmo", "iJw"), seed),
        _fake("c", 2022, ("iWmo",), seed),
        _fake("d", 2023, ("iWmo",), seed),
        _fake("e", 2019, ("iJw",), seed),
        _fake("f", 2018, (), seed),
    ]
    found = durable.windows(books)
    assert [rb.id for rb in found["iwmo"]] == ["b", "c", "d"]
    assert [rb.id for rb in found["ijw"]] == ["e", "b"]
    assert [rb.id for rb in found[""]] == ["f"]
    feeds = {f.path: f for f in durable.plan(books)}
    # the root set: every runbook in some window ("a" left iWmo's), oldest go-live first
    assert feeds["gemeenten.ics"].runbooks == ("f", "e", "b", "c", "d")
    assert feeds["ijw/alles.ics"].runbooks == ("e", "b")
    assert "a" not in feeds["alles.ics"].runbooks
    assert not any(p.startswith("/") or ".." in p for p in feeds)
    assert durable.plan([]) == ()


def test_runbook_leaving_the_window_is_cancelled(tmp_path: Path) -> None:
    """Three newer iWmo runbooks push 2018 out: its events stay in gemeenten.ics as
    CANCELLED (the subscriber's client deletes them), and the build stays byte-identical."""
    runbooks = tmp_path / "runbooks"
    shutil.copytree(ROOT / "runbooks", runbooks)
    dist = tmp_path / "dist"
    _build(dist, runbooks)
    source = (runbooks / "iwmo-2.1-2.2.yaml").read_text(encoding="utf-8")
    for n, year in enumerate((2019, 2020, 2021)):
        text = source.replace("2018-", f"{year}-").replace("id: iwmo-2.1-2.2", f"id: x-{n}")
        (runbooks / f"x-{n}.yaml").write_text(text, encoding="utf-8")
    # these copies keep 2018's weekdays only by chance: their dates are not the point
    code = main(["build", str(runbooks), "--out", str(dist), "--base-url", BASE_URL])
    assert code == 0
    feed = events((dist / "gemeenten.ics").read_bytes())
    old = {u: raw for u, raw in feed.items() if u.endswith(".iwmo-2.1-2.2@calgen")}
    assert old
    assert all(b"STATUS:CANCELLED" in raw for raw in old.values())
    assert all(b"SEQUENCE:1" in raw for raw in old.values())
    # a client that ignores STATUS still reads that it left this feed, and why
    assert all(b"\r\nSUMMARY:Vervallen: " in raw for raw in old.values())
    assert all(b"\r\nDESCRIPTION:Vervallen in deze agenda: " in raw for raw in old.values())
    kept = [raw for u, raw in feed.items() if u not in old]
    assert not any(b"Vervallen" in raw for raw in kept)
    ijw = events((dist / "ijw/gemeenten.ics").read_bytes())
    assert not any(b"STATUS:CANCELLED" in raw for raw in ijw.values())
    before = (dist / "gemeenten.ics").read_bytes()
    _build(dist, runbooks)
    assert (dist / "gemeenten.ics").read_bytes() == before


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def _site_wide(rel: str) -> bool:
    return rel.split("/", 1)[0] not in OLD


def test_a_build_of_named_files_leaves_the_published_site_as_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`calgen build runbooks/one.yaml` over a published dist/ knows only that runbook: it
    updates that runbook's own pages and feeds, and leaves the index and every durable feed
    exactly as the last build of the folder made them (an index or durable feed made from
    one runbook would drop, revive or rename what the others put there); it says so, and
    `--check` with the same file agrees. The next build of the folder brings them up to
    date. Into a folder with no index, the index lists what was built."""
    runbooks = tmp_path / "runbooks"
    shutil.copytree(ROOT / "runbooks", runbooks)
    dist = tmp_path / "dist"
    _build(dist, runbooks)
    before = _tree(dist)
    one = runbooks / f"{OLD[1]}.yaml"
    capsys.readouterr()
    # unchanged: nothing changes, not even the order of events in the durable feeds
    assert main(["build", str(one), "--out", str(dist), "--base-url", BASE_URL]) == 0
    err = capsys.readouterr().err
    assert "built 1 runbook(s): 0 of " in err
    assert "site-wide file(s) kept as published (" in err
    assert _tree(dist) == before
    assert main(["build", str(one), "--out", str(dist), "--base-url", BASE_URL, "--check"]) == 0
    # changed: its own feeds change, the site-wide files do not
    one.write_text(
        one.read_text(encoding="utf-8").replace(
            "title: Alle heenberichten verzonden door aanbieders",
            "title: Alle heenberichten verzonden door de aanbieders",
        ),
        encoding="utf-8",
    )
    assert main(["build", str(one), "--out", str(dist), "--base-url", BASE_URL]) == 0
    after = _tree(dist)
    changed = {rel for rel in after if after[rel] != before.get(rel)}
    assert changed
    assert all(rel.startswith(f"{OLD[1]}/") for rel in changed), changed
    # the folder: now the durable feeds carry the change, and nothing is cancelled
    _build(dist, runbooks)
    folder_build = _tree(dist)
    assert any(_site_wide(r) and folder_build[r] != before[r] for r in before if r.endswith(".ics"))
    assert b"STATUS:CANCELLED" not in folder_build["alles.ics"]
    fresh = tmp_path / "fresh"
    assert main(["build", str(one), "--out", str(fresh), "--base-url", BASE_URL]) == 0
    listed = (fresh / "index.html").read_text(encoding="utf-8")
    assert f'href="{OLD[1]}/index.html"' in listed
    assert f'href="{OLD[0]}/index.html"' not in listed


def test_out_of_window_events_stay_cancelled_after_a_build_of_that_runbook(tmp_path: Path) -> None:
    """Three newer iWmo runbooks push 2018 out of the root and iwmo/ windows (its events
    cancelled); building the 2018 file by name does not bring them back."""
    runbooks = tmp_path / "runbooks"
    shutil.copytree(ROOT / "runbooks", runbooks)
    dist = tmp_path / "dist"
    _build(dist, runbooks)  # 2018 published in the window
    source = (runbooks / f"{OLD[1]}.yaml").read_text(encoding="utf-8")
    for year in (2027, 2028, 2029):
        text = source.replace(f"id: {OLD[1]}", f"id: kopie-{year}").replace("2022-", f"{year}-")
        (runbooks / f"kopie-{year}.yaml").write_text(text, encoding="utf-8")
    _build(dist, runbooks)  # and now out of it
    old = {u: raw for u, raw in events((dist / "alles.ics").read_bytes()).items()
           if u.endswith(f".{OLD[0]}@calgen")}  # fmt: skip
    assert old
    assert all(b"STATUS:CANCELLED" in raw for raw in old.values())
    before = _tree(dist)
    assert (
        main(
            ["build", str(runbooks / f"{OLD[0]}.yaml"), "--out", str(dist), "--base-url", BASE_URL]
        )
        == 0
    )
    assert _tree(dist) == before


def test_a_standard_no_runbook_names_any_more_is_cancelled_in_its_feeds(tmp_path: Path) -> None:
    """ijw/ is made from the 2022 runbook alone: a build of the folder without it cancels
    every event in ijw/*.ics (they are no longer made, but subscribers still read them),
    as it does in the root feeds."""
    runbooks = tmp_path / "runbooks"
    shutil.copytree(ROOT / "runbooks", runbooks)
    dist = tmp_path / "dist"
    _build(dist, runbooks)
    live = events((dist / "ijw" / "gemeenten.ics").read_bytes())
    assert live
    assert not any(b"STATUS:CANCELLED" in raw for raw in live.values())
    (runbooks / f"{OLD[1]}.yaml").unlink()
    # its own folder keeps its feeds, even without its page (an adopted old dist/)
    (dist / OLD[1] / "index.html").unlink()
    own = {p.name: p.read_bytes() for p in (dist / OLD[1]).glob("*.ics")}
    _build(dist, runbooks)
    assert {p.name: p.read_bytes() for p in (dist / OLD[1]).glob("*.ics")} == own
    for feed in ("ijw/gemeenten.ics", "ijw/alles.ics", "alles.ics"):
        gone = {u: raw for u, raw in events((dist / feed).read_bytes()).items()
                if runbook_of(u) == OLD[1]}  # fmt: skip
        assert gone, feed
        assert all(b"STATUS:CANCELLED" in raw for raw in gone.values()), feed
    # and a rebuild over its own output changes nothing
    again = _tree(dist)
    _build(dist, runbooks)
    assert _tree(dist) == again


def test_a_standard_folder_over_a_published_runbook_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A runbook once published as `zorg`, then a standard `Zorg`: its durable feeds
    would overwrite that runbook's feeds in zorg/. Refused; nothing changes."""
    one, two = tmp_path / "one", tmp_path / "two"
    for folder in (one, two):
        shutil.copytree(ROOT / "runbooks" / "shared", folder / "shared")
    source = (ROOT / "runbooks" / f"{OLD[0]}.yaml").read_text(encoding="utf-8")
    (one / "zorg.yaml").write_text(source.replace(f"id: {OLD[0]}", "id: zorg"), encoding="utf-8")
    standards = re.search(r"^standards:.*$", source, re.M)
    assert standards
    (two / "x.yaml").write_text(source.replace(standards[0], "standards: [Zorg]"), encoding="utf-8")
    dist = tmp_path / "dist"
    _build(dist, one)
    before = _tree(dist)
    capsys.readouterr()
    assert main(["build", str(two), "--out", str(dist), "--base-url", BASE_URL]) == 1
    assert "published folder of runbook 'zorg'" in capsys.readouterr().err
    assert _tree(dist) == before


@pytest.mark.parametrize("named", ["file", "folder"])
def test_a_runbook_id_over_a_published_standard_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], named: str
) -> None:
    """Durable feeds of a standard `Zorg` published in zorg/; later a runbook with id
    `zorg` that names no such standard, built by name or in a folder where no runbook
    names Zorg any more: it would take over the Zorg subscribers' URLs. Refused."""
    one, two = tmp_path / "one", tmp_path / "two"
    for folder in (one, two):
        shutil.copytree(ROOT / "runbooks" / "shared", folder / "shared")
    source = (ROOT / "runbooks" / f"{OLD[0]}.yaml").read_text(encoding="utf-8")
    standards = re.search(r"^standards:.*$", source, re.M)
    assert standards
    (one / "x.yaml").write_text(source.replace(standards[0], "standards: [Zorg]"), encoding="utf-8")
    (two / "zorg.yaml").write_text(source.replace(f"id: {OLD[0]}", "id: zorg"), encoding="utf-8")
    dist = tmp_path / "dist"
    _build(dist, one)
    assert (dist / "zorg" / "gemeenten.ics").is_file()
    before = _tree(dist)
    capsys.readouterr()
    target = two / "zorg.yaml" if named == "file" else two
    assert main(["build", str(target), "--out", str(dist), "--base-url", BASE_URL]) == 1
    err = capsys.readouterr().err
    assert "holds the durable feeds of a standard; runbook id 'zorg' would overwrite them" in err
    assert "Traceback" not in err
    assert _tree(dist) == before


@pytest.mark.parametrize(
    ("rid", "message"),
    [
        ("iwmo", "not iwmo or ijw (the durable feeds' folders)"),
        ("ijw", "not iwmo or ijw (the durable feeds' folders)"),  # the 2018 seed names no iJw
        ("alles.ics", "not ending in .ics, .html, .md, .json"),
        ("zorgaanbieders.ics", "not ending in .ics, .html, .md, .json"),
    ],
)
def test_ids_that_would_take_a_durable_path(
    tmp_path: Path, rid: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    runbooks = tmp_path / "runbooks"
    shutil.copytree(ROOT / "runbooks", runbooks)
    path = runbooks / "iwmo-2.1-2.2.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("id: iwmo-2.1-2.2", f"id: {rid}"),
        encoding="utf-8",
    )
    assert main(["validate", str(runbooks)]) == 1  # refused in validation, before any build
    said = capsys.readouterr().err
    assert f"iwmo-2.1-2.2.yaml:2:5: '{rid}' is not a runbook id" in said
    assert message in said
    assert main(["build", str(runbooks), "--out", str(tmp_path / "dist")]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "dist").exists()


def test_a_role_named_like_the_feed_of_every_role_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runbooks = tmp_path / "runbooks"
    shutil.copytree(ROOT / "runbooks", runbooks)
    roles = runbooks / "shared" / "roles.yaml"
    roles.write_text(roles.read_text(encoding="utf-8").replace("id: vecozo", "id: alles"))
    assert main(["validate", str(runbooks)]) == 1
    err = capsys.readouterr().err
    assert "shared/roles.yaml:17:9: the text is not a role id" in err
    assert "versies, alles (calgen's own file names)" in err


GOLDEN_NAMES = ["alles.ics", "gemeenten.ics", "ijw/zorgaanbieders.ics"]


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_golden(seed_outputs: dict[str, bytes], name: str, update_golden: bool) -> None:
    check_golden(name, seed_outputs[name], update_golden)
