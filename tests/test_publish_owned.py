"""calgen owns its out folder: it publishes only where it may, and never harms the rest.

Each test builds for real (in-process `main`, or a subprocess where a signal or a mount
is involved) and then looks at the file system as another program would: modes, owners,
symlinks, FIFOs and the bytes of every file that calgen did not write.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from calgen.cli import main
from calgen.core import layout
from calgen.site import publish
from tests.conftest import ROOT

MANIFEST = layout.MANIFEST


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    return tmp_path


def _state(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Every entry under `folder` (itself included): kind and mode, owner, and content or
    link target, without following symlinks."""
    found = {}
    for path in [folder, *sorted(folder.rglob("*"))]:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            what = "-> " + os.readlink(path)
        elif stat.S_ISREG(info.st_mode):
            what = path.read_bytes().hex()
        else:
            what = ""
        found[str(path.relative_to(folder))] = (info.st_mode, info.st_uid, what)
    return found


def _fail(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


# --------------------------------------------------------------------------- refused


def test_a_folder_with_foreign_files_is_refused_and_left_alone(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    www = project / "www"
    (www / "private").mkdir(parents=True)
    os.chmod(www / "private", 0o700)
    (www / "private" / "key.txt").write_text("mine\n")
    (www / "notes.txt").write_text("not calgen's\n")
    os.symlink("notes.txt", www / "link")
    os.mkfifo(www / "pipe")
    before = _state(www)
    err = _fail(["build", "--out", "www"], capsys)
    assert (
        "holds 5 item(s) calgen did not write (link, notes.txt, pipe, private/, private/key.txt)"
        in err
    )
    assert "nothing was written" in err
    assert _state(www) == before
    assert [p.name for p in project.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    ("out", "reason"),
    [
        (".", "it holds the working directory"),
        ("..", "it holds the working directory"),
        ("runbooks", "it holds runbooks (calgen's own input)"),
        ("/", "it is the root of the file system"),
        ("~", "it is your home folder"),
    ],
)
def test_folders_calgen_must_never_own_are_refused(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    out: str,
    reason: str,
) -> None:
    home = project / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    before = _state(project)
    err = _fail(["build", "--out", os.path.expanduser(out)], capsys)
    assert reason in err
    assert _state(project) == before


def test_a_file_is_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "notes.txt").write_text("keep me\n")
    before = _state(project)
    assert "is not a folder" in _fail(["build", "--out", "notes.txt"], capsys)
    assert _state(project) == before


def test_a_manifest_that_is_not_calgens_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build"]) == 0
    (project / "dist" / MANIFEST).write_text("{not json")
    assert "cannot tell which files are its own" in _fail(["build"], capsys)


# --------------------------------------------------------------------------- owned


def test_the_manifest_lists_exactly_what_calgen_wrote(project: Path) -> None:
    assert main(["build"]) == 0
    dist = project / "dist"
    listed = json.loads((dist / MANIFEST).read_text())["files"]
    on_disk = sorted(
        str(p.relative_to(dist)) for p in dist.rglob("*") if p.is_file() and p.name != MANIFEST
    )
    assert listed == on_disk
    assert "index.html" in listed
    assert "iwmo-2.1-2.2/all.ics" in listed


def _old_dist(folder: Path) -> None:
    """dist/ as a calgen from before manifests wrote it: no manifest, no durable feeds
    (they came with the manifest), only the per-runbook folders and the index."""
    shutil.copytree(ROOT / "dist", folder)
    (folder / MANIFEST).unlink()
    for path in folder.iterdir():
        if path.suffix == ".ics":
            path.unlink()
        elif path.is_dir() and not (path / "index.html").exists():
            shutil.rmtree(path)  # iwmo/, ijw/: the durable feeds per standard


def test_a_dist_from_before_manifests_is_adopted_once(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _old_dist(project / "dist")
    assert main(["build"]) == 0
    assert (project / "dist" / MANIFEST).is_file()
    # but a folder holding one foreign name besides calgen's is not adopted
    shutil.rmtree(project / "dist")
    _old_dist(project / "dist")
    (project / "dist" / "README.txt").write_text("someone's\n")
    before = _state(project / "dist")
    assert "README.txt" in _fail(["build"], capsys)
    assert _state(project / "dist") == before


def test_a_foreign_file_added_later_stops_the_next_build(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build"]) == 0
    (project / "dist" / "iwmo-2.1-2.2" / "extra.ics").write_text("not calgen's\n")
    before = _state(project / "dist")
    assert "iwmo-2.1-2.2/extra.ics" in _fail(["build"], capsys)
    assert _state(project / "dist") == before


def test_folder_mode_of_the_out_folder_is_kept(project: Path) -> None:
    (project / "dist").mkdir()
    os.chmod(project / "dist", 0o750)
    assert main(["build"]) == 0
    assert stat.S_IMODE((project / "dist").stat().st_mode) == 0o750
    runbook = project / "runbooks" / "iwmo-ijw-3.0-3.1.yaml"
    runbook.write_text(runbook.read_text().replace("door aanbieders", "door zorgaanbieders", 1))
    assert main(["build"]) == 0  # a swap
    assert stat.S_IMODE((project / "dist").stat().st_mode) == 0o750


# --------------------------------------------------------------------------- symlinks


def test_a_symlinked_out_publishes_into_its_target_and_keeps_the_link(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "srv" / "www").mkdir(parents=True)
    os.symlink(project / "srv" / "www", project / "dist")
    assert main(["build"]) == 0
    assert (project / "dist").is_symlink()
    assert os.readlink(project / "dist") == str(project / "srv" / "www")
    assert (project / "srv" / "www" / "iwmo-2.1-2.2" / "all.ics").is_file()
    assert (project / "srv" / "www" / MANIFEST).is_file()
    assert main(["build", "--check"]) == 0
    inode = (project / "srv" / "www").stat().st_ino
    runbook = project / "runbooks" / "iwmo-ijw-3.0-3.1.yaml"
    runbook.write_text(runbook.read_text().replace("door aanbieders", "door zorgaanbieders", 1))
    capsys.readouterr()
    assert main(["build"]) == 0
    assert " of 39 file(s) changed" in capsys.readouterr().err
    # file by file: the folder itself (a web root) is the same one
    assert (project / "srv" / "www").stat().st_ino == inode
    assert [p.name for p in (project / "srv" / "www").rglob("*calgen-tmp")] == []


def test_the_lock_belongs_to_the_real_folder_not_its_spelling(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "real").mkdir()
    os.symlink("real", project / "dist")
    lock = publish.target(project / "real").lock
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+b") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        assert "another calgen build is writing" in _fail(["build", "--out", "dist"], capsys)
    assert main(["build", "--out", "dist"]) == 0


def test_glob_characters_in_out_touch_no_other_build(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A build into `dis?` must not take `.dist.calgen-new` (a running build's tree)."""
    staging = project / ".dist.calgen-new"
    (staging / "half").mkdir(parents=True)
    with open(project / ".dist.calgen-lock", "a+b") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # that build is running
        assert main(["build", "--out", "dis?"]) == 0
    assert (staging / "half").is_dir()
    assert (project / "dis?" / "index.html").is_file()


def test_what_a_killed_file_by_file_build_left_is_cleared(project: Path) -> None:
    (project / "www").mkdir()
    os.symlink("www", project / "dist")
    assert main(["build"]) == 0
    left = project / "www" / "iwmo-2.1-2.2" / ".all.ics.calgen-tmp"
    left.write_bytes(b"half a feed")
    assert main(["build"]) == 0
    assert not left.exists()
    # a file that merely looks like one, but is not calgen's, is refused
    (project / "www" / ".notes.calgen-tmp").mkdir()
    assert main(["build"]) == 1


# --------------------------------------------------------------------------- mounts


@pytest.fixture
def mount_point(project: Path) -> Iterator[Path]:
    """A real tmpfs mount (needs root and CAP_SYS_ADMIN; skipped where not allowed)."""
    point = project / "volume"
    point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "calgen-test", str(point)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], check=True)


def test_a_mount_point_is_published_file_by_file(
    project: Path, mount_point: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert os.path.ismount(mount_point)
    assert main(["build", "--out", "volume"]) == 0
    assert os.path.ismount(mount_point)
    assert (mount_point / "iwmo-ijw-3.0-3.1" / "gemeenten.ics").is_file()
    assert main(["build", "--out", "volume", "--check"]) == 0
    runbook = project / "runbooks" / "iwmo-ijw-3.0-3.1.yaml"
    runbook.write_text(runbook.read_text().replace("door aanbieders", "door zorgaanbieders", 1))
    assert main(["build", "--out", "volume"]) == 0
    assert main(["build", "--out", "volume", "--check"]) == 0
    # the lock lives inside the volume: its parent may not be writable
    assert not (project / ".volume.calgen-lock").exists()
    assert "Traceback" not in capsys.readouterr().err


# --------------------------------------------------------------------------- untrusted


def _corrupt(dist: Path, case: str) -> Path:
    if case == "truncated snapshot":
        path = dist / "iwmo-ijw-3.0-3.1" / "versies" / "1.0.json"
        path.write_bytes(path.read_bytes()[:40])
    elif case == "snapshot of another shape":
        path = dist / "iwmo-ijw-3.0-3.1" / "versies" / "1.0.json"
        path.write_text('{"milestones": {"3.1.2": {"start": 5}}}')
    elif case == "bytes that are not UTF-8 in an event":
        path = dist / "iwmo-2.1-2.2" / "gemeenten.ics"
        path.write_bytes(path.read_bytes().replace(b"SUMMARY:", b"SUMMARY:\xff\xfe", 1))
    else:  # "SEQUENCE:x"
        path = dist / "iwmo-2.1-2.2" / "all.ics"
        raw = path.read_bytes()
        assert b"\r\nSEQUENCE:0\r\n" in raw
        path.write_bytes(raw.replace(b"\r\nSEQUENCE:0\r\n", b"\r\nSEQUENCE:x\r\n", 1))
    return path


@pytest.mark.parametrize(
    "case",
    [
        "truncated snapshot",
        "snapshot of another shape",
        "bytes that are not UTF-8 in an event",
        "SEQUENCE:x",
    ],
)
def test_unreadable_earlier_output_is_named_and_built_as_if_absent(
    project: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    assert main(["build"]) == 0
    path = _corrupt(project / "dist", case)
    capsys.readouterr()
    assert main(["build", "--check"]) == 1  # stale, and said so without a traceback
    assert main(["build"]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert (
        f"warning: dist/{path.relative_to(project / 'dist')}: earlier output is unreadable" in err
    )
    assert main(["build", "--check"]) == 0


def test_a_fifo_where_a_feed_was_is_refused_not_waited_on(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build"]) == 0
    feed = project / "dist" / "iwmo-2.1-2.2" / "all.ics"
    feed.unlink()
    os.mkfifo(feed)
    assert main(["build", "--check"]) == 1
    assert "all.ics: unreadable (not a regular file)" in capsys.readouterr().err
    assert main(["build"]) == 1  # a FIFO is not calgen's: the folder is refused
    assert stat.S_ISFIFO(feed.lstat().st_mode)


@pytest.mark.parametrize("epoch", ["99999999999999", "-1", "1e9", "soon"])
def test_source_date_epoch_out_of_range_is_a_clear_usage_error(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, epoch: str
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
    assert main(["build"]) == 2
    err = capsys.readouterr().err
    assert f"SOURCE_DATE_EPOCH='{epoch}' is not a number of seconds from 0 to" in err
    assert not (project / "dist").exists()


@pytest.mark.parametrize(
    ("template", "kind"),
    [
        ("{{ 1 // 0 }}", "ZeroDivisionError"),
        ("{{ doc.runbook.title.nope() }}", "UndefinedError"),
        ("{{ doc.runbook.milestones[999] }}", "UndefinedError"),
    ],
)
def test_a_user_template_that_raises_is_a_clear_error(
    project: Path, capsys: pytest.CaptureFixture[str], template: str, kind: str
) -> None:
    (project / "mine" / "md").mkdir(parents=True)
    (project / "mine" / "md" / "runbook.md.j2").write_text(f"# x\n{template}\n")
    code = main(["build", "--templates", "mine"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "template error" in err
    assert kind in err
    assert "md/runbook.md.j2:2: " in err  # the user's file and line
    assert "Traceback" not in err
    assert not (project / "dist").exists()


def test_a_file_by_file_build_stopped_halfway_leaves_a_folder_calgen_still_owns(
    project: Path,
) -> None:
    """Stopped after some files (as by kill -9), the next build carries on: every file
    written was in the manifest before it was created."""
    (project / "www").mkdir()
    os.symlink("www", project / "dist")

    def half() -> Iterator[tuple[str, bytes]]:
        yield "a/all.ics", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"
        yield "a/gemeenten.html", b"<!doctype html>"  # (index.html, written last, is not)
        raise KeyboardInterrupt  # the moment of the kill

    with pytest.raises(KeyboardInterrupt):
        publish.write(half(), project / "dist")
    assert (project / "www" / "a" / "all.ics").is_file()
    assert publish.owned_files(project / "www", clean=False) == {"a/all.ics", "a/gemeenten.html"}
    assert main(["build"]) == 0
    assert main(["build", "--check"]) == 0
