"""deploy/'s systemd units pass `systemd-analyze verify`, and the command they start is one
calgen's own grammar accepts. Without systemd-analyze the test is skipped locally with a
loud reason; in CI (CI=true) that is a failure (`.ci/run` installs systemd)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from calgen.cli import arguments
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
UNITS = sorted(p for p in DEPLOY.iterdir() if p.suffix in (".service", ".timer"))
ANALYZE = shutil.which("systemd-analyze")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
INSTALLED = "/srv/calgen/.venv/bin/calgen"  # where the units expect calgen


def _exec_start(unit: Path) -> list[str]:
    lines = unit.read_text(encoding="utf-8").splitlines()
    (line,) = [line for line in lines if line.startswith("ExecStart=")]
    return shlex.split(line.removeprefix("ExecStart="))


def test_there_are_units_to_check() -> None:
    assert {p.name for p in UNITS} >= {
        "calgen-notify.service",
        "calgen-notify.timer",
        "calgen-unsubscribe.service",
    }


@pytest.mark.parametrize("unit", [p for p in UNITS if p.suffix == ".service"], ids=str)
def test_the_service_runs_a_command_calgen_accepts(unit: Path) -> None:
    command = _exec_start(unit)
    assert command[0] == INSTALLED
    args = arguments.parse(command[1:])  # a usage error raises SystemExit
    assert args.command in ("notify", "unsubscribe-server")


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    if ANALYZE is None:
        if IN_CI:
            pytest.fail("systemd-analyze is missing in CI: .ci/run must install systemd")
        pytest.skip("SYSTEMD-ANALYZE MISSING: deploy/'s units were not verified")
    here = Path(sys.executable).parent / "calgen"  # this venv's calgen stands in for /srv's
    for unit in UNITS:
        text = unit.read_text(encoding="utf-8").replace(INSTALLED, str(here))
        (tmp_path / unit.name).write_text(text, encoding="utf-8")
    done = subprocess.run(
        [ANALYZE, "verify", *(str(tmp_path / u.name) for u in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    ours = [line for line in done.stderr.splitlines() if "calgen" in line]
    assert done.returncode == 0, done.stderr
    assert ours == []
