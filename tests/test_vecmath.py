"""Accuracy and special values of tracegrad.vecmath's kernels, called from a fused loop.

Each kernel is compiled once, inside the kind of loop the code generator emits (NaN-safe
fastmath flags, NumPy error model), and checked against NumPy in extended precision.
"""

from __future__ import annotations

import math
import re

import numba
import numpy as np
import pytest

from tracegrad import vecmath

_LOOP_OPTIONS = {"error_model": "numpy", "fastmath": {"reassoc", "contract", "arcp", "nsz"}}

# name: (NumPy function, dtype, sweep range, max ulp error allowed)
KERNELS = {
    "exp_f64": (np.exp, np.float64, (-746.0, 710.0), 1.0),
    "exp_f32": (np.exp, np.float32, (-104.0, 89.0), 2.0),
    "tanh_f64": (np.tanh, np.float64, (-20.0, 20.0), 1.0),
    "tanh_f32": (np.tanh, np.float32, (-10.0, 10.0), 2.0),
}

_EXTENDED = np.finfo(np.longdouble).nmant >= 63  # x87 80-bit: a reference for float64


def _loop(kernel):
    @numba.njit(**_LOOP_OPTIONS)
    def loop(x, out):
        for i in range(x.shape[0]):
            out[i] = kernel(x[i])

    return loop


_LOOPS: dict[str, object] = {}


def apply(name: str, x: np.ndarray) -> np.ndarray:
    """The kernel ``name`` over ``x`` in a compiled loop (one compile per kernel)."""
    if name not in _LOOPS:
        _LOOPS[name] = _loop(getattr(vecmath, name))
    out = np.empty_like(x)
    _LOOPS[name](x, out)
    return out


def ulp_error(y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|y - ref| in units in the last place of ref rounded to y's dtype; inf where y is
    infinite or NaN and ref is not the same."""
    with np.errstate(over="ignore", invalid="ignore"):
        refd = ref.astype(y.dtype)
        mag = np.abs(refd)
        below = np.abs(ref) < mag  # rounded up: at a power of two the lower spacing applies
        spacing = np.where(below, np.spacing(np.nextafter(mag, 0)), np.spacing(mag))
        err = np.abs(y.astype(np.longdouble) - ref) / spacing.astype(np.longdouble)
    special = ~np.isfinite(refd) | ~np.isfinite(y)
    same = (y == refd) | (np.isnan(y) & np.isnan(refd))
    return np.where(special, np.where(same, 0.0, np.inf), err).astype(np.float64)


def sweep(dtype, lo: float, hi: float, n: int = 100_000) -> np.ndarray:
    rng = np.random.default_rng(0)
    tiny = np.geomspace(1e-30, 2.0, n // 4)
    return np.concatenate(
        [np.linspace(lo, hi, n), rng.uniform(lo, hi, n), tiny, -tiny, rng.normal(0, 2, n)]
    ).astype(dtype)


@pytest.mark.parametrize("name", list(KERNELS))
def test_accuracy_on_a_sweep(name):
    fn, dtype, (lo, hi), bound = KERNELS[name]
    if dtype == np.float64 and not _EXTENDED:
        pytest.skip("no extended-precision long double for a float64 reference")
    x = sweep(dtype, lo, hi)
    with np.errstate(over="ignore"):
        ref = fn(x.astype(np.longdouble))
    err = ulp_error(apply(name, x), ref)
    worst = int(np.argmax(err))
    assert err[worst] <= bound, f"{name}({x[worst]!r}): {err[worst]:.3f} ulp"


def _specials(dtype) -> np.ndarray:
    info = np.finfo(dtype)
    values = [0.0, -0.0, math.inf, -math.inf, math.nan, -math.nan]
    values += [info.tiny, -info.tiny, info.smallest_subnormal, -info.smallest_subnormal]
    values += [info.max, -info.max, 1e30, -1e30, 1e-30, -1e-30]
    return np.array(values, dtype)


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return ((a == b) & (np.signbit(a) == np.signbit(b))) | (np.isnan(a) & np.isnan(b))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exp_special_values(dtype):
    name = "exp_f64" if dtype == np.float64 else "exp_f32"
    big = 709.79 if dtype == np.float64 else 88.73  # just past overflow
    small = -745.14 if dtype == np.float64 else -103.98  # just past the smallest subnormal
    x = np.concatenate([_specials(dtype), np.array([big, 1000.0, small, -1000.0], dtype)])
    with np.errstate(over="ignore", under="ignore"):
        expected = np.exp(x)
    got = apply(name, x)
    assert _same(got, expected).all(), list(zip(x, got, expected, strict=True))
    # The largest finite results, the subnormal range and a few ordinary values: within
    # one ulp (NumPy's own float32 exp is 1 ulp off at 1.0 and -1.0).
    edge = [709.78, 709.7, -708.5, -720.0, -740.0, -745.0, 1.0, -1.0, 1e-5, -1e-5]
    if dtype == np.float32:
        edge = [88.72, 88.7, -87.5, -90.0, -100.0, -103.2, 1.0, -1.0, 1e-5, -1e-5]
    edge = np.array(edge, dtype)
    err = ulp_error(apply(name, edge), np.exp(edge.astype(np.longdouble)))
    assert (err <= 1.0).all(), list(zip(edge, err, strict=True))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tanh_special_values(dtype):
    name = "tanh_f64" if dtype == np.float64 else "tanh_f32"
    x = np.concatenate([_specials(dtype), np.array([25.0, -25.0, 1e-9, -1e-9], dtype)])
    got = apply(name, x)
    assert _same(got, np.tanh(x)).all(), list(zip(x, got, np.tanh(x), strict=True))
    tiny = x[np.abs(x) < 1e-8]
    assert _same(apply(name, tiny), tiny).all()  # tanh x = x, -0.0 included
    # Where tanh approaches +-1, and the ends of each branch: within one ulp.
    edge = np.array([19.0, 18.0, 9.0, 0.625, 0.62, 0.3, 0.29, 1e-4, 1e-5], dtype)
    edge = np.concatenate([edge, -edge])
    err = ulp_error(apply(name, edge), np.tanh(edge.astype(np.longdouble)))
    assert (err <= KERNELS[name][3]).all(), list(zip(edge, err, strict=True))


@pytest.mark.parametrize("name", list(KERNELS))
def test_the_loop_is_vectorised(name):
    apply(name, np.ones(4, KERNELS[name][1]))
    loop = _LOOPS[name]
    ir_text = loop.inspect_llvm(loop.signatures[0])
    element = "double" if name.endswith("64") else "float"
    assert re.search(rf"<\d+ x {element}>", ir_text), "no vector instructions in the loop"
    assert not re.search(r"call [^\n]*@(exp|tanh)f?\(", ir_text), "a libm call is left"
