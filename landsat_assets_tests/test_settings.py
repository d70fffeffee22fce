"""One `Settings`, parsed once: every bad value is one line naming the variable (or the CLI
option), the documented table is the declared one, and nothing reads the environment at
import time."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import pytest
from dagster import AssetKey, DefaultSensorStatus

from landsat_assets import cli
from landsat_assets.definitions import build_definitions
from landsat_assets.errors import SettingError
from landsat_assets.science.qa import MaskClass
from landsat_assets.settings import Settings, declarations, settings_table
from landsat_assets.stac.watermark import FirstTick
from landsat_assets_tests.support.source import parse_source

PACKAGE = Path(cli.__file__).resolve().parent
CONFIGURATION_DOC = PACKAGE.parent / "docs" / "configuration.md"


def _geojson(tmp_path: Path, name: str, geometry: dict) -> str:
    path = tmp_path / name
    path.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": geometry}))
    return str(path)


def test_defaults_are_the_documented_ones():
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.min_clear_fraction == 0.2
    assert settings.usable_classes == {MaskClass.CLEAR, MaskClass.WATER, MaskClass.SNOW}
    assert settings.scenes_per_run == 10
    assert settings.sensor_first_tick is FirstTick.LATEST
    assert settings.summary_cron == "*/5 * * * *"
    assert settings.aoi is None and settings.user_script is None
    assert settings.user_script_pass_env == ()
    for item in dataclasses.fields(Settings):
        declaration = item.metadata["setting"]
        if declaration.default:
            # Including a default given as a value rather than parsed (LANDSAT_STORAGE).
            assert declaration.parse(declaration.default) == item.default, declaration.variable


def test_values_are_parsed_into_their_types(tmp_path):
    script = tmp_path / "script.py"
    script.write_text("")
    settings = Settings.from_env(
        {
            "LANDSAT_MIN_CLEAR_FRACTION": "0.5",
            "LANDSAT_USABLE_CLASSES": "clear, water",
            "LANDSAT_START_DATE": "2024-04-01",
            "LANDSAT_END_DATE": "2024-10-31",
            "LANDSAT_SENSOR_FIRST_TICK": "ALL",
            "LANDSAT_SENSOR_STATUS": "stopped",
            "LANDSAT_USER_SCRIPT": str(script),
            "LANDSAT_USER_SCRIPT_PASS_ENV": "AWS_REGION, GDAL_HTTP_TIMEOUT",
            "LANDSAT_AOI": "none",
            "LANDSAT_STORAGE": "s3://bucket/prefix",
        }
    )
    assert settings.min_clear_fraction == 0.5
    assert settings.usable_classes == {MaskClass.CLEAR, MaskClass.WATER}
    assert settings.start_date.isoformat() == "2024-04-01T00:00:00+00:00"
    assert settings.sensor_first_tick is FirstTick.ALL
    assert settings.user_script == script
    assert settings.user_script_pass_env == ("AWS_REGION", "GDAL_HTTP_TIMEOUT")
    assert settings.aoi == "none"


BAD_VALUES = [
    ("LANDSAT_MIN_CLEAR_FRACTION", "1.5", "from 0 to 1"),
    ("LANDSAT_MIN_CLEAR_FRACTION", "-1", "from 0 to 1"),
    ("LANDSAT_MIN_CLEAR_FRACTION", "nan", "from 0 to 1"),
    ("LANDSAT_MIN_CLEAR_FRACTION", "most", "from 0 to 1"),
    ("LANDSAT_MAX_SCENE_CLOUD", "101", "from 0 to 100"),
    ("LANDSAT_SCENES_PER_RUN", "0", "at least 1"),
    ("LANDSAT_SCENES_PER_RUN", "ten", "at least 1"),
    ("LANDSAT_SENSOR_INTERVAL_SECONDS", "0", "at least 1"),
    ("LANDSAT_SENSOR_MAX_RUNS_PER_TICK", "-3", "at least 1"),
    ("LANDSAT_AUTOMATION_INTERVAL_SECONDS", "1.5", "at least 1"),
    ("LANDSAT_SENSOR_LOOKBACK_DAYS", "-1", "at least 0"),
    ("LANDSAT_SENSOR_FIRST_TICK", "oldest", "'latest' or 'all'"),
    ("LANDSAT_SENSOR_STATUS", "on", "'running' or 'stopped'"),
    ("LANDSAT_AUTOMATION_STATUS", "paused", "'running' or 'stopped'"),
    ("LANDSAT_SUMMARY_CRON", "every minute", "not a cron schedule"),
    ("LANDSAT_USABLE_CLASSES", "clear,cloudz", "unknown or unusable mask class CLOUDZ"),
    ("LANDSAT_USABLE_CLASSES", "clear,fill", "unknown or unusable mask class FILL"),
    ("LANDSAT_START_DATE", "01/04/2024", "not an ISO date"),
    ("LANDSAT_STORAGE", "ftp://host/folder", "only a local folder or s3://"),
    ("LANDSAT_STORAGE", "s3://", "names no bucket"),
    ("LANDSAT_USER_SCRIPT", "/no/such/script.py", "is not a file"),
    ("LANDSAT_USER_SCRIPT_TIMEOUT", "0", "above 0"),
    ("LANDSAT_USER_SCRIPT_PASS_ENV", "AWS_REGION, $(id)", "not an environment variable name"),
    ("LANDSAT_AOI", "1,2,3", "not a file and not a bbox"),
    ("LANDSAT_AOI", "10,45,10,46", "zero area"),
    ("LANDSAT_AOI", "missing.geojson", "does not exist"),
    ("LANDSAT_LOCAL_ROOTS", "/no/such/folder", "is not a folder"),
]


@pytest.mark.parametrize(("variable", "value", "allowed"), BAD_VALUES)
def test_each_bad_value_names_the_variable_the_value_and_what_is_allowed(variable, value, allowed):
    with pytest.raises(SettingError) as raised:
        Settings.from_env({variable: value})
    message = str(raised.value)
    assert message.startswith(f"{variable}={value!r}: ")
    assert allowed in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("geometry", "kind"),
    [
        ({"type": "Point", "coordinates": [-105.1, 40.1]}, "Point"),
        ({"type": "LineString", "coordinates": [[-105.1, 40.1], [-105.0, 40.2]]}, "LineString"),
    ],
)
def test_an_aoi_must_be_an_area(tmp_path, geometry, kind):
    path = _geojson(tmp_path, "aoi.geojson", geometry)
    with pytest.raises(SettingError, match=rf"^LANDSAT_AOI=.*a {kind} has no area"):
        Settings.from_env({"LANDSAT_AOI": path})


def test_start_after_end_names_both():
    with pytest.raises(SettingError, match="LANDSAT_START_DATE=2024-05-01 is after LANDSAT_END"):
        Settings.from_env({"LANDSAT_START_DATE": "2024-05-01", "LANDSAT_END_DATE": "2024-04-01"})


def test_a_misspelt_setting_is_refused_with_a_suggestion():
    with pytest.raises(SettingError, match="did you mean LANDSAT_MIN_CLEAR_FRACTION"):
        Settings.from_env({"LANDSAT_MIN_CLEAR_FRACTON": "0.3"})


@pytest.mark.parametrize(("variable", "value", "allowed"), BAD_VALUES)
def test_the_cli_exits_2_with_one_line_for_each_bad_value(
    monkeypatch, capsys, tmp_path, variable, value, allowed
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, value)
    assert cli.main(["summary"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"error: {variable}={value!r}: " + captured.err.split(": ", 2)[2]
    assert allowed in captured.err and captured.err.count("\n") == 1


def test_cli_options_are_named_as_typed(monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    assert cli.main(["run", "--min-clear-fraction", "1.5"]) == 2
    assert capsys.readouterr().err == (
        "error: --min-clear-fraction='1.5': a fraction must be a number from 0 to 1\n"
    )
    assert cli.main(["run", "--scenes-per-run", "0"]) == 2
    assert "--scenes-per-run='0'" in capsys.readouterr().err


def test_definitions_follow_the_env_they_are_given_not_the_process_environment(monkeypatch):
    monkeypatch.setenv("LANDSAT_SCENES_PER_RUN", "3")
    monkeypatch.setenv("LANDSAT_SUMMARY_CRON", "0 * * * *")
    defs = build_definitions(
        {
            "LANDSAT_SCENES_PER_RUN": "7",
            "LANDSAT_SUMMARY_CRON": "*/15 * * * *",
            "LANDSAT_SENSOR_STATUS": "stopped",
        }
    )
    graph = defs.resolve_asset_graph()
    assert graph.get(AssetKey("ndvi")).backfill_policy.max_partitions_per_run == 7
    summary_condition = graph.get(AssetKey("ndvi_summary")).automation_condition
    assert "*/15 * * * *" in summary_condition.get_label()
    sensor = defs.resolve_sensor_def("landsat_scene_sensor")
    assert sensor.default_status == DefaultSensorStatus.STOPPED


def _environ_reads(path: Path) -> list[int]:
    tree = parse_source(path)
    return [
        node.lineno
        for node in ast.walk(tree)
        if (isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"))
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    ]


ENVIRONMENT_READERS = {
    "definitions.py": "builds Settings for the code location; AWS variables for boto3",
    "cli.py": "builds Settings for a command; DAGSTER_HOME for Dagster",
    "assets/user_script.py": "the script's own process environment (PATH, GDAL data)",
    "launcher.py": "OpenBLAS's thread count around numpy's import, unless the user set it",
}


def test_only_settings_builders_and_library_environments_read_os_environ():
    readers = {
        str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py") if _environ_reads(path)
    }
    assert readers == set(ENVIRONMENT_READERS)


def test_the_documented_table_is_the_declared_one():
    text = CONFIGURATION_DOC.read_text()
    start = text.index("-->\n", text.index("<!-- settings table")) + len("-->\n")
    end = text.index("\n<!-- end of settings table -->")
    assert text[start:end] == settings_table()
    assert all(f"`{d.variable}`" in text for d in declarations())
    readme = PACKAGE.parent / "README.md"
    assert "docs/configuration.md" in readme.read_text()
    for doc in [readme, *CONFIGURATION_DOC.parent.glob("*.md")]:
        if doc != CONFIGURATION_DOC:
            assert "| `LANDSAT_" not in doc.read_text(), f"{doc.name}: settings live in one table"
