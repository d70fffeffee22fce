"""Fields files: what is read from a good one, and one clear line for each bad one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from landsat_assets.fields import FieldsError, load_fields

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
    path = write(tmp_path, document)
    with pytest.raises(FieldsError) as raised:
        load_fields(path)
    text = str(raised.value)
    assert message in text
    assert text.startswith(f"fields file {path}")
    assert "\n" not in text


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FieldsError, match="fields file .*nowhere.geojson does not exist"):
        load_fields(tmp_path / "nowhere.geojson")
