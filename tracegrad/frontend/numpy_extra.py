"""More of NumPy on traced values, composed from the functions in numpy_api.

Nothing here declares a primitive: inverse trigonometry, shape utilities
(tile, repeat, flip, roll, pad, split, triu, diag), einsum and tensordot are
all compositions, so their gradients come from the primitives' rules.  Each
function registers itself in numpy_api's dispatch tables with ``@implements``.
"""

from __future__ import annotations

import builtins
import math
import string
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..core import primitives as P
from ..errors import ShapeError, UnsupportedNumpyFunction
from . import numpy_api as N


def implements(*numpy_functions: Callable[..., Any]) -> Callable:
    """Register ``fn`` as the traced version of the given NumPy functions or ufuncs."""

    def register(fn: Callable) -> Callable:
        for f in numpy_functions:
            table = N.UFUNCS if isinstance(f, np.ufunc) else N.FUNCTIONS
            table[f] = fn
        return fn

    return register


# =============================================================================================
# Elementwise


@implements(np.arcsin)
def arcsin(x: Any) -> Any:
    (x,) = N.promote(x, float_only=True)
    return N.arctan2(x, N.sqrt(N.subtract(1.0, N.multiply(x, x))))


@implements(np.arccos)
def arccos(x: Any) -> Any:
    (x,) = N.promote(x, float_only=True)
    return N.arctan2(N.sqrt(N.subtract(1.0, N.multiply(x, x))), x)


@implements(np.arcsinh)
def arcsinh(x: Any) -> Any:
    (x,) = N.promote(x, float_only=True)
    # Odd symmetry keeps precision for large negative x.
    ax = N.absolute(x)
    return N.multiply(N.sign(x), N.log(N.add(ax, N.sqrt(N.add(N.multiply(ax, ax), 1.0)))))


@implements(np.arccosh)
def arccosh(x: Any) -> Any:
    (x,) = N.promote(x, float_only=True)
    return N.log(N.add(x, N.sqrt(N.subtract(N.multiply(x, x), 1.0))))


@implements(np.arctanh)
def arctanh(x: Any) -> Any:
    (x,) = N.promote(x, float_only=True)
    return N.multiply(0.5, N.log1p(N.divide(N.multiply(2.0, x), N.subtract(1.0, x))))


@implements(np.cbrt)
def cbrt(x: Any) -> Any:
    (x,) = N.promote(x, float_only=True)
    return N.multiply(N.sign(x), N.power(N.absolute(x), 1.0 / 3.0))


@implements(np.deg2rad, np.radians)
def deg2rad(x: Any) -> Any:
    return N.multiply(N.promote(x, float_only=True)[0], math.pi / 180.0)


@implements(np.rad2deg, np.degrees)
def rad2deg(x: Any) -> Any:
    return N.multiply(N.promote(x, float_only=True)[0], 180.0 / math.pi)


@implements(np.logaddexp2)
def logaddexp2(x: Any, y: Any) -> Any:
    ln2 = math.log(2.0)
    return N.divide(N.logaddexp(N.multiply(x, ln2), N.multiply(y, ln2)), ln2)


@implements(np.isinf)
def isinf(x: Any) -> Any:
    if N.dtype_of(x).kind != "f":
        return N.zeros_like(x, dtype=np.bool_)
    return N.equal(N.absolute(x), np.inf)


@implements(np.isfinite)
def isfinite(x: Any) -> Any:
    if N.dtype_of(x).kind != "f":
        return N.ones_like(x, dtype=np.bool_)
    return N.logical_not(N.logical_or(N.isnan(x), isinf(x)))


@implements(np.logical_xor)
def logical_xor(x: Any, y: Any) -> Any:
    return N.not_equal(N.cast(x, np.bool_), N.cast(y, np.bool_))


@implements(np.nan_to_num)
def nan_to_num(
    x: Any, copy: bool = True, nan: float = 0.0, posinf: Any = None, neginf: Any = None
) -> Any:
    info = np.finfo(N.dtype_of(x))
    x = N.where(N.isnan(x), nan, x)
    x = N.where(N.equal(x, np.inf), info.max if posinf is None else posinf, x)
    return N.where(N.equal(x, -np.inf), info.min if neginf is None else neginf, x)


# =============================================================================================
# Reductions


