"""Shapes and structure on traced values: reshaping, transposing, broadcasting, joining,
padding and tiling, and the attributes and copies of arrays."""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..core import primitives as P
from ..core.tracing import Tracer
from ..errors import ShapeError, UnsupportedNumpyFunction
from .elementwise import astype, where, zeros_like
from .promotion import asarray_like, dtype_of, no_out, normalize_axes, promote, shape_of

# =============================================================================================
# Reshaping and transposing


def _check_order(order: Any, name: str) -> str:
    """'C' or 'F'; 'A' and 'K' follow the memory layout, which a traced array does not have."""
    if order in ("C", "F", None):
        return order or "C"
    if order in ("A", "K"):
        raise UnsupportedNumpyFunction(
            f"{name}(order={order!r}) follows the memory layout of the array, which a traced "
            "value does not have (it is always read in C order). Write order='C', or "
            "order='F' for column-major order."
        )
    raise ValueError(f"{name}: order must be one of 'C', 'F', 'A' or 'K', got {order!r}")


def reshape(x: Any, shape: Any, order: str = "C", **kwargs: Any) -> Any:
    """``np.reshape``; order='F' reads and writes the elements in column-major order, which
    is a C-order reshape between reversals of the axes."""
    x = asarray_like(x)
    shape = _resolved_shape(shape_of(x), shape)
    if _check_order(order, "reshape") == "F":
        return transpose(reshape(transpose(x), shape[::-1]))
    if shape == shape_of(x):
        return x
    return P.reshape(x, shape=shape)


def _resolved_shape(current: tuple[int, ...], shape: Any) -> tuple[int, ...]:
    """``shape`` as a tuple of ints, its -1 (if any) replaced by the size it stands for."""
    if isinstance(shape, int | np.integer):
        shape = (int(shape),)
    shape = [int(d) for d in shape]
    size = math.prod(current)
    if shape.count(-1) > 1:
        raise ShapeError(f"reshape: only one -1 is allowed in {tuple(shape)}")
    if -1 in shape:
        known = math.prod(d for d in shape if d != -1)
        if known == 0 or size % known:
            raise ShapeError(f"cannot reshape an array of shape {current} into {tuple(shape)}")
        shape[shape.index(-1)] = size // known
    return tuple(shape)


def ravel(x: Any, order: str = "C") -> Any:
    return reshape(x, (-1,), order=_check_order(order, "ravel"))


def transpose(x: Any, axes: Any = None) -> Any:
    x = asarray_like(x)
    ndim = len(shape_of(x))
    perm = tuple(reversed(range(ndim))) if axes is None else tuple(int(a) % ndim for a in axes)
    if perm == tuple(range(ndim)):
        return x
    return P.transpose(x, perm=perm)


def swapaxes(x: Any, axis1: int, axis2: int) -> Any:
    ndim = len(shape_of(x))
    perm = list(range(ndim))
    perm[axis1 % ndim], perm[axis2 % ndim] = perm[axis2 % ndim], perm[axis1 % ndim]
    return transpose(x, perm)


def moveaxis(x: Any, source: Any, destination: Any) -> Any:
    ndim = len(shape_of(x))
    src, dst = _axis_list(source, ndim), _axis_list(destination, ndim)
    order = [a for a in range(ndim) if a not in src]
    for d, s in sorted(zip(dst, src, strict=True)):
        order.insert(d, s)
    return transpose(x, order)


def rollaxis(x: Any, axis: int, start: int = 0) -> Any:
    """``np.rollaxis``: ``axis`` moves to stand before the axis now at ``start``."""
    ndim = len(shape_of(x))
    if not -ndim <= axis < ndim or not -ndim <= start <= ndim:
        raise ValueError(f"np.rollaxis: axis {axis} or start {start} out of range for {ndim}-D")
    axis, start = axis % ndim, start + ndim if start < 0 else start
    if axis < start:
        start -= 1
    return moveaxis(x, axis, start)


def _axis_list(axis: Any, ndim: int) -> list[int]:
    return [axis % ndim] if isinstance(axis, int) else [a % ndim for a in axis]


def expand_dims(x: Any, axis: Any) -> Any:
    shape = list(shape_of(x))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    ndim = len(shape) + len(axes)
    for a in sorted(a % ndim for a in axes):
        shape.insert(a, 1)
    return reshape(x, tuple(shape))


def squeeze(x: Any, axis: Any = None) -> Any:
    shape = shape_of(x)
    if axis is None:
        axes = tuple(i for i, d in enumerate(shape) if d == 1)
    else:
        axes = normalize_axes(axis, len(shape))
        for a in axes:
            if shape[a] != 1:
                raise ShapeError(f"cannot squeeze axis {a} of size {shape[a]} in shape {shape}")
    return reshape(x, tuple(d for i, d in enumerate(shape) if i not in axes))


