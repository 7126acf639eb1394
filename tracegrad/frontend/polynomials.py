"""Polynomial arithmetic on coefficient arrays (highest power first, as ``np.poly*``),
least-squares polynomial fits, Vandermonde matrices, correlation and differences of 1-d
sequences."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import UnsupportedNumpyFunction
from .elementwise import (
    absolute,
    add,
    divide,
    equal,
    greater,
    less,
    logical_and,
    mod,
    multiply,
    negative,
    ones_like,
    power,
    sqrt,
    subtract,
    where,
)
from .indexing import along, getitem
from .linalg import inv, lstsq
from .products import convolve, matmul, outer
from .promotion import asarray_like, cast, dtype_of, promote, shape_of
from .rearranging import diff, flip, pad
from .reductions import cumsum, sum
from .shapes import atleast_1d, concatenate, ravel, reshape, stack, transpose


def _coefficients(p: Any, name: str) -> Any:
    p = atleast_1d(asarray_like(p))
    if len(shape_of(p)) != 1:
        raise ValueError(f"np.{name}: coefficients must be a 1-d array")
    return p


def _aligned(a1: Any, a2: Any, name: str) -> tuple[Any, Any]:
    """Both coefficient arrays padded with leading zeros to one length."""
    a1, a2 = _coefficients(a1, name), _coefficients(a2, name)
    n = max(shape_of(a1)[0], shape_of(a2)[0])
    a1, a2 = promote(a1, a2)
    return (pad(a1, ((n - shape_of(a1)[0], 0),)), pad(a2, ((n - shape_of(a2)[0], 0),)))


def polyadd(a1: Any, a2: Any) -> Any:
    a1, a2 = _aligned(a1, a2, "polyadd")
    return add(a1, a2)


def polysub(a1: Any, a2: Any) -> Any:
    a1, a2 = _aligned(a1, a2, "polysub")
    return subtract(a1, a2)


def polymul(a1: Any, a2: Any) -> Any:
    a1, a2 = promote(_coefficients(a1, "polymul"), _coefficients(a2, "polymul"))
    return convolve(a1, a2)


def polyder(p: Any, m: int = 1) -> Any:
    if m < 0:
        raise ValueError("np.polyder: the order of derivative must be non-negative")
    p = _coefficients(p, "polyder")
    for _ in range(m):
        n = shape_of(p)[0] - 1
        p = multiply(getitem(p, slice(None, -1)), np.arange(n, 0, -1))
    return p


def polyint(p: Any, m: int = 1, k: Any = None) -> Any:
    if m < 0:
        raise ValueError("np.polyint: the order of integral must be non-negative")
    p = _coefficients(p, "polyint")
    constants = np.zeros(m) if k is None else np.broadcast_to(np.atleast_1d(k), (m,))
    if dtype_of(p).kind != "f":
        p = cast(p, np.float64)
    for j in range(m):
        n = shape_of(p)[0]
        p = concatenate([divide(p, np.arange(n, 0, -1.0)), cast(constants[j : j + 1], dtype_of(p))])
    return p


def poly(seq_of_zeros: Any) -> Any:
    """The monic polynomial with the given roots (a 1-d sequence)."""
    roots = asarray_like(seq_of_zeros)
    if len(shape_of(roots)) != 1:
        raise UnsupportedNumpyFunction(
            "np.poly of a matrix needs its eigenvalues, which tracegrad does not trace; pass "
            "the roots as a 1-d array."
        )
    dtype = dtype_of(roots) if dtype_of(roots).kind == "f" else np.dtype(np.float64)
    result: Any = np.ones(1, dtype=dtype)
    for j in range(shape_of(roots)[0]):
        root = getitem(roots, slice(j, j + 1))
        result = convolve(result, concatenate([ones_like(root), negative(root)]))
    return result


def vander(x: Any, N: int | None = None, increasing: bool = False) -> Any:
    x = asarray_like(x)
    if len(shape_of(x)) != 1:
        raise ValueError("np.vander: x must be a one-dimensional array or sequence")
    x = cast(x, np.promote_types(dtype_of(x), int))  # as NumPy: float32 gives float64
    n = shape_of(x)[0] if N is None else int(N)
    powers = range(n) if increasing else range(n - 1, -1, -1)
    columns = [ones_like(x) if k == 0 else power(x, k) for k in powers]
    return stack(columns, axis=1) if columns else np.empty((shape_of(x)[0], 0), dtype_of(x))


def _floating(x: Any) -> Any:
    """``x + 0.0`` as NumPy's polyfit takes it: floats keep their dtype, the rest float64."""
    x = asarray_like(x)
    return x if dtype_of(x).kind in "fc" else cast(x, np.float64)


