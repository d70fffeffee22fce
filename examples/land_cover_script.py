"""Land-cover class counts for one Landsat scene: the template for a per-scene user script.

The platform runs this file once per scene (`LANDSAT_USER_SCRIPT=examples/land_cover_script.py`)
through Dagster Pipes; see docs/user_scripts.md for the whole contract. In short: read the
inputs named in the Pipes extras, write exactly one product file into `output_dir`, report
metadata, checks and logs through `pipes`, and let any error escape (a non-zero exit fails
the scene with the end of stderr in the error; nothing is published).

It needs only numpy, rasterio and dagster-pipes. It classifies every pixel of the scene's AOI
window from NDVI and the platform's cloud mask, block by block so a full scene fits in a
few megabytes, writes the classes as a GeoTIFF on the scene's grid, and reports how many
pixels fall in each class.

NDWI would need the green or SWIR band; the `scene_bands` product holds red, nir08 and
qa_pixel only, so this template stays with what every scene has.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import rasterio
from dagster_pipes import PipesContext, open_dagster_pipes

NODATA = 0
LAND_COVER = {
    1: "water",
    2: "bare_or_built",
    3: "sparse_vegetation",
    4: "dense_vegetation",
    5: "snow",
    6: "obscured",
}
"""Output codes; 0 is nodata (outside the AOI, fill, or an unusable reflectance)."""

SPARSE_VEGETATION_NDVI = 0.2
DENSE_VEGETATION_NDVI = 0.5
MIN_OBSERVED_FRACTION = 0.1
"""Below this share of AOI pixels seen through the clouds the class counts say little."""

OBSCURING_MASK_CLASSES = ("cloud", "dilated_cloud", "cirrus", "cloud_shadow")
VALID_DN = (7273, 43636)
"""USGS valid range of Collection 2 surface reflectance DNs; outside it is fill or saturated."""


def classify(
    red: np.ndarray, nir: np.ndarray, mask: np.ndarray, mask_codes: Mapping[str, int]
) -> np.ndarray:
    """Land-cover codes of one block from surface reflectance and cloud-mask classes."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ndvi = (nir - red) / (nir + red)
    usable = np.isfinite(ndvi)
    out = np.full(mask.shape, NODATA, dtype=np.uint8)
    out[usable & (ndvi < SPARSE_VEGETATION_NDVI)] = 2
    out[usable & (ndvi >= SPARSE_VEGETATION_NDVI)] = 3
    out[usable & (ndvi >= DENSE_VEGETATION_NDVI)] = 4
    out[(mask == mask_codes["water"]) | (usable & (ndvi < 0))] = 1
    out[mask == mask_codes["snow"]] = 5
    out[np.isin(mask, [mask_codes[name] for name in OBSCURING_MASK_CLASSES])] = 6
    out[mask == mask_codes["fill"]] = NODATA
    return out


def reflectance(dn: np.ndarray, scale: float, offset: float) -> np.ndarray:
    """Surface reflectance; NaN outside the valid DN range."""
    values = dn.astype(np.float32) * np.float32(scale) + np.float32(offset)
    values[(dn < VALID_DN[0]) | (dn > VALID_DN[1])] = np.nan
    return values


def land_cover(pipes: PipesContext, output: Path) -> np.ndarray:
    """Write the class raster to `output`; returns pixel counts by code (index = code)."""
    band = {name: index + 1 for index, name in enumerate(pipes.get_extra("band_order"))}
    mask_codes = pipes.get_extra("mask_classes")
    counts = np.zeros(max(LAND_COVER) + 1, dtype=np.int64)
    with (
        rasterio.open(pipes.get_extra("scene_bands_uri")) as bands,
        rasterio.open(pipes.get_extra("cloud_mask_uri")) as mask,
    ):
        if (bands.width, bands.height) != (mask.width, mask.height):
            raise ValueError(
                f"scene bands are {bands.width} x {bands.height} px but the cloud mask is "
                f"{mask.width} x {mask.height}"
            )
        profile = {
            "driver": "GTiff",
            "width": bands.width,
            "height": bands.height,
            "count": 1,
            "dtype": "uint8",
            "crs": bands.crs,
            "transform": bands.transform,
            "nodata": NODATA,
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
            "compress": "deflate",
        }
        red_scale = (bands.scales[band["red"] - 1], bands.offsets[band["red"] - 1])
        nir_scale = (bands.scales[band["nir08"] - 1], bands.offsets[band["nir08"] - 1])
        with rasterio.open(output, "w", **profile) as dst:
            dst.set_band_description(1, "land cover")
            dst.update_tags(1, **{f"class_{code}": name for code, name in LAND_COVER.items()})
            for _, window in dst.block_windows(1):
                classes = classify(
                    reflectance(bands.read(band["red"], window=window), *red_scale),
                    reflectance(bands.read(band["nir08"], window=window), *nir_scale),
                    mask.read(1, window=window),
                    mask_codes,
                )
                dst.write(classes, 1, window=window)
                counts += np.bincount(classes.ravel(), minlength=counts.size)
    return counts


def main() -> None:
    with open_dagster_pipes() as pipes:
        scene = pipes.get_extra("scene_key")
        output = Path(pipes.get_extra("output_dir")) / "land_cover.tif"
        pipes.log.info(f"{scene}: classifying land cover into {output.name}")
        counts = land_cover(pipes, output)
        classified = int(counts[1:].sum())
        observed = classified - int(counts[6])
        fractions = {
            f"fraction_{name}": float(counts[code] / classified) if classified else 0.0
            for code, name in LAND_COVER.items()
        }
        pipes.log.info(f"{scene}: {classified} AOI pixels, {observed} seen through the clouds")
        pipes.report_asset_materialization(
            metadata={
                "class_counts": {
                    "raw_value": {name: int(counts[code]) for code, name in LAND_COVER.items()},
                    "type": "json",
                },
                "classified_pixels": classified,
                **fractions,
            }
        )
        observed_fraction = observed / classified if classified else 0.0
        pipes.report_asset_check(
            "observed_fraction",
            passed=observed_fraction >= MIN_OBSERVED_FRACTION,
            severity="WARN",
            metadata={"observed_fraction": observed_fraction, "minimum": MIN_OBSERVED_FRACTION},
        )


if __name__ == "__main__":
    main()
