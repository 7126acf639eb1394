"""Positions of extrema and sorting on traced values.  Integer results (argmax, argsort)
carry no gradient; np.sort's does, through the gather by the sorting permutation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..core import complex_primitives as C
from ..core import primitives as P
from ..errors import UnsupportedNumpyFunction
from .indexing import take_along_axis
from .promotion import asarray_like, cast, dtype_of, no_out, normalize_axes, shape_of
from .reductions import keep_dims
from .shapes import moveaxis, ravel, reshape


def _arg_extremum(prim: P.Primitive, name: str) -> Callable[..., Any]:
    def fn(x: Any, axis: Any = None, out: Any = None, *, keepdims: bool = False) -> Any:
        no_out(name, out)
        x = asarray_like(x)
        shape = shape_of(x)
        if axis is None:
            result = prim(ravel(x), axis=0)
            return reshape(result, (1,) * len(shape)) if keepdims else result
        a = normalize_axes(axis, len(shape))[0]
        return keep_dims(x, prim(x, axis=a), (a,), keepdims)

    fn.__name__ = name
    return fn


argmax = _arg_extremum(P.argmax, "argmax")
argmin = _arg_extremum(P.argmin, "argmin")


def _last_axis(x: Any, axis: Any, order: Any, name: str) -> tuple[Any, int]:
    if order is not None:
        raise UnsupportedNumpyFunction(f"np.{name}(order=...) sorts structured arrays")
    if axis is None:
        return ravel(x), 0
    x = asarray_like(x)
    return x, normalize_axes(axis, len(shape_of(x)))[0]


def _permutation(x: Any) -> Any:
    """The stable sorting permutation along the last axis.  Complex values sort as in NumPy:
    by real part, then imaginary part, and those with NaNs last, in the groups (NaN
    imaginary part, NaN real part, both); three stable sorts, by the least significant key
    first."""
    if dtype_of(x).kind != "c":
        return P.argsort(x)
    re, im = C.real(x), C.imag(x)
    two = P.const(2, re)
    group = P.add(P.mul(P.convert(P.isnan(re), dtype=re.dtype), two),
                  P.convert(P.isnan(im), dtype=re.dtype))  # fmt: skip
    order = P.argsort(im)
    for key in (re, group):
        order = take_along_axis(order, P.argsort(take_along_axis(key, order, -1)), -1)
    return order


def argsort(x: Any, axis: Any = -1, kind: Any = None, order: Any = None, **kwargs: Any) -> Any:
    """Always a stable sort: ties keep their order (NumPy's default kind does not promise it)."""
    x, a = _last_axis(x, axis, order, "argsort")
    return moveaxis(_permutation(moveaxis(x, a, -1)), -1, a)


def sort(x: Any, axis: Any = -1, kind: Any = None, order: Any = None, **kwargs: Any) -> Any:
    x, a = _last_axis(x, axis, order, "sort")
    moved = moveaxis(x, a, -1)
    ordered = take_along_axis(moved, _permutation(moved), -1)
    return moveaxis(ordered, -1, a)


def sort_complex(a: Any) -> Any:
    """``np.sort`` of ``a`` as complex numbers (complex64 for 8- and 16-bit integers, as in
    NumPy; complex128 for the other real dtypes)."""
    a = asarray_like(a)
    dtype = dtype_of(a)
    if dtype.kind != "c":
        small = dtype.kind in "iu" and dtype.itemsize <= 2
        a = cast(a, np.dtype(np.complex64 if small else np.complex128))
    return sort(a)


def partition(
    x: Any, kth: Any, axis: Any = -1, kind: str = "introselect", order: Any = None
) -> Any:
    """The array sorted along ``axis``: every ``kth`` element is where sorting puts it, which
    is all np.partition promises (the order of the others is unspecified)."""
    return sort(x, axis=axis)


def argpartition(
    x: Any, kth: Any, axis: Any = -1, kind: str = "introselect", order: Any = None
) -> Any:
    return argsort(x, axis=axis)


def searchsorted(a: Any, v: Any, side: str = "left", sorter: Any = None) -> Any:
    """Insertion points of ``v`` in the sorted 1-d ``a``: how many entries are below (left)
    or at most (right) each value.  Integer output, no gradient."""
    if len(shape_of(a)) != 1:
        raise ValueError("np.searchsorted: a must be 1-d")
    if sorter is not None:
        a = take_along_axis(a, sorter, axis=0)
    v_shape = shape_of(v)
    column = reshape(v, v_shape + (1,))
    below = np.less(a, column) if side == "left" else np.less_equal(a, column)
    return np.sum(below, axis=-1)


def lexsort(keys: Any, axis: int = -1) -> Any:
    """Sort by the last key, ties broken by the one before, and so on: stable sorts by each
    key from the first to the last, each reordering the result of the one before."""
    keys = [asarray_like(k) for k in keys]
    if not keys:
        raise TypeError("np.lexsort: need sequence of keys with len > 0")
    order = argsort(keys[0], axis=axis)
    for key in keys[1:]:
        order = take_along_axis(order, argsort(take_along_axis(key, order, axis), axis), axis)
    return order


IMPLEMENTS: dict[Callable[..., Any], Callable[..., Any]] = {
    np.partition: partition,
    np.argpartition: argpartition,
    np.searchsorted: searchsorted,
    np.argmax: argmax,
    np.argmin: argmin,
    np.argsort: argsort,
    np.sort: sort,
    np.sort_complex: sort_complex,
    np.lexsort: lexsort,  # breadth
}
