"""A scene's status: the one rule that says whether its index was computed, and why not.

Every product that reports a status (the NDVI raster's metadata, the statistics row, the
summary, `landsat-assets ndvi`) asks `decide_scene_status`, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from landsat_assets.science.masks import MaskSummary
from landsat_assets.stac.scene import VALID_SR_DN_MAX, VALID_SR_DN_MIN


class SceneStatus(StrEnum):
    PROCESSED = "processed"
    """The index was computed over the AOI's clear pixels."""
    FILTERED_CLOUDY = "filtered_cloudy"
    """Too few clear pixels over the AOI (below `min_clear_fraction`): no index raster."""
    NO_DATA = "no_data"
    """Nothing to compute: the AOI misses the scene, covers only fill, or no clear pixel has a
    valid surface reflectance."""


@dataclass(frozen=True)
class SceneVerdict:
    status: SceneStatus
    reason: str | None = None
    """Why the scene is not processed, for people (None when it is)."""


def decide_scene_status(
    mask: MaskSummary | None,
    min_clear_fraction: float,
    *,
    index_pixels: int | None = None,
    area: str = "AOI",
) -> SceneVerdict:
    """The status of a scene from its AOI's mask summary (None: the AOI misses the scene), the
    cloud threshold, and the number of pixels with an index value.

    `index_pixels=None` asks before the index is computed: PROCESSED then means "compute it".
    Asked again with the count, a scene whose clear pixels all lie outside the valid DN range
    is NO_DATA. `area` names what the mask covers in the reasons: a field is decided by
    the same rule, over its own pixels.
    """
    if mask is None:
        return SceneVerdict(SceneStatus.NO_DATA, f"the {area} misses the scene")
    if mask.counts.valid_pixels == 0:
        return SceneVerdict(SceneStatus.NO_DATA, f"no valid pixel over the {area} (all fill)")
    if mask.clear_fraction < min_clear_fraction:
        return SceneVerdict(
            SceneStatus.FILTERED_CLOUDY,
            f"{area} clear fraction {mask.clear_fraction:.1%} is below min_clear_fraction "
            f"{min_clear_fraction:.1%}",
        )
    if index_pixels == 0:
        return SceneVerdict(
            SceneStatus.NO_DATA,
            "no clear pixel has surface reflectance in the valid DN range "
            f"{VALID_SR_DN_MIN}..{VALID_SR_DN_MAX}",
        )
    return SceneVerdict(SceneStatus.PROCESSED)
