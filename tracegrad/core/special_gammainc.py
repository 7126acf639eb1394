"""dP(a, x)/da of the regularized incomplete gamma function P, in NumPy: the interpreter's
implementation of the gammainc_da primitive (core/special.py), and the reference its
compiled kernel (backend/special_kernels.py) is tested against.

SciPy gives P and Q but not their derivative in a.  With F = x^a e^-x / Gamma(a + 1):
below x = a + 1, P = F S with S = sum_n x^n / ((a + 1) ... (a + n)), so dP/da =
P (d log F/da + d log S/da); above, Q = a F / g with g the continued fraction
x + 1 - a - 1 (1 - a) / (x + 3 - a - 2 (2 - a) / (...)), so dP/da = -dQ/da =
-Q (log x - digamma(a) - d log g/da), and -e^-x / g at a = 0 (where Q = 0).
d log F/da = log x - digamma(a + 1).  The derivatives of S and g are carried through their
recurrences as dual numbers, all elements at once until the slowest has converged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_MAX_TERMS = 100_000


def _series_dlog(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """d log S / da, S = sum_n x^n / ((a + 1) ... (a + n))."""
    term, dterm = np.ones_like(a), np.zeros_like(a)
    total, dtotal = np.ones_like(a), np.zeros_like(a)
    done = np.zeros(a.shape, bool)
    for n in range(1, _MAX_TERMS):
        ratio = x / (a + n)
        dterm = (dterm - term / (a + n)) * ratio
        term = term * ratio
        total = np.where(done, total, total + term)
        dtotal = np.where(done, dtotal, dtotal + dterm)
        done |= (term <= 1e-17 * total) & (np.abs(dterm) <= 1e-17 * np.abs(dtotal))
        if np.all(done):
            break
    return dtotal / total


def _fraction(a: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """g and d log g / da by the modified Lentz method (x >= a + 1, so g starts at >= 2)."""
    b = x + 1.0 - a
    g, dlog_g = b.copy(), -1.0 / b
    c, dc = b.copy(), -np.ones_like(a)
    d, dd = np.zeros_like(a), np.zeros_like(a)
    done = np.zeros(a.shape, bool)
    for n in range(1, _MAX_TERMS):
        numerator = -n * (n - a)
        b = b + 2.0
        d_next = b + numerator * d
        dd = -1.0 + n * d + numerator * dd
        d = 1.0 / np.where(d_next == 0.0, 1e-300, d_next)
        dd = -dd * d * d
        dc = -1.0 + n / c - numerator * dc / (c * c)
        c = b + numerator / c
        c = np.where(c == 0.0, 1e-300, c)
        delta = c * d
        dlog_delta = dc / c + dd / d
        # Converged elements stay as they are: more steps would only add rounding errors.
        g = np.where(done, g, g * delta)
        dlog_g = np.where(done, dlog_g, dlog_g + dlog_delta)
        done |= (np.abs(delta - 1.0) <= 3e-16) & (
            np.abs(dlog_delta) <= 1e-17 * (np.abs(dlog_g) + 1.0 / x)
        )
        if np.all(done):
            break
    return g, dlog_g


def gammainc_da_numpy(a: np.ndarray, x: np.ndarray, special: Any) -> np.ndarray:
    """dP(a, x)/da elementwise (float64), with ``special`` = scipy.special: 0 where P is
    constant (x = 0, a = inf, x = inf), nan where P is (a < 0, x < 0, a = x = 0)."""
    a, x = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(x, np.float64))
    shape = a.shape
    a, x = a.ravel(), x.ravel()
    result = np.full(a.shape, np.nan)
    with np.errstate(all="ignore"):
        edge = (x == 0.0) | np.isinf(a) | np.isinf(x)
        result[edge] = 0.0 * special.gammainc(a[edge], x[edge])
        regular = (a >= 0.0) & (x > 0.0) & ~edge
        below = regular & (x < a + 1.0)
        above = regular & ~below
        ab, xb = a[below], x[below]
        dlog_prefactor = np.log(xb) - special.digamma(ab + 1.0)
        result[below] = special.gammainc(ab, xb) * (dlog_prefactor + _series_dlog(ab, xb))
        aa, xa = a[above], x[above]
        if aa.size:
            g, dlog_g = _fraction(aa, xa)
            at_zero = -np.exp(-xa) / g
            slope = special.gammaincc(aa, xa) * (np.log(xa) - special.digamma(aa) - dlog_g)
            result[above] = np.where(aa == 0.0, at_zero, -slope)
    return result.reshape(shape)
