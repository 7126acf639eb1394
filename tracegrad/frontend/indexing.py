"""Indexing on traced values: ``x[index]``, ``x[index] = value``, np.take and
np.take_along_axis.

Basic indices (ints, slices, None, Ellipsis) become one ``slice`` primitive and a reshape;
integer arrays (traced or constant) and constant boolean masks become one ``take`` from the
flattened indexed axes.  ``x[index] = value`` is a functional update (``scatter_add`` and a
select), so it has a gradient too.
"""

from __future__ import annotations

import builtins
import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core import primitives as P
from ..core.tracing import Tracer
from ..errors import DTypeError, ShapeError, UnsupportedNumpyFunction
from .elementwise import add, greater_equal, less, logical_or, multiply, where
from .promotion import asarray_like, cast, dtype_of, no_out, promote, shape_of
from .shapes import broadcast_to, ravel, reshape, transpose

# =============================================================================================
# x[index]


def _as_index_array(item: Any) -> Any:
    if isinstance(item, Tracer):
        if item.dtype.kind == "b":
            raise UnsupportedNumpyFunction(
                "indexing with a traced boolean mask gives a data-dependent shape. Use "
                "np.where(mask, x, 0) instead, or pass the mask as a constant NumPy array."
            )
        if item.dtype.kind not in "iu":
            raise DTypeError(f"array index must be integer, got {item.dtype}")
        return item
    array = np.asarray(item)
    if array.dtype.kind not in "iu" and array.size:
        raise DTypeError(f"array index must be integer, got {array.dtype}")
    return array.astype(np.int64)


def getitem(x: Any, index: Any) -> Any:
    """``x[index]`` for ints, slices, None, Ellipsis, integer arrays and constant bool masks."""
    shape = shape_of(x)
    items = list(index) if isinstance(index, tuple) else [index]
    # Constant boolean masks become the integer arrays of their True positions.
    expanded: list[Any] = []
    for item in items:
        if isinstance(item, np.ndarray | list) and np.asarray(item).dtype == np.bool_:
            expanded.extend(np.nonzero(np.asarray(item)))
        else:
            expanded.append(item)
    items = expanded
    used = builtins.sum(1 for it in items if it is not None and it is not Ellipsis)
    if used > len(shape):
        raise ShapeError(f"too many indices ({used}) for an array of shape {shape}")
    if any(it is Ellipsis for it in items):
        at = items.index(Ellipsis)
        items = items[:at] + [slice(None)] * (len(shape) - used) + items[at + 1 :]
    items += [slice(None)] * (len(shape) - builtins.sum(1 for it in items if it is not None))

    is_array = [
        isinstance(it, Tracer | np.ndarray | list) or (isinstance(it, np.generic) and False)
        for it in items
    ]
    has_arrays = any(is_array)

    start, step, size = [], [], []
    after_slice: list[Any] = []  # per remaining axis: "keep", "drop", or an index array
    new_axes: list[int] = []
    dim = 0
    for item, array_like in zip(items, is_array, strict=True):
        if item is None:
            new_axes.append(len(after_slice))
            continue
        d = shape[dim]
        if array_like:
            start.append(0), step.append(1), size.append(d)
            after_slice.append(_as_index_array(item))
        elif isinstance(item, slice):
            b, e, s = item.indices(d)
            n = len(range(b, e, s))
            start.append(b if n else 0), step.append(s if n else 1), size.append(n)
            after_slice.append("keep")
        else:
            i = operator.index(item)
            if not -d <= i < d:
                raise IndexError(f"index {i} is out of bounds for axis {dim} with size {d}")
            i %= d
            start.append(i), step.append(1), size.append(1)
            after_slice.append(np.asarray(i) if has_arrays else "drop")
        dim += 1
    if new_axes and has_arrays:
        raise UnsupportedNumpyFunction("mixing None/np.newaxis with array indices")

    if tuple(size) != shape or any(s != 1 for s in step):
        x = P.slice_(asarray_like(x), start=tuple(start), step=tuple(step), shape=tuple(size))
    if has_arrays:
        return _gather(x, after_slice)
    kept = [n for n, a in zip(size, after_slice, strict=True) if a == "keep"]
    for position in new_axes:
        kept.insert(position, 1)
    return reshape(x, tuple(kept))


