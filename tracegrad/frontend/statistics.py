"""Statistics on traced values: order statistics (median, quantiles), NaN-aware extrema,
variances and products, interpolation, polynomials, integration, covariance and numerical
gradients.  Each is a composition of traced functions, so gradients come from theirs."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ShapeError, UnsupportedNumpyFunction
from .elementwise import (
    abs2,
    add,
    clip,
    conjugate,
    divide,
    equal,
    floor,
    greater,
    greater_equal,
    isnan,
    less,
    logical_not,
    maximum,
    minimum,
    multiply,
    sqrt,
    subtract,
    where,
    zeros_like,
)
from .indexing import along, getitem, take, take_along_axis
from .products import matmul
from .promotion import asarray_like, cast, dtype_of, is_python_scalar, no_out, shape_of
from .rearranging import diag
from .reductions import amax, amin, mean, prod, sum
from .shapes import (
    atleast_2d,
    concatenate,
    expand_dims,
    moveaxis,
    reshape,
    squeeze,
    transpose,
)
from .sorting import sort

# =============================================================================================
# Order statistics


def _floating(x: Any) -> Any:
    x = asarray_like(x)
    return x if dtype_of(x).kind in "fc" else cast(x, np.float64)


def _axes_in_order(axis: Any, ndim: int) -> list[int]:
    """``axis`` (None, an int or a sequence) as non-negative axes in the order given."""
    if axis is None:
        return list(range(ndim))
    axes = [axis] if isinstance(axis, int | np.integer) else list(axis)
    for a in axes:
        if not -ndim <= int(a) < ndim:
            raise ShapeError(f"axis {a} is out of bounds for an array of dimension {ndim}")
    return [int(a) % ndim for a in axes]


def _slices(a: Any, q: Any, axis: Any, keepdims: bool, method: str, name: str) -> tuple:
    """The checked quantile arguments: ``a``'s reduced axes merged into one last axis of
    length ``n``, ``q`` as an array, the result dtype, ``n`` and the result's shape."""
    if method != "linear":
        raise UnsupportedNumpyFunction(f"np.{name}(method={method!r}): only 'linear' is supported")
    a = _floating(a)
    shape = shape_of(a)
    axes = sorted(_axes_in_order(axis, len(shape)))
    q_array = np.asarray(q, dtype=np.float64)
    if q_array.ndim > 1 or np.any((q_array < 0) | (q_array > 1)):
        raise ValueError(f"np.{name}: quantiles must be a scalar or 1-d, in range [0, 1]")
    dtype = np.result_type(dtype_of(a), q if is_python_scalar(q) else np.asarray(q).dtype)
    kept = [d for i, d in enumerate(shape) if i not in axes]
    n = math.prod(shape[i] for i in axes)
    merged = reshape(moveaxis(a, axes, list(range(len(shape) - len(axes), len(shape)))),
                     (*kept, n))  # fmt: skip
    out_shape = tuple(1 if i in axes else d for i, d in enumerate(shape)) if keepdims else kept
    return merged, q_array, dtype, n, tuple(out_shape)


def _quantile(a: Any, q: Any, axis: Any, keepdims: bool, method: str, name: str) -> Any:
    """NumPy's 'linear' quantile: sort along the reduced axes, then interpolate between the
    two neighbours of the virtual index ``q * (n - 1)``."""
    merged, q_array, dtype, n, out_shape = _slices(a, q, axis, keepdims, method, name)
    ordered = cast(sort(merged, axis=-1), dtype)
    position = np.atleast_1d(q_array) * (n - 1)
    lo = np.floor(position).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    if name == "median":  # NumPy averages the middle pair, or takes the middle one
        hi = np.where(position == lo, lo, hi)
    below, above = take(ordered, lo, axis=-1), take(ordered, hi, axis=-1)
    result = _lerp(below, above, (position - lo).astype(dtype), name == "median")
    result = moveaxis(result, -1, 0)
    # As NumPy: a slice holding a NaN has NaN quantiles (sorting put its NaNs last).
    result = where(isnan(getitem(ordered, (..., -1))), np.nan, result)
    return reshape(result, (*q_array.shape, *out_shape))


