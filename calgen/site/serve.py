"""`calgen serve`: preview a built folder (default `dist/`) on http://127.0.0.1 only.

Standard library only. Serves regular files with the content types the published site
uses (`.ics` as `text/calendar; charset=utf-8`), a strong ETag per file (SHA-256 of its
bytes) with `If-None-Match` -> 304, `HEAD`, and `Cache-Control: no-cache` for feeds (a
subscribed client always revalidates, cheaply) and a short max-age for everything else.
A folder serves its `index.html`; there are no listings.

Nothing outside the folder is ever served. A request path is split into segments after
one percent-decoding; any `..` segment (also `%2e%2e`, `..%2f`), a NUL or a backslash is
refused with 404, empty segments are dropped (`//etc/passwd` is `etc/passwd` inside the
folder), and the fully resolved target (symlinks followed) must still lie inside the
folder, else 404. Requests whose target is not a path (`GET http://…`, `GET *`) get 400.
A `Host` header naming another machine gets 421, so a web page cannot reach the preview
through DNS rebinding.

The server takes many connections at once: a thread per connection and a listen backlog
of BACKLOG, so a burst of requests (a page and its feeds, many subscribers' clients) is
queued by the kernel instead of refused or retried. A request target longer than
MAX_TARGET characters is answered 414; a path the file system cannot hold (a segment too
long) is 404. The module never prints and never chooses an exit code: `make_server`
raises, and `calgen.cli.commands` reports.
"""

from __future__ import annotations

import errno
import hashlib
import mimetypes
import os
import stat
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote

HOST = "127.0.0.1"
BACKLOG = 128  # socketserver's default of 5 made a burst of 200 requests wait seconds
MAX_TARGET = 2048  # characters; browsers and servers commonly allow about this much

CONTENT_TYPES = {
    ".ics": "text/calendar; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
}
FEED_CACHE = "no-cache"  # store, but revalidate every time: a rebuild shows at once
PAGE_CACHE = "max-age=10, must-revalidate"
LOOPBACK_NAMES = ("127.0.0.1", "localhost")


def content_type(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in CONTENT_TYPES:
        return CONTENT_TYPES[suffix]
    guessed, _encoding = mimetypes.guess_type(path.name, strict=False)
    return guessed or "application/octet-stream"


def etag(data: bytes) -> str:
    """A strong validator: the same bytes always give the same tag, any change a new one."""
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def etag_matches(header: str, tag: str) -> bool:
    """`If-None-Match` uses the weak comparison (RFC 9110 13.1.2): `W/` is ignored."""
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*":
            return True
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == tag:
            return True
    return False


def url_segments(target: str) -> list[str] | None:
    """The decoded path segments of a request target, or None when it must be refused."""
    path = target.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/"):
        return None
    segments = []
    for segment in unquote(path).split("/"):
        if segment in ("", "."):
            continue
        if segment == ".." or "\0" in segment or "\\" in segment:
            return None
        segments.append(segment)
    return segments


def _host_allowed(header: str | None) -> bool:
    if not header:
        return True  # HTTP/1.0 clients may omit it
    host = header.strip().lower()
    if host.startswith("["):
        host = host[: host.find("]") + 1]
    elif ":" in host:
        host = host.rsplit(":", 1)[0]
    return host in LOOPBACK_NAMES or host.endswith(".localhost")


class PreviewServer(ThreadingHTTPServer):
    """A threading HTTP server that knows the (resolved) folder it serves."""

    daemon_threads = True
    request_queue_size = BACKLOG

    def __init__(self, directory: Path, port: int) -> None:
        self.root = Path(os.path.realpath(directory))
        super().__init__((HOST, port), PreviewHandler)

    @property
    def port(self) -> int:
        port: int = self.server_address[1]
        return port

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"


class PreviewHandler(BaseHTTPRequestHandler):
    timeout = 30  # seconds a silent client may hold a connection

    def version_string(self) -> str:
        return "calgen-serve"  # the Server header, without Python's version

    def do_GET(self) -> None:
        self._respond(body=True)

    def do_HEAD(self) -> None:
        self._respond(body=False)

    def _root(self) -> Path:
        server = self.server
        assert isinstance(server, PreviewServer)
        return server.root

    def _inside(self, path: Path) -> Path | None:
        """The real path of `path` when it exists and lies inside the root, else None."""
        root = self._root()
        try:
            real = Path(os.path.realpath(path))
            if real != root and not real.is_relative_to(root):
                return None
            return real if real.exists() else None
        except (OSError, ValueError):  # a name too long for the file system, say
            return None

    def _respond(self, *, body: bool) -> None:
        if not _host_allowed(self.headers.get("Host")):
            self.send_error(HTTPStatus.MISDIRECTED_REQUEST, "Use http://127.0.0.1:<port>/")
            return
        if len(self.path) > MAX_TARGET:
            self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
            return
        segments = url_segments(self.path)
        if segments is None:
            if not self.path.startswith("/"):
                self.send_error(HTTPStatus.BAD_REQUEST, "Request target must be a path")
            else:
                self.send_error(HTTPStatus.NOT_FOUND)
            return
        target = self._inside(self._root().joinpath(*segments))
        if target is None:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        if target.is_dir():  # (resolved by _inside: no error can come from here)
            if not self.path.split("?", 1)[0].endswith("/"):
                # Built from the clean segments, never from the raw target: no `//host`.
                location = "/" + "".join(quote(s, safe="") + "/" for s in segments)
                self.send_response(HTTPStatus.MOVED_PERMANENTLY)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            index = self._inside(target / "index.html")
            if index is None:
                self.send_error(HTTPStatus.NOT_FOUND)  # no listings
                return
            target = index
        elif self.path.split("?", 1)[0].endswith("/"):
            self.send_error(HTTPStatus.NOT_FOUND)  # `/feed.ics/` is not a folder
            return
        self._send_file(target, body=body)

    def _send_file(self, path: Path, *, body: bool) -> None:
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                raise FileNotFoundError(path)  # no FIFOs, devices, sockets
            data = path.read_bytes()
        except OSError:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        tag = etag(data)
        cache = FEED_CACHE if path.suffix.lower() == ".ics" else PAGE_CACHE
        if etag_matches(self.headers.get("If-None-Match", ""), tag):
            self.send_response(HTTPStatus.NOT_MODIFIED)
            self.send_header("ETag", tag)
            self.send_header("Cache-Control", cache)
            self.end_headers()
            return
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type(path))
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", tag)
        self.send_header("Cache-Control", cache)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if body:
            self.wfile.write(data)


def make_server(directory: Path, port: int) -> PreviewServer:
    """Bind 127.0.0.1:`port` (0: any free port) for `directory`; serve with serve_forever().

    Raises NotADirectoryError for a missing folder and OSError when the port cannot be bound.
    """
    if not directory.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "no such folder", str(directory))
    return PreviewServer(directory, port)
