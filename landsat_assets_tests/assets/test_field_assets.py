"""Fields through the main job: `field_stats` per scene, `field_timeseries` over all of them,
the AOI taken from the fields, a fields change recomputing what it affects."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey

from landsat_assets_tests.support.fields import FIELDS, field_run_env, run_main_job, write_fields


@pytest.fixture
def env(small_demo_catalog, tmp_path) -> dict[str, str]:
    return field_run_env(small_demo_catalog, tmp_path)


def timeseries(env) -> pd.DataFrame:
    return pd.read_parquet(Path(env["LANDSAT_STORAGE"]) / "field_timeseries.parquet")


def test_every_field_of_every_scene_is_measured_and_decided(instance, env):
    report, _lines = run_main_job(instance, env)
    found = [r.scene_key for r in report.found]
    assert found

    table = timeseries(env)
    assert len(table) == len(found) * len(FIELDS)
    assert set(table["field_id"]) == set(FIELDS)
    assert table["cover"].tolist() == [FIELDS[f][1] for f in table["field_id"]]
    tiny = table[table["field_id"] == "plot-7"]
    assert (tiny["status"] == "no_data").all()
    assert tiny["reason"].str.contains("smaller than a pixel").all()
    measured = table[table["field_id"] != "plot-7"]
    assert (measured["pixel_count"] > 0).all()
    processed = measured[measured["status"] == "processed"]
    assert len(processed), "no field was clear in any scene"
    assert processed["ndvi_mean"].between(-1, 1).all()
    assert (processed["ndvi_p10"] <= processed["ndvi_median"]).all()
    assert (processed["ndvi_median"] <= processed["ndvi_p90"]).all()
    filtered = measured[measured["status"] == "filtered_cloudy"]
    assert filtered["ndvi_mean"].isna().all()
    assert (filtered["clear_fraction"] < 0.2).all()
    assert (processed["clear_fraction"] >= 0.2).all()
    assert instance.get_materialized_partitions(AssetKey("field_stats")) == set(found)

    again, lines = run_main_job(instance, env)
    assert set(again.up_to_date) == set(found), lines


def test_a_changed_fields_file_recomputes_the_field_products_only(instance, env, tmp_path):
    report, _lines = run_main_job(instance, env)
    write_fields(Path(env["LANDSAT_FIELDS"]), covers={"town": "suburban"})

    _again, lines = run_main_job(instance, env)

    assert f"fields changed: {len(report.found)} scene(s) to recompute." in lines
    table = timeseries(env)
    assert set(table.loc[table["field_id"] == "town", "cover"]) == {"suburban"}
    assert len(table) == len(report.found) * len(FIELDS)
