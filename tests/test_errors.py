"""One exception root: everything calgen raises at a user derives from CalgenError."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import calgen
from calgen.errors import CalgenError


def _exception_classes() -> list[type[BaseException]]:
    found = []
    for info in pkgutil.walk_packages(calgen.__path__, "calgen."):
        if info.name == "calgen.__main__":
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == info.name
                and not name.startswith("_")
            ):
                found.append(value)
    return found


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
