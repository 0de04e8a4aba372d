"""`calgen notify` when things go wrong, against real servers on 127.0.0.1.

Each test counts deliveries per recipient: nothing is lost, and a message arrives twice
only in the documented window (handed over, accepted, but not recorded), then with the
same Message-ID.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import random
import resource
import shutil
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from calgen.cli import main
from tests.conftest import ROOT

AT = "2022-03-29 17:30"  # 3.1.3's 1-working-day reminder for gemeenten is due
FAST = ("--smtp-timeout", "0.5")  # a server that says nothing is given up on quickly


def _addresses(n: int) -> list[str]:
    return [f"planner{i:03d}@gemeente{i:03d}.example.nl" for i in range(n)]


class Server:
    """An aiosmtpd handler that fails on request and remembers every accepted message."""

    def __init__(self) -> None:
        self.accepted: list[EmailMessage] = []
        self.rcpt_to: list[str] = []
        self.refuse: dict[str, str] = {}  # address -> reply for RCPT, every time
        self.once: dict[str, str] = {}  # address -> reply for RCPT, the first time only
        self.close_after: int | None = None  # 421 once a connection carried this many
        self.drop_in_data: set[str] = set()  # drop the connection at the end of DATA...
        self.deliver_then_drop = False  # ...after keeping the message (the window)
        self.hang_in_data: set[str] = set()  # say nothing at the end of DATA, once
        self.refuse_sender = ""  # reply to MAIL FROM, when set
        self.delay = 0.0  # seconds before each reply to DATA: a slow server
        self.per_session: Counter[int] = Counter()
        self.lock = threading.Lock()

    async def handle_MAIL(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.refuse_sender:
            return self.refuse_sender
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        if address in self.once:
            return self.once.pop(address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        rcpt = envelope.rcpt_tos[0]
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.close_after is not None and self.per_session[id(session)] >= self.close_after:
            return "421 4.7.0 too many messages on one connection, closing"
        if rcpt in self.hang_in_data:
            self.hang_in_data.discard(rcpt)
            await asyncio.sleep(3)  # the client has given up long before
            return "451 too late"
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        if rcpt in self.drop_in_data:
            self.drop_in_data.discard(rcpt)
            if self.deliver_then_drop:
                self._keep(parsed, rcpt)
            server.transport.abort()  # no reply to the final dot
            return "250 unheard"
        self._keep(parsed, rcpt)
        self.per_session[id(session)] += 1
        return "250 OK"

    def _keep(self, message: EmailMessage, rcpt: str) -> None:
        with self.lock:
            self.accepted.append(message)
            self.rcpt_to.append(rcpt)

    def count(self) -> Counter[str]:
        with self.lock:
            return Counter(self.rcpt_to)

    def ids(self, rcpt: str) -> list[str]:
        with self.lock:
            return [
                str(m["Message-ID"])
                for m, r in zip(self.accepted, self.rcpt_to, strict=True)
                if r == rcpt
            ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def server() -> Iterator[tuple[Server, str]]:
    handler = Server()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()


def _workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n: int) -> list[str]:
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    (tmp_path / "runbooks" / "iwmo-2.1-2.2.yaml").unlink()
    people = _addresses(n)
    lines = "\n".join(f"    - {a}" for a in people)
    (tmp_path / "subscribers.yaml").write_text(
        f'from: "Draaiboek <draaiboek@example.org>"\nsubscribers:\n  gemeenten:\n{lines}\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    return people


def _notify(url: str, *args: str) -> int:
    return main(["notify", "--subscribers", "subscribers.yaml", "--at", AT, "--smtp", url, *args])


def _once_each(handler: Server, people: list[str]) -> None:
    assert handler.count() == Counter(dict.fromkeys(people, 1))


def test_550_for_one_address_is_recorded_reported_and_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: tuple[Server, str], capsys: Any
) -> None:
    people = _workspace(tmp_path, monkeypatch, 5)
    handler, url = server
    handler.refuse[people[1]] = "550 5.1.1 mailbox unknown"
    assert _notify(url) == 1
    err = capsys.readouterr().err
    assert f"refused, not retried: {people[1]}: 550 5.1.1 mailbox unknown" in err
    assert "4 message(s) sent; 1 refused, 0 deferred" in err
    _once_each(handler, [p for p in people if p != people[1]])  # everyone after it too
    assert _notify(url) == 0  # not retried: nothing more goes out
    assert "0 message(s) sent; 0 refused" in capsys.readouterr().err
    assert handler.count()[people[1]] == 0


@pytest.mark.parametrize("reply", ["451 4.7.1 greylisted, try later", "452 4.2.2 mailbox full"])
def test_4xx_once_stays_queued_and_goes_next_run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    server: tuple[Server, str],
    capsys: Any,
    reply: str,
) -> None:
    people = _workspace(tmp_path, monkeypatch, 4)
    handler, url = server
    handler.once[people[0]] = reply
    assert _notify(url) == 1
    err = capsys.readouterr().err
    assert f"deferred, stays queued for the next run: {people[0]}: {reply}" in err
    assert "3 message(s) sent; 0 refused, 1 deferred" in err
    assert _notify(url) == 0
    assert "1 message(s) sent" in capsys.readouterr().err
    _once_each(handler, people)


def test_421_after_n_reconnects_and_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: tuple[Server, str], capsys: Any
) -> None:
    people = _workspace(tmp_path, monkeypatch, 12)
    handler, url = server
    handler.close_after = 5
    assert _notify(url) == 0, capsys.readouterr().err
    assert "12 message(s) sent; 0 refused, 0 deferred" in capsys.readouterr().err
    _once_each(handler, people)
    assert len(handler.per_session) == 3  # 5 + 5 + 2: reused, reconnected twice


def test_a_refused_sender_stops_the_run_and_keeps_the_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: tuple[Server, str], capsys: Any
) -> None:
    people = _workspace(tmp_path, monkeypatch, 4)
    handler, url = server
    handler.refuse_sender = "553 5.7.1 sender not allowed"
    assert _notify(url) == 1
    err = capsys.readouterr().err
    assert "the server refuses the sender draaiboek@example.org: 553 5.7.1" in err
    assert "0 message(s) sent" in err
    assert "what was not sent stays queued" in err
    handler.refuse_sender = ""
    assert _notify(url) == 0
    _once_each(handler, people)


def test_dropped_during_data_before_delivery_sends_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: tuple[Server, str], capsys: Any
) -> None:
    people = _workspace(tmp_path, monkeypatch, 4)
    handler, url = server
    handler.drop_in_data = {people[2]}
    assert _notify(url) == 0, capsys.readouterr().err
    _once_each(handler, people)


def test_dropped_after_delivery_is_the_duplicate_window_with_the_same_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: tuple[Server, str], capsys: Any
) -> None:
    """The server kept the message but its reply never came: SMTP cannot tell, so it goes
    again, on a new connection, with the same Message-ID (RFC 1047's duplicate problem)."""
    people = _workspace(tmp_path, monkeypatch, 4)
    handler, url = server
    handler.drop_in_data, handler.deliver_then_drop = {people[2]}, True
    assert _notify(url) == 0, capsys.readouterr().err
    counts = handler.count()
    assert counts[people[2]] == 2
    first, second = handler.ids(people[2])
    assert first == second
    assert all(counts[p] == 1 for p in people if p != people[2])


def test_no_reply_in_data_times_out_reconnects_and_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: tuple[Server, str], capsys: Any
) -> None:
    people = _workspace(tmp_path, monkeypatch, 4)
    handler, url = server
    handler.hang_in_data = {people[1]}
    started = time.monotonic()
    assert _notify(url, *FAST) == 0, capsys.readouterr().err
    assert time.monotonic() - started < 2.5  # the 0.5 s timeout, not the server's 3 s
    _once_each(handler, people)


