"""`calgen serve`: the preview server, started on 127.0.0.1 port 0 in a thread per test.

Content types, ETag and 304, HEAD, folders, and that nothing outside the served folder
comes back however the path is spelled. The command itself runs as a subprocess: a
missing folder exits 1 with a message, Ctrl-C exits 0, both without a traceback.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from calgen.cli import main
from calgen.site.serve import PreviewServer, make_server

FEED = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calgen//test//NL\r\n"
    b"BEGIN:VEVENT\r\nUID:mijlpaal-3.1.2.test@calgen\r\nSUMMARY:3.1.2 Caf\xc3\xa9\r\n"
    b"DTSTAMP:20220101T000000Z\r\nDTSTART:20220330T150000Z\r\nEND:VEVENT\r\n"
    b"END:VCALENDAR\r\n"
)
INDEX = "<!doctype html><title>Draaiboeken</title><p>Overzicht €</p>\n".encode()
SECRET = b"TOP SECRET outside the served folder"


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


@dataclass
class Site:
    root: Path
    server: PreviewServer

    def request(
        self, path: str, method: str = "GET", headers: dict[str, str] | None = None
    ) -> Response:
        """Send `path` byte for byte (no client-side normalisation of `..` or `//`)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        try:
            conn.request(method, path, headers=headers or {})
            resp = conn.getresponse()
            return Response(resp.status, resp.headers, resp.read())
        finally:
            conn.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    root = tmp_path / "dist"
    (root / "iwmo" / "empty").mkdir(parents=True)
    (root / "iwmo" / "all.ics").write_bytes(FEED)
    (root / "iwmo" / "index.html").write_bytes(INDEX)
    (root / "iwmo" / "draaiboek.md").write_text("# Draaiboek\n", encoding="utf-8")
    (root / "index.html").write_bytes(INDEX)
    (root / "style.css").write_text("p { color: black }\n", encoding="utf-8")
    (root / "data.json").write_text("{}\n", encoding="utf-8")
    (root / "logo.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>\n")
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_bytes(SECRET)
    (root / "leak.txt").symlink_to(tmp_path / "secret.txt")
    (root / "leakdir").symlink_to(tmp_path / "outside", target_is_directory=True)
    (root / "alias.ics").symlink_to(root / "iwmo" / "all.ics")  # inside: allowed

    server = make_server(root, 0)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="serve", daemon=True
    )
    thread.start()
    try:
        yield Site(root, server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        assert not thread.is_alive()


def test_binds_loopback_only(site: Site) -> None:
    assert site.server.server_address[0] == "127.0.0.1"
    assert site.server.socket.family == socket.AF_INET
    assert site.server.socket.getsockname()[0] == "127.0.0.1"
    if sys.platform.startswith("linux"):
        # Another address of this machine (on Linux all of 127/8 is local) gets no answer.
        with (
            pytest.raises(ConnectionRefusedError),
            socket.create_connection(("127.0.0.2", site.server.port), timeout=2),
        ):
            pass


def test_feed_bytes_and_type(site: Site) -> None:
    resp = site.request("/iwmo/all.ics")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert resp.body == FEED  # CRLF and UTF-8 untouched
    assert resp.headers["Content-Length"] == str(len(FEED))
    assert resp.headers["Cache-Control"] == "no-cache"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Server"] == "calgen-serve"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/index.html", "text/html; charset=utf-8"),
        ("/iwmo/draaiboek.md", "text/markdown; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/data.json", "application/json"),
        ("/logo.svg", "image/svg+xml"),
        ("/alias.ics", "text/calendar; charset=utf-8"),
    ],
)
def test_content_types(site: Site, path: str, expected: str) -> None:
    resp = site.request(path)
    assert resp.status == 200
    assert resp.headers["Content-Type"] == expected
    assert "must-revalidate" in resp.headers["Cache-Control"] or path.endswith(".ics")


def test_etag_and_not_modified(site: Site) -> None:
    first = site.request("/iwmo/all.ics")
    tag = first.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', tag), tag  # strong: no W/
    assert site.request("/iwmo/all.ics").headers["ETag"] == tag

    for header in (tag, f'"other", {tag}', f"W/{tag}", "*"):
        resp = site.request("/iwmo/all.ics", headers={"If-None-Match": header})
        assert resp.status == 304, header
        assert resp.body == b""
        assert resp.headers["ETag"] == tag
        assert resp.headers["Cache-Control"] == "no-cache"

    other = site.request("/iwmo/all.ics", headers={"If-None-Match": '"something-else"'})
    assert (other.status, other.body) == (200, FEED)

    (site.root / "iwmo" / "all.ics").write_bytes(FEED.replace(b"Caf", b"Kaf"))
    changed = site.request("/iwmo/all.ics", headers={"If-None-Match": tag})
    assert changed.status == 200
    assert changed.headers["ETag"] != tag


