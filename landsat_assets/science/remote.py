"""Whether GDAL reads a path over the network, known without importing rasterio, and rasterio
without boto3 for a process that reads only local files.

rasterio imports boto3 when it is itself imported, whatever the process reads: 0.3 s of CPU
per process on the bench VM, and 0.4-0.5 s per full-scene `landsat-assets ndvi` with its
teardown at exit (docs/performance.md). It needs boto3 only to build an `AWSSession`, for
an `s3://` or amazonaws.com path or AWS credentials in the environment; for a local path it
takes a `DummySession` either way (`rasterio.session.Session.cls_from_path`).
"""

from __future__ import annotations

import sys
from urllib.parse import urlparse


def is_remote(path: str) -> bool:
    """Whether GDAL reads `path` over the network (a URL or a /vsi network file system)."""
    if path.startswith("/vsi"):
        return not path.startswith("/vsimem/")
    scheme = urlparse(path).scheme
    return len(scheme) > 1 and scheme != "file"


def import_rasterio_for_local_files() -> None:
    """Import rasterio as if boto3 were not installed, for a process that reads and writes
    only local files: rasterio then never builds an `AWSSession`, which such a process
    never uses. Only rasterio sees boto3 missing: `import boto3` works again as soon as
    rasterio is loaded, for anything else that needs it. Does nothing when rasterio or boto3
    is already loaded (a process that reads S3 keeps rasterio's `AWSSession`)."""
    if "rasterio" in sys.modules or "boto3" in sys.modules:
        return
    sys.modules["boto3"] = None  # type: ignore[assignment]  # `import boto3` raises ImportError
    try:
        import rasterio  # noqa: F401
    finally:
        del sys.modules["boto3"]