@implements(np.ptp)
def ptp(x: Any, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
    N._no_out("ptp", out)
    return N.subtract(
        N.amax(x, axis=axis, keepdims=keepdims), N.amin(x, axis=axis, keepdims=keepdims)
    )


@implements(np.average)
def average(x: Any, axis: Any = None, weights: Any = None, returned: bool = False,
            keepdims: bool = False) -> Any:  # fmt: skip
    if returned:
        raise UnsupportedNumpyFunction("np.average(..., returned=True)")
    if weights is None:
        return N.mean(x, axis=axis, keepdims=keepdims)
    shape = N.shape_of(x)
    if len(N.shape_of(weights)) == 1 and len(shape) > 1 and isinstance(axis, int):
        # NumPy lays 1-D weights along ``axis``.
        weights = N.reshape(
            weights, tuple(-1 if i == axis % len(shape) else 1 for i in range(len(shape)))
        )
    total = N.sum(N.multiply(x, weights), axis=axis, keepdims=keepdims)
    w = N.broadcast_to(weights, N.shape_of(x)) if N.shape_of(weights) != N.shape_of(x) else weights
    return N.divide(total, N.sum(w, axis=axis, keepdims=keepdims))


# =============================================================================================
# Shapes


@implements(np.flip)
def flip(x: Any, axis: Any = None) -> Any:
    ndim = len(N.shape_of(x))
    axes = N.normalize_axes(axis, ndim)
    return N.getitem(
        x, tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(ndim))
    )


@implements(np.fliplr)
def fliplr(x: Any) -> Any:
    return flip(x, 1)


@implements(np.flipud)
def flipud(x: Any) -> Any:
    return flip(x, 0)


@implements(np.roll)
def roll(x: Any, shift: Any, axis: Any = None) -> Any:
    if axis is None:
        return N.reshape(roll(N.ravel(x), shift, 0), N.shape_of(x))
    shifts = (shift,) if isinstance(shift, int) else tuple(shift)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for s, a in zip(shifts, axes, strict=True):
        size = N.shape_of(x)[a]
        s = s % size if size else 0
        if not s:
            continue
        ndim = len(N.shape_of(x))
        head = tuple(slice(size - s, None) if i == a % ndim else slice(None) for i in range(ndim))
        tail = tuple(slice(None, size - s) if i == a % ndim else slice(None) for i in range(ndim))
        x = N.concatenate([N.getitem(x, head), N.getitem(x, tail)], axis=a)
    return x


@implements(np.tile)
def tile(x: Any, reps: Any) -> Any:
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    shape = N.shape_of(x)
    ndim = builtins.max(len(shape), len(reps))
    shape = (1,) * (ndim - len(shape)) + tuple(shape)
    reps = (1,) * (ndim - len(reps)) + reps
    # Insert a repeat axis before each axis, broadcast it, then merge the pairs.
    expanded = N.reshape(x, tuple(d for s in shape for d in (1, s)))
    target = tuple(d for r, s in zip(reps, shape, strict=True) for d in (r, s))
    return N.reshape(
        N.broadcast_to(expanded, target), tuple(r * s for r, s in zip(reps, shape, strict=True))
    )


@implements(np.repeat)
def repeat(x: Any, repeats: Any, axis: int | None = None) -> Any:
    if axis is None:
        x, axis = N.ravel(x), 0
    size = N.shape_of(x)[axis]
    counts = np.broadcast_to(np.asarray(repeats), (size,))
    index = np.repeat(np.arange(size), counts)
    ndim = len(N.shape_of(x))
    return N.getitem(x, tuple(index if i == axis % ndim else slice(None) for i in range(ndim)))


@implements(np.pad)
def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: Any = 0) -> Any:
    if mode != "constant":
        raise UnsupportedNumpyFunction(f"np.pad(mode={mode!r}); only mode='constant' is supported")
    shape = N.shape_of(x)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (len(shape), 2))
    values = np.broadcast_to(np.asarray(constant_values, dtype=N.dtype_of(x)), (len(shape), 2))
    for axis in range(len(shape)):
        before, after = (int(w) for w in widths[axis])
        parts = []
        current = N.shape_of(x)
        if before:
            block = current[:axis] + (before,) + current[axis + 1 :]
            parts.append(np.full(block, values[axis, 0], dtype=N.dtype_of(x)))
        parts.append(x)
        if after:
            block = current[:axis] + (after,) + current[axis + 1 :]
            parts.append(np.full(block, values[axis, 1], dtype=N.dtype_of(x)))
        if len(parts) > 1:
            x = N.concatenate(parts, axis=axis)
    return x


