"""deploy/nginx.conf, unchanged, under Debian's nginx: types, charset, ETag and 304, caching.

nginx runs in the foreground (`daemon off; master_process off;`) on 127.0.0.1 with a
free port, with its pid, logs and temp folders in a temporary prefix, so no system path
is touched. Without /usr/sbin/nginx the test is skipped locally with a loud reason; in
CI (CI=true) a missing nginx is a failure (`.ci/run` installs it).
"""

from __future__ import annotations

import http.client
import os
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from calgen.notify.statefile import open_state
from tests.conftest import ROOT
from tests.test_notify_unsubscribe import running_server

NGINX = Path("/usr/sbin/nginx")
SNIPPET = ROOT / "deploy" / "nginx.conf"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

FEED = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calgen//test//NL\r\n"
    b"BEGIN:VEVENT\r\nUID:mijlpaal-3.1.2.test@calgen\r\nSUMMARY:3.1.2 Caf\xc3\xa9\r\n"
    b"DTSTAMP:20220101T000000Z\r\nDTSTART:20220330T150000Z\r\nEND:VEVENT\r\n"
    b"END:VCALENDAR\r\n"
)
INDEX = "<!doctype html><title>Draaiboeken</title><p>Overzicht €</p>\n".encode()
SECRET = b"TOP SECRET outside the served folder"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _nginx_conf(prefix: Path, site: Path, port: int, also: Path | None = None) -> str:
    """The smallest nginx.conf around the snippet; an operator's is Debian's own."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / 'temp' / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}daemon off;
master_process off;
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} info;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {prefix / "access.log"};
{temp}
    server {{
        listen 127.0.0.1:{port};
        root {site};
        include {SNIPPET};
        {f"include {also};" if also else ""}
    }}
}}
"""


@dataclass
class Nginx:
    port: int
    site: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def raw(self, path: str, method: str = "GET") -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path)
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Nginx]:
    yield from _start(tmp_path)


