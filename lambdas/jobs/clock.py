"""Wall-clock seconds, in one place so that an emulator can run the workflow on virtual time."""

from __future__ import annotations

import time


def now() -> float:
    return time.time()
