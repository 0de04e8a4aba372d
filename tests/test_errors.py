"""Rules of calgen's own code, checked over every module: one exception root (everything
calgen raises at a user derives from CalgenError), and data types that are keyword-only
dataclasses, frozen unless they are made to be filled in."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from types import ModuleType

import calgen
from calgen.errors import CalgenError


def _modules() -> list[ModuleType]:
    return [
        importlib.import_module(info.name)
        for info in pkgutil.walk_packages(calgen.__path__, "calgen.")
        if info.name != "calgen.__main__"
    ]


def _classes() -> list[type]:
    """Every class defined in a calgen module."""
    return [
        value
        for module in _modules()
        for value in vars(module).values()
        if inspect.isclass(value) and value.__module__ == module.__name__
    ]


def _exception_classes() -> list[type[BaseException]]:
    return [
        c for c in _classes() if issubclass(c, BaseException) and not c.__name__.startswith("_")
    ]


def test_every_public_exception_derives_from_calgen_error() -> None:
    classes = _exception_classes()
    names = {f"{c.__module__}.{c.__qualname__}" for c in classes}
    assert {
        "calgen.release.ReleaseError",
        "calgen.schedule.TimeProblem",
        "calgen.notify.state.NotifyError",
        "calgen.load.SharedPathError",
    } <= names
    outside = sorted(
        n
        for c, n in ((c, f"{c.__module__}.{c.__qualname__}") for c in classes)
        if not issubclass(c, CalgenError)
    )
    assert outside == []


# Filled in step by step while they are made, so not frozen.
MUTABLE = {
    "calgen.errors.Diagnostics",  # collects errors and warnings during a run
    "calgen.load.Document",  # the YAML loader fills in values and positions
    "calgen.load._Frame",  # a mapping or sequence the loader is building
    "calgen.release.Plan",  # new-release's plan, built move by move
}


def test_every_dataclass_is_keyword_only_and_frozen_unless_listed() -> None:
    dataclass_types = [c for c in _classes() if dataclasses.is_dataclass(c)]
    assert len(dataclass_types) > 40  # the walk found them
    names = {c: f"{c.__module__}.{c.__qualname__}" for c in dataclass_types}
    positional = sorted(
        names[c] for c in dataclass_types if not all(f.kw_only for f in dataclasses.fields(c))
    )
    assert positional == []
    mutable = {
        names[c]
        for c in dataclass_types
        if not c.__dataclass_params__.frozen  # type: ignore[attr-defined]
    }
    assert mutable == MUTABLE
