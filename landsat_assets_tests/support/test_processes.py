"""The server helper must stop everything it started, also when the test body fails."""

from __future__ import annotations

import os
import socket
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from landsat_assets_tests.support.processes import (
    ServerNotReady,
    free_port,
    http_ready,
    running_server,
    tcp_ready,
)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_http_server_ready_then_stopped(tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("hello")
    port = free_port()
    cmd = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    with running_server(
        cmd,
        port=port,
        cwd=tmp_path,
        ready=http_ready(f"http://127.0.0.1:{port}/"),
        log_path=tmp_path / "http.log",
    ) as server:
        with urllib.request.urlopen(f"{server.url}/hello.txt", timeout=5) as response:
            assert response.read() == b"hello"
        assert os.getpgid(server.process.pid) == server.process.pid
        pid = server.process.pid
    assert not _alive(pid)
    assert not tcp_ready(port)()
    assert "GET /hello.txt" in (tmp_path / "http.log").read_text()


def test_group_stopped_when_the_body_raises(tmp_path: Path) -> None:
    port = free_port()
    child_pid_file = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, pathlib, http.server;"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']);"
        f"pathlib.Path({str(child_pid_file)!r}).write_text(str(child.pid));"
        f"http.server.test(HandlerClass=http.server.SimpleHTTPRequestHandler, port={port},"
        " bind='127.0.0.1')"
    )
    with (
        pytest.raises(RuntimeError, match="test body failed"),
        running_server([sys.executable, "-c", script], port=port, cwd=tmp_path) as server,
    ):
        leader = server.process.pid
        raise RuntimeError("test body failed")
    child = int(child_pid_file.read_text())
    assert not _alive(leader)
    assert not _alive(child)


def test_sigterm_ignored_then_killed(tmp_path: Path) -> None:
    port = free_port()
    script = (
        "import signal, socket, time;"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        f"s = socket.create_server(('127.0.0.1', {port}));"
        "time.sleep(300)"
    )
    started = time.monotonic()
    with running_server([sys.executable, "-c", script], port=port, stop_timeout=1.0) as server:
        pid = server.process.pid
    assert not _alive(pid)
    assert server.process.returncode == -9
    assert time.monotonic() - started < 15


def test_exit_before_ready_reports_log_tail(tmp_path: Path) -> None:
    port = free_port()
    script = "import sys; print('config missing: DATABASE_URL'); sys.exit(3)"
    with (
        pytest.raises(ServerNotReady, match=r"(?s)exited with code 3.*config missing"),
        running_server([sys.executable, "-c", script], port=port, log_path=tmp_path / "bad.log"),
    ):
        pytest.fail("the body must not run")


def test_never_ready_times_out_and_stops(tmp_path: Path) -> None:
    port = free_port()
    script = "print('still starting', flush=True); import time; time.sleep(300)"
    started = time.monotonic()
    with (
        pytest.raises(ServerNotReady, match=r"(?s)not ready on 127.0.0.1.*still starting"),
        running_server(
            [sys.executable, "-c", script], port=port, ready_timeout=1.5, stop_timeout=2.0
        ),
    ):
        pytest.fail("the body must not run")
    assert time.monotonic() - started < 10


def test_free_port_is_bindable_and_tcp_ready_sees_listeners() -> None:
    port = free_port()
    with socket.create_server(("127.0.0.1", port)):
        assert tcp_ready(port)()
    assert not tcp_ready(port)()
