"""The demo fields file: what the generator makes, fields that lie on what they claim to be."""

from __future__ import annotations

import json

import numpy as np
import rasterio
from rasterio.features import geometry_mask
from rasterio.warp import transform_geom

from landsat_assets.demo.fields import DEMO_FIELDS_PATH, demo_fields
from landsat_assets.demo.scenes import DEMO_AOI_PATH, Cover, make_landscape, scene_grid, wrs_scene
from landsat_assets.fields import load_fields
from landsat_assets.stac.aoi import load_aoi

COVER_OF = {
    "irrigated corn": Cover.CORN,
    "irrigated pasture": Cover.PASTURE,
    "dryland wheat": Cover.WHEAT,
    "bare fallow": Cover.BARE,
    "urban": Cover.BARE,
    "open water": Cover.WATER,
}


def test_the_shipped_file_is_the_generators_output():
    assert json.loads(DEMO_FIELDS_PATH.read_text()) == json.loads(json.dumps(demo_fields()))


def test_about_twenty_fields_of_every_cover_inside_the_aoi():
    fields = load_fields(DEMO_FIELDS_PATH)
    aoi = load_aoi(str(DEMO_AOI_PATH)).geometry
    assert 15 <= len(fields.fields) <= 25
    covers = {f.properties["cover"] for f in fields.fields}
    assert set(COVER_OF) <= covers
    assert all(aoi.contains(f.geometry) for f in fields.fields)


def test_each_field_lies_on_its_cover_in_the_demo_ground():
    """On a 30 m grid of the real 033/032 scene, every pixel whose centre is inside a field
    has the field's cover (the trial plot is smaller than a demo pixel and is left out)."""
    grid = scene_grid(wrs_scene("033", "032"), (7811, 7681))
    for field in load_fields(DEMO_FIELDS_PATH).fields:
        expected = COVER_OF.get(field.properties["cover"])
        if expected is None:
            continue
        on_grid = transform_geom("EPSG:4326", "EPSG:32613", field.geometry.__geo_interface__)
        window = (
            rasterio.windows.from_bounds(
                *rasterio.features.bounds(on_grid), transform=grid.transform
            )
            .round_offsets()
            .round_lengths()
        )
        sub = type(grid)(
            shape=(int(window.height) + 2, int(window.width) + 2),
            transform=rasterio.windows.transform(window, grid.transform),
            footprint=grid.footprint,
        )
        inside = geometry_mask([on_grid], sub.shape, sub.transform, invert=True)
        cover = make_landscape(sub, 0).cover
        assert inside.any(), field.id
        assert np.all(cover[inside] == expected), field.id