def _triangle(x: Any, k: int, lower: bool) -> Any:
    shape = N.shape_of(x)
    if len(shape) < 2:
        raise ShapeError(f"np.{'tril' if lower else 'triu'} needs at least 2-D input, got {shape}")
    rows, cols = shape[-2:]
    keep = np.tri(rows, cols, k, dtype=bool) if lower else ~np.tri(rows, cols, k - 1, dtype=bool)
    return N.where(keep, x, N.zeros_like(x) if not isinstance(x, np.ndarray) else 0)


@implements(np.tril)
def tril(x: Any, k: int = 0) -> Any:
    return _triangle(x, k, lower=True)


@implements(np.triu)
def triu(x: Any, k: int = 0) -> Any:
    return _triangle(x, k, lower=False)


@implements(np.diagonal)
def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    shape = N.shape_of(x)
    ndim = len(shape)
    a1, a2 = axis1 % ndim, axis2 % ndim
    rest = [i for i in range(ndim) if i not in (a1, a2)]
    moved = N.transpose(x, rest + [a1, a2])
    rows, cols = shape[a1], shape[a2]
    i = np.arange(
        builtins.max(
            0,
            builtins.min(rows, cols - offset) if offset >= 0 else builtins.min(rows + offset, cols),
        )
    )
    r, c = (i, i + offset) if offset >= 0 else (i - offset, i)
    return N.getitem(moved, (Ellipsis, r, c))


@implements(np.diag)
def diag(x: Any, k: int = 0) -> Any:
    shape = N.shape_of(x)
    if len(shape) == 2:
        return diagonal(x, k)
    if len(shape) != 1:
        raise ShapeError(f"np.diag needs a 1-D or 2-D array, got shape {shape}")
    n = shape[0] + abs(k)
    rows = np.arange(shape[0]) + builtins.max(-k, 0)
    positions = rows * n + rows + k
    return N.reshape(N.setitem(N.zeros((n * n,), N.dtype_of(x), like=x), positions, x), (n, n))


@implements(np.split)
def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Any]:
    size = N.shape_of(x)[axis]
    if isinstance(indices_or_sections, int) and size % indices_or_sections:
        raise ValueError("array split does not result in an equal division")
    return array_split(x, indices_or_sections, axis)


@implements(np.array_split)
def array_split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Any]:
    shape = N.shape_of(x)
    size = shape[axis]
    if isinstance(indices_or_sections, int):
        n = indices_or_sections
        base, extra = divmod(size, n)
        bounds = np.cumsum([0] + [base + (1 if i < extra else 0) for i in range(n)]).tolist()
    else:
        bounds = [0, *indices_or_sections, size]
    ndim = len(shape)
    return [
        N.getitem(x, tuple(slice(a, b) if i == axis % ndim else slice(None) for i in range(ndim)))
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]


# =============================================================================================
# Contractions


@implements(np.tensordot)
def tensordot(x: Any, y: Any, axes: Any = 2) -> Any:
    xs, ys = N.shape_of(x), N.shape_of(y)
    if isinstance(axes, int):
        ax = list(range(len(xs) - axes, len(xs)))
        ay = list(range(axes))
    else:
        ax, ay = ([a] if isinstance(a, int) else list(a) for a in axes)
    ax = [a % len(xs) for a in ax]
    ay = [a % len(ys) for a in ay]
    free_x = [i for i in range(len(xs)) if i not in ax]
    free_y = [i for i in range(len(ys)) if i not in ay]
    k = math.prod(xs[a] for a in ax)
    left = N.reshape(N.transpose(x, free_x + ax), (-1, k))
    right = N.reshape(N.transpose(y, ay + free_y), (k, -1))
    out_shape = tuple(xs[i] for i in free_x) + tuple(ys[i] for i in free_y)
    return N.reshape(N.matmul(left, right), out_shape)


