"""A static STAC catalog of synthetic scenes whose items mirror Earth Search v1 `landsat-c2-l2`.

Layout (pystac's best-practice layout, relative hrefs, SELF_CONTAINED)::

    catalog.json
    landsat-c2-l2/collection.json
    landsat-c2-l2/<item id>/<item id>.json
    landsat-c2-l2/<item id>/<product id>_SR_B4.TIF, _SR_B5.TIF, _QA_PIXEL.TIF

Items carry the Earth Search property keys, asset keys, `raster:bands` and
`classification:bitfields`, with ids without the processing date and file names with it.
Every timestamp (`created`, `updated`, `landsat:product_generated`) derives from the
acquisition and the seed, never from the clock, so a rebuild is byte-identical.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pystac
from pyproj import Transformer
from pystac.stac_io import DefaultStacIO

from landsat_assets import __version__
from landsat_assets.demo.scenes import (
    FULL_SCENE_SHAPE,
    UTM_EPSG,
    WRS_SCENES,
    Landscape,
    ProductId,
    Regime,
    SceneGrid,
    SceneRasters,
    WrsScene,
    acquisition_time,
    draw_weather,
    make_landscape,
    pixel_size_for,
    scene_grid,
    shape_of,
    synthesize_scene,
    write_scene_files,
)
from landsat_assets.errors import InputError
from landsat_assets.stac.scene import (
    USGS_QA_FILL,
    USGS_SR_NODATA,
    USGS_SR_OFFSET,
    USGS_SR_SCALE,
)

CATALOG_ID = "landsat-assets-demo"
COLLECTION_ID = "landsat-c2-l2"
DEMO_PARAMETERS_KEY = "landsat_assets:demo"
"""Collection field recording seed and raster shape, so `add_scene` matches the build."""

SLOTS_PER_YEAR = 45
"""8-day acquisition slots of one path/row in a year (Landsat 8 and 9 alternate)."""

EARTH_SEARCH_EXTENSIONS = [
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "https://stac-extensions.github.io/classification/v1.0.0/schema.json",
    "https://stac-extensions.github.io/storage/v1.0.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/processing/v1.1.0/schema.json",
    "https://stac-extensions.github.io/scientific/v1.0.0/schema.json",
    "https://stac-extensions.github.io/grid/v1.1.0/schema.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json",
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/landsat/v2.0.0/schema.json",
]

LANDSAT_C2_L2_DOI = "10.5066/P9OGBGM6"
COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"

_TO_WGS84 = Transformer.from_crs(UTM_EPSG, 4326, always_xy=True)

# QA_PIXEL bit fields as Earth Search describes them:
# (name, description, offset, length, ((class name, class description), ...)).
_QA_PIXEL_FIELDS = (
    ("fill", "Image or fill data", 0, 1, (("not_fill", "Image data"), ("fill", "Fill data"))),
    ("dilated_cloud", "Dilated cloud", 1, 1, (
        ("not_dilated", "Cloud is not dilated or no cloud"), ("dilated", "Cloud dilation"))),
    ("cirrus", "Cirrus mask", 2, 1, (
        ("not_cirrus", "Cirrus confidence is not high"), ("cirrus", "High confidence cirrus"))),
    ("cloud", "Cloud mask", 3, 1, (
        ("not_cloud", "Cloud confidence is not high"), ("cloud", "High confidence cloud"))),
    ("cloud_shadow", "Cloud shadow mask", 4, 1, (
        ("not_shadow", "Cloud shadow confidence is not high"),
        ("shadow", "High confidence cloud shadow"))),
    ("snow", "Snow/Ice mask", 5, 1, (
        ("not_snow", "Snow/Ice confidence is not high"), ("snow", "High confidence snow cover"))),
    ("clear", "Clear mask", 6, 1, (
        ("not_clear", "Cloud or dilated cloud bits are set"),
        ("clear", "Cloud and dilated cloud bits are not set"))),
    ("water", "Water mask", 7, 1, (("not_water", "Land or cloud"), ("water", "Water"))),
    ("cloud_confidence", "Cloud confidence levels", 8, 2, (
        ("not_set", "No confidence level set"), ("low", "Low confidence cloud"),
        ("medium", "Medium confidence cloud"), ("high", "High confidence cloud"))),
    ("cloud_shadow_confidence", "Cloud shadow confidence levels", 10, 2, (
        ("not_set", "No confidence level set"), ("low", "Low confidence cloud shadow"),
        ("reserved", "Reserved - value not used"), ("high", "High confidence cloud shadow"))),
    ("snow_confidence", "Snow/Ice confidence levels", 12, 2, (
        ("not_set", "No confidence level set"), ("low", "Low confidence snow/ice"),
        ("reserved", "Reserved - value not used"), ("high", "High confidence snow/ice"))),
    ("cirrus_confidence", "Cirrus confidence levels", 14, 2, (
        ("not_set", "No confidence level set"), ("low", "Low confidence cirrus"),
        ("reserved", "Reserved - value not used"), ("high", "High confidence cirrus"))),
)  # fmt: skip

QA_PIXEL_BITFIELDS: list[dict[str, Any]] = [
    {
        "name": name,
        "description": description,
        "offset": offset,
        "length": length,
        "classes": [
            {"value": value, "name": class_name, "description": class_description}
            for value, (class_name, class_description) in enumerate(classes)
        ],
    }
    for name, description, offset, length, classes in _QA_PIXEL_FIELDS
]

# asset key -> (USGS band, title, common-name description, centre wavelength, FWHM)
_SR_BANDS = {
    "blue": ("B2", "Blue Band", "Visible blue", 0.48, 0.06),
    "green": ("B3", "Green Band", "Visible green", 0.56, 0.06),
    "red": ("B4", "Red Band", "Visible red", 0.65, 0.04),
    "nir08": ("B5", "Near Infrared Band 0.8", "Near infrared", 0.87, 0.03),
    "swir16": ("B6", "Short-wave Infrared Band 1.6", "Short-wave infrared", 1.61, 0.09),
    "swir22": ("B7", "Short-wave Infrared Band 2.2", "Short-wave infrared", 2.2, 0.19),
}

QA_RADSAT_BITFIELDS: list[dict[str, Any]] = [
    *(
        {
            "name": f"band{number}",
            "description": f"Band {number} radiometric saturation",
            "offset": bit,
            "length": 1,
            "classes": [
                {"name": "not_saturated", "value": 0},
                {"name": "saturated", "value": 1},
            ],
        }
        for number, bit in ((1, 0), (2, 1), (3, 2), (4, 3), (5, 4), (6, 5), (7, 6), (9, 8))
    ),
    {
        "name": "occlusion",
        "description": "Terrain not visible from sensor due to intervening terrain",
        "offset": 11,
        "length": 1,
        "classes": [
            {"name": "not_occluded", "value": 0},
            {"name": "occluded", "value": 1},
        ],
    },
]
"""The `qa_radsat` bitfields as Earth Search items carry them."""


class _AtomicStacIO(DefaultStacIO):
    """Replace each JSON file in one step, so a reader never sees a half-written catalog."""

    def write_text_to_href(self, href: str, txt: str) -> None:
        path = Path(href)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        partial.write_text(txt, encoding="utf-8")
        os.replace(partial, path)


@dataclass(frozen=True)
class Acquisition:
    scene: WrsScene
    slot: int
    """8-day slots since the scene's first 2023 acquisition; even slots are Landsat 9."""

    @property
    def date(self) -> date:
        return self.scene.first_acquisition + timedelta(days=8 * self.slot)

    @property
    def satellite(self) -> int:
        return 9 if self.slot % 2 == 0 else 8


