"""Demo-area fields for tests: five fields of different covers inside the demo AOI, one of
them (`plot-7`, about 40 m across) smaller than any demo pixel."""

from __future__ import annotations

import json
from pathlib import Path

from dagster import DagsterInstance

from landsat_assets.definitions import build_definitions
from landsat_assets.runner import RunReport, run_pipeline


def square(lon: float, lat: float, side: float) -> dict:
    return {
        "type": "Polygon",
        "coordinates": [
            [[lon, lat], [lon + side, lat], [lon + side, lat + side], [lon, lat + side], [lon, lat]]
        ],
    }


FIELDS = {
    "north-farm": (square(-105.10, 40.19, 0.03), "irrigated"),
    "reservoir": (square(-105.05, 40.175, 0.02), "water"),
    "east-dryland": (square(-104.98, 40.13, 0.03), "dryland"),
    "town": (square(-105.12, 40.12, 0.025), "urban"),
    "plot-7": (square(-105.0, 40.2, 0.0005), "trial"),  # about 40 m: smaller than a pixel
}


def write_fields(path: Path, covers: dict[str, str] | None = None) -> Path:
    features = [
        {
            "type": "Feature",
            "properties": {"id": name, "cover": (covers or {}).get(name, cover)},
            "geometry": geometry,
        }
        for name, (geometry, cover) in FIELDS.items()
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def geojson_features(path: Path) -> list[dict]:
    """The features of a GeoJSON FeatureCollection file (as `write_fields` writes them)."""
    return json.loads(path.read_text())["features"]


def write_geopackage(
    path: Path,
    features: list[dict],
    *,
    crs: str | None = "EPSG:4326",
    layer: str = "fields",
    schema: dict[str, str] | None = None,
) -> Path:
    """GeoJSON-like features written with Fiona to one layer of a GeoPackage (a new layer
    when the file exists). `schema` maps property names to Fiona types; by default each
    property's type is its first non-null value's (int, float or str)."""
    import fiona
    from fiona.model import Feature

    if schema is None:
        schema = {}
        for feature in features:
            for name, value in feature["properties"].items():
                if value is not None and name not in schema:
                    kind = {int: "int", float: "float"}.get(type(value), "str")
                    schema[name] = kind
    with fiona.open(
        path,
        "w",
        driver="GPKG",
        layer=layer,
        crs=crs,
        schema={"geometry": "Unknown", "properties": schema},
    ) as sink:
        sink.writerecords(Feature.from_dict(**feature) for feature in features)
    return path


def field_run_env(catalog: Path, tmp_path: Path, **settings: str) -> dict[str, str]:
    """A deployment over `catalog`'s first weeks with the test fields (and `settings`)."""
    return {
        "LANDSAT_STAC_URL": str(catalog),
        "LANDSAT_STORAGE": str(tmp_path / "storage"),
        "LANDSAT_END_DATE": "2023-02-15",
        "LANDSAT_FIELDS": str(write_fields(tmp_path / "fields.geojson")),
        **settings,
    }


def run_main_job(instance: DagsterInstance, env: dict[str, str]) -> tuple[RunReport, list[str]]:
    """`landsat-assets run` for `env`, in this process: its report and the lines it printed."""
    lines: list[str] = []
    report = run_pipeline(instance, build_definitions(env), scenes_per_run=4, echo=lines.append)
    assert report.ok, report.failures
    return report, lines
