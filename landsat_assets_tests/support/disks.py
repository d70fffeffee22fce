"""Small real disks for full-disk tests: a tmpfs of a given size, mounted for the test and
resized on demand (root only; the test is skipped where mounting is not allowed)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_tmpfs(mount_point: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` (as `mount -o size=` takes it: `160k`, `1m`) at `mount_point`."""
    mount_point.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def resize(mount_point: Path, size: str) -> None:
    """Give a mounted tmpfs another size, keeping its files."""
    subprocess.run(
        ["mount", "-o", f"remount,size={size}", str(mount_point)], check=True, capture_output=True
    )
