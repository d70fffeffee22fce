"""A small HTTP file server with byte ranges that counts every byte it sends.

It stands in for an imagery archive in the AOI benchmark: GDAL's /vsicurl/ reads COGs with
HEAD and `Range: bytes=a-b` requests, and the count says how much an AOI read really pulls.
Single ranges only (what GDAL sends with its default settings); no directory listings, as
an object store has none. Binds 127.0.0.1 only. `delay_s` holds every answer back that long,
for the round trip to a cloud archive (none by default).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from landsat_assets_tests.support.processes import serving_in_thread

RANGE_PATTERN = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass
class Traffic:
    """What the server sent: body bytes and one (method, path, first, last) per request."""

    body_bytes: int = 0
    requests: list[tuple[str, str, int, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, method: str, path: str, first: int, last: int, sent: int) -> None:
        with self.lock:
            self.body_bytes += sent
            self.requests.append((method, path, first, last))


class RangeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, delay_s: float = 0.0) -> None:
        super().__init__(("127.0.0.1", 0), RangeRequestHandler)
        self.root = root.resolve()
        # Seconds each request waits before it is answered (the latency of a remote archive).
        self.delay_s = delay_s
        self.traffic = Traffic()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class RangeRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RangeServer

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the traffic record is the log."""

    def _file(self) -> Path | None:
        """The served file the request names, after the server's delay; None if there is none."""
        if self.server.delay_s > 0:
            time.sleep(self.server.delay_s)
        relative = unquote(urlsplit(self.path).path).lstrip("/")
        candidate = (self.server.root / relative).resolve()
        if not candidate.is_relative_to(self.server.root) or not candidate.is_file():
            return None
        return candidate

    def do_HEAD(self) -> None:
        path = self._file()
        if path is None:
            self._not_found()
            return
        # Recorded before the answer, so a client that has its answer finds it counted.
        self.server.traffic.record("HEAD", self.path, 0, -1, 0)
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Length", str(path.stat().st_size))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()

    def do_GET(self) -> None:
        path = self._file()
        if path is None:
            self._not_found()
            return
        size = path.stat().st_size
        first, last = 0, size - 1
        status = HTTPStatus.OK
        requested = self.headers.get("Range")
        if requested:
            match = RANGE_PATTERN.match(requested.strip())
            if match is None or match.groups() == ("", ""):
                self.send_error(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                return
            start, end = match.groups()
            if start:
                first, last = int(start), min(int(end), size - 1) if end else size - 1
            else:
                first, last = max(0, size - int(end)), size - 1
            if first >= size or first > last:
                self.send_error(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                return
            status = HTTPStatus.PARTIAL_CONTENT
        with path.open("rb") as handle:
            handle.seek(first)
            body = handle.read(last - first + 1)
        self.server.traffic.record("GET", self.path, first, last, len(body))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if status == HTTPStatus.PARTIAL_CONTENT:
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.end_headers()
        self.wfile.write(body)

    def _not_found(self) -> None:
        self.send_response(HTTPStatus.NOT_FOUND)
        self.send_header("Content-Length", "0")
        self.end_headers()


@contextmanager
def serve_directory(root: Path, delay_s: float = 0.0) -> Iterator[RangeServer]:
    """Serve `root` on 127.0.0.1 (a free port) in a thread, each request answered after
    `delay_s` seconds; always shut down on exit."""
    with serving_in_thread(RangeServer(root, delay_s), "range-server") as server:
        yield server
