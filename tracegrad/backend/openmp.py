"""Numba's OpenMP threads: how long they wait, spinning, for the next parallel region.

GNU OpenMP's threads spin after a region (about 300,000 turns by default) before they sleep.
Between two parallel loop nests that is what makes the second start in about 2 us; but a
program that calls a multi-threaded BLAS between its nests has those spinning threads take
the cores from the BLAS threads: the MLP of ``benchmarks/parallel.py`` ran 0.5-0.57x as
fast on two threads as on one. Sleeping at once (``OMP_WAIT_POLICY=PASSIVE``) gives the
cores back, but every region then pays a wake-up of 50-70 us here, which small nests never
win back. A short spin serves both: measured in docs/backend.md, "Multi-core".
"""

from __future__ import annotations

import os

# Turns of GNU OpenMP's wait loop (GOMP_SPINCOUNT) before a thread sleeps: some tens of
# microseconds here, longer than the gap between two nests, shorter than a matrix product.
SHORT_SPIN = "20000"


def _layer_started() -> bool:
    import numba.np.ufunc.parallel as parallel

    return bool(parallel._is_initialized)


def use_short_spin() -> None:
    """Before Numba's threading layer starts (GNU OpenMP reads its settings when it loads),
    ask for a short spin, unless the user chose a wait policy or spin count. Without effect
    when another library has loaded GNU OpenMP earlier in the process."""
    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        return
    if not _layer_started():
        os.environ["GOMP_SPINCOUNT"] = SHORT_SPIN
