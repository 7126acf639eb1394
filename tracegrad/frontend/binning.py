"""Membership, whole-array comparisons, bins and histograms, and functions applied along
axes (``apply_along_axis``, ``fftshift``) or skipping NaNs (``nanargmax``, ``nancumsum``).

Bin numbers and counts are piecewise constant: they carry no gradient.  A histogram's
edges depend on the data's extremes when no range is given, and have their gradient;
weighted counts are differentiable in the weights.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.tracing import Tracer
from ..errors import UnsupportedNumpyFunction
from .elementwise import (
    divide,
    equal,
    greater,
    greater_equal,
    isclose,
    isinf,
    isnan,
    less,
    less_equal,
    logical_and,
    logical_not,
    logical_or,
    multiply,
    where,
)
from .floating import signbit
from .indexing import getitem
from .promotion import asarray_like, cast, dtype_of, holds_tracer, promote, shape_of
from .rearranging import diff, roll
from .reductions import all_, amax, amin, any_, cumprod, cumsum, sum
from .shapes import expand_dims, linspace, moveaxis, ravel, reshape, stack
from .sorting import argmax, argmin

# =============================================================================================
# Membership and comparisons of whole arrays


def isin(element: Any, test_elements: Any, assume_unique: bool = False, invert: bool = False,
         *, kind: Any = None) -> Any:  # fmt: skip
    found = any_(equal(expand_dims(asarray_like(element), -1), ravel(asarray_like(test_elements))),
                 axis=-1)  # fmt: skip
    return logical_not(found) if invert else found


def isposinf(x: Any, out: Any = None) -> Any:
    return logical_and(isinf(x), logical_not(signbit(x)))


def isneginf(x: Any, out: Any = None) -> Any:
    return logical_and(isinf(x), signbit(x))


def allclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> Any:  # fmt: skip
    """A traced boolean (NumPy returns a Python bool, which a trace cannot know)."""
    return all_(isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def array_equal(a1: Any, a2: Any, equal_nan: bool = False) -> Any:
    if shape_of(a1) != shape_of(a2):
        return False
    same = equal(a1, a2)
    if equal_nan:
        same = logical_or(same, logical_and(isnan(a1), isnan(a2)))
    return all_(same)


def array_equiv(a1: Any, a2: Any) -> Any:
    try:
        np.broadcast_shapes(shape_of(a1), shape_of(a2))
    except ValueError:
        return False
    return all_(equal(a1, a2))


# =============================================================================================
# Bins and histograms


def digitize(x: Any, bins: Any, right: bool = False) -> Any:
    """The bin number of each value: how many edges lie at or below it (increasing edges),
    or above it (decreasing edges), with ``right`` moving the equality to the other side."""
    x, bins = asarray_like(x), asarray_like(bins)
    if len(shape_of(bins)) != 1:
        raise ValueError("np.digitize: bins must be 1-dimensional")
    column, edges = expand_dims(x, -1), bins
    below = sum(less(edges, column) if right else less_equal(edges, column), axis=-1)
    above = sum(greater_equal(edges, column) if right else greater(edges, column), axis=-1)
    if shape_of(bins)[0] == 0:
        return cast(below, np.intp)
    if not isinstance(bins, Tracer):
        steps = np.diff(bins)
        if not (np.all(steps >= 0) or np.all(steps <= 0)):
            raise ValueError("np.digitize: bins must be monotonically increasing or decreasing")
    increasing = greater_equal(getitem(bins, -1), getitem(bins, 0))
    return cast(where(increasing, below, above), np.intp)


def histogram_bin_edges(a: Any, bins: Any = 10, range: Any = None, weights: Any = None) -> Any:
    if not isinstance(bins, int | np.integer):
        if isinstance(bins, str):
            raise UnsupportedNumpyFunction(
                f"np.histogram(bins={bins!r}): the number of bins would depend on the data; "
                "pass an integer or the edges."
            )
        return asarray_like(bins)
    a = ravel(asarray_like(a))
    if range is not None:
        low, high = range
        if not holds_tracer([low, high]) and not low <= high:
            raise ValueError("np.histogram: max must be larger than min in range parameter")
    elif shape_of(a)[0] == 0:
        low, high = 0.0, 1.0
    else:
        low, high = amin(a), amax(a)
    dtype = np.result_type(dtype_of(a), np.float64 if dtype_of(a).kind != "f" else dtype_of(a))
    low, high = (cast(asarray_like(v), dtype) for v in (low, high))
    flat = equal(low, high)  # NumPy widens an empty range by 1/2 each side
    low, high = where(flat, low - 0.5, low), where(flat, high + 0.5, high)
    return linspace(low, high, int(bins) + 1)


def histogram(a: Any, bins: Any = 10, range: Any = None, density: Any = None,
              weights: Any = None) -> tuple[Any, Any]:  # fmt: skip
    edges = histogram_bin_edges(a, bins, range)
    a = ravel(asarray_like(a))
    members = _members(a, edges)
    if weights is None:
        counts = sum(cast(members, np.intp), axis=0)
    else:
        (w,) = promote(ravel(asarray_like(weights)))
        counts = sum(where(members, expand_dims(w, -1), 0), axis=0)
    if density:
        widths = cast(diff(edges), np.float64)  # NumPy's densities are float64
        counts = divide(divide(counts, sum(counts)), widths)
    return counts, edges


def bincount(x: Any, weights: Any = None, minlength: int = 0) -> Any:
    """Weighted counts of constant bin numbers: the weights may be traced, ``x`` not (the
    output's length, ``max(x) + 1``, would depend on traced values)."""
    if isinstance(x, Tracer):
        raise UnsupportedNumpyFunction(
            "np.bincount of traced bin numbers: the output's length depends on their values. "
            "Pass the bin numbers as a NumPy array (the weights may be traced), or count with "
            "np.sum(x[:, None] == np.arange(n), axis=0) for a known n."
        )
    x = np.asarray(x)
    if x.ndim != 1 or (x.size and (x.dtype.kind not in "iub" or x.min() < 0)):
        raise ValueError("np.bincount: x must be a 1-d array of non-negative integers")
    length = max(int(x.max()) + 1 if x.size else 0, int(minlength))
    if weights is None:
        return np.bincount(x, minlength=minlength)
    (w,) = promote(cast(asarray_like(weights), np.float64))  # NumPy counts in float64
    one_hot = np.equal.outer(x, np.arange(length))
    return sum(where(one_hot, expand_dims(w, -1), 0.0), axis=0)


def _members(values: Any, edges: Any) -> Any:
    """(n, bins) booleans: value i lies in bin j (the last bin closed on the right)."""
    column = expand_dims(values, -1)
    inside = logical_and(greater_equal(column, getitem(edges, slice(None, -1))),
                         less(column, getitem(edges, slice(1, None))))  # fmt: skip
    last = equal(column, getitem(edges, slice(-1, None)))
    at_last = np.arange(shape_of(edges)[0] - 1) == shape_of(edges)[0] - 2
    return logical_or(inside, logical_and(last, at_last))


def histogramdd(sample: Any, bins: Any = 10, range: Any = None, density: Any = None,
                weights: Any = None) -> tuple[Any, list[Any]]:  # fmt: skip
    """Counts over a grid of bins, one axis per coordinate: the outer product of the
    per-coordinate memberships, summed over the points."""
    if isinstance(sample, list | tuple):
        sample = stack([asarray_like(s) for s in sample], axis=-1)
    sample = asarray_like(sample)
    n, d = shape_of(sample) if len(shape_of(sample)) == 2 else (shape_of(sample)[0], 1)
    sample = reshape(sample, (n, d))
    bins = bins if isinstance(bins, list | tuple) else [bins] * d
    ranges = range if range is not None else [None] * d
    edges = [histogram_bin_edges(getitem(sample, (slice(None), k)), bins[k], ranges[k])
             for k in np.arange(d).tolist()]  # fmt: skip
    dtype = np.result_type(*(dtype_of(e) for e in edges), np.float64)
    grid: Any = 1.0 if weights is None else reshape(cast(asarray_like(weights), dtype), (n,))
    for k in np.arange(d).tolist():
        member = cast(_members(getitem(sample, (slice(None), k)), edges[k]), dtype)
        grid = multiply(expand_dims(grid, -1), reshape(member, (n,) + (1,) * k + (-1,)))
    hist = sum(grid, axis=0)
    if density:
        hist = divide(hist, sum(hist))
        for k in np.arange(d).tolist():
            width = cast(diff(edges[k]), np.float64)
            hist = divide(hist, reshape(width, (-1,) + (1,) * (d - 1 - k)))
    return hist, edges


def histogram2d(x: Any, y: Any, bins: Any = 10, range: Any = None, density: Any = None,
                weights: Any = None) -> tuple[Any, Any, Any]:  # fmt: skip
    if not isinstance(bins, int | np.integer) and len(bins) != 2:
        bins = [bins, bins]  # one array of edges for both coordinates
    hist, (x_edges, y_edges) = histogramdd([x, y], bins, range, density, weights)
    return hist, x_edges, y_edges


# =============================================================================================
# Along axes


def apply_along_axis(func1d: Callable[..., Any], axis: int, arr: Any, *args: Any,
                     **kwargs: Any) -> Any:  # fmt: skip
    """``func1d`` called on each 1-d slice (one call per slice, traced)."""
    arr = asarray_like(arr)
    ndim = len(shape_of(arr))
    axis %= ndim
    moved = moveaxis(arr, axis, -1)
    outer = shape_of(moved)[:-1]
    if 0 in outer:
        raise ValueError("np.apply_along_axis: cannot apply when an iteration axis is empty")
    results = [asarray_like(func1d(getitem(moved, index), *args, **kwargs))
               for index in np.ndindex(*outer)]  # fmt: skip
    stacked = reshape(stack(promote(*results)), outer + shape_of(results[0]))
    extra = len(shape_of(results[0]))
    source = list(range(len(outer), len(outer) + extra))
    return moveaxis(stacked, source, [axis + k for k in range(extra)])


def apply_over_axes(func: Callable[..., Any], a: Any, axes: Any) -> Any:
    a = asarray_like(a)
    ndim = len(shape_of(a))
    for axis in np.atleast_1d(axes):
        axis = int(axis) % ndim
        result = asarray_like(func(a, axis))
        if len(shape_of(result)) != ndim:
            result = expand_dims(result, axis)
        if len(shape_of(result)) != ndim:
            raise ValueError("np.apply_over_axes: function is not returning an array of the "
                             "correct shape")  # fmt: skip
        a = result
    return a


def _shift(x: Any, axes: Any, sign: int) -> Any:
    x = asarray_like(x)
    ndim = len(shape_of(x))
    axes = list(range(ndim)) if axes is None else [int(a) for a in np.atleast_1d(axes)]
    shifts = [sign * (shape_of(x)[a] // 2) for a in axes]
    return roll(x, shifts, axes)


def fftshift(x: Any, axes: Any = None) -> Any:
    return _shift(x, axes, 1)


def ifftshift(x: Any, axes: Any = None) -> Any:
    return _shift(x, axes, -1)


def _nan_arg(pick: Callable[..., Any], fill: float, name: str) -> Callable[..., Any]:
    def fn(a: Any, axis: Any = None, out: Any = None, *, keepdims: bool = False) -> Any:
        """As NumPy, but an all-NaN slice gives 0 where NumPy raises (a trace cannot)."""
        a = asarray_like(a)
        return pick(where(isnan(a), fill, a), axis=axis, out=out, keepdims=keepdims)

    fn.__name__ = name
    return fn


def _nan_scan(scan: Callable[..., Any], fill: float, name: str) -> Callable[..., Any]:
    def fn(a: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Any:
        a = asarray_like(a)
        return scan(where(isnan(a), fill, a), axis=axis, dtype=dtype, out=out)

    fn.__name__ = name
    return fn


IMPLEMENTS: dict[Callable[..., Any], Callable[..., Any]] = {
    np.isin: isin,
    np.isposinf: isposinf,
    np.isneginf: isneginf,
    np.allclose: allclose,
    np.array_equal: array_equal,
    np.array_equiv: array_equiv,
    np.digitize: digitize,
    np.histogram_bin_edges: histogram_bin_edges,
    np.histogram: histogram,
    np.histogramdd: histogramdd,
    np.histogram2d: histogram2d,
    np.bincount: bincount,
    np.apply_along_axis: apply_along_axis,
    np.apply_over_axes: apply_over_axes,
    np.fft.fftshift: fftshift,
    np.fft.ifftshift: ifftshift,
    np.nanargmax: _nan_arg(argmax, -np.inf, "nanargmax"),
    np.nanargmin: _nan_arg(argmin, np.inf, "nanargmin"),
    np.nancumsum: _nan_scan(cumsum, 0.0, "nancumsum"),
    np.nancumprod: _nan_scan(cumprod, 1.0, "nancumprod"),
}
