"""Areas of interest: a GeoJSON file or a `minx,miny,maxx,maxy` string, in WGS84.

Footprint tests live here too because Landsat footprints near the antimeridian are written
by some APIs as one polygon whose longitudes jump from +179 to -179; taken literally that
polygon spans the whole globe and intersects every AOI on its latitude band.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.affinity import translate
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity, make_valid

from landsat_assets.errors import AoiError
from landsat_assets.urls import redact_text

_NUMBER = r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*"
_BBOX_PATTERN = re.compile(rf"^{_NUMBER},{_NUMBER},{_NUMBER},{_NUMBER}$")
_GEOMETRY_TYPES = {
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
    "GeometryCollection",
}
_WORLD = box(-180.0, -90.0, 180.0, 90.0)
_BEYOND_180 = box(180.0, -90.0, 540.0, 90.0)


@dataclass(frozen=True)
class Aoi:
    """`geometry` is in WGS84 longitude/latitude, valid, not empty."""

    geometry: BaseGeometry
    source: str

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        minx, miny, maxx, maxy = self.geometry.bounds
        return (minx, miny, maxx, maxy)

    def to_geojson(self) -> dict[str, Any]:
        return json.loads(shapely.to_geojson(self.geometry))


def load_aoi(spec: str) -> Aoi:
    """A path to a GeoJSON file (Feature, FeatureCollection or bare geometry) or a bbox."""
    text = str(spec).strip()
    path = Path(text).expanduser()
    if path.is_file():
        return _from_file(path)
    if _BBOX_PATTERN.fullmatch(text):
        return _from_bbox(text)
    shown = redact_text(text)
    if "://" in text:
        raise AoiError(f"AOI {shown!r}: give a local GeoJSON file or a bbox, not a URL")
    if "," in text and not text.lower().endswith((".json", ".geojson")):
        raise AoiError(
            f"AOI {shown!r}: not a file and not a bbox 'minx,miny,maxx,maxy' (4 numbers)"
        )
    raise AoiError(f"AOI file {shown!r} does not exist")


def footprint_intersects(aoi: Aoi, geometry: Mapping[str, Any] | BaseGeometry | None) -> bool:
    """Whether a scene footprint (GeoJSON dict or shapely geometry, WGS84) touches the AOI,
    reading a footprint wider than 180 degrees of longitude as one that crosses the
    antimeridian."""
    if geometry is None:
        return False
    footprint = geometry if isinstance(geometry, BaseGeometry) else shape(geometry)
    if footprint.is_empty:
        return False
    return bool(aoi.geometry.intersects(unwrap_antimeridian(footprint)))


def bbox_geometry(bbox: tuple[float, float, float, float]) -> BaseGeometry:
    """A STAC bbox as a geometry; minx > maxx is the STAC way of crossing the antimeridian."""
    minx, miny, maxx, maxy = bbox
    if minx > maxx:
        return shapely.MultiPolygon([box(minx, miny, 180.0, maxy), box(-180.0, miny, maxx, maxy)])
    return box(minx, miny, maxx, maxy)


def unwrap_antimeridian(footprint: BaseGeometry) -> BaseGeometry:
    """Cut a footprint that crosses the antimeridian into its east and west parts.

    A footprint is taken to cross when its longitudes span more than 180 degrees: no Landsat
    scene is that wide, so the short way round is the real one.
    """
    minx, _, maxx, _ = footprint.bounds
    if maxx - minx <= 180.0:
        return footprint
    shifted = shapely.transform(footprint, _shift_west_longitudes)
    east = shifted.intersection(_WORLD)
    west = translate(shifted.intersection(_BEYOND_180), -360.0)
    return shapely.union(east, west)


def _shift_west_longitudes(coords: np.ndarray) -> np.ndarray:
    shifted = coords.copy()
    shifted[:, 0] = np.where(shifted[:, 0] < 0, shifted[:, 0] + 360.0, shifted[:, 0])
    return shifted


def _from_bbox(text: str) -> Aoi:
    minx, miny, maxx, maxy = (float(part) for part in text.split(","))
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise AoiError(f"bbox {text!r}: coordinates must be finite numbers")
    if minx > maxx or miny > maxy:
        raise AoiError(f"bbox {text!r}: min is greater than max (expected minx,miny,maxx,maxy)")
    if not (minx >= -180.0 and maxx <= 180.0 and miny >= -90.0 and maxy <= 90.0):
        raise AoiError(
            f"bbox {text!r}: outside longitude -180..180 / latitude -90..90 (must be WGS84)"
        )
    if minx == maxx or miny == maxy:
        raise AoiError(f"bbox {text!r}: has zero area (min equals max)")
    return Aoi(geometry=box(minx, miny, maxx, maxy), source=f"bbox {text}")


def _from_file(path: Path) -> Aoi:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise AoiError(f"AOI file {path}: not valid JSON: {error}") from error
    geometry = _geometry(document, path)
    if geometry.is_empty:
        raise AoiError(f"AOI file {path}: the geometry is empty")
    minx, miny, maxx, maxy = geometry.bounds
    if not (minx >= -180.0 and maxx <= 180.0 and miny >= -90.0 and maxy <= 90.0):
        raise AoiError(
            f"AOI file {path}: coordinates {geometry.bounds} are outside longitude/latitude "
            "ranges; GeoJSON must be WGS84 (reproject it, e.g. with ogr2ogr -t_srs EPSG:4326)"
        )
    if not geometry.is_valid:
        reason = explain_validity(geometry)
        repaired = make_valid(geometry)
        lost_area = geometry.geom_type in ("Polygon", "MultiPolygon") and repaired.area == 0
        if repaired.is_empty or lost_area:
            raise AoiError(f"AOI file {path}: invalid geometry ({reason}) that cannot be repaired")
        warnings.warn(
            f"AOI file {path}: invalid geometry ({reason}); repaired with make_valid",
            stacklevel=3,
        )
        geometry = repaired
    if geometry.area == 0:
        raise AoiError(
            f"AOI file {path}: a {geometry.geom_type} has no area; give a Polygon or "
            "MultiPolygon (buffer a point or line to the area you mean)"
        )
    return Aoi(geometry=geometry, source=str(path))


def _geometry(document: object, path: Path) -> BaseGeometry:
    if not isinstance(document, dict):
        raise AoiError(f"AOI file {path}: a JSON {type(document).__name__}, not GeoJSON")
    crs = json.dumps(document.get("crs")) if document.get("crs") is not None else None
    if crs is not None and "CRS84" not in crs and "4326" not in crs:
        raise AoiError(f"AOI file {path}: declares crs {crs}; GeoJSON AOIs must be WGS84")
    kind = document.get("type")
    if kind == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list) or not features:
            raise AoiError(f"AOI file {path}: FeatureCollection without features")
        return shapely.union_all([_geometry(feature, path) for feature in features])
    if kind == "Feature":
        if document.get("geometry") is None:
            raise AoiError(f"AOI file {path}: Feature {document.get('id', '')!r} has no geometry")
        return _geometry(document["geometry"], path)
    if kind in _GEOMETRY_TYPES:
        try:
            return shape(document)
        except (ValueError, TypeError, AttributeError, IndexError, KeyError) as error:
            raise AoiError(f"AOI file {path}: malformed {kind}: {error}") from error
    raise AoiError(
        f"AOI file {path}: GeoJSON type {kind!r} is not a Feature, FeatureCollection or geometry"
    )
