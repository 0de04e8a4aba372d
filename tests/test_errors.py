"""Rules of calgen's own code, checked over every module: one exception root (everything
calgen raises at a user derives from CalgenError), and data types that are keyword-only
dataclasses, frozen unless they are made to be filled in."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
import shutil
from pathlib import Path
from types import ModuleType

import calgen
from calgen.core.errors import CalgenError


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
        "calgen.replan.release.ReleaseError",
        "calgen.core.schedule.TimeError",
        "calgen.notify.state.NotifyError",
        "calgen.runbook.load.SharedPathError",
    } <= names
    outside = sorted(
        n
        for c, n in ((c, f"{c.__module__}.{c.__qualname__}") for c in classes)
        if not issubclass(c, CalgenError)
    )
    assert outside == []


# Filled in step by step while they are made, so not frozen.
MUTABLE = {
    "calgen.core.errors.Diagnostics",  # collects errors and warnings during a run
    "calgen.runbook.load.Document",  # the YAML loader fills in values and positions
    "calgen.runbook.load._Frame",  # a mapping or sequence the loader is building
    "calgen.notify.deliver.RunTally",  # what a notify run has done so far
    "calgen.replan.release.Plan",  # new-release's plan, built move by move
    "calgen.replan.release._Replanning",  # moves the times, filling in the plan
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


# ------------------------------------------------------------------------------ layers

# The package tree is the pipeline, lowest layer first; a module may import only from
# its own layer or a lower one. site/ and replan/ stand side by side: neither imports the
# other. `calgen` itself (the version) is below everything, `calgen.__main__` above.
LAYERS = {
    "calgen": 0,
    "calgen.core": 1,
    "calgen.runbook": 2,
    "calgen.render": 3,
    "calgen.site": 4,
    "calgen.replan": 4,
    "calgen.notify": 5,
    "calgen.cli": 6,
    "calgen.__main__": 7,
}


def _layer(module: str) -> str:
    """`calgen.render.ical.feeds` -> `calgen.render`; names directly in calgen -> `calgen`."""
    parts = module.split(".")
    top = ".".join(parts[:2])
    return top if top in LAYERS else "calgen"


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, module) of every calgen import in a file, those inside functions too."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            # `from calgen import cache` imports the module calgen.cache
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] == "calgen"]


def upward_imports(root: Path) -> list[str]:
    """Every import that goes up a layer or sideways to another layer of the same rank."""
    bad: list[str] = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root.parent).with_suffix("")
        module = ".".join(relative.parts[:-1] if path.name == "__init__.py" else relative.parts)
        own = _layer(module)
        assert module in LAYERS or own != "calgen", f"{module} is in no layer of LAYERS"
        for line, imported in _imports(path, module):
            other = _layer(imported)  # calgen.__version__: calgen's own layer 0
            if other != own and LAYERS.get(other, 0) >= LAYERS[own]:
                bad.append(f"{path.relative_to(root.parent)}:{line}: {own} imports {imported}")
    return bad


def test_imports_only_go_down_the_layers() -> None:
    assert upward_imports(Path(calgen.__file__).parent) == []


def test_the_layer_check_finds_an_upward_import(tmp_path: Path) -> None:
    tree = tmp_path / "calgen"
    shutil.copytree(Path(calgen.__file__).parent, tree)
    target = tree / "core" / "errors.py"
    target.write_text(target.read_text() + "\nfrom calgen.render import templating\n")
    assert [line.split(": ", 1)[1] for line in upward_imports(tree)] == [
        "calgen.core imports calgen.render.templating"
    ]
