"""The Dagster UI as a person sees it, in headless Chromium (Debian's package, driven by
Playwright; nothing is installed at run time).

One demo run (one scene with a broken red band, so that the UI has a failure to show) goes
into a temporary DAGSTER_HOME; then the real dagster-webserver and dagster-daemon serve it on
127.0.0.1 and the tests look at the pages people use: the asset lineage, the `ndvi`
partitions, one scene's NDVI preview and the automation list, each scene's status check, the
cloud mask and its legend, the time-series plots. Screenshots land in a temporary folder; with
UPDATE_README_SCREENSHOTS=1 the README's ones in docs/images are replaced.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import DagsterInstance
from dagster._core.instance.ref import InstanceRef
from playwright.sync_api import Browser, Expect, FloatRect, Locator, Page, sync_playwright

from landsat_assets.assets.fields import FIELD_ASSETS, FIELD_SUMMARY_ASSETS
from landsat_assets.assets.indices import SCENE_STATUS_CHECK
from landsat_assets.definitions import build_definitions
from landsat_assets.demo import DEMO_AOI_PATH
from landsat_assets.demo.fields import DEMO_FIELDS_PATH
from landsat_assets.jobs import SCENE_ASSETS, SUMMARY_ASSETS
from landsat_assets.runner import run_pipeline
from landsat_assets.science.qa import MASK_CLASS_COLOURS, MaskClass
from landsat_assets.science.summary import STATS_DESCRIPTIONS, significant
from landsat_assets.sensors import SENSOR_NAME
from landsat_assets_tests.support.deployment import dagster_home
from landsat_assets_tests.support.paths import REPO_ROOT
from landsat_assets_tests.support.processes import (
    LOOPBACK,
    RunningServer,
    free_port,
    http_ready,
    running_server,
    wait_ready,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.is_file(),
        reason=f"{CHROMIUM} is absent: install Debian's chromium package (.ci/run does)",
    ),
]

README_IMAGES = REPO_ROOT / "docs" / "images"
BIN = Path(sys.executable).parent
ASSET_NAMES = [
    asset.key.path[-1]
    for asset in (*SCENE_ASSETS, *SUMMARY_ASSETS, *FIELD_ASSETS, *FIELD_SUMMARY_ASSETS)
]
# Loading the code location and the first GraphQL answers take a few seconds on a busy machine.
expect = Expect()
expect.set_options(timeout=30_000)
# Set in the browser the way the UI records a dismissed "Join the Dagster community" dialog
# (its Skip button would also write a marker file under ~/.dagster, outside the test).
DISMISS_COMMUNITY_DIALOG = "window.localStorage.setItem('communityNux', JSON.stringify('1'))"
# The graph draws full asset nodes (names not shortened) only from 0.6 scale up; this width
# fits the whole lineage at that scale.
GRAPH_VIEWPORT = {"width": 2600, "height": 1100}
# Tall enough for every partition of the small demo catalog in the virtualized list.
PAGE_VIEWPORT = {"width": 1400, "height": 1150}
# Seconds between SIGTERM and SIGKILL for the servers: nothing of theirs needs keeping.
STOP_TIMEOUT = 5.0


@dataclass(frozen=True)
class Deployment:
    url: str
    scene_keys: list[str]
    failed_key: str
    preview_key: str
    processed_keys: list[str]
    not_processed_keys: list[str]
    """Scenes filtered for clouds or without data: no NDVI raster."""
    cloudiest_key: str
    webserver: RunningServer
    daemon: RunningServer

    def logs(self) -> str:
        return (
            f"webserver log:\n{self.webserver.log_tail(30)}\n"
            f"daemon log:\n{self.daemon.log_tail(30)}"
        )


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, small_demo_catalog: Path) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("ui")
    home = dagster_home(root / "dagster_home")
    catalog = root / "catalog"
    shutil.copytree(small_demo_catalog.parent, catalog)
    env = {
        "DAGSTER_HOME": str(home),
        "LANDSAT_STAC_URL": str(catalog / "catalog.json"),
        "LANDSAT_STORAGE": str(root / "storage"),
        "LANDSAT_AOI": str(DEMO_AOI_PATH),
        "LANDSAT_FIELDS": str(DEMO_FIELDS_PATH),
    }
    defs = build_definitions({**os.environ, **env})
    scenes = defs.resources["catalog"].search()
    broken = scenes[2]
    Path(broken.bands["red"].href).write_bytes(b"not a GeoTIFF")
    # Created here so that the servers do not race to create its databases.
    instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    workspace = str(REPO_ROOT / "workspace.yaml")
    port = free_port()
    try:
        with ExitStack() as servers:
            # Not waited for yet: it loads the code location while the demo runs.
            webserver = servers.enter_context(
                running_server(
                    [
                        str(BIN / "dagster-webserver"),
                        *("-h", LOOPBACK, "-p", str(port), "-w", workspace),
                    ],
                    port=port,
                    ready=lambda: True,
                    env=env,
                    cwd=REPO_ROOT,
                    log_path=root / "webserver.log",
                    stop_timeout=STOP_TIMEOUT,
                )
            )
            report = run_pipeline(instance, defs, scenes_per_run=8, echo=lambda _line: None)
            assert list(report.failures) == [broken.scene_key], report.failures
            table = report.summary
            processed = table[table["status"] == "processed"].sort_values(
                ["aoi_clear_fraction", "ndvi_mean"], ascending=False
            )
            not_processed = table[table["status"] != "processed"]
            assert (not_processed["status"] == "filtered_cloudy").any(), table
            # Only now: before the run, the scene sensor would have launched the same scenes.
            daemon = servers.enter_context(
                running_server(
                    [str(BIN / "dagster-daemon"), "run", "-w", workspace],
                    port=0,
                    ready=lambda: "SENSOR" in instance.get_daemon_heartbeats(),
                    env=env,
                    cwd=REPO_ROOT,
                    log_path=root / "daemon.log",
                    ready_timeout=90,
                    stop_timeout=STOP_TIMEOUT,
                )
            )
            ready_check = http_ready(f"{webserver.url}/server_info")
            wait_ready(webserver, ready_check, webserver.process.args, timeout=90)
            yield Deployment(
                url=webserver.url,
                scene_keys=[scene.scene_key for scene in scenes],
                failed_key=broken.scene_key,
                preview_key=str(processed.iloc[0]["scene_id"]),
                processed_keys=list(processed["scene_id"]),
                not_processed_keys=list(not_processed["scene_id"]),
                cloudiest_key=str(
                    table.sort_values("aoi_cloud_fraction", ascending=False).iloc[0]["scene_id"]
                ),
                webserver=webserver,
                daemon=daemon,
            )
    finally:
        instance.dispose()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser, screenshots: Path, request) -> Iterator[Page]:
    """A fresh browser tab; what it last showed is kept as `<test>-last.png` for a failure."""
    context = browser.new_context(viewport=PAGE_VIEWPORT)
    context.add_init_script(DISMISS_COMMUNITY_DIALOG)
    tab = context.new_page()
    try:
        yield tab
    finally:
        tab.screenshot(path=screenshots / f"{request.node.name}-last.png")
        context.close()


def keep_screenshot(page: Page, folder: Path, name: str, clip: FloatRect | None = None) -> None:
    """Save in `folder`, and over the README's image when UPDATE_README_SCREENSHOTS=1."""
    path = folder / name
    page.mouse.move(0, 0)
    page.screenshot(path=path, clip=clip, animations="disabled")
    if os.environ.get("UPDATE_README_SCREENSHOTS") == "1":
        README_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, README_IMAGES / name)


