"""`make dev`: `dagster dev` under a supervisor that stops it on SIGTERM, as process managers
and containers expect.

Started from a non-interactive shell, `dagster dev` ignores SIGINT (it inherits SIG_IGN) and
its processes outlive a SIGTERM to their group by a minute or more. Here it runs in its own
process group with SIGINT restored; SIGTERM or SIGINT to this supervisor becomes SIGINT to
that whole group (Dagster's own clean shutdown), and whatever is left after
`SHUTDOWN_GRACE_S` is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

SHUTDOWN_GRACE_S = 7.0
"""Seconds Dagster gets to stop its webserver, daemon and code servers after SIGINT."""


def _restore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run(arguments: Sequence[str]) -> int:
    dagster = Path(sys.executable).with_name("dagster")
    child = subprocess.Popen(
        [str(dagster), "dev", *arguments], start_new_session=True, preexec_fn=_restore_sigint
    )
    stop_requested: list[float] = []

    def stop(_signum: int, _frame: object) -> None:
        stop_requested.append(time.monotonic())
        with suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGINT)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        try:
            code = child.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            if stop_requested and time.monotonic() - stop_requested[0] > SHUTDOWN_GRACE_S:
                with suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
    with suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)  # code servers Dagster left behind
    return code


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
