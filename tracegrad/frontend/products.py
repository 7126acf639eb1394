"""Products on traced values: matmul, dot and its relatives, tensordot, einsum, and the
products built from elementwise multiplication (outer, cross, kron, convolve)."""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..core import primitives as P
from ..errors import ShapeError, UnsupportedNumpyFunction
from .elementwise import add, conjugate, multiply, subtract
from .indexing import getitem
from .promotion import asarray_like, cast, dtype_of, no_out, promote, shape_of
from .rearranging import diagonal, pad
from .reductions import sum
from .shapes import (
    broadcast_to,
    expand_dims,
    moveaxis,
    ravel,
    reshape,
    stack,
    swapaxes,
    transpose,
)

# =============================================================================================
# Matrix products


def matmul(x: Any, y: Any, out: Any = None, **kwargs: Any) -> Any:
    no_out("matmul", out)
    x, y = promote(asarray_like(x), asarray_like(y))
    xs, ys = shape_of(x), shape_of(y)
    if not xs or not ys:
        raise ShapeError("matmul: operands must be at least 1-D; use * for scalars")
    if len(xs) > 2 or len(ys) > 2:
        return _batched_matmul(x, y)
    if xs[-1] != ys[0]:
        raise ShapeError(
            f"matmul: shapes {xs} and {ys} do not align: the last axis of the first ({xs[-1]}) "
            f"must equal the first axis of the second ({ys[0]}). Transpose an operand (x.T) "
            "or fix the layer sizes."
        )
    x2 = reshape(x, (1, xs[0])) if len(xs) == 1 else x
    y2 = reshape(y, (ys[0], 1)) if len(ys) == 1 else y
    if dtype_of(x2).kind not in "fc":
        # Integer matmul is rare in differentiable code; compute in float64 and cast back.
        result = P.matmul(cast(x2, np.float64), cast(y2, np.float64))
        result = cast(result, dtype_of(x2))
    else:
        result = P.matmul(x2, y2)
    out_shape = xs[:-1] + ys[1:]
    return reshape(result, out_shape)


def _batched_matmul(x: Any, y: Any) -> Any:
    xs, ys = shape_of(x), shape_of(y)
    if len(ys) == 2 and len(xs) > 2:
        # (..., n, k) @ (k, m): fold the batch into the rows.
        flat = reshape(x, (-1, xs[-1]))
        return reshape(matmul(flat, y), xs[:-1] + (ys[-1],))
    x = reshape(x, (1, xs[0])) if len(xs) == 1 else x
    y = reshape(y, (ys[0], 1)) if len(ys) == 1 else y
    if shape_of(x)[-1] != shape_of(y)[-2]:
        raise ShapeError(
            f"matmul: shapes {xs} and {ys} do not align: the last axis of the first "
            f"({xs[-1]}) must equal the second-to-last axis of the second ({shape_of(y)[-2]})."
        )
    # Batched: broadcast (..., n, k, 1) * (..., 1, k, m) and sum over k.
    product = multiply(expand_dims(x, -1), expand_dims(y, -3))
    result = sum(product, axis=-2)
    out_shape = shape_of(result)
    if len(xs) == 1:
        out_shape = out_shape[:-2] + out_shape[-1:]
    if len(ys) == 1:
        out_shape = out_shape[:-1]
    return reshape(result, out_shape)


def dot(x: Any, y: Any, out: Any = None) -> Any:
    no_out("dot", out)
    xs, ys = shape_of(x), shape_of(y)
    if not xs or not ys:
        return multiply(x, y)
    if len(ys) > 2:  # the last axis of x against the second-to-last of y, all others kept
        return tensordot(x, y, axes=([len(xs) - 1], [len(ys) - 2]))
    return matmul(x, y)


def inner(x: Any, y: Any) -> Any:
    if not shape_of(x) or not shape_of(y):  # a scalar scales the other operand
        return multiply(x, y)
    if len(shape_of(x)) == 1 and len(shape_of(y)) == 1:
        return matmul(x, y)
    return matmul(x, swapaxes(y, -1, -2)) if len(shape_of(y)) > 1 else matmul(x, y)


def outer(x: Any, y: Any, out: Any = None) -> Any:
    no_out("outer", out)
    return multiply(reshape(ravel(x), (-1, 1)), reshape(ravel(y), (1, -1)))


def vdot(x: Any, y: Any) -> Any:
    return sum(multiply(conjugate(ravel(x)), ravel(y)))  # x is conjugated, as in NumPy


def vecdot(x1: Any, x2: Any, axis: int = -1, **kwargs: Any) -> Any:
    """The dot product of vectors along ``axis``, broadcasting the other axes; ``x1`` is
    conjugated, as in NumPy."""
    return sum(multiply(conjugate(x1), x2), axis=axis)


def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None,
          out: Any = None) -> Any:  # fmt: skip
    no_out("trace", out)
    return sum(diagonal(x, offset, axis1, axis2), axis=-1, dtype=dtype)


# =============================================================================================
# Contractions


