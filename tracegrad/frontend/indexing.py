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
from dataclasses import dataclass, field
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


def _index_items(index: Any) -> list[tuple[str, Any]]:
    """Classify the entries of an index as ("new" | "ellipsis" | "slice" | "int" | "array" |
    "mask", value); masks are constant boolean arrays (0-d ones included)."""
    items = []
    for item in index if isinstance(index, tuple) else (index,):
        if item is None:
            items.append(("new", None))
        elif item is Ellipsis:
            items.append(("ellipsis", None))
        elif isinstance(item, slice):
            items.append(("slice", item))
        elif isinstance(item, Tracer):
            items.append(("array", _as_index_array(item)))
        elif isinstance(item, bool | np.bool_ | np.ndarray | list | tuple):
            array = np.asarray(item)
            kind = "mask" if array.dtype == np.bool_ else "array"
            items.append((kind, array if kind == "mask" else _as_index_array(array)))
        else:
            try:
                items.append(("int", operator.index(item)))
            except TypeError:
                raise DTypeError(
                    f"cannot index with {type(item).__name__}: indices are ints, slices, None, "
                    "Ellipsis, integer arrays or constant boolean arrays"
                ) from None
    return items


@dataclass
class _IndexPlan:
    """How ``x[index]`` is built: a slice of x, a reshape, then (with arrays) a gather."""

    shape: tuple[int, ...]  # x's
    fancy: bool  # whether the index holds arrays (then ints and masks are arrays too)
    start: list[int] = field(default_factory=list)  # the slice of x, one entry per axis of x
    step: list[int] = field(default_factory=list)
    size: list[int] = field(default_factory=list)
    out_shape: list[int] = field(default_factory=list)  # new axes in, int-indexed axes out
    per_axis: list[Any] = field(default_factory=list)  # per reshaped axis: "keep" or indices
    fancy_items: list[int] = field(default_factory=list)  # positions of the array indices
    dim: int = 0  # the next axis of x

    def _take_axis(self, begin: int, step: int, n: int) -> None:
        self.start.append(begin), self.step.append(step), self.size.append(n)
        self.dim += 1

    def _out(self, n: int, selection: Any, position: int | None = None) -> None:
        self.out_shape.append(n), self.per_axis.append(selection)
        if position is not None:
            self.fancy_items.append(position)

    def add(self, kind: str, item: Any, position: int, filler: int) -> None:
        if kind == "new":
            self._out(1, "keep")
        elif kind == "ellipsis":
            for _ in range(filler):
                self._out(self.shape[self.dim], "keep")
                self._take_axis(0, 1, self.shape[self.dim])
        elif kind == "slice":
            b, e, s = item.indices(self.shape[self.dim])
            n = len(range(b, e, s))
            self._out(n, "keep")
            self._take_axis(b if n else 0, s if n else 1, n)
        elif kind == "int":
            self._add_int(item, position)
        elif kind == "array":
            self._out(self.shape[self.dim], item, position)
            self._take_axis(0, 1, self.shape[self.dim])
        else:
            self._add_mask(item, position)

    def _add_int(self, i: int, position: int) -> None:
        d = self.shape[self.dim]
        if not -d <= i < d:
            raise IndexError(f"index {i} is out of bounds for axis {self.dim} with size {d}")
        if self.fancy:  # an array index selecting the one row kept by the slice
            self._out(1, np.zeros((), np.int64), position)
        self._take_axis(i % d, 1, 1)

    def _add_mask(self, mask: np.ndarray, position: int) -> None:
        if mask.ndim == 0:  # a new axis, kept (True) or emptied (False)
            self._out(1, np.zeros(int(mask), np.int64), position)
            return
        axes = self.shape[self.dim : self.dim + mask.ndim]
        if mask.shape != axes:
            raise ShapeError(
                f"boolean index of shape {mask.shape} does not match the indexed axes "
                f"{axes} of an array of shape {self.shape} (starting at axis {self.dim})"
            )
        for d, where_true in zip(axes, np.nonzero(mask), strict=True):
            self._out(d, where_true.astype(np.int64))
            self._take_axis(0, 1, d)
        self.fancy_items.append(position)