def _lerp(below: Any, above: Any, t: np.ndarray, midpoint: bool) -> Any:
    """Between the neighbours, from the nearer one as NumPy does (exact at the ends and with
    infinities); ``midpoint``: their mean, as np.median computes it."""
    if midpoint:
        return divide(add(below, above), 2.0)
    step = subtract(above, below)
    return where(t >= 0.5, subtract(above, multiply(step, 1 - t)), add(below, multiply(step, t)))


def quantile(a: Any, q: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False,
             method: str = "linear", keepdims: bool = False, **kwargs: Any) -> Any:  # fmt: skip
    no_out("quantile", out)
    _no_weights("quantile", kwargs)
    return _quantile(a, q, axis, keepdims, method, "quantile")


def percentile(a: Any, q: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False,
               method: str = "linear", keepdims: bool = False, **kwargs: Any) -> Any:  # fmt: skip
    no_out("percentile", out)
    _no_weights("percentile", kwargs)
    fraction = q / 100 if is_python_scalar(q) else np.true_divide(q, 100)
    return _quantile(a, fraction, axis, keepdims, method, "percentile")


def median(a: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False,
           keepdims: bool = False) -> Any:  # fmt: skip
    no_out("median", out)
    return _quantile(a, 0.5, axis, keepdims, "linear", "median")


def _no_weights(name: str, kwargs: dict[str, Any]) -> None:
    given = sorted(k for k, v in kwargs.items() if v is not None)
    if given:
        raise UnsupportedNumpyFunction(f"np.{name}: arguments {given} are not supported")


# =============================================================================================
# NaN-aware reductions


def _nan_extremum(pick: Callable[..., Any], fill: float, name: str) -> Callable[..., Any]:
    def fn(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False, **kwargs: Any) -> Any:
        no_out(name, out)
        _no_weights(name, kwargs)
        a = asarray_like(a)
        missing = isnan(a)
        result = pick(where(missing, fill, a), axis=axis, keepdims=keepdims)
        all_missing = equal(sum(logical_not(missing), axis=axis, keepdims=keepdims), 0)
        return where(all_missing, np.nan, result)  # NumPy's answer for an all-NaN slice

    fn.__name__ = name
    return fn


nanmax = _nan_extremum(amax, -np.inf, "nanmax")
nanmin = _nan_extremum(amin, np.inf, "nanmin")


def nanprod(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
            **kwargs: Any) -> Any:  # fmt: skip
    no_out("nanprod", out)
    _no_weights("nanprod", kwargs)
    return prod(where(isnan(a), 1, a), axis=axis, dtype=dtype, keepdims=keepdims)


def nanvar(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: Any = 0,
           keepdims: bool = False, **kwargs: Any) -> Any:  # fmt: skip
    no_out("nanvar", out)
    _no_weights("nanvar", kwargs)
    a = _floating(a) if dtype is None else cast(a, dtype)
    valid = logical_not(isnan(a))
    count = sum(cast(valid, dtype_of(a)), axis=axis, keepdims=True)
    centre = divide(sum(where(valid, a, 0), axis=axis, keepdims=True), count)
    centred = where(valid, subtract(a, centre), 0)
    squares = sum(abs2(centred), axis=axis, keepdims=True)
    dof = subtract(count, ddof)
    result = where(greater(dof, 0), divide(squares, dof), np.nan)  # NumPy: NaN where dof <= 0
    if keepdims:
        return result
    return squeeze(result, axis=axis) if axis is not None else reshape(result, ())


def nanstd(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: Any = 0,
           keepdims: bool = False, **kwargs: Any) -> Any:  # fmt: skip
    return sqrt(nanvar(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims, **kwargs))


def _nan_quantile(a: Any, q: Any, axis: Any, keepdims: bool, method: str, name: str) -> Any:
    """A quantile of each slice's non-NaN values: as ``_quantile``, with the virtual index
    ``q * (count - 1)`` traced, since the count of values differs between slices."""
    merged, q_array, dtype, n, out_shape = _slices(a, q, axis, keepdims, method, name)
    ordered = cast(sort(merged, axis=-1), dtype)  # NaNs sort last
    count = cast(sum(logical_not(isnan(merged)), axis=-1, keepdims=True), dtype)
    last = maximum(subtract(count, 1), 0)
    position = multiply(last, np.atleast_1d(q_array).astype(dtype))
    lo = floor(position)
    hi = minimum(add(lo, 1), last)
    below = take_along_axis(ordered, cast(lo, np.intp), -1)
    above = take_along_axis(ordered, cast(hi, np.intp), -1)
    t = subtract(position, lo)
    if name == "nanmedian":  # the middle value, or the mean of the middle pair
        result = where(equal(t, 0), below, divide(add(below, above), 2.0))
    else:
        step = subtract(above, below)
        result = where(greater_equal(t, 0.5), subtract(above, multiply(step, subtract(1, t))),
                       add(below, multiply(step, t)))  # fmt: skip
    result = moveaxis(where(equal(count, 0), np.nan, result), -1, 0)  # all-NaN: NaN
    return reshape(result, (*q_array.shape, *out_shape))