def broadcast_to(x: Any, shape: Any, subok: bool = False) -> Any:
    shape = (int(shape),) if isinstance(shape, int | np.integer) else tuple(int(d) for d in shape)
    if shape_of(x) == shape:
        return x
    return P.broadcast_to(asarray_like(x), shape=shape)


def _one_or_tuple(fn: Callable[[Any], Any]) -> Callable[..., Any]:
    """NumPy's atleast_* take any number of arrays and return one array or a tuple."""

    def many(*arrays: Any) -> Any:
        results = tuple(fn(a) for a in arrays)
        return results[0] if len(results) == 1 else results

    many.__name__ = fn.__name__.lstrip("_")
    return many


def _atleast_1d(x: Any) -> Any:
    return reshape(x, (1,)) if not shape_of(x) else x


def _atleast_2d(x: Any) -> Any:
    shape = shape_of(x)
    return reshape(x, (1,) * (2 - len(shape)) + shape) if len(shape) < 2 else x


def _atleast_3d(x: Any) -> Any:
    """As np.dstack lays out its operands: (n,) becomes (1, n, 1), (m, n) becomes (m, n, 1)."""
    shape = shape_of(x)
    if len(shape) < 2:
        return reshape(x, (1, math.prod(shape), 1))
    return reshape(x, shape + (1,)) if len(shape) == 2 else x


atleast_1d = _one_or_tuple(_atleast_1d)
atleast_2d = _one_or_tuple(_atleast_2d)
atleast_3d = _one_or_tuple(_atleast_3d)


# =============================================================================================
# Joining


def concatenate(arrays: Sequence[Any], axis: int | None = 0, out: Any = None, **kwargs: Any) -> Any:
    no_out("concatenate", out)
    arrays = list(arrays)
    if axis is None:
        arrays = [ravel(a) for a in arrays]
        axis = 0
    arrays = promote(*arrays)
    ndim = len(shape_of(arrays[0]))
    if ndim == 0:
        raise ShapeError("zero-dimensional arrays cannot be concatenated")
    if len(arrays) == 1:
        return arrays[0]
    return P.concatenate(*arrays, axis=int(axis) % ndim)


def stack(arrays: Sequence[Any], axis: int = 0, out: Any = None, **kwargs: Any) -> Any:
    no_out("stack", out)
    arrays = list(arrays)
    shapes = {shape_of(a) for a in arrays}
    if len(shapes) != 1:
        raise ShapeError(f"np.stack needs arrays of one shape, got {sorted(shapes)}")
    ndim = len(shape_of(arrays[0])) + 1
    return concatenate([expand_dims(a, axis % ndim) for a in arrays], axis=axis % ndim)


def hstack(arrays: Sequence[Any], **kwargs: Any) -> Any:
    arrays = [atleast_1d(a) for a in arrays]
    return concatenate(arrays, axis=0 if len(shape_of(arrays[0])) == 1 else 1)


def vstack(arrays: Sequence[Any], **kwargs: Any) -> Any:
    return concatenate([atleast_2d(a) for a in arrays], axis=0)


def dstack(arrays: Sequence[Any]) -> Any:
    return concatenate([_atleast_3d(a) for a in arrays], axis=2)


def column_stack(arrays: Sequence[Any]) -> Any:
    cols = [reshape(a, (-1, 1)) if len(shape_of(a)) < 2 else a for a in arrays]
    return concatenate(cols, axis=1)


def block(arrays: Any) -> Any:
    """np.block: nested lists joined along the last axes, innermost list along the last."""
    depth = _list_depth(arrays)
    ndim = max(depth, builtins.max(len(shape_of(a)) for a in _leaves(arrays)))

    def join(item: Any, level: int) -> Any:
        if isinstance(item, list):
            return concatenate([join(x, level + 1) for x in item], axis=level - depth)
        shape = shape_of(item)
        return reshape(item, (1,) * (ndim - len(shape)) + shape)

    return join(arrays, 0)


def _list_depth(item: Any) -> int:
    return 1 + _list_depth(item[0]) if isinstance(item, list) and item else 0


def _leaves(item: Any) -> list[Any]:
    return [leaf for x in item for leaf in _leaves(x)] if isinstance(item, list) else [item]


def meshgrid(*xi: Any, copy: bool = True, sparse: bool = False, indexing: str = "xy") -> tuple:
    """Coordinate arrays: with ``indexing='xy'`` the first two axes are swapped, as NumPy's."""
    n = len(xi)
    sizes = [math.prod(shape_of(x)) for x in xi]
    order = list(range(n))
    if indexing == "xy" and n > 1:
        order[0], order[1] = 1, 0
    full = tuple(sizes[order[k]] for k in range(n))
    grids = []
    for i, x in enumerate(xi):
        shape = [1] * n
        shape[order.index(i)] = sizes[i]
        grid = reshape(x, tuple(shape))
        grids.append(grid if sparse else broadcast_to(grid, full))
    return tuple(grids)


