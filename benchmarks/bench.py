#!/usr/bin/env python3
"""Measure calgen against its performance targets and print the table (PASS/FAIL each).

    python benchmarks/bench.py            # 3 runs per case, the median shown
    python benchmarks/bench.py --quick    # 1 run of each large case
    python benchmarks/bench.py --json figures.json
    python benchmarks/bench.py --seeds --repeat 9   # target 2 only: the seeds and the baseline

The inputs are the 2022 seed runbook scaled up: its 17 milestones repeated (with new ids,
every tenth copy written as a relative time) to N milestones spread over R roles, with
the seed's shared files plus extra roles. Every measurement is a new process
(`python -m calgen` of the calgen installed for this Python), spawned by a tiny wrapper
that reports the child's wall time, CPU time and peak RSS (`os.wait4`; wall time only
where that does not exist). calgen's modules are byte-compiled first, as `pip install`
does for an installed package and did for the dependencies (an editable install, or
PYTHONDONTWRITEBYTECODE, would otherwise have every run compile calgen from source).
calgen's cache goes to a temporary CALGEN_CACHE_DIR filled by one warm-up build, never to
yours; one case builds the seeds with it empty. Cases run
round by round, so background load hits them alike. A report, not a test: exit 0
whatever the targets say, 1 when the benchmark itself cannot run.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import yaml

import calgen

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "runbooks" / "iwmo-ijw-3.0-3.1.yaml"
BASE_URL = "https://draaiboeken.example.org"
# The module calgen uses of each runtime dependency in pyproject.toml ([project]
# dependencies): the import baseline is all of them. A dependency missing here stops
# the script, so the baseline cannot drift from what calgen declares.
MODULES = {
    "jinja2": "jinja2",
    "pyyaml": "yaml",
    "tzdata": "tzdata",
    "holidays": "holidays",
    "babel": "babel.dates",
    "markdown-it-py": "markdown_it",
    "ruamel.yaml": "ruamel.yaml",
}


def deps_import() -> str:
    """`import ...` of every runtime dependency pyproject.toml declares."""
    declared = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    declared_deps = declared["project"]["dependencies"]
    names = [re.split(r"[<>=!~ ;\[]", d, maxsplit=1)[0].lower() for d in declared_deps]
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        raise SystemExit(f"bench: add the module of {unknown} to MODULES")
    return "import " + ", ".join(MODULES[n] for n in names)


WRAPPER = """\
import os, sys, time
t = time.perf_counter()
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, ru = os.wait4(pid, 0)
print(time.perf_counter() - t, ru.ru_utime + ru.ru_stime, ru.ru_maxrss,
      os.waitstatus_to_exitcode(status), file=open(sys.argv[1], "w"))
