"""The order in which the two xdist workers take test modules (`--dist loadfile` with
`--no-loadscope-reorder`, setup.cfg): the longest first, so that no worker is handed a
three-minute module while the other is finishing (the longest-processing-time rule).

xdist's own default order, most tests first, started the 200-partition load test (one test,
3-7 minutes) last; one worker then ran it alone at the end of the suite."""

from __future__ import annotations

import pytest

LONGEST_MODULES = (
    "reliability/test_storage_is_the_truth.py",
    "reliability/test_load.py",
    "ui/test_browser.py",
    "reliability/test_crash_safety.py",
    "test_cli.py",
    "assets/test_pipeline.py",
    "reliability/test_idempotence.py",
    "automation/test_end_to_end.py",
    "sensors/test_sensor_scale.py",
    "automation/test_automation.py",
    "reliability/test_work_in_flight.py",
)
"""Test modules by their time in one fresh-clone run of `make test` on the 2-core VM, longest
first (2026-12-02, --durations=0: 540 s down to 117 s of the 3,700 s that all modules took
under load). The order among them matters less than that they start early."""


def module_rank(item: pytest.Item) -> tuple[int, int]:
    """Sort key: the longest modules in their order, then other slow ones, then the rest."""
    path = item.path.as_posix()
    for rank, module in enumerate(LONGEST_MODULES):
        if path.endswith(f"landsat_assets_tests/{module}"):
            return (0, rank)
    return (1, 0) if item.get_closest_marker("slow") is not None else (2, 0)


def longest_modules_first(items: list[pytest.Item]) -> None:
    """Reorder `items` in place by `module_rank`; tests keep their order within a module."""
    items.sort(key=module_rank)
