"""The floor the project's full-scene NDVI is measured against: the bare decode of the three
bands `landsat-assets ndvi` reads plus the bare encode of its output with the project's own
COG codec and overview settings, and nothing else (no arithmetic, no statistics, no scratch
file of the project's making).

Decode reads every band block by block, as the project does, in this thread. Encode copies
an uncompressed tiled GeoTIFF of the project's own NDVI output (written before the clock
starts) through `cog.publish_cog` with `INDEX_COG`, GDAL building the AVERAGE overviews from
it: the bare encode with the project's codec and overview settings. (The project itself
averages its overview levels from its blocks as it writes them and has the COG driver copy
them, which costs less than GDAL's own; docs/performance.md.) Wall and CPU
(user + system of every thread, `getrusage`) of the two phases are printed as JSON; the
interpreter's start-up and imports are not part of the floor.

Usage: python -m landsat_assets_tests.bench.floor RED NIR QA PROJECT_NDVI OUT
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import rasterio

from landsat_assets.science.cog import INDEX_COG, SCRATCH_PROFILE, publish_cog, scratch_path
from landsat_assets.science.windows import block_windows


def _clock() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), usage.ru_utime + usage.ru_stime


def floor(bands: list[str], ndvi: str, out: Path) -> dict[str, float]:
    with rasterio.open(ndvi) as source:
        profile = source.profile | SCRATCH_PROFILE
        values = source.read(1)
    with scratch_path(out) as scratch:
        with rasterio.open(scratch, "w", **profile) as dst:
            dst.write(values, 1)
        del values
        wall0, cpu0 = _clock()
        for path in bands:
            with rasterio.open(path) as dataset:
                for window in block_windows(dataset.height, dataset.width):
                    dataset.read(1, window=window)
        wall1, cpu1 = _clock()
        publish_cog(scratch, out, INDEX_COG)
        wall2, cpu2 = _clock()
    return {
        "decode_wall": wall1 - wall0,
        "decode_cpu": cpu1 - cpu0,
        "encode_wall": wall2 - wall1,
        "encode_cpu": cpu2 - cpu1,
        "wall": wall2 - wall0,
        "cpu": cpu2 - cpu0,
    }


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__.strip().splitlines()[-1])
    *band_paths, ndvi_path, out_path = sys.argv[1:]
    print(json.dumps(floor(band_paths, ndvi_path, Path(out_path))))