def _parse_einsum(subscripts: str, n: int) -> tuple[list[str], str]:
    subscripts = subscripts.replace(" ", "")
    if "." in subscripts:
        raise UnsupportedNumpyFunction("np.einsum with '...' is not supported; name every axis")
    if "->" in subscripts:
        inputs, output = subscripts.split("->")
    else:
        inputs = subscripts
        counts = {c: inputs.count(c) for c in inputs if c in string.ascii_letters}
        output = "".join(sorted(c for c, m in counts.items() if m == 1))
    terms = inputs.split(",")
    if len(terms) != n:
        raise ShapeError(f"np.einsum: {len(terms)} operand subscripts for {n} operands")
    return terms, output


@implements(np.einsum)
def einsum(subscripts: str, *operands: Any, optimize: Any = False, **kwargs: Any) -> Any:
    """Explicit-subscript einsum: pairwise contractions as matmuls, diagonals by indexing."""
    terms, output = _parse_einsum(subscripts, len(operands))
    sizes: dict[str, int] = {}
    prepared = []
    for term, x in zip(terms, operands, strict=True):
        x, term = _einsum_diagonal(x, term)
        for c, d in zip(term, N.shape_of(x), strict=True):
            if sizes.setdefault(c, d) != d:
                raise ShapeError(f"np.einsum: axis {c!r} has sizes {sizes[c]} and {d}")
        prepared.append((x, term))

    # Sum out axes that appear in only one operand and not in the output.
    def reduce_private(x: Any, term: str, others: Sequence[str]) -> tuple[Any, str]:
        private = [
            i for i, c in enumerate(term) if c not in output and all(c not in o for o in others)
        ]
        if private:
            x = N.sum(x, axis=tuple(private))
            term = "".join(c for i, c in enumerate(term) if i not in private)
        return x, term

    x, term = prepared[0]
    x, term = reduce_private(x, term, [t for _, t in prepared[1:]])
    for j in range(1, len(prepared)):
        y, yterm = prepared[j]
        later = [t for _, t in prepared[j + 1 :]]
        y, yterm = reduce_private(y, yterm, [term] + later)
        x, term = _einsum_pair(x, term, y, yterm, output, later)
    if sorted(term) != sorted(output):
        x, term = reduce_private(x, term, [])
    return N.transpose(x, [term.index(c) for c in output]) if term != output else x


def _einsum_diagonal(x: Any, term: str) -> tuple[Any, str]:
    while len(set(term)) != len(term):
        c = next(c for c in term if term.count(c) > 1)
        i = term.index(c)
        j = term.index(c, i + 1)
        x = diagonal(x, 0, i, j)
        term = "".join(t for k, t in enumerate(term) if k not in (i, j)) + c
    return x, term


def _einsum_pair(
    x: Any, xt: str, y: Any, yt: str, output: str, later: Sequence[str]
) -> tuple[Any, str]:
    keep = set(output).union(*later) if later else set(output)
    batch = [c for c in xt if c in yt and c in keep]
    contract = [c for c in xt if c in yt and c not in keep]
    free_x = [c for c in xt if c not in yt]
    free_y = [c for c in yt if c not in xt]
    xs = dict(zip(xt, N.shape_of(x), strict=True))
    ys = dict(zip(yt, N.shape_of(y), strict=True))
    if not batch:
        left = N.reshape(
            N.transpose(x, [xt.index(c) for c in free_x + contract]),
            (math.prod(xs[c] for c in free_x), math.prod(xs[c] for c in contract)),
        )
        right = N.reshape(
            N.transpose(y, [yt.index(c) for c in contract + free_y]),
            (math.prod(ys[c] for c in contract), math.prod(ys[c] for c in free_y)),
        )
        out = N.matmul(left, right)
        term = "".join(free_x + free_y)
        return N.reshape(out, tuple(xs[c] for c in free_x) + tuple(ys[c] for c in free_y)), term
    # Shared axes that survive: broadcast multiply, then sum the contracted axes.
    term = "".join(batch + free_x + free_y + contract)
    xe = N.reshape(
        N.transpose(x, [xt.index(c) for c in batch + free_x + contract]),
        tuple(xs[c] for c in batch + free_x) + (1,) * len(free_y) + tuple(xs[c] for c in contract),
    )
    ye = N.reshape(
        N.transpose(y, [yt.index(c) for c in batch + free_y + contract]),
        tuple(ys[c] for c in batch) + (1,) * len(free_x) + tuple(ys[c] for c in free_y + contract),
    )
    product = N.multiply(xe, ye)
    if contract:
        n = len(term) - len(contract)
        product = N.sum(product, axis=tuple(range(n, len(term))))
        term = term[:n]
    return product, term


