"""Run one command and write its wall time, CPU time and peak RSS as JSON.

Why a separate small process: Linux carries the forking process's RSS high-water mark
into the child (fork copies it, exec folds it into the child's `ru_maxrss`), so a child
forked from the benchmark, which has held a 3 GB scene in memory, would report at least
3 GB. This wrapper starts fresh at a few MB, forks the measured command and reads the
kernel's accounting of that one child with `os.wait4`.

Usage: python measure.py RESULT_JSON LOG -- COMMAND...
"""

from __future__ import annotations

import json
import os
import sys
import time


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        sys.exit(__doc__.strip().splitlines()[-1])
    result_path, log_path, command = argv[0], argv[1], argv[3:]
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.dup2(log, 1)
        os.dup2(log, 2)
        try:
            os.execvp(command[0], command)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    os.close(log)
    result = {
        "exit_code": os.waitstatus_to_exitcode(status),
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_rss": usage.ru_maxrss * 1024,
    }
    with open(result_path, "w") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