def test_server_that_never_answers_sends_nothing_and_keeps_the_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: tuple[Server, str], capsys: Any
) -> None:
    people = _workspace(tmp_path, monkeypatch, 3)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        assert _notify(f"smtp://127.0.0.1:{port}", *FAST) == 1
    err = capsys.readouterr().err
    assert "nothing was sent" in err
    assert "Traceback" not in err
    handler, url = server
    assert _notify(url) == 0
    _once_each(handler, people)


# --------------------------------------------------------------------------- processes


def _child(args: list[str], limit_bytes: int | None = None) -> int:
    """Run `calgen notify` in a forked process (no interpreter start-up); its pid."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 70
        try:
            if limit_bytes is not None:  # a full disk: writes past this size fail
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.dup2(devnull, 1)
            code = main(args)
        finally:
            os._exit(code)
    return pid


def _wait(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _args(url: str, *more: str) -> list[str]:
    return ["notify", "--subscribers", "subscribers.yaml", "--at", AT, "--smtp", url, *more]


def test_two_runs_at_once_send_each_message_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: tuple[Server, str]
) -> None:
    people = _workspace(tmp_path, monkeypatch, 60)
    handler, url = server
    # the second waits for the first (bounded), then finds nothing left to send
    pids = [_child(_args(url, "--lock-wait", "20")) for _ in range(2)]
    assert [_wait(p) for p in pids] == [0, 0]
    _once_each(handler, people)


def _until(handler: Server, received: int) -> None:
    """Wait (bounded) until the server has accepted `received` messages."""
    deadline = time.monotonic() + 30
    while sum(handler.count().values()) < received:
        assert time.monotonic() < deadline, "the first run sent nothing"
        time.sleep(0.02)


def test_removing_the_lock_file_between_two_runs_cannot_duplicate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: tuple[Server, str]
) -> None:
    """A tmp cleaner or `rm *.lock` while a run delivers: the lock is the database's own."""
    people = _workspace(tmp_path, monkeypatch, 24)
    handler, url = server
    handler.delay = 0.05  # the first run takes over a second
    first = _child(_args(url))
    _until(handler, 3)
    for name in ("notify-state.sqlite.lock", ".notify-state.sqlite.lock"):
        Path(name).unlink(missing_ok=True)
    second = _child(_args(url, "--lock-wait", "30"))
    assert [_wait(first), _wait(second)] == [0, 0]
    _once_each(handler, people)  # 0 duplicates