def acquisition_slots(count: int) -> list[int]:
    """`count` slots spread over one year in Landsat 8/9 pairs 8 days apart.

    At 45 or more the slots are simply consecutive (every acquisition of the year and on).
    """
    if count < 1:
        raise InputError(f"dates must be at least 1, got {count}")
    if count >= SLOTS_PER_YEAR:
        return list(range(count))
    pairs = (count + 1) // 2
    starts = [round(pair * SLOTS_PER_YEAR / pairs) for pair in range(pairs)]
    return [slot for start in starts for slot in (start, start + 1)][:count]


def acquisition_schedule(dates: int) -> list[Acquisition]:
    """Every demo acquisition for `dates` per path/row, oldest first."""
    acquisitions = [
        Acquisition(scene, slot)
        for scene in WRS_SCENES.values()
        for slot in acquisition_slots(dates)
    ]
    return sorted(acquisitions, key=lambda a: (a.date, a.scene.path))


def next_acquisition(after: date) -> Acquisition:
    """The first acquisition of any demo path/row strictly after `after`."""
    candidates = []
    for scene in WRS_SCENES.values():
        slot = max(0, (after - scene.first_acquisition).days // 8 + 1)
        candidates.append(Acquisition(scene, slot))
    return min(candidates, key=lambda a: a.date)


@dataclass(frozen=True)
class _Product:
    """The USGS processing record of one acquisition, derived from the seed."""

    product_id: ProductId
    acquired: datetime
    generated: datetime
    created: datetime


def _product(acquisition: Acquisition, acquired: datetime, seed: int) -> _Product:
    rng = np.random.default_rng(
        [
            seed,
            int(acquisition.scene.path),
            int(acquisition.scene.row),
            acquisition.date.toordinal(),
        ]
    )
    processed = acquisition.date + timedelta(days=int(rng.integers(7, 17)))
    generated = datetime.combine(processed, time(14), tzinfo=UTC) + timedelta(
        seconds=int(rng.integers(0, 4 * 3600))
    )
    created = generated + timedelta(hours=15, microseconds=int(rng.integers(0, 3600 * 10**6)))
    acquired = acquired.replace(microsecond=int(rng.integers(0, 10**6)))
    product_id = ProductId(
        satellite=acquisition.satellite,
        correction="L2SP",
        path=acquisition.scene.path,
        row=acquisition.scene.row,
        acquired=acquisition.date,
        processed=processed,
        collection="02",
        category="T1",
    )
    return _Product(product_id, acquired, generated, created)


def _iso_millis(value: datetime) -> str:
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


def _footprint_geometry(grid: SceneGrid) -> tuple[dict[str, Any], list[float]]:
    lons, lats = _TO_WGS84.transform(grid.footprint[:, 0], grid.footprint[:, 1])
    ring = [
        [round(float(lon), 9), round(float(lat), 9)] for lon, lat in zip(lons, lats, strict=True)
    ]
    # Rounded outwards so the bbox still contains the geometry.
    bbox = [
        math.floor(min(lons) * 1e6) / 1e6,
        math.floor(min(lats) * 1e6) / 1e6,
        math.ceil(max(lons) * 1e6) / 1e6,
        math.ceil(max(lats) * 1e6) / 1e6,
    ]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}, bbox


