"""A real HTTP proxy on 127.0.0.1 in front of a real server, that injects faults.

Every request goes through a `Fault`: a function of the request and of a thunk that forwards
it upstream, returning the answer to send. The default forwards unchanged; a fault can
answer an error instead, hang, cut the body short or rewrite the upstream's JSON (its
paging links, its items). Answers keep the upstream's own links working because the
proxy forwards the client's Host header.
"""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from landsat_assets_tests.support.processes import LOOPBACK


@dataclass(frozen=True)
class ProxyRequest:
    method: str
    path: str
    body: bytes | None

    def json_body(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class Answer:
    status: int
    content: bytes
    content_type: str = "application/json"

    def json(self) -> Any:
        return json.loads(self.content)

    @classmethod
    def of_json(cls, document: Any, status: int = 200) -> Answer:
        return cls(status, json.dumps(document).encode())


class Forward(Protocol):
    """Sends the request upstream (with another body when given) and returns the answer."""

    def __call__(self, body: bytes | None = None) -> Answer: ...


Fault = Callable[[ProxyRequest, Forward], Answer]


def no_fault(_request: ProxyRequest, forward: Forward) -> Answer:
    return forward()


def is_search(request: ProxyRequest) -> bool:
    return request.path.startswith("/search")


def edit_search_page(
    request: ProxyRequest, forward: Forward, change: Callable[[dict[str, Any]], None]
) -> Answer:
    """Forward `request`; when it is a search the upstream answered with 200, let `change`
    edit the page's JSON in place before the client gets it. Every other answer passes
    unchanged. The common core of the faults that rewrite items or paging links."""
    answer = forward()
    if not is_search(request) or answer.status != 200:
        return answer
    page = answer.json()
    change(page)
    return Answer.of_json(page)


class FaultProxy:
    """Proxy to `upstream`; `fault` may be replaced between requests (a test switching a
    flaky period on and off). `requests` records (method, path, status) of every answer.
    `release()` ends every hang at once (also done on exit)."""

    def __init__(self, upstream: str, fault: Fault = no_fault) -> None:
        self.upstream = upstream.rstrip("/")
        self.fault = fault
        self.requests: list[tuple[str, str, int]] = []
        self.features_returned = 0
        self.lock = threading.Lock()
        self.released = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.handle(self, None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                proxy.handle(self, self.rfile.read(length))

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def release(self) -> None:
        self.released.set()

    def hang(self, seconds: float) -> None:
        """Block the calling handler (a fault) for `seconds` or until released."""
        self.released.wait(seconds)

    def searches(self) -> list[tuple[str, str, int]]:
        return [r for r in self.requests if r[1].startswith("/search") and r[2] == 200]

    def handle(self, handler: BaseHTTPRequestHandler, body: bytes | None) -> None:
        request = ProxyRequest(handler.command, handler.path, body)
        answer = self.fault(
            request, lambda other=None: self._forward(handler, body if other is None else other)
        )
        with self.lock:
            self.requests.append((handler.command, handler.path, answer.status))
            if handler.path.startswith("/search") and answer.status == 200:
                with contextlib.suppress(ValueError, KeyError, TypeError):  # a body cut short
                    self.features_returned += len(answer.json()["features"])
        try:
            handler.send_response(answer.status)
            handler.send_header("Content-Type", answer.content_type)
            handler.send_header("Content-Length", str(len(answer.content)))
            handler.end_headers()
            handler.wfile.write(answer.content)
        except OSError:
            pass  # the client gave up waiting (a hang outlived its timeout)

    def _forward(self, handler: BaseHTTPRequestHandler, body: bytes | None) -> Answer:
        request = urllib.request.Request(
            self.upstream + handler.path,
            data=body,
            method=handler.command,
            headers={
                "Host": handler.headers["Host"],  # links in the answers point back here
                "Content-Type": handler.headers.get("Content-Type", "application/json"),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return Answer(response.status, response.read(), response.headers["Content-Type"])
        except urllib.error.HTTPError as error:
            return Answer(error.code, error.read(), error.headers.get("Content-Type", "text/plain"))


class FlakyProxy(FaultProxy):
    """Answers 503 to the first try of each distinct request (or to every request), to
    exercise the client's retries."""

    def __init__(self, upstream: str, *, always: bool, fail_first: bool = True) -> None:
        super().__init__(upstream, self._flaky)
        self.always = always
        self.fail_first = fail_first
        self.seen: set[tuple[str, str, bytes | None]] = set()

    def _flaky(self, request: ProxyRequest, forward: Forward) -> Answer:
        key = (request.method, request.path, request.body)
        with self.lock:
            fail = self.always or (self.fail_first and key not in self.seen)
            self.seen.add(key)
        if fail:
            return Answer(503, b'{"detail":"busy"}')
        return forward()
