"""Shared fixtures: the seed runbooks, built once per session, and the golden switch."""

from __future__ import annotations

from pathlib import Path

import pytest

from calgen.model import Runbook, load_runbook
from calgen.publish import render_all

ROOT = Path(__file__).resolve().parent.parent
RUNBOOKS = ROOT / "runbooks"
TESTDATA = Path(__file__).resolve().parent / "testdata"
SEEDS = ("iwmo-2.1-2.2", "iwmo-ijw-3.0-3.1")
BASE_URL = "https://draaiboeken.example.org"  # as in pyproject.toml [tool.calgen]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite golden files from the current output instead of comparing",
    )


@pytest.fixture(scope="session")
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture(scope="session")
def seed_runbooks() -> dict[str, Runbook]:
    out = {}
    for seed in SEEDS:
        runbook, _warnings = load_runbook(RUNBOOKS / f"{seed}.yaml", f"runbooks/{seed}.yaml")
        out[seed] = runbook
    return out


@pytest.fixture(scope="session")
def seed_outputs(seed_runbooks: dict[str, Runbook]) -> dict[str, bytes]:
    return render_all(seed_runbooks.values(), base_url=BASE_URL)
