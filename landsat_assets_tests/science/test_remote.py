"""rasterio without boto3 for a process that reads only local files, and boto3 left to
everything else."""

import subprocess
import sys

SEEN_BY_RASTERIO = """
import sys
{before}
from landsat_assets.science.remote import import_rasterio_for_local_files
import_rasterio_for_local_files()
import rasterio.session
from rasterio.session import AWSSession, DummySession, Session
import boto3
print(rasterio.session.boto3 is None)
print(Session.cls_from_path("/data/LC08_SR_B4.TIF") is DummySession)
print(Session.cls_from_path("s3://usgs-landsat/LC08_SR_B4.TIF") is AWSSession)
print(sys.modules["boto3"] is boto3 and hasattr(boto3, "client"))
"""


def _seen_by_rasterio(before: str = "") -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", SEEN_BY_RASTERIO.format(before=before)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.split()


def test_rasterio_for_local_files_never_loads_boto3_and_reads_them_as_before():
    # rasterio sees no boto3, picks the same DummySession for a local path as with it, and
    # boto3 itself still imports for anyone else in the process.
    assert _seen_by_rasterio() == ["True", "True", "False", "True"]


def test_a_process_that_loaded_boto3_keeps_rasterios_aws_session():
    assert _seen_by_rasterio("import boto3") == ["False", "True", "True", "True"]


def test_a_process_that_loaded_rasterio_keeps_it_as_it_is():
    assert _seen_by_rasterio("import rasterio") == ["False", "True", "True", "True"]
