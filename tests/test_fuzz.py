"""Never a traceback, and nothing written outside --out, whatever the input.

Three parts, after collective/icalendar's `tests/fuzzed/`:

- **Replay**: every file in `tests/testdata/fuzz/` (each input that ever broke calgen, the
  curated hostile values of the old property suite, the small YAML bombs) runs through
  `calgen validate` and `calgen build` in a fresh project. Exit 0, 1 or 2; no traceback;
  every message in `file:line:col: message` form; nothing changed outside the out folder;
  and the messages equal the file's `.expected` snapshot (`pytest --update-golden`
  rewrites them: review the diff). A new finding becomes a new file here.
- **Harness**: Hypothesis mutates a small runbook and its shared files (values swapped
  for odd ones, keys dropped or renamed, text cut or spliced) and checks the same
  promises. CI runs a few derandomized cases; `CALGEN_FUZZ_EXAMPLES=2000` runs more.
- **Limits**: inputs too large to keep as files (a 50 MB runbook, 2,000 nested
  mappings, a 5 MB flat list) are generated and run in a child process whose peak memory
  is read back: refused with exit 1, a message naming the file, in bounded memory.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from calgen.cli import main
from tests.conftest import ROOT, TESTDATA

FUZZ = TESTDATA / "fuzz"
SHARED = ROOT / "runbooks" / "shared"
# support files (a shared file a case uses) start with `bad-`; every other file is a case
CASES = sorted(p.stem for p in FUZZ.glob("*.yaml") if not p.name.startswith("bad-"))
BASE = TESTDATA / "valid" / "dst-2022.yaml"
DIAGNOSTIC = re.compile(r"^[^:\n]+:\d+:\d+: \S")
SUMMARY = re.compile(
    r"^(build stopped: nothing was written|\d+ runbook\(s\) valid"
    r"|built \d+ runbook\(s\): \d+ of \d+ file\(s\) changed in .*)$"
)
EXAMPLES = int(os.environ.get("CALGEN_FUZZ_EXAMPLES", "8"))


# --------------------------------------------------------------------------- the checks


class EscapedError(AssertionError):
    """calgen raised instead of reporting."""


def _cli(argv: list[str]) -> tuple[int, str]:
    """`calgen ARGV` in-process: (exit code, stderr). Any exception fails the case."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
    except SystemExit as exc:  # argparse: usage errors
        code = exc.code if isinstance(exc.code, int) else 2
    except BaseException as exc:  # blind on purpose: exactly what is being looked for
        trace = "".join(traceback.format_exception(exc))
        raise EscapedError(f"calgen {' '.join(argv)} raised:\n{trace}") from None
    return code, err.getvalue()


def _snapshot(folder: Path, skip: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>"
        for p in folder.rglob("*")
        if not p.is_relative_to(skip) and not p.is_symlink()
    }


def run_case(project: Path, runbook: str) -> str:
    """validate and build `runbooks/<runbook>` in `project` (the working directory);
    returns what calgen said, for the snapshot."""
    site = project / "site"
    before = _snapshot(project, site)
    said = []
    for argv in (["validate", runbook], ["build", runbook, "--out", "site/out"]):
        code, err = _cli(argv)
        assert code in (0, 1, 2), f"calgen {' '.join(argv)}: exit {code}\n{err}"
        assert "Traceback" not in err
        for line in err.splitlines():
            if line.startswith(("warning: ", "calgen: ", "calgen build: ")):
                continue  # notes about earlier output, refusals: not about a place
            if not (DIAGNOSTIC.match(line) or SUMMARY.match(line)):
                raise AssertionError(f"calgen {argv[0]}: a message without a position: {line}")
        if argv[0] == "build" and code == 0:
            assert (site / "out" / "index.html").is_file(), "exit 0 without a site"
        said.append(f"$ calgen {argv[0]} → exit {code}\n{err}")
    assert _snapshot(project, site) == before, "calgen wrote outside --out"
    if site.exists():
        assert {p.name for p in site.iterdir()} <= {"out", ".out.calgen-lock"}
    return "".join(said)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(SHARED, tmp_path / "runbooks" / "shared")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    return tmp_path


# --------------------------------------------------------------------------- replay


