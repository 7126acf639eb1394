"""The functions added for NumPy breadth compile: one program uses many of them, and its
value and gradient from Numba equal the reference interpreter's (one compile in all)."""

from __future__ import annotations

import numpy as np

import tracegrad as tg


def _program(x, w):
    mantissa, exponent = np.frexp(x)
    fraction, whole = np.modf(3.0 * x)
    y = x * 1.0
    np.put(y, [0, 2], w[:2])
    z = np.outer(x[:3], w[:3])
    np.fill_diagonal(z, 0.5)
    counts, edges = np.histogram(x, 3, weights=w)
    terms = [
        np.sum(mantissa * np.ldexp(w, exponent)),
        np.sum(fraction * whole + np.nextafter(x, 10.0) + np.spacing(x)),
        np.sum(y * y) + np.sum(z * z),
        np.sum(np.insert(x, 1, w[0]) ** 2) + np.sum(np.delete(w, [0]) ** 3),
        np.sum(np.polymul(x[:3], w[:2])) + np.sum(np.correlate(x, w[:2], "full")),
        np.nanmedian(np.where(x > 1.5, np.nan, x)) + np.nanquantile(w, 0.3),
        np.sum(counts * edges[:-1]) + np.sum(np.unwrap(4.0 * x)),
        np.sum(np.matvec(np.outer(x, w), w)) + np.sum(np.bincount(np.array([0, 3, 3]), w[:3])),
    ]
    return sum(terms)


def test_breadth_program_compiled_matches_interpreter(monkeypatch):
    rng = np.random.default_rng(3)
    x, w = rng.uniform(-2, 2, 6), rng.uniform(0.5, 1.5, 6)
    compiled = tg.value_and_grad(_program, argnums=(0, 1))(x, w)
    monkeypatch.setenv("TRACEGRAD_BACKEND", "interpret")
    interpreted = tg.value_and_grad(_program, argnums=(0, 1))(x, w)
    np.testing.assert_allclose(compiled[0], interpreted[0], rtol=1e-12)
    for got, want in zip(compiled[1], interpreted[1], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(compiled[0], _program(x, w), rtol=1e-12)
