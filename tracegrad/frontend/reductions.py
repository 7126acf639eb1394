"""Reductions on traced values: sums, products, means and variances, extrema, norms,
logical and NaN-aware reductions, and cumulative sums and products."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core import primitives as P
from ..core.complex_primitives import real_dtype
from ..errors import ShapeError, UnsupportedNumpyFunction
from .elementwise import (
    abs2,
    absolute,
    divide,
    equal,
    greater,
    isnan,
    logical_not,
    multiply,
    norm_sqrt,
    not_equal,
    power,
    sqrt,
    subtract,
    where,
)
from .promotion import (
    asarray_like,
    cast,
    dtype_of,
    no_out,
    normalize_axes,
    reject_kwargs,
    shape_of,
)
from .shapes import broadcast_to, concatenate, ravel, reshape

# =============================================================================================
# Helpers


def keep_dims(x: Any, result: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
    """``result`` reduced from ``x`` over ``axes``, with those axes kept as 1 if asked."""
    if not keepdims:
        return result
    shape = tuple(1 if i in axes else d for i, d in enumerate(shape_of(x)))
    return reshape(result, shape)


def _accumulator(x: Any, dtype: Any) -> Any:
    """``x`` in the dtype NumPy accumulates it in (bools and small integers widen)."""
    x = asarray_like(x)
    if dtype is not None:
        return cast(x, dtype)
    kind, size = dtype_of(x).kind, dtype_of(x).itemsize
    if kind == "b" or (kind == "i" and size < 8):
        return cast(x, np.int64)  # NumPy sums bools and small ints in the platform integer
    if kind == "u" and size < 8:
        return cast(x, np.uint64)
    return x


def _floating(x: Any, dtype: Any) -> Any:
    """``x`` in the dtype NumPy averages it in: ``dtype`` if given, else a float."""
    x = asarray_like(x)
    if dtype is not None:
        return cast(x, dtype)
    return x if dtype_of(x).kind in "fc" else cast(x, np.float64)


def _count(x: Any, axes: tuple[int, ...]) -> float:
    shape = shape_of(x)
    return float(math.prod(shape[a] for a in axes))


# =============================================================================================
# Sums, products, means and variances


def sum(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
        **kwargs: Any) -> Any:  # fmt: skip
    no_out("sum", out)
    reject_kwargs("sum", kwargs)
    x = _accumulator(x, dtype)
    axes = normalize_axes(axis, len(shape_of(x)))
    result = P.reduce_sum(x, axes=axes) if axes else x
    return keep_dims(x, result, axes, keepdims)


def prod(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
         **kwargs: Any) -> Any:  # fmt: skip
    no_out("prod", out)
    initial = kwargs.pop("initial", None)
    reject_kwargs("prod", kwargs)
    x = _accumulator(x, dtype)
    axes = normalize_axes(axis, len(shape_of(x)))
    result = P.reduce_prod(x, axes=axes) if axes else x
    if initial is not None and initial is not np._NoValue:
        result = multiply(result, initial)
    return keep_dims(x, result, axes, keepdims)


def mean(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
         **kwargs: Any) -> Any:  # fmt: skip
    no_out("mean", out)
    reject_kwargs("mean", kwargs)
    x = _floating(x, dtype)
    axes = normalize_axes(axis, len(shape_of(x)))
    return divide(sum(x, axis=axes, keepdims=keepdims), _count(x, axes))


def var(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: int = 0,
        keepdims: bool = False, **kwargs: Any) -> Any:  # fmt: skip
    no_out("var", out)
    reject_kwargs("var", kwargs)
    x = _floating(x, dtype)
    axes = normalize_axes(axis, len(shape_of(x)))
    centred = x - mean(x, axis=axes, keepdims=True)
    return divide(sum(abs2(centred), axis=axes, keepdims=keepdims), _count(x, axes) - ddof)


def std(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: int = 0,
        keepdims: bool = False, **kwargs: Any) -> Any:  # fmt: skip
    variance = var(x, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims, **kwargs)
    if ddof == 0 and _count(x, normalize_axes(axis, len(shape_of(x)))) == 1:
        # One element: the deviation is 0 whatever x is, so the gradient is 0 (the square
        # root's derivative at 0 would turn it into nan).
        return variance
    return sqrt(variance)


def average(x: Any, axis: Any = None, weights: Any = None, returned: bool = False,
            keepdims: bool = False) -> Any:  # fmt: skip
    if returned:
        raise UnsupportedNumpyFunction("np.average(..., returned=True)")
    if weights is None:
        return mean(x, axis=axis, keepdims=keepdims)
    shape = shape_of(x)
    if len(shape_of(weights)) == 1 and len(shape) > 1 and isinstance(axis, int):
        # NumPy lays 1-D weights along ``axis``.
        weights = reshape(
            weights, tuple(-1 if i == axis % len(shape) else 1 for i in range(len(shape)))
        )
    total = sum(multiply(x, weights), axis=axis, keepdims=keepdims)
    w = broadcast_to(weights, shape_of(x)) if shape_of(weights) != shape_of(x) else weights
    return divide(total, sum(w, axis=axis, keepdims=keepdims))


def nansum(
    x: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False
) -> Any:
    no_out("nansum", out)
    return sum(where(isnan(x), 0.0, x), axis=axis, dtype=dtype, keepdims=keepdims)


def nanmean(
    x: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False
) -> Any:
    no_out("nanmean", out)
    valid = logical_not(isnan(x))
    total = sum(where(valid, x, 0.0), axis=axis, keepdims=keepdims)
    return divide(total, sum(cast(valid, dtype_of(total)), axis=axis, keepdims=keepdims))


# =============================================================================================
# Extrema and logical reductions


def _extremum(prim: P.Primitive, name: str) -> Callable[..., Any]:
    def fn(x: Any, axis: Any = None, out: Any = None, keepdims: bool = False,
           **kwargs: Any) -> Any:  # fmt: skip
        no_out(name, out)
        reject_kwargs(name, kwargs)
        x = asarray_like(x)
        axes = normalize_axes(axis, len(shape_of(x)))
        result = prim(x, axes=axes) if axes else x
        return keep_dims(x, result, axes, keepdims)

    fn.__name__ = name
    return fn


amax = _extremum(P.reduce_max, "max")
amin = _extremum(P.reduce_min, "min")


def ptp(x: Any, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
    no_out("ptp", out)
    return subtract(amax(x, axis=axis, keepdims=keepdims), amin(x, axis=axis, keepdims=keepdims))


def all_(x: Any, axis: Any = None, out: Any = None, keepdims: bool = False, **kwargs: Any) -> Any:
    no_out("all", out)
    return equal(sum(logical_not(x), axis=axis, keepdims=keepdims), 0)


def any_(x: Any, axis: Any = None, out: Any = None, keepdims: bool = False, **kwargs: Any) -> Any:
    no_out("any", out)
    return greater(sum(cast(x, np.bool_), axis=axis, keepdims=keepdims), 0)


def count_nonzero(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return sum(not_equal(x, 0), axis=axis, keepdims=keepdims)


# =============================================================================================
# Norms


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:
    """Vector norms (any ord) and matrix norms 'fro', 1, -1, inf, -inf, as np.linalg.norm."""
    x = _floating(x, None)
    ndim = len(shape_of(x))
    if axis is None and ord is None:
        return keep_dims(x, norm_sqrt(sum(abs2(x))), tuple(range(ndim)), keepdims)
    if axis is None:
        if ndim not in (1, 2):
            raise ShapeError(f"np.linalg.norm: improper number of dimensions to norm ({ndim})")
        axis = tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    axes = tuple(int(a) % ndim for a in axes)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) != 2 or axes[0] == axes[1]:
        raise ShapeError(f"np.linalg.norm: improper axis {axis} for a norm")
    row, col = axes
    if ord in (None, "fro"):
        return norm_sqrt(sum(abs2(x), axis=axes, keepdims=keepdims))
    if ord in (1, -1, np.inf, -np.inf):
        # ord 1: the largest column sum of |x|; inf: the largest row sum.
        summed, other = (row, col) if ord in (1, -1) else (col, row)
        pick = amax if ord in (1, np.inf) else amin
        result = pick(sum(absolute(x), axis=summed, keepdims=True), axis=other, keepdims=True)
        if keepdims:
            return result
        return reshape(result, tuple(d for i, d in enumerate(shape_of(result)) if i not in axes))
    raise UnsupportedNumpyFunction(
        f"np.linalg.norm(ord={ord!r}) of a matrix: ord must be 'fro', 'nuc', 1, -1, 2, -2, "
        "np.inf or -np.inf."
    )


def _vector_norm(x: Any, ord: Any, axis: int, keepdims: bool) -> Any:
    if isinstance(ord, str):
        raise ValueError(f"np.linalg.norm: invalid norm order {ord!r} for vectors")
    if ord is None or ord == 2:
        return norm_sqrt(sum(abs2(x), axis=axis, keepdims=keepdims))
    if ord == np.inf:
        return amax(absolute(x), axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return amin(absolute(x), axis=axis, keepdims=keepdims)
    if ord == 0:  # the number of nonzero entries: no gradient
        count = sum(not_equal(x, 0), axis=axis, keepdims=keepdims)
        return cast(count, real_dtype(dtype_of(x)))  # real for complex x, as in NumPy
    if ord == 1:
        return sum(absolute(x), axis=axis, keepdims=keepdims)
    p = float(ord)
    return power(sum(power(absolute(x), p), axis=axis, keepdims=keepdims), 1.0 / p)


# =============================================================================================
# Cumulative sums and products


def _scan_axis(x: Any, axis: Any) -> tuple[Any, int]:
    if axis is None:
        return ravel(x), 0
    return x, normalize_axes(axis, len(shape_of(x)))[0]


def cumsum(x: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Any:
    no_out("cumsum", out)
    x, axis = _scan_axis(_accumulator(x, dtype), axis)
    return P.cumsum(x, axis=axis, reverse=False)


def cumprod(x: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Any:
    """Cumulative product as a linear recurrence: its gradient is exact where x has zeros."""
    no_out("cumprod", out)
    x, axis = _scan_axis(_accumulator(x, dtype), axis)
    return P.cumprod_along(x, axis)


def _cumulative(scan: Callable, identity: int, name: str) -> Callable:
    def fn(x: Any, /, *, axis: Any = None, dtype: Any = None, out: Any = None,
           include_initial: bool = False) -> Any:  # fmt: skip
        no_out(name, out)
        if axis is None and len(shape_of(x)) > 1:
            raise ShapeError(f"np.{name}: axis must be given for arrays of more than one axis")
        result = scan(x, axis=axis, dtype=dtype)
        if not include_initial:
            return result
        shape = shape_of(result)
        a = 0 if axis is None else normalize_axes(axis, len(shape))[0]
        first = np.full(shape[:a] + (1,) + shape[a + 1 :], identity, dtype_of(result))
        return concatenate([first, result], axis=a)

    fn.__name__ = name
    return fn


IMPLEMENTS: dict[Callable[..., Any], Callable[..., Any]] = {
    np.sum: sum,
    np.prod: prod,
    np.mean: mean,
    np.var: var,
    np.std: std,
    np.average: average,
    np.nansum: nansum,
    np.nanmean: nanmean,
    np.max: amax,
    np.amax: amax,
    np.min: amin,
    np.amin: amin,
    np.ptp: ptp,
    np.all: all_,
    np.any: any_,
    np.count_nonzero: count_nonzero,
    np.cumsum: cumsum,
    np.cumprod: cumprod,
}
if hasattr(np, "cumulative_sum"):  # NumPy >= 2.1
    IMPLEMENTS[np.cumulative_sum] = _cumulative(cumsum, 0, "cumulative_sum")
    IMPLEMENTS[np.cumulative_prod] = _cumulative(cumprod, 1, "cumulative_prod")