@pytest.mark.parametrize("case", CASES)
def test_replay(case: str, project: Path, update_golden: bool) -> None:
    for support in FUZZ.glob("bad-*.yaml"):
        shutil.copy(support, project / "runbooks" / support.name)
    shutil.copy(FUZZ / f"{case}.yaml", project / "runbooks" / f"{case}.yaml")
    said = run_case(project, f"runbooks/{case}.yaml")
    expected = FUZZ / f"{case}.expected"
    if update_golden:
        expected.write_text(said, encoding="utf-8")
    assert expected.exists(), f"no snapshot {expected.name}: run with --update-golden"
    assert said == expected.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- harness

# a Literal, not a str: mypy loses the argument's context through hypothesis' decorators
_SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
ODD_VALUES: st.SearchStrategy[object] = st.one_of(
    st.text(
        st.characters(blacklist_categories=_SURROGATES, blacklist_characters="\x00"), max_size=20
    ),
    st.integers(),
    st.sampled_from([10**400, -1, 0, 1.5, float("inf"), True, None, [], {}]),
    st.sampled_from(
        [
            "all",
            "index",
            "index.html",
            "../x",
            "/etc/passwd",
            "shared/roles.yaml",
            "P9999999999D",
            "9" * 500 + " days",
            "9" * 500 + " days after go_live",
            "1 working day after 1.1.1",
            "0 days after 1.2.3",
            "2022-03-27 02:30",
            "2022-10-30 02:30",
            "javascript:alert(1)",
            "![x](https://t.example/p.png)",
            "a | b\nc",
            "{{ 7 * 7 }}",
        ]
    ),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


@st.composite
def mutated(draw: st.DrawFn, data: Any) -> Any:
    """`data` with one to three values replaced, dropped or renamed."""
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "replace", "drop", "rename"]))
        if action == "replace":
            parent[path[-1]] = draw(ODD_VALUES)
        elif action == "drop":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["ID", "at ", "roles", "uses", "x"]))] = parent.pop(
                path[-1]
            )
    return data


@st.composite
def mutated_text(draw: st.DrawFn, text: str) -> str:
    """`text` cut, or with a line or a few bytes spliced in."""
    at = draw(st.integers(0, len(text)))
    kind = draw(st.sampled_from(["cut", "line", "chars"]))
    if kind == "cut":
        return text[:at]
    if kind == "line":
        start = text.rfind("\n", 0, at) + 1
        line = draw(st.sampled_from(["  - *x", "&x a: b", "<<: 5", "\t- x", "id: x", "? [a]"]))
        return text[:start] + line + "\n" + text[start:]
    return text[:at] + draw(st.text(min_size=1, max_size=5)) + text[at:]


def _write(project: Path, name: str, data: Any) -> None:
    (project / "runbooks" / name).write_text(
        yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )


HARNESS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
BASE_DATA = yaml.safe_load(BASE.read_text(encoding="utf-8"))
SHARED_DATA = {p.name: yaml.safe_load(p.read_text("utf-8")) for p in sorted(SHARED.glob("*.yaml"))}


@HARNESS
@given(data=st.data())
def test_mutated_runbooks_and_shared_files(project: Path, data: st.DataObject) -> None:
    target = data.draw(st.sampled_from(["runbook", *SHARED_DATA]))
    runbook = json.loads(json.dumps(BASE_DATA, default=str))
    _write(project, "case.yaml", runbook if target != "runbook" else data.draw(mutated(runbook)))
    for name, shared in SHARED_DATA.items():
        copy = json.loads(json.dumps(shared))
        _write(project, f"shared/{name}", data.draw(mutated(copy)) if name == target else copy)
    shutil.rmtree(project / "site", ignore_errors=True)
    run_case(project, "runbooks/case.yaml")


@HARNESS
@given(data=st.data())
def test_mutated_runbook_text(project: Path, data: st.DataObject) -> None:
    text = BASE.read_text(encoding="utf-8")
    (project / "runbooks" / "case.yaml").write_text(data.draw(mutated_text(text)), "utf-8")
    shutil.rmtree(project / "site", ignore_errors=True)
    run_case(project, "runbooks/case.yaml")


# --------------------------------------------------------------------------- limits


