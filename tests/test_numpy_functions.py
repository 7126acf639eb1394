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

import warnings
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


def _quiet(fn, warning):
    """``fn`` with ``warning`` silenced (NumPy deprecations of cases tracegrad still supports)."""

    def quiet(*args):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", warning)
            return fn(*args)

    return quiet


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
        spec("one element", lambda x: np.std(x, axis=0) + np.std(x[0, 0]), [(1, 3)], _real),
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
    np.sort_complex: [  # of a real array: sorted, as complex numbers
        spec("sort_complex", lambda x: np.sort_complex(x).real, [(5,)], _distinct, order=1)
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
    np.dot: [
        spec("dot", np.dot, [((2, 3), (3, 2)), ((3,), (3,)), ((), (2,))], _real, _real),
        spec(
            "N-d second operand", np.dot, [((2, 2, 3), (2, 3, 4)), ((3,), (4, 3, 2))], _real, _real
        ),
    ],
    np.inner: [
        spec(
            "inner",
            np.inner,
            [((3,), (3,)), ((2, 3), (4, 3)), ((), (2, 3)), ((3,), ())],
            _real,
            _real,
        )
    ],  # fmt: skip
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
            "sublists",
            lambda x, y: np.einsum(x, [Ellipsis, 0, 1], y, [Ellipsis, 1, 2], [Ellipsis, 2, 0]),
            [((2, 2, 3), (3, 4)), ((2, 3), (3, 2))],
            _real,
            _real,
        ),  # fmt: skip
        spec("implicit sublists", lambda x: np.einsum(x, [1, 0]), [(2, 3)], _real),
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
    np.kron: [
        spec(
            "kron", np.kron, [((2, 2), (2, 3)), ((3,), (2,)), ((2, 1, 3), (2, 2, 1))], _real, _real
        ),
        spec("ranks", np.kron, [((3,), (2, 2)), ((2, 3, 1), (2, 2)), ((), (2, 3))], _real, _real),
    ],  # fmt: skip
    np.cross: [
        spec(
            "cross",
            np.cross,
            [((3,), (3,)), ((2, 3), (3,))],
            _real,
            _real,
        ),
        spec(
            "2-vectors",  # deprecated in NumPy 2.0, still supported
            _quiet(np.cross, DeprecationWarning),
            [((2,), (3,)), ((4, 2), (1, 2))],
            _real,
            _real,
        ),
        spec(
            "axes",
            lambda a, b: np.cross(a, b, axisa=0, axisb=1, axisc=0),
            [((3, 2), (2, 3))],
            _real,
            _real,
        ),
        spec("axis", lambda a, b: np.cross(a, b, axis=0), [((3, 4), (3, 1))], _real, _real),
    ],  # fmt: skip
    np.convolve: [
        spec("full", np.convolve, [((5,), (3,)), ((2,), (4,))], _real, _real),
        spec("same", lambda a, v: np.convolve(a, v, "same"), [((5,), (3,))], _real, _real),
        spec("valid", lambda a, v: np.convolve(a, v, "valid"), [((5,), (2,))], _real, _real),
    ],
    # -- shapes and structure --------------------------------------------------------------
    np.reshape: [
        spec("reshape", lambda x: np.reshape(x, (3, -1)), [(6,), (2, 3), (3, 0)], _real),
        spec("order=F", lambda x: np.reshape(x, (3, -1), order="F"), [(6,), (2, 3, 2)], _real),
        spec("method F", lambda x: x.reshape((4, 3), order="F"), [(2, 6), (12,)], _real),
    ],
    np.ravel: [
        spec("ravel", np.ravel, [(), (2, 3)], _real),
        spec("order=F", lambda x: np.ravel(x, order="F"), [(2, 3), (2, 3, 2)], _real),
        spec("flatten F", lambda x: x.flatten("F") * x.ravel(order="F"), [(3, 2)], _real),
    ],
    np.transpose: [
        spec("transpose", np.transpose, [(2, 3), (2, 3, 4), ()], _real),
        spec("axes", lambda x: np.transpose(x, (1, 2, 0)), [(2, 3, 4)], _real),
    ],
    np.swapaxes: [spec("swapaxes", lambda x: np.swapaxes(x, 0, -1), [(2, 3, 4)], _real)],
    np.moveaxis: [
        spec("moveaxis", lambda x: np.moveaxis(x, 0, -1), [(2, 3, 4)], _real),
        spec("several", lambda x: np.moveaxis(x, [0, 1], [-1, 0]), [(2, 3, 4)], _real),
    ],
    np.rollaxis: [
        spec("rollaxis", lambda x: np.rollaxis(x, 2), [(2, 3, 4)], _real),
        spec("start", lambda x: np.rollaxis(x, 0, 3), [(2, 3, 4)], _real),
        spec("back", lambda x: np.rollaxis(x, -1, 1), [(2, 3, 4)], _real),
        spec(
            "start",
            lambda x: np.rollaxis(x, -3, -1) + np.rollaxis(x, 1, 3)[..., :1],
            [(2, 1, 2)],
            _real,
        ),
    ],  # fmt: skip
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
            [((3,), (3,)), ((3, 2), (3,)), ((), ())],
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
        spec("pad", lambda x: np.pad(x, ((1, 0), (2, 1)), constant_values=0.5), [(2, 3)], _real),
        spec("edge", lambda x: np.pad(x, ((2, 0), (1, 3)), mode="edge"), [(2, 3), (1, 1)], _real),
        spec("reflect", lambda x: np.pad(x, ((1, 2), (2, 1)), mode="reflect"), [(3, 3)], _real),
        spec("reflect wide", lambda x: np.pad(x, (5, 7), mode="reflect"), [(3,), (1,)], _real),
        spec("symmetric", lambda x: np.pad(x, ((0, 2), (3, 1)), mode="symmetric"), [(2, 3)], _real),
        spec("symmetric wide", lambda x: np.pad(x, 4, mode="symmetric"), [(3,)], _real),
        spec("wrap", lambda x: np.pad(x, ((1, 1), (4, 2)), mode="wrap"), [(2, 3)], _real),
        spec("wrap wide", lambda x: np.pad(x, (7, 5), mode="wrap"), [(3,)], _real),
        spec("odd", lambda x: np.pad(x, (4, 6), mode="reflect", reflect_type="odd"), [(3,)], _real),
        spec(
            "linear_ramp",
            lambda x: np.pad(x, ((1, 2), (3, 0)), mode="linear_ramp", end_values=1),
            [(2, 3)],
            _real,
        ),
        spec(
            "mean",
            lambda x: np.pad(x, ((1, 2), (3, 1)), mode="mean", stat_length=2),
            [(2, 3)],
            _real,
        ),
        spec("maximum", lambda x: np.pad(x, 2, mode="maximum"), [(3,)], _distinct, order=1),
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
    np.real_if_close: [unary(lambda x: np.real_if_close(x) * x)],  # of a real array: itself
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
    np.fft.fftn: [spec("fftn", lambda x: np.fft.fftn(x).real, [(3, 4), (2, 3, 2)], _real)],
    np.fft.ifftn: [
        spec("axes s", lambda x: np.fft.ifftn(x, (3, 5), (1, 0)).imag, [(4, 3)], _real),
    ],
    np.fft.fft2: [spec("fft2", lambda x: np.fft.fft2(x * 1j).imag, [(3, 4), (2, 3, 2)], _real)],
    np.fft.ifft2: [spec("ortho", lambda x: np.fft.ifft2(x, norm="ortho").real, [(3, 4)], _real)],
    np.fft.rfftn: [spec("rfftn", lambda x: np.fft.rfftn(x).imag, [(3, 4), (2, 3, 4)], _real)],
    np.fft.rfft2: [spec("s", lambda x: np.fft.rfft2(x, (4, 6)).real, [(3, 4)], _real)],
    np.fft.irfftn: [
        spec("irfftn", lambda x, y: np.fft.irfftn(x + 1j * y), [((3, 4), (3, 4))], _real, _real),
    ],
    np.fft.irfft2: [
        spec("s", lambda x: np.fft.irfft2(x * (1 + 1j), (2, 6)), [(3, 4)], _real),
    ],
    np.fft.hfft: [
        spec("hfft", lambda x, y: np.fft.hfft(x + 1j * y), [((4,), (4,))], _real, _real),
        spec("n axis ortho", lambda x: np.fft.hfft(x * 1j, 5, 0, "ortho"), [(3, 2)], _real),
    ],
    np.fft.ihfft: [
        spec("ihfft", lambda x: np.fft.ihfft(x).imag, [(5,), (2, 4)], _real),
        spec("n forward", lambda x: np.fft.ihfft(x, 6, norm="forward").real, [(2, 4)], _real),
    ],
}

