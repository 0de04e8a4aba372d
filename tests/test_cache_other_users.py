"""The cache trusts only what the current user made (issue 19, item 1).

Compiled templates are marshalled Python code that runs as whoever builds: a tagged
`jinja-*/` folder another user put in a shared CALGEN_CACHE_DIR, or one file of theirs in
calgen's own folder, must never be loaded. A cache root another user owns or may write,
a symlinked one, or one named like a folder calgen publishes through means no cache for
the run, with one warning naming the path and why, never a traceback; templates still
render. Tests run as root: "another user" is uid 65534 (nobody), made with os.chown.
"""

from __future__ import annotations

import datetime as dt
import json
import marshal
import os
import pickle
import shutil
from collections.abc import Iterator
from pathlib import Path

import jinja2
import jinja2.bccache
import pytest

from calgen.cli import main
from calgen.core import cache, layout
from calgen.render import templating
from tests.conftest import ROOT

NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="os.chown to another uid needs root")
THEIRS = '{"2022": {"2022-03-30": "Migratiedag"}}'  # well-formed, as calgen writes it


@pytest.fixture(autouse=True)
def _a_run() -> Iterator[None]:
    """Each test a run of its own, with templates compiled anew against its cache."""
    cache.use(True)
    templating.environment.cache_clear()
    yield
    cache.use(True)
    templating.environment.cache_clear()


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    return tmp_path


def _render_with_the_cache() -> str:
    """A template rendered through the cache's compiled templates, if any."""
    loader = jinja2.DictLoader({"t": "hi {{ who }}"})
    env = jinja2.Environment(loader=loader, bytecode_cache=templating._bytecode_cache())
    return env.get_template("t").render(who="you")


def _snapshot(folder: Path) -> dict[str, tuple[int, int, bytes | str]]:
    """Every entry under `folder`: owner, mode and content (or link target)."""
    found: dict[str, tuple[int, int, bytes | str]] = {}
    for path in [folder, *sorted(folder.rglob("*"))]:
        info = path.lstat()
        if path.is_symlink():
            what: bytes | str = os.readlink(path)
        elif path.is_file():
            what = path.read_bytes()
        else:
            what = ""
        found[str(path.relative_to(folder))] = (info.st_uid, info.st_mode, what)
    return found


def _chown_tree(folder: Path, uid: int) -> None:
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, uid, -1, follow_symlinks=False)


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning: the cache")]


# --------------------------------------------------------------------------- the root


def _root_owned_by_another_user(root: Path) -> None:
    root.mkdir()
    os.chown(root, NOBODY, -1)


def _root_world_writable(root: Path) -> None:
    root.mkdir()
    os.chmod(root, 0o777)


def _root_group_writable(root: Path) -> None:
    root.mkdir()
    os.chmod(root, 0o775)


def _root_symlinked(root: Path) -> None:
    (root.parent / "elsewhere").mkdir()
    root.symlink_to(root.parent / "elsewhere", target_is_directory=True)


BAD_ROOTS = {
    "owned by another user": (_root_owned_by_another_user, f"is owned by uid {NOBODY}"),
    "world-writable": (_root_world_writable, "is writable by group and others (mode 0777)"),
    "group-writable": (_root_group_writable, "is writable by group (mode 0775)"),
    "a symlink": (_root_symlinked, "is a symlink"),
}


@pytest.mark.parametrize("how", BAD_ROOTS)
def test_a_cache_root_others_could_write_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    make, why = BAD_ROOTS[how]
    if how == "owned by another user" and os.geteuid() != 0:
        pytest.skip("os.chown to another uid needs root")
    root = tmp_path / "cache"
    make(root)
    monkeypatch.setenv(cache.ENV, str(root))
    before = _snapshot(root.resolve())
    assert _render_with_the_cache() == "hi you"  # compiled in memory: templates still render
    cache.save_holidays({2031: {dt.date(2031, 1, 1): "Nieuwjaarsdag"}})
    assert cache.load_holidays() == {}
    assert _snapshot(root.resolve()) == before  # nothing made, written or removed there
    (warning,) = _warnings(capsys.readouterr().err)
    assert f"warning: the cache is not used in this run: {root} {why}" in warning
    assert cache.ENV in warning  # what to do about it


