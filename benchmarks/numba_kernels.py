"""Hand-written fused Numba kernels: value and gradient in one pass, for the short workloads.

Each is what a person would write by hand for speed: scalar code, or one loop computing the
value and the gradient together. Options as tracegrad's kernels use: ``error_model='numpy'``
and the NaN-safe fastmath subset. The kernel for the Rosenbrock workload computes one
``value_and_grad``; the benchmark's Python momentum loop calls it once per step, exactly as it
calls tracegrad's.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_OPTIONS = {"error_model": "numpy", "fastmath": {"reassoc", "contract", "arcp", "nsz"}}


@numba.njit(**_OPTIONS)
def poly(x):
    x2 = x * x
    return 3.0 * x2 * x - 2.0 * x2 + x - 5.0, 9.0 * x2 - 4.0 * x + 1.0


@numba.njit(**_OPTIONS)
def expchain(x):
    e1 = math.exp(x)
    e2 = math.exp(e1)
    e3 = math.exp(e2)
    e4 = math.exp(e3)
    e5 = math.exp(e4)
    return e5, e5 * e4 * e3 * e2 * e1


@numba.njit(**_OPTIONS)
def rosenbrock(p):
    n = p.shape[0]
    g = np.zeros_like(p)
    total = 0.0
    for i in range(n - 1):
        a = p[i]
        r = p[i + 1] - a * a
        s = 1.0 - a
        total += 100.0 * r * r + s * s
        g[i] += -400.0 * r * a - 2.0 * s
        g[i + 1] += 200.0 * r
    return total, g


@numba.njit(**_OPTIONS)
def sinexp(x):
    g = np.empty_like(x)
    total = 0.0
    for i in range(x.shape[0]):
        xi = x[i]
        s = math.sin(xi)
        e = math.exp(-xi * xi)
        total += s * e
        g[i] = e * (math.cos(xi) - 2.0 * xi * s)
    return total, g


KERNELS = {"poly": poly, "expchain": expchain, "rosenbrock": rosenbrock, "sinexp": sinexp}
