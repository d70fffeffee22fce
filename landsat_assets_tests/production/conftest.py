"""A real S3-compatible server for the production tests: `moto_server` in its own process.

The server checks signatures and IAM permissions (after the three requests that create the
test user), so wrong credentials are refused as on AWS.
"""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from landsat_assets_tests.support.processes import free_port, http_ready, running_server

MOTO_SERVER = Path(sys.executable).parent / "moto_server"
REGION = "us-east-1"
ALLOW_S3 = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    access_key_id: str
    secret_access_key: str

    def client(self, secret_access_key: str | None = None) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=secret_access_key or self.secret_access_key,
        )

    def new_bucket(self) -> str:
        bucket = f"landsat-{secrets.token_hex(4)}"
        self.client().create_bucket(Bucket=bucket)
        return bucket

    def env(self, storage: str) -> dict[str, str]:
        """Settings for `build_definitions` and for processes that run the code location."""
        return {
            "LANDSAT_STORAGE": storage,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
        }

    def keys(self, bucket: str) -> set[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return {o["Key"] for page in pages for o in page.get("Contents", [])}


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> Iterator[S3Server]:
    if not MOTO_SERVER.exists():
        pytest.skip(f"moto_server not found at {MOTO_SERVER} (install moto[server])")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with running_server(
        [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
        port=port,
        ready=http_ready(f"{endpoint}/moto-api/"),
        env={"INITIAL_NO_AUTH_ACTION_COUNT": "3"},
        log_path=tmp_path_factory.mktemp("moto") / "moto_server.log",
    ):
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
        )
        iam.create_user(UserName="landsat")
        key = iam.create_access_key(UserName="landsat")["AccessKey"]
        iam.put_user_policy(
            UserName="landsat", PolicyName="s3", PolicyDocument=json.dumps(ALLOW_S3)
        )
        yield S3Server(endpoint, key["AccessKeyId"], key["SecretAccessKey"])
