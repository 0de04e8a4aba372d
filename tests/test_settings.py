"""What the CLI reads around the runbooks: project settings, the base URL, the build's
moment (calgen.cli.settings) and which files PATH arguments name (calgen.runbook.files)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from calgen.cli import main, settings
from calgen.core.errors import Diagnostics
from calgen.runbook import files as runbooks
from tests.conftest import ROOT


def test_base_url_comes_from_the_flag_else_pyproject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert settings.base_url(None) == ""  # no pyproject.toml: links stay relative
    (tmp_path / "pyproject.toml").write_text(
        '[tool.calgen]\nbase-url = "https://example.org/draaiboeken"\n', encoding="utf-8"
    )
    assert settings.base_url(None) == "https://example.org/draaiboeken"
    assert settings.base_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    assert settings.base_url("") == ""  # an empty flag overrides the project's
    (tmp_path / "pyproject.toml").write_text("[tool.calgen\n", encoding="utf-8")
    assert settings.project_setting("base-url") == ""  # broken TOML: no setting


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org",
        "javascript:alert(1)",
        "https://x.org/a b",
        'https://x.org/"',
        "https://",
    ],
)
def test_a_base_url_that_could_break_a_feed_or_page_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="is not an http\\(s\\) URL"):
        settings.base_url(url)


def test_the_build_moment_is_source_date_epoch_within_datetime(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    assert settings.build_moment() == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(settings.MAX_EPOCH))
    assert settings.build_moment().year == 9999
    for bad in (str(settings.MAX_EPOCH + 1), "-1", "1e9", "١٢", " 5"):
        monkeypatch.setenv("SOURCE_DATE_EPOCH", bad)
        with pytest.raises(ValueError, match="SOURCE_DATE_EPOCH"):
            settings.build_moment()
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert settings.build_moment().tzinfo is dt.UTC


def test_folders_give_their_yaml_files_in_order_and_missing_paths_an_error(
    tmp_path: Path,
) -> None:
    for name in ("b.yaml", "a.yml", "notes.txt"):
        (tmp_path / name).write_text("", encoding="utf-8")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "c.yaml").write_text("", encoding="utf-8")
    diags = Diagnostics()
    found = runbooks.find([tmp_path, tmp_path / "notes.txt", tmp_path / "gone.yaml"], diags)
    assert found == [tmp_path / "a.yml", tmp_path / "b.yaml", tmp_path / "notes.txt"]
    assert [str(d) for d in diags] == [f"{tmp_path / 'gone.yaml'}:1:1: no such file or folder"]


def test_an_empty_folder_is_an_error_not_zero_runbooks(tmp_path: Path) -> None:
    loaded, diags = runbooks.load([tmp_path])
    assert loaded == []
    assert [d.message for d in diags.errors] == ["no runbooks found (*.yaml)"]


def test_templates_that_are_not_a_folder_are_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r").mkdir()
    (tmp_path / "tpl").write_text("", encoding="utf-8")
    runbook = ROOT / "runbooks" / "iwmo-2.1-2.2.yaml"
    assert main(["build", str(runbook), "--templates", "tpl", "--out", "r/dist"]) == 2
    assert "tpl: --templates must be a folder" in capsys.readouterr().err
    assert not (tmp_path / "r" / "dist").exists()


@pytest.mark.parametrize(
    "url", ["https://x.example:99999999999", "https://x.example:0", "https://x.example:65536"]
)
def test_a_base_url_port_out_of_range_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="is not an http"):
        settings.base_url(url)
    assert settings.base_url("https://x.example:65535/d") == "https://x.example:65535/d"