def _start(tmp_path: Path, also: Path | None = None) -> Iterator[Nginx]:
    if not NGINX.is_file():
        reason = f"{NGINX} not found (apt-get install nginx)"
        if IN_CI:
            pytest.fail(f"nginx unavailable in CI: {reason}")
        pytest.skip(f"NGINX MISSING, deploy/nginx.conf NOT TESTED: {reason}")

    site = tmp_path / "dist"
    (site / "iwmo" / "empty").mkdir(parents=True)
    (site / "iwmo" / "all.ics").write_bytes(FEED)
    (site / "iwmo" / "draaiboek.md").write_text("# Draaiboek\n", encoding="utf-8")
    (site / "index.html").write_bytes(INDEX)
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (site / "leak.txt").symlink_to(tmp_path / "secret.txt")

    prefix = tmp_path / "nginx"
    (prefix / "temp").mkdir(parents=True)
    port = _free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(_nginx_conf(prefix, site, port, also), encoding="utf-8")
    error_log = prefix / "error.log"
    with (prefix / "output.log").open("wb") as output:
        proc = subprocess.Popen(
            [str(NGINX), "-p", f"{prefix}/", "-c", str(conf), "-e", str(error_log)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                log = error_log.read_text() if error_log.exists() else ""
                pytest.fail(f"nginx exited with {proc.returncode}:\n{log}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("nginx did not start listening within 15 s")
                time.sleep(0.05)
        yield Nginx(port, site)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_feed_type_etag_and_304(nginx: Nginx) -> None:
    with urllib.request.urlopen(nginx.url("/iwmo/all.ics"), timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/calendar; charset=utf-8"
        assert resp.read() == FEED  # CRLF untouched
        tag = resp.headers["ETag"]
        assert tag is not None
        assert tag.startswith('"'), tag  # strong: no W/
        assert resp.headers["Cache-Control"] == "max-age=3600"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"

    request = urllib.request.Request(nginx.url("/iwmo/all.ics"), headers={"If-None-Match": tag})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)  # urllib reports 304 as an "error"
    with caught.value as not_modified:
        assert not_modified.code == 304
        assert not_modified.read() == b""
        assert not_modified.headers["ETag"] == tag
        assert not_modified.headers["Cache-Control"] == "max-age=3600"


def test_head_pages_and_markdown(nginx: Nginx) -> None:
    status, headers, body = nginx.raw("/iwmo/all.ics", method="HEAD")
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == str(len(FEED))

    status, headers, body = nginx.raw("/")
    assert (status, body) == (200, INDEX)
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "max-age=300"

    status, headers, _body = nginx.raw("/iwmo/draaiboek.md")
    assert status == 200
    assert headers["Content-Type"] == "text/markdown; charset=utf-8"


def test_folders_and_outside(nginx: Nginx) -> None:
    status, headers, _body = nginx.raw("/iwmo")
    assert (status, headers["Location"]) == (301, "/iwmo/")

    status, _headers, body = nginx.raw("/iwmo/empty/")
    assert status in (403, 404)  # no listing
    assert b"all.ics" not in body

    for path in ("/leak.txt", "/../secret.txt", "/%2e%2e/secret.txt", "/nope.ics"):
        status, _headers, body = nginx.raw(path)
        assert status in (400, 403, 404), path
        assert SECRET not in body, path


# ---------------------------------------------------------------- one-click unsubscribe

UNSUBSCRIBE = ROOT / "deploy" / "nginx-unsubscribe.conf"
UNSUBSCRIBE_SECRET = "a-secret-for-this-test-only-0123456789"


@pytest.fixture
def unsubscribe(tmp_path: Path) -> Iterator[tuple[Nginx, Path]]:
    """nginx with both snippets, in front of `calgen unsubscribe-server` (the snippet's
    port 8025 replaced by a free one); the state it writes."""
    port = _free_port()
    snippet = tmp_path / "nginx-unsubscribe.conf"
    text = UNSUBSCRIBE.read_text(encoding="utf-8")
    assert text.count("proxy_pass http://127.0.0.1:8025;") == 1
    snippet.write_text(text.replace(":8025;", f":{port};"), encoding="utf-8")
    state = tmp_path / "notify-state.sqlite"
    with open_state(state, wait=1):  # as the first notify run makes it
        pass
    with running_server(state, UNSUBSCRIBE_SECRET, port):
        for server in _start(tmp_path, snippet):
            yield server, state


def test_the_unsubscribe_snippet_proxies_get_and_post(
    unsubscribe: tuple[Nginx, Path], tmp_path: Path
) -> None:
    from calgen.notify.unsubscribe import make_token

    server, state = unsubscribe
    token = make_token(UNSUBSCRIBE_SECRET.encode(), "a@gemeente.nl", "gemeenten", 2**40)
    status, headers, body = server.raw(f"/afmelden?t={token}")
    assert status == 200
    assert headers["Cache-Control"] == "no-store"  # not nginx.conf's max-age
    assert b"a@gemeente.nl" in body
    assert _rows(state) == []

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(
            "POST",
            f"/afmelden?t={token}",
            body=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        response = conn.getresponse()
        assert (response.status, b"U bent afgemeld" in response.read()) == (200, True)
    finally:
        conn.close()
    assert _rows(state) == [("a@gemeente.nl", "gemeenten")]

    status, _, _ = server.raw(f"/afmelden?t={token[:-3]}xyz")
    assert status == 400
    log = (tmp_path / "nginx" / "access.log").read_text(encoding="utf-8")
    assert token[:20] not in log  # the address inside the token stays out of the log


def _rows(state: Path) -> list[tuple[str, str]]:
    db = sqlite3.connect(state)
    try:
        return [(str(e), str(r)) for e, r in db.execute("SELECT email, role FROM suppressed")]
    finally:
        db.close()
