"""The YAML loader: plain data, positions, and what it refuses."""

from __future__ import annotations

import datetime as dt

import pytest

from calgen.errors import Diagnostics
from calgen.load import load_text


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


def test_alias_bomb_refused_before_expanding() -> None:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    _, errors, _ = _load("\n".join(lines) + "\n")
    assert any("refused: more than 200000 YAML nodes" in e for e in errors)


def test_impossible_date_stays_text() -> None:
    data, errors, _ = _load("d: 2022-02-30\n")
    assert data == {"d": "2022-02-30"}
    assert errors == []