def region_around(locators: list[Locator], page: Page, margin: float = 24) -> FloatRect:
    boxes = [box for locator in locators if (box := locator.bounding_box()) is not None]
    assert boxes, "nothing to frame"
    viewport = page.viewport_size
    assert viewport is not None
    left = max(0.0, min(b["x"] for b in boxes) - margin)
    top = max(0.0, min(b["y"] for b in boxes) - margin)
    right = min(float(viewport["width"]), max(b["x"] + b["width"] for b in boxes) + margin)
    bottom = min(float(viewport["height"]), max(b["y"] + b["height"] for b in boxes) + margin)
    return {"x": left, "y": top, "width": right - left, "height": bottom - top}


def test_asset_graph_shows_every_asset(deployment: Deployment, page: Page, screenshots) -> None:
    page.set_viewport_size(GRAPH_VIEWPORT)
    page.goto(f"{deployment.url}/asset-groups")
    graph = page.locator("[data-svg-viewport] svg").first
    expect(graph.get_by_text("scenes", exact=True).first, deployment.logs()).to_be_visible()
    # The groups start collapsed; "Expand all groups" (graph settings menu) has this shortcut.
    page.keyboard.press("Alt+e")
    for name in ASSET_NAMES:
        expect(graph.locator(f"[data-tooltip='{name}']"), f"asset node {name}").to_be_visible()
    nodes = graph.locator("[class*='AssetNode_assetName'] > [data-tooltip]")
    expect(nodes).to_have_count(len(ASSET_NAMES))
    # Each node has loaded its live state (latest event, partitions) before the picture.
    expect(graph.get_by_text(re.compile(r"^Loading"))).to_have_count(0)
    expect(graph.get_by_text(f"{len(deployment.scene_keys)} partitions").first).to_be_visible()
    frame = region_around(graph.locator("foreignObject").all(), page)
    keep_screenshot(page, screenshots, "asset-graph.png", clip=frame)