def nanquantile(a: Any, q: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False,
                method: str = "linear", keepdims: bool = False, **kwargs: Any) -> Any:  # fmt: skip
    no_out("nanquantile", out)
    _no_weights("nanquantile", kwargs)
    return _nan_quantile(a, q, axis, keepdims, method, "nanquantile")


def nanpercentile(a: Any, q: Any, axis: Any = None, out: Any = None,
                  overwrite_input: bool = False, method: str = "linear", keepdims: bool = False,
                  **kwargs: Any) -> Any:  # fmt: skip
    no_out("nanpercentile", out)
    _no_weights("nanpercentile", kwargs)
    fraction = q / 100 if is_python_scalar(q) else np.true_divide(q, 100)
    return _nan_quantile(a, fraction, axis, keepdims, method, "nanpercentile")


def nanmedian(a: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False,
              keepdims: bool = False) -> Any:  # fmt: skip
    no_out("nanmedian", out)
    return _nan_quantile(a, 0.5, axis, keepdims, "linear", "nanmedian")


# =============================================================================================
# Interpolation, polynomials, integration


def interp(x: Any, xp: Any, fp: Any, left: Any = None, right: Any = None,
           period: Any = None) -> Any:  # fmt: skip
    """Piecewise-linear interpolation; ``xp`` must be increasing (as NumPy asks, unchecked)."""
    if period is not None:
        raise UnsupportedNumpyFunction("np.interp(period=...) is not supported")
    x, xp, fp = (cast(asarray_like(v), np.float64) for v in (x, xp, fp))
    n = shape_of(xp)[0] if len(shape_of(xp)) == 1 else -1
    if n < 1 or shape_of(fp) != (n,):
        raise ValueError("np.interp: xp and fp must be 1-d sequences of one, non-zero length")
    first, last = getitem(fp, 0), getitem(fp, n - 1)
    if n == 1:
        result = add(zeros_like(x), first)
    else:
        # The interval of x: how many knots lie at or below it, less one, kept in range.
        count = sum(greater_equal(expand_dims(x, -1), xp), axis=-1)
        i = clip(subtract(count, 1), 0, n - 2)
        x0, f0 = take(xp, i), take(fp, i)
        slope = divide(subtract(take(fp, add(i, 1)), f0), subtract(take(xp, add(i, 1)), x0))
        result = add(f0, multiply(slope, subtract(x, x0)))
        result = where(equal(x, getitem(xp, n - 1)), last, result)
    result = where(less(x, getitem(xp, 0)), first if left is None else left, result)
    return where(greater(x, getitem(xp, n - 1)), last if right is None else right, result)


def polyval(p: Any, x: Any) -> Any:
    """Horner's scheme, from the highest power down."""
    p, x = asarray_like(p), asarray_like(x)
    y = zeros_like(x)
    for k in range(shape_of(p)[0]):
        y = add(multiply(y, x), getitem(p, k))
    return y


def trapezoid(y: Any, x: Any = None, dx: Any = 1.0, axis: int = -1) -> Any:
    y = asarray_like(y)
    ndim = len(shape_of(y))
    head = getitem(y, along(axis, ndim, slice(1, None)))
    tail = getitem(y, along(axis, ndim, slice(None, -1)))
    if x is None:
        d = dx
    else:
        x = asarray_like(x)
        d = subtract(getitem(x, slice(1, None)), getitem(x, slice(None, -1)))
        if len(shape_of(x)) == 1 and ndim > 1:
            d = reshape(d, tuple(-1 if i == axis % ndim else 1 for i in range(ndim)))
        elif len(shape_of(x)) > 1:
            d = subtract(getitem(x, along(axis, ndim, slice(1, None))),
                         getitem(x, along(axis, ndim, slice(None, -1))))  # fmt: skip
    return sum(divide(multiply(d, add(head, tail)), 2.0), axis=axis)


