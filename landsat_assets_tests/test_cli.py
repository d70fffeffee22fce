"""The `landsat-assets` command as a user runs it: real subprocesses, real files."""

import argparse
import csv
import io
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from importlib.metadata import version

import pytest
from rio_cogeo.cogeo import cog_validate

from landsat_assets import cli
from landsat_assets.cli import root_cause
from landsat_assets.runner import STATUS_LABELS
from landsat_assets_tests.support.cli import landsat_assets, run_counts
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


def _last_line(code: str, *args: str) -> str:
    """The last line `code` prints in a fresh interpreter, given `args` as its `sys.argv[1:]`."""
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.splitlines()[-1]


def _loaded_after(code: str, *modules: str) -> str:
    """Which of `modules` a fresh interpreter has loaded after running `code`."""
    return _last_line(
        f"{code}\nimport sys\nprint(sorted(set(sys.argv[1:]) & set(sys.modules)))", *modules
    )


def test_loading_the_cli_and_its_parser_imports_neither_rasterio_nor_the_version_lookup():
    """What every command pays before it starts: rasterio (with boto3) is left for the
    command that reads rasters to import (the `ndvi` command without boto3 for local files),
    and the installed version is looked up only for `--version`."""
    loaded = _loaded_after(
        "from landsat_assets import cli\ncli.build_parser()",
        "rasterio",
        "boto3",
        "importlib.metadata",
    )
    assert loaded == "[]"


def test_the_ndvi_command_on_local_files_runs_without_boto3(tmp_path):
    bands = synthetic_scene(tmp_path, shape=(100, 100))
    paths = [bands["red"], bands["nir08"], bands["qa_pixel"], str(tmp_path / "ndvi.tif")]
    loaded = _loaded_after(
        f"from landsat_assets import cli\nassert cli.main(['ndvi', *{paths!r}]) == 0",
        "rasterio",
        "boto3",
    )
    assert loaded == "['rasterio']"
    assert (tmp_path / "ndvi.tif").exists()


def test_the_ndvi_command_leaves_its_modules_out_of_the_collections_at_exit(tmp_path):
    bands = synthetic_scene(tmp_path, shape=(100, 100))
    paths = [bands["red"], bands["nir08"], bands["qa_pixel"], str(tmp_path / "ndvi.tif")]
    code = (
        f"import gc\nfrom landsat_assets import cli\nassert cli.main(['ndvi', *{paths!r}]) == 0\n"
        "print(gc.get_freeze_count() > 10 * len(gc.get_objects()))"
    )
    assert _last_line(code) == "True"


def test_the_ndvi_command_on_a_url_keeps_rasterios_aws_session(tmp_path):
    bands = synthetic_scene(tmp_path, shape=(100, 100))
    red = f"http://127.0.0.1:{free_port()}/red.tif"
    paths = [red, bands["nir08"], bands["qa_pixel"], str(tmp_path / "ndvi.tif")]
    code = (
        f"from landsat_assets import cli\nassert cli.main(['ndvi', *{paths!r}]) == 2\n"
        "import rasterio.session\nassert rasterio.session.boto3 is not None"
    )
    assert _loaded_after(code, "rasterio", "boto3") == "['boto3', 'rasterio']"


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


def test_run_report_then_summary_json_and_csv(tmp_path, small_demo_catalog):
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
    counts = run_counts(run.stdout)
    assert counts.this_run["failed"] == 0
    assert sum(counts.this_run.values()) == counts.computed == counts.found > 0
    assert counts.up_to_date == 0
    assert (tmp_path / "home" / "dagster.yaml").exists()

    again = landsat_assets("run", env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    counts_again = run_counts(again.stdout)
    assert counts_again.computed == sum(counts_again.this_run.values()) == 0
    assert counts_again.up_to_date == counts_again.found == counts.found

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
    assert len(rows) == counts.found
    statuses = Counter(row["status"] for row in rows)
    in_summary = {label: statuses[status] for status, label in STATUS_LABELS.items()}
    assert in_summary | {"failed": 0} == counts.this_run

    as_csv = landsat_assets("summary", "--csv", env=env, cwd=tmp_path)
    assert as_csv.returncode == 0, as_csv.stderr
    table = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert table[0] == list(rows[0])
    from_csv = [dict(zip(table[0], cells, strict=True)) for cells in table[1:]]
    assert [_cells(row) for row in from_csv] == [_cells(row) for row in rows]
    both = landsat_assets("summary", "--csv", "--json", env=env, cwd=tmp_path)
    assert both.returncode == 2
    assert "not allowed with argument" in both.stderr


def _cells(row: dict[str, object]) -> dict[str, object]:
    """A `--json` or `--csv` row in one form: every value as text, a missing one blank, the
    time parsed (JSON writes it with a "T", CSV with a space)."""
    return {column: _cell(column, value) for column, value in row.items()}


def _cell(column: str, value: object) -> object:
    if value is None:
        return ""
    if column == "datetime":
        return datetime.fromisoformat(str(value))
    return str(value)


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
    bad_index = landsat_assets(
        "run",
        "--indices",
        "ndvi,ndsi",
        env={**base, "LANDSAT_STAC_URL": str(small_demo_catalog)},
        cwd=tmp_path,
    )
    assert bad_index.returncode != 0
    assert bad_index.stderr.strip().splitlines() == [
        "error: --indices='ndvi,ndsi': unknown index ndsi; choose from ndvi, evi, savi, ndwi, "
        "ndmi, nbr"
    ]
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


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command of `parser` (itself included) with the words that name it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, command in action.choices.items():
                yield from _commands(command, (*path, name))


COMMANDS = list(_commands(cli.build_parser()))


def _squeezed(text: str) -> str:
    """`text` without whitespace: argparse wraps help lines where it likes."""
    return "".join(text.split())


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS], ids=" ".join)
def test_every_argument_has_help_and_its_default(path, capsys):
    parser = dict(COMMANDS)[path]
    with pytest.raises(SystemExit) as exit_:
        cli.main([*path, "--help"])
    assert exit_.value.code == 0
    shown = _squeezed(capsys.readouterr().out)
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = "/".join(action.option_strings) or action.dest
        assert action.help, f"{' '.join(path)}: {name} has no help"
        assert _squeezed(action.help % vars(action)) in shown, name
        if action.default not in (None, False, argparse.SUPPRESS):
            assert _squeezed(f"(default: {action.default}") in shown, name
        elif action.dest in cli.RUN_OPTIONS:
            # Unset, the option leaves the setting to its variable.
            assert f"(default: ${cli.RUN_OPTIONS[action.dest]}, else " in action.help, name


def test_the_positional_arguments_are_named_in_the_help():
    ndvi = landsat_assets("ndvi", "--help")
    assert ndvi.returncode == 0, ndvi.stderr
    assert "RED NIR QA OUT" in ndvi.stdout
    assert "QA_PIXEL band GeoTIFF" in ndvi.stdout
    assert "(default: 0, never filtered)" in " ".join(ndvi.stdout.split())
    inspect = landsat_assets("inspect", "--help")
    assert "ITEM        a STAC item's JSON file" in inspect.stdout


def test_version():
    result = landsat_assets("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"landsat-assets {version('landsat-assets')}\n"
