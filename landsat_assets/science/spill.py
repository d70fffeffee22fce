"""Values gathered per key in bounded memory: in memory up to a budget, in a scratch file
beyond it, read back one key at a time.

Exact percentiles need every value of a field, and a scene's fields may cover all of it:
kept in memory, one index over a full scene is 240 MB, and each further index or overlapping
field adds as much. With `SpilledChunks` the memory held is the budget plus, while a key is
read back, that key's own values.
"""

from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from collections.abc import Hashable, Iterator
from typing import IO

import numpy as np

DEFAULT_BUDGET_BYTES = 64 * 1024 * 1024
"""Values held in memory before they go to the scratch file."""


class SpilledChunks:
    """float32 chunks appended per key, returned concatenated per key."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self.budget_bytes = budget_bytes
        self._in_memory: dict[Hashable, list[np.ndarray]] = defaultdict(list)
        self._held_bytes = 0
        self._spilled: dict[Hashable, list[tuple[int, int]]] = defaultdict(list)
        """Per key, (byte offset, value count) of its chunks in the scratch file."""
        self._file: IO[bytes] | None = None
        self.spilled_bytes = 0

    def append(self, key: Hashable, chunk: np.ndarray) -> None:
        self._in_memory[key].append(np.ascontiguousarray(chunk, dtype=np.float32))
        self._held_bytes += chunk.size * 4
        if self._held_bytes > self.budget_bytes:
            self._spill()

    def _spill(self) -> None:
        if self._file is None:  # lives until `close()`, across many calls
            self._file = tempfile.TemporaryFile(prefix="landsat-assets-values-")  # noqa: SIM115
        self._file.seek(0, 2)  # append after what earlier spills wrote
        for key, chunks in self._in_memory.items():
            for chunk in chunks:
                self._spilled[key].append((self.spilled_bytes, chunk.size))
                self._file.write(chunk.data)
                self.spilled_bytes += chunk.nbytes
        self._file.flush()
        self._in_memory.clear()
        self._held_bytes = 0

    def values(self, key: Hashable, dtype: type[np.floating] = np.float32) -> np.ndarray:
        """Every value appended under `key`, in the order appended, as `dtype` (converted
        while they are put together, not in a second copy)."""
        parts = list(self.chunks(key))
        return np.concatenate(parts, dtype=dtype) if parts else np.empty(0, dtype=dtype)

    def chunks(self, key: Hashable) -> Iterator[np.ndarray]:
        """The chunks appended under `key`, in the order appended, one at a time: for a
        reader that needs no single array, without `values`' copy into one."""
        for offset, count in self._spilled.get(key, []):
            yield self._read(offset, count)
        yield from self._in_memory.get(key, [])

    def count(self, key: Hashable) -> int:
        """How many values were appended under `key`."""
        spilled = sum(count for _, count in self._spilled.get(key, []))
        return spilled + sum(chunk.size for chunk in self._in_memory.get(key, []))

    def _read(self, offset: int, count: int) -> np.ndarray:
        """`count` values at byte `offset` of the scratch file, by positional reads (no shared
        file position): several threads may read back different keys at once."""
        assert self._file is not None
        values = np.empty(count, dtype=np.float32)
        buffer = memoryview(values).cast("B")
        done = 0
        while done < buffer.nbytes:
            read = os.preadv(self._file.fileno(), [buffer[done:]], offset + done)
            if read == 0:
                raise EOFError(f"the values scratch file ends at byte {offset + done}")
            done += read
        return values

    def close(self) -> None:
        """Drop the scratch file (and everything held)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._in_memory.clear()
        self._spilled.clear()
