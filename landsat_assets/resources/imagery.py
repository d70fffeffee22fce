"""Access to the imagery archives: GDAL settings for remote COGs and per-archive href rules."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import rasterio
from dagster import ConfigurableResource
from pydantic import Field

from landsat_assets.errors import SceneInputError
from landsat_assets.stac.scene import BandAsset
from landsat_assets.urls import redact

REMOTE_COG_OPTIONS: dict[str, str | int] = {
    # Opening a COG must not list its directory (one request saved per file on S3/HTTP).
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    # Adjacent tiles are fetched with one range request.
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "GDAL_HTTP_VERSION": "2",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.TIF,.tiff,.TIFF",
    "VSI_CACHE": "TRUE",
    "VSI_CACHE_SIZE": str(64 * 1024 * 1024),
    "GDAL_CACHEMAX": 256 * 1024 * 1024,  # rasterio passes integers to GDAL as bytes
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "1",
    # The archives are on AWS itself: an S3-compatible endpoint set for product storage
    # (LandsatStorage.gdal_env) must not redirect s3:// band hrefs.
    "AWS_S3_ENDPOINT": "s3.amazonaws.com",
    "AWS_HTTPS": "YES",
    "AWS_VIRTUAL_HOSTING": "TRUE",
}


class ImagerySource(ConfigurableResource):
    """How band hrefs from the catalog are read (requester-pays S3, https, signed URLs)."""

    prefer_alternate_s3: bool = Field(
        default=False,
        description="Read LandsatLook scenes from their alternate s3:// href (requester pays).",
    )
    requester_pays: bool = Field(
        default=True,
        description="Accept requester-pays buckets such as s3://usgs-landsat (billed to you).",
    )
    aws_region: str = Field(default="us-west-2")

    def readable_href(self, scene: str, band: BandAsset) -> str:
        """The href to open: LandsatLook's alternate s3:// href when preferred, and Planetary
        Computer blobs signed with a short-lived SAS token (used for reading only, never
        stored)."""
        if self.prefer_alternate_s3 and band.alternate_s3_href:
            return band.alternate_s3_href
        if band.access == "needs_signing":
            return sign_planetary_computer_href(scene, band.href)
        return band.href

    @contextlib.contextmanager
    def gdal_env(self) -> Iterator[None]:
        options = dict(REMOTE_COG_OPTIONS)
        if self.requester_pays:
            options["AWS_REQUEST_PAYER"] = "requester"
        options.setdefault("AWS_REGION", self.aws_region)
        with rasterio.Env(**options):
            yield


def sign_planetary_computer_href(scene: str, href: str) -> str:
    try:
        import planetary_computer
    except ImportError:
        raise SceneInputError(
            scene,
            redact(href),
            "Planetary Computer hrefs need SAS signing: install the optional extra "
            "`pip install 'landsat-assets[planetary]'`",
        ) from None
    return planetary_computer.sign(href)
