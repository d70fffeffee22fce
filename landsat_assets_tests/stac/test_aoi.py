"""AOI parsing, its errors, and footprint tests across the antimeridian."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import Polygon, box

from landsat_assets.errors import AoiError
from landsat_assets.stac.aoi import (
    bbox_geometry,
    footprint_intersects,
    load_aoi,
    unwrap_antimeridian,
)

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[10, 45], [11, 45], [11, 46], [10, 46], [10, 45]]],
}


def write(tmp_path: Path, name: str, document: Any) -> str:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


def test_bbox_spec() -> None:
    aoi = load_aoi(" -105.2, 40.1,-105.0,40.2 ")
    assert aoi.bbox == (-105.2, 40.1, -105.0, 40.2)
    assert aoi.geometry.equals(box(-105.2, 40.1, -105.0, 40.2))
    geojson = aoi.to_geojson()
    assert geojson["type"] == "Polygon"
    assert json.loads(json.dumps(geojson)) == geojson


@pytest.mark.parametrize(
    "document",
    [
        SQUARE,
        {"type": "Feature", "properties": {}, "geometry": SQUARE},
        {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": {}, "geometry": SQUARE}],
        },
    ],
    ids=["geometry", "feature", "feature-collection"],
)
def test_geojson_forms(tmp_path: Path, document: dict) -> None:
    aoi = load_aoi(write(tmp_path, "aoi.geojson", document))
    assert aoi.bbox == (10.0, 45.0, 11.0, 46.0)
    assert aoi.geometry.area == pytest.approx(1.0)


def test_feature_collection_is_the_union(tmp_path: Path) -> None:
    other = {"type": "Polygon", "coordinates": [[[20, 45], [21, 45], [21, 46], [20, 45]]]}
    document = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {}, "geometry": SQUARE},
            {"type": "Feature", "properties": {}, "geometry": other},
        ],
    }
    aoi = load_aoi(write(tmp_path, "two.geojson", document))
    assert aoi.bbox == (10.0, 45.0, 21.0, 46.0)
    assert aoi.geometry.area == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("11,45,10,46", "min is greater than max"),
        ("10,46,11,45", "min is greater than max"),
        ("170,45,190,46", "outside longitude"),
        ("10,-95,11,46", "outside longitude"),
        ("10,45,10,46", "zero area"),
        ("10,45,11", "not a file and not a bbox"),
        ("nan,45,11,46", "not a file and not a bbox"),
        ("/no/such/aoi.geojson", "does not exist"),
    ],
)
def test_spec_errors(spec: str, message: str) -> None:
    with pytest.raises(AoiError, match=message) as caught:
        load_aoi(spec)
    assert spec.strip() in str(caught.value)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{oops", "not valid JSON"),
        ([1, 2], "JSON list, not GeoJSON"),
        ({"type": "Topology"}, "'Topology' is not a Feature"),
        ({"type": "FeatureCollection", "features": []}, "without features"),
        ({"type": "Feature", "properties": {}, "geometry": None}, "has no geometry"),
        ({"type": "Polygon", "coordinates": []}, "empty"),
        ({"type": "Polygon", "coordinates": [[[1, 2]]]}, "malformed Polygon"),
        (
            {
                "type": "Polygon",
                "coordinates": [[[500000, 4e6], [510000, 4e6], [510000, 4.1e6], [500000, 4e6]]],
            },
            "must be WGS84",
        ),
        (
            {
                "type": "Feature",
                "crs": {"type": "name", "properties": {"name": "EPSG:32633"}},
                "geometry": SQUARE,
            },
            "must be WGS84",
        ),
    ],
)
def test_file_errors_name_the_file(tmp_path: Path, document: Any, message: str) -> None:
    path = write(tmp_path, "bad.geojson", document)
    with pytest.raises(AoiError, match=message) as caught:
        load_aoi(path)
    assert path in str(caught.value)


def test_invalid_polygon_is_repaired_with_a_warning(tmp_path: Path) -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]}
    path = write(tmp_path, "bowtie.geojson", bowtie)
    with pytest.warns(UserWarning, match=r"bowtie.geojson: invalid geometry .*make_valid"):
        aoi = load_aoi(path)
    assert aoi.geometry.is_valid
    assert aoi.geometry.area == pytest.approx(2.0)


CROSSING = {
    "type": "Polygon",
    "coordinates": [[[179.0, -17.0], [-179.0, -17.0], [-179.0, -16.0], [179.0, -16.0], [179, -17]]],
}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("179.5,-16.8,179.9,-16.2", True),  # east of the antimeridian
        ("-179.9,-16.8,-179.5,-16.2", True),  # west of it
        ("0,-16.8,1,-16.2", False),  # the other side of the globe, same latitudes
        ("179.5,-20,179.9,-18", False),
    ],
)
def test_antimeridian_footprint(spec: str, expected: bool) -> None:
    assert footprint_intersects(load_aoi(spec), CROSSING) is expected


def test_unwrap_keeps_ordinary_footprints_and_splits_crossing_ones() -> None:
    ordinary = Polygon([(10, 45), (11, 45), (11, 46), (10, 46)])
    assert unwrap_antimeridian(ordinary) is ordinary
    parts = unwrap_antimeridian(Polygon(CROSSING["coordinates"][0]))
    assert parts.geom_type == "MultiPolygon"
    assert parts.area == pytest.approx(2.0)
    assert parts.bounds == (-180.0, -17.0, 180.0, -16.0)


def test_bbox_geometry_crossing() -> None:
    geometry = bbox_geometry((179.0, -17.0, -179.0, -16.0))
    assert geometry.area == pytest.approx(2.0)
    assert footprint_intersects(load_aoi("-179.9,-16.8,-179.5,-16.2"), geometry)
    assert not footprint_intersects(load_aoi("0,-16.8,1,-16.2"), geometry)


def test_no_footprint_never_intersects() -> None:
    aoi = load_aoi("10,45,11,46")
    assert not footprint_intersects(aoi, None)
    assert not footprint_intersects(aoi, {"type": "Polygon", "coordinates": []})
    assert footprint_intersects(aoi, SQUARE)
