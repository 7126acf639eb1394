#!/usr/bin/env python
"""Complex numbers: compiled value and gradient against NumPy's forward pass, and np.fft.

    python benchmarks/complex_numbers.py [--quick]

* an elementwise complex loss (exp, conj, sqrt, log, abs) of 10,000 complex128 values: the
  compiled ``value_and_grad`` and the interpreter's, as ratios to NumPy evaluating the loss
  alone (the baseline, same process);
* a loss through ``np.fft.rfft``/``irfft`` of a (64, 256) signal, whose transforms compiled
  code calls in Numba's object mode: the same ratios, and the per-call overhead this adds.

All timings in this process, interleaved (``timing.py``); BLAS uses one thread.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import format_seconds, interleaved  # noqa: E402

import tracegrad as tg  # noqa: E402


def elementwise_loss(z):
    w = np.exp(0.1j * z) * np.conj(z) + np.sqrt(z + 3.0) - np.log(z * z + 1.0)
    return np.sum(np.abs(w))


def spectral_loss(x):
    kernel = np.exp(-np.linspace(0.0, 4.0, x.shape[-1] // 2 + 1)) * (1 + 0.5j)
    smooth = np.fft.irfft(np.fft.rfft(x) * kernel, n=x.shape[-1])
    return np.sum((smooth - x) ** 2)


def compare(name: str, loss, arg, rounds: int, target_s: float) -> None:
    compiled = tg.value_and_grad(loss, compile="sync")
    interpreted = tg.value_and_grad(loss, compile="never")
    (v1, g1), (v2, g2) = compiled(arg), interpreted(arg)
    np.testing.assert_allclose([v1, v2], [loss(arg)] * 2, rtol=1e-10)
    np.testing.assert_allclose(g1, g2, rtol=1e-8, atol=1e-10)
    times = interleaved(
        {
            "numpy forward": (loss, (arg,)),
            "compiled value_and_grad": (compiled, (arg,)),
            "interpreted value_and_grad": (interpreted, (arg,)),
        },
        rounds,
        target_s,
    )
    base = times["numpy forward"].median
    print(f"{name}:")
    for label, t in times.items():
        print(f"  {label:28s} {format_seconds(t.median):>10s}  x{t.median / base:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    rounds, target = (3, 0.02) if quick else (7, 0.1)
    rng = np.random.default_rng(0)
    z = rng.uniform(0.3, 2.0, 10_000) + 1j * rng.uniform(-2.0, 2.0, 10_000)
    compare("elementwise complex loss, 10,000 complex128", elementwise_loss, z, rounds, target)
    x = rng.normal(size=(64, 256))
    compare("rfft/irfft smoothing loss, (64, 256) float64", spectral_loss, x, rounds, target)


if __name__ == "__main__":
    main()