# -- breadth (issue 15): floating-point anatomy, conversions, editing, polynomials, bins ------


def _nonneg(n):
    def draw(rng, shape):
        return rng.integers(0, n, shape)

    return draw


def _exponent(rng, shape):
    return rng.integers(-4, 5, shape)


def _written(write):
    """``write`` applied in place to a copy of the first argument; returns the copy."""

    def fn(x, *rest):
        y = x * 1.0
        write(y, *rest)
        return y

    fn.__name__ = getattr(write, "__name__", "write")
    return fn


_MASK = np.array([[True, False, True], [False, False, True]])
_BINS = np.array([-1.5, -0.5, 0.25, 1.0])

SPECS.update({
    np.frexp: [
        unary(lambda x: np.frexp(x)[0], _away),
        unary(np.frexp, _with_infs, grad=False),
        unary(lambda x: np.frexp(x * 1e30)[1], _real, grad=False),
    ],
    np.ldexp: [
        binary(np.ldexp, _real, _exponent),
        # 2**1030 itself overflows (so does the derivative, 2**1030): values only.
        spec("power past the range", lambda x: np.ldexp(x * 1e-300, 1030), [(3,)], _away,
             dtypes=(F64,), grad=False),  # fmt: skip
    ],
    np.modf: [
        unary(lambda x: np.modf(x)[0] * np.modf(x)[1], _frac),
        unary(np.modf, _with_infs, grad=False),
    ],
    np.divmod: [
        binary(lambda x, y: np.divmod(x, y)[1], _frac, _divisor),
        binary(np.divmod, _index(5), _divisor_int, grad=False),
    ],
    np.signbit: [
        unary(np.signbit, _with_infs, grad=False),
        unary(lambda x: np.signbit(x * 0.0), _real, grad=False),
    ],
    np.spacing: [unary(np.spacing, _with_infs, grad=False), unary(np.spacing, _real, grad=False)],
    np.nextafter: [
        binary(np.nextafter, _real, _real),
        binary(np.nextafter, _with_infs, _with_infs, grad=False),
        binary(lambda x, y: np.nextafter(x * 0.0, y), _real, _real, grad=False),
    ],
    # -- conversions and dtype queries
    np.ascontiguousarray: [
        spec("ascontiguousarray", lambda x: np.ascontiguousarray(x) * x, [(), (2, 3)], _real),
        spec("like", lambda x: np.ascontiguousarray(2.0, dtype=x.dtype, like=x) * x, [(3,)], _real),
    ],
    np.asfortranarray: [
        spec("dtype", lambda x: np.asfortranarray(x, dtype=np.float64) * x, [(2, 3)], _real),
        spec("like", lambda x: np.asfortranarray([1.0, 2.0], like=x) * x, [(2,)], _real),
    ],
    np.asanyarray: [
        spec("asanyarray", lambda x: np.asanyarray(x) ** 2, [(3,)], _real),
        spec("like", lambda x: np.asanyarray([2.0, 3.0], like=x) * x, [(2,)], _real),
    ],
    np.require: [
        spec("require", lambda x: np.require(x, requirements="C") * x, [(3,)], _real),
        spec("like", lambda x: np.require([1.0, 2.0], like=x) * x, [(2,)], _real),
    ],
    np.astype: [
        spec("astype", lambda x: np.astype(x, np.float64) * x, [(3,)], _real),
        spec("to int", lambda x: np.astype(x * 3, np.int32), [(4,)], _frac, grad=False),
    ],
    np.result_type: [spec("result_type", lambda x: x * (np.result_type(x, 1.0) == x.dtype),
                          [(3,)], _real)],  # fmt: skip
    np.can_cast: [spec("can_cast", lambda x: x * np.can_cast(x, np.float64), [(3,)], _real)],
    np.min_scalar_type: [
        spec("min_scalar_type", lambda x: x * (np.min_scalar_type(x) == x.dtype), [(3,)], _real)
    ],
    np.common_type: [
        spec("common_type", lambda x: x * (np.dtype(np.common_type(x)) == x.dtype), [(3,)], _real)
    ],
    np.iscomplexobj: [spec("iscomplexobj", lambda x: x * (1 + np.iscomplexobj(x)), [(3,)], _real)],
    np.isrealobj: [spec("isrealobj", lambda x: x * np.isrealobj(x), [(3,)], _real)],
    np.may_share_memory: [spec("may_share", lambda x: x * (1 + np.may_share_memory(x, x + 1)),
                               [(3,)], _real)],  # fmt: skip
    np.shares_memory: [spec("shares", lambda x: x * (1 + np.shares_memory(x, x * 2)), [(3,)],
                            _real)],  # fmt: skip
    np.broadcast_arrays: [
        spec("broadcast_arrays", lambda x, y: np.broadcast_arrays(x, y, 2.0),
             [((2, 1), (3,)), ((), (2,))], _real, _real, grad=False),  # fmt: skip
        spec("combined", lambda x, y: np.prod(np.broadcast_arrays(x, y), axis=0),
             [((2, 1), (3,))], _real, _real),  # fmt: skip
    ],
    np.einsum_path: [
        spec("einsum_path", lambda a, b: np.einsum(
            "ij,jk->ik", a, b, optimize=np.einsum_path("ij,jk->ik", a, b)[0]),
             [((2, 3), (3, 2))], _real, _real),  # fmt: skip
    ],
    # -- constructors with like=
    np.zeros: [spec("zeros", lambda x: np.zeros((2, 3), like=x) + x, [(3,)], _real)],
    np.empty: [spec("empty", lambda x: np.empty(3, dtype=x.dtype, like=x) * 0 + x, [(3,)], _real)],
    np.ones: [spec("ones", lambda x: np.ones(3, dtype=x.dtype, like=x) * x, [(3,)], _real)],
    np.full: [
        spec("full", lambda x: np.full((2, 3), 1.5, like=x) * x, [(3,)], _real),
        spec("traced fill", lambda x: np.full((2, 3), x), [(), (3,)], _real),
    ],
    np.empty_like: [spec("empty_like", lambda x: np.empty_like(x) * 0 + x, [(2, 3)], _real)],
    np.eye: [spec("eye", lambda x: np.eye(3, 4, k=1, like=x) @ x, [(4,), (4, 2)], _real)],
    np.identity: [spec("identity", lambda x: np.identity(3, like=x) * x, [(3,)], _real)],
    np.tri: [spec("tri", lambda x: np.tri(3, like=x) @ x, [(3,)], _real)],
    np.arange: [spec("arange", lambda x: np.arange(1, 7, 2, like=x) * x, [(3,)], _real)],
    np.fromfunction: [
        spec("fromfunction", lambda x: np.fromfunction(lambda i, j: x[i] * j, (3, 2), like=x,
                                                       dtype=int), [(3,)], _real),  # fmt: skip
    ],
    # -- editing: gathers planned on positions, writers
    np.insert: [
        spec("insert", lambda x, v: np.insert(x, 1, v), [((4,), ()), ((2, 3), ())], _real, _real),
        spec("axis", lambda x, v: np.insert(x, [0, 2], v, axis=1), [((2, 3), (2, 1))], _real,
             _real),  # fmt: skip
        spec("slice", lambda x: np.insert(x, slice(0, 3), 7.0, axis=0), [(3, 2)], _real),
    ],
    np.delete: [
        spec("delete", lambda x: np.delete(x, [0, -1]), [(5,), (2, 3)], _real),
        spec("axis", lambda x: np.delete(x, 1, axis=1), [(2, 3)], _real),
    ],
    np.resize: [spec("resize", lambda x: np.resize(x, (3, 4)), [(5,), (2, 3), (0,)], _real)],
    np.compress: [
        spec("compress", lambda x: np.compress([True, False, True], x, axis=1), [(2, 3)], _real),
        spec("flat", lambda x: np.compress([False, True], x), [(2, 3)], _real),
    ],
    np.extract: [spec("extract", lambda x: np.extract(_MASK, x), [(2, 3)], _real)],
    np.choose: [
        spec("choose", lambda i, a, b: np.choose(i, [a, b, 2.0]), [((4,), (4,), ())],
             _nonneg(3), _real, _real),  # fmt: skip
        spec("clip", lambda a, b: np.choose(np.array([[0, 5], [-1, 1]]), [a, b], mode="clip"),
             [((2, 2), (2,))], _real, _real),  # fmt: skip
        spec("wrap", lambda a, b: np.choose(np.array([3, -1, 0]), (a, b), mode="wrap"),
             [((3,), (3,))], _real, _real),  # fmt: skip
    ],
    np.diagflat: [spec("diagflat", np.diagflat, [(3,), (2, 2)], _real),
                  spec("k", lambda x: np.diagflat(x, -1), [(3,)], _real)],  # fmt: skip
    np.matrix_transpose: [spec("matrix_transpose", np.matrix_transpose, [(2, 3), (2, 3, 4)],
                               _real)],  # fmt: skip
    np.put: [
        spec("put", _written(lambda y: np.put(y, [0, 2], [5.0, 6.0])), [(2, 3)], _real),
        spec("cycled", _written(lambda y, v: np.put(y, [4, 0, 1], v)), [((5,), (2,))], _real,
             _real),  # fmt: skip
        spec("traced index", _written(lambda y, i, v: np.put(y, i, v, mode="wrap")),
             [((5,), (2,), (2,))], _real, _index(4), _real, order=1),  # fmt: skip
    ],
    np.putmask: [
        spec("putmask", _written(lambda y, v: np.putmask(y, _MASK, v)), [((2, 3), (4,))], _real,
             _real),  # fmt: skip
        spec("traced mask", _written(lambda y: np.putmask(y, y > 0, 0.5)), [(2, 3)], _away),
    ],
    np.place: [spec("place", _written(lambda y, v: np.place(y, _MASK, v)), [((2, 3), (2,))],
                    _real, _real)],  # fmt: skip
    np.fill_diagonal: [
        spec("fill_diagonal", _written(lambda y, v: np.fill_diagonal(y, v)),
             [((3, 3), ()), ((3, 3), (2,))], _real, _real),  # fmt: skip
        spec("wrap", _written(lambda y: np.fill_diagonal(y, 2.0, wrap=True)), [(7, 3)], _real),
    ],
    np.copyto: [
        spec("copyto", _written(lambda y, v: np.copyto(y, v)), [((2, 3), (3,))], _real, _real),
        spec("where", _written(lambda y, v: np.copyto(y, v, where=_MASK)), [((2, 3), ())], _real,
             _real),  # fmt: skip
    ],
    np.put_along_axis: [
        spec("put_along_axis",
             _written(lambda y, v: np.put_along_axis(y, np.array([[0], [2]]), v, axis=1)),
             [((2, 3), (2, 1)), ((2, 3), ())], _real, _real),  # fmt: skip
    ],
    # -- index helpers (integer results)
    np.ix_: [
        spec("ix_", lambda x: x[np.ix_([0, 2], [True, False, True])], [(3, 3)], _real),
        spec("traced", lambda x, i: x[np.ix_(i, np.array([1, 0]))], [((3, 2), (4,))], _real,
             _nonneg(3)),  # fmt: skip
    ],
    np.unravel_index: [
        spec("unravel_index", lambda i: np.unravel_index(i, (3, 4)), [(5,), ()], _nonneg(12),
             grad=False),  # fmt: skip
        spec("F", lambda i: np.unravel_index(i, (2, 3, 2), order="F"), [(4,)], _nonneg(12),
             grad=False),  # fmt: skip
    ],
    np.ravel_multi_index: [
        spec("ravel_multi_index", lambda i, j: np.ravel_multi_index((i, j), (3, 4)),
             [((5,), (5,))], _nonneg(3), _nonneg(4), grad=False),  # fmt: skip
        spec("modes", lambda i, j: np.ravel_multi_index((i, j), (3, 4), mode=("clip", "wrap"),
                                                        order="F"),
             [((5,), (5,))], _index(6), _index(9), grad=False),  # fmt: skip
    ],
    np.diag_indices_from: [spec("diag_indices_from", lambda x: x[np.diag_indices_from(x)],
                                [(3, 3)], _real)],  # fmt: skip
    np.tril_indices_from: [spec("tril_indices_from", lambda x: x[np.tril_indices_from(x, -1)],
                                [(3, 4)], _real)],  # fmt: skip
    np.triu_indices_from: [spec("triu_indices_from", lambda x: x[np.triu_indices_from(x)],
                                [(3, 3)], _real)],  # fmt: skip
    # -- polynomials, correlation, differences
    np.polyadd: [spec("polyadd", np.polyadd, [((3,), (5,)), ((2,), (2,))], _real, _real)],
    np.polysub: [spec("polysub", np.polysub, [((4,), (2,))], _real, _real)],
    np.polymul: [spec("polymul", np.polymul, [((3,), (2,))], _real, _real)],
    np.polyder: [spec("polyder", np.polyder, [(4,)], _real),
                 spec("m=2", lambda p: np.polyder(p, 2), [(5,)], _real)],  # fmt: skip
    np.polyint: [spec("polyint", np.polyint, [(3,)], _real),
                 spec("m k", lambda p: np.polyint(p, 2, k=[1.0, 2.0]), [(3,)], _real)],  # fmt: skip
    np.poly: [spec("poly", np.poly, [(3,), (1,)], _real)],
    np.polyfit: [
        spec("polyfit", lambda x, y: np.polyfit(x, y, 2), [((5,), (5,)), ((4,), (4, 2))],
             _distinct, _real),
        spec("w full", lambda x, y, w: sum(np.polyfit(x, y, 1, full=True, w=w)[:2]),
             [((4,), (4,), (4,))], _distinct, _real, _pos),
        spec("cov", lambda x, y: np.polyfit(x, y, 1, cov=True)[1], [((5,), (5,)), ((4,), (4, 2))],
             _distinct, _real),
        spec("unscaled", lambda x, y: np.polyfit(x, y, 2, cov="unscaled")[1],
             [((4,), (4,)), ((4,), (4, 3))], _distinct, _real),
    ],  # fmt: skip
    np.vander: [spec("vander", np.vander, [(3,)], _real),
                spec("N increasing", lambda x: np.vander(x, 4, increasing=True), [(2,)], _real)],
    np.correlate: [
        spec("correlate", np.correlate, [((5,), (3,)), ((2,), (4,))], _real, _real),
        spec("full", lambda a, v: np.correlate(a, v, "full"), [((4,), (2,)), ((2,), (3,))], _real,
             _real),  # fmt: skip
        spec("same", lambda a, v: np.correlate(a, v, "same"), [((5,), (2,))], _real, _real),
    ],
    np.ediff1d: [
        spec("ediff1d", np.ediff1d, [(4,), (2, 3)], _real),
        spec("ends", lambda x: np.ediff1d(x, to_end=[1.0, 2.0], to_begin=-1.0), [(3,)], _real),
    ],
    # -- membership, comparisons, bins
    np.isin: [
        spec("isin", lambda x: np.isin(np.round(x), [0.0, 1.0]), [(5,), (2, 3)], _real, grad=False),
        spec("traced tests invert", lambda x, t: np.isin(x, t, invert=True), [((4,), (2,))],
             _integral, _integral, grad=False),  # fmt: skip
    ],
    np.isposinf: [unary(np.isposinf, _with_infs, grad=False)],
    np.isneginf: [unary(np.isneginf, _with_infs, grad=False)],
    np.allclose: [spec("allclose", lambda x, y: np.allclose(x, y), [((3,), (3,)), ((2,), ())],
                       _integral, _integral, grad=False),  # fmt: skip
                  spec("equal_nan", lambda x: np.allclose(x, x, equal_nan=True), [(5,)],
                       _with_nans, grad=False)],  # fmt: skip
    np.array_equal: [
        spec("array_equal", np.array_equal, [((3,), (3,)), ((2,), (3,))], _integral, _integral,
             grad=False),  # fmt: skip
        spec("equal_nan", lambda x: np.array_equal(x, x, equal_nan=True), [(5,)], _with_nans,
             grad=False),  # fmt: skip
    ],
    np.array_equiv: [spec("array_equiv", np.array_equiv, [((2, 2), (2,)), ((2,), (3,))],
                          _integral, _integral, grad=False)],  # fmt: skip
    np.digitize: [
        spec("digitize", lambda x: np.digitize(x, _BINS), [(6,), (2, 3)], _real, grad=False),
        spec("right decreasing", lambda x: np.digitize(x, _BINS[::-1], right=True), [(6,)],
             _integral, grad=False),  # fmt: skip
        spec("traced bins", np.digitize, [((6,), (3,))], _real,
             lambda rng, shape: np.sort(_distinct(rng, shape)), grad=False),  # fmt: skip
    ],
    np.histogram_bin_edges: [
        spec("histogram_bin_edges", lambda x: np.histogram_bin_edges(x, 4), [(6,)], _distinct),
        spec("range", lambda x: np.histogram_bin_edges(x, 3, range=(-1.0, 1.0)), [(5,)], _real),
    ],
    np.histogram: [
        spec("counts", lambda x: np.histogram(x, 4), [(7,), (2, 3)], _distinct, grad=False),
        spec("edges", lambda x: np.histogram(x, 4)[1], [(7,)], _distinct),
        spec("weights density", lambda x, w: np.histogram(x, 3, range=(-1.0, 2.0), weights=w,
                                                          density=True)[0],
             [((8,), (8,))], _frac, _pos),  # fmt: skip
        spec("bin edges", lambda x: np.histogram(x, _BINS)[0], [(9,)], _frac, grad=False),
    ],
    # -- along axes, NaN-skipping
    np.apply_along_axis: [
        spec("apply_along_axis", lambda x: np.apply_along_axis(lambda r: r @ r, 1, x),
             [(2, 3)], _real),  # fmt: skip
        spec("vector result", lambda x: np.apply_along_axis(np.cumsum, 0, x), [(3, 2)], _real),
        spec("matrix result", lambda x: np.apply_along_axis(np.outer, 1, x, np.ones(2)),
             [(2, 3)], _real),  # fmt: skip
    ],
    np.apply_over_axes: [
        spec("apply_over_axes", lambda x: np.apply_over_axes(np.sum, x, [0, 2]), [(2, 3, 2)],
             _real),  # fmt: skip
    ],
    np.fft.fftshift: [spec("fftshift", np.fft.fftshift, [(5,), (4, 3)], _real),
                      spec("axes", lambda x: np.fft.fftshift(x, axes=1), [(2, 5)], _real)],
    np.fft.ifftshift: [spec("ifftshift", np.fft.ifftshift, [(5,), (4, 3)], _real)],
    np.nanargmax: [spec("nanargmax", np.nanargmax, [(6,)], _with_nans, grad=False),
                   spec("axis", lambda x: np.nanargmax(x, axis=0), [(5, 2)], _with_nans,
                        grad=False)],  # fmt: skip
    np.nanargmin: [spec("nanargmin", lambda x: np.nanargmin(x, axis=1, keepdims=True), [(2, 5)],
                        _with_nans, grad=False)],  # fmt: skip
    np.nancumsum: [spec("nancumsum", np.nancumsum, [(6,)], _with_nans),
                   spec("axis", lambda x: np.nancumsum(x, axis=0), [(4, 2)], _with_nans)],
    np.nancumprod: [spec("nancumprod", lambda x: np.nancumprod(x, axis=1), [(2, 4)], _with_nans)],
    np.nanmedian: [
        spec("nanmedian", np.nanmedian, [(6,), (5,)], _with_nans, order=1),
        spec("axis keepdims", lambda x: np.nanmedian(x, axis=0, keepdims=True), [(6, 3)],
             _with_nans, order=1),  # fmt: skip
    ],
    np.nanquantile: [
        spec("nanquantile", lambda x: np.nanquantile(x, [0.2, 0.9]), [(7,)], _with_nans, order=1),
        spec("axis", lambda x: np.nanquantile(x, 0.3, axis=1), [(2, 6)], _with_nans, order=1),
    ],
    np.nanpercentile: [
        spec("nanpercentile", lambda x: np.nanpercentile(x, 75.0, axis=(0, 2)), [(3, 2, 2)],
             _with_nans, order=1),  # fmt: skip
    ],
    np.bincount: [
        spec("bincount", lambda w: np.bincount(np.array([0, 2, 2, 5]), w), [(4,)], _real),
        spec("minlength", lambda w: np.bincount(np.array([1, 1, 0]), weights=w, minlength=4),
             [(3,)], _real),  # fmt: skip
    ],
    np.histogramdd: [
        spec("histogramdd", lambda s: np.histogramdd(s, (2, 3)), [(9, 2)], _distinct, grad=False),
        spec("weights density", lambda s, w: np.histogramdd(s, 3, range=[(-1, 1)] * 3,
                                                            weights=w, density=True)[0],
             [((6, 3), (6,))], _frac, _pos),  # fmt: skip
        spec("edges", lambda s: np.histogramdd(s, 2)[1][0], [(5, 2)], _distinct),
        spec("list of coordinates", lambda x, y: np.histogramdd([x, y], 2), [((5,), (5,))],
             _distinct, _distinct, grad=False),  # fmt: skip
    ],
    np.histogram2d: [
        spec("histogram2d", lambda x, y: np.histogram2d(x, y, [2, 3]), [((7,), (7,))],
             _distinct, _distinct, grad=False),  # fmt: skip
        spec("edges array", lambda x, y, w: np.histogram2d(x, y, _BINS, weights=w)[0],
             [((8,), (8,), (8,))], _frac, _frac, _pos),  # fmt: skip
    ],
    np.geomspace: [
        spec("geomspace", lambda a, b: np.geomspace(a, b, 5), [((), ())], _pos, _pos),
        spec("negative no endpoint", lambda a: np.geomspace(-a, -3.0 * a, 4, endpoint=False),
             [()], _pos),  # fmt: skip
    ],
    np.unwrap: [
        spec("unwrap", np.unwrap, [(6,)], lambda rng, shape: rng.uniform(-9, 9, shape)),
        spec("axis period", lambda p: np.unwrap(p, axis=0, period=4.0), [(5, 2)],
             lambda rng, shape: rng.uniform(-5, 5, shape)),  # fmt: skip
    ],
    np.lexsort: [
        spec("lexsort", lambda a, b: np.lexsort((a, np.round(b))), [((6,), (6,))], _distinct,
             _integral, grad=False),  # fmt: skip
        spec("axis 0 constant key", lambda a: np.lexsort([a, np.array([[1, 0], [0, 0], [1, 1]])],
                                                         axis=0),
             [(3, 2)], _distinct, grad=False),  # fmt: skip
    ],
    np.i0: [  # scipy_special's bessel_i primitive
        spec("i0", np.i0, [(), (4,), (2, 3)], _real),
        unary(np.i0),
        spec("both series", np.i0, [(6,)], lambda rng, shape: rng.uniform(-60, 60, shape)),
        spec("at the switch and 0", lambda x: np.i0(x * np.array([0.0, 30.0, -30.0, 29.9, 30.1])),
             [()], lambda rng, shape: np.ones(shape), grad=False),  # fmt: skip
    ],
})  # fmt: skip
if hasattr(np, "matvec"):  # NumPy >= 2.2
    SPECS[np.matvec] = [spec("matvec", np.matvec, [((2, 3), (3,)), ((2, 2, 3), (1, 3))], _real,
                             _real)]  # fmt: skip
    SPECS[np.vecmat] = [spec("vecmat", np.vecmat, [((3,), (3, 2)), ((2, 3), (2, 3, 2))], _real,
                             _real)]  # fmt: skip
