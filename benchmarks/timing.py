"""Interleaved timing: autorange each competitor once, then round-robin rounds, then medians.

Every measurement is timeit's: a compiled ``for`` loop running ``f(*a)`` ``number`` times with
the garbage collector off; the time per call is the total over ``number``. Competitors of one
workload are measured in turns (the order rotates every round), so that a burst of noise on
this shared 2-core machine hits all of them rather than one; the reported figure is the
median over rounds.
"""

from __future__ import annotations

import statistics
import timeit
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class Timing:
    """Seconds per call of one competitor: every round's figure and their median."""

    number: int  # calls per measurement
    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def spread(self) -> float:
        """(max - min) / median over the rounds: how noisy the figure was."""
        return (max(self.samples) - min(self.samples)) / self.median

    def as_dict(self) -> dict[str, Any]:
        return {
            "median_s": self.median,
            "min_s": min(self.samples),
            "max_s": max(self.samples),
            "number": self.number,
            "rounds": len(self.samples),
        }


def _timer(fn: Callable, args: Sequence[Any]) -> timeit.Timer:
    return timeit.Timer("f(*a)", globals={"f": fn, "a": tuple(args)})


def autorange(timer: timeit.Timer, target_s: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... calls that take at least ``target_s``."""
    base = 1
    while True:
        for k in (1, 2, 5):
            number = base * k
            if timer.timeit(number) >= target_s:
                return number
        base *= 10


def interleaved(
    competitors: dict[str, tuple[Callable, Sequence[Any]]], rounds: int, target_s: float
) -> dict[str, Timing]:
    """Time each ``name: (f, args)`` for ``rounds`` round-robin rounds of ``f(*args)``."""
    timers = {name: _timer(fn, args) for name, (fn, args) in competitors.items()}
    numbers = {name: autorange(t, target_s) for name, t in timers.items()}
    samples: dict[str, list[float]] = {name: [] for name in timers}
    names = list(timers)
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(timers[name].timeit(numbers[name]) / numbers[name])
    return {name: Timing(numbers[name], samples[name]) for name in names}


def format_seconds(t: float | None) -> str:
    """A time with 3 significant digits and a unit chosen to fit: 412 ns, 3.07 us, 1.25 s."""
    if t is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if t >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t / 1e-9:.3g} ns"
