"""calgen.core.fsutil.atomic_write: the one file-replacing helper."""

from __future__ import annotations

from pathlib import Path

import pytest

from calgen.core.fsutil import atomic_write


def test_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old", encoding="utf-8")
    atomic_write(target, "nieuw ✓", durable=True)
    assert target.read_text(encoding="utf-8") == "nieuw ✓"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
    assert target.stat().st_mode & 0o777 == 0o644


def test_failure_keeps_old_bytes(tmp_path: Path) -> None:
    target = tmp_path / "feed.ics"
    target.write_bytes(b"published")
    with pytest.raises(TypeError):
        atomic_write(target, 12345)  # type: ignore[arg-type]
    assert target.read_bytes() == b"published"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feed.ics"]


def test_an_exact_temporary_name_replaces_a_leftover_and_is_gone_after(tmp_path: Path) -> None:
    target = tmp_path / "feed.ics"
    temp = tmp_path / ".feed.ics.calgen-tmp"
    temp.write_bytes(b"left by a killed run")
    atomic_write(target, b"new", temp=temp)
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feed.ics"]
    assert target.stat().st_mode & 0o777 == 0o644
