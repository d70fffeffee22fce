"""kill -9 in the middle of uploading a product to S3: no object (or the previous object, byte
for byte) under the final key, and the next write succeeds."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from botocore.exceptions import ClientError

from landsat_assets.stores import S3_STAGING_ROOT

pytestmark = pytest.mark.slow

PREFIX = "crash"
FINAL_KEY = f"{PREFIX}/ndvi_summary.parquet"

TABLE_WRITER = """
import sys
import numpy as np
import pandas as pd
from dagster import AssetKey, build_output_context
from landsat_assets.definitions import build_resources

rows = int(sys.argv[1])
table = pd.DataFrame({"a": np.random.default_rng(0).random(rows), "b": np.arange(rows)})
manager = build_resources()["table_io_manager"]
manager.handle_output(build_output_context(asset_key=AssetKey("ndvi_summary")), table)
"""


def write_table(env: dict[str, str], rows: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", TABLE_WRITER, str(rows)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def staging_of(pid: int) -> list[Path]:
    """The local staging folders of process `pid` (of this host) for products bound to S3."""
    return sorted(S3_STAGING_ROOT.glob(f"{socket.gethostname()}-{pid}-*"))


def object_bytes(client, bucket: str) -> bytes | None:
    try:
        return client.get_object(Bucket=bucket, Key=FINAL_KEY)["Body"].read()
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise


@pytest.mark.parametrize("previous", [False, True])
def test_upload_killed_midway_leaves_no_partial_object(s3_server, previous: bool) -> None:
    bucket = s3_server.new_bucket()
    client = s3_server.client()
    env = s3_server.env(f"s3://{bucket}/{PREFIX}")
    old = None
    if previous:
        first = write_table(env, 1000)
        assert first.wait(timeout=120) == 0, first.stderr.read()
        old = object_bytes(client, bucket)
        assert old

    # About 100 MB of Parquet: boto3 uploads it in parts, so it is caught half-way.
    writer = write_table(env, 6_000_000)
    deadline = time.monotonic() + 120
    while not client.list_multipart_uploads(Bucket=bucket).get("Uploads"):
        assert writer.poll() is None, "the upload finished before it could be interrupted"
        assert time.monotonic() < deadline, "no multipart upload started within 120 s"
        time.sleep(0.02)
    os.killpg(writer.pid, 9)
    writer.wait(timeout=30)

    assert object_bytes(client, bucket) == old, "a partial object is visible under the final key"
    assert staging_of(writer.pid), "the killed writer left no staging folder to sweep"

    rerun = write_table(env, 2000)
    assert rerun.wait(timeout=120) == 0, rerun.stderr.read()
    assert staging_of(writer.pid) == [], "the next write did not sweep the dead one's staging"
    assert staging_of(rerun.pid) == [], "a finished upload left its staging folder"
    written = object_bytes(client, bucket)
    assert written and len(pd.read_parquet(io.BytesIO(written))) == 2000