def test_head_has_headers_and_no_body(site: Site) -> None:
    resp = site.request("/iwmo/all.ics", method="HEAD")
    assert resp.status == 200
    assert resp.body == b""
    assert resp.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert resp.headers["Content-Length"] == str(len(FEED))
    assert resp.headers["ETag"] == site.request("/iwmo/all.ics").headers["ETag"]
    missing = site.request("/nope.ics", method="HEAD")
    assert (missing.status, missing.body) == (404, b"")


def test_folders_serve_index_and_never_list(site: Site) -> None:
    for path in ("/", "/iwmo/", "/iwmo/?x=1"):
        resp = site.request(path)
        assert (resp.status, resp.body) == (200, INDEX), path
        assert resp.headers["Content-Type"] == "text/html; charset=utf-8"

    redirect = site.request("/iwmo")
    assert redirect.status == 301
    assert redirect.headers["Location"] == "/iwmo/"
    # Built from the clean path: `//iwmo` must not become the off-site `//iwmo/`.
    assert site.request("//iwmo").headers["Location"] == "/iwmo/"

    empty = site.request("/iwmo/empty/")
    assert empty.status == 404
    assert b"all.ics" not in empty.body
    assert b"empty" not in empty.body


def test_missing_is_404(site: Site) -> None:
    for path in ("/nope.ics", "/iwmo/nope/", "/iwmo/all.ics/", "/%00"):
        resp = site.request(path)
        assert resp.status == 404, path


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/iwmo/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/..%2fsecret.txt",
        "/iwmo/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/%252e%252e/secret.txt",
        "/..\\secret.txt",
        "//etc/passwd",
        "/etc/passwd",
        "/../../../../../../etc/passwd",
        "/leak.txt",
        "/leakdir/secret.txt",
        "/leakdir/",
    ],
)
def test_nothing_outside_the_folder(site: Site, path: str) -> None:
    resp = site.request(path)
    assert resp.status in (403, 404), (path, resp.status)
    assert SECRET not in resp.body
    assert b"root:" not in resp.body


@pytest.mark.parametrize("path", ["http://127.0.0.1/../secret.txt", "*", "secret.txt"])
def test_targets_that_are_not_paths_are_refused(site: Site, path: str) -> None:
    resp = site.request(path)
    assert resp.status == 400
    assert SECRET not in resp.body


def test_dotdot_is_refused_even_when_it_stays_inside(site: Site) -> None:
    assert site.request("/iwmo/../index.html").status == 404


def test_foreign_host_header_is_refused(site: Site) -> None:
    """A DNS-rebinding page sends its own host name; browsers on localhost still work."""
    assert site.request("/index.html", headers={"Host": "evil.example:80"}).status == 421
    assert site.request("/index.html", headers={"Host": "localhost:1234"}).status == 200


def test_port_in_use(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--dir", str(site.root), "--port", str(site.server.port)]) == 1
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{site.server.port}: port already in use" in err
    assert "Traceback" not in err


def _calgen(*args: str) -> list[str]:
    return [sys.executable, "-m", "calgen", *args]


def test_cli_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    done = subprocess.run(
        _calgen("serve", "--dir", str(missing), "--port", "0"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert f"calgen serve: {missing}: no such folder (run `calgen build` first" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_serves_until_ctrl_c(site: Site) -> None:
    proc = subprocess.Popen(
        _calgen("serve", "--dir", str(site.root), "--port", "0"),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        found = re.search(r"on http://127\.0\.0\.1:(\d+)/ ", line)
        assert found, line
        port = int(found.group(1))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", "/iwmo/all.ics")
            resp = conn.getresponse()
            assert (resp.status, resp.read()) == (200, FEED)
        finally:
            conn.close()
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        assert proc.wait(timeout=30) == 0, rest
        assert "stopped" in rest
        assert "Traceback" not in rest
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def test_over_long_target_is_414_and_long_segment_404(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    assert site.request("/" + "a" * 5000).status == 414
    assert site.request("/iwmo/" + "b" * 1500 + "/" + "c" * 400).status == 404
    assert site.request("/index.html").status == 200  # the server is still there
    assert "Traceback" not in capsys.readouterr().err


def test_a_burst_of_connections_is_queued_not_dropped(tmp_path: Path) -> None:
    """200 clients connecting before the server accepts any: the listen backlog holds
    them all (with socketserver's default of 5, the seventh connect would hang)."""
    (tmp_path / "index.html").write_bytes(INDEX)
    server = make_server(tmp_path, 0)
    clients: list[socket.socket] = []
    try:
        for _ in range(120):
            clients.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        for client in clients:
            client.sendall(b"GET /index.html HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        for client in clients:
            assert client.makefile("rb").readline().startswith(b"HTTP/1.0 200")
    finally:
        for client in clients:
            client.close()
        server.shutdown()
        server.server_close()
