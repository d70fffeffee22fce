"""Where products live: a local folder or an S3 prefix, with the same layout and atomicity.

A product is always produced as a local file first; `put` publishes it under its
final key in one step (a rename on local disk, a single PutObject or completed
multipart upload on S3), so readers never see a partial object under a final key.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from landsat_assets.errors import StorageError
from landsat_assets.science.cog import atomic_path


def product_key(asset: str, partition: str | None, extension: str) -> str:
    """`<asset>/<partition>.<ext>` for per-scene products, `<asset>.<ext>` for the others."""
    return f"{asset}/{partition}.{extension}" if partition else f"{asset}.{extension}"


class ProductStore(Protocol):
    def put(self, local: Path, key: str) -> str: ...
    def uri(self, key: str) -> str: ...
    def exists(self, key: str) -> bool: ...
    def sizes_under(self, folder: str) -> dict[str, int]: ...
    def read_bytes(self, key: str) -> bytes: ...
    def delete(self, key: str) -> None: ...
    def staging_dir(self) -> Path: ...
    def release(self, staged: Path) -> None: ...
    def check_writable(self) -> None: ...


@dataclass(frozen=True)
class LocalStore:
    root: Path

    def path(self, key: str) -> Path:
        return self.root / key

    def put(self, local: Path, key: str) -> str:
        final = self.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(local, final)
        except OSError:
            with atomic_path(final) as temporary:
                shutil.copyfile(local, temporary)
        self.release(local)
        return str(final)

    def uri(self, key: str) -> str:
        # Joined as text: the up-to-date rule asks for the URI of every product of every scene.
        return os.path.join(self.root, key) if key else str(self.root)

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def sizes_under(self, folder: str) -> dict[str, int]:
        """The products directly in `folder` and their sizes: one directory listing."""
        try:
            entries = list(os.scandir(self.path(folder)))
        except FileNotFoundError:
            return {}
        return {
            f"{folder}/{entry.name}": entry.stat().st_size for entry in entries if entry.is_file()
        }

    def read_bytes(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    @property
    def staging_root(self) -> Path:
        return self.root / ".staging"

    def staging_dir(self) -> Path:
        """Scratch space on the same file system, so publishing is a rename."""
        return new_staging_dir(self.staging_root)

    def release(self, staged: Path) -> None:
        """Remove the staging folder of `staged` (published, or never made) if nothing else
        is staged there."""
        release_staging(staged, self.staging_root)

    def check_writable(self) -> None:
        check_writable_folder(self.staging_root, f"LANDSAT_STORAGE {self.root}")


def new_staging_dir(staging_root: Path) -> Path:
    """A new scratch folder under `staging_root`, named after this host and process.

    Folders a dead process of this host left behind (a run killed mid-write) are removed
    first, so crashes do not pile up half-written files. Other hosts' folders (a shared
    volume) are never touched.
    """
    staging_root.mkdir(parents=True, exist_ok=True)
    remove_dead_staging(staging_root)
    return Path(tempfile.mkdtemp(dir=staging_root, prefix=_staging_prefix(os.getpid())))


def check_writable_folder(folder: Path, what: str) -> None:
    """Fail at once, naming `what`, when files cannot be written in `folder` (a file in the
    way, no permission, a read-only or full disk): before any scene is processed."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-") as probe:
            probe.write(b"landsat-assets")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        raise StorageError(
            f"{what} cannot be written: {error.strerror or error} ({error.filename or folder})"
        ) from None


def release_staging(staged: Path, staging_root: Path) -> None:
    """Remove the staging folder `staged` is in, once nothing else is in it."""
    if staged.parent.parent == staging_root:
        with contextlib.suppress(OSError):  # not empty: the step staged more files there
            staged.parent.rmdir()


def _staging_prefix(pid: int) -> str:
    return f"{socket.gethostname()}-{pid}-"


def remove_dead_staging(staging_root: Path) -> list[Path]:
    """Remove the staging folders of processes of this host that no longer run."""
    host = f"{socket.gethostname()}-"
    removed = []
    for folder in staging_root.iterdir():
        owner = folder.name.removeprefix(host).split("-", 1)[0]
        if not folder.name.startswith(host) or not owner.isdigit() or _alive(int(owner)):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class S3Store:
    bucket: str
    prefix: str
    client: Any

    def object_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, local: Path, key: str) -> str:
        self.client.upload_file(str(local), self.bucket, self.object_key(key))
        local.unlink(missing_ok=True)
        self.release(local)
        return self.uri(key)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.object_key(key)}"

    def exists(self, key: str) -> bool:
        response = self.client.list_objects_v2(
            Bucket=self.bucket, Prefix=self.object_key(key), MaxKeys=1
        )
        return any(o["Key"] == self.object_key(key) for o in response.get("Contents", []))

    def sizes_under(self, folder: str) -> dict[str, int]:
        """The products directly in `folder` and their sizes: one request per 1,000 objects."""
        start = len(self.object_key(""))
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.object_key(folder) + "/", Delimiter="/"
        )
        return {
            item["Key"][start:]: int(item["Size"])
            for page in pages
            for item in page.get("Contents", [])
        }

    def read_bytes(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))["Body"].read()

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key))

    def staging_dir(self) -> Path:
        """Local scratch space for products on their way to S3 (see `new_staging_dir`)."""
        return new_staging_dir(S3_STAGING_ROOT)

    def release(self, staged: Path) -> None:
        release_staging(staged, S3_STAGING_ROOT)

    def check_writable(self) -> None:
        """Local staging must be writable; the bucket itself was checked on opening."""
        check_writable_folder(S3_STAGING_ROOT, f"local staging for S3 {S3_STAGING_ROOT}")


S3_STAGING_ROOT = Path(tempfile.gettempdir()) / "landsat-assets-staging"
"""Where products bound for S3 are written first, one folder per process."""


def parse_storage_location(location: str) -> tuple[str, str] | Path:
    """`s3://bucket/prefix` -> (bucket, prefix); anything else is a local folder. A ValueError
    says what is wrong with any other URL (the caller names the setting)."""
    if location.startswith("s3://"):
        bucket, _, prefix = location[len("s3://") :].partition("/")
        if not bucket:
            raise ValueError("names no bucket (expected s3://bucket/prefix)")
        return bucket, prefix.strip("/")
    if "://" in location:
        raise ValueError("only a local folder or s3://bucket/prefix is supported")
    return Path(location).expanduser().resolve()