def tensordot(x: Any, y: Any, axes: Any = 2) -> Any:
    xs, ys = shape_of(x), shape_of(y)
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
    left = reshape(transpose(x, free_x + ax), (-1, k))
    right = reshape(transpose(y, ay + free_y), (k, -1))
    out_shape = tuple(xs[i] for i in free_x) + tuple(ys[i] for i in free_y)
    return reshape(matmul(left, right), out_shape)


def _parse_einsum(subscripts: str, shapes: Sequence[tuple[int, ...]]) -> tuple[list[str], str]:
    """Operand and output terms, with each ``...`` spelled out as unused letters (the same
    letters, right-aligned, in every operand: the ellipsis axes broadcast)."""
    subscripts = subscripts.replace(" ", "")
    inputs, arrow, output = subscripts.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(shapes):
        raise ShapeError(f"np.einsum: {len(terms)} operand subscripts for {len(shapes)} operands")
    named = [len(t.replace("...", "")) for t in terms]
    ellipsis_ndim = max(
        (len(shape) - k for t, shape, k in zip(terms, shapes, named, strict=True) if "..." in t),
        default=0,
    )
    spare = [c for c in string.ascii_letters if c not in subscripts][:ellipsis_ndim]
    if len(spare) < ellipsis_ndim:
        raise UnsupportedNumpyFunction("np.einsum: too many axes for the letters left over")
    terms = [
        t.replace("...", "".join(spare[len(spare) - (len(shape) - k) :]))
        for t, shape, k in zip(terms, shapes, named, strict=True)
    ]
    if arrow:
        output = output.replace("...", "".join(spare))
    else:  # NumPy's implicit output: the ellipsis axes, then the letters used once, sorted
        joined = "".join(terms)
        once = sorted(c for c in set(joined) if joined.count(c) == 1 and c not in spare)
        output = "".join(spare) + "".join(once)
    return terms, output


def _broadcast_ellipsis(prepared: list[tuple[Any, str]]) -> list[tuple[Any, str]]:
    """Drop a size-1 axis whose letter has a larger size in another operand: einsum then
    broadcasts it, as NumPy does for ellipsis axes."""
    largest: dict[str, int] = {}
    for x, term in prepared:
        for c, d in zip(term, shape_of(x), strict=True):
            largest[c] = max(largest.get(c, d), d)
    result = []
    for x, term in prepared:
        shape = shape_of(x)
        keep = [
            i for i, (c, d) in enumerate(zip(term, shape, strict=True)) if d != 1 or largest[c] == 1
        ]
        if len(keep) != len(term):
            x = reshape(x, tuple(shape[i] for i in keep))
            term = "".join(term[i] for i in keep)
        result.append((x, term))
    return result