TIMEOUT = 60  # a guard against hanging, not a measure of speed
MEMORY_GUARD = 3 * 1024**3  # address-space limit of calgen: a runaway fails, not the host
PEAK_BOUND_MB = 500
# calgen, as its command line runs it, under an address-space limit.
CHILD = f"""
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_GUARD}, {MEMORY_GUARD}))
from calgen.cli import main
sys.exit(main(sys.argv[1:]))
"""
# A small launcher (no site, a few MB) runs calgen and reports its exit code and peak RSS
# from RUSAGE_CHILDREN. Not measured from this process: Linux carries the RSS of the
# process that forks over into the child's ru_maxrss, and pytest is large.
LAUNCHER = f"""
import json, resource, subprocess, sys
try:
    code = subprocess.run(
        [sys.executable, "-c", sys.argv[1], *sys.argv[2:]],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout={TIMEOUT},
    ).returncode
except subprocess.TimeoutExpired:
    code = "timeout"
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({{"code": code, "peak_kib": peak}}))
"""


def _run_limited(argv: list[str], cwd: Path) -> tuple[int, str, float]:
    """Run calgen in a child process: (exit code, stderr, peak RSS in MB)."""
    err_path = cwd / "stderr.txt"
    with open(err_path, "wb") as err:
        launched = subprocess.run(
            [sys.executable, "-I", "-S", "-c", LAUNCHER, CHILD, *argv],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            timeout=TIMEOUT + 30,  # the launcher stops calgen after TIMEOUT
            check=True,
        )
    stderr = err_path.read_text(encoding="utf-8", errors="replace")
    report = json.loads(launched.stdout)
    if report["code"] == "timeout":
        pytest.fail(f"calgen {' '.join(argv)} still ran after {TIMEOUT} s:\n{stderr[:5000]}")
    return report["code"], stderr, report["peak_kib"] / 1024  # KiB on Linux


def _deep_block_mappings(depth: int) -> str:
    # one space per level keeps the file small: 2,000 levels is about 2 MB
    return "".join(" " * i + f"k{i}:\n" for i in range(depth)) + " " * depth + "x\n"


def _fifty_megabytes(path: Path) -> None:
    """A well-formed runbook of 50 MB: a seed whose first milestone has 50,000 long notes."""
    head, marker, tail = (
        (ROOT / "runbooks" / "iwmo-ijw-3.0-3.1.yaml")
        .read_text(encoding="utf-8")
        .partition("\n    notes:\n")
    )
    assert marker, "the seed's first notes list moved"
    line = "      - Let op: " + "regel " * 170 + "\n"
    with open(path, "w", encoding="utf-8") as fh:
        size = fh.write(head + marker)
        while size < 50 * 1024 * 1024:
            size += fh.write(line)
        fh.write(tail)


LIMIT_CASES: dict[str, Callable[[Path], object]] = {
    "block-mappings-2000-deep": lambda p: p.write_text(_deep_block_mappings(2_000)),
    "50-megabytes": _fifty_megabytes,
    # 2.5 million nodes in 5 MB: refused at 200,000, in bounded memory
    "flat-list-just-under-5-mb": lambda p: p.write_text("[" + "0," * 2_500_000 + "0]\n"),
}


# the loader is the same for validate and build (both go through it first): validate only
@pytest.mark.parametrize("case", sorted(LIMIT_CASES))
def test_hostile_input_is_refused_quickly_in_bounded_memory(case: str, tmp_path: Path) -> None:
    path = tmp_path / f"{case}.yaml"
    LIMIT_CASES[case](path)
    code, stderr, peak_mb = _run_limited(["validate", path.name], tmp_path)
    print(f"\n{case} ({path.stat().st_size:,} bytes): exit {code}, peak {peak_mb:.0f} MB")
    assert "Traceback" not in stderr, stderr
    assert code == 1, f"exit {code}:\n{stderr[:5000]}"
    lines = stderr.splitlines()
    assert lines, "no message at all"
    assert lines[0].startswith(f"{path.name}:"), f"the message does not name the file: {lines[0]}"
    assert "refused" in stderr, f"not refused as too big or too deep:\n{stderr[:5000]}"
    assert len(lines) <= 10, "\n".join(lines[:10])
    assert peak_mb < PEAK_BOUND_MB, f"peak memory {peak_mb:.0f} MB"
