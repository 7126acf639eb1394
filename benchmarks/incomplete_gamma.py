#!/usr/bin/env python
"""The compiled incomplete gamma kernels against SciPy's gammainc, in one process.

    python benchmarks/incomplete_gamma.py [--quick]

ns per element of P(a, x) = scipy.special.gammainc (tracegrad.jit, compiled), of dP/da (the
gradient in a, which calls the gammainc_da kernel) and of SciPy's gammainc on the same
arrays, for a few regimes of (a, x); the ratio is tracegrad's time over SciPy's P.  The
kernels run one element at a time (series or continued fraction, O(sqrt(a)) steps), as
SciPy's do; dP/da also carries the derivatives through the steps and needs digamma.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("TRACEGRAD_COMPILE", "sync")  # time compiled code, not the interpreter
os.environ.setdefault("TRACEGRAD_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for _path in (HERE, ROOT):  # this checkout's tracegrad, then the helper modules
    if _path not in sys.path:
        sys.path.insert(0, _path)

import numpy as np  # noqa: E402
import scipy.special as sp  # noqa: E402
from timing import format_seconds, interleaved  # noqa: E402

import tracegrad as tg  # noqa: E402

N = 100_000


def _regimes(rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    def log_uniform(lo: float, hi: float) -> np.ndarray:
        return 10 ** rng.uniform(lo, hi, N)

    a_small = log_uniform(-2, 0)
    a_mid = log_uniform(0, 2)
    a_large = log_uniform(2, 3)
    return {
        "a in [0.01, 1], x / a in [0.1, 10]": (a_small, a_small * log_uniform(-1, 1)),
        "a in [1, 100], x / a in [0.1, 10]": (a_mid, a_mid * log_uniform(-1, 1)),
        "a in [100, 1000], x = a +- 3 sqrt(a)": (
            a_large,
            a_large + 3 * np.sqrt(a_large) * rng.uniform(-1, 1, N),
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    rounds, target = (3, 0.05) if args.quick else (7, 0.2)
    value = tg.jit(lambda a, x: sp.gammainc(a, x))
    slope = tg.jit(tg.grad(lambda a, x: np.sum(sp.gammainc(a, x))))
    print(f"ns per element, N = {N}, median of {rounds} interleaved rounds")
    print(f"{'regime':<40} {'SciPy P':>9} {'tg P':>9} {'ratio':>6} {'tg dP/da':>9} {'ratio':>6}")
    for name, (a, x) in _regimes(np.random.default_rng(0)).items():
        np.testing.assert_allclose(value(a, x), sp.gammainc(a, x), rtol=1e-12, atol=1e-300)
        slope(a, x)  # compiled before timing
        times = interleaved(
            {"scipy": (sp.gammainc, (a, x)), "P": (value, (a, x)), "dP/da": (slope, (a, x))},
            rounds,
            target,
        )
        per = {k: t.median / N for k, t in times.items()}
        print(
            f"{name:<40} {format_seconds(per['scipy']):>9} {format_seconds(per['P']):>9} "
            f"{per['P'] / per['scipy']:>6.2f} {format_seconds(per['dP/da']):>9} "
            f"{per['dP/da'] / per['scipy']:>6.2f}"
        )


if __name__ == "__main__":
    main()