# =============================================================================================
# Covariance and correlation


def cov(m: Any, y: Any = None, rowvar: bool = True, bias: bool = False, ddof: Any = None,
        fweights: Any = None, aweights: Any = None, *, dtype: Any = None) -> Any:  # fmt: skip
    if fweights is not None or aweights is not None:
        raise UnsupportedNumpyFunction("np.cov(fweights=, aweights=) is not supported")
    if len(shape_of(m)) > 2:
        raise ValueError("np.cov: m has more than 2 dimensions")
    if dtype is None:
        dtype = np.result_type(dtype_of(m), np.float64)
    rows = [atleast_2d(cast(asarray_like(m), dtype))]
    if y is not None:
        rows.append(atleast_2d(cast(asarray_like(y), dtype)))
    if not rowvar:
        rows = [r if shape_of(r)[0] == 1 else transpose(r) for r in rows]
    data = concatenate(rows, axis=0) if len(rows) > 1 else rows[0]
    ddof = (0 if bias else 1) if ddof is None else ddof
    centred = subtract(data, mean(data, axis=1, keepdims=True))
    products = matmul(centred, conjugate(transpose(centred)))
    return squeeze(divide(products, float(shape_of(data)[1] - ddof)))


def corrcoef(x: Any, y: Any = None, rowvar: bool = True, *, dtype: Any = None,
             **kwargs: Any) -> Any:  # fmt: skip
    c = cov(x, y, rowvar=rowvar, dtype=dtype)
    if not shape_of(c):
        return divide(c, c)
    scale = sqrt(diag(c))
    c = divide(divide(c, expand_dims(scale, 1)), expand_dims(scale, 0))
    return clip(c, -1, 1)


# =============================================================================================
# Numerical gradients


def _spacings(varargs: tuple, axes: list[int]) -> list[float]:
    if not varargs:
        return [1.0] * len(axes)
    if len(varargs) == 1 and np.ndim(varargs[0]) == 0:
        return [float(varargs[0])] * len(axes)
    if len(varargs) != len(axes):
        raise TypeError("np.gradient: invalid number of arguments")
    for v in varargs:
        if np.ndim(v) != 0:
            raise UnsupportedNumpyFunction(
                "np.gradient with coordinate arrays is not supported: pass uniform spacings"
            )
    return [float(v) for v in varargs]


def gradient(f: Any, *varargs: Any, axis: Any = None, edge_order: int = 1) -> Any:
    """Central differences inside, one-sided at the edges, for uniform spacings."""
    if edge_order != 1:
        raise UnsupportedNumpyFunction("np.gradient(edge_order=2) is not supported")
    f = _floating(f)
    shape = shape_of(f)
    axes = _axes_in_order(axis, len(shape))
    results = []
    for a, h in zip(axes, _spacings(varargs, axes), strict=True):
        if shape[a] < 2:
            raise ValueError("np.gradient: each axis needs at least 2 samples (edge_order + 1)")

        def part(start: Any, stop: Any, a: int = a) -> Any:
            return getitem(f, along(a, len(shape), slice(start, stop)))

        inner = divide(subtract(part(2, None), part(None, -2)), 2.0 * h)
        first = divide(subtract(part(1, 2), part(0, 1)), h)
        last = divide(subtract(part(-1, None), part(-2, -1)), h)
        results.append(concatenate([first, inner, last], axis=a))
    return results[0] if len(results) == 1 else tuple(results)


IMPLEMENTS: dict[Callable[..., Any], Callable[..., Any]] = {
    np.median: median,
    np.quantile: quantile,
    np.percentile: percentile,
    np.nanmax: nanmax,
    np.nanmedian: nanmedian,
    np.nanquantile: nanquantile,
    np.nanpercentile: nanpercentile,
    np.nanmin: nanmin,
    np.nanprod: nanprod,
    np.nanvar: nanvar,
    np.nanstd: nanstd,
    np.interp: interp,
    np.polyval: polyval,
    np.trapezoid: trapezoid,
    np.cov: cov,
    np.corrcoef: corrcoef,
    np.gradient: gradient,
}
