"""Product storage as a Dagster resource: a local folder by default, S3 through dagster-aws."""

from __future__ import annotations

from dagster import ConfigurableResource
from dagster_aws.s3 import S3Resource
from pydantic import Field

from landsat_assets.io_managers.stores import (
    LocalStore,
    ProductStore,
    S3Store,
    parse_storage_location,
)


class LandsatStorage(ConfigurableResource):
    """Where every product of the platform is written (`LANDSAT_STORAGE`)."""

    location: str = Field(
        default="./data", description="Local folder, or s3://bucket/prefix (then `s3` is used)."
    )
    s3: S3Resource = Field(
        default_factory=S3Resource,
        description="Client settings for s3:// locations; credentials come from EnvVar only.",
    )

    def store(self) -> ProductStore:
        parsed = parse_storage_location(self.location)
        if isinstance(parsed, tuple):
            bucket, prefix = parsed
            return S3Store(bucket, prefix, self.s3.get_client())
        return LocalStore(parsed)
