"""Parallel block processing: both cores busy, memory bounded by a few blocks in flight.

GDAL releases the GIL while it decodes and numpy while it computes on whole blocks,
so a small thread pool keeps both cores busy. rasterio datasets are not thread safe,
so every worker thread opens its own handles; results come back in window order so
the single writer can stream them out.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import rasterio
from rasterio._err import CPLE_BaseError
from rasterio.errors import RasterioError
from rasterio.windows import Window

from landsat_assets.errors import BandReadError
from landsat_assets.science.allocator import reuse_freed_blocks
from landsat_assets.science.remote import is_remote

T = TypeVar("T")

DEFAULT_WORKERS = max(1, (os.cpu_count() or 1) - 1)
"""Reader threads for local band files: one core per reader and one for the consuming
thread's numpy work. On two cores one reader measured faster than two (1.75 s against 1.9 s
per full-scene NDVI, docs/performance.md): a third thread only made the two cores take turns."""

REMOTE_READ_WORKERS = 4
"""Reader threads for band files read over the network, where a reader mostly waits for the
server: with 30 ms per request, a 60 km AOI took 1.76 s with one reader, 1.39 s with two and
0.99 s with four (docs/performance.md)."""


def default_readers(path: str) -> int:
    """Reader threads for a band file: `REMOTE_READ_WORKERS` over the network, otherwise
    `DEFAULT_WORKERS`."""
    return REMOTE_READ_WORKERS if is_remote(path) else DEFAULT_WORKERS


def _read(dataset: rasterio.io.DatasetReader, source: BandSource, window: Window) -> np.ndarray:
    try:
        return dataset.read(source.band, window=window)
    except (RasterioError, CPLE_BaseError) as error:
        # rasterio's own message often only points at the GDAL error it chains.
        raise BandReadError(source.path, str(error.__cause__ or error)) from error


@dataclass(frozen=True)
class BandSource:
    """One band of one raster file or URL (1-based band index, as GDAL counts)."""

    path: str
    band: int = 1


@dataclass(frozen=True)
class ScaledBand:
    """A band to read and its (scale, offset) turning DNs into physical values."""

    source: BandSource
    scale: tuple[float, float] = (1.0, 0.0)


ProgressCallback = Callable[[int, int], None]


def process_blocks(
    sources: Sequence[BandSource],
    windows: Iterable[Window],
    compute: Callable[[Window, list[np.ndarray]], T],
    *,
    source_offset: tuple[int, int] = (0, 0),
    workers: int = DEFAULT_WORKERS,
    progress: ProgressCallback | None = None,
) -> Iterator[tuple[Window, T]]:
    """Read `sources` at each window (shifted by `source_offset` rows, cols), run
    `compute` in a worker thread, and yield `(window, result)` in window order."""
    reuse_freed_blocks()
    local = threading.local()
    row_offset, col_offset = source_offset
    window_list = list(windows)

    def datasets() -> dict[str, rasterio.io.DatasetReader]:
        if not hasattr(local, "datasets"):
            local.datasets = {}
        for path in {s.path for s in sources}:
            if path not in local.datasets:
                local.datasets[path] = rasterio.open(path)
        return local.datasets

    opened: list[dict[str, rasterio.io.DatasetReader]] = []
    opened_lock = threading.Lock()

    def run(window: Window) -> T:
        handles = datasets()
        if not getattr(local, "registered", False):
            with opened_lock:
                opened.append(handles)
            local.registered = True
        source_window = Window(
            window.col_off + col_offset, window.row_off + row_offset, window.width, window.height
        )
        arrays = [_read(handles[s.path], s, source_window) for s in sources]
        return compute(window, arrays)

    in_flight: deque[tuple[Window, Future[T]]] = deque()
    pending = iter(window_list)
    total = len(window_list)
    done = 0
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="blocks") as pool:
        try:
            for window in pending:
                in_flight.append((window, pool.submit(run, window)))
                if len(in_flight) >= 2 * workers:
                    break
            while in_flight:
                window, future = in_flight.popleft()
                result = future.result()
                next_window = next(pending, None)
                if next_window is not None:
                    in_flight.append((next_window, pool.submit(run, next_window)))
                done += 1
                if progress is not None:
                    progress(done, total)
                yield window, result
        finally:
            for _, future in in_flight:
                future.cancel()
            pool.shutdown(wait=True)
            for handles in opened:
                for dataset in handles.values():
                    dataset.close()
