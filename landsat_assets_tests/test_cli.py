"""The `landsat-assets` command as a user runs it: real subprocesses, real files."""

import json

import pytest
from rio_cogeo.cogeo import cog_validate

from landsat_assets import cli
from landsat_assets.cli import root_cause
from landsat_assets_tests.support.cli import landsat_assets
from landsat_assets_tests.support.deployment import POSTGRES_INSTANCE, dagster_home
from landsat_assets_tests.support.fields import FIELDS, write_fields
from landsat_assets_tests.support.processes import free_port
from landsat_assets_tests.support.rasters import synthetic_scene


def test_ndvi_command_writes_a_cog_and_prints_statistics(tmp_path):
    bands = synthetic_scene(tmp_path, shape=(700, 600))
    out = tmp_path / "out" / "ndvi.tif"
    result = landsat_assets("ndvi", bands["red"], bands["nir08"], bands["qa_pixel"], str(out))
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["status"] == "processed"
    assert stats["output"] == str(out)
    assert stats["valid_pixel_count"] > 0
    assert -1 <= stats["ndvi_median"] <= 1
    assert cog_validate(str(out))[0]


def test_ndvi_command_filters_cloudy_input_and_names_bad_files(tmp_path):
    bands = synthetic_scene(tmp_path, shape=(100, 100))
    out = tmp_path / "ndvi.tif"
    filtered = landsat_assets(
        "ndvi",
        bands["red"],
        bands["nir08"],
        bands["qa_pixel"],
        str(out),
        "--min-clear-fraction",
        "0.99",
    )
    assert filtered.returncode == 0
    assert json.loads(filtered.stdout)["status"] == "filtered_cloudy"
    assert not out.exists()
    missing = landsat_assets(
        "ndvi", bands["red"], str(tmp_path / "nope.tif"), bands["qa_pixel"], str(out)
    )
    assert missing.returncode == 2
    assert "nope.tif" in missing.stderr and "nir08" in missing.stderr


@pytest.mark.realworld
def test_inspect_prints_the_normalized_record(realworld):
    item = realworld / "items" / "usgs_landsatlook_LC09_L2SP_092068_20230607_20230609_02_T1_SR.json"
    result = landsat_assets("inspect", str(item))
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["scene_key"] == "LC09_L2SP_092068_20230607_02_T1"
    assert record["platform"] == "landsat-9"
    assert record["bands"]["red"]["scale"] == 2.75e-05


def test_inspect_names_a_bad_file(tmp_path):
    bad = tmp_path / "item.json"
    bad.write_text('{"type": "Feature", "id": "x"')
    result = landsat_assets("inspect", str(bad))
    assert result.returncode == 2
    assert "item.json" in result.stderr


