"""calgen's cache: keyed on what changes the answer, bounded, and written by the CLI only."""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.machinery
import importlib.metadata
import importlib.util
import json
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import jinja2
import jinja2.bccache
import pytest

from calgen.cli import main
from calgen.core import cache, layout
from calgen.render import templating
from calgen.runbook.validate import load_runbook
from tests.conftest import ROOT

NEW_YEAR = {2031: {dt.date(2031, 1, 1): "Nieuwjaarsdag"}}


@pytest.fixture(autouse=True)
def _a_run() -> Iterator[None]:
    """Each test is a run of its own: a cache refused in one (cache.refuse turns it off
    for the rest of the run) is checked afresh in the next, as calgen.cli.main does."""
    cache.use(True)
    yield
    cache.use(True)


@pytest.fixture
def own_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(cache.ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def fake_holidays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `holidays` package on disk whose files and version the test changes."""
    base = tmp_path / "site" / "holidays"
    for name in (
        "__init__.py",
        "countries/netherlands.py",
        "locale/nl/LC_MESSAGES/NL.mo",
        "holiday_base.py",
        "observed_holiday_base.py",
        "groups/christian.py",
    ):
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_text("x", encoding="utf-8")
    spec = importlib.machinery.ModuleSpec("holidays", None, origin=str(base / "__init__.py"))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec)
    (base.parent / "holidays-0.109.dist-info").mkdir()  # as pip installs it, beside it
    return base


def test_key_follows_version_translation_and_module(
    fake_holidays: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = cache.holidays_key()
    assert first
    assert cache.holidays_key() == first
    keys = {first}
    for name in (
        "locale/nl/LC_MESSAGES/NL.mo",
        "countries/netherlands.py",
        "groups/christian.py",
        "observed_holiday_base.py",
    ):
        path = fake_holidays / name
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        keys.add(cache.holidays_key())
    (fake_holidays / "locale/nl/LC_MESSAGES/NL.mo").write_text("longer", encoding="utf-8")
    keys.add(cache.holidays_key())
    (fake_holidays.parent / "holidays-0.109.dist-info").rename(
        fake_holidays.parent / "holidays-0.110.dist-info"
    )
    keys.add(cache.holidays_key())
    assert len(keys) == 7  # every change gave a new key


def test_version_without_dist_info_comes_from_the_metadata(
    fake_holidays: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (fake_holidays.parent / "holidays-0.109.dist-info").rmdir()
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.109")
    first = cache.holidays_key()
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.110")
    assert first
    assert cache.holidays_key() not in ("", first)

    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert cache.holidays_key() == ""  # nothing cached rather than a wrong answer


def test_the_real_holidays_version_is_found() -> None:
    import holidays

    found = cache._version(Path(holidays.__file__).parent)
    assert found == importlib.metadata.version("holidays")


def test_saved_holidays_load_back_and_other_keys_are_pruned(
    own_dir: Path, fake_holidays: Path
) -> None:
    cache.save_holidays(NEW_YEAR)
    assert cache.load_holidays() == NEW_YEAR
    cache.save_holidays({2032: {dt.date(2032, 1, 1): "Nieuwjaarsdag"}})
    assert set(cache.load_holidays()) == {2031, 2032}  # merged, not replaced
    stat = (fake_holidays / "countries/netherlands.py").stat()
    os.utime(fake_holidays / "countries/netherlands.py", ns=(0, stat.st_mtime_ns + 1))
    assert cache.load_holidays() == {}  # another package: nothing of the old one is used
    cache.save_holidays(NEW_YEAR)
    assert len(list((own_dir / "holidays").glob("*.json"))) == 1  # the old file is gone


class BlockedError(Exception):
    """Not an OSError (as TimeoutError is): no `except OSError` in calgen catches it."""


@contextlib.contextmanager
def _within(seconds: float) -> Iterator[None]:
    """The block fails (BlockedError) instead of hanging the tests when it blocks."""

    def expired(signum: int, frame: FrameType | None) -> None:
        raise BlockedError(f"blocked for {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


DAMAGED = [
    "",
    "not json",
    "[1, 2]",
    '{"2031": [1]}',
    '{"x": {}}',
    '{"2031": {"1-1": ""}}',
    # every value is checked: the whole file counts as damaged for one bad value
    '{"2031": {"2031-01-01": null}}',
    '{"2031": {"2031-01-01": ["x"]}}',
    '{"2031": {"2031-01-01": 1}}',
    '{"2031": {"2031-01-01": ""}}',
    '{"2031": {"2031-01-01": "a\\nb"}}',
    pytest.param('{"2031": {"2031-01-01": "' + "x" * 1000 + '"}}', id="name too long"),
    '{"2031": {"2031-01-02": "Nieuwjaarsdag"}, "2032": null}',
    '{"2031": {}}',
    '{"2031": {"2032-01-01": "Nieuwjaarsdag"}}',  # a day of another year
    '{"1900": {"1900-01-01": "Nieuwjaarsdag"}}',  # a year calgen does not plan
    '{"02031": {"2031-01-01": "Nieuwjaarsdag"}}',  # not as calgen writes it
    '{"2031": {"20310101": "Nieuwjaarsdag"}}',
    '{"2031": {"2031-01-01": "Nieuwjaarsdag", "2031-01-01": "Migratiedag"}}',
    pytest.param('{"2031": {"2031-01-01": "Nieuwjaarsdag"}}' + " " * (5 << 20), id="5 MB"),
]


@pytest.mark.parametrize("content", DAMAGED)
def test_damaged_file_is_ignored(own_dir: Path, content: str) -> None:
    cache.save_holidays(NEW_YEAR)
    (stored,) = (own_dir / "holidays").glob("*.json")
    stored.write_text(content, encoding="utf-8")
    assert cache.load_holidays() == {}
    cache.save_holidays(NEW_YEAR)  # made again, and kept as it should be
    assert cache.load_holidays() == NEW_YEAR


def _kept_after_a_run(
    own_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[Path, str]:
    """`calgen holidays 2022` from the package: the file it keeps and what it printed."""
    assert main(["holidays", "2022"]) == 0
    (stored,) = (own_dir / "holidays").glob("*.json")
    return stored, capsys.readouterr().out


@pytest.mark.parametrize("value", ["null", '["x"]'])
def test_cli_never_lists_a_damaged_holiday(
    own_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    value: str,
) -> None:
    stored, right = _kept_after_a_run(own_dir, monkeypatch, capsys)
    data = stored.read_text(encoding="utf-8")
    stored.write_text(data.replace('{"2022-', f'{{"2022-03-30": {value}, "2022-', 1))
    assert main(["holidays", "2022"]) == 0
    assert capsys.readouterr().out == right
    assert stored.read_text(encoding="utf-8") == data  # made again and rewritten


def _not_a_file(stored: Path, kind: str, elsewhere: Path) -> None:
    stored.unlink()
    if kind == "fifo":
        os.mkfifo(stored)
    elif kind == "symlink to /dev/zero":
        stored.symlink_to("/dev/zero")
    elif kind == "symlink to a good file":
        elsewhere.write_text('{"2031": {"2031-01-01": "Migratiedag"}}', encoding="utf-8")
        stored.symlink_to(elsewhere)
    else:
        stored.mkdir()


NOT_A_FILE = ["fifo", "symlink to /dev/zero", "symlink to a good file", "folder"]


@pytest.mark.parametrize("kind", NOT_A_FILE)
def test_only_a_regular_file_is_read(own_dir: Path, tmp_path: Path, kind: str) -> None:
    cache.save_holidays(NEW_YEAR)
    (stored,) = (own_dir / "holidays").glob("*.json")
    elsewhere = tmp_path / "elsewhere.json"
    _not_a_file(stored, kind, elsewhere)
    with _within(5):
        assert cache.load_holidays() == {}
        cache.save_holidays(NEW_YEAR)  # no error
    if kind != "folder":  # replaced by a regular file (a symlink itself, not its target)
        assert cache.load_holidays() == NEW_YEAR
    if kind == "symlink to a good file":
        assert "Migratiedag" in elsewhere.read_text(encoding="utf-8")


@pytest.mark.parametrize("kind", NOT_A_FILE)
def test_cli_with_a_cache_file_that_is_not_a_file(
    own_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    kind: str,
) -> None:
    stored, right = _kept_after_a_run(own_dir, monkeypatch, capsys)
    _not_a_file(stored, kind, tmp_path / "elsewhere.json")
    with _within(10):
        assert main(["holidays", "2022"]) == 0
    assert capsys.readouterr().out == right


def test_unwritable_place_means_no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv(cache.ENV, str(blocker))
    cache.save_holidays(NEW_YEAR)  # no error
    assert cache.load_holidays() == {}
    assert cache.jinja_folder("3.1.6") is None
    assert blocker.read_text(encoding="utf-8") == ""


def test_template_cache_is_bounded(own_dir: Path) -> None:
    old = cache.folder("jinja-3.0.0")
    assert old is not None
    (old / "__jinja2_ab12.cache").write_bytes(b"")
    current = cache.jinja_folder("3.1.6")
    assert current is not None
    for n in range(cache.MAX_TEMPLATES + 25):
        path = current / f"__jinja2_{n}.cache"
        path.write_bytes(b"")
        os.utime(path, ns=(n, n))
    (current / "notes.txt").write_text("not calgen's", encoding="utf-8")
    assert cache.jinja_folder("3.1.6") == current
    kept = sorted(p.name for p in current.glob("*.cache"))
    assert len(kept) == cache.MAX_TEMPLATES
    assert "__jinja2_0.cache" not in kept  # the oldest went
    assert f"__jinja2_{cache.MAX_TEMPLATES + 24}.cache" in kept
    assert (current / "notes.txt").exists()
    assert not old.exists()


@pytest.mark.parametrize("kind", ["fifo", "symlink to /dev/zero", "damaged", "folder gone"])
def test_compiled_templates_are_read_only_from_regular_files(own_dir: Path, kind: str) -> None:
    bytecode = templating._bytecode_cache()
    assert bytecode is not None

    def render() -> str:
        loader = jinja2.DictLoader({"t": "hi {{ who }}"})
        env = jinja2.Environment(loader=loader, bytecode_cache=bytecode)
        return env.get_template("t").render(who="you")

    assert render() == "hi you"
    (compiled,) = own_dir.glob("jinja-*/__jinja2_*.cache")
    compiled.unlink()
    if kind == "fifo":
        os.mkfifo(compiled)
    elif kind == "symlink to /dev/zero":
        compiled.symlink_to("/dev/zero")
    elif kind == "damaged":
        compiled.write_bytes(jinja2.bccache.bc_magic + b"damaged")
    else:  # removed under a running build (another Jinja version's calgen prunes it)
        shutil.rmtree(compiled.parent)
    with _within(5):
        assert render() == "hi you"  # compiled again


def test_schedule_never_writes(own_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runbook, _ = load_runbook(ROOT / "runbooks" / "iwmo-ijw-3.0-3.1.yaml")
    assert runbook.calendar.holidays.name(dt.date(2022, 4, 18)) == "Tweede paasdag"
    assert not own_dir.exists()


def test_cli_keeps_and_uses_holidays(
    own_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    runbook = str(ROOT / "runbooks" / "iwmo-ijw-3.0-3.1.yaml")
    assert main(["validate", runbook]) == 0
    kept = cache.load_holidays()
    assert dt.date(2022, 4, 18) in kept[2022]
    # what is kept is what a later run uses (not asked of the package again)
    (stored,) = (own_dir / "holidays").glob("*.json")
    data = json.loads(stored.read_text(encoding="utf-8"))
    data["2022"]["2022-03-30"] = "Migratiedag"
    stored.write_text(json.dumps(data), encoding="utf-8")
    capsys.readouterr()
    main(["validate", runbook])
    assert "Migratiedag" in capsys.readouterr().err


@pytest.mark.parametrize("own", ["www", "www/.cache", "www/a/b"])
def test_a_build_into_the_cache_folder_runs_without_the_cache(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    own: str,
) -> None:
    """CALGEN_CACHE_DIR is the out folder, or inside it: the cache would be published,
    and every later build refused for files calgen did not publish."""
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    monkeypatch.setenv(cache.ENV, str(tmp_path / own))
    templating.environment.cache_clear()  # templates compiled anew, with this cache
    said = []
    try:
        for check in ([], [], ["--check"]):
            assert main(["build", *check, "--out", "www"]) == 0
            said.append(capsys.readouterr().err)
    finally:
        templating.environment.cache_clear()
    www = tmp_path / "www"
    listed = json.loads((www / layout.MANIFEST).read_text(encoding="utf-8"))["files"]
    found = sorted(str(p.relative_to(www)) for p in www.rglob("*") if not p.is_dir())
    assert found == sorted([*listed, layout.MANIFEST])  # nothing but what calgen publishes
    for err in said:
        warning = f"warning: the cache ({tmp_path / own}) is in the out folder www"
        assert err.count("warning: the cache") == 1
        assert f"{warning}; this build runs without it" in err, err
    # the cache is used again after the build (elsewhere: www/ holds calgen's manifest now)
    monkeypatch.setenv(cache.ENV, str(tmp_path / "elsewhere"))
    assert cache.folder("holidays") is not None


def test_nothing_calgen_did_not_write_is_removed(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fake_holidays: Path,
) -> None:
    """CALGEN_CACHE_DIR pointed at a folder of other things: they all stay, and their
    untagged holidays/ refuses the cache for the rest of the run, with one warning."""
    home = tmp_path / "home"
    theirs = {
        "jinja-notes/a.txt": "x",  # named like an old Jinja folder, not tagged as calgen's
        "jinja-2.0/__jinja2_ab.cache": "x",
        "holidays/plan.json": "{}",
        "holidays/NL-2024.json": "{}",
        "notes.json": "{}",
    }
    for name, text in theirs.items():
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        (home / name).write_text(text, encoding="utf-8")
    old = home / "jinja-3.0.0"
    old.mkdir()
    (old / cache.TAG).write_text(cache.TAG_TEXT, encoding="utf-8")
    (old / "their-file.txt").write_text("x", encoding="utf-8")  # in a calgen folder
    monkeypatch.setenv(cache.ENV, str(home))
    assert cache.jinja_folder("3.1.6") is not None
    cache.save_holidays(NEW_YEAR)
    cache.save_holidays({2032: {dt.date(2032, 1, 1): "Nieuwjaarsdag"}})
    assert cache.jinja_folder("3.1.6") is None  # refused for the rest of the run
    err = capsys.readouterr().err
    assert err.count("warning: the cache") == 1
    assert f"{home / 'holidays'} is not a folder calgen made" in err
    for name, text in theirs.items():
        assert (home / name).read_text(encoding="utf-8") == text, name
    assert (old / "their-file.txt").exists()
    # only the folder calgen made is added; their untagged holidays/ is not calgen's
    assert sorted(p.name for p in home.iterdir()) == [
        "holidays",
        "jinja-2.0",
        "jinja-3.0.0",
        "jinja-3.1.6",
        "jinja-notes",
        "notes.json",
    ]
    assert (home / "jinja-3.1.6" / cache.TAG).read_text(encoding="utf-8") == cache.TAG_TEXT
    assert sorted(p.name for p in (home / "holidays").iterdir()) == ["NL-2024.json", "plan.json"]
    assert cache.load_holidays() == {}


def _state(folder: Path) -> dict[str, tuple[int, str]]:
    """Every entry under `folder`, itself included: kind and mode, and content or link
    target, without following symlinks."""
    found = {}
    for path in [folder, *sorted(folder.rglob("*"))]:
        info = path.lstat()
        if path.is_symlink():
            what = "-> " + os.readlink(path)
        elif path.is_file():
            what = path.read_text(encoding="utf-8")
        else:
            what = ""
        found[str(path.relative_to(folder))] = (info.st_mode, what)
    return found


THEIRS = '{"2031": {"2031-01-01": "Migratiedag"}}'  # as calgen would write it


def _their_folder(path: Path, how: str, *names: str) -> Path:
    """A folder calgen did not make at `path` (or, `symlink`, one elsewhere that `path`
    links to), holding `names` as files named like calgen's; the folder to watch."""
    theirs = path.parent.parent / f"theirs-{path.name}" if how.startswith("symlink") else path
    theirs.mkdir(parents=True)
    for name in names:
        (theirs / name).write_text(THEIRS, encoding="utf-8")
    if how == "symlink to a tagged folder":
        (theirs / cache.TAG).write_text(cache.TAG_TEXT, encoding="utf-8")
    elif how == "another program's tag":
        (theirs / cache.TAG).write_text(cache.TAG_TEXT.splitlines()[0] + "\n", encoding="utf-8")
    elif how == "a tag that is a symlink":
        (theirs.parent / "a-tag").write_text(cache.TAG_TEXT, encoding="utf-8")
        (theirs / cache.TAG).symlink_to(theirs.parent / "a-tag")
    if theirs != path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(theirs, target_is_directory=True)
    return theirs


NOT_CALGENS = [
    "untagged",
    "empty",
    "symlink",
    "symlink to a tagged folder",
    "another program's tag",
    "a tag that is a symlink",
]


@pytest.mark.parametrize("how", NOT_CALGENS)
def test_a_holidays_folder_calgen_did_not_make_is_not_used(own_dir: Path, how: str) -> None:
    own = f"NL-{cache.holidays_key()}.json"
    names = () if how == "empty" else (own, "NL-0123456789abcdef0123.json", "notes.txt")
    theirs = _their_folder(own_dir / "holidays", how, *names)
    before = _state(theirs)
    assert cache.load_holidays() == {}  # their file, though named as calgen's, is not read
    cache.save_holidays(NEW_YEAR)
    assert cache.load_holidays() == {}  # no cache
    assert _state(theirs) == before  # nothing added, changed or removed


@pytest.mark.parametrize("how", NOT_CALGENS)
def test_a_jinja_folder_calgen_did_not_make_is_not_used(own_dir: Path, how: str) -> None:
    names = () if how == "empty" else ("__jinja2_ab12.cache", "notes.txt")
    theirs = _their_folder(own_dir / f"jinja-{jinja2.__version__}", how, *names)
    other = _their_folder(own_dir / "jinja-0.0.1", how, *names)  # not pruned either
    before = _state(theirs), _state(other)
    assert templating._bytecode_cache() is None  # templates are compiled each run
    assert (_state(theirs), _state(other)) == before


@pytest.mark.parametrize("command", [["holidays", "2022"], ["validate", "runbooks"]])
def test_no_command_settles_the_cache_in_a_published_folder(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    """CALGEN_CACHE_DIR inside a folder calgen publishes into (it holds the manifest): no
    command keeps anything there, so the next build of that folder is not refused."""
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    monkeypatch.chdir(tmp_path)
    assert main(["build", "--out", "www"]) == 0
    before = sorted(p.relative_to(tmp_path / "www") for p in (tmp_path / "www").rglob("*"))
    monkeypatch.setenv(cache.ENV, str(tmp_path / "www" / ".cache"))
    assert main(command) == 0
    after = sorted(p.relative_to(tmp_path / "www") for p in (tmp_path / "www").rglob("*"))
    assert after == before
    assert main(["build", "--out", "www"]) == 0