def test_ndvi_partitions_list_scenes_with_status(
    deployment: Deployment, page: Page, screenshots
) -> None:
    total = len(deployment.scene_keys)
    page.goto(f"{deployment.url}/assets/ndvi?view=partitions")
    expect(page.get_by_text(f"{total} Partitions Selected"), deployment.logs()).to_be_visible()
    materialized = page.get_by_text(f"Materialized ({total - 1})", exact=True)
    expect(materialized).to_be_visible()
    expect(page.get_by_text("Failed (1)", exact=True)).to_be_visible()
    expect(page.get_by_text("Missing (0)", exact=True)).to_be_visible()
    rows = page.locator("[class*='assetListRow']")
    expect(rows).to_have_count(total)
    for key in deployment.scene_keys:
        expect(rows.locator(f"[title='{key}']"), f"partition {key}").to_have_count(1)

    # Hiding the materialized ones leaves the broken scene alone in the list.
    show_materialized = page.get_by_label(f"Materialized ({total - 1})", exact=True)
    materialized.click()
    expect(show_materialized).not_to_be_checked()
    expect(rows).to_have_count(1)
    failed = rows.locator(f"[title='{deployment.failed_key}']")
    expect(failed).to_have_count(1)
    failed.click()
    expect(page.get_by_text("failed, and did not materialize this asset")).to_be_visible()
    materialized.click()
    expect(show_materialized).to_be_checked()
    expect(rows).to_have_count(total)
    keep_screenshot(page, screenshots, "ndvi-partitions.png")


def test_ndvi_materialization_shows_the_preview(
    deployment: Deployment, page: Page, screenshots
) -> None:
    key = deployment.preview_key
    page.goto(f"{deployment.url}/assets/ndvi?view=partitions&partition={key}")
    metadata = page.locator("tr")
    status = metadata.filter(has=page.get_by_text("status", exact=True))
    expect(status.get_by_text("processed", exact=True), deployment.logs()).to_be_visible()
    # The preview is the first entry, then the scene's facts, then rounded numbers.
    expect(metadata.first.get_by_text("preview", exact=True)).to_be_visible()
    scene = metadata.filter(has=page.get_by_text("scene", exact=True))
    for fact in (
        r"\d{4}-\d\d-\d\d \d\d:\d\d UTC",
        r"landsat-[89]",
        r"path/row \d{3}/\d{3}",
        r"scene cloud cover [\d.]+ %",
        r"USGS processing \S+",
    ):
        expect(scene.get_by_text(re.compile(fact))).to_be_visible()
    for entry in ("ndvi_mean", "ndvi_median", "ndvi_std", "aoi_clear_fraction"):
        value = metadata.filter(has=page.get_by_text(entry, exact=True)).locator("td").nth(1)
        text = value.inner_text().strip()
        assert float(text) == significant(float(text)), (
            f"{entry} shows {text!r}: not rounded to 4 significant digits"
        )
    image = inline_image(page, "preview", f"NDVI {key}")
    width, height = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert max(width, height) >= 300, f"the NDVI preview is {width} x {height} px"
    keep_screenshot(page, screenshots, "ndvi-preview.png")
    # The colour scale is the asset's, shown once with its description, not in every event.
    page.keyboard.press("Escape")
    description_legend(page, f"{deployment.url}/assets/ndvi", "Each scene's preview")
    keep_screenshot(page, screenshots, "ndvi-legend.png")


