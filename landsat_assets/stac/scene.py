"""The normalized scene record every part of the platform works from."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from landsat_assets.errors import SceneKeyError

SCENE_BANDS = ("red", "nir08", "qa_pixel")
"""The bands every scene needs, in the order of the `scene_bands` product (band = index + 1)."""

USGS_SR_SCALE = 2.75e-05
USGS_SR_OFFSET = -0.2
USGS_SR_NODATA = 0
USGS_QA_FILL = 1
VALID_SR_DN_MIN = 7273
VALID_SR_DN_MAX = 43636

SCENE_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_]{1,128}$")

Access = Literal["public", "requester_pays", "needs_signing"]


def validate_scene_key(key: str) -> str:
    if not isinstance(key, str) or not SCENE_KEY_PATTERN.fullmatch(key):
        raise SceneKeyError(
            f"invalid scene key {key!r}: only ASCII letters, digits and underscores "
            "(1-128 characters) are allowed"
        )
    return key


@dataclass(frozen=True)
class BandAsset:
    """Where one band of a scene lives and how to turn its DNs into physical values."""

    href: str
    scale: float = 1.0
    offset: float = 0.0
    nodata: int | None = None
    access: Access = "public"
    alternate_s3_href: str | None = None


@dataclass(frozen=True)
class SceneRecord:
    """One Landsat C2 L2 acquisition, independent of the STAC API that described it.

    `scene_key` is the product id without processing date and `_SR` suffix, so a
    USGS reprocessing of the same acquisition maps to the same key (and partition);
    `version` (processing date or `updated`) tells the reprocessings apart.
    """

    scene_key: str
    item_id: str
    datetime: datetime
    platform: str
    wrs_path: str
    wrs_row: str
    cloud_cover: float | None
    cloud_cover_land: float | None
    version: str
    bands: dict[str, BandAsset]
    geometry: dict[str, Any] | None = None
    bbox: tuple[float, float, float, float] | None = None
    epsg: int | None = None
    shape: tuple[int, int] | None = None
    transform: tuple[float, ...] | None = None
    sun_elevation: float | None = None
    collection: str | None = None
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["datetime"] = self.datetime.isoformat()
        return record

    @classmethod
    def from_json_dict(cls, record: dict[str, Any]) -> SceneRecord:
        values = dict(record)
        values["datetime"] = datetime.fromisoformat(values["datetime"])
        values["bands"] = {k: BandAsset(**v) for k, v in values["bands"].items()}
        for key in ("bbox", "shape", "transform"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return cls(**values)