def test_the_same_state_under_a_hard_link_cannot_duplicate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: tuple[Server, str]
) -> None:
    people = _workspace(tmp_path, monkeypatch, 24)
    handler, url = server
    assert _notify(url, "--at", "2022-03-01 09:00") == 0  # the state exists, nothing due
    os.link("notify-state.sqlite", "same-state.sqlite")
    handler.delay = 0.05
    first = _child(_args(url))
    _until(handler, 3)
    second = _child(_args(url, "--lock-wait", "30", "--state", "same-state.sqlite"))
    assert [_wait(first), _wait(second)] == [0, 0]
    _once_each(handler, people)  # 0 duplicates


def test_a_second_name_of_the_state_is_pointed_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: tuple[Server, str], capsys: Any
) -> None:
    _workspace(tmp_path, monkeypatch, 1)
    _, url = server
    assert _notify(url, "--at", "2022-03-01 09:00") == 0
    os.link("notify-state.sqlite", "backup.sqlite")
    assert _notify(url) == 0
    assert "warning: notify-state.sqlite has 2 names (hard links)" in capsys.readouterr().err


def test_a_run_that_cannot_get_the_lock_sends_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    server: tuple[Server, str],
    capsys: Any,
) -> None:
    import fcntl

    people = _workspace(tmp_path, monkeypatch, 3)
    handler, url = server
    with open("notify-state.sqlite", "a") as held:  # another run holds the state
        fcntl.flock(held, fcntl.LOCK_EX)
        assert _notify(url, "--lock-wait", "0.2") == 1
    err = capsys.readouterr().err
    assert "another calgen notify run is using this state; waited 0.2 s; nothing was sent" in err
    assert handler.count() == Counter()
    assert _notify(url) == 0
    _once_each(handler, people)


def test_sigkill_at_random_moments_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: tuple[Server, str]
) -> None:
    people = _workspace(tmp_path, monkeypatch, 120)
    handler, url = server
    chance = random.Random(20220330)  # reproducible moments, not secrets
    for _trial in range(5):
        pid = _child(_args(url))
        time.sleep(chance.uniform(0.0, 0.8))
        os.kill(pid, signal.SIGKILL)
        _wait(pid)
    assert _wait(_child(_args(url))) == 0  # the last run finishes the queue
    counts = handler.count()
    assert set(counts) == set(people)  # nothing lost
    twice = [p for p, n in counts.items() if n > 1]
    assert len(twice) <= 5  # at most one message in flight per kill
    for person in twice:  # the duplicate window: the same message, the same id
        ids = handler.ids(person)
        assert len(ids) == 2
        assert ids[0] == ids[1]


def test_a_full_disk_stops_before_anything_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: tuple[Server, str]
) -> None:
    people = _workspace(tmp_path, monkeypatch, 5)
    handler, url = server
    assert _notify(url, "--at", "2022-03-01 09:00") == 0  # a state exists, nothing due yet
    size = Path("notify-state.sqlite").stat().st_size
    assert _wait(_child(_args(url), limit_bytes=size)) == 1
    assert handler.count() == Counter()  # not one message went out
    assert _notify(url) == 0  # with room again, everything goes, once
    _once_each(handler, people)


def test_state_lost_after_sending_resends_once_with_the_same_id(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    server: tuple[Server, str],
    capsys: Any,
) -> None:
    """The disk fills up between handing a message over and recording it as sent."""
    from calgen.notify import state

    people = _workspace(tmp_path, monkeypatch, 4)
    handler, url = server
    original = state.State.finish

    def full(self: state.State, message: state.Queued, status: str, reply: str = "") -> None:
        raise state.StateError(f"{self.path}: database or disk is full")

    monkeypatch.setattr(state.State, "finish", full)
    assert _notify(url) == 1
    err = capsys.readouterr().err
    assert "database or disk is full" in err
    assert "Traceback" not in err
    assert handler.count() == Counter({people[0]: 1})  # one went; the run stopped there
    monkeypatch.setattr(state.State, "finish", original)
    assert _notify(url) == 0
    err = capsys.readouterr().err
    assert "resent with the same Message-ID" in err
    assert handler.count() == Counter({people[0]: 2, **dict.fromkeys(people[1:], 1)})
    assert len(set(handler.ids(people[0]))) == 1
