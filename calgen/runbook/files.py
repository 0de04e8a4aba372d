"""Which files a command's PATH arguments name, and loading them with every diagnostic."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from calgen.core.errors import Diagnostics, Pos

if TYPE_CHECKING:  # the model (and its imports) load only in the commands that need it
    from calgen.core.schedule import HolidayTable
    from calgen.runbook.model import Runbook


def find(paths: Sequence[Path], diags: Diagnostics) -> list[Path]:
    """Files as given; folders contribute their *.yaml files (not sub-folders: shared/).
    A file named twice (or named and in a folder named too) counts once."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
        elif path.is_file():
            found.append(path)
        else:
            diags.error(Pos(file=str(path), line=1, col=1), "no such file or folder")
    unique: dict[Path, Path] = {}
    for file in found:
        unique.setdefault(file.resolve(), file)
    return list(unique.values())


def load(
    paths: Sequence[Path], holidays: HolidayTable | None = None
) -> tuple[list[Runbook], Diagnostics]:
    """The runbooks `paths` name, and every error and warning found on the way (an error
    when they name no runbook at all). Never raises for bad input: the caller reports."""
    from calgen.runbook.validate import load_many

    diags = Diagnostics()
    files = find(paths, diags)
    runbooks, more = load_many(files, holidays)
    diags.extend(more)
    if not files and not diags.errors:
        diags.error(
            Pos(file=", ".join(map(str, paths)), line=1, col=1), "no runbooks found (*.yaml)"
        )
    return list(runbooks), diags
