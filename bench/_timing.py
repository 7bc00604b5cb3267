"""The timing loops the benchmark scripts share (run them as ``python bench/<script>.py``).

A target is a ratio against a peer measured in the same run: :func:`interleaved` times every case
in short turns, round after round (the order reversed every other round), so a load change on a
shared machine hits all cases alike; :func:`ratio` takes the median of the per-round ratios.
"""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Dict, List, Mapping, Tuple


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


def calls_per_turn(func: Callable[[], object], seconds: float) -> int:
    """How many calls of ``func`` take about ``seconds`` (after a warm-up call); at least 1."""
    func()
    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            func()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds / 4 or n >= 1 << 22:
            return max(1, round(n * seconds / max(elapsed, 1e-9)))
        n *= 2


def alternate(cases: Mapping[str, Callable[[], Any]], rounds: int) -> Dict[str, List[Any]]:
    """Run each case once per round, in turn (reversed every other round); each returns its own figure
    (seconds, bytes, a dict of them…). Returns the figures per case, one per round. For cases that cannot
    be batched, such as a fresh interpreter per sample."""
    names = list(cases)
    figures: Dict[str, List[Any]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            figures[name].append(cases[name]())
    return figures


def interleaved(cases: Mapping[str, Callable[[], object]], rounds: int = 21, turn_seconds: float = 0.02,
                clock: Callable[[], float] = time.perf_counter) -> Dict[str, List[float]]:
    """Seconds per call of each case, one figure per round; each case runs for about ``turn_seconds``
    per round, the cases taking turns (see :func:`alternate`).

    ``clock=time.thread_time`` counts only the CPU time of this thread: for CPU-bound cases on a loaded
    machine, where the wall clock also counts the time other processes held the CPU."""
    counts = {name: calls_per_turn(func, turn_seconds) for name, func in cases.items()}

    def turn(func: Callable[[], object], n: int) -> Callable[[], float]:
        def run() -> float:
            start = clock()
            for _ in range(n):
                func()
            return (clock() - start) / n
        return run

    return alternate({name: turn(func, counts[name]) for name, func in cases.items()}, rounds)


def ratio(figures: Mapping[str, List[float]], numerator: str, denominator: str) -> Tuple[float, float, float]:
    """(median, lowest, highest) of the per-round ratios ``numerator / denominator``."""
    ratios = [a / b for a, b in zip(figures[numerator], figures[denominator])]
    return statistics.median(ratios), min(ratios), max(ratios)


def verdict(label: str, measured: Tuple[float, float, float], target: float) -> Tuple[str, bool]:
    """One result line — ``label: 0.81x (0.74–0.90 over the rounds), target <= 1.00x: PASS`` — and
    whether the median met the target (at most ``target``)."""
    median, low, high = measured
    ok = median <= target
    return (f"{label}: {median:.2f}x ({low:.2f}-{high:.2f} over the rounds), target <= {target:.2f}x: "
            f"{'PASS' if ok else 'FAIL'}"), ok


def median(values: List[float]) -> float:
    return statistics.median(values)


def exit_status(ok: bool, quick: bool) -> int:
    """The script's exit status: 1 on a FAIL; a ``--quick`` run only checks the script runs (always 0)."""
    if quick:
        print("(--quick: too few rounds for the figures to mean anything)")
        return 0
    return 0 if ok else 1
