"""Installs are reproducible: constraints.txt pins every package the project asks for, and
the environment the tests run in is the pinned one (CONTRIBUTING.md: refreshing the pins,
and running against the newest releases on purpose with CALGEN_UNLOCKED=1)."""

from __future__ import annotations

import os
import re
import tomllib
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import ROOT


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        found = re.match(r"([A-Za-z0-9._-]+)==([^\s;]+)", line)
        if found:
            pins[canonicalize_name(found[1])] = found[2]
    return pins


def _asked_for() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    named = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        named += extra
    return [Requirement(text) for text in named]


def test_constraints_pin_every_requirement_within_its_range() -> None:
    pins = _pins()
    for requirement in _asked_for():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]} outside pyproject's {requirement}"
        )


@pytest.mark.skipif(
    os.environ.get("CALGEN_UNLOCKED") == "1", reason="running against the newest releases"
)
def test_the_tests_run_on_the_pinned_versions() -> None:
    off = {}
    for name, pinned in _pins().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # a platform's marker left it out
        if Version(installed) != Version(pinned):
            off[name] = f"{installed} installed, {pinned} pinned"
    assert off == {}, "not installed from constraints.txt (see CONTRIBUTING.md)"