def linspace(
    start: Any,
    stop: Any,
    num: int = 50,
    endpoint: bool = True,
    retstep: bool = False,
    dtype: Any = None,
    axis: int = 0,
) -> Any:
    """Evenly spaced values from ``start`` to ``stop`` (either may be traced, and arrays)."""
    start, stop = promote(start, stop, float_only=True)
    shape = tuple(np.broadcast_shapes(shape_of(start), shape_of(stop)))
    steps = num - 1 if endpoint else num
    step = (stop - start) / steps if steps > 0 else stop - start
    ramp = np.arange(num, dtype=dtype_of(start)).reshape((num,) + (1,) * len(shape))
    values = start + ramp * step
    if endpoint and num > 1:
        values = concatenate([values[:-1], reshape(broadcast_to(stop, shape), (1,) + shape)])
    if axis != 0:
        values = moveaxis(values, 0, axis)
    if dtype is not None and np.dtype(dtype).kind in "iu":
        values = np.floor(values)
    values = astype(values, dtype) if dtype is not None else values
    return (values, step) if retstep else values


def logspace(
    start: Any,
    stop: Any,
    num: int = 50,
    endpoint: bool = True,
    base: Any = 10.0,
    dtype: Any = None,
    axis: int = 0,
) -> Any:
    values = np.power(base, linspace(start, stop, num, endpoint, axis=axis))
    return astype(values, dtype) if dtype is not None else values


def append(arr: Any, values: Any, axis: int | None = None) -> Any:
    if axis is None:
        return concatenate([ravel(arr), ravel(values)])
    return concatenate([arr, values], axis=axis)


# =============================================================================================
# Tiling and triangles


def tile(x: Any, reps: Any) -> Any:
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    shape = shape_of(x)
    ndim = builtins.max(len(shape), len(reps))
    shape = (1,) * (ndim - len(shape)) + tuple(shape)
    reps = (1,) * (ndim - len(reps)) + reps
    # Insert a repeat axis before each axis, broadcast it, then merge the pairs.
    expanded = reshape(x, tuple(d for s in shape for d in (1, s)))
    target = tuple(d for r, s in zip(reps, shape, strict=True) for d in (r, s))
    return reshape(
        broadcast_to(expanded, target), tuple(r * s for r, s in zip(reps, shape, strict=True))
    )


def _triangle(x: Any, k: int, lower: bool) -> Any:
    shape = shape_of(x)
    if len(shape) < 2:
        raise ShapeError(f"np.{'tril' if lower else 'triu'} needs at least 2-D input, got {shape}")
    rows, cols = shape[-2:]
    keep = np.tri(rows, cols, k, dtype=bool) if lower else ~np.tri(rows, cols, k - 1, dtype=bool)
    return where(keep, x, zeros_like(x) if not isinstance(x, np.ndarray) else 0)


def tril(x: Any, k: int = 0) -> Any:
    return _triangle(x, k, lower=True)


def triu(x: Any, k: int = 0) -> Any:
    return _triangle(x, k, lower=False)


# =============================================================================================
# Attributes and copies


def ndim(x: Any) -> int:
    return len(shape_of(x))


def size(x: Any, axis: int | None = None) -> int:
    return math.prod(shape_of(x)) if axis is None else shape_of(x)[axis]


def copy(x: Any, **kwargs: Any) -> Any:
    return x.copy() if isinstance(x, Tracer) else np.copy(x)


def asarray(x: Any, dtype: Any = None, **kwargs: Any) -> Any:
    return x if dtype is None else astype(x, dtype)


def array(x: Any, dtype: Any = None, **kwargs: Any) -> Any:
    return copy(x) if dtype is None else astype(x, dtype)


IMPLEMENTS: dict[Callable[..., Any], Callable[..., Any]] = {
    np.reshape: reshape,
    np.ravel: ravel,
    np.transpose: transpose,
    np.swapaxes: swapaxes,
    np.moveaxis: moveaxis,
    np.rollaxis: rollaxis,
    np.expand_dims: expand_dims,
    np.squeeze: squeeze,
    np.broadcast_to: broadcast_to,
    np.atleast_1d: atleast_1d,
    np.atleast_2d: atleast_2d,
    np.atleast_3d: atleast_3d,
    np.block: block,
    np.meshgrid: meshgrid,
    np.linspace: linspace,
    np.logspace: logspace,
    np.concatenate: concatenate,
    np.stack: stack,
    np.hstack: hstack,
    np.vstack: vstack,
    np.dstack: dstack,
    np.column_stack: column_stack,
    np.append: append,
    np.tile: tile,
    np.tril: tril,
    np.triu: triu,
    np.shape: shape_of,
    np.ndim: ndim,
    np.size: size,
    np.copy: copy,
    np.asarray: asarray,
    np.array: array,
}
