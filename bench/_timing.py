"""The one timing loop the benchmark scripts share (run them as ``python bench/<script>.py``)."""
from __future__ import annotations

import time
from typing import Callable, Tuple


def timed_calls(func: Callable[[], object], seconds: float, max_batch: int = 4096) -> Tuple[int, float]:
    """Call ``func`` for about ``seconds`` after one warm-up call; returns (calls, elapsed seconds).

    Calls are made in doubling batches so the clock is read rarely for fast functions.
    """
    func()
    n, start, batch = 0, time.perf_counter(), 1
    while True:
        for _ in range(batch):
            func()
        n += batch
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n, elapsed
        batch = min(batch * 2, max_batch)
