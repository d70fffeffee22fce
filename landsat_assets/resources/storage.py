"""Product storage as a Dagster resource: a local folder by default, S3 through dagster-aws."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import rasterio
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from dagster import ConfigurableResource, Failure, InitResourceContext
from dagster_aws.s3 import S3Resource
from pydantic import Field, PrivateAttr

from landsat_assets.errors import StorageError
from landsat_assets.stores import (
    LocalStore,
    ProductStore,
    S3Store,
    parse_storage_location,
)


class StorageConfigError(Failure, StorageError):
    """`LANDSAT_STORAGE` cannot be used as configured. A Dagster `Failure` too: retrying cannot
    help, so steps with a retry policy fail at once."""

    def __init__(self, message: str) -> None:
        super().__init__(description=message, allow_retries=False)


class LandsatStorage(ConfigurableResource):
    """Where every product of the platform is written (`LANDSAT_STORAGE`)."""

    location: str = Field(
        default="./data", description="Local folder, or s3://bucket/prefix (then `s3` is used)."
    )
    s3: S3Resource = Field(
        default_factory=S3Resource,
        description="Client settings for s3:// locations; credentials come from EnvVar only.",
    )

    _store: ProductStore | None = PrivateAttr(default=None)
    _s3_settings: S3Resource | None = PrivateAttr(default=None)

    def store(self) -> ProductStore:
        """The product store; for S3 the bucket is checked on first use, so a wrong bucket,
        wrong credentials or an unreachable endpoint fail before any work is done."""
        if self._store is None:
            self._store = self._open_store()
        return self._store

    def _open_store(self) -> ProductStore:
        parsed = parse_storage_location(self.location)
        if isinstance(parsed, Path):
            return LocalStore(parsed)
        bucket, prefix = parsed
        s3 = self._resolved_s3()
        client = s3.get_client()
        check_bucket(client, bucket, describe_endpoint(s3.endpoint_url))
        return S3Store(bucket, prefix, client)

    def _resolved_s3(self) -> S3Resource:
        """The S3 settings with their EnvVars read: outside a run (the CLI reads the summary
        through this resource) Dagster has not resolved them."""
        if self._s3_settings is None:
            self._s3_settings = self.s3.process_config_and_initialize()
        return self._s3_settings

    @contextlib.contextmanager
    def gdal_env(self) -> Iterator[None]:
        """GDAL options to open this storage's `s3://` products with rasterio (endpoint of an
        S3-compatible server; credentials stay in the environment, where rasterio's AWS
        session finds them). Nothing changes for a local folder."""
        if not isinstance(parse_storage_location(self.location), tuple):
            yield
            return
        s3 = self._resolved_s3()
        with rasterio.Env(**gdal_s3_options(s3.endpoint_url, s3.region_name)):
            yield

    @contextlib.contextmanager
    def yield_for_execution(self, context: InitResourceContext) -> Iterator[LandsatStorage]:
        # Steps open upstream products by URI (in worker threads too), so GDAL is set up
        # for this storage for the whole step.
        with self.gdal_env():
            yield self


def gdal_s3_options(endpoint_url: str | None, region: str | None) -> dict[str, str]:
    """GDAL's spelling of a boto3 endpoint URL: host:port, https or not, path-style URLs
    (S3-compatible servers rarely resolve bucket subdomains)."""
    options = {"AWS_REGION": region} if region else {}
    if not endpoint_url:
        return options
    parts = urlsplit(endpoint_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StorageConfigError(
            f"AWS_ENDPOINT_URL {describe_endpoint(endpoint_url)} is not an http(s) URL"
        )
    netloc = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    return options | {
        "AWS_S3_ENDPOINT": netloc,
        "AWS_HTTPS": "YES" if parts.scheme == "https" else "NO",
        "AWS_VIRTUAL_HOSTING": "FALSE",
    }


def describe_endpoint(endpoint_url: str | None) -> str:
    """The endpoint for messages, without any user:password part of the URL."""
    if not endpoint_url:
        return "the default AWS S3 endpoint"
    parts = urlsplit(endpoint_url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}" if parts.scheme else repr(host)


def check_bucket(client: Any, bucket: str, endpoint: str) -> None:
    """One HeadBucket request, turned into an error a user can act on."""
    where = f"S3 bucket {bucket!r} at {endpoint}"
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket"):
            problem = "does not exist"
        elif code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            problem = (
                "refused access (403): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY "
                "and the bucket's permissions"
            )
        else:
            problem = f"cannot be used (error {code or 'unknown'})"
        raise StorageConfigError(f"LANDSAT_STORAGE: {where} {problem}") from None
    except NoCredentialsError:
        raise StorageConfigError(
            f"LANDSAT_STORAGE: no AWS credentials found for {where}: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or another source boto3 reads)"
        ) from None
    except BotoCoreError as error:
        # Only the error's type: botocore's message would repeat the endpoint URL as given.
        raise StorageConfigError(
            f"LANDSAT_STORAGE: cannot reach {where} ({type(error).__name__}): check "
            "AWS_ENDPOINT_URL and the network"
        ) from None
