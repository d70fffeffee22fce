"""Real servers for tests: started on 127.0.0.1, waited for, and always stopped.

A server runs in its own process group (`start_new_session`), so stopping it also stops
whatever it spawned (uvicorn workers, dagster's webserver and daemon); it is stopped by
that group id, never by a process name, because other engineers' servers share the machine.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import HTTPServer
from pathlib import Path

LOOPBACK = "127.0.0.1"

ReadyCheck = Callable[[], bool]


class ServerNotReady(RuntimeError):
    """The server exited or did not become ready in time; the message ends with its log."""


@dataclass(frozen=True)
class RunningServer:
    process: subprocess.Popen[bytes]
    host: str
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            return f"(log {self.log_path} unreadable: {error})"
        return "\n".join(text.splitlines()[-lines:])


def free_port(host: str = LOOPBACK) -> int:
    """A port that was free a moment ago (the OS picks it; another process could still take
    it before the server binds, which a failing readiness check then reports)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tcp_ready(port: int, host: str = LOOPBACK) -> ReadyCheck:
    def check() -> bool:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return True
        except OSError:
            return False

    return check


def http_ready(url: str) -> ReadyCheck:
    """Ready once the URL answers with a status below 500 (a 404 still proves it listens)."""

    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2.0) as response:
                return int(response.status) < 500
        except urllib.error.HTTPError as error:
            return error.code < 500
        except (OSError, ValueError):
            return False

    return check


@contextmanager
def running_server(
    cmd: Sequence[str],
    *,
    port: int,
    host: str = LOOPBACK,
    ready: ReadyCheck | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    log_path: Path | None = None,
    ready_timeout: float = 30.0,
    stop_timeout: float = 10.0,
) -> Iterator[RunningServer]:
    """Run `cmd` (which must make the server listen on host:port) for the `with` block.

    `ready` defaults to a TCP connect to host:port. `env` is added to the current
    environment. Output goes to `log_path` (a kept temporary file by default). On leaving
    the block, also through an exception, the process group gets SIGTERM and, after
    `stop_timeout` seconds, SIGKILL.
    """
    if log_path is None:
        handle, name = tempfile.mkstemp(prefix="server-", suffix=".log")
        os.close(handle)
        log_path = Path(name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    check = ready if ready is not None else tcp_ready(port, host)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    server = RunningServer(process=process, host=host, port=port, log_path=log_path)
    try:
        wait_ready(server, check, cmd, ready_timeout)
        yield server
    finally:
        stop_process_group(process, stop_timeout)


def stop_process_group(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the group led by `process`, SIGKILL it after `timeout` if anything is left."""
    group = process.pid
    _signal_group(group, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _group_alive(group, process):
        time.sleep(0.05)
    if _group_alive(group, process):
        _signal_group(group, signal.SIGKILL)
    process.wait(timeout=timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _group_alive(group, process):
        time.sleep(0.05)


def wait_ready(
    server: RunningServer, check: ReadyCheck, cmd: Sequence[str], timeout: float
) -> None:
    """Wait until `check` passes; raise ServerNotReady with the log tail as soon as the
    process exits, or after `timeout` seconds (also for a server started without waiting)."""
    deadline = time.monotonic() + timeout
    while True:
        code = server.process.poll()
        if code is not None:
            raise ServerNotReady(
                f"{' '.join(cmd)} exited with code {code} before it was ready; "
                f"log {server.log_path}:\n{server.log_tail()}"
            )
        if check():
            return
        if time.monotonic() > deadline:
            raise ServerNotReady(
                f"{' '.join(cmd)} was not ready on {server.host}:{server.port} after "
                f"{timeout:.0f} s; log {server.log_path}:\n{server.log_tail()}"
            )
        time.sleep(0.1)


def _group_alive(group: int, process: subprocess.Popen[bytes]) -> bool:
    """Whether any process of the group still runs (the leader is reaped first so that a
    zombie leader does not count)."""
    process.poll()
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return process.returncode is None or _has_live_members(group)


def _has_live_members(group: int) -> bool:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, process_group = fields[0], int(fields[2])
        if process_group == group and state != "Z":
            return True
    return False


def _signal_group(group: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(group, sig)


@contextmanager
def serving_in_thread(server: HTTPServer, name: str = "test-http-server") -> Iterator[HTTPServer]:
    """Run an in-process HTTP server in a daemon thread; shut it down and close its socket
    on exit, whatever happened in between."""
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