# =============================================================================================
# Rounding and remainders (piecewise: the jumps have no derivative, the pieces do)


@implements(np.floor)
def floor(x: Any) -> Any:
    return P.floor(N.promote(x, float_only=True)[0])


@implements(np.ceil)
def ceil(x: Any) -> Any:
    return P.ceil(N.promote(x, float_only=True)[0])


@implements(np.trunc, np.fix)
def trunc(x: Any) -> Any:
    return P.trunc(N.promote(x, float_only=True)[0])


def _integer_division(x: Any, y: Any, rounding: Callable[[Any], Any]) -> tuple[Any, Any, Any]:
    """``(x, y, rounding(x / y))``; integer operands give an integer quotient, as in NumPy
    (computed in float64: exact below 2**53)."""
    dtype = N.result_dtype(x, y)
    if dtype.kind in "iu":
        x, y = N.cast(x, dtype), N.cast(y, dtype)
        q = rounding(N.divide(N.cast(x, np.float64), N.cast(y, np.float64)))
        return x, y, N.cast(q, dtype)
    x, y = N.promote(x, y, float_only=True)
    return x, y, rounding(N.divide(x, y))


@implements(np.floor_divide)
def floor_divide(x: Any, y: Any) -> Any:
    return _integer_division(x, y, floor)[2]


@implements(np.mod, np.remainder)
def mod(x: Any, y: Any) -> Any:
    x, y, q = _integer_division(x, y, floor)
    return N.subtract(x, N.multiply(q, y))


@implements(np.fmod)
def fmod(x: Any, y: Any) -> Any:
    x, y, q = _integer_division(x, y, trunc)
    return N.subtract(x, N.multiply(q, y))


@implements(np.fmax)
def fmax(x: Any, y: Any) -> Any:
    """np.maximum, except that a NaN loses to a number (NaN only where both are NaN)."""
    x, y = N.promote(x, y)
    return N.where(N.isnan(y), x, N.where(N.isnan(x), y, N.maximum(x, y)))


@implements(np.fmin)
def fmin(x: Any, y: Any) -> Any:
    """np.minimum, except that a NaN loses to a number (NaN only where both are NaN)."""
    x, y = N.promote(x, y)
    return N.where(N.isnan(y), x, N.where(N.isnan(x), y, N.minimum(x, y)))


@implements(np.heaviside)
def heaviside(x: Any, h0: Any) -> Any:
    x, h0 = N.promote(x, h0, float_only=True)
    one = N.ones_like(x)
    return N.where(N.greater(x, 0), one, N.where(N.less(x, 0), N.zeros_like(x), h0))


@implements(np.sinc)
def sinc(x: Any) -> Any:
    (x,) = N.promote(x, float_only=True)
    px = N.multiply(x, math.pi)
    safe = N.where(N.equal(x, 0), 1.0, px)  # double where: no 0/0 in either branch's gradient
    return N.where(N.equal(x, 0), 1.0, N.divide(N.sin(safe), safe))


# =============================================================================================
# More structure: differences, products of vectors, stacking variants, gathers


@implements(np.diff)
def diff(x: Any, n: int = 1, axis: int = -1, **kwargs: Any) -> Any:
    if kwargs.get("prepend") is not None or kwargs.get("append") is not None:
        raise UnsupportedNumpyFunction("np.diff(prepend=/append=) is not supported")
    ndim = len(N.shape_of(x))
    a = axis % ndim
    for _ in range(n):
        hi = tuple(slice(1, None) if i == a else slice(None) for i in range(ndim))
        lo = tuple(slice(None, -1) if i == a else slice(None) for i in range(ndim))
        x = N.subtract(N.getitem(x, hi), N.getitem(x, lo))
    return x


