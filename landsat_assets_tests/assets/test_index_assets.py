"""LANDSAT_INDICES through the main job: the `spectral_indices` raster, the other indices in
the summary and the field tables, only the bands they need read, saturation from QA_RADSAT,
and a change of indices recomputing what it affects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from dagster import AssetKey

from landsat_assets.science.statistics import SCENE_STATISTICS
from landsat_assets_tests.support.fields import field_run_env, run_main_job

OTHERS = ("evi", "ndmi", "nbr")


@pytest.fixture
def env(small_demo_catalog, tmp_path) -> dict[str, str]:
    return field_run_env(small_demo_catalog, tmp_path, LANDSAT_INDICES=",".join(OTHERS))


def storage(env) -> Path:
    return Path(env["LANDSAT_STORAGE"])


def test_every_configured_index_is_computed_stored_and_summarized(instance, env):
    report, _ = run_main_job(instance, env)
    found = {r.scene_key for r in report.found}
    summary = pd.read_parquet(storage(env) / "ndvi_summary.parquet")
    processed = summary[summary["status"] == "processed"]
    assert len(processed) and len(processed) < len(summary)
    assert instance.get_materialized_partitions(AssetKey("spectral_indices")) == found

    for scene in processed["scene_id"]:
        with rasterio.open(storage(env) / "scene_bands" / f"{scene}.tif") as bands:
            # Only the bands the indices need: EVI blue, NDMI SWIR 1.6, NBR SWIR 2.2.
            assert bands.descriptions == (
                "red", "nir08", "qa_pixel", "blue", "swir16", "swir22", "qa_radsat"
            )  # fmt: skip
        with rasterio.open(storage(env) / "spectral_indices" / f"{scene}.tif") as raster:
            assert raster.descriptions == OTHERS
            assert "QA_RADSAT applied" in raster.tags()["SATURATION"]
            row = processed[processed["scene_id"] == scene].iloc[0]
            for number, index in enumerate(OTHERS, start=1):
                values = raster.read(number)
                valid = values[~np.isnan(values)].astype(np.float64)
                assert row[f"{index}_mean"] == pytest.approx(valid.mean(), rel=1e-9)
                assert row[f"{index}_median"] == float(np.median(valid))
    columns = list(summary.columns)
    assert columns.index("ndvi_max") < columns.index("evi_mean") < columns.index("status")
    assert processed[[f"{i}_{s}" for i in OTHERS for s in SCENE_STATISTICS]].notna().all().all()
    assert summary.loc[summary["status"] != "processed", "evi_mean"].isna().all()
    for index in ("ndmi", "nbr"):  # normalized differences
        assert processed[f"{index}_min"].ge(-1).all() and processed[f"{index}_max"].le(1).all()

    fields = pd.read_parquet(storage(env) / "field_timeseries.parquet")
    measured = fields[fields["status"] == "processed"]
    assert len(measured)
    for index in ("ndvi", *OTHERS):
        with_values = measured[measured[f"{index}_median"].notna()]
        assert len(with_values), index
        assert (with_values[f"{index}_p10"] <= with_values[f"{index}_median"]).all(), index
        assert (with_values[f"{index}_median"] <= with_values[f"{index}_p90"]).all(), index


def test_saturated_pixels_are_masked_and_counted(instance, env):
    run_main_job(
        instance, env | {"LANDSAT_AOI": "none"}
    )  # whole scenes: snow fields and cloud tops
    records = instance.fetch_materializations(AssetKey("spectral_indices"), limit=100).records
    counts = [
        r.asset_materialization.metadata
        for r in records
        if r.asset_materialization.metadata.get("status").value == "processed"
    ]
    assert counts
    # The demo flags blue saturation on fresh snow and cloud tops: EVI (blue) loses pixels in
    # some scene, NDMI and NBR (no blue or green) never do.
    assert any(m["evi_saturated_pixel_count"].value > 0 for m in counts)
    assert all(m["ndmi_saturated_pixel_count"].value == 0 for m in counts)
    assert all(m["nbr_saturated_pixel_count"].value == 0 for m in counts)


def test_changing_the_indices_recomputes_what_they_shape(instance, env):
    report, _ = run_main_job(instance, env)
    env = env | {"LANDSAT_INDICES": "evi,ndmi,nbr,ndwi"}

    _again, lines = run_main_job(instance, env)

    count = len(report.found)
    assert f"bands read changed: {count} scene(s) to recompute." in lines
    assert f"indices changed: {count} scene(s) to recompute." in lines
    summary = pd.read_parquet(storage(env) / "ndvi_summary.parquet")
    assert summary.loc[summary["status"] == "processed", "ndwi_mean"].notna().all()
    assert len(summary) == len(report.found)
    third, lines = run_main_job(instance, env)
    assert set(third.up_to_date) == {r.scene_key for r in report.found}, lines
