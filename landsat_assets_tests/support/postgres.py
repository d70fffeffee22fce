"""A throw-away PostgreSQL 15 cluster on 127.0.0.1 for Dagster's production instance
(deploy/dagster.postgres.yaml): for the production tests and the growth bench."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import pytest

from landsat_assets_tests.support.processes import LOOPBACK, free_port, running_server

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "dagster"
CLUSTER_OWNER = "postgres"


def dagster_pg_url(url: str) -> str:
    """`url` for DAGSTER_PG_URL: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, and the
    project ships psycopg2."""
    return url.replace("postgresql://", "postgresql+psycopg2://", 1)


def as_cluster_owner(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run it as the `postgres` user then."""
    return ["runuser", "-u", CLUSTER_OWNER, "--", *cmd] if os.geteuid() == 0 else cmd


def pg_accepts(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            psycopg2.connect(url, connect_timeout=2).close()
        except psycopg2.OperationalError:
            return False
        return True

    return check


@contextmanager
def postgres_cluster(log_dir: Path) -> Iterator[str]:
    """A throw-away cluster on 127.0.0.1 with a `dagster` database; yields its URL."""
    missing = [b for b in ("initdb", "postgres") if not (PG_BIN / b).is_file()]
    if missing:
        pytest.skip(f"PostgreSQL 15 binaries {missing} not found in {PG_BIN}")
    # Outside pytest's private tmp dir: the cluster owner must be able to reach it.
    root = Path(tempfile.mkdtemp(prefix="landsat-pg-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(root, user=CLUSTER_OWNER)
        data = root / "data"
        initdb = subprocess.run(
            as_cluster_owner(
                [
                    str(PG_BIN / "initdb"),
                    *("-D", str(data), "-U", PG_USER, "--auth=trust"),
                    *("-E", "UTF8", "--locale=C", "--no-sync"),
                ]
            ),
            capture_output=True,
            text=True,
        )
        if initdb.returncode != 0:
            pytest.fail(f"initdb failed ({initdb.returncode}): {initdb.stderr.strip()}")
        port = free_port()
        base = f"postgresql://{PG_USER}@{LOOPBACK}:{port}"
        with running_server(
            as_cluster_owner(
                [
                    str(PG_BIN / "postgres"),
                    *("-D", str(data), "-k", str(root)),
                    *("-h", LOOPBACK, "-p", str(port), "-c", "fsync=off"),
                ]
            ),
            port=port,
            ready=pg_accepts(f"{base}/postgres"),
            log_path=log_dir / "postgres.log",
        ):
            connection = psycopg2.connect(f"{base}/postgres")
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute("CREATE DATABASE dagster")
            connection.close()
            yield f"{base}/dagster"
    finally:
        shutil.rmtree(root, ignore_errors=True)
