"""The `landsat-assets` executable: numpy loaded without OpenBLAS's idle threads, then the CLI.

numpy's wheels load OpenBLAS on import, which starts a thread per core that spins for about
2^28 cycles waiting for work before it sleeps. No command does linear algebra: on the 2-core
bench VM that spin was 0.12 s of the 0.43 s of CPU a command spends starting and stopping,
and 3 % of a full-scene NDVI (docs/performance.md). OpenBLAS reads its thread count from the
environment once, when it loads, so this module, which imports nothing of the project's, sets
it around numpy's import and puts the environment back: child processes (a user's script
among them) get the environment they were given.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

OPENBLAS_THREADS = "OPENBLAS_NUM_THREADS"


@contextlib.contextmanager
def variable_while(name: str, value: str) -> Iterator[None]:
    """`name` set to `value` in the environment inside the block, unless the user set it."""
    if name in os.environ:
        yield
        return
    os.environ[name] = value
    try:
        yield
    finally:
        del os.environ[name]


def load_numpy_without_blas_threads() -> None:
    """Import numpy with one OpenBLAS thread, unless numpy is loaded already or the user chose
    a thread count."""
    if "numpy" in sys.modules:
        return
    with variable_while(OPENBLAS_THREADS, "1"):
        import numpy  # noqa: F401


def main() -> int:
    load_numpy_without_blas_threads()
    from landsat_assets.cli import main as run_command

    return run_command()
