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

Slow or silent clients cannot take the server down. A connection is accepted at once but
gets no thread until it has something to say: until then it waits in one selector
(`_WaitingRoom`; with those being handled at most WAITING connections, and never more
than half the file descriptors the process may open; when it is full the one silent the
longest is closed to make room),
and a connection silent for TIMEOUT seconds is closed. At most MAX_CONNECTIONS requests
are handled at once, each in its own thread; a request that finds no free handler
within QUEUE_WAIT seconds gets 503 with `Retry-After`. Every read of a request and every
chunk of a response must go within TIMEOUT seconds, so a client that stops reading is let
go too. Files are hashed and sent in chunks of CHUNK bytes, never read whole (the ETag is
kept per file version, so a file is hashed once), so memory does not grow with file size
or with the number of clients. A client that goes away (a reset, a broken pipe, a
timeout) is one line in the log, never a traceback. A burst of connections (a page and
its feeds, many subscribers' clients) is queued by the kernel in a listen backlog of
BACKLOG. A request target longer than MAX_TARGET characters is answered 414; a path the
file system cannot hold (a segment too long) is 404. The module never prints (but for
the access log, one line per request or closed connection on stderr, as
http.server does) and never chooses an exit code: `make_server` raises, and
`calgen.cli.commands` reports.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import mimetypes
import os
import resource
import selectors
import socket
import stat
import sys
import threading
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote

HOST = "127.0.0.1"
BACKLOG = 128  # socketserver's default of 5 made a burst of 200 requests wait seconds
MAX_TARGET = 2048  # characters; browsers and servers commonly allow about this much
MAX_CONNECTIONS = 64  # requests handled at once, a thread each
WAITING = 512  # connections waiting to send their request (at most half the fd limit)
TIMEOUT = 15.0  # seconds: to send the request, and for each chunk of the answer
QUEUE_WAIT = 30.0  # seconds a request waits for a free handler (503 after that)
CHUNK = 64 * 1024  # bytes read, hashed and sent at a time
SWEEP = 0.25  # seconds between looks for connections waiting too long
ETAGS_KEPT = 4096  # file versions whose hash is remembered
BUSY = (
    b"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 0\r\n"
    b"Connection: close\r\n\r\n"
)

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


def file_etag(fh: io.FileIO) -> str:
    """`etag` of an open file's bytes, read CHUNK bytes at a time from its start."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    fh.seek(0)
    while n := fh.readinto(buffer):
        digest.update(view[:n])
    return '"' + digest.hexdigest()[:32] + '"'


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


def _log(address: tuple[str, int] | str, message: str) -> None:
    """One line in the access log's format (http.server writes it to stderr)."""
    host = address[0] if isinstance(address, tuple) else address
    when = time.strftime("%d/%b/%Y %H:%M:%S")
    sys.stderr.write(f"{host} - - [{when}] {message}\n")


@dataclass(frozen=True, kw_only=True, slots=True)
class _Waiting:
    address: tuple[str, int]
    since: float  # time.monotonic() of arrival, or of its request arriving (`ready`)
    ready: bool = False  # something to read: waiting for a free handler


class _WaitingRoom:
    """Connections accepted but not yet handled, watched by one thread and one selector:
    no thread of their own while they are silent. One with something to read (its
    request, or its end) goes to a handler thread as soon as one of the server's slots
    is free; one silent for TIMEOUT seconds is closed, as is one that found no free
    handler within QUEUE_WAIT seconds (after a 503). When the room is full the connection
    silent the longest makes room. The selector is touched only by this thread: the
    accept loop and finishing handlers hand over through `_inbox` and a wake-up socket."""

    def __init__(self, server: PreviewServer, capacity: int) -> None:
        self._server = server
        self._capacity = capacity
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._inbox: list[tuple[socket.socket, tuple[str, int]]] = []
        self._lock = threading.Lock()
        self._waiting: dict[socket.socket, _Waiting] = {}
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="calgen-serve-room", daemon=True)
        self._thread.start()

    def add(self, conn: socket.socket, address: tuple[str, int]) -> None:
        """From the accept loop: `conn` waits here until it has something to say."""
        with self._lock:
            self._inbox.append((conn, address))
        self.wake()

    def wake(self) -> None:
        with contextlib.suppress(OSError):  # full: a wake-up is pending anyway
            self._wake_w.send(b"x")

    def close(self) -> None:
        """Stop the thread and close every connection still waiting."""
        self._closing = True
        self.wake()
        self._thread.join(timeout=5)
        with self._lock:
            left = [conn for conn, _ in self._inbox] + list(self._waiting)
            self._inbox.clear()
            self._waiting.clear()
        for conn in left:
            conn.close()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def _run(self) -> None:
        swept = time.monotonic()
        while not self._closing:
            try:
                for key, _ in self._selector.select(timeout=SWEEP):
                    if key.fileobj is self._wake_r:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                    else:
                        self._readable(key.fileobj)  # type: ignore[arg-type]
                if self._closing:
                    return
                self._admit()
                if time.monotonic() - swept >= SWEEP:
                    swept = time.monotonic()
                    self._expire()
                self._dispatch()
            except Exception:  # calgen's own bug: say so, and keep serving
                traceback.print_exc()
                time.sleep(SWEEP)

    def _readable(self, conn: socket.socket) -> None:
        self._selector.unregister(conn)
        self._waiting[conn] = replace(self._waiting[conn], ready=True, since=time.monotonic())

    def _admit(self) -> None:
        with self._lock:
            arrived, self._inbox = self._inbox, []
        for conn, address in arrived:
            if len(self._waiting) >= self._capacity and not self._make_room():
                self._drop(conn, address, "closed: too many connections waiting", busy=True)
                continue
            self._waiting[conn] = _Waiting(address=address, since=time.monotonic())
            self._selector.register(conn, selectors.EVENT_READ)

    def _make_room(self) -> bool:
        """Close the connection silent the longest; False when none is silent."""
        silent = [(w.since, c) for c, w in self._waiting.items() if not w.ready]
        if not silent:
            return False
        since, conn = min(silent, key=lambda found: found[0])
        entry = self._unwatch(conn)
        waited = time.monotonic() - since
        self._drop(
            conn,
            entry.address,
            f"closed: sent no request in {waited:.1f} s, and others were waiting",
        )
        return True

    def _expire(self) -> None:
        now = time.monotonic()
        for conn, entry in list(self._waiting.items()):
            limit = self._server.queue_wait if entry.ready else self._server.timeout_seconds
            if now - entry.since < limit:
                continue
            self._unwatch(conn)
            if entry.ready:
                self._drop(conn, entry.address, "503: no free handler in time", busy=True)
            else:
                self._drop(conn, entry.address, "closed: sent no request in time")

    def _dispatch(self) -> None:
        ready = sorted((c for c, w in self._waiting.items() if w.ready), key=self._since)
        for conn in ready:
            if not self._server.take_slot():
                return
            entry = self._waiting.pop(conn)
            self._server.handle_in_thread(conn, entry.address)

    def _since(self, conn: socket.socket) -> float:
        return self._waiting[conn].since

    def _unwatch(self, conn: socket.socket) -> _Waiting:
        """Stop watching `conn` (still in `_waiting` until `_drop`)."""
        entry = self._waiting[conn]
        if not entry.ready:
            self._selector.unregister(conn)
        return entry

    def _drop(
        self, conn: socket.socket, address: tuple[str, int], why: str, *, busy: bool = False
    ) -> None:
        self._waiting.pop(conn, None)
        if busy:
            with contextlib.suppress(OSError):
                conn.setblocking(False)
                conn.send(BUSY)
        conn.close()
        _log(address, why)