def description_legend(page: Page, asset_url: str, text: str) -> Locator:
    """The legend image in the description (containing `text`) on the asset's Overview."""
    page.goto(f"{asset_url}?view=overview")
    description = page.locator(".dagster-markdown").filter(has_text=text)
    expect(description).to_be_attached()
    show_more = page.get_by_role("button", name="Show more")
    if show_more.count():
        show_more.first.click()
    legend = description.locator("img[src^='data:image/png;base64,'][alt='legend']")
    expect(legend).to_be_visible()
    return legend


def inline_image(page: Page, entry: str, alt: str) -> Locator:
    """The PNG shown in metadata entry `entry`, decoded by the browser. The UI shows Markdown
    of 1,000 characters or more behind a [Show Markdown] link: wait for either, open it."""
    row = page.locator("tr").filter(has=page.get_by_text(entry, exact=True))
    shown = f"img[src^='data:image/png;base64,'][alt='{alt}']"
    image = row.locator(shown)
    link = row.get_by_text("[Show Markdown]")
    expect(image.or_(link)).to_be_visible()
    if not image.count():
        link.click()
        image = page.get_by_role("dialog").locator(shown)
    expect(image).to_be_visible()
    decoded = image.evaluate("img => img.complete ? [img.naturalWidth, img.naturalHeight] : null")
    assert decoded and min(decoded) > 0, f"the browser could not decode {alt}: {decoded}"
    return image


def test_filtered_scenes_show_in_the_status_check(
    deployment: Deployment, page: Page, screenshots
) -> None:
    """`ndvi`'s per-scene check colours each scene: green with an NDVI raster, red (a
    warning) filtered for clouds or without data, and names the reason."""
    page.goto(f"{deployment.url}/assets/ndvi?view=checks&checkDetail={SCENE_STATUS_CHECK}")
    page.locator("button[role='tab'][id='partitions']").click()
    processed, others = deployment.processed_keys, deployment.not_processed_keys
    expect(
        page.get_by_text(f"Passed ({len(processed)})", exact=True), deployment.logs()
    ).to_be_visible()
    expect(page.get_by_text(f"Failed ({len(others)})", exact=True)).to_be_visible()
    expect(page.get_by_text("Missing (0)", exact=True)).to_be_visible()
    rows = page.locator("[class*='assetListRow']")
    expect(rows).to_have_count(len(deployment.scene_keys))

    def dot(key: str) -> Locator:
        name = rows.locator(f"[title='{key}']")
        return name.locator("xpath=../..").locator("div[style*='border-radius: 100%']")

    for key in processed:
        expect(dot(key), key).to_have_attribute("style", re.compile("accent-green"))
    for key in others:
        expect(dot(key), key).to_have_attribute("style", re.compile("accent-red"))
    # Hiding the passed ones lists the scenes without NDVI (and the broken one).
    page.get_by_text(f"Passed ({len(processed)})", exact=True).click()
    expect(rows).to_have_count(len(others) + 1)
    filtered = others[0]
    rows.locator(f"[title='{filtered}']").click()
    expect(page.get_by_text(re.compile(r"^(filtered_cloudy|no_data): "))).to_be_visible()
    keep_screenshot(page, screenshots, "scene-status.png")


def pixels_near(image: Locator, rgb: tuple[int, int, int], tolerance: int = 24) -> int:
    """Opaque pixels of a decoded <img> within `tolerance` (sum of channel differences)."""
    return image.evaluate(
        """(img, [r, g, b, tolerance]) => {
            const canvas = document.createElement('canvas');
            canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
            const context = canvas.getContext('2d');
            context.drawImage(img, 0, 0);
            const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
            let count = 0;
            for (let i = 0; i < data.length; i += 4) {
                const d = Math.abs(data[i] - r) + Math.abs(data[i + 1] - g)
                    + Math.abs(data[i + 2] - b);
                if (data[i + 3] > 200 && d <= tolerance) count++;
            }
            return count;
        }""",
        [*rgb, tolerance],
    )


