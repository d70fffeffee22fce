"""Fields: the polygons analysts follow (a farm's parcels, a forest's compartments, a trial's
plots), read from a GeoJSON FeatureCollection in WGS84 or from a GeoPackage.

Each feature is one field. Its id is the property named by `LANDSAT_FIELD_ID` (default `id`),
falling back to the feature's own `id` member (in a GeoPackage, its FID); every other property
travels to the output tables. A file is refused as a whole, with one line naming the feature,
when a feature has no id, two features share one, or a geometry is not a (Multi)Polygon or is
empty; an invalid geometry (a self-intersecting ring) is repaired with `make_valid`, with a
warning naming it.

A GeoPackage is read with Fiona (GDAL's GPKG driver) and must hold exactly one layer, with a
CRS; a layer in any CRS but EPSG:4326 is reprojected to WGS84 longitude/latitude with
`fiona.transform.transform_geom`. Its features then go through the same checks as GeoJSON
ones; binary properties become hex text (Fiona already gives dates and times as ISO text).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity, make_valid

from landsat_assets.errors import InputError

DEFAULT_ID_PROPERTY = "id"
_AREAS = ("Polygon", "MultiPolygon")
_SQLITE_HEADER = b"SQLite format 3\x00"


class FieldsError(InputError):
    """A fields file that cannot be used; the message names the file and the feature."""


@dataclass(frozen=True)
class Field:
    """One field: its id, its area (WGS84 longitude/latitude) and its other properties."""

    id: str
    geometry: BaseGeometry
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class Fields:
    """The fields of one file, in file order, with a digest of what they are (ids,
    geometries, properties): equal digests, equal fields, whatever the file's formatting."""

    fields: tuple[Field, ...]
    source: str
    id_property: str

    @property
    def digest(self) -> str:
        canonical = [
            [f.id, shapely.normalize(f.geometry).wkb_hex, sorted(f.properties.items())]
            for f in self.fields
        ]
        text = json.dumps([self.id_property, canonical], default=str, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def union(self) -> BaseGeometry:
        return shapely.union_all([f.geometry for f in self.fields])

    @property
    def property_names(self) -> list[str]:
        """Every property name a field carries besides its id, in first-seen order."""
        names: dict[str, None] = {}
        for field in self.fields:
            names.update(dict.fromkeys(field.properties))
        return list(names)


def load_fields(path: str | Path, id_property: str = DEFAULT_ID_PROPERTY) -> Fields:
    """The fields of a GeoJSON FeatureCollection file (WGS84) or of a GeoPackage's one layer."""
    source = Path(path).expanduser()
    features = _features(source)
    fields: list[Field] = []
    seen: dict[str, int] = {}
    for number, feature in enumerate(features, start=1):
        field = _field(feature, number, source, id_property)
        if field.id in seen:
            raise FieldsError(
                f"fields file {source}: features {seen[field.id]} and {number} share the "
                f"{id_property!r} {field.id!r}; field ids must be unique"
            )
        seen[field.id] = number
        fields.append(field)
    return Fields(fields=tuple(fields), source=str(source), id_property=id_property)


def fields_union(path: str | Path) -> BaseGeometry:
    """The union of a fields file's polygons, whatever their ids: the AOI when a GeoPackage
    is LANDSAT_FIELDS and LANDSAT_AOI is unset (the AOI loader reads GeoJSON only)."""
    source = Path(path).expanduser()
    where = f"fields file {source}: feature"
    return shapely.union_all(
        [_area(f.get("geometry"), f"{where} {n}") for n, f in enumerate(_features(source), 1)]
    )


def is_geopackage(path: str | Path) -> bool:
    """A `.gpkg` name, or an SQLite file (what a GeoPackage is) under any name."""
    source = Path(path).expanduser()
    if source.suffix.lower() == ".gpkg":
        return True
    try:
        with source.open("rb") as file:
            return file.read(len(_SQLITE_HEADER)) == _SQLITE_HEADER
    except OSError:
        return False


def _features(source: Path) -> list[Any]:
    if not source.exists():
        raise FieldsError(f"fields file {source} does not exist")
    return _geopackage_features(source) if is_geopackage(source) else _geojson_features(source)


def _geojson_features(source: Path) -> list[Any]:
    try:
        document = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FieldsError(f"fields file {source}: not valid JSON: {error}") from None
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        kind = document.get("type") if isinstance(document, dict) else type(document).__name__
        raise FieldsError(f"fields file {source}: a {kind!r}, not a GeoJSON FeatureCollection")
    features = document.get("features")
    if not isinstance(features, list) or not features:
        raise FieldsError(f"fields file {source}: the FeatureCollection has no features")
    return features


def _geopackage_features(source: Path) -> list[dict[str, Any]]:
    """The features of the GeoPackage's one layer as GeoJSON-like dicts, in WGS84."""
    # Imported here: Fiona brings its own GDAL, loaded only by deployments that read a GeoPackage.
    import fiona
    from fiona.errors import FionaError
    from fiona.model import to_dict
    from fiona.transform import transform_geom

    try:
        with fiona.open(source, driver="GPKG") as first:
            layers = fiona.listlayers(source)
            if len(layers) != 1:
                raise FieldsError(
                    f"fields file {source}: the GeoPackage has {len(layers)} layers "
                    f"({', '.join(map(repr, layers))}); fields are read from a GeoPackage with "
                    f"one layer (copy one out: ogr2ogr -f GPKG OUT.gpkg {source} LAYER)"
                )
            where = f"fields file {source}: layer {first.name!r}"
            if not first.crs:
                raise FieldsError(f"{where} has no CRS; give it one (EPSG:4326 for lon/lat)")
            reproject = first.crs.to_epsg() != 4326
            features = []
            for feature in first:
                geometry = feature.geometry
                if geometry is not None and reproject:
                    geometry = transform_geom(first.crs, "EPSG:4326", geometry)
                properties = {
                    key: value.hex() if isinstance(value, bytes) else value
                    for key, value in feature.properties.items()
                }
                features.append(
                    {
                        "type": "Feature",
                        "id": feature.id,
                        "properties": properties,
                        "geometry": None if geometry is None else to_dict(geometry),
                    }
                )
    except FionaError as error:
        raise FieldsError(
            f"fields file {source}: cannot be read as a GeoPackage ({error})"
        ) from None
    if not features:
        raise FieldsError(f"{where} has no features")
    return features


def _field(feature: object, number: int, source: Path, id_property: str) -> Field:
    where = f"fields file {source}: feature {number}"
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise FieldsError(f"{where} is not a GeoJSON Feature")
    properties = feature.get("properties") or {}
    if not isinstance(properties, dict):
        raise FieldsError(f"{where}: properties must be an object")
    identifier = properties.get(id_property, feature.get("id"))
    if identifier is None or str(identifier).strip() == "":
        if id_property in properties:  # present but null or blank: no fallback to the feature id
            raise FieldsError(f"{where} has an empty {id_property!r}; every field needs an id")
        raise FieldsError(
            f"{where} has no {id_property!r} property and no id (set LANDSAT_FIELD_ID to the "
            "property that names each field)"
        )
    field_id = str(identifier).strip()
    where = f"fields file {source}: field {field_id!r} (feature {number})"
    geometry = _area(feature.get("geometry"), where)
    others = {k: v for k, v in properties.items() if k != id_property}
    return Field(id=field_id, geometry=geometry, properties=others)


def _area(document: object, where: str) -> BaseGeometry:
    if not isinstance(document, dict) or document.get("type") not in _AREAS:
        kind = document.get("type") if isinstance(document, dict) else None
        raise FieldsError(f"{where}: a {kind or 'missing'} geometry; fields must be polygons")
    try:
        geometry = shape(document)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError) as error:
        raise FieldsError(f"{where}: malformed {document['type']}: {error}") from None
    minx, miny, maxx, maxy = geometry.bounds
    if not (minx >= -180.0 and maxx <= 180.0 and miny >= -90.0 and maxy <= 90.0):
        raise FieldsError(
            f"{where}: coordinates outside longitude/latitude ranges; fields must be WGS84"
        )
    if not geometry.is_valid:
        reason = explain_validity(geometry)
        repaired = make_valid(geometry)
        areas = [g for g in getattr(repaired, "geoms", [repaired]) if g.geom_type in _AREAS]
        if not areas:
            raise FieldsError(f"{where}: invalid geometry ({reason}) that cannot be repaired")
        warnings.warn(
            f"{where}: invalid geometry ({reason}); repaired with make_valid", stacklevel=4
        )
        geometry = shapely.union_all(areas)
    if geometry.is_empty or geometry.area == 0:
        raise FieldsError(f"{where}: the polygon has no area")
    return geometry
