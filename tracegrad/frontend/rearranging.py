"""Functions that rearrange elements by indexing: flips, rolls, repeats, splits, diagonals,
differences and padding.  All are slices or gathers (padding adds statistics and ramps of
edge values), so their gradients are the indexing ones."""

from __future__ import annotations

import builtins
import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ShapeError, UnsupportedNumpyFunction
from .elementwise import add, astype, divide, floor, multiply, rint, subtract, zeros
from .indexing import along, getitem, setitem, take
from .promotion import dtype_of, normalize_axes, shape_of
from .reductions import amax, amin, mean
from .shapes import broadcast_to, concatenate, moveaxis, ravel, reshape, transpose


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


# =============================================================================================
# Padding

_COPYING_MODES = ("edge", "reflect", "symmetric", "wrap")
_STATISTIC_MODES = ("maximum", "minimum", "mean", "median")
_PAD_MODES = ("constant", "empty", *_COPYING_MODES, "linear_ramp", *_STATISTIC_MODES)
_MODE_OPTIONS = {
    "constant": {"constant_values"},
    "reflect": {"reflect_type"},
    "symmetric": {"reflect_type"},
    "linear_ramp": {"end_values"},
    **{mode: {"stat_length"} for mode in _STATISTIC_MODES},
}
# Above this many runs of consecutive positions along one axis, np.pad gathers the positions
# in one go: slices are views in compiled code, but hundreds of them make a long program.
_MAX_PAD_SLICES = 8


def pad(x: Any, pad_width: Any, mode: Any = "constant", **kwargs: Any) -> Any:
    """``np.pad`` in every mode NumPy names (a function as ``mode`` is not supported), with
    widths and options per axis.  Axes are padded one after the other, as NumPy does, each
    by concatenating to ``x`` slices of it (the copying modes), statistics of it or ramps
    towards its edges; the gradient flows back through those."""
    if callable(mode) or mode not in _PAD_MODES:
        raise UnsupportedNumpyFunction(
            f"np.pad(mode={mode!r}) is not supported on traced values; the supported modes "
            f"are {', '.join(map(repr, _PAD_MODES))}."
        )
    unknown = set(kwargs) - _MODE_OPTIONS.get(mode, set())
    if unknown:
        raise ValueError(f"np.pad: unsupported keyword arguments for mode {mode!r}: {unknown}")
    ndim = len(shape_of(x))
    widths = _pairs(pad_width, ndim, np.int64)
    if np.any(widths < 0):
        raise ValueError("np.pad: index can't contain negative values")
    for axis in range(ndim):
        before, after = (int(w) for w in widths[axis])
        if not before and not after:
            continue
        if mode not in ("constant", "empty") and shape_of(x)[axis] == 0:
            raise ValueError(f"np.pad: can't extend empty axis {axis} using modes other than "
                             "'constant' or 'empty'")  # fmt: skip
        x = concatenate(_sides(x, axis, before, after, mode, kwargs), axis=axis)
    return x


def _pairs(values: Any, ndim: int, dtype: Any) -> np.ndarray:
    """A scalar, a (before, after) pair or one pair per axis, as an (ndim, 2) array."""
    return np.broadcast_to(np.asarray(values, dtype=dtype), (ndim, 2))


def _sides(x: Any, axis: int, before: int, after: int, mode: str, options: dict) -> list:
    """The parts that make up padded ``axis``: what goes before ``x``, ``x``, what goes after."""
    ndim = len(shape_of(x))
    if mode in ("reflect", "symmetric") and options.get("reflect_type", "even") == "odd":
        return _odd_reflection(x, axis, before, after, mode == "symmetric")
    if mode in _COPYING_MODES:
        return _copied_sides(x, axis, before, after, mode)
    if mode in ("constant", "empty"):  # 'empty' leaves the values open: zeros will do
        make, option = _filled, _pairs(options.get("constant_values", 0), ndim, dtype_of(x))
    elif mode == "linear_ramp":
        make, option = _ramp, _pairs(options.get("end_values", 0), ndim, np.float64)
    else:
        lengths = options.get("stat_length")
        option = np.full((ndim, 2), None) if lengths is None else _pairs(lengths, ndim, np.int64)
        make = functools.partial(_statistic, mode=mode)
    first, last = (
        make(x, axis, before, option[axis][0], 0),
        make(x, axis, after, option[axis][1], -1),
    )
    return [part for part in (first, x, last) if part is not None]


def _filled(x: Any, axis: int, width: int, value: Any, side: int) -> Any:
    return np.full(_with_length(x, axis, width), value, dtype_of(x)) if width else None


def _with_length(x: Any, axis: int, length: int) -> tuple[int, ...]:
    shape = shape_of(x)
    return shape[:axis] + (length,) + shape[axis + 1 :]


def _edge(x: Any, axis: int, side: int) -> Any:
    """The first (side 0) or last (side -1) slice of ``x`` along ``axis``, the axis kept."""
    start = 0 if side == 0 else shape_of(x)[axis] - 1
    return getitem(x, along(axis, len(shape_of(x)), slice(start, start + 1)))


