"""Every primitive's gradient against central finite differences, float64 and float32.

The table ``TABLE`` maps each primitive in ``primitives.REGISTRY`` to NumPy-level functions
that exercise it, with Hypothesis strategies for their inputs (kept away from kinks, ties
and poles).  ``test_every_primitive_has_an_entry`` iterates the registry, so adding a
primitive without a test entry fails the suite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import scipy.special as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scalarize import scalarized

import tracegrad as tg
from tracegrad import nn
from tracegrad.core import primitives as P
from tracegrad.core.primitives import REGISTRY
from tracegrad.testing import check_grads

pytestmark = pytest.mark.usefixtures("interpret_backend")

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)

# =============================================================================================
# Input strategies (float64; cast to the tested dtype afterwards)


def arr(shape: tuple[int, ...], lo: float = -2.0, hi: float = 2.0) -> st.SearchStrategy:
    """Floats in [lo, hi]."""
    return hnp.arrays(np.float64, shape, elements=st.floats(lo, hi, allow_nan=False))


def signed(shape: tuple[int, ...], lo: float = 0.3, hi: float = 2.0) -> st.SearchStrategy:
    """Magnitudes in [lo, hi] with random signs: away from zero (kinks of abs, sign)."""
    return st.tuples(arr(shape, lo, hi), hnp.arrays(np.bool_, shape)).map(
        lambda t: np.where(t[1], t[0], -t[0])
    )


def frac(shape: tuple[int, ...]) -> st.SearchStrategy:
    """Values k + u with integer k in [-2, 1] and u in [0.15, 0.85]."""
    ints = hnp.arrays(np.int64, shape, elements=st.integers(-2, 1))
    return st.tuples(arr(shape, 0.15, 0.85), ints).map(lambda t: t[0] + t[1])


def integral(shape: tuple[int, ...]) -> st.SearchStrategy:
    """Whole numbers in [-2, 2] as floats."""
    return hnp.arrays(np.int64, shape, elements=st.integers(-2, 2)).map(
        lambda a: a.astype(np.float64)
    )


def apart(sx: tuple[int, ...], sy: tuple[int, ...]) -> st.SearchStrategy:
    """A pair whose broadcast differences are at least 0.15 away from 0 (no ties)."""
    a, b = frac(sx), integral(sy)
    a2, b2 = integral(sx), frac(sy)
    return st.one_of(st.tuples(a, b), st.tuples(a2, b2))


def distinct(shape: tuple[int, ...]) -> st.SearchStrategy:
    """Values at least 0.3 apart (no ties inside a reduction)."""
    n = int(np.prod(shape))
    return st.tuples(st.permutations(range(n)), arr((n,), -0.1, 0.1)).map(
        lambda t: ((np.array(t[0], float) - n / 2) * 0.5 + t[1]).reshape(shape)
    )


def with_zeros(shape: tuple[int, ...]) -> st.SearchStrategy:
    """Values that are often exactly 0 (products are smooth there; x / x would be NaN)."""
    return hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 0.0, 0.5, -1.5, 2.0]))


def well_conditioned(n: int, batch: tuple[int, ...] = ()) -> st.SearchStrategy:
    """n x n matrices 3 I + E with entries of E in [-0.5, 0.5]: far from singular."""
    return arr((*batch, n, n), -0.5, 0.5).map(lambda e: e + 3.0 * np.eye(n))


def positive_definite(n: int, batch: tuple[int, ...] = ()) -> st.SearchStrategy:
    """B B^T + I: symmetric positive definite."""
    return arr((*batch, n, n), -1.0, 1.0).map(lambda b: b @ np.swapaxes(b, -1, -2) + np.eye(n))


def _orthonormal(m: int, k: int) -> st.SearchStrategy:
    """k orthonormal columns of length m (the Q of a random matrix plus a multiple of I)."""
    return arr((m, k), -1.0, 1.0).map(lambda b: np.linalg.qr(b + 2.0 * np.eye(m, k))[0])


def spectrum(n: int, batch: tuple[int, ...] = ()) -> st.SearchStrategy:
    """Q diag(w) Q^T + (noise above the diagonal, which eigh does not read), with
    eigenvalues at least 1 apart."""
    count = int(np.prod(batch))
    return st.tuples(
        st.lists(_orthonormal(n, n), min_size=count, max_size=count),
        arr((*batch, n), 0.0, 0.3),
        arr((*batch, n, n), -1.0, 1.0),
    ).map(
        lambda t: (
            (np.array(t[0]).reshape(*batch, n, n) * (1.5 * np.arange(n) - 1.0 + t[1])[..., None, :])
            @ np.swapaxes(np.array(t[0]).reshape(*batch, n, n), -1, -2)
            + np.triu(t[2], 1)
        )
    )


def singular(*shape: int) -> st.SearchStrategy:
    """U diag(s) V^T (of ``shape``, leading axes a batch) with singular values in [1, 4],
    at least 0.8 apart."""
    *batch, m, n = shape
    k, count = min(m, n), int(np.prod(batch))
    pairs = st.lists(
        st.tuples(_orthonormal(m, k), _orthonormal(n, k)), min_size=count, max_size=count
    )
    return st.tuples(pairs, arr((*batch, k), 0.0, 0.2)).map(
        lambda t: np.array(
            [
                (u * (1.0 + np.arange(k)[::-1] + j)) @ v.T
                for (u, v), j in zip(t[0], t[1].reshape(count, k), strict=True)
            ]
        ).reshape(shape)
    )


def low_rank(n: int, rank: int) -> st.SearchStrategy:
    """An n x n matrix B C of the given rank (at most)."""
    return st.tuples(arr((n, rank)), arr((rank, n))).map(lambda t: t[0] @ t[1])


def incomplete_beta() -> st.SearchStrategy:
    """(a, b, x) for the incomplete beta function: a, b in [0.5, 5], x in [0.05, 0.95]."""
    shapes = [((), (), (3,)), ((3,), (2, 1), (3,)), ((2, 3), (), ())]
    return over(shapes, lambda s: (arr(s[0], 0.5, 5.0), arr(s[1], 0.5, 5.0), arr(s[2], 0.05, 0.95)))


def ints(shape: tuple[int, ...], lo: int, hi: int) -> st.SearchStrategy:
    return hnp.arrays(np.int64, shape, elements=st.integers(lo, hi))


def masks(shape: tuple[int, ...]) -> st.SearchStrategy:
    return hnp.arrays(np.bool_, shape)


def over(shapes: list, make: Callable[..., tuple]) -> st.SearchStrategy:
    """Pick one entry of ``shapes`` and build a tuple of argument strategies for it."""
    return st.sampled_from(shapes).flatmap(lambda s: st.tuples(*make(s)))


def unary(lo: float = -2.0, hi: float = 2.0, shapes: list | None = None) -> st.SearchStrategy:
    return over(shapes or [(), (4,), (2, 3)], lambda s: (arr(s, lo, hi),))


BINARY_SHAPES = [
    ((3,), (3,)),
    ((2, 3), (3,)),
    ((2, 1), (1, 3)),
    ((), (2, 3)),
    ((2, 3), ()),
    ((3, 1, 2), (4, 1)),
]


def binary(mx: Callable = arr, my: Callable = arr) -> st.SearchStrategy:
    return over(BINARY_SHAPES, lambda s: (mx(s[0]), my(s[1])))


def same_pair(shapes: list | None = None) -> st.SearchStrategy:
    """Two arrays of one shape, with a last axis of at least 2 (signals for np.fft)."""
    return over(shapes or [(5,), (2, 4)], lambda s: (arr(s), arr(s)))


def pair(make: Callable) -> st.SearchStrategy:
    """Two arguments from one strategy for a pair of shapes, e.g. ``apart``."""
    return st.sampled_from(BINARY_SHAPES).flatmap(lambda s: make(*s))


# =============================================================================================
# The table


@dataclass(frozen=True)
class Case:
    """A NumPy-level function exercising a primitive, and a strategy for its arguments."""

    label: str
    fn: Callable[..., Any]
    args: st.SearchStrategy
    order: int = 2  # highest derivative order checked (1 for piecewise-linear functions too)
    grad: bool = True  # False: no differentiable path (values are still compared)
    dtypes: tuple[np.dtype, ...] = (F64, F32)
    in_grad_only: bool = False  # the primitive appears only in the adjoint program


# --- incomplete gamma ---
def _gammaincc_da(x, k):
    """dQ(a, x)/da at a = k + 0.7 (k whole: a is traced but not differentiated, as there is
    no second derivative in a), as a function of x."""
    return tg.grad(lambda a: np.sum(sp.gammaincc(a, x)))(k.astype(x.dtype) + 0.7)


_GAMMAINC_DA_ARGS = over([(), (4,), (2, 3)], lambda s: (arr(s, 0.2, 6.0), ints(s, 0, 3)))


@tg.custom_vjp
def softplus(x):
    return np.log1p(np.exp(x))


def _softplus_fwd(x):
    return softplus(x), (x,)


def _softplus_bwd(residuals, g):
    (x,) = residuals
    return (g / (1 + np.exp(-x)),)


softplus.defvjp(_softplus_fwd, _softplus_bwd)

IDX = np.array([4, 0, -1, 2, 2])  # repeats and a negative index
NL = 4

TABLE: dict[str, list[Case]] = {
    # -- elementwise unary ---------------------------------------------------------------------
    "neg": [Case("-x", lambda x: -x, unary()), Case("np.negative", np.negative, unary())],
    "exp": [Case("np.exp", np.exp, unary())],
    "log": [Case("np.log", np.log, unary(0.2, 3.0)), Case("np.log10", np.log10, unary(0.2, 3))],
    "log1p": [Case("np.log1p", np.log1p, unary(-0.6, 2.0))],
    "expm1": [Case("np.expm1", np.expm1, unary())],
    "sin": [Case("np.sin", np.sin, unary(-3, 3))],
    "cos": [Case("np.cos", np.cos, unary(-3, 3))],
    "tan": [Case("np.tan", np.tan, unary(-1.2, 1.2))],
    "tanh": [Case("np.tanh", np.tanh, unary(-3, 3))],
    "sqrt": [Case("np.sqrt", np.sqrt, unary(0.2, 4.0))],
    "arctan": [Case("np.arctan", np.arctan, unary(-3, 3))],
    "logistic": [Case("nn.sigmoid", nn.sigmoid, unary(-4, 4))],
    "abs": [
        Case("np.abs", np.abs, over([(4,), (2, 3)], lambda s: (signed(s),))),
        Case("abs(x) * x", lambda x: abs(x) * x, over([(5,)], lambda s: (signed(s),))),
    ],
    "sign": [
        Case("np.sign(x) * x**2", lambda x: np.sign(x) * x**2, over([(5,)], lambda s: (signed(s),)))
    ],
    "integer_pow": [
        Case("x ** 3", lambda x: x**3, unary()),
        Case("x ** 2", lambda x: x**2, unary()),
        Case("np.square", np.square, unary()),
        Case("x ** -2", lambda x: x**-2, over([(), (4,)], lambda s: (signed(s, 0.5, 2),))),
    ],
    "stop_gradient": [
        # Differentiating through it is checked in test_stop_gradient; here, only values.
        Case("stop_gradient", lambda x: tg.stop_gradient(x) * x, unary(), grad=False)
    ],
    "floor": [
        Case("x * np.floor(x)", lambda x: x * np.floor(x), over([(5,)], lambda s: (frac(s),)))
    ],
    "ceil": [Case("np.ceil(x) * x", lambda x: np.ceil(x) * x, over([(5,)], lambda s: (frac(s),)))],
    "trunc": [
        Case("np.trunc(x) * x", lambda x: np.trunc(x) * x, over([(5,)], lambda s: (frac(s),)))
    ],
    "custom_vjp_call": [Case("custom_vjp softplus", softplus, unary(-3, 3))],
    # -- elementwise binary (broadcasting) -----------------------------------------------------
    "add": [
        Case("x + y", lambda x, y: x + y, binary()),
        Case("x + 2.5", lambda x: x + 2.5, unary()),
    ],
    "sub": [Case("x - y", lambda x, y: x - y, binary()), Case("1 - x", lambda x: 1 - x, unary())],
    "mul": [Case("x * y", lambda x, y: x * y, binary()), Case("x * x", lambda x: x * x, unary())],
    "div": [
        Case("x / y", lambda x, y: x / y, binary(my=signed)),
        Case("1 / x", lambda x: 1.0 / x, over([(4,)], lambda s: (signed(s, 0.5),))),
    ],
    "pow": [
        Case("x ** y", lambda x, y: x**y, binary(lambda s: arr(s, 0.5, 2.0))),
        Case("x ** 1.5", lambda x: x**1.5, unary(0.3, 2.0)),
        Case("2.0 ** x", lambda x: 2.0**x, unary()),
    ],
    "max": [
        Case("np.maximum", np.maximum, pair(apart), order=1),
        Case(
            "np.maximum(x, 0)",
            lambda x: np.maximum(x, 0.0) * x,
            over([(5,)], lambda s: (signed(s),)),
        ),
    ],
    "min": [
        Case("np.minimum", np.minimum, pair(apart), order=1),
        Case("np.clip", lambda x: np.clip(x, -1.0, 1.0), over([(6,)], lambda s: (frac(s),))),
    ],
    "atan2": [Case("np.arctan2", np.arctan2, binary(my=lambda s: arr(s, 0.3, 2.0)))],
    # -- comparisons and logic (no gradient through the condition) -----------------------------
    "lt": [Case("where(x < y)", lambda x, y: np.where(x < y, x * y, x - y), pair(apart))],
    "le": [Case("where(x <= y)", lambda x, y: np.where(x <= y, x * y, x - y), pair(apart))],
    "gt": [Case("where(x > y)", lambda x, y: np.where(x > y, x * y, x - y), pair(apart))],
    "ge": [Case("where(x >= y)", lambda x, y: np.where(x >= y, x * y, x - y), pair(apart))],
    "eq": [
        Case("where(x == y)", lambda x, y: np.where(x == y, x * y, x - y), pair(apart)),
        Case(
            "x == y (ties)",
            lambda x, y: x == y,
            pair(lambda a, b: st.tuples(integral(a), integral(b))),
            grad=False,
        ),
    ],
    "ne": [
        Case("where(x != y)", lambda x, y: np.where(x != y, x * y, x - y), pair(apart)),
        Case(
            "x != y (ties)",
            lambda x, y: x != y,
            pair(lambda a, b: st.tuples(integral(a), integral(b))),
            grad=False,
        ),
    ],
    "and": [
        Case(
            "(x > 0) & (y < 0)",
            lambda x, y: np.where((x > 0) & (y < 0), x * y, x + y),
            binary(signed, signed),
        ),
        Case(
            "np.logical_and",
            lambda x, y: np.logical_and(x > 0, y > 0),
            binary(signed, signed),
            grad=False,
        ),
    ],
    "or": [
        Case(
            "(x > 0) | (y < 0)",
            lambda x, y: np.where((x > 0) | (y < 0), x * y, x + y),
            binary(signed, signed),
        ),
    ],
    "not": [
        Case(
            "~(x > 0)",
            lambda x: np.where(~(x > 0), x**2, 3 * x),
            over([(5,)], lambda s: (signed(s),)),
        ),
        Case("np.logical_not", lambda x: np.logical_not(x > 0), unary(), grad=False),
    ],
    "isnan": [
        Case("where(isnan(x))", lambda x: np.where(np.isnan(x), 0.0, x) * x, unary()),
        Case(
            "isnan with NaNs",
            lambda x: np.isnan(x),
            over(
                [(4,)],
                lambda s: (
                    hnp.arrays(np.float64, s, elements=st.sampled_from([0.5, np.nan, -1.0])),
                ),
            ),
            grad=False,
        ),
    ],
    # -- select and conversion -----------------------------------------------------------------
    "select": [
        Case(
            "np.where(mask, x, y)",
            lambda m, x, y: np.where(m, x, y),
            over(BINARY_SHAPES, lambda s: (masks(s[0]), arr(s[0]), arr(s[1]))),
        ),
        Case(
            "np.where(x > 0, x, 0.1 * x)",
            lambda x: np.where(x > 0, x, 0.1 * x),
            over([(5,)], lambda s: (signed(s),)),
        ),
    ],
    "convert": [
        Case("x.astype(float64)", lambda x: np.sin(x.astype(np.float64)), unary(), dtypes=(F32,)),
        Case("x.astype(float32)", lambda x: x.astype(np.float32) * 3.0, unary(), dtypes=(F64,)),
        Case(
            "x * x.astype(int)",
            lambda x: x * x.astype(np.int64),
            over([(5,)], lambda s: (frac(s),)),
        ),
    ],
    # -- reductions ----------------------------------------------------------------------------
    "reduce_sum": [
        Case("np.sum", lambda x: np.sum(x), unary(shapes=[(4,), (2, 3)])),
        Case(
            "np.sum(axis=1, keepdims)",
            lambda x: np.sum(x, axis=1, keepdims=True),
            unary(shapes=[(2, 3), (3, 2, 2)]),
        ),
        Case("x.sum(axis=(0, 2))", lambda x: x.sum(axis=(0, 2)), unary(shapes=[(2, 3, 2)])),
        Case("np.mean(axis=0)", lambda x: np.mean(x, axis=0), unary(shapes=[(3, 2)])),
    ],
    "reduce_max": [
        Case(
            "np.max(axis=0)",
            lambda x: np.max(x, axis=0),
            over([(4,), (3, 2), (2, 3, 2)], lambda s: (distinct(s),)),
        ),
        Case("np.max", lambda x: np.max(x), over([(5,), (2, 3)], lambda s: (distinct(s),))),
        Case(
            "x.max(axis=1, keepdims)",
            lambda x: x.max(axis=1, keepdims=True),
            over([(3, 4)], lambda s: (distinct(s),)),
        ),
    ],
    "reduce_min": [
        Case(
            "np.min(axis=1)",
            lambda x: np.min(x, axis=1),
            over([(3, 2), (2, 3, 2)], lambda s: (distinct(s),)),
        ),
        Case("x.min()", lambda x: x.min(), over([(6,)], lambda s: (distinct(s),))),
    ],
    # -- structure -----------------------------------------------------------------------------
    "broadcast_to": [
        Case(
            "np.broadcast_to",
            lambda x: np.broadcast_to(x, (4, 2, 3)),
            unary(shapes=[(2, 1), (3,), ()]),
        ),
    ],
    "reshape": [
        Case("x.reshape(3, -1)", lambda x: x.reshape(3, -1), unary(shapes=[(6,), (2, 3)])),
        Case("np.reshape", lambda x: np.reshape(x, (2, 2, 3)), unary(shapes=[(12,), (3, 4)])),
        Case("x[:, None]", lambda x: x[:, None] * x, unary(shapes=[(3,)])),
    ],
    "transpose": [
        Case("x.T", lambda x: x.T, unary(shapes=[(2, 3)])),
        Case(
            "np.transpose(1,2,0)", lambda x: np.transpose(x, (1, 2, 0)), unary(shapes=[(2, 3, 4)])
        ),
    ],
    "slice": [
        Case("x[1:, ::2]", lambda x: x[1:, ::2], unary(shapes=[(3, 5)])),
        Case("x[::-1]", lambda x: x[::-1], unary(shapes=[(5,), (4, 2)])),
        Case("x[-1:0:-2]", lambda x: x[-1:0:-2], unary(shapes=[(6,), (7,)])),
        Case("x[1]", lambda x: x[1], unary(shapes=[(3, 2)])),
        Case("x[..., -1]", lambda x: x[..., -1], unary(shapes=[(2, 3, 4)])),
    ],
    "unslice": [
        Case(
            "P.unslice",
            lambda x: P.unslice(x, start=(1, 4), step=(2, -2), shape=(5, 6)),
            unary(shapes=[(2, 3)]),
        ),
        Case("grad of x[::-2]", lambda x: x[::-2] ** 2, unary(shapes=[(5,)]), in_grad_only=True),
    ],
    "concatenate": [
        Case(
            "np.concatenate axis=1",
            lambda x, y: np.concatenate([x, y], axis=1),
            over([((2, 3), (2, 1))], lambda s: (arr(s[0]), arr(s[1]))),
        ),
        Case(
            "np.concatenate 3",
            lambda x, y: np.concatenate([x, 2 * x, y]),
            over([((2,), (3,))], lambda s: (arr(s[0]), arr(s[1]))),
        ),
        Case(
            "np.stack axis=1",
            lambda x, y: np.stack([x, y], axis=1),
            over([((3,), (3,)), ((2, 2), (2, 2))], lambda s: (arr(s[0]), arr(s[1]))),
        ),
        Case("np.stack", lambda x: np.stack([x, x**2, np.sin(x)]), unary(shapes=[(4,)])),
    ],
    "take": [
        Case("x[IDX]", lambda x: x[IDX], unary(shapes=[(5,), (5, 2)])),
        Case("x[:, [2, 0, 2]]", lambda x: x[:, [2, 0, 2]], unary(shapes=[(2, 3)])),
        Case(
            "x[idx] (traced idx)",
            lambda x, idx: x[idx],
            over([((5, 3), (4,))], lambda s: (arr(s[0]), ints(s[1], -5, 4))),
        ),
        Case(
            "x[np.arange(n), labels]",
            lambda x, labels: x[np.arange(NL), labels],
            over([((NL, 3), (NL,))], lambda s: (arr(s[0]), ints(s[1], 0, 2))),
        ),
    ],
    "scatter_add": [
        Case(
            "P.scatter_add",
            lambda x: P.scatter_add(x, IDX, axis=0, size=5),
            unary(shapes=[(5,), (5, 2)]),
        ),
        Case("grad of x[IDX]", lambda x: x[IDX] ** 2, unary(shapes=[(5,)]), in_grad_only=True),
    ],
    "scatter": [
        Case(
            "P.scatter (repeats: last write wins)",
            lambda x, v: P.scatter(x, IDX, v, axis=0),
            over([((5,), (5,)), ((5, 2), (5, 2))], lambda s: map(arr, s)),
        ),
        Case(
            "P.scatter along axis 1",
            lambda x, v: P.scatter(x, IDX[:2], v, axis=1),
            over([((2, 5), (2, 2))], lambda s: map(arr, s)),
        ),
    ],
    # -- linear algebra ------------------------------------------------------------------------
    "matmul": [
        Case("2-D @ 2-D", lambda x, y: x @ y, over([((2, 3), (3, 4))], lambda s: map(arr, s))),
        Case("1-D @ 2-D", lambda x, y: x @ y, over([((3,), (3, 2))], lambda s: map(arr, s))),
        Case("2-D @ 1-D", lambda x, y: x @ y, over([((2, 3), (3,))], lambda s: map(arr, s))),
        Case("1-D @ 1-D", lambda x, y: x @ y, over([((4,), (4,))], lambda s: map(arr, s))),
        Case("np.dot", np.dot, over([((2, 3), (3, 2))], lambda s: map(arr, s))),
    ],
    # -- complex numbers (real arguments, complex intermediates; complex arguments are checked
    # in tests/test_complex.py) -----------------------------------------------------------------
    "real": [
        Case("np.real(exp(1j x) * y)", lambda x, y: np.real(np.exp(1j * x) * y), binary()),
        Case("(x + 1j y).real ** 2", lambda x, y: (x + 1j * y).real ** 2, binary()),
    ],
    "imag": [
        Case("np.imag((x + 1j y) ** 2)", lambda x, y: np.imag((x + 1j * y) ** 2), binary()),
        Case(  # x > 0: away from the branch cut along the negative reals
            "np.angle(x + 1j y)",
            lambda x, y: np.angle(x + 1j * y),
            binary(lambda s: arr(s, 0.3, 2.0), arr),
        ),
    ],
    "conj": [
        Case(
            "np.real(z * conj(z * y))",
            lambda x, y: np.real((x + 2j) * np.conj((x + 2j) * (1 - 1j * y))),
            binary(),
        ),
        Case("(x + 1j y).conj().imag", lambda x, y: (x * 1j + y).conj().imag * x, binary()),
    ],
    "complex_abs": [
        Case("np.abs(x + 1j y)", lambda x, y: np.abs(x + 1j * y), binary(signed, arr)),
        Case("abs(sin(x + 1j y))", lambda x, y: abs(np.sin(x + 1j * y)), binary(signed, arr)),
    ],
    "fft": [
        Case("np.fft.fft(x + 1j y).real", lambda x, y: np.fft.fft(x + 1j * y).real, same_pair()),
        Case(
            "np.fft.fft(x, n=6, axis=0).imag",
            lambda x: np.fft.fft(x, n=6, axis=0).imag,
            unary(shapes=[(4,), (4, 2)]),
        ),
    ],
    "ifft": [
        Case(
            "np.fft.ifft(x + 1j y, norm='ortho')",
            lambda x, y: np.fft.ifft(x + 1j * y, norm="ortho").imag,
            same_pair(),
        ),
        Case(
            "np.fft.ifft(x, n=3).real",
            lambda x: np.fft.ifft(x, n=3).real,
            unary(shapes=[(4,), (2, 3)]),
        ),
    ],
    "rfft": [
        Case("np.fft.rfft(x).real", lambda x: np.fft.rfft(x).real, unary(shapes=[(5,), (2, 4)])),
        Case(
            "np.fft.rfft(x, n=7, norm='forward').imag",
            lambda x: np.fft.rfft(x, n=7, norm="forward").imag,
            unary(shapes=[(5,), (3, 6)]),
        ),
    ],
    "irfft": [
        Case("np.fft.irfft(x + 1j y)", lambda x, y: np.fft.irfft(x + 1j * y), same_pair()),
        Case(
            "np.fft.irfft(x + 1j y, n=5)", lambda x, y: np.fft.irfft(x + 1j * y, n=5), same_pair()
        ),
    ],
    # -- complex values from their parts (the inverse functions of complex arguments) ---------
    "make_complex": [
        Case(  # x > 0: away from the branch cut of log
            "np.log2(x + 1j y)",
            lambda x, y: np.real(np.log2(x + 1j * y) * (1 - 1j)),
            binary(lambda s: arr(s, 0.3, 2.0), arr),
        ),
        Case(  # |x| < 1: away from the cuts of arcsin (real axis) and arctan (imaginary axis)
            "np.arcsin, np.arctan of x + 1j y",
            lambda x, y: np.imag(np.arcsin(x + 1j * y)) + np.real(np.arctan(0.4 * (y + 1j * x))),
            binary(lambda s: arr(s, -0.8, 0.8), arr),
        ),
    ],
    # -- products, scans, positions ------------------------------------------------------------
    "reduce_prod": [
        Case("np.prod(axis=1)", lambda x: np.prod(x, axis=1), unary(shapes=[(2, 3), (3, 2, 2)])),
        Case("np.prod", lambda x: np.prod(x), unary(shapes=[(4,), (2, 3)])),
        Case(
            "np.prod with zeros",
            lambda x: np.prod(x, axis=0),
            over([(4, 2), (3,)], lambda s: (with_zeros(s),)),
        ),
    ],
    "cumsum": [
        Case("np.cumsum(axis=0)", lambda x: np.cumsum(x, axis=0), unary(shapes=[(3,), (3, 2)])),
        Case("np.cumsum", np.cumsum, unary(shapes=[(2, 3)])),
    ],
    "linear_scan": [
        Case("np.cumprod(axis=1)", lambda x: np.cumprod(x, axis=1), unary(shapes=[(2, 3)])),
        Case("np.cumprod with zeros", np.cumprod, over([(5,)], lambda s: (with_zeros(s),))),
        Case(
            "P.linear_scan reverse",
            lambda a, b: P.linear_scan(a, b, axis=0, reverse=True),
            over([(4,), (3, 2)], lambda s: (arr(s, -1.0, 1.0), arr(s))),
        ),
    ],
    "argmax": [
        Case(
            "x[np.argmax(x)]",
            lambda x: x[np.argmax(x, axis=0)] * x,
            over([(4,)], lambda s: (distinct(s),)),
        ),
        Case("np.argmax", lambda x: np.argmax(x, axis=1), unary(shapes=[(2, 3)]), grad=False),
    ],
    "argmin": [
        Case(
            "x[np.argmin(x)]", lambda x: x[np.argmin(x)] * x, over([(4,)], lambda s: (distinct(s),))
        ),
        Case("np.argmin", lambda x: np.argmin(x, axis=0), unary(shapes=[(2, 3)]), grad=False),
    ],
    "argsort": [
        Case("np.sort", lambda x: np.sort(x), over([(5,), (2, 3)], lambda s: (distinct(s),))),
        Case(
            "np.sort(axis=0)",
            lambda x: np.sort(x, axis=0),
            over([(3, 2)], lambda s: (distinct(s),)),
        ),
    ],
    # -- np.linalg (stacks of matrices: leading axes are a batch) ----------------------------
    "solve": [
        Case(
            "np.linalg.solve",
            np.linalg.solve,
            over(
                [((3, 3), (3,)), ((3, 3), (3, 2)), ((2, 3, 3), (3,)), ((2, 3, 3), (1, 3, 2))],
                lambda s: (well_conditioned(s[0][-1], s[0][:-2]), arr(s[1])),
            ),
        ),
    ],
    "inv": [Case("np.linalg.inv", np.linalg.inv, over([3, 1], lambda n: (well_conditioned(n),)))]
    + [Case("np.linalg.inv (stack)", np.linalg.inv, well_conditioned(2, (2,)).map(lambda a: (a,)))],
    "det": [
        Case("np.linalg.det", np.linalg.det, over([3, 2], lambda n: (well_conditioned(n),))),
        Case("np.linalg.det (stack)", np.linalg.det, well_conditioned(3, (2,)).map(lambda a: (a,))),
    ],
    "adjugate": [
        Case(
            "np.linalg.det, rank n to n - 2 (its gradient)",
            np.linalg.det,
            over([(3, 3), (3, 2), (3, 1), (2, 1)], lambda s: (low_rank(*s),)),
            in_grad_only=True,
        ),
    ],
    "slogdet": [
        Case(
            "sign * logabsdet",
            lambda a: np.linalg.slogdet(a)[0] * np.linalg.slogdet(a)[1],
            over([(), (2,)], lambda b: (well_conditioned(3, b),)),
        )
    ],
    "cholesky": [
        Case(
            "np.linalg.cholesky",
            np.linalg.cholesky,
            over([(3, ()), (1, ()), (2, (2,))], lambda s: (positive_definite(*s),)),
        ),
    ],
    "eigh": [
        Case(
            "V * V * w of np.linalg.eigh",
            lambda a: (lambda w, v: v * v * w[..., None, :])(*np.linalg.eigh(a)),
            over([(3, ()), (2, (2,))], lambda s: (spectrum(*s),)),
        ),
        Case(
            "V exp(w) V^T of np.linalg.eigh(UPLO='U')",
            lambda a: (lambda w, v: (v * np.exp(w)) @ v.T)(*np.linalg.eigh(a, UPLO="U")),
            spectrum(3).map(lambda a: (a.T,)),
        ),
        Case("np.linalg.eigvalsh", np.linalg.eigvalsh, over([3], lambda n: (spectrum(n),))),
    ],
    "svd": [
        Case(
            "U * U * s, V * V of np.linalg.svd(full_matrices=False)",
            lambda a: (lambda u, s, vh: np.concatenate([(u * u * s).ravel(), (vh * vh).ravel()]))(
                *np.linalg.svd(a, full_matrices=False)
            ),
            over([(3, 2), (2, 3), (3, 3)], lambda s: (singular(*s),)),
        ),
        Case(
            "np.linalg.svd(compute_uv=False)",
            lambda a: np.linalg.svd(a, compute_uv=False),
            over([(3, 2), (2, 2, 3)], lambda s: (singular(*s),)),
        ),
    ],
    "qr": [
        Case(
            "Q * Q, R * R of np.linalg.qr",
            lambda a: (lambda q, r: np.concatenate([(q * q).ravel(), (r * r).ravel()]))(
                *np.linalg.qr(a)
            ),
            over([(3, 2), (2, 3), (3, 3)], lambda s: (singular(*s),)),
        ),
    ],
    # -- special functions (scipy.special; more in tests/test_scipy_special.py) ---------------
    "lgamma": [
        Case("sp.gammaln", lambda x: sp.gammaln(x), unary(0.2, 6.0)),
        Case("sp.gammaln (negative)", lambda x: sp.gammaln(x), over([(5,)], lambda s: (frac(s),))),
    ],
    "gamma": [Case("sp.gamma", lambda x: sp.gamma(x), over([(), (5,)], lambda s: (frac(s),)))],
    "polygamma": [
        Case("sp.digamma", lambda x: sp.digamma(x), over([(), (5,)], lambda s: (frac(s),))),
        Case("sp.polygamma(1, x)", lambda x: sp.polygamma(1, x), unary(0.3, 5.0)),
        Case(
            "sp.polygamma(2, x)", lambda x: sp.polygamma(2, x), over([(5,)], lambda s: (frac(s),))
        ),
    ],
    "erf": [Case("sp.erf", lambda x: sp.erf(x), unary(-2.5, 2.5))],
    "erfc": [Case("sp.erfc", lambda x: sp.erfc(x), unary(-2.5, 2.5))],
    "log_ndtr": [Case("sp.log_ndtr", lambda x: sp.log_ndtr(x), unary(-8.0, 4.0))],
    "ndtri": [Case("sp.ndtri", lambda p: sp.ndtri(p), unary(0.02, 0.98))],
    "erfinv": [Case("sp.erfinv", lambda y: sp.erfinv(y), unary(-0.95, 0.95))],
    "bessel_i": [
        Case("sp.i0", lambda x: sp.i0(x), unary(-4.0, 4.0)),
        Case("sp.i1e", lambda x: sp.i1e(x), unary(0.1, 40.0)),  # the asymptotic series too
    ],
    # --- incomplete gamma ---
    "gammainc": [
        Case(
            "sp.gammainc(a, x)",  # second order in a is not implemented: order 1
            lambda a, x: sp.gammainc(a, x),
            binary(lambda s: arr(s, 0.5, 4.0), lambda s: arr(s, 0.2, 6.0)),
            order=1,
        ),
        Case("sp.gammaincc(2.5, x)", lambda x: sp.gammaincc(2.5, x), unary(0.2, 6.0)),
        Case("sp.gammainc(12, x)", lambda x: sp.gammainc(12.0, x), unary(2.0, 25.0)),
    ],
    "gammainc_da": [Case("x-gradient of d/da sp.gammaincc", _gammaincc_da, _GAMMAINC_DA_ARGS)],
    "first_derivative_only": [
        Case("x-gradient of d/da sp.gammaincc", _gammaincc_da, _GAMMAINC_DA_ARGS)
    ],
    # --- incomplete beta ---
    "betainc": [
        # first order only in a and b: their second derivatives are an error (test_betainc.py)
        Case("sp.betainc", lambda a, b, x: sp.betainc(a, b, x), incomplete_beta(), order=1),
        Case("sp.betaincc", lambda a, b, x: sp.betaincc(a, b, x), incomplete_beta(), order=1),
        Case("sp.betainc in x", lambda x: sp.betainc(2.5, 0.7, x), unary(0.05, 0.95), order=3),
    ],
    "betainc_grad": [
        Case(
            "d/da and d/db of sp.betainc, as functions of x",
            # a and b are constants (a vmap body asks for gradients in all its float inputs,
            # and betainc_grad has none in a and b)
            lambda x: sum(
                tg.grad(lambda a, b: np.sum(sp.betainc(a, b, x)), argnums=(0, 1))(1.7, 3.2)
            ),
            unary(0.05, 0.95),
        ),
    ],
    # -- control flow (tracegrad.lax; more in tests/test_control_flow.py) ----------------------
    "scan": [
        Case(
            "tg.scan (tanh recurrence)",
            lambda x: tg.scan(lambda c, xi: (np.tanh(0.5 * c + xi), c * xi), x[0], x)[1],
            over([(4,), (3, 2)], lambda s: (arr(s, -1, 1),)),
        )
    ],
    "switch": [
        Case(
            "tg.cond",
            # max(x) is at least 0.3 away from 0: differences never cross to the other branch.
            lambda x: tg.cond(np.max(x) > 0, np.sin, lambda a: a * a, x),
            over([(4,), ()], lambda s: (signed(s),)),
        )
    ],
    "while_loop": [
        # Reverse mode through while_loop is an error (test_control_flow): here its carry
        # reaches the output only through its integer trip count.
        Case(
            "x * trip count of tg.while_loop",
            lambda x: (
                x * tg.while_loop(lambda s: s[0] < 3, lambda s: (s[0] + 1, s[1] * 2), (0, x))[0]
            ),
            unary(),
        )
    ],
}

CASES = [
    pytest.param(prim, case, id=f"{prim}:{case.label}")
    for prim, cases in TABLE.items()
    for case in cases
]
GRAD_CASES = [
    pytest.param(prim, case, dtype, id=f"{prim}:{case.label}:{dtype}")
    for prim, cases in TABLE.items()
    for case in cases
    if case.grad
    for dtype in case.dtypes
]


# =============================================================================================
# Helpers


def as_dtype(args: tuple, dtype: np.dtype) -> tuple:
    """Cast the float arrays among ``args`` to ``dtype``."""
    return tuple(
        a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in args
    )


def primitive_names(program: tg.Program) -> set[str]:
    return {eqn.prim.name for eqn in program.eqns}


# =============================================================================================
# Tests


def test_every_primitive_has_an_entry():
    missing = sorted(set(REGISTRY) - set(TABLE))
    assert not missing, f"primitives without a gradient-test entry in TABLE: {missing}"
    unknown = sorted(set(TABLE) - set(REGISTRY))
    assert not unknown, f"TABLE entries for primitives that do not exist: {unknown}"
    assert all(TABLE[name] for name in REGISTRY)


def test_every_primitive_has_a_gradient_check():
    """Each primitive with a VJP rule has at least one case whose gradient is checked."""
    unchecked = [
        name
        for name, prim in REGISTRY.items()
        if prim.vjp is not None and not any(c.grad for c in TABLE[name])
    ]
    assert unchecked == ["stop_gradient"] or not unchecked, unchecked


@pytest.mark.parametrize("prim, case, dtype", GRAD_CASES)
@settings(max_examples=15)
@given(data=st.data())
def test_gradient_matches_finite_differences(prim, case, dtype, data):
    args = as_dtype(data.draw(case.args, label="args"), dtype)
    check_grads(scalarized(case.fn), args, order=case.order)


@pytest.mark.parametrize("prim, case", CASES)
@settings(max_examples=10)
@given(data=st.data())
def test_values_match_numpy(prim, case, data):
    for dtype in case.dtypes:
        args = as_dtype(data.draw(case.args, label="args"), dtype)
        expected = case.fn(*args)  # plain NumPy on plain arrays
        got = tg.jit(case.fn)(*args)
        assert np.shape(got) == np.shape(expected)
        assert np.asarray(got).dtype == np.asarray(expected).dtype, (got, expected)
        tol = 1e-12 if dtype == F64 else 1e-6
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("prim, case", CASES)
@settings(max_examples=1)
@given(data=st.data())
def test_case_exercises_its_primitive(prim, case, data):
    """The table entry really emits the primitive it is filed under."""
    args = as_dtype(data.draw(case.args, label="args"), case.dtypes[0])
    names = primitive_names(tg.make_ir(case.fn)(*args))
    if case.grad:
        argnums = tuple(i for i, a in enumerate(args) if np.asarray(a).dtype.kind == "f")
        names |= primitive_names(tg.make_ir(tg.grad(scalarized(case.fn), argnums))(*args))
    assert prim in names, f"{case.label} does not emit {prim}: {sorted(names)}"


def test_stop_gradient():
    x = np.array([0.5, -1.0, 2.0])
    g = tg.grad(lambda x: np.sum(tg.stop_gradient(x) * x))(x)
    np.testing.assert_allclose(g, x)  # d/dx (c * x) with c = x held constant
    g2 = tg.grad(lambda x: np.sum(np.sin(tg.stop_gradient(x))))(x)
    np.testing.assert_array_equal(g2, np.zeros(3))
    check_grads(lambda x: np.sum(tg.stop_gradient(np.ones(3)) * x**2), (x,), order=2)


def test_maximum_ties_split_the_gradient():
    g = tg.grad(lambda x, y: np.sum(np.maximum(x, y)), argnums=(0, 1))(np.ones(2), np.ones(2))
    np.testing.assert_allclose(g[0], [0.5, 0.5])
    np.testing.assert_allclose(g[1], [0.5, 0.5])


def test_reduce_max_ties_share_the_gradient():
    g = tg.grad(lambda x: np.max(x))(np.array([1.0, 3.0, 3.0, 0.0]))
    np.testing.assert_allclose(g, [0.0, 0.5, 0.5, 0.0])