class PreviewServer(ThreadingHTTPServer):
    """A threading HTTP server that knows the (resolved) folder it serves, with at most
    `connections` requests handled at once and slow clients let go (see the module)."""

    daemon_threads = True
    request_queue_size = BACKLOG

    def __init__(
        self,
        directory: Path,
        port: int,
        *,
        timeout: float = TIMEOUT,
        queue_wait: float = QUEUE_WAIT,
        connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.root = Path(os.path.realpath(directory))
        self.timeout_seconds = timeout
        self.queue_wait = queue_wait
        self._slots = threading.BoundedSemaphore(connections)
        self._busy: set[socket.socket] = set()
        self._busy_lock = threading.Lock()
        self._etags: OrderedDict[tuple[int, ...], str] = OrderedDict()
        self._etags_lock = threading.Lock()
        self._hashing: dict[tuple[int, ...], threading.Lock] = {}
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        room = WAITING if soft == resource.RLIM_INFINITY else min(WAITING, soft // 2)
        self._room = _WaitingRoom(self, max(room - connections, 8))
        super().__init__((HOST, port), PreviewHandler)  # closes the room if it cannot bind

    @property
    def port(self) -> int:
        port: int = self.server_address[1]
        return port

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        try:
            return super().get_request()
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE):
                time.sleep(0.1)  # out of descriptors: do not spin on the listening socket
            raise

    def process_request(  # type: ignore[override]
        self, request: socket.socket, client_address: tuple[str, int]
    ) -> None:
        """From the accept loop: the connection waits without a thread (`_WaitingRoom`)."""
        self._room.add(request, client_address)

    def take_slot(self) -> bool:
        return self._slots.acquire(blocking=False)

    def handle_in_thread(self, request: socket.socket, client_address: tuple[str, int]) -> None:
        """A handler thread for `request`, which holds one of the slots (`take_slot`)."""
        with self._busy_lock:
            self._busy.add(request)
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._finished(request)
            self.shutdown_request(request)
            raise

    def process_request_thread(  # type: ignore[override]
        self, request: socket.socket, client_address: tuple[str, int]
    ) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._finished(request)

    def _finished(self, request: socket.socket) -> None:
        with self._busy_lock:
            self._busy.discard(request)
        self._slots.release()
        self._room.wake()  # a request waiting for a handler may go now

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that went away is one line; anything else is calgen's own bug, and
        its traceback is what is needed."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            _log(client_address, f"client went away: {_why(exc)}")  # type: ignore[arg-type]
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]

    def server_close(self) -> None:
        """Close the listening socket, every waiting connection, and every connection
        being handled (their threads end at once), then wait for those threads."""
        self._room.close()
        with self._busy_lock:
            busy = list(self._busy)
        for conn in busy:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        super().server_close()

    def etag_of(self, fh: io.FileIO, info: os.stat_result) -> str:
        """`file_etag`, remembered for this version of the file (device, inode, size,
        mtime and ctime): a feed polled every minute is hashed once."""
        key = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        with self._etags_lock:
            if key in self._etags:
                self._etags.move_to_end(key)
                return self._etags[key]
            hashing = self._hashing.setdefault(key, threading.Lock())
        with hashing:  # twenty clients asking for one new file: it is hashed once
            with self._etags_lock:
                tag = self._etags.get(key)
            if tag is None:
                try:
                    tag = file_etag(fh)
                    with self._etags_lock:
                        self._etags[key] = tag
                        while len(self._etags) > ETAGS_KEPT:
                            self._etags.popitem(last=False)
                finally:
                    with self._etags_lock:
                        self._hashing.pop(key, None)
        return tag


