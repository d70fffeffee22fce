"""The realistic backfill comparison (`remote_backfill.py`) on tiny data: 64 px demo bands
served by the range server without delay. Its figures are the benchmark's to report; this
checks that both sides do the same work over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from landsat_assets.demo import DEMO_AOI_PATH
from landsat_assets.demo.catalog import build_demo_catalog
from landsat_assets.science.status import SceneStatus
from landsat_assets.stac.aoi import load_aoi
from landsat_assets_tests.bench import remote_backfill
from landsat_assets_tests.bench.remote_backfill import BANDS, measure_remote_backfill
from landsat_assets_tests.support.catalogs import COLLECTION, band_file

SCENES = 2


def clear_bands(catalog: Path) -> dict[str, Path]:
    """The band files of the clearest demo scene of the comparison's path/row."""
    items = [
        json.loads(path.read_text())
        for path in (catalog.parent / COLLECTION).glob("*/*.json")
        if path.name != "collection.json"
    ]
    clearest = min(
        (i for i in items if i["properties"]["landsat:wrs_path"] == remote_backfill.WRS_PATH),
        key=lambda item: item["properties"]["eo:cloud_cover"],
    )
    return {role: band_file(catalog, clearest["id"], role) for role in BANDS}


def test_both_sides_read_the_same_scenes_over_http_and_agree(tmp_path: Path) -> None:
    catalog = build_demo_catalog(tmp_path / "demo", size=64, dates=2)
    timing = measure_remote_backfill(
        tmp_path,
        clear_bands(catalog),
        load_aoi(str(DEMO_AOI_PATH)).to_geojson(),
        scenes=SCENES,
        rounds=1,
        delay_s=0.0,
        warm_up=False,
    )
    (dagster,), (loop,) = timing.dagster, timing.loop
    assert len(dagster.summary) == SCENES
    pd.testing.assert_frame_equal(
        dagster.summary[["scene_id", "status"]], loop.summary[["scene_id", "status"]]
    )
    assert set(loop.summary["status"]) == {SceneStatus.PROCESSED.value}
    np.testing.assert_allclose(
        dagster.summary["ndvi_mean"].to_numpy(), loop.summary["ndvi_mean"].to_numpy(), atol=1e-6
    )
    assert timing.same_summary
    for side in (dagster, loop):
        read = {
            Path(path).parent.name + "/" + Path(path).name
            for method, path, first, last in side.traffic.requests
            if method == "GET" and last >= first
        }
        # Every band of every scene was read over HTTP, under that scene's own URL.
        assert len(read) == SCENES * len(BANDS)
        assert side.traffic.body_bytes > 0
    assert dagster.requests == loop.requests
    assert dagster.traffic.body_bytes == loop.traffic.body_bytes