if hasattr(np, "unstack"):  # NumPy >= 2.1
    SPECS[np.unstack] = [
        spec("unstack", lambda x: np.unstack(x, axis=1), [(2, 3)], _real, grad=False),
        spec("restacked", lambda x: np.stack(np.unstack(x)[::-1]), [(3, 2)], _real),
    ]
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


# =============================================================================================
# Floating-point anatomy at special values, bit for bit; errors of the breadth functions


@pytest.mark.parametrize("dtype", [F64, F32])
def test_floating_point_anatomy_matches_numpy_bit_for_bit(dtype):
    info = np.finfo(dtype)
    specials = [0.0, -0.0, 1.0, -1.0, 0.75, 3.0, -5.5, 0.125, info.max, -info.max, info.tiny,
                info.smallest_subnormal, -3 * info.smallest_subnormal, np.inf, -np.inf, np.nan,
                1e-30, 7e20, np.nextafter(dtype.type(4), dtype.type(0))]  # fmt: skip
    x = np.array(specials, dtype=dtype)
    y = np.roll(x, 3)
    cases = {
        "frexp": (np.frexp, (x,)),
        "modf": (np.modf, (x,)),
        "signbit": (np.signbit, (x,)),
        "spacing": (np.spacing, (x,)),
        "nextafter": (np.nextafter, (x, y)),
        "nextafter to 0": (lambda x: np.nextafter(x, 0.0), (x,)),
        "ldexp": (np.ldexp, (x, np.arange(len(x)) * 7 - 60)),
    }
    for name, (fn, args) in cases.items():
        with np.errstate(all="ignore"):
            want = fn(*args)
        got = tg.jit(fn)(*args)
        for g, w in zip(_leaves(got), _leaves(want), strict=True):
            g = np.asarray(g)
            assert g.dtype == w.dtype, name
            np.testing.assert_array_equal(g, w, err_msg=name)
            np.testing.assert_array_equal(np.signbit(g), np.signbit(w), err_msg=name)