def _ramp(x: Any, axis: int, width: int, end: float, side: int) -> Any:
    """NumPy's linear_ramp: from ``end`` at the outside towards the edge value of ``x``
    (which it does not reach), ``width`` steps of (edge - end) / width."""
    if not width:
        return None
    steps = np.arange(width, dtype=np.float64) if side == 0 else np.arange(width - 1, -1, -1.0)
    steps = steps.reshape(_with_length(np.zeros([1] * len(shape_of(x))), axis, width))
    edge = _edge(x, axis, side)
    ramp = add(multiply(steps, divide(subtract(edge, end), width)), end)
    if dtype_of(x).kind in "iu":  # NumPy's linspace rounds down to integer dtypes
        ramp = floor(ramp)
    return astype(ramp, dtype_of(x))


def _statistic(x: Any, axis: int, width: int, length: Any, side: int, mode: str) -> Any:
    """The maximum, minimum, mean or median of the ``length`` elements next to one edge (all
    of them for None), repeated ``width`` times; rounded to integers for integer ``x``."""
    if not width:
        return None
    n = shape_of(x)[axis]
    length = n if length is None else min(int(length), n)
    if length < 0:
        raise ValueError("np.pad: index can't contain negative values")
    if length == 0 and mode in ("maximum", "minimum"):
        raise ValueError("np.pad: stat_length of 0 yields no value for padding")
    window = slice(0, length) if side == 0 else slice(n - length, n)
    chunk = getitem(x, along(axis, len(shape_of(x)), window))
    if mode == "median":
        from .statistics import median  # statistics imports this module

        value = median(chunk, axis=axis, keepdims=True)
    else:
        reduce = {"maximum": amax, "minimum": amin, "mean": mean}[mode]
        value = reduce(chunk, axis=axis, keepdims=True)
    if dtype_of(x).kind in "iu":
        value = rint(value)
    return broadcast_to(astype(value, dtype_of(x)), _with_length(x, axis, width))


def _odd_reflection(x: Any, axis: int, before: int, after: int, include_edge: bool) -> list:
    """reflect_type='odd': each reflected value v becomes 2 * edge - v.  Widths beyond one
    period reflect the already padded values about the new edges, in rounds, as NumPy does."""
    n = shape_of(x)[axis]
    if n == 1:  # nothing to reflect: NumPy repeats the edge
        return _copied_sides(x, axis, before, after, "edge")
    ndim = len(shape_of(x))
    period = n if include_edge else n - 1
    while before or after:
        valid = shape_of(x)[axis]
        usable = (valid // period if include_edge else (valid - 1) // period) * period
        left, right = min(usable, before), min(usable, after)
        skip = 0 if include_edge else 1  # reflect leaves the edge out of the mirror image
        parts = [x]
        if left:
            mirror = getitem(x, along(axis, ndim, slice(skip, skip + left)))
            parts.insert(0, subtract(add(*[_edge(x, axis, 0)] * 2), flip(mirror, axis)))
        if right:
            mirror = getitem(x, along(axis, ndim, slice(valid - skip - right, valid - skip)))
            parts.append(subtract(add(*[_edge(x, axis, -1)] * 2), flip(mirror, axis)))
        x = concatenate(parts, axis=axis)
        before, after = before - left, after - right
    return [x]


def _copied_sides(x: Any, axis: int, before: int, after: int, mode: str) -> list:
    """The padded axis as runs of consecutive source positions: NumPy's own np.pad of the
    positions 0..n-1 says which element each output position copies."""
    n = shape_of(x)[axis]
    if n == 0:
        raise ValueError(f"np.pad: can't extend empty axis {axis} using mode {mode!r}")
    source = np.pad(np.arange(n), (before, after), mode=mode)
    ndim = len(shape_of(x))
    runs = _runs(source)
    if len(runs) > _MAX_PAD_SLICES:  # widths of many periods: one gather, not many slices
        return [getitem(x, along(axis, ndim, source))]
    parts = []
    for start, step, length in runs:
        if step == 0:  # one element repeated (mode='edge')
            part = getitem(x, along(axis, ndim, slice(start, start + 1)))
            target = shape_of(part)[:axis] + (length,) + shape_of(part)[axis + 1 :]
            parts.append(broadcast_to(part, target))
        else:
            stop = start + step * length
            parts.append(
                getitem(x, along(axis, ndim, slice(start, stop if stop >= 0 else None, step)))
            )
    return parts


def _runs(source: np.ndarray) -> list[tuple[int, int, int]]:
    """``source`` as (start, step, length) runs with steps 1, -1 (or 0 for repeats)."""
    runs: list[tuple[int, int, int]] = []
    for position in source.tolist():
        if runs:
            start, step, length = runs[-1]
            last = start + step * (length - 1)
            if length == 1 and abs(position - last) <= 1:
                runs[-1] = (start, position - last, 2)
                continue
            if position - last == step:
                runs[-1] = (start, step, length + 1)
                continue
        runs.append((position, 1, 1))
    return runs


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
    np.pad: pad,
}
