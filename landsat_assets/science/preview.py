"""Small PNG previews of products, for the Dagster UI and for people browsing the storage,
drawn straight from colour tables, and their legends (stored PNGs, drawn by `plots`).
Nothing here imports matplotlib's pyplot: see `plots`."""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from importlib import resources

import numpy as np
import rasterio
from PIL import Image

from landsat_assets.science.masks import OUTSIDE_AOI
from landsat_assets.science.qa import MASK_CLASS_COLOURS, MaskClass

PREVIEW_PIXELS = 512
"""Previews are shown about this size on their longer side: large enough to read a field."""
PREVIEW_BYTES = 8_000
"""Previews travel inside every materialization event (Dagster stores them in its event log),
so each keeps below about this many bytes: the finest detail that fits is drawn, enlarged by
whole pixels to about PREVIEW_PIXELS (`_fitting_png`)."""
PREVIEW_DETAILS = (512, 256, 171, 128)
"""Detail levels tried, finest first: pixels on the longer side before enlarging."""
MAX_ENLARGEMENT = 16
"""A tiny AOI window (a few pixels) is enlarged at most this many times: every further row
of the PNG costs event bytes and shows nothing new."""
NDVI_COLOUR_MAP = "RdYlGn"
NDVI_LEVELS = 32
"""NDVI previews use this many colours of the map (a palette PNG: about a sixth of RGBA)."""


def _read_downsampled(path: str, band: int = 1, pixels: int = PREVIEW_PIXELS) -> np.ndarray:
    """Read a band about `pixels` on its longer side: large rasters from the COG's
    overviews; a raster smaller than that is read whole."""
    with rasterio.open(path) as dataset:
        factor = max(1.0, max(dataset.width, dataset.height) / pixels)
        shape = (
            max(1, round(dataset.height / factor)),
            max(1, round(dataset.width / factor)),
        )
        return dataset.read(band, out_shape=shape, resampling=rasterio.enums.Resampling.nearest)


def enlarged(data: np.ndarray, pixels: int = PREVIEW_PIXELS) -> np.ndarray:
    """`data` enlarged by whole pixels to at most `pixels` on its longer side (at least 1x,
    at most MAX_ENLARGEMENT), so small AOI windows stay legible, every pixel square."""
    factor = max(1, min(MAX_ENLARGEMENT, pixels // max(data.shape)))
    return data.repeat(factor, axis=0).repeat(factor, axis=1)


def _fitting_png(
    path: str, encode: Callable[[np.ndarray], bytes], budget: int = PREVIEW_BYTES
) -> bytes:
    """The preview of the band at `path` encoded by `encode`, at the finest of
    `PREVIEW_DETAILS` whose PNG fits in `budget` bytes (else the coarsest), enlarged to
    about PREVIEW_PIXELS. A small AOI window is drawn whole at once."""
    png = b""
    for detail in PREVIEW_DETAILS:
        data = _read_downsampled(path, pixels=detail)
        png = encode(enlarged(data))
        if len(png) <= budget or max(data.shape) < detail:
            break
    return png


def _palette_png(indices: np.ndarray, palette: np.ndarray) -> bytes:
    """Palette indices (uint8) and an RGBA palette (N x 4, N <= 256) as a palette PNG,
    without a matplotlib figure (about 50x cheaper per scene)."""
    image = Image.fromarray(indices.astype(np.uint8), "P")
    image.putpalette(palette[:, :3].astype(np.uint8).flatten().tolist())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True, transparency=bytes(palette[:, 3]))
    return buffer.getvalue()


LEGEND_COLOURS = 32


def fewer_colours(png: bytes, colours: int = LEGEND_COLOURS) -> bytes:
    """A figure drawn by matplotlib as a palette PNG of `colours` colours, a third of its
    size or less: for copies that travel inside Dagster's events."""
    image = Image.open(io.BytesIO(png)).quantize(colors=colours, method=Image.Quantize.FASTOCTREE)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


MASK_PALETTE = np.zeros((256, 4), dtype=np.uint8)
for _mask_class, _rgb in MASK_CLASS_COLOURS.items():
    MASK_PALETTE[int(_mask_class)] = (*_rgb, 255)
MASK_PALETTE[OUTSIDE_AOI] = (255, 255, 255, 0)
"""Class colours; USGS fill black, outside the AOI transparent."""


def mask_preview(path: str, budget: int = PREVIEW_BYTES) -> bytes:
    """The cloud mask in its class colours, USGS fill black, outside the AOI transparent;
    see `mask_legend`."""
    return _fitting_png(path, lambda data: _palette_png(data, MASK_PALETTE), budget)


@functools.cache
def ndvi_palette() -> np.ndarray:
    """NDVI_LEVELS colours from -1 to 1, then transparent (no value)."""
    # Only the colour map registry, here: matplotlib costs ~0.8 s per process that never draws.
    from matplotlib import colormaps

    return np.vstack(
        [
            colormaps[NDVI_COLOUR_MAP](np.linspace(0, 1, NDVI_LEVELS), bytes=True),
            np.zeros((1, 4), dtype=np.uint8),
        ]
    )


def _ndvi_png(ndvi: np.ndarray) -> bytes:
    levels = np.round((np.clip(ndvi, -1, 1) + 1) / 2 * (NDVI_LEVELS - 1))
    return _palette_png(np.where(np.isnan(ndvi), NDVI_LEVELS, levels), ndvi_palette())


def ndvi_preview(path: str, budget: int = PREVIEW_BYTES) -> bytes:
    """NDVI in the RdYlGn diverging colour map over -1..1 (NDVI_LEVELS steps), no-value
    pixels transparent; see `ndvi_colour_bar`."""
    return _fitting_png(path, _ndvi_png, budget)


MASK_LEGEND_LABELS: dict[MaskClass, str] = {
    **{c: c.name.lower().replace("_", " ") for c in MaskClass if c is not MaskClass.FILL},
    MaskClass.FILL: "USGS fill (no data)",
}
"""The legend's label of each class, in its order; outside the AOI comes last."""


LEGENDS = "legends"
"""Package folder of the legends, drawn once by `plots.draw_mask_legend` and
`plots.draw_ndvi_colour_bar` (`test_legends` checks them, UPDATE_LEGENDS=1 redraws them)."""
MASK_LEGEND_FILE = "mask.png"
NDVI_COLOUR_BAR_FILE = "ndvi.png"


@functools.cache
def stored_legend(name: str) -> bytes:
    """The PNG `name` of the package's `legends` folder."""
    return resources.files(__package__).joinpath(LEGENDS).joinpath(name).read_bytes()


def mask_legend() -> bytes:
    """The class legend shared by every mask preview (see `MASK_LEGEND_LABELS`)."""
    return stored_legend(MASK_LEGEND_FILE)


def ndvi_colour_bar() -> bytes:
    """The NDVI colour scale shared by every NDVI preview, -1 to 1 in NDVI_COLOUR_MAP."""
    return stored_legend(NDVI_COLOUR_BAR_FILE)