def polyfit(
    x: Any,
    y: Any,
    deg: int,
    rcond: Any = None,
    full: bool = False,
    w: Any = None,
    cov: Any = False,
) -> Any:
    """The least-squares polynomial through (x, y), highest power first: ``lstsq`` of the
    Vandermonde matrix with its columns scaled to unit norm, as NumPy. NumPy's RankWarning
    for a rank-deficient fit is not raised (the rank is a traced value); ``full=True``
    returns it."""
    order = operator.index(deg) + 1
    x, y = _fit_points(x, y, order)
    points = shape_of(x)[0]
    if rcond is None:
        rcond = points * np.finfo(dtype_of(x)).eps
    lhs, rhs = vander(x, order), y
    if w is not None:
        lhs, rhs = _weighted(lhs, rhs, _floating(w))
    scale = sqrt(sum(multiply(lhs, lhs), axis=0))
    lhs = divide(lhs, scale)
    c, residuals, rank, s = lstsq(lhs, rhs, rcond)
    c = transpose(divide(transpose(c), scale))
    if full:
        return c, residuals, rank, s, rcond
    if not cov:
        return c
    base = divide(inv(matmul(transpose(lhs), lhs)), outer(scale, scale))
    if len(shape_of(y)) == 2:  # one matrix per column of y (NumPy: even when unscaled)
        base = reshape(base, (order, order, 1))
    if cov == "unscaled":
        return c, base
    if points <= order:
        raise ValueError(
            "the number of data points must exceed order to scale the covariance matrix"
        )
    return c, multiply(base, divide(residuals, points - order))


def _fit_points(x: Any, y: Any, order: int) -> tuple[Any, Any]:
    """polyfit's x and y as floats, with NumPy's errors for the wrong shapes."""
    x, y = _floating(x), _floating(y)
    if order < 1:
        raise ValueError("expected deg >= 0")
    if len(shape_of(x)) != 1:
        raise TypeError("expected 1D vector for x")
    if shape_of(x)[0] == 0:
        raise TypeError("expected non-empty vector for x")
    if len(shape_of(y)) not in (1, 2):
        raise TypeError("expected 1D or 2D array for y")
    if shape_of(x)[0] != shape_of(y)[0]:
        raise TypeError("expected x and y to have same length")
    return x, y


def _weighted(lhs: Any, rhs: Any, w: Any) -> tuple[Any, Any]:
    """The rows of polyfit's system times the weights ``w``."""
    points = shape_of(lhs)[0]
    if len(shape_of(w)) != 1:
        raise TypeError("expected a 1-d array for weights")
    if shape_of(w)[0] != points:
        raise TypeError("expected w and y to have the same length")
    column = reshape(w, (points, 1))
    return multiply(lhs, column), multiply(rhs, column if len(shape_of(rhs)) == 2 else w)


def correlate(a: Any, v: Any, mode: str = "valid") -> Any:
    """``c[k] = sum_n a[n + k] v[n]``: a convolution with ``v`` reversed."""
    a, v = promote(asarray_like(a), asarray_like(v))
    if shape_of(v)[0] > shape_of(a)[0]:  # NumPy swaps the operands and reverses the result
        return flip(convolve(v, flip(a), mode=mode))
    return convolve(a, flip(v), mode=mode)


def ediff1d(ary: Any, to_end: Any = None, to_begin: Any = None) -> Any:
    flat = ravel(asarray_like(ary))
    parts = [subtract(getitem(flat, slice(1, None)), getitem(flat, slice(None, -1)))]
    if to_begin is not None:
        parts.insert(0, cast(ravel(asarray_like(to_begin)), dtype_of(flat)))
    if to_end is not None:
        parts.append(cast(ravel(asarray_like(to_end)), dtype_of(flat)))
    return concatenate(parts) if len(parts) > 1 else parts[0]


def unwrap(p: Any, discont: Any = None, axis: int = -1, *, period: float = 2 * np.pi) -> Any:
    """Remove jumps larger than ``discont`` by adding multiples of ``period``: NumPy's
    steps, with the corrections (piecewise constant) added by a cumulative sum."""
    p = asarray_like(p)
    if dtype_of(p).kind != "f":
        p = cast(p, np.float64)
    ndim = len(shape_of(p))
    dd = diff(p, axis=axis)
    discont = period / 2 if discont is None else discont
    high = period / 2
    dd_mod = add(mod(add(dd, high), period), -high)
    # A jump of exactly -period/2 taken upwards becomes +period/2, as in NumPy.
    dd_mod = where(logical_and(equal(dd_mod, -high), greater(dd, 0)), high, dd_mod)
    correction = where(less(absolute(dd), discont), 0.0, subtract(dd_mod, dd))
    head = getitem(p, along(axis, ndim, slice(None, 1)))
    rest = add(getitem(p, along(axis, ndim, slice(1, None))), cumsum(correction, axis=axis))
    return concatenate([head, rest], axis=axis)


IMPLEMENTS: dict[Callable[..., Any], Callable[..., Any]] = {
    np.polyadd: polyadd,
    np.polysub: polysub,
    np.polymul: polymul,
    np.polyder: polyder,
    np.polyint: polyint,
    np.poly: poly,
    np.vander: vander,
    np.polyfit: polyfit,
    np.correlate: correlate,
    np.ediff1d: ediff1d,
    np.unwrap: unwrap,
}
