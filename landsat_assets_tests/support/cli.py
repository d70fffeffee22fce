"""The `landsat-assets` command as a user runs it: a separate process, the environment given
on top of the current one; and the counts of the report it prints after a run."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


def landsat_assets(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "landsat_assets.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=600,
    )


_COUNT = re.compile(r"^(?P<indent> +)(?P<label>\S.*?) {2,}(?P<count>\d+)\b")


@dataclass(frozen=True)
class RunCounts:
    """The counts block of a run report: its top-level lines, and the outcomes of the scenes
    computed this run (the lines indented under `computed this run`), by label."""

    totals: dict[str, int]
    this_run: dict[str, int]

    @property
    def found(self) -> int:
        return self.totals["scenes found"]

    @property
    def computed(self) -> int:
        return self.totals["computed this run"]

    @property
    def up_to_date(self) -> int:
        return self.totals["already up to date"]


def run_counts(report: str) -> RunCounts:
    """The counts of the report in `report` (a run's output, or `format_report`'s text)."""
    lines = report.split("Landsat scene pipeline\n", 1)[1].splitlines()
    totals: dict[str, int] = {}
    this_run: dict[str, int] = {}
    for match in itertools.takewhile(bool, map(_COUNT.match, lines)):
        level = totals if len(match["indent"]) == 2 else this_run
        level[match["label"]] = int(match["count"])
    return RunCounts(totals, this_run)
