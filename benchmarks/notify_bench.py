#!/usr/bin/env python3
"""Benchmark `calgen notify` at national scale (issue "Notify at national scale").

    python benchmarks/notify_bench.py                    # 10,000 recipients
    python benchmarks/notify_bench.py --also 100000      # plus peak memory at 100,000
    python benchmarks/notify_bench.py --skip-compare     # only the change-notice case

In a temporary folder: the 2022 runbook, a subscribers file with N addresses for
`gemeenten`, and an aiosmtpd server on 127.0.0.1 (a thread of this process) that counts
what it accepts. Two cases, each a fresh process, in the same run against the same server:

- `smtplib loop`: compose N two-part (text + HTML) `EmailMessage`s of the same size as
  calgen's and send them over one `smtplib` connection: the floor for any Python sender;
- `calgen notify`: `python -m calgen notify --smtp ... --at "2022-03-29 17:30"` with a new
  state database: load and validate the runbook, queue N messages, deliver them.

Wall time is spawn to exit, peak memory the child's `ru_maxrss` (`os.wait4`). Targets:
calgen within 1.3x the loop, peak memory <= 150 MB (every message with its List-Unsubscribe
token link and footer; 100 more subscribers on the suppression list, checked and
skipped); at 100,000 the memory should not grow with the audience. The state's size
per message is printed too (it is pruned after the retention period, so this is what a
year of messages costs).

A third case (issue 19): change notices to 10,000 subscriber entries over the four roles,
1,800 addresses in two to four roles each, for a published version that moves a milestone
of every role, into an outbox: every mailbox must get exactly one notice.

This is a report, not a test: exit 0 whether targets pass or not (the notice case exits
1 when a mailbox gets more or less than one notice).
"""

from __future__ import annotations

import argparse
import email.policy
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
AT = "2022-03-29 17:30"
EARLY = "2021-11-24 09:00"  # before any reminder of the 2022 runbook
ROLES = ("gemeenten", "zorgaanbieders", "vecozo", "inlichtingenbureau")
MOVED = ("3.1.2", "3.1.3", "3.2.1")  # one milestone of every role, all 30 March 17:00

LOOP = r"""
import smtplib, sys
from email.message import EmailMessage
from email.headerregistry import Address
from email.utils import format_datetime
import datetime as dt
n, port, text, html = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
date = format_datetime(dt.datetime.now(dt.UTC))
smtp = smtplib.SMTP("127.0.0.1", port)
for i in range(n):
    m = EmailMessage()
    m["Subject"] = "Herinnering Landelijk draaiboek migratie iWmo en iJw 3.1"
    m["From"] = Address("Draaiboek", "draaiboek", "example.org")
    m["To"] = Address("", f"planner{i}", "gemeente.example.nl")
    m["Date"] = date
    m["Message-ID"] = f"<{i}@example.org>"
    m["Auto-Submitted"] = "auto-generated"
    m["Content-Language"] = "nl"
    m.set_content(text)
    m.add_alternative(html, subtype="html")
    smtp.send_message(m)
smtp.quit()
"""


class Counting:
    def __init__(self) -> None:
        self.n = 0
        self.lock = threading.Lock()
        self.sample: bytes = b""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.lock:
            self.n += 1
            if not self.sample:
                self.sample = envelope.content
        return "250 OK"


def measure(args: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak MB of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(args[:4])}...\n{err[-2000:]}")
    return wall, usage.ru_maxrss / 1024


SUPPRESSED = 100  # addresses on the suppression list, beside the N that are sent to
UNSUBSCRIBE_URL = "https://draaiboeken.example.org/afmelden"


def workspace(folder: Path, n: int, suppressed: int = 0) -> None:
    """The 2022 runbook and N + `suppressed` subscribers of gemeenten; the first
    `suppressed` of them are put on the suppression list by `run_calgen`."""
    (folder / "runbooks").mkdir()
    for name in ("iwmo-ijw-3.0-3.1.yaml", "shared"):
        src = ROOT / "runbooks" / name
        if src.is_dir():
            shutil.copytree(src, folder / "runbooks" / name)
        else:
            shutil.copy(src, folder / "runbooks" / name)
    with (folder / "subscribers.yaml").open("w", encoding="utf-8") as fh:
        fh.write('from: "Draaiboek <draaiboek@example.org>"\n')
        fh.write(f"unsubscribe: {{url: '{UNSUBSCRIBE_URL}'}}\nsubscribers:\n  gemeenten:\n")
        for i in range(suppressed):
            fh.write(f"    - left{i}@gemeente{i % 400}.example.nl\n")
        for i in range(n):
            fh.write(f"    - planner{i}@gemeente{i % 400}.example.nl\n")
    (folder / "suppressed.txt").write_text(
        "".join(f"left{i}@gemeente{i % 400}.example.nl\n" for i in range(suppressed))
    )


