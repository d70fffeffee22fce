"""Fields files: what is read from a good one, and one clear line for each bad one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import shapely
from fiona.transform import transform_geom

from landsat_assets.errors import SettingError
from landsat_assets.fields import FieldsError, load_fields
from landsat_assets.settings import Settings, resolve_aoi
from landsat_assets_tests.support.fields import (
    FIELDS,
    geojson_features,
    write_fields,
    write_geopackage,
)

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[-105.0, 40.0], [-104.99, 40.0], [-104.99, 40.01], [-105.0, 40.01], [-105.0, 40.0]]],
}  # fmt: skip
BOW_TIE = {
    "type": "Polygon",
    "coordinates": [[[-105.0, 40.0], [-104.99, 40.01], [-104.99, 40.0], [-105.0, 40.01], [-105.0, 40.0]]],
}  # fmt: skip

UTM = {
    "type": "Polygon",
    "coordinates": [[[500000, 4400000], [500100, 4400000], [500100, 4400100], [500000, 4400000]]],
}


def feature(geometry=SQUARE, **properties) -> dict:
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def write(tmp_path: Path, document) -> Path:
    path = tmp_path / "fields.geojson"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def collection(*features) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


def test_ids_properties_and_digest(tmp_path):
    path = write(
        tmp_path,
        collection(
            feature(id="north", crop="maize"),
            {**feature(crop="wheat"), "id": 7},
        ),
    )
    fields = load_fields(path)
    assert [f.id for f in fields.fields] == ["north", "7"]
    assert fields.fields[0].properties == {"crop": "maize"}
    assert fields.property_names == ["crop"]
    same = write(tmp_path, json.dumps(json.loads(path.read_text()), indent=4))
    assert load_fields(same).digest == fields.digest
    assert load_fields(path, id_property="crop").digest != fields.digest


def test_an_invalid_polygon_is_repaired_with_a_warning(tmp_path):
    path = write(tmp_path, collection(feature(BOW_TIE, id="bow")))
    with pytest.warns(UserWarning, match=r"field 'bow' \(feature 1\): invalid geometry"):
        fields = load_fields(path)
    assert fields.fields[0].geometry.is_valid
    assert fields.fields[0].geometry.area > 0


def assert_one_line_naming(path, message: str) -> None:
    """Loading `path` fails with one line that names the file and says `message`."""
    with pytest.raises(FieldsError) as raised:
        load_fields(path)
    text = str(raised.value)
    assert message in text
    assert text.startswith(f"fields file {path}")
    assert "\n" not in text


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "not valid JSON"),
        (feature(id="a"), "a 'Feature', not a GeoJSON FeatureCollection"),
        (collection(), "the FeatureCollection has no features"),
        (collection(feature(name="x")), "feature 1 has no 'id' property and no id"),
        (collection(feature(id="a"), feature(id="a")), "features 1 and 2 share the 'id' 'a'"),
        (
            collection(feature({"type": "Point", "coordinates": [-105, 40]}, id="p")),
            "field 'p' (feature 1): a Point geometry; fields must be polygons",
        ),
        (collection(feature(None, id="n")), "a missing geometry"),
        (collection(feature(UTM, id="utm")), "outside longitude/latitude ranges"),
    ],
    ids=["not-json", "not-a-collection", "empty", "no-id", "duplicate", "point", "none", "utm"],
)
def test_a_bad_file_is_one_clear_error(tmp_path, document, message):
    assert_one_line_naming(write(tmp_path, document), message)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FieldsError, match="fields file .*nowhere.geojson does not exist"):
        load_fields(tmp_path / "nowhere.geojson")


# GeoPackage: the same fields, the same checks, one line for each bad file.


def test_a_geopackage_holds_the_same_fields_as_its_geojson(tmp_path):
    geojson = write_fields(tmp_path / "fields.geojson")
    gpkg = write_geopackage(tmp_path / "fields.gpkg", geojson_features(geojson))
    from_json, from_gpkg = load_fields(geojson), load_fields(gpkg)
    assert [f.id for f in from_gpkg.fields] == list(FIELDS)
    assert [f.properties for f in from_gpkg.fields] == [f.properties for f in from_json.fields]
    assert from_gpkg.digest == from_json.digest
    assert from_gpkg.source == str(gpkg)


def test_a_projected_geopackage_is_reprojected_to_wgs84(tmp_path):
    geojson = write_fields(tmp_path / "fields.geojson")
    utm = [
        {**f, "geometry": dict(transform_geom("EPSG:4326", "EPSG:32613", f["geometry"]))}
        for f in geojson_features(geojson)
    ]
    gpkg = write_geopackage(tmp_path / "utm.gpkg", utm, crs="EPSG:32613")
    for read, original in zip(load_fields(gpkg).fields, load_fields(geojson).fields, strict=True):
        assert read.id == original.id
        assert read.geometry.bounds == pytest.approx(original.geometry.bounds, abs=1e-6)


def test_the_fid_is_the_fallback_id_and_properties_become_plain_values(tmp_path):
    gpkg = write_geopackage(
        tmp_path / "plots.gpkg",
        [
            feature(crop="maize", sown="2024-04-02", tag=b"\x00\xff", yield_t=9.5),
            feature(BOW_TIE, crop="wheat", sown=None, tag=None, yield_t=None),
        ],
        schema={"crop": "str", "sown": "date", "tag": "bytes", "yield_t": "float"},
    )
    with pytest.warns(UserWarning, match=r"field '2' \(feature 2\): invalid geometry"):
        fields = load_fields(gpkg)
    assert [f.id for f in fields.fields] == ["1", "2"]
    assert fields.fields[0].properties == {
        "crop": "maize",
        "sown": "2024-04-02",
        "tag": "00ff",
        "yield_t": 9.5,
    }
    assert fields.fields[1].geometry.is_valid
    assert len(fields.digest) == 12


def test_a_geopackage_is_recognised_by_its_content(tmp_path):
    gpkg = write_geopackage(tmp_path / "fields.gpkg", [feature(id="a")])
    renamed = gpkg.rename(tmp_path / "fields.dat")
    assert [f.id for f in load_fields(renamed).fields] == ["a"]


def _several_layers(path: Path) -> Path:
    write_geopackage(path, [feature(id="a")], layer="parcels")
    return write_geopackage(path, [feature(id="b")], layer="plots")


def _not_sqlite(path: Path) -> Path:
    path.write_text(json.dumps(collection(feature(id="a"))))
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda p: write_geopackage(p, [feature(id="a"), feature(id="a")]),
            "features 1 and 2 share the 'id' 'a'",
        ),
        (
            lambda p: write_geopackage(p, [feature(id="a"), feature(id=None)]),
            "feature 2 has an empty 'id'; every field needs an id",
        ),
        (
            lambda p: write_geopackage(
                p, [feature({"type": "Point", "coordinates": [-105, 40]}, id="p")]
            ),
            "field 'p' (feature 1): a Point geometry; fields must be polygons",
        ),
        (
            lambda p: write_geopackage(p, [], schema={"id": "str"}),
            "layer 'fields' has no features",
        ),
        (
            _several_layers,
            "the GeoPackage has 2 layers ('parcels', 'plots'); fields are read from a GeoPackage with one layer",
        ),
        (lambda p: write_geopackage(p, [feature(id="a")], crs=None), "layer 'fields' has no CRS"),
        (_not_sqlite, "cannot be read as a GeoPackage"),
    ],
    ids=[
        "duplicate",
        "missing-id",
        "point",
        "empty-layer",
        "several-layers",
        "no-crs",
        "not-a-gpkg",
    ],
)
def test_a_bad_geopackage_is_one_clear_error(tmp_path, make, message):
    assert_one_line_naming(make(tmp_path / "fields.gpkg"), message)


def test_settings_take_a_geopackage_and_its_fields_are_the_aoi(tmp_path):
    geojson = write_fields(tmp_path / "fields.geojson")
    gpkg = write_geopackage(tmp_path / "fields.gpkg", geojson_features(geojson))
    settings = Settings.from_env({"LANDSAT_FIELDS": str(gpkg)})
    assert settings.fields == gpkg
    aoi = resolve_aoi(settings.aoi)
    assert shapely.equals(aoi.geometry, resolve_aoi(str(geojson)).geometry)
    bad = write_geopackage(tmp_path / "bad.gpkg", [feature(id="a"), feature(id="a")])
    with pytest.raises(SettingError, match=f"fields file {bad}: features 1 and 2 share"):
        Settings.from_env({"LANDSAT_FIELDS": str(bad)})
