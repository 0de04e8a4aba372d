"""The YAML loader: plain data, positions, and what it refuses."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

from calgen.cli import main
from calgen.core.errors import Diagnostics
from calgen.runbook.load import load_text
from tests.conftest import ROOT


def _load(text: str) -> tuple[object, list[str], dict[tuple[str | int, ...], tuple[int, int]]]:
    diags = Diagnostics()
    doc = load_text(text, "f.yaml", diags)
    positions = dict(doc.values)
    return doc.data, [str(d) for d in diags], positions


def test_values_and_positions() -> None:
    data, errors, positions = _load('a: 1\nb:\n  - "x"\n  - 2022-03-30\nc: {d: yes}\n')
    assert data == {"a": 1, "b": ["x", dt.date(2022, 3, 30)], "c": {"d": True}}
    assert errors == []
    assert positions[("b", 1)] == (4, 5)
    assert positions[("c", "d")] == (5, 8)


def test_anchors_aliases_and_merge_keys() -> None:
    text = "base: &b {x: 1, y: 2}\nuse: {<<: *b, y: 3}\nsame: *b\n"
    data, errors, _ = _load(text)
    assert errors == []
    assert data == {"base": {"x": 1, "y": 2}, "use": {"x": 1, "y": 3}, "same": {"x": 1, "y": 2}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\na: 2\n", "f.yaml:2:1: duplicate key 'a' (first defined at line 1)"),
        ("? [1, 2]\n: x\n", "f.yaml:1:3: keys must be plain words"),
        ("a: !!python/object:os.system x\n", "f.yaml:1:4: YAML tag"),
        ("a: *nope\n", "f.yaml:1:4: unknown alias '*nope'"),
        ("a: 1\n---\nb: 2\n", "f.yaml:2:1: refused: more than one YAML document"),
        ("a: [1, 2\n", "f.yaml:2:1: invalid YAML"),
        ("", "f.yaml:1:1: the file is empty"),
        ("x: " + "[" * 100 + "]" * 100, "refused: nested deeper than 64 levels"),
    ],
)
def test_refusals(text: str, message: str) -> None:
    _, errors, _ = _load(text)
    assert any(message in e for e in errors), errors


def test_libyaml_in_use() -> None:
    """The loader parses with libyaml; `.ci/run` runs this file under PyYAML 6.0.3 as well."""
    from calgen.runbook import load

    assert yaml.__with_libyaml__
    assert load._EventLoader.__name__ == "CSafeLoader"


@pytest.mark.parametrize("depth", [65, 999, 1001, 10_000])
@pytest.mark.parametrize("opening", ["[", "{a: "])
def test_deep_nesting_gets_calgens_message_whatever_libyaml(opening: str, depth: int) -> None:
    # libyaml 0.2.6 stops flow nesting at 1,000 levels on its own, before calgen's guard
    data, errors, _ = _load(opening * depth)
    assert data is None
    column = 64 * len(opening) + 1
    assert errors == [f"f.yaml:1:{column}: refused: nested deeper than 64 levels"]


def test_alias_bomb_refused_before_expanding() -> None:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    _, errors, _ = _load("\n".join(lines) + "\n")
    assert errors == [
        "f.yaml:5:16: refused: aliases expand the file to more than 67192 characters of text"
        " (4 times its size)"
    ]


def test_alias_node_count_refused_before_expanding() -> None:
    lines = ["a: &a [" + ", ".join(['""'] * 20) + "]"]  # 21 nodes and no text
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 20) + "]")
    _, errors, _ = _load("\n".join(lines) + "\n")
    assert any("refused: more than 500000 YAML nodes" in e for e in errors)


def test_aliases_within_the_bound_are_expanded() -> None:
    text = "base: &b {title: " + "x" * 1000 + "}\n" + "".join(f"k{i}: *b\n" for i in range(3))
    data, errors, _ = _load(text)
    assert errors == []
    assert isinstance(data, dict)
    assert data["k2"] == {"title": "x" * 1000}


def test_impossible_date_stays_text() -> None:
    data, errors, _ = _load("d: 2022-02-30\n")
    assert data == {"d": "2022-02-30"}
    assert errors == []


# --------------------------------------------------------------------------- uses:


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _with_uses(project: Path, uses: str) -> Path:
    source = project / "runbooks" / "iwmo-2.1-2.2.yaml"
    text = re.sub(r"(?m)^uses: .*$", f"uses: {uses}", source.read_text(encoding="utf-8"))
    path = project / "runbooks" / "evil.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("uses", "message"),
    [
        ("[/etc/passwd]", "'/etc/passwd' must be a path relative to the runbook's folder"),
        ("[/proc/kmsg]", "'/proc/kmsg' must be a path relative to the runbook's folder"),
        ("['~/x.yaml']", "must be a path relative"),
        ("[../../../../../../etc/passwd]", "must stay inside the runbook's folder"),
        ("[shared/link.yaml]", "(it is a symlink leading out)"),
        ("[shared/pipe.yaml]", "'shared/pipe.yaml' is not a regular file"),
        ("[shared/roles.yaml, ./shared/roles.yaml]", "is the same file as an earlier entry"),
    ],
)
def test_uses_reads_only_regular_files_inside_the_project(
    project: Path, capsys: pytest.CaptureFixture[str], uses: str, message: str
) -> None:
    outside = project.parent / f"{project.name}-secret.yaml"
    outside.write_text("roles: [{id: secret, name: 'TOP SECRET'}]\n")
    os.symlink(outside, project / "runbooks" / "shared" / "link.yaml")
    os.mkfifo(project / "runbooks" / "shared" / "pipe.yaml")
    try:
        path = _with_uses(project, uses)
        assert main(["validate", str(path)]) == 1  # a FIFO would block here if it were read
        err = capsys.readouterr().err
        assert message in err
        assert "TOP SECRET" not in err
        assert "Traceback" not in err
    finally:
        outside.unlink()


def test_a_shared_file_listed_many_times_is_read_once_and_reported_once(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _with_uses(project, "[" + ", ".join(["shared/roles.yaml"] * 20_000) + "]")
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("is listed 20000 times") == 1
    assert err.count("shared file 'shared/roles.yaml'") == 1


def test_a_broken_shared_file_never_echoes_its_values(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "runbooks" / "shared" / "other.yaml").write_text(
        "roles:\n  - {id: Secret-Token-123, name: 987654321}\n"
        "messages:\n  - {code: '12', name: x, kind: pssst}\n"
        "password: hunter2\n"
    )
    path = _with_uses(project, "[shared/other.yaml]")
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    for secret in ("Secret-Token-123", "987654321", "'12'", "pssst", "hunter2"):
        assert secret not in err
    assert "other.yaml:2:10: the text is not a role id" in err
    assert "unknown key 'password'" in err  # the offending key is named


def test_uses_from_root_as_working_directory_stays_in_the_runbook_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run from / (cron does), "inside the working directory" must not mean anywhere."""
    from calgen.runbook.load import SharedPathError, shared_path_of

    runbook = tmp_path / "rb" / "x.yaml"
    runbook.parent.mkdir()
    runbook.write_text("id: x\n", encoding="utf-8")
    (tmp_path / "secret.yaml").write_text("a: 1\n", encoding="utf-8")
    monkeypatch.chdir("/")
    with pytest.raises(SharedPathError, match="must stay inside"):
        shared_path_of(runbook, "../secret.yaml")
    monkeypatch.chdir(tmp_path)  # a project folder: its files may be shared
    assert shared_path_of(runbook, "../secret.yaml") == (tmp_path / "secret.yaml").resolve()
