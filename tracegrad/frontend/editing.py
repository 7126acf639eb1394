"""Functions that pick, insert, delete, repeat or overwrite elements, with what they pick
known while tracing: ``insert``, ``delete``, ``resize``, ``compress``, ``extract``,
``choose``, the in-place writers ``put``, ``putmask``, ``place``, ``copyto``,
``fill_diagonal`` and ``put_along_axis``, and index helpers (``ix_``, ``unravel_index``,
``ravel_multi_index``, ``*_indices_from``).

Most are one gather: NumPy itself runs the function on the *positions* of the elements
(an integer array), and the traced result takes the elements at those positions, so
shapes and semantics are NumPy's by construction and the gradient is the gather's.
The in-place writers rebind their traced target, as ``x[i] = v`` does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.tracing import Tracer
from ..errors import UnsupportedNumpyFunction
from .elementwise import add, clip, floor_divide, mod, multiply, where
from .indexing import along, getitem, setitem
from .promotion import asarray_like, cast, dtype_of, promote, shape_of
from .rearranging import diag
from .shapes import broadcast_to, concatenate, ravel, reshape, stack, swapaxes

# =============================================================================================
# Gathers planned by NumPy on element positions


def _positions(x: Any) -> np.ndarray:
    shape = shape_of(x)
    return np.arange(math.prod(shape), dtype=np.intp).reshape(shape)


def _gather(source: Any, plan: np.ndarray) -> Any:
    """The elements of ``source`` (flattened) at the positions ``plan``, shaped as it."""
    return getitem(ravel(asarray_like(source)), (np.asarray(plan, dtype=np.intp),))


def _static(name: str, what: str, value: Any) -> Any:
    if isinstance(value, Tracer) or (isinstance(value, list | tuple) and
                                     any(isinstance(v, Tracer) for v in value)):  # fmt: skip
        raise UnsupportedNumpyFunction(
            f"np.{name} with a traced {what}: the result's shape would depend on traced "
            f"values. Compute the {what} outside the differentiated function and pass it in "
            "as a NumPy array, or use np.where(mask, x, 0) to keep the shape."
        )
    return value


def insert(arr: Any, obj: Any, values: Any, axis: Any = None) -> Any:
    arr, values = asarray_like(arr), asarray_like(values)
    _static("insert", "index", obj)
    size = math.prod(shape_of(arr))
    # The values' positions, numbered after the array's, broadcast by np.insert itself.
    value_positions = np.arange(size, size + math.prod(shape_of(values)), dtype=np.intp)
    plan = np.insert(_positions(arr), obj, value_positions.reshape(shape_of(values)), axis)
    return _gather(concatenate([ravel(arr), ravel(cast(values, dtype_of(arr)))]), plan)


def delete(arr: Any, obj: Any, axis: Any = None) -> Any:
    _static("delete", "index", obj)
    return _gather(arr, np.delete(_positions(arr), obj, axis))


def resize(a: Any, new_shape: Any) -> Any:
    a = asarray_like(a)
    if math.prod(shape_of(a)) == 0:
        return np.zeros(new_shape, dtype_of(a))  # NumPy fills from an empty array with zeros
    return _gather(a, np.resize(_positions(a), new_shape))


def compress(condition: Any, a: Any, axis: Any = None, out: Any = None) -> Any:
    if out is not None:
        raise UnsupportedNumpyFunction("np.compress(..., out=...) is not supported; use the result")
    _static("compress", "condition", condition)
    return _gather(a, np.compress(condition, _positions(a), axis))


def extract(condition: Any, arr: Any) -> Any:
    _static("extract", "condition", condition)
    return _gather(arr, np.extract(condition, _positions(arr)))


def choose(a: Any, choices: Any, out: Any = None, mode: str = "raise") -> Any:
    """``choices[a]`` elementwise; ``a`` may be traced (no gradient flows to it; a traced
    index out of range is not checked, as no value is known while tracing)."""
    if out is not None:
        raise UnsupportedNumpyFunction("np.choose(..., out=...) is not supported; use the result")
    n = len(choices)
    if mode == "raise" and not isinstance(a, Tracer) and np.any((np.asarray(a) < 0) | (a >= n)):
        raise ValueError(f"np.choose: an index is out of range for {n} choices")
    if mode == "clip":
        a = clip(a, 0, n - 1)
    elif mode == "wrap":
        a = mod(a, n)
    choices = promote(*choices)
    shape = np.broadcast_shapes(shape_of(a), *(shape_of(c) for c in choices))
    stacked = stack([broadcast_to(asarray_like(c), shape) for c in choices])
    grids = np.indices(shape, sparse=True)
    return getitem(stacked, (broadcast_to(asarray_like(a), shape), *grids))


def diagflat(v: Any, k: int = 0) -> Any:
    return diag(ravel(asarray_like(v)), k)


def unstack(x: Any, /, *, axis: int = 0) -> tuple[Any, ...]:
    ndim = len(shape_of(x))
    return tuple(getitem(x, along(axis, ndim, i)) for i in range(shape_of(x)[axis]))


def matrix_transpose(x: Any, /) -> Any:
    if len(shape_of(x)) < 2:
        raise ValueError("np.matrix_transpose: the input needs at least 2 dimensions")
    return swapaxes(x, -1, -2)


# =============================================================================================
# Writers: rebind the traced target to its updated value


def _rebind(name: str, target: Any, updated: Any) -> None:
    if not isinstance(target, Tracer):
        raise UnsupportedNumpyFunction(
            f"np.{name} into a NumPy array with traced values: the array cannot hold them. "
            "Make the target traced (e.g. y = np.zeros_like(x)) and write into that."
        )
    target.node = cast(updated, target.dtype).node


def _cycled(values: Any, count: int) -> Any:
    """``count`` values taken cyclically from ``values``, as NumPy's writers repeat them."""
    values = ravel(asarray_like(values))
    if count and not shape_of(values)[0]:
        raise ValueError("cannot write from an empty array of values")
    return _gather(values, np.resize(np.arange(shape_of(values)[0]), count))


