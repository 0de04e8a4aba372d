"""Shared fixtures: the seed runbooks, built once per session, and the golden switch."""

from __future__ import annotations

from collections.abc import Iterator
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


@pytest.fixture(scope="session", autouse=True)
def _own_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """calgen's cache (templates, holidays) in a temporary folder, never the developer's;
    subprocesses inherit it through the environment."""
    folder = tmp_path_factory.mktemp("calgen-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CALGEN_CACHE_DIR", str(folder))
        yield folder


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


GOLDEN = Path(__file__).resolve().parent / "golden"


def check_golden(name: str, data: bytes, update: bool) -> None:
    """`data` equals tests/golden/<name>; with --update-golden it becomes it (review the diff)."""
    golden = GOLDEN / name
    if update:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(data)
    assert golden.exists(), f"no golden file {name}: run pytest --update-golden and review it"
    if name.endswith((".html", ".md")):  # text: pytest shows a readable diff
        assert data.decode("utf-8") == golden.read_text(encoding="utf-8")
    else:
        assert data == golden.read_bytes(), f"{name} differs from its golden file"
