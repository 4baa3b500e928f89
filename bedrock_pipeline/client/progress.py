"""Progress of a long read on a terminal: records, MB/s and time left, redrawn in place on
stderr. Commands create it only when stderr is a terminal, so pipes and logs stay clean."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TextIO


class ReadProgress:
    """Callable as ``progress(file name, lines, bytes)``; `sizes` gives each file's size in
    bytes (None when unknown: no time left is shown)."""

    def __init__(self, stream: TextIO, sizes: Mapping[str, int | None]) -> None:
        self.stream, self.sizes = stream, sizes
        self.started = time.monotonic()
        self.drawn = False

    def __call__(self, name: str, lines: int, nbytes: int) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = nbytes / elapsed
        line = f"{name}: {lines:,} records, {rate / 1e6:.1f} MB/s"
        size = self.sizes.get(name)
        if size and rate > 0:
            line += f", ETA {max(size - nbytes, 0) / rate:.0f} s"
        self.stream.write(f"\r\x1b[K{line}")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