def suppress(folder: Path, state: Path) -> None:
    """The addresses of suppressed.txt on the suppression list: a first run (nothing is
    due yet) makes the state, calgen puts the first address on it, the rest are written
    as calgen writes them."""
    left = (folder / "suppressed.txt").read_text().split()
    if not left:
        return
    calgen = [sys.executable, "-m", "calgen", "notify", "--state", str(state)]
    subprocess.run(
        [*calgen, "runbooks", "--subscribers", "subscribers.yaml", "--at", EARLY,
         "--outbox", str(folder / "early")],
        cwd=folder, check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run([*calgen, "--unsubscribe", left[0]], cwd=folder, check=True, capture_output=True)
    db = sqlite3.connect(state)
    with db:
        db.executemany(
            "INSERT INTO suppressed VALUES (?, '*', '2022-01-01T00:00:00Z', 'operator')",
            [(a,) for a in left[1:]],
        )
    db.close()


def state_size(folder: Path) -> str:
    """Bytes per message in the state a run left."""
    path = folder / "notify-state.sqlite"
    db = sqlite3.connect(path)
    try:
        (n,) = db.execute("SELECT count(*) FROM messages").fetchone()
    finally:
        db.close()
    size = path.stat().st_size
    return f"state {size / 1e6:.1f} MB for {n} messages ({size / max(n, 1):.0f} bytes each)"


def run_calgen(folder: Path, port: int, outbox: bool = False) -> tuple[float, float]:
    state = folder / "notify-state.sqlite"
    for leftover in folder.glob("notify-state.sqlite*"):
        leftover.unlink()
    suppress(folder, state)
    target = (
        ["--outbox", str(folder / "outbox")] if outbox else ["--smtp", f"smtp://127.0.0.1:{port}"]
    )
    return measure(
        [sys.executable, "-m", "calgen", "notify", "runbooks", "--subscribers",
         "subscribers.yaml", "--at", AT, *target,
         "--state", str(state), "--dist", str(folder / "no-dist")],
        folder,
    )  # fmt: skip


def compare(folder: Path, n: int, port: int, handler: Counting, text: str, html: str) -> None:
    """The smtplib loop and calgen, n messages each, through the same server."""
    handler.n = 0
    loop_wall, loop_mb = measure(
        [sys.executable, "-c", LOOP, str(n), str(port), text, html], folder
    )
    assert handler.n == n, handler.n
    handler.n = 0
    cal_wall, cal_mb = run_calgen(folder, port)
    assert handler.n == n, handler.n
    ratio = cal_wall / loop_wall
    print(
        f"recipients: {n} (and {SUPPRESSED} suppressed), message size about"
        f" {len(handler.sample)} bytes"
    )
    print(f"smtplib loop   {loop_wall:7.1f} s  {loop_mb:6.0f} MB peak")
    print(f"calgen notify  {cal_wall:7.1f} s  {cal_mb:6.0f} MB peak")
    print(
        f"ratio {ratio:.2f}x (target <= 1.3x: {'PASS' if ratio <= 1.3 else 'FAIL'}),"
        f" peak {cal_mb:.0f} MB (target <= 150 MB: {'PASS' if cal_mb <= 150 else 'FAIL'})"
    )
    print(state_size(folder))


def notice_workspace(folder: Path, entries: int, multi: int) -> set[str]:
    """Subscribers over the four roles, `multi` addresses in two to four of them, `entries`
    entries in all; the 2022 runbook published as 1.0. The mailboxes (lower case)."""
    from calgen.render.changes import snapshot, to_json
    from calgen.runbook.validate import load_runbook

    workspace(folder, 0)
    chance = random.Random(19)  # a fixed draw, not a secret
    lists: dict[str, list[str]] = {role: [] for role in ROLES}
    mailboxes: set[str] = set()
    i = 0
    while sum(map(len, lists.values())) < entries:
        address = f"planner{i}@ketenpartner{i % 997}.example.nl"
        mine = chance.sample(ROLES, chance.randint(2, 4)) if i < multi else [ROLES[i % 4]]
        for role in mine:
            lists[role].append(address.upper() if role == "vecozo" else address)
        mailboxes.add(address)
        i += 1
    with (folder / "subscribers.yaml").open("w", encoding="utf-8") as fh:
        fh.write("subscribers:\n")
        for role, people in lists.items():
            fh.write(f"  {role}:\n")
            fh.writelines(f"    - {p}\n" for p in people)
    source = folder / "runbooks" / "iwmo-ijw-3.0-3.1.yaml"
    versies = folder / "dist" / "iwmo-ijw-3.0-3.1" / "versies"
    versies.mkdir(parents=True)
    runbook, _ = load_runbook(source)
    (versies / "1.0.json").write_text(to_json("1.0", snapshot(runbook)), encoding="utf-8")
    return mailboxes


def publish_new_version(folder: Path) -> None:
    """Version 1.1: MOVED a day later, published."""
    from calgen.render.changes import snapshot, to_json
    from calgen.runbook.validate import load_runbook

    source = folder / "runbooks" / "iwmo-ijw-3.0-3.1.yaml"
    text = source.read_text(encoding="utf-8").replace(
        "versions:\n", 'versions:\n  - {version: "1.1", date: 2022-03-01, note: verplaatst}\n', 1
    )
    for mid in MOVED:
        start = text.index(f'- id: "{mid}"')
        head, tail = text[:start], text[start:]
        text = head + tail.replace('at: "2022-03-30 17:00"', 'at: "2022-03-31 17:00"', 1)
    source.write_text(text, encoding="utf-8")
    runbook, _ = load_runbook(source)
    versies = folder / "dist" / "iwmo-ijw-3.0-3.1" / "versies"
    (versies / "1.1.json").write_text(to_json("1.1", snapshot(runbook)), encoding="utf-8")


def notices(folder: Path, entries: int, multi: int) -> bool:
    """The change-notice case; True when every mailbox got exactly one notice."""
    mailboxes = notice_workspace(folder, entries, multi)
    base = [sys.executable, "-m", "calgen", "notify", "runbooks", "--subscribers",
            "subscribers.yaml", "--at", EARLY, "--dist", "dist"]  # fmt: skip
    measure([*base, "--outbox", "before"], folder)  # records 1.0: nothing to tell yet
    publish_new_version(folder)
    wall, peak = measure([*base, "--outbox", "outbox"], folder)
    told: Counter[str] = Counter()
    for path in (folder / "outbox").glob("*.eml"):
        with path.open("rb") as fh:
            for line in fh:
                if line.startswith(b"To: "):
                    told[line[4:].strip().decode().lower()] += 1
                    break
    once = set(told) == mailboxes and set(told.values()) == {1}
    print(
        f"change notices: {entries} entries, {len(mailboxes)} mailboxes ({multi} in two to"
        f" four roles): {sum(told.values())} notices, at most {max(told.values())} per"
        f" mailbox ({'PASS' if once else 'FAIL'}: one per mailbox); {wall:.1f} s,"
        f" {peak:.0f} MB peak"
    )
    return once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--also", type=int, default=0, help="peak memory at this many too")
    parser.add_argument(
        "--also-outbox", action="store_true", help="the --also case into an outbox, not SMTP"
    )
    parser.add_argument("--skip-compare", action="store_true", help="no smtplib comparison")
    parser.add_argument("--notices", type=int, default=10_000, help="entries (0: skip)")
    parser.add_argument("--multi", type=int, default=1_800, help="addresses in several roles")
    options = parser.parse_args()
    ok = True

    # per-recipient unsubscribe links (an HMAC each) in every message, as in production
    os.environ["CALGEN_UNSUBSCRIBE_SECRET"] = "benchmark-secret-0123456789abcdef"
    handler = Counting()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with tempfile.TemporaryDirectory(prefix="calgen-notify-bench-") as tmp:
            folder = Path(tmp)
            n = options.recipients
            warm = folder / "warm-up"
            warm.mkdir()
            workspace(warm, 20)
            # warm-up (byte-code, template cache) and a sample of calgen's message
            run_calgen(warm, port)
            sample = email.message_from_bytes(handler.sample, policy=email.policy.default)
            parts = {p.get_content_type(): p.get_content() for p in sample.iter_parts()}
            if not options.skip_compare:
                workspace(folder, n, SUPPRESSED)
                compare(folder, n, port, handler, parts["text/plain"], parts["text/html"])
            if options.also:
                workspace_big = folder / "big"
                workspace_big.mkdir()
                workspace(workspace_big, options.also)
                handler.n = 0
                big_wall, big_mb = run_calgen(workspace_big, port, options.also_outbox)
                if options.also_outbox:
                    written = sum(1 for _ in (workspace_big / "outbox").glob("*.eml"))
                    assert written == options.also, written
                else:
                    assert handler.n == options.also, handler.n
                how = "into an outbox" if options.also_outbox else "through SMTP"
                print(
                    f"calgen notify  {big_wall:7.1f} s  {big_mb:6.0f} MB peak"
                    f" at {options.also} recipients ({how})"
                )
            if options.notices:
                (folder / "notices").mkdir()
                ok = notices(folder / "notices", options.notices, options.multi)
    finally:
        controller.stop()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