X3 = np.array([0.5, 1.5, -2.0])


@pytest.mark.parametrize(
    "fn, words",
    [
        (lambda x: np.insert(x, np.argmax(x), 1.0), "traced index"),
        (lambda x: np.compress(x > 0, x), "traced condition"),
        (lambda x: np.bincount(np.argsort(x)), "bin numbers as a NumPy array"),
        (lambda x: np.arange(np.argmax(x), like=x), "shape would depend"),
        (lambda x: np.histogram(x, bins="auto"), "number of bins"),
        (lambda x: np.geomspace(x, 2 * x), "array endpoints"),
        (lambda x: np.put(np.zeros(3), [0], x[0]), "cannot hold them"),
    ],
)  # fmt: skip
def test_breadth_functions_explain_what_cannot_be_traced(fn, words):
    with pytest.raises(tg.UnsupportedNumpyFunction, match=words):
        tg.jit(fn)(X3)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: np.rollaxis(x, 3),
        lambda x: np.choose(np.array([0, 2, 1]), [x, x]),
        lambda x: np.digitize(x, np.array([0.0, 2.0, 1.0])),
        lambda x: np.histogram(x, 3, range=(1.0, -1.0)),
        lambda x: np.apply_along_axis(np.sum, 0, np.zeros((2, 0)) + x[0]),
    ],
)  # fmt: skip
def test_breadth_functions_reject_what_numpy_rejects(fn):
    with pytest.raises((ValueError, IndexError)):
        fn(X3)  # NumPy itself
    with pytest.raises((ValueError, IndexError, tg.ShapeError)):
        tg.jit(fn)(X3)
