"""How the C allocator treats the blocks' temporaries, tuned for streaming pixel passes.

A pass allocates and frees the same few megabyte-sized arrays for every block (band reads,
float64 reflectance, masks). glibc serves each from a fresh `mmap` and returns it with
`munmap`, or trims its heap after the free, so every block pays its page faults again: on a
full scene that was a second of system CPU (1.7-2.3 s against 0.8-0.9 s with the tuning
below, `landsat-assets ndvi` on the bench scene, docs/performance.md), with the same peak
memory. Raising glibc's mmap and trim thresholds lets freed blocks be reused from the heap.
Other C libraries are left as they are.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
"""Allocations below this come from the heap (glibc's own ceiling for its dynamic
threshold): every per-block array of a 512 x 512 block does."""
TRIM_THRESHOLD_BYTES = 128 * 1024 * 1024
"""Free heap kept for the next blocks before glibc returns memory to the system."""

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


@functools.cache
def reuse_freed_blocks() -> bool:
    """Tune glibc's malloc for block passes, once per process; False where there is no
    glibc (nothing is changed then)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