def put(a: Any, ind: Any, v: Any, mode: str = "raise") -> None:
    size = math.prod(shape_of(a))
    if mode == "clip":
        ind = clip(ind, 0, size - 1)
    elif mode == "wrap":
        ind = mod(ind, size)
    count = math.prod(shape_of(ind))
    flat = setitem(ravel(a), (ravel(asarray_like(ind)),), _cycled(v, count))
    _rebind("put", a, reshape(flat, shape_of(a)))


def putmask(a: Any, mask: Any, values: Any) -> None:
    """Where ``mask``, element n of ``a`` becomes element n (cyclically) of ``values``."""
    shape = shape_of(a)
    _rebind("putmask", a, where(mask, reshape(_cycled(values, math.prod(shape)), shape), a))


def place(arr: Any, mask: Any, vals: Any) -> None:
    """The True positions of ``mask``, in order, take ``vals`` (cyclically)."""
    mask = np.asarray(_static("place", "mask", mask), dtype=bool)
    _rebind("place", arr, setitem(arr, mask, _cycled(vals, int(mask.sum()))))


def fill_diagonal(a: Any, val: Any, wrap: bool = False) -> None:
    on_diagonal = np.zeros(shape_of(a), dtype=bool)
    np.fill_diagonal(on_diagonal, True, wrap=wrap)
    _rebind("fill_diagonal", a, setitem(a, on_diagonal, _cycled(val, int(on_diagonal.sum()))))


_select = where  # copyto's parameter ``where`` hides the function


def copyto(dst: Any, src: Any, casting: str = "same_kind", where: Any = True) -> None:
    source = broadcast_to(cast(asarray_like(src), dtype_of(dst)), shape_of(dst))
    _rebind("copyto", dst, source if where is True else _select(where, source, dst))