def getitem(x: Any, index: Any) -> Any:
    """``x[index]`` for ints, slices, None, Ellipsis, integer arrays and constant bool masks.

    Basic indices become one ``slice`` and a reshape (dropping integer-indexed axes, adding
    new ones).  With array indices, as in NumPy, integers and masks are array indices too
    (a mask is the integer arrays of its True positions; a 0-d mask a new axis indexed by
    ``[0]`` or ``[]``) and ``_gather`` selects with all of them at once.
    """
    shape = shape_of(x)
    items = _index_items(index)
    consumed = builtins.sum(
        np.ndim(v) if kind == "mask" else 1
        for kind, v in items
        if kind in ("slice", "int", "array", "mask")
    )
    if consumed > len(shape):
        raise ShapeError(f"too many indices ({consumed}) for an array of shape {shape}")
    if builtins.sum(kind == "ellipsis" for kind, _ in items) > 1:
        raise ShapeError("an index can only have a single ellipsis ('...')")
    if not any(kind == "ellipsis" for kind, _ in items):
        items.append(("ellipsis", None))  # without one, the unindexed axes trail
    plan = _IndexPlan(shape, fancy=any(kind in ("array", "mask") for kind, _ in items))
    for position, (kind, item) in enumerate(items):
        plan.add(kind, item, position, filler=len(shape) - consumed)

    if tuple(plan.size) != shape or any(s != 1 for s in plan.step):
        x = P.slice_(
            asarray_like(x), start=tuple(plan.start), step=tuple(plan.step), shape=tuple(plan.size)
        )
    x = reshape(x, tuple(plan.out_shape))
    if not plan.fancy:
        return x
    # NumPy puts the selected axes where the array indices are if these are adjacent in the
    # index (None and Ellipsis, even one standing for no axes, separate them), else first.
    first = plan.fancy_items[0]
    adjacent = plan.fancy_items == list(range(first, first + len(plan.fancy_items)))
    return _gather(x, plan.per_axis, adjacent)


def _flat_index(shape: tuple[int, ...], axes: list[int], arrays: list[Any]) -> tuple[Any, tuple]:
    """One index into the flattened ``axes`` from their index arrays (broadcast together),
    and the broadcast index shape.  Negative indices wrap; an index out of range for its own
    axis must not land on another row of the flattened axes: it is mapped past the end,
    where take and scatter raise IndexError."""
    index_shape = P.broadcast_shapes(*(shape_of(a) for a in arrays))
    flat = None
    merged_size = math.prod(shape[a] for a in axes)
    for axis, idx in zip(axes, arrays, strict=True):
        d = shape[axis]
        if isinstance(idx, Tracer):
            idx = where(less(idx, 0), add(idx, d), idx)
            outside = logical_or(less(idx, 0), greater_equal(idx, d))
            idx = where(outside, merged_size, idx)
        else:
            if idx.size and (idx.min() < -d or idx.max() >= d):
                raise IndexError(f"index out of bounds for axis {axis} with size {d}")
            idx = idx % d if d else idx
        idx = broadcast_to(cast(idx, np.int64), index_shape)
        flat = idx if flat is None else add(multiply(flat, d), idx)
    return flat, index_shape


def _merge_axes(x: Any, axes: list[int]) -> tuple[Any, list[int]]:
    """``x`` with ``axes`` moved first and merged into one; the permutation used."""
    shape = shape_of(x)
    rest = [i for i in range(len(shape)) if i not in axes]
    moved = transpose(x, axes + rest)
    merged_size = math.prod(shape[a] for a in axes)
    return reshape(moved, (merged_size,) + tuple(shape[i] for i in rest)), axes + rest


def _index_axes_in_place(k: int, first: int, n_rest: int) -> list[int]:
    """The permutation taking (index dims, rest) to NumPy's order when the indexed axes are
    adjacent and start at ``first``: (rest before, index dims, rest after)."""
    lead = list(range(k, k + first))
    return lead + list(range(k)) + list(range(k + first, k + n_rest))


def _gather(x: Any, per_axis: list[Any], in_place: bool) -> Any:
    """Advanced indexing: the index arrays broadcast together and select along their axes.

    The selected axes come first, or, with ``in_place``, where the first indexed axis was.
    """
    shape = shape_of(x)
    axes = [i for i, a in enumerate(per_axis) if not isinstance(a, str)]
    flat, index_shape = _flat_index(shape, axes, [per_axis[i] for i in axes])
    merged, _ = _merge_axes(x, axes)
    result = P.take(merged, flat, axis=0)
    if in_place and axes[0] > 0:
        n_rest = len(shape) - len(axes)
        result = transpose(result, _index_axes_in_place(len(index_shape), axes[0], n_rest))
    return result


