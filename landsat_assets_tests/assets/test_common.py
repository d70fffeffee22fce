"""Block progress in the run log: long work reports, short work adds no events."""

from types import SimpleNamespace

from landsat_assets.assets.common import progress_logger


class SteppingClock:
    def __init__(self, step_s: float) -> None:
        self.now = 0.0
        self.step_s = step_s

    def __call__(self) -> float:
        self.now += self.step_s
        return self.now


def logged_lines(blocks: int, seconds_per_block: float) -> list[str]:
    lines: list[str] = []
    context = SimpleNamespace(log=SimpleNamespace(info=lines.append))
    report = progress_logger(
        context, "computing NDVI", "SCENE", clock=SteppingClock(seconds_per_block), interval_s=5
    )
    for done in range(1, blocks + 1):
        report(done, blocks)
    return lines


def test_short_work_logs_nothing() -> None:
    assert logged_lines(blocks=4, seconds_per_block=0.01) == []


def test_long_work_logs_every_interval_and_its_end() -> None:
    lines = logged_lines(blocks=250, seconds_per_block=0.125)
    assert [line.split()[3] for line in lines] == [
        "40/250",
        "80/250",
        "120/250",
        "160/250",
        "200/250",
        "240/250",
        "250/250",
    ]
    assert lines[-1] == "SCENE: computing NDVI 250/250 blocks (100%)"