@implements(np.cross)
def cross(
    a: Any, b: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: Any = None
) -> Any:
    if N.shape_of(a)[-1] != 3 or N.shape_of(b)[-1] != 3 or axis is not None:
        raise UnsupportedNumpyFunction("np.cross supports 3-vectors along the last axis")
    a0, a1, a2 = (N.getitem(a, (Ellipsis, i)) for i in range(3))
    b0, b1, b2 = (N.getitem(b, (Ellipsis, i)) for i in range(3))
    parts = [
        N.subtract(N.multiply(a1, b2), N.multiply(a2, b1)),
        N.subtract(N.multiply(a2, b0), N.multiply(a0, b2)),
        N.subtract(N.multiply(a0, b1), N.multiply(a1, b0)),
    ]
    return N.stack(parts, axis=-1)


@implements(np.kron)
def kron(a: Any, b: Any) -> Any:
    sa, sb = N.shape_of(a), N.shape_of(b)
    if len(sa) != 2 or len(sb) != 2:
        raise UnsupportedNumpyFunction("np.kron supports 2-D operands")
    product = N.multiply(N.reshape(a, (sa[0], 1, sa[1], 1)), N.reshape(b, (1, sb[0], 1, sb[1])))
    return N.reshape(product, (sa[0] * sb[0], sa[1] * sb[1]))


@implements(np.column_stack)
def column_stack(arrays: Sequence[Any]) -> Any:
    cols = [N.reshape(a, (-1, 1)) if len(N.shape_of(a)) == 1 else a for a in arrays]
    return N.concatenate(cols, axis=1)


@implements(np.dstack)
def dstack(arrays: Sequence[Any]) -> Any:
    def as3d(a: Any) -> Any:
        shape = N.shape_of(a)
        if len(shape) == 0:
            return N.reshape(a, (1, 1, 1))
        if len(shape) == 1:
            return N.reshape(a, (1, shape[0], 1))
        if len(shape) == 2:
            return N.reshape(a, shape + (1,))
        return a

    return N.concatenate([as3d(a) for a in arrays], axis=2)


@implements(np.append)
def append(arr: Any, values: Any, axis: int | None = None) -> Any:
    if axis is None:
        return N.concatenate([N.ravel(arr), N.ravel(values)])
    return N.concatenate([arr, values], axis=axis)


@implements(np.take)
def take(
    a: Any, indices: Any, axis: int | None = None, out: Any = None, mode: str = "raise"
) -> Any:
    N._no_out("take", out)
    if axis is None:
        a, axis = N.ravel(a), 0
    ndim = len(N.shape_of(a))
    return N.getitem(a, tuple(indices if i == axis % ndim else slice(None) for i in range(ndim)))


@implements(np.take_along_axis)
def take_along_axis(arr: Any, indices: Any, axis: int) -> Any:
    shape = N.shape_of(arr)
    ndim = len(shape)
    a = axis % ndim
    index_shape = N.shape_of(indices)
    grids = np.ogrid[tuple(slice(0, n) for n in index_shape)]
    index = tuple(indices if i == a else grids[i] for i in range(ndim))
    return N.getitem(arr, index)


@implements(np.convolve)
def convolve(a: Any, v: Any, mode: str = "full") -> Any:
    """1-D convolution as a sum of shifted, scaled copies (fine for short kernels)."""
    n, m = N.shape_of(a)[0], N.shape_of(v)[0]
    if m > n:
        a, v, n, m = v, a, m, n
    total = None
    for j in range(m):
        shifted = pad(N.multiply(a, N.getitem(v, j)), ((j, m - 1 - j),))
        total = shifted if total is None else N.add(total, shifted)
    if mode == "full":
        return total
    if mode == "same":
        start = (m - 1) // 2
        return N.getitem(total, slice(start, start + n))
    if mode == "valid":
        return N.getitem(total, slice(m - 1, n))
    raise ValueError(f"np.convolve: unknown mode {mode!r}")


# =============================================================================================
# NaN-aware reductions and logical reductions


@implements(np.nansum)
def nansum(
    x: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False
) -> Any:
    N._no_out("nansum", out)
    return N.sum(N.where(N.isnan(x), 0.0, x), axis=axis, dtype=dtype, keepdims=keepdims)