def add_at(x: Any, index: Any, value: Any) -> Any:
    """``np.add.at(x, index, value)``: unbuffered, so repeated positions add up."""
    return _traced_update(x, index, value, accumulate=True)


def _traced_update(x: Any, index: Any, value: Any, accumulate: bool) -> Any:
    """``x[index] = value`` (or ``+=`` with NumPy's ``np.add.at`` semantics when
    ``accumulate``) for an index holding traced integers: one ``scatter`` (``scatter_add``)
    along the indexed axes, merged into one.  The index may mix integers, integer arrays
    (traced or not), full slices ``:`` and an Ellipsis."""
    shape = shape_of(x)
    per_axis = _traced_index_axes(index, len(shape))
    axes = [i for i, a in enumerate(per_axis) if a is not None]
    flat, index_shape = _flat_index(shape, axes, [per_axis[i] for i in axes])
    merged, perm = _merge_axes(x, axes)
    rest = tuple(shape[i] for i in range(len(shape)) if i not in axes)
    adjacent = axes == list(range(axes[0], axes[0] + len(axes)))
    k, first = len(index_shape), axes[0]
    target = index_shape + rest  # the value's axes, in the merged layout
    if adjacent and first > 0:  # NumPy's x[index] keeps the index dims where the axes were
        target = rest[:first] + index_shape + rest[first:]
    (value,) = promote(cast(value, dtype_of(x)))
    value = broadcast_to(value, target)
    if adjacent and first > 0:
        inverse = np.argsort(_index_axes_in_place(k, first, len(rest)))
        value = transpose(value, tuple(int(a) for a in inverse))
    if accumulate:
        updated = add(merged, P.scatter_add(value, flat, axis=0, size=shape_of(merged)[0]))
    else:
        updated = P.scatter(merged, flat, value, axis=0)
    unmerged = reshape(updated, tuple(shape[i] for i in perm))
    return transpose(unmerged, tuple(int(a) for a in np.argsort(perm)))


def _traced_index_axes(index: Any, ndim: int) -> list[Any]:
    """Per axis of x: its index array (ints as 0-d arrays), or None for a full slice."""
    items = _index_items(index)
    if not any(kind == "ellipsis" for kind, _ in items):
        items.append(("ellipsis", None))
    explicit = builtins.sum(kind != "ellipsis" for kind, _ in items)
    per_axis: list[Any] = []
    for kind, item in items:
        if kind == "ellipsis":
            per_axis += [None] * (ndim - explicit)
        elif kind == "slice" and item == slice(None):
            per_axis.append(None)
        elif kind in ("int", "array"):
            per_axis.append(np.asarray(item, np.int64) if kind == "int" else item)
        else:
            raise UnsupportedNumpyFunction(
                "x[index] = v with a traced index supports integers, integer arrays, ':' and "
                "'...' in the index; build other updates with np.where(mask, v, x)."
            )
    if len(per_axis) != ndim:
        raise ShapeError(f"too many indices for an array with {ndim} dimensions")
    return per_axis


# =============================================================================================
# x[index] = value


def setitem(x: Any, index: Any, value: Any) -> Any:
    """``x[index] = value`` as a functional update: returns the updated array.

    Like NumPy, where an index repeats a position the last write wins.  An index known while
    tracing (ints, slices, constant integer arrays or masks) becomes a constant select; one
    holding traced integers becomes a ``scatter``.
    """
    if any(isinstance(i, Tracer) for i in (index if isinstance(index, tuple) else (index,))):
        return _traced_update(x, index, value, accumulate=False)
    shape = shape_of(x)
    size = math.prod(shape)
    positions = np.arange(size).reshape(shape)[index]
    flat_positions = np.asarray(positions).reshape(-1)
    # Keep the last write to each position, as NumPy does: the written positions sorted, and
    # for each the (flat) number of the value written last.
    reversed_unique, first_in_reversed = np.unique(flat_positions[::-1], return_index=True)
    last_write = len(flat_positions) - 1 - first_in_reversed
    (value,) = promote(cast(value, dtype_of(x)))
    target, given = np.shape(positions), shape_of(value)
    extra = len(given) - len(target)
    if extra > 0 and all(d == 1 for d in given[:extra]):
        value = reshape(value, given[extra:])  # NumPy drops leading 1s of the value
    values = reshape(broadcast_to(value, target), (-1,))
    if not np.array_equal(last_write, np.arange(len(flat_positions))):
        # Repeated or unsorted positions: put the values in the order of reversed_unique.
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
