"""Functions that rearrange elements by indexing: flips, rolls, repeats, splits, diagonals
and differences.  All are slices or gathers, so their gradients are the indexing ones."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ShapeError, UnsupportedNumpyFunction
from .elementwise import subtract, zeros
from .indexing import along, getitem, setitem, take
from .promotion import dtype_of, normalize_axes, shape_of
from .shapes import concatenate, moveaxis, ravel, reshape, transpose


def flip(x: Any, axis: Any = None) -> Any:
    ndim = len(shape_of(x))
    axes = normalize_axes(axis, ndim)
    return getitem(
        x, tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(ndim))
    )


def fliplr(x: Any) -> Any:
    return flip(x, 1)


def flipud(x: Any) -> Any:
    return flip(x, 0)


def roll(x: Any, shift: Any, axis: Any = None) -> Any:
    if axis is None:
        return reshape(roll(ravel(x), shift, 0), shape_of(x))
    shifts = (shift,) if isinstance(shift, int) else tuple(shift)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for s, a in zip(shifts, axes, strict=True):
        size = shape_of(x)[a]
        s = s % size if size else 0
        if not s:
            continue
        ndim = len(shape_of(x))
        head = getitem(x, along(a, ndim, slice(size - s, None)))
        tail = getitem(x, along(a, ndim, slice(None, size - s)))
        x = concatenate([head, tail], axis=a)
    return x


def repeat(x: Any, repeats: Any, axis: int | None = None) -> Any:
    if axis is None:
        x, axis = ravel(x), 0
    size = shape_of(x)[axis]
    counts = np.broadcast_to(np.asarray(repeats), (size,))
    index = np.repeat(np.arange(size), counts)
    return getitem(x, along(axis, len(shape_of(x)), index))


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Any]:
    size = shape_of(x)[axis]
    if isinstance(indices_or_sections, int) and size % indices_or_sections:
        raise ValueError("array split does not result in an equal division")
    return array_split(x, indices_or_sections, axis)


def array_split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Any]:
    shape = shape_of(x)
    size = shape[axis]
    if isinstance(indices_or_sections, int):
        n = indices_or_sections
        base, extra = divmod(size, n)
        bounds = np.cumsum([0] + [base + (1 if i < extra else 0) for i in range(n)]).tolist()
    else:
        bounds = [0, *indices_or_sections, size]
    return [
        getitem(x, along(axis, len(shape), slice(a, b)))
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]


def _split_along(axis: int, min_ndim: int, name: str) -> Callable[..., list[Any]]:
    def split_it(x: Any, indices_or_sections: Any) -> list[Any]:
        ndim = len(shape_of(x))
        if ndim < min_ndim:
            raise ShapeError(f"np.{name} only works on arrays of {min_ndim} or more dimensions")
        return split(x, indices_or_sections, axis=0 if name == "hsplit" and ndim == 1 else axis)

    split_it.__name__ = name
    return split_it


vsplit = _split_along(0, 2, "vsplit")
hsplit = _split_along(1, 1, "hsplit")
dsplit = _split_along(2, 3, "dsplit")


def rot90(m: Any, k: int = 1, axes: Any = (0, 1)) -> Any:
    """Rotate by 90 degrees ``k`` times in the plane of ``axes``, first towards the second."""
    ndim = len(shape_of(m))
    a, b = (int(x) % ndim for x in axes)
    if a == b:
        raise ValueError("np.rot90: axes must be different")
    perm = list(range(ndim))
    perm[a], perm[b] = perm[b], perm[a]
    k %= 4
    if k == 0:
        return m
    if k == 2:
        return flip(flip(m, a), b)
    if k == 1:
        return transpose(flip(m, b), perm)
    return flip(transpose(m, perm), b)


def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    shape = shape_of(x)
    ndim = len(shape)
    a1, a2 = axis1 % ndim, axis2 % ndim
    rest = [i for i in range(ndim) if i not in (a1, a2)]
    moved = transpose(x, rest + [a1, a2])
    rows, cols = shape[a1], shape[a2]
    i = np.arange(
        builtins.max(
            0,
            builtins.min(rows, cols - offset) if offset >= 0 else builtins.min(rows + offset, cols),
        )
    )
    r, c = (i, i + offset) if offset >= 0 else (i - offset, i)
    return getitem(moved, (Ellipsis, r, c))


def diag(x: Any, k: int = 0) -> Any:
    shape = shape_of(x)
    if len(shape) == 2:
        return diagonal(x, k)
    if len(shape) != 1:
        raise ShapeError(f"np.diag needs a 1-D or 2-D array, got shape {shape}")
    n = shape[0] + abs(k)
    rows = np.arange(shape[0]) + builtins.max(-k, 0)
    positions = rows * n + rows + k
    return reshape(setitem(zeros((n * n,), dtype_of(x), like=x), positions, x), (n, n))


def diff(x: Any, n: int = 1, axis: int = -1, **kwargs: Any) -> Any:
    if kwargs.get("prepend") is not None or kwargs.get("append") is not None:
        raise UnsupportedNumpyFunction("np.diff(prepend=/append=) is not supported")
    ndim = len(shape_of(x))
    for _ in range(n):
        hi = getitem(x, along(axis, ndim, slice(1, None)))
        lo = getitem(x, along(axis, ndim, slice(None, -1)))
        x = subtract(hi, lo)
    return x


def sliding_window_view(
    x: Any, window_shape: Any, axis: Any = None, *, subok: bool = False, writeable: bool = False
) -> Any:
    """Every window of ``window_shape`` along ``axis`` (all axes by default), as NumPy's view:
    the windowed axes shrink to the number of windows and the window axes come last.  A
    traced result is a gather with constant indices, so its gradient adds up the windows."""
    shape = shape_of(x)
    windows = (window_shape,) if isinstance(window_shape, int | np.integer) else window_shape
    axes = tuple(range(len(shape))) if axis is None else axis
    axes = (axes,) if isinstance(axes, int | np.integer) else tuple(axes)
    if len(axes) != len(windows):
        raise ShapeError("sliding_window_view: give one axis per window dimension")
    for a, w in zip(axes, windows, strict=True):
        a = int(a) % len(shape)
        n = shape_of(x)[a] - int(w) + 1
        if n < 1 or w < 0:
            raise ShapeError(f"sliding_window_view: window {w} is larger than axis {a}")
        starts = np.arange(n)[:, None] + np.arange(int(w))[None, :]
        x = take(x, starts, axis=a)  # (..., windows, window, ...)
        x = moveaxis(x, a + 1, -1)
    return x


IMPLEMENTS: dict[Callable[..., Any], Callable[..., Any]] = {
    np.lib.stride_tricks.sliding_window_view: sliding_window_view,
    np.flip: flip,
    np.fliplr: fliplr,
    np.flipud: flipud,
    np.roll: roll,
    np.repeat: repeat,
    np.split: split,
    np.vsplit: vsplit,
    np.hsplit: hsplit,
    np.dsplit: dsplit,
    np.rot90: rot90,
    np.array_split: array_split,
    np.diagonal: diagonal,
    np.diag: diag,
    np.diff: diff,
}
