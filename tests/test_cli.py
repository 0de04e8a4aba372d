"""The commands as a user runs them: exit codes, files written, --check, help, version."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from calgen import __version__
from calgen.cli import main
from tests.conftest import ROOT, TESTDATA

FEEDS = ("all", "gemeenten", "zorgaanbieders", "vecozo", "inlichtingenbureau")


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the runbooks folder, as in a user's checkout."""
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_build_writes_every_feed(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build"]) == 0
    for runbook in ("iwmo-2.1-2.2", "iwmo-ijw-3.0-3.1"):
        for feed in FEEDS:
            assert (workspace / "dist" / runbook / f"{feed}.ics").is_file()
    assert "built 2 runbook(s): 39 of 39 file(s) changed in dist" in capsys.readouterr().err


def test_two_builds_are_byte_identical(workspace: Path) -> None:
    assert main(["build", "--out", "one"]) == 0
    assert main(["build", "--out", "two"]) == 0
    one = {
        p.relative_to(workspace / "one"): p.read_bytes()
        for p in (workspace / "one").rglob("*")
        if p.is_file()
    }
    two = {
        p.relative_to(workspace / "two"): p.read_bytes()
        for p in (workspace / "two").rglob("*")
        if p.is_file()
    }
    assert one == two
    assert (
        len(one) == 39 + 1
    )  # 24 per runbook, the durable feeds (3 sets of 5), the index; calgen's manifest


def test_build_single_file_and_out(workspace: Path) -> None:
    assert main(["build", "runbooks/iwmo-2.1-2.2.yaml", "--out", "site"]) == 0
    durable = ["alles.ics", "gemeenten.ics", "inlichtingenbureau.ics", "iwmo"]
    assert sorted(p.name for p in (workspace / "site").iterdir()) == sorted(
        [
            *durable,
            ".calgen-manifest.json",
            "index.html",
            "iwmo-2.1-2.2",
            "vecozo.ics",
            "zorgaanbieders.ics",
        ]
    )


def test_check_reports_missing_and_stale(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", "--check"]) == 1
    err = capsys.readouterr().err
    assert err.count(": missing") == 39
    assert main(["build"]) == 0
    assert main(["build", "--check"]) == 0
    capsys.readouterr()
    runbook = workspace / "runbooks" / "iwmo-ijw-3.0-3.1.yaml"
    runbook.write_text(
        # a new title: wording may change under a published version, a time may not
        runbook.read_text(encoding="utf-8").replace("door aanbieders", "door zorgaanbieders"),
        encoding="utf-8",
    )
    assert main(["build", "--check"]) == 1
    err = capsys.readouterr().err
    assert "dist/iwmo-ijw-3.0-3.1/zorgaanbieders.ics: stale" in err
    assert "dist/iwmo-2.1-2.2" not in err


def test_unchanged_files_are_not_rewritten(workspace: Path) -> None:
    assert main(["build"]) == 0
    feed = workspace / "dist" / "iwmo-2.1-2.2" / "all.ics"
    os.utime(feed, (1_000_000_000, 1_000_000_000))
    assert main(["build"]) == 0
    assert feed.stat().st_mtime == 1_000_000_000


def test_invalid_runbook_writes_nothing(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(TESTDATA / "invalid" / "dst-gap.yaml", workspace / "runbooks" / "broken.yaml")
    (workspace / "runbooks" / "broken.yaml").write_text(
        (TESTDATA / "invalid" / "dst-gap.yaml")
        .read_text(encoding="utf-8")
        .replace("../../../runbooks/shared/", "shared/"),
        encoding="utf-8",
    )
    assert main(["build"]) == 1
    err = capsys.readouterr().err
    assert "runbooks/broken.yaml:13:40: '2022-03-27 02:30' does not exist" in err
    assert "nothing was written" in err
    assert not (workspace / "dist").exists()


def test_missing_path(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "nope.yaml"]) == 1
    assert "nope.yaml:1:1: no such file or folder" in capsys.readouterr().err


def test_a_file_named_twice_counts_once(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = "runbooks/iwmo-2.1-2.2.yaml"
    assert main(["validate", one, one, "runbooks"]) == 0
    err = capsys.readouterr().err
    assert "also used by" not in err
    assert err.count("3.1.1 falls on a non-working day") == 1  # its one warning, once
    assert "2 runbook(s) valid" in err


def test_empty_folder(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workspace / "empty").mkdir()
    assert main(["validate", "empty"]) == 1
    assert "no runbooks found" in capsys.readouterr().err


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "calgen", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


def test_version_and_help() -> None:
    done = _run("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"calgen {__version__}"
    for command in ([], ["build"], ["validate"], ["schema"]):
        done = _run(*command, "--help")
        assert done.returncode == 0, command
        assert "usage: calgen" in done.stdout, command


@pytest.mark.parametrize(
    "args", [[], ["frobnicate"], ["validate"], ["build", "--out"], ["build", "--nope"]]
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    done = _run(*args)
    assert done.returncode == 2
    assert "usage: calgen" in done.stderr
    assert "Traceback" not in done.stderr


def test_console_script_and_module_agree(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "calgen"
    if not script.exists():
        pytest.skip("console script not installed in this environment (pip install -e .)")
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=False)
    assert done.stdout == _run("--version").stdout


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["serve", "--port", "99999999999"], "argument --port: 99999999999 is not from 0 to 65535"),
        (["holidays", "٢٠٢٢"], "argument YEAR: not a number: '٢٠٢٢'"),
        (
            ["notify", "--subscribers", "s.yaml", "--outbox", "o", "--at", "2022-03-27 02:30"],
            "argument --at: '2022-03-27 02:30' does not exist in Europe/Amsterdam",
        ),
    ],
)
def test_the_grammar_checks_ranges_and_forms(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert said in capsys.readouterr().err


def test_build_without_base_url_warns_once(
    workspace: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No base URL (no --base-url, no pyproject.toml here): the pages can offer no
    subscribe link, and the build says so once; with --strict it refuses to build."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1637650800")  # 23 November 2021: before go-live
    assert main(["build"]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "base URL" in line]
    assert warnings == [
        "warning: no base URL (--base-url, or [tool.calgen] base-url in pyproject.toml): the "
        "site gets no subscribe links, only downloads, and the feeds no links to the pages"
    ]
    page = (workspace / "dist" / "index.html").read_text(encoding="utf-8")
    assert "webcal://" not in page
    # without the seeds' own warnings (2018's Sunday 3.1.1, 2022's early 3.3.1)
    one = "runbooks/iwmo-ijw-3.0-3.1.yaml"
    text = Path(one).read_text(encoding="utf-8")
    start, end = text.index('  - id: "3.3.1"'), text.index('  - id: "3.3.2"')
    Path(one).write_text(text[:start] + text[end:], encoding="utf-8")
    assert main(["build", one, "--strict", "--out", "strict"]) == 1
    err = capsys.readouterr().err
    assert "error: no base URL" in err
    assert "nothing was written" in err
    assert not (workspace / "strict").exists()
    # with a base URL: no such line, --strict or not
    assert main(["build", one, "--strict", "--base-url", "https://x.example", "--out", "x"]) == 0
    assert "base URL" not in capsys.readouterr().err