def _assets(files: dict[str, Path], pixel_size: float) -> dict[str, pystac.Asset]:
    storage = {"storage:requester_pays": False}
    assets = {
        "qa_pixel": pystac.Asset(
            href=str(files["qa_pixel"]),
            media_type=COG_MEDIA_TYPE,
            title="Pixel Quality Assessment Band",
            description="Collection 2 Level-1 Pixel Quality Assessment Band (QA_PIXEL)",
            roles=["cloud", "cloud-shadow", "snow-ice", "water-mask"],
            extra_fields={
                "classification:bitfields": QA_PIXEL_BITFIELDS,
                "raster:bands": [
                    {
                        "nodata": USGS_QA_FILL,
                        "data_type": "uint16",
                        "spatial_resolution": pixel_size,
                        "unit": "bit index",
                    }
                ],
                **storage,
            },
        ),
        "qa_radsat": pystac.Asset(
            href=str(files["qa_radsat"]),
            media_type=COG_MEDIA_TYPE,
            title="Radiometric Saturation and Terrain Occlusion Quality Assessment Band",
            description="Collection 2 Level-1 Radiometric Saturation and Terrain Occlusion "
            "Quality Assessment Band (QA_RADSAT)",
            roles=["saturation"],
            extra_fields={
                "classification:bitfields": QA_RADSAT_BITFIELDS,
                "raster:bands": [
                    {"data_type": "uint16", "spatial_resolution": pixel_size, "unit": "bit index"}
                ],
                **storage,
            },
        ),
    }
    for key, (band, title, common_description, centre, fwhm) in _SR_BANDS.items():
        assets[key] = pystac.Asset(
            href=str(files[key]),
            media_type=COG_MEDIA_TYPE,
            title=title,
            description=f"Collection 2 Level-2 {title} (SR_{band}) Surface Reflectance",
            roles=["data", "reflectance"],
            extra_fields={
                "eo:bands": [
                    {
                        "name": f"OLI_{band}",
                        "common_name": key,
                        "description": common_description,
                        "center_wavelength": centre,
                        "full_width_half_max": fwhm,
                    }
                ],
                "raster:bands": [
                    {
                        "nodata": USGS_SR_NODATA,
                        "data_type": "uint16",
                        "spatial_resolution": pixel_size,
                        "scale": USGS_SR_SCALE,
                        "offset": USGS_SR_OFFSET,
                    }
                ],
                **storage,
            },
        )
    return assets