@implements(np.nanmean)
def nanmean(
    x: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False
) -> Any:
    N._no_out("nanmean", out)
    valid = N.logical_not(N.isnan(x))
    total = N.sum(N.where(valid, x, 0.0), axis=axis, keepdims=keepdims)
    return N.divide(total, N.sum(N.cast(valid, N.dtype_of(total)), axis=axis, keepdims=keepdims))


@implements(np.all)
def all_(x: Any, axis: Any = None, out: Any = None, keepdims: bool = False, **kwargs: Any) -> Any:
    N._no_out("all", out)
    return N.equal(N.sum(N.logical_not(x), axis=axis, keepdims=keepdims), 0)


@implements(np.any)
def any_(x: Any, axis: Any = None, out: Any = None, keepdims: bool = False, **kwargs: Any) -> Any:
    N._no_out("any", out)
    return N.greater(N.sum(N.cast(x, np.bool_), axis=axis, keepdims=keepdims), 0)


@implements(np.count_nonzero)
def count_nonzero(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return N.sum(N.not_equal(x, 0), axis=axis, keepdims=keepdims)


# =============================================================================================
# Products and cumulative sums and products


def _accumulator(x: Any, dtype: Any) -> Any:
    """``x`` in the dtype NumPy accumulates it in (bools and small integers widen, like sum)."""
    x = N.asarray_like(x)
    if dtype is not None:
        return N.cast(x, dtype)
    kind, size = N.dtype_of(x).kind, N.dtype_of(x).itemsize
    if kind == "b" or (kind == "i" and size < 8):
        return N.cast(x, np.int64)
    if kind == "u" and size < 8:
        return N.cast(x, np.uint64)
    return x


@implements(np.prod)
def prod(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
         **kwargs: Any) -> Any:  # fmt: skip
    N._no_out("prod", out)
    initial = kwargs.pop("initial", None)
    N._reject_kwargs("prod", kwargs)
    x = _accumulator(x, dtype)
    axes = N.normalize_axes(axis, len(N.shape_of(x)))
    result = P.reduce_prod(x, axes=axes) if axes else x
    if initial is not None and initial is not np._NoValue:
        result = N.multiply(result, initial)
    return N._keep(x, result, axes, keepdims)


def _scan_axis(x: Any, axis: Any) -> tuple[Any, int]:
    if axis is None:
        return N.ravel(x), 0
    return x, N.normalize_axes(axis, len(N.shape_of(x)))[0]


@implements(np.cumsum)
def cumsum(x: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Any:
    N._no_out("cumsum", out)
    x, axis = _scan_axis(_accumulator(x, dtype), axis)
    return P.cumsum(x, axis=axis, reverse=False)


@implements(np.cumprod)
def cumprod(x: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Any:
    """Cumulative product as a linear recurrence: its gradient is exact where x has zeros."""
    N._no_out("cumprod", out)
    x, axis = _scan_axis(_accumulator(x, dtype), axis)
    return P.cumprod_along(x, axis)


def _cumulative(scan: Callable, identity: int, name: str) -> Callable:
    def fn(x: Any, /, *, axis: Any = None, dtype: Any = None, out: Any = None,
           include_initial: bool = False) -> Any:  # fmt: skip
        N._no_out(name, out)
        if axis is None and len(N.shape_of(x)) > 1:
            raise ShapeError(f"np.{name}: axis must be given for arrays of more than one axis")
        result = scan(x, axis=axis, dtype=dtype)
        if not include_initial:
            return result
        shape = N.shape_of(result)
        a = 0 if axis is None else N.normalize_axes(axis, len(shape))[0]
        first = np.full(shape[:a] + (1,) + shape[a + 1 :], identity, N.dtype_of(result))
        return N.concatenate([first, result], axis=a)

    fn.__name__ = name
    return fn


if hasattr(np, "cumulative_sum"):  # NumPy >= 2.1
    implements(np.cumulative_sum)(_cumulative(cumsum, 0, "cumulative_sum"))
    implements(np.cumulative_prod)(_cumulative(cumprod, 1, "cumulative_prod"))


# =============================================================================================
# Positions of extrema, sorting (integer results carry no gradient; np.sort's does, through
# the gather by the sorting permutation)


def _arg_extremum(prim: P.Primitive, name: str) -> Callable[..., Any]:
    def fn(x: Any, axis: Any = None, out: Any = None, *, keepdims: bool = False) -> Any:
        N._no_out(name, out)
        x = N.asarray_like(x)
        shape = N.shape_of(x)
        if axis is None:
            result = prim(N.ravel(x), axis=0)
            return N.reshape(result, (1,) * len(shape)) if keepdims else result
        a = N.normalize_axes(axis, len(shape))[0]
        return N._keep(x, prim(x, axis=a), (a,), keepdims)

    fn.__name__ = name
    return fn


argmax = implements(np.argmax)(_arg_extremum(P.argmax, "argmax"))
argmin = implements(np.argmin)(_arg_extremum(P.argmin, "argmin"))


def _last_axis(x: Any, axis: Any, order: Any, name: str) -> tuple[Any, int]:
    if order is not None:
        raise UnsupportedNumpyFunction(f"np.{name}(order=...) sorts structured arrays")
    if axis is None:
        return N.ravel(x), 0
    x = N.asarray_like(x)
    return x, N.normalize_axes(axis, len(N.shape_of(x)))[0]


@implements(np.argsort)
def argsort(x: Any, axis: Any = -1, kind: Any = None, order: Any = None, **kwargs: Any) -> Any:
    """Always a stable sort: ties keep their order (NumPy's default kind does not promise it)."""
    x, a = _last_axis(x, axis, order, "argsort")
    return N.moveaxis(P.argsort(N.moveaxis(x, a, -1)), -1, a)


@implements(np.sort)
def sort(x: Any, axis: Any = -1, kind: Any = None, order: Any = None, **kwargs: Any) -> Any:
    x, a = _last_axis(x, axis, order, "sort")
    moved = N.moveaxis(x, a, -1)
    ordered = take_along_axis(moved, P.argsort(moved), -1)
    return N.moveaxis(ordered, -1, a)


# =============================================================================================
# np.linalg on single 2-D matrices


def _matrix(name: str, *xs: Any) -> list[Any]:
    shape = N.shape_of(xs[0])
    if len(shape) > 2:
        raise UnsupportedNumpyFunction(
            f"np.linalg.{name} on a stack of matrices (shape {shape}) is not supported; "
            "apply it to each matrix (a Python loop is unrolled while tracing) and np.stack "
            "the results."
        )
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ShapeError(f"np.linalg.{name} needs a square 2-D matrix, got shape {shape}")
    return N.promote(*(N.asarray_like(x) for x in xs), float_only=True)


@implements(np.linalg.solve)
def solve(a: Any, b: Any) -> Any:
    a, b = _matrix("solve", a, b)
    if len(N.shape_of(b)) == 1:
        return N.reshape(P.solve(a, N.reshape(b, (-1, 1))), (-1,))
    if len(N.shape_of(b)) != 2:
        raise UnsupportedNumpyFunction(
            f"np.linalg.solve with a right-hand side of shape {N.shape_of(b)}: only 1-D and 2-D"
        )
    return P.solve(a, b)


@implements(np.linalg.inv)
def inv(a: Any) -> Any:
    return P.inv(*_matrix("inv", a))


@implements(np.linalg.det)
def det(a: Any) -> Any:
    return P.det(*_matrix("det", a))


_SlogdetResult = type(np.linalg.slogdet(np.eye(1)))  # a namedtuple in NumPy 2
if not hasattr(_SlogdetResult, "_fields"):  # NumPy 1: a plain tuple

    def _SlogdetResult(sign: Any, logabsdet: Any) -> tuple:  # noqa: N802
        return sign, logabsdet


@implements(np.linalg.slogdet)
def slogdet(a: Any) -> Any:
    """``(sign, logabsdet)``; only logabsdet has a gradient (inv(a).T)."""
    (a,) = _matrix("slogdet", a)
    sign = P.slogdet(a, part="sign")
    logabsdet = P.slogdet(a, part="logabsdet")
    return _SlogdetResult(sign, logabsdet)


@implements(np.linalg.cholesky)
def cholesky(a: Any, /, *, upper: bool = False) -> Any:
    """Reads only the lower triangle of ``a`` (upper with ``upper=True``), as NumPy does; so
    does the gradient."""
    (a,) = _matrix("cholesky", a)
    if upper:  # R = chol(a^T)^T reads the upper triangle of a
        return N.transpose(P.cholesky(N.transpose(a)))
    return P.cholesky(a)