"""
RSS_UNIT = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux


def scale(folder: Path, n: int, r: int) -> tuple[Path, Path]:
    """The seed with `n` milestones over `r` roles, and the same events for yaml2ics."""
    from calgen.core.schedule import WorkCalendar, parse_local
    from calgen.runbook.items import summary
    from calgen.runbook.validate import load_runbook

    calendar = WorkCalendar()

    shared = folder / "shared"
    shutil.copytree(SEED.parent / "shared", shared, dirs_exist_ok=True)
    roles_data = yaml.safe_load((shared / "roles.yaml").read_text(encoding="utf-8"))
    extra = [
        {**roles_data["roles"][0], "id": f"rol-{i:02d}", "name": f"Rol {i:02d}"}
        for i in range(len(roles_data["roles"]) + 1, r + 1)
    ]
    roles_data["roles"] = roles_data["roles"][:r] + extra
    (shared / "roles.yaml").write_text(yaml.safe_dump(roles_data, allow_unicode=True), "utf-8")
    role_ids = [role["id"] for role in roles_data["roles"]]

    data = yaml.safe_load(SEED.read_text(encoding="utf-8"))
    go_live = parse_local(data["go_live"])
    rng = random.Random(n * 1000 + r)
    originals, milestones = data["milestones"], []
    for k in range(n):
        m, copy = dict(originals[k % len(originals)]), k // len(originals)
        section, number = m["id"].rsplit(".", 1)
        m["id"] = f"{section}.{int(number) + 10 * copy}"  # parts stay within 4 digits
        if copy:
            m["roles"] = rng.sample(role_ids, k=min(len(m["roles"]), len(role_ids)))
        at = parse_local(m["at"]) if "at" in m else None
        if copy % 10 == 1 and at and at < go_live and calendar.is_working(at.date()):
            days = calendar.distance(at.date(), go_live.date())
            m["at"] = f"{days} working days before go_live at {at:%H:%M}"
        milestones.append(m)
    data["milestones"] = milestones
    data["id"] = f"bench-{n}-{r}"
    runbook = folder / f"bench-{n}-{r}.yaml"
    runbook.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")

    loaded, _ = load_runbook(runbook)
    events = [
        {
            "summary": summary(m),
            "uid": f"{m.id}@bench",
            "description": "\n".join([m.description, *m.notes]),
            "begin": m.start.replace(tzinfo=None),  # wall-clock times, as yaml2ics reads them
            "end": (m.end or m.start).replace(tzinfo=None),
        }
        for m in loaded.milestones
    ]
    reference = folder / f"yaml2ics-{n}.yaml"
    reference.write_text(
        yaml.safe_dump({"name": loaded.title, "timezone": "Europe/Amsterdam", "events": events}),
        encoding="utf-8",
    )
    return runbook, reference


def run(cmd: list[str], work: Path, env: dict[str, str]) -> dict[str, float]:
    """One run of `cmd` in a new process: wall and CPU seconds, peak RSS in bytes."""
    result = work / "result.txt"
    subprocess.run(
        [sys.executable, "-S", "-c", WRAPPER, str(result), *cmd],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    wall, cpu, rss, code = result.read_text().split()
    if int(code):
        raise SystemExit(f"bench: `{' '.join(cmd[2:4])} ...` exited {code}")
    return {"wall": float(wall), "cpu": float(cpu), "rss": int(rss) * RSS_UNIT}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 run of each large case")
    parser.add_argument("--repeat", type=int, default=3, metavar="N", help="runs per case (3)")
    parser.add_argument("--milestones", type=int, default=2000, metavar="N", help="(2000)")
    parser.add_argument("--large", type=int, default=10000, metavar="N", help="(10000)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures")
    parser.add_argument("--keep", action="store_true", help="keep the generated runbooks")
    parser.add_argument(
        "--seeds", action="store_true", help="only the seeds' cases and the import baseline"
    )
    args = parser.parse_args(argv)
    if not hasattr(os, "wait4"):
        print("bench: needs os.wait4 (Linux, macOS)", file=sys.stderr)
        return 1
    has_y2i = importlib.util.find_spec("yaml2ics") is not None
    compileall.compile_dir(Path(calgen.__file__).parent, quiet=1)
    mid, big, py = args.milestones, args.large, sys.executable
    work = Path(tempfile.mkdtemp(prefix="calgen-bench-"))
    env = {**os.environ, "CALGEN_CACHE_DIR": str(work / "cache")}
    build = [py, "-m", "calgen", "build", "--base-url", BASE_URL, "--out", str(work / "out")]
    seeds = [str(p) for p in sorted(SEED.parent.glob("*.yaml"))]
    try:
        sizes = () if args.seeds else ((mid, 4), (mid, 8), (mid, 32), (big, 8))
        inputs = {(n, r): scale(work / f"in-{n}x{r}", n, r) for n, r in sizes}
        cases: dict[str, list[str]] = {
            "import of runtime deps": [py, "-c", deps_import()],
            "seeds: build": build + seeds,
            "seeds: build, empty cache": build + seeds,
            "seeds: validate": [py, "-m", "calgen", "validate", *seeds],
            **{f"{n}x{r}: build": [*build, str(inputs[n, r][0])] for n, r in inputs},
        }
        if inputs:
            cases[f"{big}x8: validate"] = [py, "-m", "calgen", "validate", str(inputs[big, 8][0])]
        if has_y2i and inputs:
            cases[f"{mid} events: yaml2ics"] = [py, "-m", "yaml2ics", str(inputs[mid, 8][1])]
        run(build + seeds, work, env)  # warm-up: byte-code and calgen's cache
        load = [os.getloadavg()[0]]
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in cases}
        large = {name for name in cases if name.startswith((str(mid), str(big)))}
        for round_ in range(args.repeat):
            for name, cmd in cases.items():
                if round_ and args.quick and name in large:
                    continue
                shutil.rmtree(work / "out", ignore_errors=True)
                if "empty cache" in name:
                    shutil.rmtree(work / "cold", ignore_errors=True)
                cold = {**env, "CALGEN_CACHE_DIR": str(work / "cold")}
                samples[name].append(run(cmd, work, cold if "empty cache" in name else env))
                print(
                    f"  {round_ + 1}/{args.repeat} {name:<28} {samples[name][-1]['wall']:6.2f} s",
                    file=sys.stderr,
                    flush=True,
                )
        load.append(os.getloadavg()[0])
    finally:
        if args.keep:
            print(f"bench: the generated runbooks are kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    figures = {
        name: {key: statistics.median(s[key] for s in runs) for key in ("wall", "cpu", "rss")}
        for name, runs in samples.items()
    }
    runs = {name: len(s) for name, s in samples.items()}
    report(figures, mid, big, args.json, runs=runs, load=(load[0], load[-1]))
    return 0


TARGETS = [  # (text, numerator case, denominator case, limit, test)
    ("{mid}x8 build >= 5x faster than yaml2ics", "{mid} events: yaml2ics", "{mid}x8: build",
     ">= 5x", lambda x: x >= 5),
    ("seeds build <= 1.5x import of runtime deps", "seeds: build", "import of runtime deps",
     "<= 1.5x", lambda x: x <= 1.5),
    ("{mid} milestones: 32 roles <= 1.3x 4 roles", "{mid}x32: build", "{mid}x4: build",
     "<= 1.3x", lambda x: x <= 1.3),
    ("{big} milestones <= 5x {mid} (8 roles, build)", "{big}x8: build", "{mid}x8: build",
     "<= 5x", lambda x: x <= 5),
]  # fmt: skip


def report(
    f: dict[str, dict[str, float]],
    mid: int,
    big: int,
    out: Path | None,
    *,
    runs: dict[str, int] | None = None,
    load: tuple[float, float] | None = None,
) -> None:
    """The cases' medians, then each target: the ratio of wall times (what the targets
    mean) and of CPU times (less disturbed by other jobs: if they disagree, the machine
    was busy). `runs`: how many runs each median is of; `load`: the 1-minute load
    average when the measured rounds began and ended."""
    rows = []
    for text, a, b, limit, test in TARGETS:
        a, b = a.format(mid=mid, big=big), b.format(mid=mid, big=big)
        wall = f[a]["wall"] / f[b]["wall"] if a in f and b in f else None
        cpu = f[a]["cpu"] / f[b]["cpu"] if a in f and b in f else None
        rows.append((text.format(mid=mid, big=big), wall, cpu, limit, test))
    large = [f[name]["rss"] for name in (f"{big}x8: build", f"{big}x8: validate") if name in f]
    peak = max(large) / 2**20 if large else None
    rows.append((f"peak RSS at {big} milestones, MB", peak, None, "< 200", lambda x: x < 200))

    print(f"\n{'case':<30} {'wall':>8} {'cpu':>8} {'peak RSS':>9} {'runs':>5}")
    for name, x in f.items():
        n = (runs or {}).get(name, 0)
        print(
            f"{name:<30} {x['wall']:>6.2f} s {x['cpu']:>6.2f} s {x['rss'] / 2**20:>6.0f} MB {n:>5}"
        )
    if load:
        print(
            f"(medians; 1-minute load average {load[0]:.2f} at the start, {load[1]:.2f} at the end)"
        )
    print(f"\n{'#':<2} {'target':<46} {'wall':>7} {'cpu':>7} {'limit':>8}  result")
    results = []
    for i, (text, wall, cpu, limit, test) in enumerate(rows, 1):
        ok = None if wall is None else bool(test(wall))
        no_y2i = i == 1 and f"{mid}x8: build" in f  # measured, but yaml2ics is missing
        missing = "n/a (pip install yaml2ics)" if no_y2i else "n/a (not measured)"
        result = missing if ok is None else ("PASS" if ok else "FAIL")
        shown = [("-" if v is None else f"{v:.2f}") for v in (wall, cpu)]
        print(f"{i:<2} {text:<46} {shown[0]:>7} {shown[1]:>7} {limit:>8}  {result}")
        results.append({"target": text, "wall": wall, "cpu": cpu, "limit": limit, "pass": ok})
    seeds = results[1]  # target 2, the tight one, once more in words
    if seeds["wall"] is not None:
        print(
            f"\nseeds build / import of runtime deps: {seeds['wall']:.2f}x wall, "
            f"{seeds['cpu']:.2f}x cpu (limit {seeds['limit']}): "
            f"{'PASS' if seeds['pass'] else 'FAIL'}"
        )
    if out:
        figures = {"cases": f, "targets": results, "runs": runs, "load": load}
        out.write_text(json.dumps(figures, indent=2), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
