"""`calgen serve` under hostile or heavy clients (issue 19, item 8).

Reproductions: about 1,020 silent clients exhausted the file descriptors (new requests
timed out, the accept loop spun); 20 concurrent requests for a 200 MB file took 4 GB
(each read whole); every client that reset printed a traceback. Here the server is the
real command in a subprocess where it can be measured (its file descriptors, its peak
memory, its stderr), or an in-process server with short timeouts. Every server listens
on 127.0.0.1 and is stopped by the test; every loop is bounded in time and count.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from calgen.site.serve import PreviewServer, etag, make_server

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="measured through /proc/<pid>"
)
INDEX = b"<!doctype html><title>Draaiboeken</title>\n"


@dataclass
class Served:
    """`calgen serve` running as a subprocess, its stderr collected line by line."""

    proc: subprocess.Popen[str]
    port: int
    err: list[str] = field(default_factory=list)

    def get(self, path: str, timeout: float = 10) -> tuple[int, bytes]:
        return _get(self.port, path, timeout)

    def status(self, key: str) -> int:
        """A number from /proc/<pid>/status, such as VmHWM (peak resident memory, kB)."""
        text = Path(f"/proc/{self.proc.pid}/status").read_text(encoding="utf-8")
        found = re.search(rf"^{key}:\s+(\d+)", text, re.M)
        assert found, key
        return int(found.group(1))

    def open_files(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self) -> str:
        """Ctrl-C, and everything it wrote on stderr."""
        self.proc.send_signal(signal.SIGINT)
        assert self.proc.wait(timeout=30) == 0
        return "".join(self.err)


def _get(port: int, path: str, timeout: float = 10) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@contextlib.contextmanager
def _calgen_serve(root: Path, *, open_files: int = 1024) -> Iterator[Served]:
    """`calgen serve --dir root --port 0` with at most `open_files` file descriptors."""
    code = (
        "import resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_NOFILE, ({open_files}, {open_files}))\n"
        "from calgen.cli import main\n"
        f"sys.exit(main(['serve', '--dir', {str(root)!r}, '--port', '0']))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    watchdog = threading.Timer(120, proc.kill)  # never outlives a stuck test
    watchdog.start()
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        found = re.search(r"on http://127\.0\.0\.1:(\d+)/ ", first)
        assert found, first
        served = Served(proc, int(found.group(1)))
        reader = threading.Thread(target=lambda: served.err.extend(proc.stderr or ()))
        reader.start()
        yield served
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()


@contextlib.contextmanager
def _in_process(root: Path, **options: float) -> Iterator[PreviewServer]:
    server = make_server(root, 0, **options)  # type: ignore[arg-type]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        assert not thread.is_alive()


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "dist"
    root.mkdir()
    (root / "index.html").write_bytes(INDEX)
    return root


def _big(root: Path, megabytes: int) -> bytes:
    """`big.bin` of `megabytes` MB of varied bytes (not sparse)."""
    block = hashlib.sha256(b"calgen").digest() * (1 << 15)  # 1 MB
    data = b"".join(block[i:] + block[:i] for i in range(megabytes))
    (root / "big.bin").write_bytes(data)
    return data


def _silent(port: int, count: int, within: float) -> list[socket.socket]:
    """Up to `count` connections that never send anything, opened within `within` s."""
    opened: list[socket.socket] = []
    until = time.monotonic() + within
    while len(opened) < count and time.monotonic() < until:
        try:
            opened.append(socket.create_connection(("127.0.0.1", port), timeout=2))
        except OSError:
            break  # the server's backlog is full: enough
    return opened


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a client that crashes or is killed does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


# --------------------------------------------------------------------------- slow clients


@linux_only
def test_silent_clients_do_not_stop_a_normal_request(site: Path) -> None:
    """400 connections that send nothing, against a server allowed 256 file descriptors:
    before, it ran out of them, spun in accept and answered nobody."""
    with _calgen_serve(site, open_files=256) as served:
        silent = _silent(served.port, 400, within=20)
        try:
            assert len(silent) >= 300  # the attack got through to the server
            started = time.monotonic()
            assert served.get("/index.html", timeout=10) == (200, INDEX)
            assert time.monotonic() - started < 3
            assert served.open_files() <= 256 // 2 + 16  # bounded, with room to spare
        finally:
            for sock in silent:
                sock.close()
        assert served.get("/index.html") == (200, INDEX)
        err = served.stop()
    assert "Traceback" not in err


def test_a_silent_client_is_let_go_after_the_timeout(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with _in_process(site, timeout=0.5) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            started = time.monotonic()
            assert sock.recv(100) == b""  # closed by the server
            assert 0.4 < time.monotonic() - started < 3
        assert _get(server.port, "/index.html") == (200, INDEX)
    err = capsys.readouterr().err
    assert err.count("sent no request in time") == 1
    assert "Traceback" not in err


def test_a_client_that_stops_reading_frees_its_handler(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One handler only: a client that asks for a large file and never reads it holds
    it for the timeout, then the next request is served."""
    _big(site, 16)
    with (
        _in_process(site, timeout=0.5, queue_wait=10, connections=1) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as stuck,
    ):
        stuck.sendall(b"GET /big.bin HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        time.sleep(0.1)
        started = time.monotonic()
        assert _get(server.port, "/index.html", timeout=15) == (200, INDEX)
        assert time.monotonic() - started < 8
    err = capsys.readouterr().err
    (timed_out,) = [line for line in err.splitlines() if "timed out" in line]  # one line
    assert "Request timed out" in timed_out
    assert "Traceback" not in err


def test_no_free_handler_is_503_not_a_hang(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One handler, kept busy by a client that reads, but slowly: the next request waits
    at most `queue_wait`, then gets 503 with Retry-After."""
    _big(site, 64)
    with _in_process(site, timeout=5, queue_wait=0.5, connections=1) as server:
        slow = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        keep_reading = threading.Event()
        keep_reading.set()

        def trickle() -> None:
            deadline = time.monotonic() + 20
            while keep_reading.is_set() and time.monotonic() < deadline:
                if not slow.recv(16384):
                    return
                time.sleep(0.02)

        slow.sendall(b"GET /big.bin HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        reader = threading.Thread(target=trickle, daemon=True)
        reader.start()
        try:
            time.sleep(0.2)
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            started = time.monotonic()
            conn.request("GET", "/index.html")
            resp = conn.getresponse()
            assert resp.status == 503
            assert resp.headers["Retry-After"] == "5"
            assert time.monotonic() - started < 3
            conn.close()
        finally:
            keep_reading.clear()
            reader.join(timeout=5)
            slow.close()
    err = capsys.readouterr().err
    assert "503: no free handler in time" in err
    assert "Traceback" not in err


# --------------------------------------------------------------------------- going away


@linux_only
def test_a_client_resetting_mid_transfer_is_one_line(site: Path) -> None:
    """Before, each reset printed a full traceback on the server's stderr."""
    _big(site, 16)
    with _calgen_serve(site) as served:
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", served.port), timeout=5)
            sock.sendall(b"GET /big.bin HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            assert sock.recv(65536)  # the transfer has started
            _reset(sock)
        assert served.get("/index.html") == (200, INDEX)
        time.sleep(0.2)  # let the last handler notice
        err = served.stop()
    assert "Traceback" not in err
    gone = [line for line in err.splitlines() if "went away" in line]
    assert len(gone) == 3, err
    assert all('during "GET /big.bin HTTP/1.0"' in line for line in gone)
    assert all(re.search(r"(reset|Broken pipe)", line) for line in gone), gone


def test_a_client_closing_before_its_request_is_quiet(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with _in_process(site) as server:
        for _ in range(5):
            _reset(socket.create_connection(("127.0.0.1", server.port), timeout=5))
        assert _get(server.port, "/index.html") == (200, INDEX)
    assert "Traceback" not in capsys.readouterr().err


# --------------------------------------------------------------------------- large files


@linux_only
def test_a_large_file_is_served_with_bounded_memory(site: Path) -> None:
    """16 clients at once for a 32 MB file: before, each read it whole (512 MB or more)."""
    data = _big(site, 32)
    with _calgen_serve(site) as served:
        assert served.get("/index.html") == (200, INDEX)
        before = served.status("VmHWM")
        got: list[tuple[int, str, int]] = []

        def download() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=60)
            try:
                conn.request("GET", "/big.bin")
                resp = conn.getresponse()
                digest, size = hashlib.sha256(), 0
                while chunk := resp.read(1 << 16):
                    digest.update(chunk)
                    size += len(chunk)
                got.append((resp.status, digest.hexdigest(), size))
            finally:
                conn.close()

        clients = [threading.Thread(target=download) for _ in range(16)]
        for client in clients:
            client.start()
        for client in clients:
            client.join(timeout=60)
        grown = served.status("VmHWM") - before
        err = served.stop()
    assert got == [(200, hashlib.sha256(data).hexdigest(), len(data))] * 16
    assert grown < 24 * 1024, f"peak memory grew {grown} kB"  # one copy would be 32 MB
    assert "Traceback" not in err


def test_a_large_files_etag_is_the_hash_of_its_bytes(site: Path) -> None:
    data = _big(site, 3)
    with _in_process(site) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            conn.request("HEAD", "/big.bin")
            resp = conn.getresponse()
            resp.read()
        finally:
            conn.close()
    assert resp.headers["ETag"] == etag(data)
    assert resp.headers["Content-Length"] == str(len(data))
