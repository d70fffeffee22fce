"""The processing resource's reader threads: set once for every file, or chosen per file."""

from landsat_assets.resources.processing import SceneProcessing
from landsat_assets.science.blocks import DEFAULT_WORKERS, REMOTE_READ_WORKERS


def test_readers_follow_where_the_file_is_by_default() -> None:
    processing = SceneProcessing()
    assert processing.readers_for("/data/bands.tif") == DEFAULT_WORKERS
    assert processing.readers_for("s3://bucket/bands.tif") == REMOTE_READ_WORKERS


def test_configured_readers_apply_to_every_file() -> None:
    processing = SceneProcessing(workers=3)
    assert processing.readers_for("/data/bands.tif") == 3
    assert processing.readers_for("s3://bucket/bands.tif") == 3
