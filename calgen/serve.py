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

Tests use `make_server(folder, 0)` and `serve_forever()` in a thread; the command line
uses `run()`, which prints the URL and turns bind errors and Ctrl-C into exit codes.
"""

from __future__ import annotations

import errno
import hashlib
import mimetypes
import os
import stat
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote

HOST = "127.0.0.1"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

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
        real = Path(os.path.realpath(path))
        if real != root and not real.is_relative_to(root):
            return None
        return real if real.exists() else None

    def _respond(self, *, body: bool) -> None:
        if not _host_allowed(self.headers.get("Host")):
            self.send_error(HTTPStatus.MISDIRECTED_REQUEST, "Use http://127.0.0.1:<port>/")
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
        if target.is_dir():
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


def run(directory: Path, port: int) -> int:
    """The `calgen serve` command: serve until Ctrl-C. 0 when stopped, 1 when it cannot start."""
    if not 0 <= port <= 65535:
        print(f"calgen serve: --port {port}: must be 0-65535", file=sys.stderr)
        return EXIT_USAGE
    if not directory.is_dir():
        what = "is not a folder" if directory.exists() else "no such folder"
        print(
            f"calgen serve: {directory}: {what} (run `calgen build` first, or pass --dir)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    try:
        server = make_server(directory, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            reason = "port already in use; choose another with --port N (0: any free port)"
        elif exc.errno == errno.EACCES:
            reason = "permission denied; ports below 1024 need privileges, try --port 8000"
        else:
            reason = exc.strerror or str(exc)
        print(f"calgen serve: cannot listen on {HOST}:{port}: {reason}", file=sys.stderr)
        return EXIT_FAILED
    with server:
        print(f"serving {directory} on {server.url} (Ctrl-C to stop)", file=sys.stderr)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("\nstopped", file=sys.stderr)
    return EXIT_OK
