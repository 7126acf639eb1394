#!/usr/bin/env python
"""Batched linear algebra: tracegrad's value and gradient against hand-written NumPy.

    python benchmarks/linalg.py [--quick]

* a Gaussian log-likelihood over a stack of 64 SPD 8x8 covariances (slogdet and solve);
  NumPy: ``slogdet``, ``solve``, and the gradient ``inv(K)^T - alpha alpha^T`` / 2;
* the determinants of 256 4x4 matrices; NumPy: ``det`` and ``det * inv^T``.  tracegrad's
  gradient is the adjugate from an SVD (defined at singular matrices too), which costs more
  than ``det * inv^T``: this row measures that price;
* ``sum(C * expm(S))`` for 64 symmetric 6x6 matrices through ``eigh``; NumPy: the
  Daleckii-Krein formula, folded onto the lower triangle that eigh reads.

Each NumPy baseline is checked against tracegrad's answer, then all are timed in this process,
interleaved (``timing.py``), with BLAS on one thread.  Ratios are NumPy time / tracegrad time.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("TRACEGRAD_COMPILE", "sync")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import format_seconds, interleaved  # noqa: E402

import tracegrad as tg  # noqa: E402

# =============================================================================================
# Workloads: (tracegrad loss, hand-written value and gradient, arguments)


def gaussian_loss(k: np.ndarray, y: np.ndarray) -> np.ndarray:
    alpha = np.linalg.solve(k, y[..., None])[..., 0]
    return 0.5 * np.sum(np.linalg.slogdet(k)[1] + np.sum(y * alpha, axis=-1))


def gaussian_numpy(k: np.ndarray, y: np.ndarray) -> tuple:
    alpha = np.linalg.solve(k, y[..., None])[..., 0]
    value = 0.5 * np.sum(np.linalg.slogdet(k)[1] + np.sum(y * alpha, axis=-1))
    inverse_t = np.swapaxes(np.linalg.inv(k), -1, -2)
    return value, 0.5 * (inverse_t - alpha[..., :, None] * alpha[..., None, :])


def det_loss(a: np.ndarray) -> np.ndarray:
    return np.sum(np.linalg.det(a))


def det_numpy(a: np.ndarray) -> tuple:
    d = np.linalg.det(a)
    return np.sum(d), d[..., None, None] * np.swapaxes(np.linalg.inv(a), -1, -2)


def expm_loss(s: np.ndarray, c: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(s)
    return np.sum(c * ((v * np.exp(w)[..., None, :]) @ np.swapaxes(v, -1, -2)))


def expm_numpy(s: np.ndarray, c: np.ndarray) -> tuple:
    w, v = np.linalg.eigh(s)
    e = np.exp(w)
    vt = np.swapaxes(v, -1, -2)
    value = np.sum(c * ((v * e[..., None, :]) @ vt))
    gap = w[..., :, None] - w[..., None, :]
    same = np.abs(gap) < 1e-12
    divided = np.where(same, e[..., :, None], (e[..., :, None] - e[..., None, :]) / (gap + same))
    g = v @ (divided * (vt @ c @ v)) @ vt
    n = s.shape[-1]
    lower = np.tril(np.ones((n, n)), -1)
    return value, (g + np.swapaxes(g, -1, -2)) * lower + g * np.eye(n)  # eigh reads tril


def workloads(rng: np.random.Generator) -> dict[str, tuple[Callable, Callable, tuple]]:
    b = rng.normal(size=(64, 8, 8))
    spd = b @ np.swapaxes(b, -1, -2) + 8 * np.eye(8)
    q = np.linalg.qr(rng.normal(size=(64, 6, 6)))[0]
    sym = (q * (np.arange(6) * 0.4 + rng.uniform(0, 0.1, (64, 1, 6)))) @ np.swapaxes(q, -1, -2)
    return {
        "Gaussian log-likelihood, 64 x (8x8)": (
            gaussian_loss,
            gaussian_numpy,
            (spd, rng.normal(size=(64, 8))),
        ),
        "det, 256 x (4x4)": (det_loss, det_numpy, (rng.normal(size=(256, 4, 4)) + 2 * np.eye(4),)),
        "expm through eigh, 64 x (6x6)": (
            expm_loss,
            expm_numpy,
            (sym, rng.normal(size=(64, 6, 6))),
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, shorter timings")
    args = parser.parse_args()
    rounds, target = (3, 0.05) if args.quick else (7, 0.2)
    rng = np.random.default_rng(0)
    for title, (loss, by_hand, inputs) in workloads(rng).items():
        ours = tg.value_and_grad(loss)
        start = time.perf_counter()
        value, grad = ours(*inputs)
        first = time.perf_counter() - start
        want_value, want_grad = by_hand(*inputs)
        np.testing.assert_allclose(value, want_value, rtol=1e-9, err_msg=title)
        np.testing.assert_allclose(grad, want_grad, rtol=1e-7, atol=1e-9, err_msg=title)
        timings = interleaved({"tracegrad": (ours, inputs), "numpy": (by_hand, inputs)},
                              rounds, target)  # fmt: skip
        t, base = timings["tracegrad"].median, timings["numpy"].median
        print(f"{title:38s} first call (compile) {first:6.2f} s   tracegrad "
              f"{format_seconds(t):>10s}   numpy {format_seconds(base):>10s}   "
              f"numpy/tracegrad {base / t:5.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
