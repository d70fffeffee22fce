"""Reader threads: one per spare core for local files, more for files read over the network."""

import pytest

from landsat_assets.science.blocks import (
    DEFAULT_WORKERS,
    REMOTE_READ_WORKERS,
    default_readers,
    is_remote,
)


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