def make_item(
    product: _Product, grid: SceneGrid, rasters: SceneRasters, files: dict[str, Path]
) -> pystac.Item:
    """An item with Earth Search v1's properties, in Earth Search's order."""
    pid = product.product_id
    geometry, bbox = _footprint_geometry(grid)
    centre_lon, centre_lat = _TO_WGS84.transform(*grid.footprint.mean(axis=0))
    pixel_size = grid.pixel_size
    properties: dict[str, Any] = {
        "platform": f"landsat-{pid.satellite}",
        "instruments": ["oli", "tirs"],
        "created": _iso_millis(product.created),
        "gsd": pixel_size,
        "description": "Landsat Collection 2 Level-2 (synthetic demo scene)",
        "eo:cloud_cover": rasters.cloud_cover,
        "view:off_nadir": 0,
        "view:sun_elevation": rasters.sun_elevation,
        "view:sun_azimuth": rasters.sun_azimuth,
        "proj:epsg": UTM_EPSG,
        "proj:shape": list(grid.shape),
        "proj:transform": list(grid.transform)[:6],
        "proj:centroid": {"lat": round(centre_lat, 5), "lon": round(centre_lon, 5)},
        "landsat:cloud_cover_land": rasters.cloud_cover_land,
        "landsat:wrs_type": "2",
        "landsat:wrs_path": pid.path,
        "landsat:wrs_row": pid.row,
        "landsat:collection_category": pid.category,
        "landsat:collection_number": pid.collection,
        "landsat:correction": pid.correction,
        "landsat:scene_id": (f"LC{pid.satellite}{pid.path}{pid.row}{pid.acquired:%Y%j}LGN00"),
        "landsat:product_generated": product.generated.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "grid:code": f"WRS2-{pid.path}{pid.row}",
        "sci:doi": LANDSAT_C2_L2_DOI,
        "datetime": None,
        "earthsearch:payload_id": f"landsat-assets-demo/{pid}_SR",
        "processing:software": {"landsat-assets-demo": __version__},
        "updated": _iso_millis(product.created),
    }
    item = pystac.Item(
        id=pid.item_id,
        geometry=geometry,
        bbox=bbox,
        datetime=product.acquired,
        properties=properties,
        stac_extensions=list(EARTH_SEARCH_EXTENSIONS),
    )
    item.add_link(
        pystac.Link(
            rel="cite-as",
            target=f"https://doi.org/{LANDSAT_C2_L2_DOI}",
            title="Landsat 8-9 OLI/TIRS Collection 2 Level-2",
        )
    )
    for key, asset in _assets(files, pixel_size).items():
        item.add_asset(key, asset)
    return item