def put_along_axis(arr: Any, indices: Any, values: Any, axis: Any) -> None:
    if axis is None:
        raise UnsupportedNumpyFunction("np.put_along_axis(axis=None) is not supported")
    ndim = len(shape_of(arr))
    grids = np.ogrid[tuple(slice(0, n) for n in shape_of(indices))]
    index = tuple(indices if i == axis % ndim else grids[i] for i in range(ndim))
    shape = np.broadcast_shapes(*(np.shape(g) for g in grids), shape_of(indices))
    _rebind("put_along_axis", arr, setitem(arr, index, broadcast_to(asarray_like(values), shape)))


# =============================================================================================
# Index helpers


def ix_(*args: Any) -> tuple[Any, ...]:
    n = len(args)
    out = []
    for k, arg in enumerate(args):
        if isinstance(arg, Tracer) and (arg.dtype == np.bool_ or arg.ndim != 1):
            raise UnsupportedNumpyFunction(
                "np.ix_ takes traced 1-d integer arrays; a traced boolean mask has no fixed "
                "number of positions (pass the mask as a NumPy array)."
            )
        if not isinstance(arg, Tracer):
            arg = np.asarray(arg)
            arg = arg.nonzero()[0] if arg.dtype == np.bool_ else arg.astype(np.intp)
        out.append(reshape(arg, (1,) * k + (-1,) + (1,) * (n - k - 1)))
    return tuple(out)


def _strides(dims: tuple[int, ...], order: str) -> list[int]:
    if order == "F":
        return [math.prod(dims[:k]) for k in range(len(dims))]
    return [math.prod(dims[k + 1 :]) for k in range(len(dims))]


def unravel_index(indices: Any, shape: Any, order: str = "C") -> tuple[Any, ...]:
    """Traced indices are not range-checked (NumPy raises; a trace knows no values)."""
    dims = (int(shape),) if np.ndim(shape) == 0 else tuple(int(d) for d in shape)
    indices = cast(asarray_like(indices), np.intp)
    return tuple(mod(floor_divide(indices, s), d)
                 for s, d in zip(_strides(dims, order), dims, strict=True))  # fmt: skip


def ravel_multi_index(multi_index: Any, dims: Any, mode: Any = "raise", order: str = "C") -> Any:
    dims = tuple(int(d) for d in dims)
    modes = mode if isinstance(mode, list | tuple) else [mode] * len(dims)
    total: Any = 0
    for index, d, s, m in zip(multi_index, dims, _strides(dims, order), modes, strict=True):
        index = cast(asarray_like(index), np.intp)
        if m == "clip":
            index = clip(index, 0, d - 1)
        elif m == "wrap":
            index = mod(index, d)
        total = add(total, multiply(index, s))
    return cast(total, np.intp)


def _indices_from(make: Callable[..., tuple], name: str) -> Callable[..., tuple]:
    def indices_from(arr: Any, *args: Any, **kwargs: Any) -> tuple:
        return make(np.empty(shape_of(arr), dtype=bool), *args, **kwargs)

    indices_from.__name__ = name
    return indices_from


IMPLEMENTS: dict[Callable[..., Any], Callable[..., Any]] = {
    np.insert: insert,
    np.delete: delete,
    np.resize: resize,
    np.compress: compress,
    np.extract: extract,
    np.choose: choose,
    np.diagflat: diagflat,
    np.matrix_transpose: matrix_transpose,
    np.put: put,
    np.putmask: putmask,
    np.place: place,
    np.fill_diagonal: fill_diagonal,
    np.copyto: copyto,
    np.put_along_axis: put_along_axis,
    np.ix_: ix_,
    np.unravel_index: unravel_index,
    np.ravel_multi_index: ravel_multi_index,
    np.diag_indices_from: _indices_from(np.diag_indices_from, "diag_indices_from"),
    np.tril_indices_from: _indices_from(np.tril_indices_from, "tril_indices_from"),
    np.triu_indices_from: _indices_from(np.triu_indices_from, "triu_indices_from"),
}
if hasattr(np, "unstack"):  # NumPy >= 2.1
    IMPLEMENTS[np.unstack] = unstack