def _sublist_subscripts(interleaved: tuple) -> tuple[str, tuple]:
    """``(a, sublist_a, b, sublist_b, ..., [output])`` as a subscripts string and the
    operands; the axis labels are integers (0-51) or Ellipsis."""
    letters = string.ascii_letters

    def term(sublist: Any) -> str:
        labels = []
        for label in sublist:
            if label is Ellipsis:
                labels.append("...")
            elif isinstance(label, int | np.integer) and 0 <= label < len(letters):
                labels.append(letters[label])
            else:
                raise ValueError(f"np.einsum: subscript labels must be 0-51 or ..., got {label!r}")
        return "".join(labels)

    operands = interleaved[0::2][: len(interleaved) // 2]
    inputs = ",".join(term(sub) for sub in interleaved[1::2])
    output = "->" + term(interleaved[-1]) if len(interleaved) % 2 else ""
    return inputs + output, operands


def einsum(subscripts: str, *operands: Any, optimize: Any = False, **kwargs: Any) -> Any:
    """np.einsum: pairwise contractions as matmuls, diagonals by indexing; ``...`` axes
    broadcast; implicit output as NumPy's.  The interleaved form
    ``einsum(a, [0, 1], b, [1, 2], [0, 2])`` is turned into subscripts first."""
    if not isinstance(subscripts, str):
        subscripts, operands = _sublist_subscripts((subscripts,) + operands)
    terms, output = _parse_einsum(subscripts, [shape_of(x) for x in operands])
    prepared = _broadcast_ellipsis(
        [_einsum_diagonal(x, term) for term, x in zip(terms, operands, strict=True)]
    )
    sizes: dict[str, int] = {}
    for x, term in prepared:
        for c, d in zip(term, shape_of(x), strict=True):
            if sizes.setdefault(c, d) != d:
                raise ShapeError(f"np.einsum: axis {c!r} has sizes {sizes[c]} and {d}")

    # Sum out axes that appear in only one operand and not in the output.
    def reduce_private(x: Any, term: str, others: Sequence[str]) -> tuple[Any, str]:
        private = [
            i for i, c in enumerate(term) if c not in output and all(c not in o for o in others)
        ]
        if private:
            x = sum(x, axis=tuple(private))
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
    return transpose(x, [term.index(c) for c in output]) if term != output else x


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
    xs = dict(zip(xt, shape_of(x), strict=True))
    ys = dict(zip(yt, shape_of(y), strict=True))
    if not batch:
        left = reshape(
            transpose(x, [xt.index(c) for c in free_x + contract]),
            (math.prod(xs[c] for c in free_x), math.prod(xs[c] for c in contract)),
        )
        right = reshape(
            transpose(y, [yt.index(c) for c in contract + free_y]),
            (math.prod(ys[c] for c in contract), math.prod(ys[c] for c in free_y)),
        )
        out = matmul(left, right)
        term = "".join(free_x + free_y)
        return reshape(out, tuple(xs[c] for c in free_x) + tuple(ys[c] for c in free_y)), term
    # Shared axes that survive: broadcast multiply, then sum the contracted axes.
    term = "".join(batch + free_x + free_y + contract)
    xe = reshape(
        transpose(x, [xt.index(c) for c in batch + free_x + contract]),
        tuple(xs[c] for c in batch + free_x) + (1,) * len(free_y) + tuple(xs[c] for c in contract),
    )
    ye = reshape(
        transpose(y, [yt.index(c) for c in batch + free_y + contract]),
        tuple(ys[c] for c in batch) + (1,) * len(free_x) + tuple(ys[c] for c in free_y + contract),
    )
    product = multiply(xe, ye)
    if contract:
        n = len(term) - len(contract)
        product = sum(product, axis=tuple(range(n, len(term))))
        term = term[:n]
    return product, term


# =============================================================================================
# Products of vectors and signals


def cross(
    a: Any, b: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: Any = None
) -> Any:
    """``np.cross`` of 2- and 3-vectors along any axes; a 2-vector has a third component of
    0, and two 2-vectors give the z component alone (a scalar per pair)."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = moveaxis(asarray_like(a), axisa, -1), moveaxis(asarray_like(b), axisb, -1)
    if shape_of(a)[-1] not in (2, 3) or shape_of(b)[-1] not in (2, 3):
        raise ValueError(
            "np.cross: incompatible dimensions for cross product (dimension must be 2 or 3)"
        )
    a0, a1, b0, b1 = (getitem(v, (Ellipsis, i)) for v in (a, b) for i in range(2))
    z = subtract(multiply(a0, b1), multiply(a1, b0))
    if shape_of(a)[-1] == shape_of(b)[-1] == 2:
        return z
    a2 = getitem(a, (Ellipsis, 2)) if shape_of(a)[-1] == 3 else None
    b2 = getitem(b, (Ellipsis, 2)) if shape_of(b)[-1] == 3 else None

    def times(u: Any, v: Any) -> Any:  # u * v with a missing (zero) component
        return 0.0 if u is None or v is None else multiply(u, v)

    x = subtract(times(a1, b2), times(a2, b1))
    y = subtract(times(a2, b0), times(a0, b2))
    common = np.broadcast_shapes(*(shape_of(c) for c in (x, y, z)))
    x, y, z = (broadcast_to(c, common) for c in (x, y, z))
    return moveaxis(stack([x, y, z], axis=-1), -1, axisc)


def kron(a: Any, b: Any) -> Any:
    """``np.kron`` of operands of any rank: the shorter shape gets leading ones, then every
    element of ``a`` scales a block of ``b`` (an outer product with interleaved axes)."""
    a, b = asarray_like(a), asarray_like(b)
    ndim = max(len(shape_of(a)), len(shape_of(b)))
    sa = (1,) * (ndim - len(shape_of(a))) + shape_of(a)
    sb = (1,) * (ndim - len(shape_of(b))) + shape_of(b)
    a_blocks = [d for n in sa for d in (n, 1)]
    b_blocks = [d for n in sb for d in (1, n)]
    product = multiply(reshape(a, a_blocks), reshape(b, b_blocks))
    return reshape(product, tuple(m * n for m, n in zip(sa, sb, strict=True)))


def convolve(a: Any, v: Any, mode: str = "full") -> Any:
    """1-D convolution as a sum of shifted, scaled copies (fine for short kernels)."""
    n, m = shape_of(a)[0], shape_of(v)[0]
    if m > n:
        a, v, n, m = v, a, m, n
    total = None
    for j in range(m):
        shifted = pad(multiply(a, getitem(v, j)), ((j, m - 1 - j),))
        total = shifted if total is None else add(total, shifted)
    if mode == "full":
        return total
    if mode == "same":
        start = (m - 1) // 2
        return getitem(total, slice(start, start + n))
    if mode == "valid":
        return getitem(total, slice(m - 1, n))
    raise ValueError(f"np.convolve: unknown mode {mode!r}")


IMPLEMENTS: dict[Callable[..., Any], Callable[..., Any]] = {
    np.matmul: matmul,
    np.vecdot: vecdot,
    np.dot: dot,
    np.inner: inner,
    np.outer: outer,
    np.vdot: vdot,
    np.trace: trace,
    np.tensordot: tensordot,
    np.einsum: einsum,
    np.cross: cross,
    np.kron: kron,
    np.convolve: convolve,
}
