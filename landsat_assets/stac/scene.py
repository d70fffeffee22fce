"""The normalized scene record every part of the platform works from."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from landsat_assets.errors import SceneKeyError

SCENE_BANDS = ("red", "nir08", "qa_pixel")
"""The bands every scene needs, first in the `scene_bands` product."""

OPTIONAL_BANDS = ("blue", "green", "swir16", "swir22", "qa_radsat")
"""Bands kept when the item has them: the other indices' reflectance bands and the
saturation QA band (`science/radsat.py`)."""

USGS_SR_SCALE = 2.75e-05
USGS_SR_OFFSET = -0.2
USGS_SR_NODATA = 0
USGS_QA_FILL = 1
VALID_SR_DN_MIN = 7273
VALID_SR_DN_MAX = 43636

SCENE_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_]{1,128}$")

Access = Literal["public", "requester_pays", "needs_signing"]

_PRODUCT_ID = (
    r"L(?P<sensor>[COTEM])(?P<satellite>0[1-9])_(?P<correction>L[12][A-Z]{2})"
    r"_(?P<path>\d{3})(?P<row>\d{3})_(?P<acquired>\d{8})(?:_(?P<processed>\d{8}))?"
    r"_(?P<collection>\d{2})_(?P<category>T1|T2|RT|A1|A2)"
)
PRODUCT_ID_PATTERN = re.compile(rf"^{_PRODUCT_ID}(?:_(?P<suffix>SR|ST))?$")
"""LC09_L2SP_092068_20230607[_20230609]_02_T1[_SR]: the processing date and the _SR/_ST suffix
are what LandsatLook adds to the ids Earth Search and Planetary Computer use."""
_PRODUCT_ID_IN_TEXT = re.compile(rf"(?<![A-Za-z0-9]){_PRODUCT_ID}(?![0-9])")


@dataclass(frozen=True)
class ProductId:
    """The parts of a Landsat Collection product id, e.g. LC08_L2SP_033032_20230105_20230110_02_T1
    (sensor C, satellite 8, correction L2SP, path 033, row 032, acquired, processed, collection
    02, category T1). The one parser of product ids: items, scene keys, file names, the demo."""

    satellite: int
    correction: str
    path: str
    row: str
    acquired: date
    processed: date | None
    collection: str
    category: str
    sensor: str = "C"
    suffix: str | None = None

    @classmethod
    def match(cls, text: str) -> ProductId | None:
        """The product id that `text` is (None if it is not one)."""
        found = PRODUCT_ID_PATTERN.fullmatch(text)
        return None if found is None else cls._from(found)

    @classmethod
    def search(cls, text: str) -> ProductId | None:
        """The first product id inside `text`, a band file name for example."""
        found = _PRODUCT_ID_IN_TEXT.search(text)
        return None if found is None else cls._from(found)

    @classmethod
    def parse(cls, text: str) -> ProductId:
        product = cls.match(text)
        if product is None:
            raise ValueError(
                f"{text!r} is not a Landsat Collection product id "
                "(e.g. LC08_L2SP_033032_20230105_20230110_02_T1)"
            )
        return product

    @classmethod
    def _from(cls, found: re.Match[str]) -> ProductId:
        processed = found["processed"]
        return cls(
            satellite=int(found["satellite"]),
            correction=found["correction"],
            path=found["path"],
            row=found["row"],
            acquired=datetime.strptime(found["acquired"], "%Y%m%d").date(),
            processed=datetime.strptime(processed, "%Y%m%d").date() if processed else None,
            collection=found["collection"],
            category=found["category"],
            sensor=found["sensor"],
            suffix=found.groupdict().get("suffix"),
        )

    @property
    def item_id(self) -> str:
        """The id without processing date and suffix (Earth Search's item id), which is also
        the scene key: every USGS reprocessing of an acquisition shares it."""
        return (
            f"L{self.sensor}{self.satellite:02d}_{self.correction}_{self.path}{self.row}_"
            f"{self.acquired:%Y%m%d}_{self.collection}_{self.category}"
        )

    def __str__(self) -> str:
        processed = f"_{self.processed:%Y%m%d}" if self.processed else ""
        return (
            f"L{self.sensor}{self.satellite:02d}_{self.correction}_{self.path}{self.row}_"
            f"{self.acquired:%Y%m%d}{processed}_{self.collection}_{self.category}"
        )


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
