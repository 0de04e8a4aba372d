"""Bounded work: validate and build time per 1,000 entries, from 1,000 to 20,000.

Inputs are made in a temporary folder from the 2022 seed: its milestones repeated with
new numbers in their own sections, valid, and the same runbook broken in the ways that
used to cost quadratic time (every id malformed; every time relative to a milestone that
does not exist, each getting a did-you-mean). Plus the two hostile inputs of issue 19:
a 1 MB anchored string used 200 times, and a 15,000-milestone runbook full of errors.

Each case is a new process of `python -m calgen`; wall time and peak RSS come from
`os.wait4`. Targets (PASS/FAIL, exit 0 either way; 1 only when it cannot run):
- flat: time per 1,000 entries at the largest size is at most 2x the median over all
  sizes (after subtracting a run on the bare seed, the fixed cost of starting Python and
  importing): work that grows with the square of the input shows as 5x and more there,
  while a single point's noise on a shared machine does not fail it;
- hostile: each hostile case answers within 10 s and 200 MB, with a message.

    .venv/bin/python benchmarks/scale_bench.py [--sizes 1000,5000,20000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "runbooks" / "iwmo-ijw-3.0-3.1.yaml"
KINDS = ("valid", "bad-ids", "unknown-anchors")


def make(folder: Path, n: int, kind: str) -> Path:
    """The seed with `n` milestones, valid or broken in one way throughout."""
    data = yaml.safe_load(SEED.read_text(encoding="utf-8"))
    originals = data["milestones"]
    counters: dict[str, int] = {}
    milestones = []
    for i in range(n):
        m = dict(originals[i % len(originals)])
        section = m["id"].rsplit(".", 1)[0]
        counters[section] = counters.get(section, 0) + 1
        m["id"] = f"{section}.{counters[section]}"
        if kind == "bad-ids":
            m["id"] = f"x{i}"
        elif kind == "unknown-anchors":
            for key in ("at", "start", "end"):
                m.pop(key, None)
            m["at"] = f"1 day after 9.9.{i % 9000 + 1}"
        milestones.append(m)
    data["milestones"] = milestones
    data["id"] = f"scale-{kind}-{n}"
    path = folder / f"scale-{kind}-{n}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    return path


def alias_bomb(folder: Path) -> Path:
    big = "x" * (1024 * 1024 - 300)
    lines = ["id: aliases", f"title: &s {big}", "milestones:"] + [
        f"  - {{title: *s, id: '3.1.{i}'}}" for i in range(1, 201)
    ]
    path = folder / "aliases.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(args: list[str], cwd: Path) -> tuple[float, int, int]:
    """Wall seconds, peak RSS in MB and exit code of `python -m calgen ARGS`."""
    env = {**os.environ, "CALGEN_CACHE_DIR": str(cwd / ".cache")}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "calgen", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_maxrss // 1024, os.waitstatus_to_exitcode(status)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,2000,5000,10000,20000")
    options = parser.parse_args(argv)
    sizes = [int(s) for s in options.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copytree(SEED.parent / "shared", work / "shared")
        base, _, _ = run(["validate", str(SEED)], work)  # also warms the cache
        base, _, _ = run(["validate", str(SEED)], work)
        print(f"fixed cost (validate the bare seed): {base:.2f} s\n")
        print(f"{'case':<28}{'entries':>8}{'seconds':>9}{'s/1000':>8}{'MB':>6}{'exit':>6}")
        per: dict[tuple[str, str], list[float]] = {}
        for kind in KINDS:
            for n in sizes:
                path = make(work, n, kind)
                commands = [("validate", ["validate", str(path)])]
                if kind == "valid":
                    commands.append(("build", ["build", str(path), "--out", str(work / "out")]))
                for name, args in commands:
                    wall, mb, code = run(args, work)
                    rate = max(wall - base, 0.0) / n * 1000
                    per.setdefault((kind, name), []).append(rate)
                    label = f"{name} {kind}"
                    print(f"{label:<28}{n:>8}{wall:>9.2f}{rate:>8.3f}{mb:>6}{code:>6}")
        print()
        for (kind, name), rates in per.items():
            middle = statistics.median(rates)
            ratio = rates[-1] / middle if middle > 0 else float("inf")
            verdict = "PASS" if ratio <= 2 else "FAIL"
            span = f"from {sizes[0]} to {sizes[-1]}"
            print(f"flat {name} {kind}: {ratio:.2f}x the median per 1,000 {span} {verdict}")
        hostile = [
            ("alias bomb (1 MB x 200)", alias_bomb(work)),
            ("15,000 broken milestones", make(work, 15_000, "bad-ids")),
        ]
        for label, path in hostile:
            wall, mb, code = run(["build", str(path), "--out", str(work / "out2")], work)
            verdict = "PASS" if wall <= 10 and mb <= 200 and code == 1 else "FAIL"
            print(f"hostile {label}: {wall:.2f} s, {mb} MB, exit {code} {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
