"""Terminal output of the command-line tools: a progress bar per phase, plain lines in logs."""

from __future__ import annotations

import sys
from typing import TextIO


class PhaseProgress:
    """`phase [#####.....] 5/10 detail` redrawn in place on a terminal; one line per step
    otherwise, so CI logs and pipes stay readable."""

    WIDTH = 28

    def __init__(self, phase: str, total: int, stream: TextIO = sys.stdout) -> None:
        self.phase = phase
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream
        self.interactive = stream.isatty()

    def advance(self, detail: str = "", steps: int = 1) -> None:
        self.done = min(self.total, self.done + steps)
        if self.interactive:
            filled = self.WIDTH * self.done // self.total
            bar = "#" * filled + "." * (self.WIDTH - filled)
            self.stream.write(f"\r{self.phase:<12} [{bar}] {self.done}/{self.total} {detail:<40}")
            if self.done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(f"{self.phase}: {self.done}/{self.total} {detail}\n")
        self.stream.flush()