def _gather(x: Any, per_axis: list[Any]) -> Any:
    """Advanced indexing: the index arrays broadcast together and select along their axes."""
    shape = shape_of(x)
    axes = [i for i, a in enumerate(per_axis) if not isinstance(a, str)]
    arrays = [per_axis[i] for i in axes]
    index_shape = P.broadcast_shapes(*(shape_of(a) for a in arrays))
    # Wrap negative indices, then combine the arrays into one index into the flattened axes.
    flat = None
    gathered_size = math.prod(shape[a] for a in axes)
    for axis, idx in zip(axes, arrays, strict=True):
        d = shape[axis]
        if isinstance(idx, Tracer):
            idx = where(less(idx, 0), add(idx, d), idx)
            # An index out of range for its own axis must not land on another row of the
            # flattened axes: map it past the end, where take raises IndexError.
            outside = logical_or(less(idx, 0), greater_equal(idx, d))
            idx = where(outside, gathered_size, idx)
        else:
            if idx.size and (idx.min() < -d or idx.max() >= d):
                raise IndexError(f"index out of bounds for axis {axis} with size {d}")
            idx = idx % d if d else idx
        idx = broadcast_to(cast(idx, np.int64), index_shape)
        flat = idx if flat is None else add(multiply(flat, d), idx)
    contiguous = axes == list(range(axes[0], axes[0] + len(axes)))
    rest = [i for i in range(len(shape)) if i not in axes]
    moved = transpose(x, axes + rest)
    merged = reshape(moved, (gathered_size,) + tuple(shape[i] for i in rest))
    result = P.take(merged, flat, axis=0)
    if contiguous and axes[0] > 0:
        # NumPy keeps adjacent index axes in place; otherwise they lead.
        k = len(index_shape)
        lead = list(range(k, k + axes[0]))
        result = transpose(result, lead + list(range(k)) + list(range(k + axes[0], k + len(rest))))
    return result


# =============================================================================================
# x[index] = value


def setitem(x: Any, index: Any, value: Any) -> Any:
    """``x[index] = value`` as a functional update: returns the updated array.

    The index must be known while tracing (ints, slices, constant integer arrays or masks);
    like NumPy, where an index repeats a position the last write wins.
    """
    if any(isinstance(i, Tracer) for i in (index if isinstance(index, tuple) else (index,))):
        raise UnsupportedNumpyFunction(
            "x[i] = v with a traced index i is not supported; build the result with "
            "np.where(np.arange(n) == i, v, x) instead."
        )
    shape = shape_of(x)
    size = math.prod(shape)
    positions = np.arange(size).reshape(shape)[index]
    flat_positions = np.asarray(positions).reshape(-1)
    # Keep the last write to each position, as NumPy does.
    reversed_unique, first_in_reversed = np.unique(flat_positions[::-1], return_index=True)
    last_write = len(flat_positions) - 1 - first_in_reversed
    (value,) = promote(cast(value, dtype_of(x)))
    values = reshape(broadcast_to(value, np.shape(positions)), (-1,))
    if len(last_write) != len(flat_positions):
        values = P.take(values, last_write.astype(np.int64), axis=0)
    written = P.scatter_add(values, reversed_unique.astype(np.int64), axis=0, size=size)
    mask = np.zeros(size, dtype=bool)
    mask[reversed_unique] = True
    return where(mask.reshape(shape), reshape(written, shape), x)


# =============================================================================================
# Functions that index


def take(
    a: Any, indices: Any, axis: int | None = None, out: Any = None, mode: str = "raise"
) -> Any:
    no_out("take", out)
    if axis is None:
        a, axis = ravel(a), 0
    return getitem(a, along(axis, len(shape_of(a)), indices))


def take_along_axis(arr: Any, indices: Any, axis: int) -> Any:
    ndim = len(shape_of(arr))
    grids = np.ogrid[tuple(slice(0, n) for n in shape_of(indices))]
    index = tuple(indices if i == axis % ndim else grids[i] for i in range(ndim))
    return getitem(arr, index)


def along(axis: int, ndim: int, item: Any) -> tuple[Any, ...]:
    """The index that applies ``item`` to ``axis`` and keeps every other axis whole."""
    return tuple(item if i == axis % ndim else slice(None) for i in range(ndim))


IMPLEMENTS: dict[Callable[..., Any], Callable[..., Any]] = {
    np.take: take,
    np.take_along_axis: take_along_axis,
}
