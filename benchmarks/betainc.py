#!/usr/bin/env python
"""The incomplete beta function compiled by tracegrad against scipy.special.betainc.

    python benchmarks/betainc.py [--quick]

ns per element, in this one process, for: SciPy's betainc (the baseline), tracegrad's
compiled betainc, its derivative in a alone (the kernel with a dual-number channel), and a
whole value-and-gradient in (a, b, x). Three regimes of (a, b): small (0.01..10), wide
(0.01..1000, log-uniform) and large (100..1000), x uniform on [0, 1]. Ratios are against
SciPy's betainc on the same inputs.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("TRACEGRAD_COMPILE", "sync")  # time compiled code, not the interpreter

import argparse  # noqa: E402
import sys  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for _path in (HERE, ROOT):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import numpy as np  # noqa: E402
import scipy.special as sp  # noqa: E402
from timing import format_seconds, interleaved  # noqa: E402

import tracegrad as tg  # noqa: E402

REGIMES = {"small": (-2.0, 1.0), "wide": (-2.0, 3.0), "large": (2.0, 3.0)}


def _inputs(regime: str, n: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    lo, hi = REGIMES[regime]
    a, b = 10.0 ** rng.uniform(lo, hi, n), 10.0 ** rng.uniform(lo, hi, n)
    return a, b, rng.uniform(0.0, 1.0, n)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    n = 10_000 if quick else 100_000
    value = tg.jit(lambda a, b, x: sp.betainc(a, b, x))
    slope_a = tg.jit(tg.grad(lambda a, b, x: np.sum(sp.betainc(a, b, x))))
    both = tg.jit(tg.value_and_grad(lambda a, b, x: np.sum(sp.betainc(a, b, x)), (0, 1, 2)))
    print(f"{'regime':8}{'competitor':30}{'ns/element':>12}{'vs SciPy':>10}")
    for regime in REGIMES:
        args = _inputs(regime, n)
        competitors = {
            "scipy.special.betainc": (sp.betainc, args),
            "tracegrad betainc": (value, args),
            "tracegrad d/da": (slope_a, args),
            "tracegrad value_and_grad(a,b,x)": (both, args),
        }
        for fn, fn_args in competitors.values():
            fn(*fn_args)  # compile before timing
        timings = interleaved(competitors, rounds=3 if quick else 7, target_s=0.2)
        base = timings["scipy.special.betainc"].median
        for name, t in timings.items():
            per = t.median / n
            print(f"{regime:8}{name:30}{format_seconds(per):>12}{t.median / base:>10.2f}")


if __name__ == "__main__":
    main()