def test_cloud_mask_and_legend_read_on_white(
    deployment: Deployment, page: Page, screenshots
) -> None:
    cloud = MASK_CLASS_COLOURS[MaskClass.CLOUD]
    assert sum(cloud) < 3 * 235, "cloud must not be drawn white"
    key = deployment.cloudiest_key
    page.goto(f"{deployment.url}/assets/cloud_mask?view=partitions&partition={key}")
    outside = page.locator("tr").filter(has=page.get_by_text("outside_aoi_pixels", exact=True))
    expect(outside, deployment.logs()).to_be_visible()
    assert int(outside.locator("td").nth(1).inner_text()) > 0
    preview = inline_image(page, "preview", f"cloud mask {key}")
    assert pixels_near(preview, cloud) > 0, "no cloud in the cloudiest scene's preview"
    assert pixels_near(preview, (255, 255, 255), tolerance=6) == 0, "white in the preview"
    keep_screenshot(page, screenshots, "cloud-mask.png")
    page.keyboard.press("Escape")
    legend = description_legend(page, f"{deployment.url}/assets/cloud_mask", "outside the AOI")
    for mask_class in (MaskClass.CLOUD, MaskClass.CLEAR, MaskClass.FILL):
        swatch = MASK_CLASS_COLOURS[mask_class]
        assert pixels_near(legend, swatch) >= 20, f"no {mask_class.name} swatch in the legend"


def test_ndvi_plot_and_summary_columns(deployment: Deployment, page: Page, screenshots) -> None:
    page.goto(f"{deployment.url}/assets/ndvi_timeseries_plot?view=events")
    plot = inline_image(page, "plot", "NDVI time series")
    width, height = plot.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert width >= 1000 and height >= 400, f"the plot is {width} x {height} px"
    keep_screenshot(page, screenshots, "ndvi-plot.png")
    page.keyboard.press("Escape")
    page.goto(f"{deployment.url}/assets/ndvi_summary?view=overview")
    for column in ("datetime", "aoi_clear_fraction", "status"):
        expect(page.get_by_text(column, exact=True).first, deployment.logs()).to_be_visible()
        expect(page.get_by_text(STATS_DESCRIPTIONS[column]).first).to_be_visible()


def test_field_chart_and_table_schema(deployment: Deployment, page: Page, screenshots) -> None:
    page.goto(f"{deployment.url}/assets/field_timeseries_chart?view=events")
    chart = inline_image(page, "plot", "Field NDVI time series")
    width, _height = chart.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert width >= 1000, f"the field chart is {width} px wide"
    keep_screenshot(page, screenshots, "field-chart.png")
    page.keyboard.press("Escape")
    page.goto(f"{deployment.url}/assets/field_timeseries?view=overview")
    for column in ("field_id", "clear_fraction", "ndvi_p90", "cover"):
        expect(page.get_by_text(column, exact=True).first, deployment.logs()).to_be_visible()


def test_scene_sensor_is_listed_and_running(
    deployment: Deployment, page: Page, screenshots
) -> None:
    page.goto(f"{deployment.url}/automation")
    name = page.get_by_text(SENSOR_NAME, exact=True)
    row = page.locator("[class*='VirtualizedTable_row']").filter(has=name)
    expect(row, deployment.logs()).to_have_count(1)
    expect(row.locator("label[class*='formatSwitch'] input")).to_be_checked()
    listed = page.locator("[class*='VirtualizedTable_row']").last.bounding_box()
    assert listed is not None
    bottom = listed["y"] + listed["height"] + 24
    keep_screenshot(
        page, screenshots, "sensors.png", clip={"x": 0, "y": 0, "width": 1400, "height": bottom}
    )

    # Its own page shows that the daemon really ticks it.
    name.click()
    expect(page).to_have_url(re.compile(f"/sensors/{SENSOR_NAME}$"))
    running = page.locator("tr").filter(has=page.get_by_text("Running", exact=True))
    expect(running.locator("input[type='checkbox']")).to_be_checked()
    expect(page.get_by_text(re.compile(r"^\d+ runs? requested$|^Skipped$")).first).to_be_visible()