def _render(
    acquisition: Acquisition,
    grid: SceneGrid,
    landscape: Landscape,
    seed: int,
    regime: Regime | None,
    variant: int,
    collection_dir: Path,
) -> pystac.Item:
    weather = draw_weather(
        seed, acquisition.scene, acquisition.date, regime=regime, variant=variant
    )
    product = _product(
        acquisition, acquisition_time(acquisition.scene, acquisition.date, weather), seed
    )
    rasters = synthesize_scene(grid, landscape, product.acquired, weather)
    item_dir = collection_dir / product.product_id.item_id
    files = write_scene_files(item_dir, str(product.product_id), rasters, grid)
    return make_item(product, grid, rasters, files)


def _regimes(acquisitions: list[Acquisition], seed: int) -> dict[int, Regime]:
    """Drawn regimes, except that each path/row gets one overcast and one clear acquisition."""
    drawn = {a.slot: draw_weather(seed, a.scene, a.date).regime for a in acquisitions}
    slots = [a.slot for a in acquisitions]
    if Regime.OVERCAST not in drawn.values():
        drawn[slots[len(slots) // 2]] = Regime.OVERCAST
    if Regime.CLEAR not in drawn.values() and len(slots) > 1:
        drawn[next(s for s in reversed(slots) if drawn[s] is not Regime.OVERCAST)] = Regime.CLEAR
    return drawn


def _new_collection(
    items: list[pystac.Item], seed: int, shape: tuple[int, int], pixel_size: float
) -> pystac.Collection:
    """The collection, its extent covering `items` (which the caller adds after linking it)."""
    return pystac.Collection(
        id=COLLECTION_ID,
        title="Landsat Collection 2 Level-2 (synthetic demo)",
        description=(
            "Synthetic Landsat 8/9 Collection 2 Level-2 scenes of WRS-2 033/032 and 034/032 "
            "(Colorado Front Range), made by landsat-assets for demos and tests; items follow "
            "Earth Search v1's landsat-c2-l2 items."
        ),
        extent=pystac.Extent(
            pystac.SpatialExtent([_union_bbox(items)]),
            pystac.TemporalExtent([[items[0].datetime, items[-1].datetime]]),
        ),
        license="CC0-1.0",
        summaries=pystac.Summaries(
            {
                "platform": sorted({i.properties["platform"] for i in items}),
                "instruments": ["oli", "tirs"],
                "gsd": [pixel_size],
            }
        ),
        extra_fields={
            DEMO_PARAMETERS_KEY: {"seed": seed, "shape": list(shape), "pixel_size": pixel_size}
        },
    )


def _union_bbox(items: list[pystac.Item]) -> list[float]:
    boxes = np.array([item.bbox for item in items])
    return [*boxes[:, :2].min(axis=0).tolist(), *boxes[:, 2:].max(axis=0).tolist()]


def build_demo_catalog(
    out_dir: Path, *, size: int = 1000, seed: int = 0, dates: int = 24, full_size: bool = False
) -> Path:
    """Write the static catalog (idempotent: same args -> byte-identical rasters and items).

    `dates` acquisitions per path/row (two path/rows) spread over 2023 in Landsat 8/9 pairs.
    `size` px a side keeps a scene's real ~230 km ground extent (230.4 m pixels at 1000);
    `full_size` writes real 7811 x 7681 scenes at 30 m instead (slow, ~100 MB per scene).
    A catalog already in `out_dir` is replaced, including scenes added since.
    Returns the path of catalog.json.
    """
    out_dir = Path(out_dir)
    shape = FULL_SCENE_SHAPE if full_size else shape_of(size)
    catalog_path = out_dir / "catalog.json"
    collection_dir = out_dir / COLLECTION_ID
    _remove_previous_build(catalog_path, collection_dir)

    schedule = acquisition_schedule(dates)
    items = []
    for scene in WRS_SCENES.values():
        grid = scene_grid(scene, shape)
        landscape = make_landscape(grid, seed)
        own = [a for a in schedule if a.scene == scene]
        regimes = _regimes(own, seed)
        items += [
            _render(a, grid, landscape, seed, regimes[a.slot], 0, collection_dir) for a in own
        ]
        del landscape
    items.sort(key=lambda item: (item.datetime, item.id))

    catalog = pystac.Catalog(
        id=CATALOG_ID,
        title="landsat-assets demo catalog",
        description="Synthetic Landsat Collection 2 Level-2 scenes for the landsat-assets demo.",
    )
    collection = _new_collection(items, seed, shape, pixel_size_for(shape[1]))
    catalog.add_child(collection)
    # Items last, so the links read root, parent, items and add_scene appends in order.
    collection.add_items(items)
    catalog.normalize_hrefs(str(out_dir))
    catalog.make_all_asset_hrefs_relative()
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED, stac_io=_AtomicStacIO())
    return catalog_path


def _remove_previous_build(catalog_path: Path, collection_dir: Path) -> None:
    """Clear an earlier demo build; refuse to touch a catalog this module did not write."""
    if catalog_path.exists():
        existing = pystac.Catalog.from_file(str(catalog_path))
        if existing.id != CATALOG_ID:
            raise FileExistsError(
                f"{catalog_path} holds catalog {existing.id!r}, not the demo catalog; "
                "choose an empty directory"
            )
    if collection_dir.exists():
        shutil.rmtree(collection_dir)


def add_scene(catalog_dir: Path, *, seed: int = 0) -> pystac.Item:
    """Append one acquisition newer than every existing one (simulates a new scene arriving).

    The new scene is the next 8-day slot of whichever path/row comes first after the newest
    item, rendered with the catalog's own seed and size so it matches the other scenes; `seed`
    only varies its weather (0 gives the weather a rebuild with more dates would draw). Writes
    the rasters and item, then the collection (each file replaced atomically); other items and
    rasters are left untouched. Returns the new item.
    """
    catalog_path = Path(catalog_dir) / "catalog.json"
    catalog = pystac.Catalog.from_file(str(catalog_path))
    collection = catalog.get_child(COLLECTION_ID)
    if (
        not isinstance(collection, pystac.Collection)
        or DEMO_PARAMETERS_KEY not in collection.extra_fields
    ):
        raise InputError(f"{catalog_path} is not a demo catalog built by build_demo_catalog")
    parameters = collection.extra_fields[DEMO_PARAMETERS_KEY]
    catalog_seed = int(parameters["seed"])
    shape = (int(parameters["shape"][0]), int(parameters["shape"][1]))

    newest = max(item.datetime for item in collection.get_items())
    acquisition = next_acquisition(newest.astimezone(UTC).date())
    grid = scene_grid(acquisition.scene, shape)
    collection_dir = catalog_path.parent / COLLECTION_ID
    item = _render(
        acquisition,
        grid,
        make_landscape(grid, catalog_seed),
        catalog_seed,
        None,
        seed,
        collection_dir,
    )
    collection.add_item(item)
    item.set_self_href(str(collection_dir / item.id / f"{item.id}.json"))
    item.make_asset_hrefs_relative()

    spatial = collection.extent.spatial.bboxes[0]
    collection.extent.spatial.bboxes[0] = [
        *np.minimum(spatial[:2], item.bbox[:2]).tolist(),
        *np.maximum(spatial[2:], item.bbox[2:]).tolist(),
    ]
    collection.extent.temporal.intervals[0][1] = item.datetime
    platforms = collection.summaries.get_list("platform") or []
    collection.summaries.add("platform", sorted({*platforms, item.properties["platform"]}))

    stac_io = _AtomicStacIO()
    item.save_object(include_self_link=False, stac_io=stac_io)
    collection.save_object(include_self_link=False, stac_io=stac_io)
    return item