def _why(exc: BaseException) -> str:
    """A client's going away in a few words: "Connection reset by peer", "timed out"."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc) or type(exc).__name__


class PreviewHandler(BaseHTTPRequestHandler):
    server: PreviewServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.timeout_seconds)  # each read, each chunk

    def handle(self) -> None:
        try:
            super().handle()  # a read that times out is logged there, in one line
        except (ConnectionError, TimeoutError) as exc:  # a reset, a broken pipe
            what = f' during "{self.requestline}"' if getattr(self, "requestline", "") else ""
            self.log_message("client went away%s: %s", what, _why(exc))

    def version_string(self) -> str:
        return "calgen-serve"  # the Server header, without Python's version

    def do_GET(self) -> None:
        self._respond(body=True)

    def do_HEAD(self) -> None:
        self._respond(body=False)

    def _root(self) -> Path:
        return self.server.root

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
            # never blocks on a FIFO; fstat says what was opened
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        with os.fdopen(fd, "rb", buffering=0) as fh:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):  # no FIFOs, devices, sockets
                self.send_error(HTTPStatus.NOT_FOUND)
                return
            self._send_open_file(path, fh, info, body=body)

    def _send_open_file(
        self, path: Path, fh: io.FileIO, info: os.stat_result, *, body: bool
    ) -> None:
        tag = self.server.etag_of(fh, info)
        cache = FEED_CACHE if path.suffix.lower() == ".ics" else PAGE_CACHE
        if etag_matches(self.headers.get("If-None-Match", ""), tag):
            self.send_response(HTTPStatus.NOT_MODIFIED)
            self.send_header("ETag", tag)
            self.send_header("Cache-Control", cache)
            self.end_headers()
            return
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type(path))
        self.send_header("Content-Length", str(info.st_size))
        self.send_header("ETag", tag)
        self.send_header("Cache-Control", cache)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if body:
            self._stream(fh, info.st_size)

    def _stream(self, fh: io.FileIO, size: int) -> None:
        """The file's first `size` bytes, CHUNK at a time: memory stays CHUNK per client
        whatever the file's size. Each chunk must go within the timeout (sendall)."""
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        fh.seek(0)
        left = size
        while left > 0:
            n = fh.readinto(view[: min(CHUNK, left)])
            if not n:  # the file shrank since its length was sent: the client sees it cut
                self.close_connection = True
                return
            self.wfile.write(view[:n])
            left -= n


def make_server(
    directory: Path,
    port: int,
    *,
    timeout: float = TIMEOUT,
    queue_wait: float = QUEUE_WAIT,
    connections: int = MAX_CONNECTIONS,
) -> PreviewServer:
    """Bind 127.0.0.1:`port` (0: any free port) for `directory`; serve with serve_forever()
    and stop with shutdown() and server_close() (the `with` block does the latter).

    Raises NotADirectoryError for a missing folder and OSError when the port cannot be bound.
    """
    if not directory.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "no such folder", str(directory))
    return PreviewServer(
        directory, port, timeout=timeout, queue_wait=queue_wait, connections=connections
    )
