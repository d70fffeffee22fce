"""Reader threads (one per spare core for local files, more for files read over the network),
and the allocator tuning every block pass starts with."""

import subprocess
import sys

import numpy as np
import pytest

from landsat_assets.science.blocks import (
    DEFAULT_WORKERS,
    REMOTE_READ_WORKERS,
    default_readers,
)
from landsat_assets.science.remote import is_remote
from landsat_assets_tests.support.rasters import write_band


@pytest.mark.parametrize(
    "path",
    [
        "s3://usgs-landsat/collection02/level-2/LC08_SR_B4.TIF",
        "https://landsateuwest.blob.core.windows.net/landsat-c2/LC08_SR_B4.TIF",
        "http://127.0.0.1:8000/files/LC08_SR_B4.TIF",
        "/vsicurl/https://example.test/LC08_SR_B4.TIF",
        "/vsis3/usgs-landsat/LC08_SR_B4.TIF",
    ],
)
def test_network_paths_get_the_remote_reader_count(path: str) -> None:
    assert is_remote(path)
    assert default_readers(path) == REMOTE_READ_WORKERS


@pytest.mark.parametrize(
    "path",
    [
        "/data/scene_bands/LC08_L2SP_033032_20230805_02_T1.tif",
        "relative/LC08_SR_B4.TIF",
        "file:///data/LC08_SR_B4.TIF",
        "/vsimem/scratch.tif",
    ],
)
def test_local_paths_get_one_reader_per_spare_core(path: str) -> None:
    assert not is_remote(path)
    assert default_readers(path) == DEFAULT_WORKERS


PASS = """
import resource
import numpy as np
from landsat_assets.science import allocator
if not {tuned}:
    allocator.reuse_freed_blocks = lambda: False
from landsat_assets.science import qa
from landsat_assets.science.blocks import BandSource, process_blocks
from landsat_assets.science.indices import NDVI, block_indices
from landsat_assets.science.windows import block_windows

lookup = qa.usable_lookup(qa.DEFAULT_USABLE_CLASSES)
scales = dict.fromkeys(("red", "nir08"), (2.75e-05, -0.2))
start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for window, (red, nir, qa_pixel) in process_blocks(
    [BandSource({path!r})] * 3, block_windows(2048, 2048), lambda w, arrays: arrays, workers=1
):
    block_indices([NDVI], {{"red": red, "nir08": nir}}, scales, qa_pixel, lookup)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
"""


def page_faults_of_a_pass(band: str, *, tuned: bool) -> int:
    script = PASS.format(path=band, tuned=tuned)
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return int(completed.stdout)


def test_block_passes_reuse_freed_temporaries_instead_of_faulting_them_in_again(tmp_path):
    """A block pass starts by tuning glibc (science/allocator.py), so the temporaries freed
    after one block are reused for the next from the heap, where by default most of them
    were faulted in again: the same NDVI pass over 16 blocks, with and without."""
    values = np.random.default_rng(1).integers(8000, 30000, (2048, 2048), dtype=np.uint16)
    band = write_band(tmp_path / "band.tif", values)
    untuned = page_faults_of_a_pass(band, tuned=False)
    tuned = page_faults_of_a_pass(band, tuned=True)
    assert tuned < untuned / 3, (tuned, untuned)
