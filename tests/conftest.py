"""Shared fixtures: the seed runbooks, built once per session, and the golden switch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from calgen.runbook.model import Runbook
from calgen.runbook.validate import load_runbook
from calgen.site.outputs import render_all

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

# The browser tests' fixtures (the built site, Chromium, a tab per page and width).
pytest_plugins = ["tests.pages"]


def check_golden(name: str | Path, data: bytes | str, update: bool) -> None:
    """`data` equals its golden file: tests/golden/<name>, or the path given (a validation
    snapshot beside its runbook). With --update-golden it becomes it (review the diff)."""
    golden = name if isinstance(name, Path) else GOLDEN / name
    if update:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    assert golden.exists(), f"no golden file {golden.name}: run pytest --update-golden, review it"
    if isinstance(data, str) or golden.suffix in (".html", ".md"):  # pytest shows a text diff
        text = data if isinstance(data, str) else data.decode("utf-8")
        assert text == golden.read_bytes().decode("utf-8")
    else:
        assert data == golden.read_bytes(), f"{golden.name} differs from its golden file"