@pytest.mark.parametrize("how", BAD_ROOTS)
def test_cli_with_a_cache_root_others_could_write(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    """A whole build: exit 0, the same site, one warning, no traceback."""
    make, why = BAD_ROOTS[how]
    if how == "owned by another user" and os.geteuid() != 0:
        pytest.skip("os.chown to another uid needs root")
    root = workspace / "cache"
    make(root)
    monkeypatch.setenv(cache.ENV, str(root))
    assert main(["build", "--out", "www"]) == 0
    err = capsys.readouterr().err
    assert len(_warnings(err)) == 1, err
    assert f"{root} {why}" in err
    assert "Traceback" not in err
    assert list(root.resolve().iterdir()) == []
    assert (workspace / "www" / layout.INDEX).is_file()


# --------------------------------------------------------------------------- poisoned templates


def _poison(compiled: Path, marker: Path) -> None:
    """Rewrite one of Jinja's compiled templates (magic, pickled checksum, marshalled
    code) so that loading it writes `marker` and then runs the real template: the attack
    works unnoticed wherever such a file is trusted."""
    raw = compiled.read_bytes()
    magic = jinja2.bccache.bc_magic
    assert raw.startswith(magic)
    rest = raw[len(magic) :]
    checksum = pickle.loads(rest)  # calgen's own file, made just now
    code = marshal.loads(rest[len(pickle.dumps(checksum, 2)) :])
    evil = compile(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
        f"exec(__import__('marshal').loads({marshal.dumps(code)!r}), globals())\n",
        code.co_filename,
        "exec",
    )
    compiled.write_bytes(magic + pickle.dumps(checksum, 2) + marshal.dumps(evil))


def _poisoned_jinja_folder(workspace: Path, into: Path, marker: Path) -> Path:
    """A tagged `jinja-<this version>/` in `into` holding every template a build of the
    runbooks compiles, each poisoned."""
    made = workspace / "made"
    os.environ[cache.ENV] = str(made)  # restored by the test's monkeypatch
    assert main(["build", "--out", "first"]) == 0
    templating.environment.cache_clear()
    name = f"jinja-{jinja2.__version__}"
    theirs = into / name
    shutil.copytree(made / name, theirs)
    compiled = sorted(theirs.glob("__jinja2_*.cache"))
    assert len(compiled) > 5
    for path in compiled:
        _poison(path, marker)
    return theirs


@as_root
@pytest.mark.parametrize("shared", ["own root, their folder", "shared root (1777, theirs)"])
def test_another_users_compiled_templates_never_run(
    workspace: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    shared: str,
) -> None:
    """The attack of issue 19: another user's tagged `jinja-*/` in a shared cache."""
    monkeypatch.setenv(cache.ENV, "")
    root = workspace / "shared"
    root.mkdir(mode=0o755)
    marker = workspace / "ran-their-code"
    theirs = _poisoned_jinja_folder(workspace, root, marker)
    monkeypatch.setenv(cache.ENV, str(root))

    # Trusted, the poisoned folder runs its code: the test can tell.
    assert main(["build", "--out", "trusting"]) == 0
    assert marker.read_text(encoding="utf-8") == "ran"
    marker.unlink()
    templating.environment.cache_clear()
    capsys.readouterr()

    _chown_tree(theirs, NOBODY)
    if shared.startswith("shared root"):
        os.chown(root, NOBODY, -1)
        os.chmod(root, 0o1777)
    before = _snapshot(root)
    assert main(["build", "--out", "www"]) == 0
    assert not marker.exists()
    err = capsys.readouterr().err
    (warning,) = _warnings(err)
    if shared.startswith("shared root"):
        assert f"{root} is owned by uid {NOBODY}" in warning
    else:
        assert f"{theirs} is owned by uid {NOBODY}" in warning
    assert _snapshot(root) == before  # nothing of theirs changed or removed
    # the same site as with a cache of one's own
    assert _site(workspace / "www") == _site(workspace / "first")


def _site(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@as_root
def test_a_compiled_template_of_another_user_in_ones_own_folder_is_not_read(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """calgen's own `jinja-*/`, but one file in it another user's (root ran a build with
    HOME kept, say): not read."""
    monkeypatch.setenv(cache.ENV, "")
    root = workspace / "own"
    root.mkdir(mode=0o700)
    marker = workspace / "ran-their-code"
    folder = _poisoned_jinja_folder(workspace, root, marker)
    files = sorted(folder.glob("__jinja2_*.cache"))
    for path in files:  # every other file their own again, unpoisoned
        path.unlink()
    shutil.copytree(workspace / "made" / folder.name, folder, dirs_exist_ok=True)
    _poison(files[0], marker)
    os.chown(files[0], NOBODY, -1)
    monkeypatch.setenv(cache.ENV, str(root))
    assert main(["build", "--out", "www"]) == 0
    assert not marker.exists()
    err = capsys.readouterr().err
    (warning,) = _warnings(err)
    assert f"{files[0]} is owned by uid {NOBODY}" in warning
    assert files[0].stat().st_uid == NOBODY  # left as it is


@as_root
def test_a_holidays_file_of_another_user_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(cache.ENV, str(tmp_path / "cache"))
    assert main(["holidays", "2022"]) == 0
    right = capsys.readouterr().out
    (stored,) = (tmp_path / "cache" / "holidays").glob("*.json")
    stored.write_text(THEIRS, encoding="utf-8")
    assert main(["holidays", "2022"]) == 0
    assert "Migratiedag" in capsys.readouterr().out  # their own file is believed
    os.chown(stored, NOBODY, -1)
    assert main(["holidays", "2022"]) == 0
    out, err = capsys.readouterr()
    assert out == right
    (warning,) = _warnings(err)
    assert f"{stored} is owned by uid {NOBODY}" in warning
    assert stored.read_text(encoding="utf-8") == THEIRS  # not replaced either


def test_a_group_writable_file_in_the_cache_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(cache.ENV, str(tmp_path / "cache"))
    assert main(["holidays", "2022"]) == 0
    right = capsys.readouterr().out
    (stored,) = (tmp_path / "cache" / "holidays").glob("*.json")
    stored.write_text(THEIRS, encoding="utf-8")
    os.chmod(stored, 0o664)
    assert main(["holidays", "2022"]) == 0
    out, err = capsys.readouterr()
    assert out == right
    assert f"{stored} is writable by group (mode 0664)" in _warnings(err)[0]


@as_root
def test_a_tag_of_another_user_makes_no_folder_calgens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "cache"
    monkeypatch.setenv(cache.ENV, str(root))
    folder = cache.jinja_folder(jinja2.__version__)
    assert folder is not None
    os.chown(folder / cache.TAG, NOBODY, -1)
    assert cache.jinja_folder(jinja2.__version__) is None
    assert f"holds {cache.TAG}, which is owned by uid {NOBODY}" in capsys.readouterr().err


@as_root
def test_another_users_old_jinja_folder_is_not_pruned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pruning removes only calgen's own folders of other Jinja versions."""
    root = tmp_path / "cache"
    monkeypatch.setenv(cache.ENV, str(root))
    old = cache.folder("jinja-3.0.0")
    assert old is not None
    (old / "__jinja2_ab12.cache").write_bytes(b"")
    _chown_tree(old, NOBODY)
    assert cache.jinja_folder(jinja2.__version__) is not None
    assert (old / "__jinja2_ab12.cache").exists()
    assert (old / cache.TAG).exists()


def test_folders_calgen_makes_are_its_own_whatever_the_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Made 0700 under a group-friendly umask: the next run still trusts them."""
    root = tmp_path / "cache"
    monkeypatch.setenv(cache.ENV, str(root))
    previous = os.umask(0o002)
    try:
        assert cache.jinja_folder(jinja2.__version__) is not None
        cache.save_holidays({2031: {dt.date(2031, 1, 1): "Nieuwjaarsdag"}})
    finally:
        os.umask(previous)
    for folder in (root, root / "holidays", root / f"jinja-{jinja2.__version__}"):
        assert folder.stat().st_mode & 0o777 == 0o700, folder
    cache.use(True)
    assert cache.load_holidays() != {}
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------- publishing


STAGING_NAMES = [
    ".www.calgen-new",  # the staging tree calgen.site.publish builds beside www/
    ".www.calgen-new/inner",
    ".www.calgen-old",  # where the old tree goes without renameat2
    ".www.calgen-new-1234",
]


@pytest.mark.parametrize("name", STAGING_NAMES)
def test_a_cache_named_like_the_staging_folder_is_never_published(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """CALGEN_CACHE_DIR set to the staging folder's exact name: today compiled templates
    and a CACHEDIR.TAG are published into www/, and every later build refuses www/."""
    monkeypatch.setenv(cache.ENV, str(workspace / name))
    www = workspace / "www"
    said = []
    for check in ([], [], ["--check"]):
        code = main(["build", *check, "--out", "www"])
        said.append(capsys.readouterr().err)
        assert not any(p.name.startswith("jinja-") for p in www.rglob("*"))
        assert code == 0, said[-1]
    listed = json.loads((www / layout.MANIFEST).read_text(encoding="utf-8"))["files"]
    found = sorted(str(p.relative_to(www)) for p in www.rglob("*") if not p.is_dir())
    assert found == sorted([*listed, layout.MANIFEST])
    for err in said:
        (warning,) = _warnings(err)
        assert f"{workspace / name} is named like a folder calgen publishes through" in warning


def test_a_cache_inside_a_published_folder_says_so(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", "--out", "www"]) == 0
    monkeypatch.setenv(cache.ENV, str(workspace / "www" / "sub" / ".cache"))
    capsys.readouterr()
    assert main(["holidays", "2022"]) == 0
    (warning,) = _warnings(capsys.readouterr().err)
    assert f"is inside a folder calgen publishes into ({workspace / 'www'} holds" in warning
    assert not (workspace / "www" / "sub").exists()
