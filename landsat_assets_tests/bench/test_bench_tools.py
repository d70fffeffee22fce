"""The benchmark's own tools: range server, measuring wrapper, naive script, gdal_calc expression.

All small and fast; the benchmark itself (`make bench`) is not part of the test suite.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from landsat_assets_tests.bench import run as bench
from landsat_assets_tests.bench.naive_ndvi import naive_ndvi
from landsat_assets_tests.bench.range_server import serve_directory
from landsat_assets_tests.support.rasters import reference_ndvi, synthetic_scene, write_band


def fetch(url: str, *, method: str = "GET", byte_range: str | None = None):
    request = urllib.request.Request(url, method=method)
    if byte_range is not None:
        request.add_header("Range", byte_range)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, dict(response.headers), response.read()


def test_range_server_serves_byte_ranges_and_counts_them(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 4
    (tmp_path / "band.TIF").write_bytes(payload)
    (tmp_path / "folder").mkdir()
    with serve_directory(tmp_path) as server:
        status, headers, body = fetch(f"{server.url}/band.TIF", method="HEAD")
        assert (status, headers["Content-Length"], body) == (200, "1024", b"")
        status, headers, body = fetch(f"{server.url}/band.TIF", byte_range="bytes=10-19")
        assert (status, body) == (206, payload[10:20])
        assert headers["Content-Range"] == "bytes 10-19/1024"
        assert fetch(f"{server.url}/band.TIF", byte_range="bytes=-4")[2] == payload[-4:]
        assert fetch(f"{server.url}/band.TIF", byte_range="bytes=1000-")[2] == payload[1000:]
        assert fetch(f"{server.url}/band.TIF")[2] == payload
        for missing in ("folder", "nothing.TIF", "../band.TIF"):
            with pytest.raises(urllib.error.HTTPError) as error:
                fetch(f"{server.url}/{missing}")
            assert error.value.code == 404
        with pytest.raises(urllib.error.HTTPError) as error:
            fetch(f"{server.url}/band.TIF", byte_range="bytes=2000-")
        assert error.value.code == 416
        assert server.traffic.body_bytes == 10 + 4 + 24 + 1024
        url = server.url
    with pytest.raises(urllib.error.URLError):
        fetch(f"{url}/band.TIF")


def test_range_server_holds_every_answer_back_by_its_delay(tmp_path: Path) -> None:
    (tmp_path / "band.TIF").write_bytes(b"0123456789")
    delay_s = 0.2
    requests = (("HEAD", None, b""), ("GET", "bytes=2-5", b"2345"), ("GET", None, b"0123456789"))
    with serve_directory(tmp_path, delay_s=delay_s) as server:
        for method, byte_range, expected in requests:
            started = time.perf_counter()
            body = fetch(f"{server.url}/band.TIF", method=method, byte_range=byte_range)[2]
            assert time.perf_counter() - started >= delay_s
            assert body == expected
        assert len(server.traffic.requests) == len(requests)


def test_gdal_reads_a_window_through_the_range_server(tmp_path: Path) -> None:
    array = np.arange(600 * 700, dtype=np.uint16).reshape(600, 700)
    path = Path(write_band(tmp_path / "band.tif", array, compress="DEFLATE"))
    window = Window(300, 280, 50, 40)
    with serve_directory(tmp_path) as server:
        with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):
            with rasterio.open(f"{server.url}/band.tif") as remote:
                got = remote.read(1, window=window)
        served = server.traffic.body_bytes
    np.testing.assert_array_equal(got, array[280:320, 300:350])
    assert 0 < served < path.stat().st_size


def test_measure_reports_the_child_alone(tmp_path: Path) -> None:
    result = tmp_path / "result.json"
    wrapper = [sys.executable, str(bench.MEASURE_SCRIPT), str(result), str(tmp_path / "log")]
    child = [sys.executable, "-c", "import sys; b = bytearray(200_000_000); sys.exit(3)"]
    subprocess.run([*wrapper, "--", *child], check=True)
    measured = json.loads(result.read_text())
    assert measured["exit_code"] == 3
    assert 200e6 <= measured["peak_rss"] < 400e6
    assert measured["wall"] > 0 and measured["cpu"] > 0


def test_naive_script_and_gdal_calc_expression_follow_the_definition(tmp_path: Path) -> None:
    bands = synthetic_scene(tmp_path, shape=(300, 400))
    arrays = {}
    for role, path in bands.items():
        with rasterio.open(path) as dataset:
            arrays[role] = dataset.read(1)
    expected = reference_ndvi(arrays["red"], arrays["nir08"], arrays["qa_pixel"])

    out = tmp_path / "naive.tif"
    naive_ndvi(bands["red"], bands["nir08"], bands["qa_pixel"], str(out))
    with rasterio.open(out) as dataset:
        np.testing.assert_array_equal(dataset.read(1), expected.astype(np.float32))

    with np.errstate(divide="ignore", invalid="ignore"):
        calc = eval(  # the same text gdal_calc.py evaluates, with its numpy names
            bench.gdal_calc_expression(),
            {"where": np.where},
            {"A": arrays["red"], "B": arrays["nir08"], "C": arrays["qa_pixel"]},
        )
    valid = ~np.isnan(expected)
    np.testing.assert_array_equal(calc[valid], expected[valid])
    assert np.all(calc[~valid] == bench.GDAL_CALC_NODATA)


def test_the_project_is_timed_with_its_bytecode_written(tmp_path: Path) -> None:
    package = tmp_path / "landsat_assets"
    shutil.copytree(
        bench.PROJECT_PACKAGE / "science", package, ignore=shutil.ignore_patterns("__pycache__")
    )
    bench.compile_bytecode(package)
    for module in package.rglob("*.py"):
        assert Path(importlib.util.cache_from_source(str(module))).is_file(), module


def test_ratios_pair_the_runs_of_one_round():
    """A slow minute slows both runs of its round: their ratio holds, where the ratio of the
    medians would compare a slow run with a fast one."""
    project = [2.0, 3.0, 2.1]
    floor = [1.6, 2.4, 1.7]
    assert bench.paired_ratio(project, floor) == pytest.approx(1.25)
    assert bench.median(project) / bench.median(floor) != pytest.approx(1.25)