def test_run_then_summary_json(tmp_path, small_demo_catalog):
    env = {
        "DAGSTER_HOME": str(tmp_path / "home"),
        "LANDSAT_STORAGE": str(tmp_path / "data"),
        "LANDSAT_STAC_URL": str(small_demo_catalog),
        "LANDSAT_END_DATE": "2023-03-01",
    }
    run = landsat_assets("run", "--scenes-per-run", "5", env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Landsat scene pipeline" in run.stdout
    assert "failed               0" in run.stdout
    assert (tmp_path / "home" / "dagster.yaml").exists()
    summary = landsat_assets("summary", "--json", env=env, cwd=tmp_path)
    assert summary.returncode == 0, summary.stderr
    rows = json.loads(summary.stdout)
    assert rows and {r["status"] for r in rows} <= {"processed", "filtered_cloudy", "no_data"}
    assert all(r["datetime"] < "2023-03-02" for r in rows)
    assert set(rows[0]) == {
        "scene_id",
        "datetime",
        "platform",
        "wrs_path",
        "wrs_row",
        "scene_cloud_cover",
        "aoi_clear_fraction",
        "aoi_cloud_fraction",
        "valid_pixel_count",
        "ndvi_mean",
        "ndvi_median",
        "ndvi_std",
        "ndvi_min",
        "ndvi_max",
        "status",
    }


def test_bad_settings_fail_clearly(tmp_path, small_demo_catalog):
    base = {"DAGSTER_HOME": str(tmp_path / "home"), "LANDSAT_STORAGE": str(tmp_path / "data")}
    bad_number = landsat_assets(
        "run",
        env={
            **base,
            "LANDSAT_STAC_URL": str(small_demo_catalog),
            "LANDSAT_MIN_CLEAR_FRACTION": "lots",
        },
        cwd=tmp_path,
    )
    assert bad_number.returncode != 0
    assert "LANDSAT_MIN_CLEAR_FRACTION" in bad_number.stderr
    assert "Traceback" not in bad_number.stderr
    bad_aoi = landsat_assets(
        "run",
        "--aoi",
        "10,5,0,6",
        env={**base, "LANDSAT_STAC_URL": str(small_demo_catalog)},
        cwd=tmp_path,
    )
    assert bad_aoi.returncode != 0
    assert "10,5,0,6" in bad_aoi.stderr
    assert bad_aoi.stderr.startswith("error: --aoi='10,5,0,6': bbox")
    missing = landsat_assets(
        "run", "--catalog", str(tmp_path / "missing.json"), env=base, cwd=tmp_path
    )
    assert missing.returncode != 0
    assert "missing.json" in missing.stderr
    assert missing.stderr.startswith("error: ") and "Traceback" not in missing.stderr


def test_unreachable_postgres_instance_is_named_without_its_password(tmp_path, small_demo_catalog):
    home = dagster_home(tmp_path / "home", POSTGRES_INSTANCE)
    port = free_port()  # nothing listens there
    result = landsat_assets(
        "run",
        env={
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_URL": f"postgresql+psycopg2://dagster:planted-pw-123@127.0.0.1:{port}/dagster",
            "LANDSAT_STAC_URL": str(small_demo_catalog),
            "LANDSAT_STORAGE": str(tmp_path / "data"),
        },
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert f"error: cannot open the Dagster instance {home / 'dagster.yaml'}" in result.stderr
    assert f'"127.0.0.1", port {port}' in result.stderr
    assert "planted-pw-123" not in result.stderr + result.stdout


def test_root_cause_masks_passwords_in_urls():
    try:
        try:
            raise OSError("could not connect to postgresql://dagster:hunter2@db:5432/dagster")
        except OSError as inner:
            raise RuntimeError("too many retries") from inner
    except RuntimeError as error:
        assert root_cause(error) == "could not connect to postgresql://<redacted>@db:5432/dagster"


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--aoi", "-105.3,39.9,-105.1,40.1"],
        ["run", "--aoi=-105.3,39.9,-105.1,40.1"],
        ["run", "--start", "2024-01-01", "--aoi", "-105.3,39.9,-105.1,40.1"],
    ],
)
def test_negative_coordinates_are_values_in_both_forms(argv):
    args = cli.build_parser().parse_args(cli.with_negative_values_attached(argv))
    assert args.aoi == "-105.3,39.9,-105.1,40.1"


def test_a_negative_bbox_reaches_the_settings_check(monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "--aoi", "-200,39.9,-105.1,40.1"]) == 2
    assert capsys.readouterr().err.startswith("error: --aoi='-200,39.9,-105.1,40.1': bbox")


def test_run_with_fields_then_the_fields_command(tmp_path, small_demo_catalog):
    fields = write_fields(tmp_path / "fields.geojson")
    env = {
        "DAGSTER_HOME": str(tmp_path / "home"),
        "LANDSAT_STORAGE": str(tmp_path / "data"),
        "LANDSAT_STAC_URL": str(small_demo_catalog),
        "LANDSAT_END_DATE": "2023-02-15",
    }
    run = landsat_assets("run", "--fields", str(fields), env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"Fields ({len(FIELDS)}; every row: landsat-assets fields)" in run.stdout
    assert "plot-7" in run.stdout

    as_json = landsat_assets("fields", "--json", "--field", "town", env=env, cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)
    assert rows and {r["field_id"] for r in rows} == {"town"}
    assert {"scene_id", "clear_fraction", "status", "ndvi_p90", "cover"} <= set(rows[0])

    as_csv = landsat_assets("fields", "--csv", env=env, cwd=tmp_path)
    assert as_csv.returncode == 0, as_csv.stderr
    assert as_csv.stdout.splitlines()[0].startswith("scene_id,datetime,platform")
    assert len(as_csv.stdout.splitlines()) == len(rows) * len(FIELDS) + 1

    unknown = landsat_assets("fields", "--field", "nowhere", env=env, cwd=tmp_path)
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "error: --field nowhere: no such field in the time series"


def test_a_bad_fields_file_is_one_line(tmp_path, small_demo_catalog):
    bad = tmp_path / "fields.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": []}')
    env = {"DAGSTER_HOME": str(tmp_path / "home"), "LANDSAT_STAC_URL": str(small_demo_catalog)}
    run = landsat_assets("run", "--fields", str(bad), env=env, cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.strip() == (
        f"error: fields file {bad}: the FeatureCollection has no features"
    )
