"""Every supported NumPy function and ufunc: values equal NumPy's, gradients match finite
differences (order 2 in float64 where the function is smooth, order 1 in float32).

``SPECS`` maps each entry of ``dispatch.UFUNCS`` and ``dispatch.FUNCTIONS`` to one or more
specs: a traced function calling it, the argument shapes to try (0-d, broadcasting and empty
arrays where meaningful) and the domain each argument is drawn from (kept away from kinks,
ties and poles).  ``test_every_supported_function_has_a_spec`` iterates the dispatch tables,
so a supported function without a spec fails the suite.  Inputs are fixed (seeded), so the
module is deterministic and cheap: it runs on the reference interpreter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from scalarize import scalarized

import tracegrad as tg
from tracegrad.frontend import dispatch
from tracegrad.testing import check_grads

pytestmark = pytest.mark.usefixtures("interpret_backend")

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)

# =============================================================================================
# Domains: how an argument of a given shape is drawn (float64; cast to the tested dtype)


def _real(rng, shape):
    return rng.uniform(-2, 2, shape)


def _pos(rng, shape):
    return rng.uniform(0.3, 2, shape)


def _unit(rng, shape):
    return rng.uniform(-0.9, 0.9, shape)


def _gt1(rng, shape):
    return rng.uniform(1.2, 3, shape)


def _away(rng, shape):
    """Magnitudes in [0.3, 2] with random signs: away from 0."""
    return rng.uniform(0.3, 2, shape) * rng.choice([-1.0, 1.0], shape)


def _frac(rng, shape):
    """k + u, integer k in [-2, 1], u in [0.15, 0.85]: away from integers (jumps of floor)."""
    return rng.integers(-2, 2, shape) + rng.uniform(0.15, 0.85, shape)


def _off_half(rng, shape):
    """k + u, u in [0.1, 0.4] or [0.6, 0.9]: away from the jumps of rounding (at halves) and
    of floor (at integers)."""
    u = rng.uniform(0.1, 0.4, shape) + rng.choice([0.0, 0.5], shape)
    return rng.integers(-2, 2, shape) + u


def _off_half_tenths(rng, shape):
    """The same at a tenth of the scale: for np.round(x, 1)."""
    return _off_half(rng, shape) / 10


def _integral(rng, shape):
    """Whole numbers in [-2, 2]: at least 0.15 away from any ``_frac`` value."""
    return rng.integers(-2, 3, shape).astype(np.float64)


def _divisor(rng, shape):
    """2, -3 or 3: ``_frac / divisor`` stays away from integers."""
    return rng.choice([2.0, -3.0, 3.0], shape)


def _divisor_int(rng, shape):
    return rng.choice([2, -3, 3], shape)


def _distinct(rng, shape):
    """Values at least 0.3 apart (no ties in max, sort, argmax)."""
    n = int(np.prod(shape))
    return ((rng.permutation(n) - n / 2) * 0.5 + rng.uniform(-0.1, 0.1, n)).reshape(shape)


def _with_zeros(rng, shape):
    """Often exactly 0: products and cumulative products must stay exact there."""
    return rng.choice([0.0, 0.5, -1.5, 2.0], shape)


def _well_conditioned(rng, shape):
    return rng.uniform(-0.5, 0.5, shape) + 3.0 * np.eye(shape[-1])


def _spd(rng, shape):
    b = rng.uniform(-1, 1, shape)
    return b @ b.T + np.eye(shape[-1])


def _symmetric(rng, shape):
    """Q diag(w) Q^T with eigenvalues at least 1 apart (eigenvector gradients need gaps)."""
    q = np.linalg.qr(rng.uniform(-1, 1, shape))[0]
    w = 1.5 * np.arange(shape[-1]) - 1.5 + rng.uniform(0, 0.3, shape[:-1])
    return (q * w[..., None, :]) @ np.swapaxes(q, -1, -2)


def _separated(rng, shape):
    """U diag(s) V^T with singular values 1, 2, 3, ... (plus up to 0.2): distinct, nonzero."""
    *batch, m, n = shape
    k = min(m, n)
    u = np.linalg.qr(rng.uniform(-1, 1, (*batch, m, m)))[0][..., :k]
    v = np.linalg.qr(rng.uniform(-1, 1, (*batch, n, n)))[0][..., :k]
    s = 1.0 + np.arange(k)[::-1] + rng.uniform(0, 0.2, (*batch, k))
    return (u * s[..., None, :]) @ np.swapaxes(v, -1, -2)


def _bool(rng, shape):
    return rng.uniform(size=shape) < 0.5


def _index(n):
    def draw(rng, shape):
        return rng.integers(-n, n, shape)

    return draw


def _with_nans(rng, shape):
    x = rng.uniform(-2, 2, shape)
    x[rng.uniform(size=shape) < 0.3] = np.nan
    return x


def _with_infs(rng, shape):
    return rng.choice([0.5, -1.5, np.inf, -np.inf, 2.0, np.nan], shape)


# =============================================================================================
# The table


@dataclass(frozen=True)
class Spec:
    """A traced use of one NumPy function: ``fn(*args)`` for each shape tuple in ``shapes``."""

    label: str
    fn: Callable[..., Any]
    shapes: tuple[tuple[tuple[int, ...], ...], ...]
    domains: tuple[Callable, ...]
    order: int = 2  # derivative order checked in float64 (float32: order 1)
    grad: bool = True  # False: only values are compared (integer or boolean results)
    dtypes: tuple[np.dtype, ...] = (F64, F32)


def spec(label, fn, shapes, *domains, **kw) -> Spec:
    shapes = tuple(tuple(s) if s and isinstance(s[0], tuple) else (s,) for s in shapes)
    return Spec(label, fn, shapes, domains, **kw)


UNARY_SHAPES = [((),), ((3,),), ((2, 3),), ((0,),)]
BINARY_SHAPES = [((), ()), ((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 2)), ((0,), ())]


def unary(f, domain=_real, order=2, **kw) -> Spec:
    return spec(getattr(f, "__name__", "f"), f, UNARY_SHAPES, domain, order=order, **kw)


def binary(f, dx=_real, dy=_real, order=2, **kw) -> Spec:
    return spec(getattr(f, "__name__", "f"), f, BINARY_SHAPES, dx, dy, order=order, **kw)


def chosen(compare) -> Spec:
    """A comparison as the condition of np.where (the values of both branches have gradients)."""
    return binary(lambda x, y: np.where(compare(x, y), x * y, x - y), _frac, _integral, order=1)


def logical(op, arity=2) -> Spec:
    if arity == 1:
        return unary(lambda x: np.where(op(x > 0), x * x, 2 * x), _away)
    return binary(lambda x, y: np.where(op(x > 0, y < 0), x * y, x + y), _away, _away)


def reduction(f, domain=_real, order=2, empty=False, **kw) -> list[Spec]:
    """All axes, one axis (over an empty axis too if ``empty``), keepdims, two axes."""
    shapes = [((4,),), ((2, 3),), ((2, 3, 2),)]
    axis1 = [((2, 3),), ((2, 0),)] if empty else [((2, 3),)]
    return [
        spec("all axes", f, shapes, domain, order=order, **kw),
        spec("axis=1", lambda x: f(x, axis=1), axis1, domain, order=order, **kw),
        spec(
            "axis=0 keepdims",
            lambda x: f(x, axis=0, keepdims=True),
            [(3, 2)],
            domain,
            order=order,
            **kw,
        ),  # fmt: skip
        spec("axis=(0, 2)", lambda x: f(x, axis=(0, 2)), [(2, 3, 2)], domain, order=order, **kw),
    ]


IDX = np.array([2, 0, -1, 2])

SPECS: dict[Any, list[Spec]] = {
    # -- ufuncs: arithmetic ----------------------------------------------------------------
    np.add: [binary(np.add)],
    np.subtract: [binary(np.subtract)],
    np.multiply: [binary(np.multiply)],
    np.divide: [binary(np.divide, _real, _away)],
    np.power: [
        binary(np.power, _pos, _real),
        unary(lambda x: x**3),
        unary(lambda x: x**-2.0, _away),
    ],
    np.float_power: [binary(np.float_power, _pos, _real)],
    np.negative: [unary(np.negative)],
    np.positive: [unary(np.positive)],
    np.absolute: [unary(np.absolute, _away)],
    np.fabs: [unary(np.fabs, _away)],
    np.sign: [unary(lambda x: np.sign(x) * x**2, _away)],
    np.square: [unary(np.square)],
    np.reciprocal: [unary(np.reciprocal, _away)],
    np.sqrt: [unary(np.sqrt, _pos)],
    np.cbrt: [unary(np.cbrt, _away)],
    np.hypot: [binary(np.hypot, _away, _away)],
    np.maximum: [binary(np.maximum, _frac, _integral, order=1)],
    np.minimum: [binary(np.minimum, _integral, _frac, order=1)],
    np.fmax: [
        binary(np.fmax, _frac, _integral, order=1),
        unary(lambda x: np.fmax(x, 0.0), _with_nans, grad=False),
    ],
    np.fmin: [
        binary(np.fmin, _integral, _frac, order=1),
        binary(np.fmin, _with_nans, _with_nans, grad=False),
    ],
    # -- ufuncs: exponentials and logarithms -----------------------------------------------
    np.exp: [unary(np.exp)],
    np.exp2: [unary(np.exp2)],
    np.expm1: [unary(np.expm1)],
    np.log: [unary(np.log, _pos)],
    np.log2: [unary(np.log2, _pos)],
    np.log10: [unary(np.log10, _pos)],
    np.log1p: [unary(np.log1p, _pos)],
    np.logaddexp: [binary(np.logaddexp)],
    np.logaddexp2: [binary(np.logaddexp2)],
    # -- ufuncs: trigonometry ----------------------------------------------------------------
    np.sin: [unary(np.sin)],
    np.cos: [unary(np.cos)],
    np.tan: [unary(np.tan, _unit)],
    np.arcsin: [unary(np.arcsin, _unit)],
    np.arccos: [unary(np.arccos, _unit)],
    np.arctan: [unary(np.arctan)],
    np.arctan2: [binary(np.arctan2, _real, _pos)],
    np.sinh: [unary(np.sinh)],
    np.cosh: [unary(np.cosh)],
    np.tanh: [unary(np.tanh)],
    np.arcsinh: [unary(np.arcsinh)],
    np.arccosh: [unary(np.arccosh, _gt1)],
    np.arctanh: [unary(np.arctanh, _unit)],
    np.deg2rad: [unary(np.deg2rad)],
    np.radians: [unary(np.radians)],
    np.rad2deg: [unary(np.rad2deg)],
    np.degrees: [unary(np.degrees)],
    # -- ufuncs: rounding and remainders (zero derivative almost everywhere) -----------------
    np.floor: [unary(lambda x: np.floor(x) * x, _frac)],
    np.ceil: [unary(lambda x: np.ceil(x) * x, _frac)],
    np.trunc: [unary(lambda x: np.trunc(x) * x, _frac)],
    np.floor_divide: [
        binary(np.floor_divide, _frac, _divisor),
        binary(np.floor_divide, _index(5), _divisor_int, grad=False),
    ],
    np.remainder: [
        binary(np.remainder, _frac, _divisor),
        binary(np.remainder, _index(5), _divisor_int, grad=False),
    ],
    np.fmod: [
        binary(np.fmod, _frac, _divisor),
        binary(np.fmod, _index(5), _divisor_int, grad=False),
    ],
    np.heaviside: [binary(lambda x, h: np.heaviside(x, h) * x, _away, _real)],
    # -- ufuncs: comparisons and logic -------------------------------------------------------
    np.less: [chosen(np.less)],
    np.less_equal: [chosen(np.less_equal)],
    np.greater: [chosen(np.greater)],
    np.greater_equal: [chosen(np.greater_equal)],
    np.equal: [chosen(np.equal), binary(np.equal, _integral, _integral, grad=False)],
    np.not_equal: [chosen(np.not_equal), binary(np.not_equal, _integral, _integral, grad=False)],
    np.logical_and: [logical(np.logical_and), binary(np.logical_and, _bool, _bool, grad=False)],
    np.logical_or: [logical(np.logical_or)],
    np.logical_xor: [logical(np.logical_xor)],
    np.logical_not: [logical(np.logical_not, 1)],
    np.isnan: [
        unary(lambda x: np.where(np.isnan(x), 0.0, x) * x),
        unary(np.isnan, _with_nans, grad=False),
    ],
    np.isinf: [unary(np.isinf, _with_infs, grad=False)],
    np.isfinite: [
        unary(np.isfinite, _with_infs, grad=False),
        unary(lambda x: np.where(np.isfinite(x), x, 0.0) * x),
    ],
    np.matmul: [
        spec("2-D @ 2-D", np.matmul, [((2, 3), (3, 4)), ((2, 0), (0, 3))], _real, _real),
        spec("1-D", np.matmul, [((3,), (3, 2)), ((2, 3), (3,)), ((3,), (3,))], _real, _real),
        spec("batched", np.matmul, [((2, 2, 3), (3, 2)), ((2, 2, 3), (2, 3, 1))], _real, _real),
    ],
    # -- reductions ------------------------------------------------------------------------
    np.sum: reduction(np.sum, empty=True),
    np.mean: reduction(np.mean)[:3],
    np.prod: [
        *reduction(np.prod, empty=True)[:3],
        spec("with zeros", lambda x: np.prod(x, axis=0), [(4, 2), (3,)], _with_zeros),
    ],
    np.max: reduction(np.max, _distinct, order=1),
    np.amax: reduction(np.amax, _distinct, order=1)[:1],
    np.min: reduction(np.min, _distinct, order=1),
    np.amin: reduction(np.amin, _distinct, order=1)[:1],
    np.ptp: reduction(np.ptp, _distinct, order=1)[:2],
    np.var: [*reduction(np.var)[:3], spec("ddof=1", lambda x: np.var(x, ddof=1), [(5,)], _real)],
    np.std: [
        *reduction(np.std)[:3],
        spec("ddof=1", lambda x: np.std(x, axis=0, ddof=1), [(3, 2)], _real),
    ],  # fmt: skip
    np.average: [
        spec("no weights", lambda x: np.average(x, axis=0), [(3, 2)], _real),
        spec(
            "weights", lambda x, w: np.average(x, axis=1, weights=w), [((2, 3), (3,))], _real, _pos
        ),  # fmt: skip
    ],
    np.nansum: [spec("nansum", np.nansum, [(5,), (2, 3)], _with_nans, order=1)],
    np.nanmean: [spec("nanmean", lambda x: np.nanmean(x, axis=0), [(6, 2)], _with_nans, order=1)],
    np.all: [spec("all", lambda x: np.all(x > 0, axis=0), [(3, 2)], _real, grad=False)],
    np.any: [spec("any", lambda x: np.any(x > 1), [(3, 2), (0,)], _real, grad=False)],
    np.count_nonzero: [spec("count", lambda x: np.count_nonzero(x > 0), [(5,)], _away, grad=False)],
    np.cumsum: [
        spec("axis=None", np.cumsum, [(), (4,), (2, 3), (0,)], _real),
        spec("axis=1", lambda x: np.cumsum(x, axis=1), [(2, 3), (2, 0)], _real),
    ],
    np.cumprod: [
        spec("axis=None", np.cumprod, [(), (4,), (2, 3)], _real),
        spec("axis=0", lambda x: np.cumprod(x, axis=0), [(3, 2)], _real),
        spec("with zeros", np.cumprod, [(6,)], _with_zeros),
    ],
    np.argmax: [
        spec("argmax", np.argmax, [(5,), (2, 3)], _distinct, grad=False),
        spec(
            "axis", lambda x: np.argmax(x, axis=0, keepdims=True), [(3, 2)], _distinct, grad=False
        ),  # fmt: skip
        spec("gather", lambda x: x[np.argmax(x)] * x, [(4,)], _distinct, order=1),
    ],
    np.argmin: [
        spec("argmin", np.argmin, [(5,), (2, 3)], _distinct, grad=False),
        spec("axis", lambda x: np.argmin(x, axis=-1), [(3, 2)], _distinct, grad=False),
    ],
    np.argsort: [
        spec("argsort", lambda x: np.argsort(x, axis=0), [(4,), (3, 2)], _distinct, grad=False)
    ],  # fmt: skip
    np.sort: [
        spec("sort", np.sort, [(5,), (2, 3)], _distinct, order=1),
        spec("axis=0", lambda x: np.sort(x, axis=0), [(3, 2)], _distinct, order=1),
        spec("axis=None", lambda x: np.sort(x, axis=None), [(2, 2)], _distinct, order=1),
    ],
    np.linalg.norm: [
        spec("vector", np.linalg.norm, [(3,), (2, 3)], _away),
        spec(
            "vector ord",
            lambda x: (
                np.linalg.norm(x, 1)
                + np.linalg.norm(x, np.inf)
                + np.linalg.norm(x, -np.inf)
                + np.linalg.norm(x, 3)
                + np.linalg.norm(x, 0)
            ),
            [(4,)],
            _distinct,
            order=1,
        ),  # fmt: skip
        spec(
            "axis=1 keepdims", lambda x: np.linalg.norm(x, axis=1, keepdims=True), [(2, 3)], _away
        ),  # fmt: skip
        spec(
            "matrix ord",
            lambda x: (
                np.linalg.norm(x, "fro")
                + np.linalg.norm(x, 1)
                + np.linalg.norm(x, np.inf)
                + np.linalg.norm(x, -1)
                + np.linalg.norm(x, -np.inf)
            ),
            [(3, 3)],
            _distinct,
            order=1,
        ),  # fmt: skip
        spec(
            "matrix axes",
            lambda x: np.linalg.norm(x, 1, axis=(2, 0)),
            [(2, 3, 4)],
            _distinct,
            order=1,
        ),  # fmt: skip
    ],
    # -- np.linalg -------------------------------------------------------------------------
    np.linalg.solve: [
        spec(
            "solve", np.linalg.solve, [((3, 3), (3,)), ((3, 3), (3, 2))], _well_conditioned, _real
        ),  # fmt: skip
    ],
    np.linalg.inv: [spec("inv", np.linalg.inv, [(3, 3), (1, 1)], _well_conditioned)],
    np.linalg.det: [spec("det", np.linalg.det, [(3, 3), (2, 2)], _well_conditioned)],
    np.linalg.slogdet: [
        spec(
            "slogdet",
            lambda a: np.linalg.slogdet(a).logabsdet * np.linalg.slogdet(-a)[0],
            [(3, 3)],
            _well_conditioned,
        ),  # fmt: skip
    ],
    np.linalg.cholesky: [
        spec("cholesky", np.linalg.cholesky, [(3, 3), (1, 1)], _spd),
        spec("upper", lambda a: np.linalg.cholesky(a, upper=True), [(2, 2)], _spd),
    ],
    # -- np.linalg: decompositions and what is composed from them (tests/test_linalg.py has
    # more); eigenvectors and singular vectors enter sign-free (their signs are arbitrary)
    np.linalg.eigh: [
        spec(
            "w, V * V",
            lambda a: (lambda w, v: v * v * w[..., None, :])(*np.linalg.eigh(a)),
            [(3, 3), (2, 2, 2)],
            _symmetric,
        ),  # fmt: skip
    ],
    np.linalg.eigvalsh: [spec("eigvalsh", np.linalg.eigvalsh, [(3, 3), (2, 2, 2)], _symmetric)],
    np.linalg.svd: [
        spec(
            "U * U * s, Vh * Vh",
            lambda a: (lambda u, s, vh: (u * u * s[..., None, :]) @ (vh * vh))(
                *np.linalg.svd(a, full_matrices=False)
            ),
            [(3, 2), (2, 3), (2, 2, 2)],
            _separated,
        ),
        spec(
            "compute_uv=False", lambda a: np.linalg.svd(a, compute_uv=False), [(3, 2)], _separated
        ),
    ],
    np.linalg.qr: [
        spec(
            "Q * Q, R * R",
            lambda a: (lambda q, r: (q * q) @ (r * r))(*np.linalg.qr(a)),
            [(3, 2), (2, 3), (2, 2, 2)],
            _separated,
        ),  # fmt: skip
    ],
    np.linalg.matrix_power: [
        spec("n=3", lambda a: np.linalg.matrix_power(a, 3), [(2, 2), (2, 3, 3)], _real),
        spec("n=-2", lambda a: np.linalg.matrix_power(a, -2), [(3, 3)], _well_conditioned),
    ],
    np.linalg.multi_dot: [
        spec(
            "multi_dot",
            lambda x, a, b: np.linalg.multi_dot([x, a, b]),
            [((3,), (3, 4), (4, 2)), ((2, 3), (3, 4), (4,))],
            _real,
            _real,
            _real,
        ),  # fmt: skip
    ],
    np.linalg.pinv: [spec("pinv", np.linalg.pinv, [(3, 2), (2, 2, 3)], _separated)],
    np.linalg.cond: [
        spec("2", np.linalg.cond, [(3, 3), (2, 3, 2)], _separated),
        spec("-2", lambda a: np.linalg.cond(a, -2), [(3, 3)], _separated),
        spec("fro", lambda a: np.linalg.cond(a, "fro"), [(2, 3, 3)], _well_conditioned),
    ],
    np.linalg.matrix_rank: [
        spec("rank", np.linalg.matrix_rank, [(3, 3), (2, 3, 2)], _separated, grad=False),
        spec("vector", np.linalg.matrix_rank, [(3,)], _real, grad=False),
        spec(
            "tol", lambda a: np.linalg.matrix_rank(a, tol=2.5), [(3, 3)], _separated, grad=False
        ),  # fmt: skip
    ],
    np.linalg.tensorinv: [
        spec(
            "ind=2", lambda a: np.linalg.tensorinv(a.reshape(2, 2, 4)), [(4, 4)], _well_conditioned
        ),
    ],
    np.linalg.tensorsolve: [
        spec(
            "tensorsolve",
            lambda a, b: np.linalg.tensorsolve(a.reshape(2, 3, 3, 2), b),
            [((6, 6), (2, 3))],
            _well_conditioned,
            _real,
        ),
        spec(
            "axes",
            lambda a, b: np.linalg.tensorsolve(a.reshape(3, 2, 3, 2), b, axes=(0,)),
            [((6, 6), (2, 3))],
            _well_conditioned,
            _real,
        ),
    ],
    np.linalg.lstsq: [
        spec(
            "x",
            lambda a, b: np.linalg.lstsq(a, b)[0],
            [((4, 2), (4,)), ((2, 3), (2, 2))],
            _separated,
            _real,
        ),  # fmt: skip
        spec(
            "residuals, s",
            lambda a, b: np.linalg.lstsq(a, b)[1] + np.linalg.lstsq(a, b)[3][0],
            [((4, 2), (4,))],
            _separated,
            _real,
        ),  # fmt: skip
    ],
    # -- products ------------------------------------------------------------------------
    np.dot: [spec("dot", np.dot, [((2, 3), (3, 2)), ((3,), (3,)), ((), (2,))], _real, _real)],
    np.inner: [spec("inner", np.inner, [((3,), (3,)), ((2, 3), (4, 3))], _real, _real)],
    np.outer: [spec("outer", np.outer, [((3,), (2,)), ((2, 2), (3,))], _real, _real)],
    np.vdot: [spec("vdot", np.vdot, [((2, 3), (2, 3))], _real, _real)],
    np.tensordot: [
        spec("axes=1", lambda x, y: np.tensordot(x, y, axes=1), [((2, 3), (3, 2))], _real, _real),
        spec(
            "axes pairs",
            lambda x, y: np.tensordot(x, y, axes=([0, 2], [2, 0])),
            [((2, 3, 4), (4, 2, 2))],
            _real,
            _real,
        ),  # fmt: skip
    ],
    np.einsum: [
        spec(
            "...ij,...jk->...ik (broadcast)",
            lambda x, y: np.einsum("...ij,...jk->...ik", x, y),
            [((2, 2, 3), (1, 3, 2)), ((2, 3), (3, 2))],
            _real,
            _real,
        ),  # fmt: skip
        spec(
            "implicit ...", lambda x, y: np.einsum("...j,j", x, y), [((2, 3), (3,))], _real, _real
        ),
        spec(
            "three operands",
            lambda x, y: np.einsum("i,ij,j->", x, y, x),
            [((3,), (3, 3))],
            _real,
            _real,
        ),  # fmt: skip
        spec(
            "ij,jk->ik", lambda x, y: np.einsum("ij,jk->ik", x, y), [((2, 3), (3, 2))], _real, _real
        ),  # fmt: skip
        spec(
            "bij,bjk->bik",
            lambda x, y: np.einsum("bij,bjk->bik", x, y),
            [((2, 2, 3), (2, 3, 2))],
            _real,
            _real,
        ),  # fmt: skip
        spec(
            "ii->i, i,i",
            lambda x, y: np.einsum("ii->i", x) * np.einsum("i,i", y, y),
            [((3, 3), (3,))],
            _real,
            _real,
        ),  # fmt: skip
    ],
    np.trace: [
        spec("trace", np.trace, [(3, 3), (2, 3)], _real),
        spec("offset axes", lambda x: np.trace(x, -1, 2, 0), [(3, 2, 4)], _real),
    ],
    np.kron: [spec("kron", np.kron, [((2, 2), (2, 3))], _real, _real)],
    np.cross: [spec("cross", np.cross, [((3,), (3,)), ((2, 3), (3,))], _real, _real)],
    np.convolve: [
        spec("full", np.convolve, [((5,), (3,)), ((2,), (4,))], _real, _real),
        spec("same", lambda a, v: np.convolve(a, v, "same"), [((5,), (3,))], _real, _real),
        spec("valid", lambda a, v: np.convolve(a, v, "valid"), [((5,), (2,))], _real, _real),
    ],
    # -- shapes and structure --------------------------------------------------------------
    np.reshape: [spec("reshape", lambda x: np.reshape(x, (3, -1)), [(6,), (2, 3), (3, 0)], _real)],
    np.ravel: [spec("ravel", np.ravel, [(), (2, 3)], _real)],
    np.transpose: [
        spec("transpose", np.transpose, [(2, 3), (2, 3, 4), ()], _real),
        spec("axes", lambda x: np.transpose(x, (1, 2, 0)), [(2, 3, 4)], _real),
    ],
    np.swapaxes: [spec("swapaxes", lambda x: np.swapaxes(x, 0, -1), [(2, 3, 4)], _real)],
    np.moveaxis: [
        spec("moveaxis", lambda x: np.moveaxis(x, 0, -1), [(2, 3, 4)], _real),
        spec("several", lambda x: np.moveaxis(x, [0, 1], [-1, 0]), [(2, 3, 4)], _real),
    ],
    np.expand_dims: [spec("expand_dims", lambda x: np.expand_dims(x, (0, -1)), [(), (3,)], _real)],
    np.squeeze: [
        spec("squeeze", np.squeeze, [(1, 3, 1), (1,)], _real),
        spec("axis", lambda x: np.squeeze(x, axis=2), [(2, 3, 1)], _real),
    ],
    np.broadcast_to: [
        spec("broadcast_to", lambda x: np.broadcast_to(x, (2, 3)), [(), (3,), (2, 1)], _real)
    ],  # fmt: skip
    np.atleast_1d: [spec("atleast_1d", np.atleast_1d, [(), (3,)], _real)],
    np.atleast_2d: [spec("atleast_2d", np.atleast_2d, [(), (3,), (2, 2)], _real)],
    np.concatenate: [
        spec(
            "axis=0",
            lambda x, y: np.concatenate([x, y, x]),
            [((2,), (3,)), ((0,), (2,))],
            _real,
            _real,
        ),  # fmt: skip
        spec(
            "axis=1", lambda x, y: np.concatenate([x, y], axis=-1), [((2, 3), (2, 1))], _real, _real
        ),  # fmt: skip
        spec(
            "axis=None",
            lambda x, y: np.concatenate([x, y], axis=None),
            [((2, 2), (3,))],
            _real,
            _real,
        ),  # fmt: skip
    ],
    np.stack: [
        spec(
            "stack",
            lambda x, y: np.stack([x, y], axis=-1),
            [((), ()), ((2, 3), (2, 3))],
            _real,
            _real,
        )
    ],  # fmt: skip
    np.hstack: [
        spec(
            "hstack", lambda x, y: np.hstack([x, y]), [((2,), (3,)), ((2, 2), (2, 1))], _real, _real
        )
    ],  # fmt: skip
    np.vstack: [
        spec(
            "vstack", lambda x, y: np.vstack([x, y]), [((3,), (3,)), ((1, 2), (2, 2))], _real, _real
        )
    ],  # fmt: skip
    np.dstack: [
        spec(
            "dstack", lambda x, y: np.dstack([x, y]), [((3,), (3,)), ((2, 2), (2, 2))], _real, _real
        )
    ],  # fmt: skip
    np.column_stack: [
        spec(
            "column_stack",
            lambda x, y: np.column_stack([x, y]),
            [((3,), (3,)), ((3, 2), (3,))],
            _real,
            _real,
        )
    ],  # fmt: skip
    np.append: [
        spec("append", np.append, [((2, 2), (3,))], _real, _real),
        spec("axis", lambda x, y: np.append(x, y, axis=0), [((2, 2), (1, 2))], _real, _real),
    ],
    np.split: [spec("split", lambda x: np.stack(np.split(x, 3, axis=1)) * 2.0, [(2, 6)], _real)],
    np.array_split: [
        spec("array_split", lambda x: np.concatenate(np.array_split(x, 3)[1:]), [(7,)], _real)
    ],  # fmt: skip
    np.tile: [spec("tile", lambda x: np.tile(x, (2, 1)), [(3,), (2, 2), ()], _real)],
    np.repeat: [
        spec("repeat", lambda x: np.repeat(x, 2), [(3,), (2, 2)], _real),
        spec("axis", lambda x: np.repeat(x, [1, 0, 2], axis=1), [(2, 3)], _real),
    ],
    np.flip: [
        spec("flip", np.flip, [(3,), (2, 3)], _real),
        spec("axis", lambda x: np.flip(x, 1), [(2, 3)], _real),
    ],  # fmt: skip
    np.fliplr: [spec("fliplr", np.fliplr, [(2, 3)], _real)],
    np.flipud: [spec("flipud", np.flipud, [(2, 3)], _real)],
    np.roll: [
        spec("roll", lambda x: np.roll(x, 2), [(5,), (2, 3)], _real),
        spec("axis", lambda x: np.roll(x, -1, axis=1), [(2, 3)], _real),
    ],
    np.pad: [
        spec("pad", lambda x: np.pad(x, ((1, 0), (2, 1)), constant_values=0.5), [(2, 3)], _real)
    ],  # fmt: skip
    np.tril: [
        spec("tril", np.tril, [(3, 3), (2, 4)], _real),
        spec("k", lambda x: np.tril(x, -1), [(3, 3)], _real),
    ],  # fmt: skip
    np.triu: [
        spec("triu", np.triu, [(3, 3), (4, 2)], _real),
        spec("k", lambda x: np.triu(x, 1), [(3, 3)], _real),
    ],  # fmt: skip
    np.diag: [
        spec("diag", np.diag, [(3,), (3, 3), (2, 3)], _real),
        spec("k", lambda x: np.diag(x, 1), [(3,), (3, 3)], _real),
    ],  # fmt: skip
    np.diagonal: [
        spec("diagonal", np.diagonal, [(3, 3), (2, 3, 4)], _real),
        spec("offset", lambda x: np.diagonal(x, -1), [(3, 3)], _real),
    ],  # fmt: skip
    np.diff: [
        spec("diff", np.diff, [(4,), (2, 3)], _real),
        spec("n=2 axis=0", lambda x: np.diff(x, 2, axis=0), [(4, 2)], _real),
    ],  # fmt: skip
    np.where: [
        spec(
            "where",
            lambda c, x, y: np.where(c, x, y),
            [((3,), (3,), ()), ((2, 3), (3,), (2, 1))],
            _bool,
            _real,
            _real,
        ),  # fmt: skip
    ],
    np.clip: [
        spec("clip", lambda x: np.clip(x, -1.0, 1.0), [(), (6,)], _frac),
        spec("arrays", np.clip, [((3,), (3,), (3,))], _frac, _integral, _integral, order=1),
    ],  # fmt: skip
    np.nan_to_num: [spec("nan_to_num", lambda x: np.nan_to_num(x) * x, [(4,), ()], _real)],
    np.sinc: [spec("sinc", np.sinc, [(), (4,)], _away)],
    np.fix: [spec("fix", lambda x: np.fix(x) * x, [(5,)], _frac)],
    np.lib.stride_tricks.sliding_window_view: [
        spec("1-d", lambda x: np.lib.stride_tricks.sliding_window_view(x, 3), [(5,)], _real),
        spec(
            "2-d windows",
            lambda x: np.lib.stride_tricks.sliding_window_view(x, (2, 2)),
            [(3, 4)],
            _real,
        ),  # fmt: skip
        spec(
            "axis",
            lambda x: np.lib.stride_tricks.sliding_window_view(x, 2, axis=0),
            [(3, 2)],
            _real,
        ),  # fmt: skip
    ],
    np.rint: [unary(lambda x: np.rint(x) * x, _off_half)],
    np.round: [
        spec("round", lambda x: np.round(x) * x, [(5,), ()], _off_half),
        spec("decimals", lambda x: np.round(x, 1) * x, [(5,)], _off_half_tenths),
    ],
    np.atleast_3d: [
        spec("atleast_3d", lambda x: np.atleast_3d(x) * 2.0, [(), (3,), (2, 3)], _real)
    ],
    np.block: [
        spec(
            "2x2 blocks", lambda x, y: np.block([[x, y], [y, x]]), [((2, 2), (2, 2))], _real, _real
        ),
        spec("1-d", lambda x, y: np.block([x, y, x]), [((2,), (3,))], _real, _real),
    ],
    np.meshgrid: [
        spec("xy", lambda x, y: np.stack(np.meshgrid(x, y)), [((3,), (2,))], _real, _real),
        spec(
            "ij", lambda x, y: np.meshgrid(x, y, indexing="ij")[0] * y, [((3,), (2,))], _real, _real
        ),  # fmt: skip
    ],
    np.linspace: [
        spec("scalars", lambda a, b: np.linspace(a, b, 5), [((), ())], _real, _real),
        spec(
            "arrays, axis", lambda a, b: np.linspace(a, b, 4, axis=1), [((2,), (2,))], _real, _real
        ),
    ],
    np.logspace: [spec("logspace", lambda a, b: np.logspace(a, b, 4), [((), ())], _unit, _unit)],
    np.isclose: [
        spec(
            "isclose",
            lambda x, y: np.isclose(x, y, atol=0.5),
            [((4,), (4,))],
            _real,
            _real,
            grad=False,
        )
    ],  # fmt: skip
    np.copysign: [binary(np.copysign, _away, _away)],
    np.select: [
        spec(
            "select",
            lambda x: np.select([x < -0.5, x > 0.5], [x**2, np.sin(x)], 0.1),
            [(5,), (2, 3)],
            _away,
        )
    ],  # fmt: skip
    np.piecewise: [
        spec(
            "piecewise",
            lambda x: np.piecewise(x, [x < 0, x >= 0], [lambda t: t**2, lambda t: np.sin(t)]),
            [(5,)],
            _away,
        )
    ],  # fmt: skip
    np.vsplit: [spec("vsplit", lambda x: np.vsplit(x, 2)[1], [(4, 2)], _real)],
    np.hsplit: [spec("hsplit", lambda x: np.hsplit(x, [1])[1], [(2, 3), (4,)], _real)],
    np.dsplit: [spec("dsplit", lambda x: np.dsplit(x, 2)[0], [(1, 2, 4)], _real)],
    np.rot90: [
        spec("k=1", np.rot90, [(2, 3)], _real),
        spec("k=3, axes", lambda x: np.rot90(x, 3, axes=(1, 2)), [(2, 3, 2)], _real),
    ],
    np.vecdot: [spec("vecdot", np.vecdot, [((2, 3), (3,))], _real, _real)],
    np.partition: [spec("partition", lambda x: np.partition(x, 2)[2], [(5,)], _distinct)],
    np.argpartition: [
        spec("argpartition", lambda x: np.argpartition(x, 1)[1], [(5,)], _distinct, grad=False)
    ],  # fmt: skip
    np.searchsorted: [
        spec(
            "searchsorted",
            lambda x: np.searchsorted(np.sort(x), x[:2] + 0.01),
            [(5,)],
            _distinct,
            grad=False,
        )
    ],  # fmt: skip
    np.around: [spec("around", lambda x: np.around(x, 1) * x, [(2, 3)], _off_half_tenths)],
    np.take: [
        spec("take", lambda x: np.take(x, IDX), [(4,), (2, 2)], _real),
        spec("axis", lambda x: np.take(x, IDX, axis=1), [(2, 3)], _real),
        spec(
            "traced indices", lambda x, i: np.take(x, i, axis=0), [((3, 2), (4,))], _real, _index(3)
        ),  # fmt: skip
    ],
    np.take_along_axis: [
        spec(
            "take_along_axis",
            lambda x: np.take_along_axis(x, np.array([[0, 2], [1, 1]]), 1),
            [(2, 3)],
            _real,
        ),  # fmt: skip
    ],
    np.zeros_like: [spec("zeros_like", lambda x: np.zeros_like(x) + x, [(), (2, 3)], _real)],
    np.ones_like: [spec("ones_like", lambda x: np.ones_like(x) * x, [(), (2, 3)], _real)],
    np.full_like: [spec("full_like", lambda x: np.full_like(x, 2.5) * x, [(3,)], _real)],
    np.copy: [spec("copy", lambda x: np.copy(x) * x, [(3,)], _real)],
    # np.asarray(tracer) and np.array(tracer) do not dispatch (a TracerConversionError, see
    # docs/sharp-bits.md); with like= they do.
    np.asarray: [spec("asarray", lambda x: np.asarray(x, like=x) * x, [(3,)], _real)],
    np.array: [spec("array", lambda x: np.array(x, like=x) * x, [(3,)], _real)],
    np.shape: [spec("shape", lambda x: x * np.shape(x)[0], [(3,)], _real)],
    np.ndim: [spec("ndim", lambda x: x * np.ndim(x), [(3,), (2, 2)], _real)],
    np.size: [spec("size", lambda x: x * np.size(x), [(2, 3)], _real)],
    # -- statistics ---------------------------------------------------------------------------
    np.median: [
        spec("median", np.median, [(5,), (4,), (2, 3)], _distinct, order=1),
        spec("axis=0", lambda x: np.median(x, axis=0), [(4, 3)], _distinct, order=1),
        spec(
            "keepdims", lambda x: np.median(x, axis=1, keepdims=True), [(2, 5)], _distinct, order=1
        ),
        spec("axis=(0, 2)", lambda x: np.median(x, axis=(0, 2)), [(2, 3, 2)], _distinct, order=1),
    ],
    np.quantile: [
        spec("scalar q", lambda x: np.quantile(x, 0.3), [(5,), (2, 3)], _distinct, order=1),
        spec("q list", lambda x: np.quantile(x, [0.1, 0.5, 1.0]), [(6,)], _distinct, order=1),
        spec(
            "q array axis keepdims",
            lambda x: np.quantile(x, np.array([0.25, 0.8]), axis=1, keepdims=True),
            [(2, 5)],
            _distinct,
            order=1,
        ),  # fmt: skip
    ],
    np.percentile: [
        spec("scalar q", lambda x: np.percentile(x, 30.0), [(5,)], _distinct, order=1),
        spec(
            "q list axis",
            lambda x: np.percentile(x, [10, 90], axis=0),
            [(4, 3)],
            _distinct,
            order=1,
        ),
    ],
    np.nanmax: [
        spec("nanmax", np.nanmax, [(5,), (2, 3)], _with_nans, order=1),
        spec(
            "axis keepdims",
            lambda x: np.nanmax(x, axis=0, keepdims=True),
            [(6, 2)],
            _with_nans,
            order=1,
        ),
    ],
    np.nanmin: [
        spec("nanmin", np.nanmin, [(5,), (2, 3)], _with_nans, order=1),
        spec("axis", lambda x: np.nanmin(x, axis=1), [(2, 6)], _with_nans, order=1),
    ],
    np.nanprod: [
        spec("nanprod", np.nanprod, [(5,), (2, 3)], _with_nans, order=1),
        spec("axis", lambda x: np.nanprod(x, axis=0), [(6, 2)], _with_nans, order=1),
    ],
    np.nanvar: [
        spec("nanvar", np.nanvar, [(5,), (2, 3)], _with_nans, order=1),
        spec("axis ddof", lambda x: np.nanvar(x, axis=0, ddof=1), [(6, 2)], _with_nans, order=1),
        spec(
            "keepdims", lambda x: np.nanvar(x, axis=1, keepdims=True), [(2, 6)], _with_nans, order=1
        ),
    ],
    np.nanstd: [
        spec("nanstd", np.nanstd, [(6,)], _with_nans, order=1),
        spec("axis", lambda x: np.nanstd(x, axis=0), [(6, 2)], _with_nans, order=1),
    ],
    np.interp: [
        spec(
            "constant knots",
            lambda x, fp: np.interp(x, np.array([-1.5, -0.7, 0.1, 0.6, 1.4]), fp),
            [((), (5,)), ((7,), (5,)), ((2, 3), (5,))],
            _real,
            _real,
            order=1,
        ),  # fmt: skip
        spec(
            "left right",
            lambda x, fp: np.interp(x, np.array([-1.0, 0.2, 1.1]), fp, left=-3.0, right=4.0),
            [((8,), (3,))],
            _real,
            _real,
            order=1,
        ),  # fmt: skip
        spec(
            "traced knots",
            np.interp,
            [((6,), (4,), (4,))],
            _real,
            lambda rng, shape: np.cumsum(rng.uniform(0.5, 1.2, shape)) - 2.0,
            _real,
            order=1,
        ),  # fmt: skip
    ],
    np.polyval: [
        spec("polyval", np.polyval, [((4,), ()), ((3,), (5,)), ((4,), (2, 3))], _real, _real),
    ],
    np.trapezoid: [
        spec("trapezoid", np.trapezoid, [(5,), (2, 4)], _real),
        spec("x", lambda y, x: np.trapezoid(y, x), [((5,), (5,)), ((2, 4), (4,))], _real, _real),
        spec("dx axis", lambda y: np.trapezoid(y, dx=0.5, axis=0), [(4, 3)], _real),
    ],
    np.cov: [
        spec("cov", np.cov, [(3, 5), (5,)], _real),
        spec("rowvar bias", lambda m: np.cov(m, rowvar=False, bias=True), [(5, 3)], _real),
        spec("ddof y", lambda m, y: np.cov(m, y, ddof=2), [((2, 5), (5,))], _real, _real),
    ],
    np.corrcoef: [
        spec("corrcoef", np.corrcoef, [(3, 5)], _real),
        spec(
            "y rowvar", lambda x, y: np.corrcoef(x, y, rowvar=False), [((5, 2), (5,))], _real, _real
        ),
    ],
    np.gradient: [
        spec("gradient", np.gradient, [(5,), (2,)], _real),
        spec("tuple of two", np.gradient, [(3, 4)], _real, grad=False),
        spec("spacing", lambda f: np.stack(np.gradient(f, 0.5)), [(4, 3)], _real),
        spec(
            "axis spacings",
            lambda f: np.stack(np.gradient(f, 2.0, 0.5, axis=(1, 0))),
            [(4, 4)],
            _real,
        ),  # fmt: skip
        spec("axis", lambda f: np.gradient(f, axis=-1), [(2, 3)], _real),
    ],
    # -- complex numbers: real arguments, complex values inside, real results (complex
    # arguments are tested in tests/test_complex.py) -------------------------------------------
    np.real: [
        binary(lambda x, y: np.real(np.exp(1j * x) * y)),
        unary(np.real),  # of a real array: itself
    ],
    np.imag: [
        binary(lambda x, y: np.imag((x + 1j * y) ** 2)),
        unary(lambda x: np.imag(x) + x),  # of a real array: zeros
    ],
    np.conjugate: [binary(lambda x, y: np.imag(np.conjugate(x + 1j * y) * (x - 2j)))],
    np.angle: [
        binary(lambda x, y: np.angle(x + 1j * y), _pos, _real),
        unary(lambda x: np.angle(x, deg=True) + x, _away),
    ],
    np.iscomplex: [
        binary(lambda x, y: np.where(np.iscomplex(x + 1j * y), x, y), _real, _away, order=1)
    ],
    np.isreal: [binary(lambda x, y: np.where(np.isreal(x + 0j * y), x, y), order=1)],
    np.iscomplexobj: [unary(lambda x: x * np.iscomplexobj(x * 1j))],
    np.isrealobj: [unary(lambda x: x * np.isrealobj(x))],
    np.fft.fft: [
        spec("fft", lambda x: np.fft.fft(x).real, [(4,), (2, 5)], _real),
        spec(
            "n axis",
            lambda x, y: np.fft.fft(x + 1j * y, 6, 0).imag,
            [((4, 2), (4, 2))],
            _real,
            _real,
        ),
    ],
    np.fft.ifft: [
        spec("ifft", lambda x: np.fft.ifft(x).imag, [(4,), (2, 5)], _real),
        spec("n norm", lambda x: np.fft.ifft(x, 3, norm="ortho").real, [(2, 4)], _real),
    ],
    np.fft.rfft: [
        spec("rfft", lambda x: np.fft.rfft(x).imag, [(5,), (2, 4)], _real),
        spec("n axis", lambda x: np.fft.rfft(x, 7, axis=0).real, [(4, 3)], _real),
    ],
    np.fft.irfft: [
        spec(
            "irfft",
            lambda x, y: np.fft.irfft(x + 1j * y),
            [((5,), (5,)), ((2, 4), (2, 4))],
            _real,
            _real,
        ),
        spec("n forward", lambda x: np.fft.irfft(x * 1j, 5, norm="forward"), [(2, 4)], _real),
    ],
}

if hasattr(np.linalg, "svdvals"):  # NumPy >= 2
    SPECS[np.linalg.svdvals] = [spec("svdvals", np.linalg.svdvals, [(3, 2), (2, 2, 3)], _separated)]
    SPECS[np.linalg.vector_norm] = [
        spec("all", np.linalg.vector_norm, [(2, 3)], _away),
        spec(
            "ord=3 axes", lambda x: np.linalg.vector_norm(x, ord=3, axis=(0, 2)), [(2, 3, 2)], _away
        ),
    ]
    SPECS[np.linalg.outer] = [spec("outer", np.linalg.outer, [((3,), (2,))], _real, _real)]
    SPECS[np.linalg.cross] = [
        spec("axis", lambda x, y: np.linalg.cross(x, y, axis=0), [((3, 2), (3, 1))], _real, _real)
    ]
    SPECS[np.linalg.trace] = [
        spec("offset", lambda x: np.linalg.trace(x, offset=1), [(2, 3, 4)], _real)
    ]
    SPECS[np.linalg.diagonal] = [
        spec("offset", lambda x: np.linalg.diagonal(x, offset=-1), [(2, 3, 4)], _real)
    ]
    SPECS[np.linalg.matrix_transpose] = [
        spec("matrix_transpose", np.linalg.matrix_transpose, [(2, 3, 4)], _real)
    ]
    SPECS[np.linalg.tensordot] = [
        spec(
            "axes=1",
            lambda x, y: np.linalg.tensordot(x, y, axes=1),
            [((2, 3), (3, 2))],
            _real,
            _real,
        )
    ]
    SPECS[np.linalg.matmul] = [
        spec("matmul", np.linalg.matmul, [((2, 2, 3), (3, 2))], _real, _real)
    ]
    SPECS[np.linalg.vecdot] = [spec("vecdot", np.linalg.vecdot, [((2, 3), (3,))], _real, _real)]
    SPECS[np.linalg.matrix_norm] = [
        spec("fro", np.linalg.matrix_norm, [(2, 3), (2, 2, 3)], _real),
        spec("nuc", lambda x: np.linalg.matrix_norm(x, ord="nuc"), [(2, 3, 2)], _separated),
        spec("2", lambda x: np.linalg.matrix_norm(x, ord=2), [(3, 2)], _separated),
    ]

if hasattr(np, "cumulative_sum"):  # NumPy >= 2.1
    SPECS[np.cumulative_sum] = [
        spec("cumulative_sum", lambda x: np.cumulative_sum(x, include_initial=True), [(4,)], _real)
    ]
    SPECS[np.cumulative_prod] = [
        spec("cumulative_prod", lambda x: np.cumulative_prod(x, axis=1), [(2, 3)], _real)
    ]


def _name(f: Any) -> str:
    module = getattr(f, "__module__", None) or ""
    return ("linalg." if "linalg" in module else "") + f.__name__


def _params(kind: str) -> list:
    params = []
    for f, specs in SPECS.items():
        for k, s in enumerate(specs):
            for j, shapes in enumerate(s.shapes):
                dtypes = s.dtypes if kind == "values" else (s.dtypes if s.grad else ())
                for dtype in dtypes:
                    ident = f"{_name(f)}:{s.label}:{shapes}:{dtype}".replace(" ", "")
                    params.append(pytest.param(f, k, j, dtype, id=ident))
    return params


# =============================================================================================
# Helpers


def draw(s: Spec, shapes: tuple, dtype: np.dtype, seed: int) -> tuple:
    rng = np.random.default_rng(seed)
    args = []
    for domain, shape in zip(s.domains, shapes, strict=True):
        a = np.asarray(domain(rng, shape))
        args.append(a.astype(dtype) if a.dtype.kind == "f" else a)
    return tuple(args)


def _leaves(x: Any) -> list[Any]:
    return tg.tree.tree_flatten(x)[0]


# =============================================================================================
# Tests


def test_every_supported_function_has_a_spec():
    supported = set(dispatch.UFUNCS) | set(dispatch.FUNCTIONS)
    missing = sorted(_name(f) for f in supported - set(SPECS))
    assert not missing, f"supported NumPy functions without a spec in SPECS: {missing}"
    unknown = sorted(_name(f) for f in set(SPECS) - supported)
    assert not unknown, f"SPECS entries for functions that are not supported: {unknown}"


@pytest.mark.parametrize("f, k, j, dtype", _params("values"))
def test_value_matches_numpy(f, k, j, dtype):
    s = SPECS[f][k]
    args = draw(s, s.shapes[j], dtype, seed=k + 10 * j)
    with np.errstate(all="ignore"):
        expected = s.fn(*args)  # plain NumPy on plain arrays
    got = tg.jit(s.fn)(*args)
    for g, e in zip(_leaves(got), _leaves(expected), strict=True):
        g, e = np.asarray(g), np.asarray(e)
        assert g.shape == e.shape
        assert g.dtype == e.dtype, (g.dtype, e.dtype)
        tol = dict(rtol=1e-10, atol=1e-12) if dtype == F64 else dict(rtol=2e-5, atol=2e-6)
        if g.dtype.kind == "f":
            np.testing.assert_allclose(g, e, **tol)
        else:
            np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("f, k, j, dtype", _params("grads"))
def test_gradient_matches_finite_differences(f, k, j, dtype):
    s = SPECS[f][k]
    args = draw(s, s.shapes[j], dtype, seed=k + 10 * j)
    argnums = tuple(i for i, a in enumerate(args) if a.dtype.kind == "f")
    order = s.order if dtype == F64 else 1
    check_grads(scalarized(s.fn), args, order=order, argnums=argnums)
