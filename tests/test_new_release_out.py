"""`new-release --out FILE [--force]` writes only a new path or a regular file (issue 19,
item 7): never a device (as root, /dev/null became a 22 KB file), a FIFO, a folder or a
symlink (the link was replaced), nor calgen's own inputs (`runbooks/shared/roles.yaml`
was overwritten and every runbook using it broke). Refused with a clear message, exit 1,
and nothing anywhere changed.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from calgen.cli import main
from calgen.render import templating
from tests.conftest import ROOT

SOURCE = "runbooks/iwmo-ijw-3.0-3.1.yaml"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    shutil.copytree(templating.builtin_templates(), tmp_path / "templates")
    # calgen's templates, as a copy: a failing test cannot overwrite the real ones
    monkeypatch.setattr(templating, "builtin_templates", lambda: tmp_path / "templates")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _new_release(out: str, *extra: str) -> int:
    return main(
        [
            "new-release",
            SOURCE,
            "--go-live",
            "2023-04-11 13:00",
            "--from",
            "3.1",
            "--to",
            "3.2",
            "--date",
            "2022-11-01",
            "--accept-warnings",
            "--out",
            out,
            *extra,
        ]
    )


def _state(folder: Path) -> dict[str, tuple[int, bytes | str]]:
    """Every entry under `folder` without following symlinks: kind and content or target."""
    found: dict[str, tuple[int, bytes | str]] = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            what: bytes | str = os.readlink(path)
        elif stat.S_ISREG(info.st_mode):
            what = path.read_bytes()
        else:
            what = ""
        found[str(path.relative_to(folder))] = (stat.S_IFMT(info.st_mode), what)
    return found


def _refused(
    workspace: Path, capsys: pytest.CaptureFixture[str], out: str, reason: str, *extra: str
) -> str:
    before = _state(workspace)
    assert _new_release(out, *extra) == 1
    err = capsys.readouterr().err
    assert f"calgen new-release: --out {out}: refused, it {reason}" in err, err
    assert "nothing was written" in err
    assert "Traceback" not in err
    assert _state(workspace) == before  # nothing changed, no temporary file left
    return err


def test_dev_null_stays_a_device(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = os.stat("/dev/null")
    _refused(workspace, capsys, "/dev/null", "is a device")
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_a_device_node_survives_force(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """As root, `--out /dev/null --force` replaced the device node with a 22 KB file. The
    test uses its own node of the same device (1, 3): should calgen ever write over it
    again, the machine's /dev/null is not what breaks."""
    null = workspace / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    before = null.lstat()
    _refused(workspace, capsys, "null", "is a device", "--force")
    after = null.lstat()
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


@pytest.mark.parametrize("target", ["elsewhere.yaml", "missing.yaml"])
def test_a_symlink_is_neither_replaced_nor_written_through(
    workspace: Path, capsys: pytest.CaptureFixture[str], target: str
) -> None:
    if target == "elsewhere.yaml":
        (workspace / target).write_text("theirs\n", encoding="utf-8")
    (workspace / "link.yaml").symlink_to(target)
    _refused(workspace, capsys, "link.yaml", "is a symlink", "--force")
    assert (workspace / "link.yaml").is_symlink()
    assert os.readlink(workspace / "link.yaml") == target


def test_a_fifo_is_refused_without_blocking(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.mkfifo(workspace / "pipe.yaml")
    _refused(workspace, capsys, "pipe.yaml", "is a FIFO", "--force")


def test_a_folder_is_refused(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workspace / "drafts").mkdir()
    _refused(workspace, capsys, "drafts", "is a folder", "--force")


@pytest.mark.parametrize(
    ("out", "what"),
    [
        ("runbooks/shared/roles.yaml", f"a shared file {SOURCE} uses"),
        ("runbooks/shared/../shared/roles.yaml", f"a shared file {SOURCE} uses"),
        (SOURCE, "the source runbook"),
        ("runbooks/shared/../iwmo-ijw-3.0-3.1.yaml", "the source runbook"),
    ],
)
@pytest.mark.parametrize("force", [[], ["--force"]])
def test_calgens_own_inputs_are_never_replaced(
    workspace: Path, capsys: pytest.CaptureFixture[str], out: str, what: str, force: list[str]
) -> None:
    """Refused with or without --force: not "exists; pass --force", which invites it."""
    err = _refused(workspace, capsys, out, f"is {what} (calgen's own input)", *force)
    assert "--force to replace" not in err
    assert main(["validate", "runbooks"]) == 0  # every runbook still loads


def test_a_hard_link_to_an_input_is_refused(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.link(workspace / "runbooks" / "shared" / "roles.yaml", workspace / "roles-copy.yaml")
    _refused(workspace, capsys, "roles-copy.yaml", f"is a shared file {SOURCE} uses", "--force")


def test_a_symlinked_folder_leading_to_an_input_is_refused(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace / "alias").symlink_to(workspace / "runbooks" / "shared")
    _refused(workspace, capsys, "alias/roles.yaml", f"is a shared file {SOURCE} uses", "--force")


@pytest.mark.parametrize("name", ["page.html.j2", "new.yaml"])
def test_nothing_is_written_among_the_templates(
    workspace: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    shown = workspace / "templates"
    _refused(
        workspace, capsys, f"templates/{name}", f"is inside calgen's templates ({shown})", "--force"
    )


def test_a_regular_file_or_a_new_path_is_still_written(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _new_release("drafts/next.yaml") == 0
    assert _new_release("drafts/next.yaml") == 1
    assert "drafts/next.yaml exists; pass --force to replace it" in capsys.readouterr().err
    inode = (workspace / "drafts" / "next.yaml").stat().st_ino
    assert _new_release("drafts/next.yaml", "--force") == 0
    assert (workspace / "drafts" / "next.yaml").stat().st_ino != inode  # replaced atomically
    assert sorted(p.name for p in (workspace / "drafts").iterdir()) == ["next.yaml"]
