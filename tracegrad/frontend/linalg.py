"""np.linalg on stacks of matrices (leading axes are a batch, as in NumPy).

solve, inv, det, slogdet, cholesky and the decompositions eigh, svd and qr are primitives
(core/linalg.py); the rest is composed from them: eigvalsh, svdvals, matrix_power,
multi_dot, pinv, lstsq, and the norms that need singular values.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..core import linalg as L
from ..core import primitives as P
from ..errors import ShapeError, UnsupportedNumpyFunction
from . import products as _products
from .elementwise import astype, greater, where
from .indexing import getitem
from .products import matmul
from .promotion import asarray_like, dtype_of, promote, shape_of
from .rearranging import diagonal as _diagonal
from .reductions import amax, amin, keep_dims, sum
from .reductions import norm as _norm_without_svd
from .shapes import broadcast_to, moveaxis, reshape, swapaxes

# =============================================================================================
# Operands


def _stack(name: str, *xs: Any, square: bool = True) -> list[Any]:
    """The operands as float arrays; the first must be a stack of (square) matrices."""
    shape = shape_of(xs[0])
    if len(shape) < 2 or (square and shape[-1] != shape[-2]):
        what = "square matrix" if square else "matrix"
        raise ShapeError(
            f"np.linalg.{name} needs a {what} or a stack of them (..., m, n), got shape {shape}"
        )
    return promote(*(asarray_like(x) for x in xs), float_only=True)


def _matrix_transpose(x: Any) -> Any:
    return swapaxes(x, -1, -2)


def _batch_to(x: Any, batch: tuple[int, ...]) -> Any:
    shape = shape_of(x)
    return x if shape[:-2] == batch else broadcast_to(x, (*batch, *shape[-2:]))


# =============================================================================================
# Primitives with NumPy's conventions


def solve(a: Any, b: Any) -> Any:
    """NumPy 2's rule: ``b`` is one vector if it is 1-D, else a stack of matrices (..., n, k);
    the batch axes of ``a`` and ``b`` broadcast."""
    a, b = _stack("solve", a, b)
    n = shape_of(a)[-1]
    vector = len(shape_of(b)) == 1
    if vector:
        b = reshape(b, (-1, 1))
    if shape_of(b)[-2] != n:
        raise ShapeError(
            f"np.linalg.solve: right-hand side of shape {shape_of(b)} does not fit matrices of "
            f"shape {shape_of(a)} (its {'length' if vector else 'axis -2'} must be {n})"
        )
    batch = np.broadcast_shapes(shape_of(a)[:-2], shape_of(b)[:-2])
    x = L.solve(_batch_to(a, batch), _batch_to(b, batch))
    return reshape(x, shape_of(x)[:-1]) if vector else x


def inv(a: Any) -> Any:
    return L.inv(*_stack("inv", a))


def det(a: Any) -> Any:
    """Its gradient is the transposed adjugate: defined at singular matrices too."""
    return L.det(*_stack("det", a))


_SlogdetResult = type(np.linalg.slogdet(np.eye(1)))  # a namedtuple in NumPy 2
if not hasattr(_SlogdetResult, "_fields"):  # NumPy 1: a plain tuple

    def _SlogdetResult(sign: Any, logabsdet: Any) -> tuple:  # noqa: N802
        return sign, logabsdet


def slogdet(a: Any) -> Any:
    """``(sign, logabsdet)``; only logabsdet has a gradient (inv(a).T)."""
    (a,) = _stack("slogdet", a)
    return _SlogdetResult(L.slogdet(a, part="sign"), L.slogdet(a, part="logabsdet"))


def cholesky(a: Any, /, *, upper: bool = False) -> Any:
    """Reads only the lower triangle of ``a`` (upper with ``upper=True``), as NumPy does; so
    does the gradient."""
    (a,) = _stack("cholesky", a)
    if upper:  # R = chol(a^T)^T reads the upper triangle of a
        return _matrix_transpose(L.cholesky(_matrix_transpose(a)))
    return L.cholesky(a)


class EighResult(NamedTuple):
    eigenvalues: Any
    eigenvectors: Any


class SVDResult(NamedTuple):
    U: Any
    S: Any
    Vh: Any


class QRResult(NamedTuple):
    Q: Any
    R: Any


def _rows(x: Any, start: int, stop: int) -> Any:
    return getitem(x, (Ellipsis, slice(start, stop), slice(None)))


def _triangle(name: str, a: Any, uplo: str) -> Any:
    """The matrix whose lower triangle the primitive reads: ``a`` for "L", ``a^T`` for "U"."""
    (a,) = _stack(name, a)
    if uplo not in ("L", "U"):
        raise ValueError(f"np.linalg.{name}: UPLO must be 'L' or 'U', got {uplo!r}")
    return a if uplo == "L" else _matrix_transpose(a)


def eigh(a: Any, UPLO: str = "L") -> EighResult:  # noqa: N803 (NumPy's name)
    """Eigenvalues (ascending) and eigenvectors of a symmetric matrix, from its lower (or
    upper) triangle. Gradients through the eigenvectors need distinct eigenvalues."""
    a = _triangle("eigh", a, UPLO)
    n = shape_of(a)[-1]
    packed = L.eigh(a, vectors=True)
    return EighResult(getitem(packed, (Ellipsis, 0, slice(None))), _rows(packed, 1, n + 1))


def eigvalsh(a: Any, UPLO: str = "L") -> Any:  # noqa: N803
    return L.eigh(_triangle("eigvalsh", a, UPLO), vectors=False)


def svd(a: Any, full_matrices: bool = True, compute_uv: bool = True,
        hermitian: bool = False) -> Any:  # fmt: skip
    """The SVD; with ``compute_uv`` the reduced one only (full_matrices=False), unless the
    matrices are square, where both agree."""
    (a,) = _stack("svd", a, square=False)
    if not compute_uv:
        return L.svd(a, vectors=False)
    m, n = shape_of(a)[-2:]
    if full_matrices and m != n:
        raise UnsupportedNumpyFunction(
            f"np.linalg.svd(full_matrices=True) of {m}x{n} matrices: the extra columns of U or "
            "Vh are not unique, so they have no gradient; pass full_matrices=False."
        )
    packed = L.svd(a, vectors=True)
    s = getitem(packed, (Ellipsis, m, slice(None)))
    return SVDResult(_rows(packed, 0, m), s, _matrix_transpose(_rows(packed, m + 1, m + 1 + n)))


def svdvals(x: Any, /) -> Any:
    (x,) = _stack("svdvals", x, square=False)
    return L.svd(x, vectors=False)


def qr(a: Any, mode: str = "reduced") -> Any:
    (a,) = _stack("qr", a, square=False)
    m, n = shape_of(a)[-2:]
    if mode not in ("reduced", "r") and not (mode == "complete" and m <= n):
        raise UnsupportedNumpyFunction(
            f"np.linalg.qr(mode={mode!r}) of {m}x{n} matrices is not supported: use "
            "mode='reduced' (the default) or 'r'."
        )
    packed = L.qr(a)
    r = _matrix_transpose(_rows(packed, m, m + n))
    return r if mode == "r" else QRResult(_rows(packed, 0, m), r)


# =============================================================================================
# Compositions


def matrix_power(a: Any, n: int) -> Any:
    """Repeated squaring; a negative power inverts first, 0 gives the identity."""
    (a,) = _stack("matrix_power", a)
    try:
        n = operator.index(n)
    except TypeError:
        message = f"np.linalg.matrix_power: the exponent must be an integer, got {n!r}"
        raise TypeError(message) from None
    if n == 0:
        size = shape_of(a)[-1]
        return broadcast_to(np.eye(size, dtype=dtype_of(a)), shape_of(a))
    base, result = (inv(a) if n < 0 else a), None
    n = abs(n)
    while n:
        if n & 1:
            result = base if result is None else matmul(result, base)
        n >>= 1
        if n:
            base = matmul(base, base)
    return result


def multi_dot(arrays: Sequence[Any], *, out: Any = None) -> Any:
    """The chained product, in the cheapest order (as NumPy picks it, so the rounding
    matches); the first and last operands may be vectors."""
    if out is not None:
        raise UnsupportedNumpyFunction("np.linalg.multi_dot(out=...) is not supported")
    if len(arrays) < 2:
        raise ValueError("np.linalg.multi_dot needs at least two arrays")
    ops = [asarray_like(x) for x in arrays]
    first, last = len(shape_of(ops[0])) == 1, len(shape_of(ops[-1])) == 1
    if first:
        ops[0] = reshape(ops[0], (1, -1))
    if last:
        ops[-1] = reshape(ops[-1], (-1, 1))
    dims = [shape_of(x)[0] for x in ops] + [shape_of(ops[-1])[1]]
    result = _chain(ops, _chain_order(dims), 0, len(ops) - 1)
    if first and last:
        return reshape(result, ())
    if first or last:
        return reshape(result, (-1,))
    return result


def _chain_order(dims: list[int]) -> list[list[int]]:
    """split[i][j]: where the cheapest product of operands i..j divides (dynamic program)."""
    count = len(dims) - 1
    cost = [[0] * count for _ in range(count)]
    split = [[0] * count for _ in range(count)]
    for length in range(1, count):
        for i in range(count - length):
            j = i + length
            options = [
                (cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1], k)
                for k in range(i, j)
            ]
            cost[i][j], split[i][j] = min(options)
    return split


def _chain(ops: list[Any], split: list[list[int]], i: int, j: int) -> Any:
    if i == j:
        return ops[i]
    k = split[i][j]
    return matmul(_chain(ops, split, i, k), _chain(ops, split, k + 1, j))


def _default_rcond(a: Any) -> float:
    return float(np.finfo(dtype_of(a)).eps) * max(shape_of(a)[-2:])


def _inverse_singular_values(s: Any, cutoff_ratio: Any) -> Any:
    """1/s where s exceeds ``cutoff_ratio`` times the largest (per matrix), else 0."""
    largest = amax(s, axis=-1, keepdims=True)
    kept = greater(s, cutoff_ratio * P.stop_gradient(largest))
    return where(kept, 1 / where(kept, s, 1), 0)


def pinv(a: Any, rcond: Any = None, hermitian: bool = False, *, rtol: Any = None) -> Any:
    """V diag(1/s) U^T over the singular values above the cutoff, as NumPy; the gradient
    goes through the SVD's vectors, so it needs distinct singular values."""
    (a,) = _stack("pinv", a, square=False)
    cutoff = rcond if rcond is not None else rtol
    if cutoff is None:
        cutoff = _default_rcond(a) if rtol is None and rcond is None else 0.0
    u, s, vh = svd(a, full_matrices=False)
    scaled = _matrix_transpose(vh) * reshape(
        _inverse_singular_values(s, cutoff), (*shape_of(s)[:-1], 1, -1)
    )
    return matmul(scaled, _matrix_transpose(u))


def lstsq(a: Any, b: Any, rcond: Any = None) -> tuple:
    """``(x, residuals, rank, s)`` with x = pinv(a) b (rcond=None: machine precision times
    max(m, n)). residuals are |b - a x|^2 per column when m > n, assuming full rank (NumPy
    returns an empty array for a rank-deficient ``a``); rank is a traced integer."""
    a, b = _stack("lstsq", a, b, square=False)
    if len(shape_of(a)) != 2:
        raise ShapeError(f"np.linalg.lstsq needs one matrix (as NumPy), got shape {shape_of(a)}")
    m, n = shape_of(a)
    if len(shape_of(b)) not in (1, 2) or shape_of(b)[0] != m:
        raise ShapeError(f"np.linalg.lstsq: b of shape {shape_of(b)} for a of shape {(m, n)}")
    cutoff = _default_rcond(a) if rcond is None else rcond
    s = svdvals(a)
    x = matmul(pinv(a, rcond=cutoff), b)
    if m > n:
        residual = b - matmul(a, x)
        residuals = sum(residual * residual, axis=0)
        residuals = reshape(residuals, (1,)) if len(shape_of(b)) == 1 else residuals
    else:
        residuals = np.zeros((0,), dtype=dtype_of(a))
    above = astype(greater(s, cutoff * P.stop_gradient(amax(s))), np.int32)
    return x, residuals, sum(above, dtype=np.int32), s  # NumPy's rank is an int32


# =============================================================================================
# Norms


def _singular_value_norm(x: Any, ord: Any, axes: tuple[int, int], keepdims: bool) -> Any:
    s = svdvals(moveaxis(x, axes, (-2, -1)))
    if ord == "nuc":
        result = sum(s, axis=-1)
    else:
        result = (amax if ord == 2 else amin)(s, axis=-1)
    return keep_dims(x, result, tuple(sorted(axes)), keepdims)


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:
    """np.linalg.norm: the matrix norms 2, -2 and 'nuc' from singular values, the others
    (and vector norms) in reductions."""
    ndim = len(shape_of(x))
    axes = axis if axis is not None else (tuple(range(ndim)) if ndim == 2 else None)
    if ord in (2, -2, "nuc") and isinstance(axes, tuple) and len(axes) == 2:
        (x,) = promote(asarray_like(x), float_only=True)
        return _singular_value_norm(x, ord, tuple(a % ndim for a in axes), keepdims)
    return _norm_without_svd(x, ord, axis, keepdims)


def vector_norm(x: Any, /, *, axis: Any = None, keepdims: bool = False, ord: Any = 2) -> Any:
    """Over all elements (axis=None) or several axes at once, as one vector."""
    ndim = len(shape_of(x))
    axes = tuple(range(ndim)) if axis is None else axis
    axes = (axes,) if isinstance(axes, int | np.integer) else tuple(int(a) % ndim for a in axes)
    moved = moveaxis(x, axes, tuple(range(-len(axes), 0)))
    flat = reshape(moved, (*shape_of(moved)[: ndim - len(axes)], -1))
    result = _norm_without_svd(flat, ord, -1, False)
    return keep_dims(x, result, tuple(sorted(axes)), keepdims)


def matrix_norm(x: Any, /, *, keepdims: bool = False, ord: Any = "fro") -> Any:
    return norm(x, ord, (-2, -1), keepdims)


def cond(x: Any, p: Any = None) -> Any:
    """The condition number: a ratio of singular values for p None, 2 and -2, else
    norm(x, p) norm(inv(x), p)."""
    if p in (None, 2, -2):
        s = svdvals(x)
        big, small = amax(s, axis=-1), amin(s, axis=-1)
        return small / big if p == -2 else big / small
    (x,) = _stack("cond", x)
    return norm(x, p, axis=(-2, -1)) * norm(inv(x), p, axis=(-2, -1))


def matrix_rank(A: Any, tol: Any = None, hermitian: bool = False, *,  # noqa: N803
                rtol: Any = None) -> Any:  # fmt: skip
    """The number of singular values above ``tol`` (default: the largest times eps times
    max(m, n), or ``rtol`` times the largest): an integer, with no gradient."""
    (a,) = promote(asarray_like(A), float_only=True)
    if len(shape_of(a)) < 2:
        return astype(P.stop_gradient(amax(abs(a))) > 0, np.int64)
    s = P.stop_gradient(svdvals(a))
    if tol is None:
        ratio = _default_rcond(a) if rtol is None else rtol
        tol = amax(s, axis=-1, keepdims=True) * ratio
    else:
        tol = asarray_like(tol)
        tol = reshape(tol, (*shape_of(tol), 1))
    return sum(astype(greater(s, tol), np.int64), axis=-1)


def tensorinv(a: Any, ind: int = 2) -> Any:
    """The inverse of ``a`` read as a matrix of its first ``ind`` axes by the rest."""
    shape = shape_of(a)
    rows = math.prod(shape[:ind])
    if ind <= 0 or rows != math.prod(shape[ind:]):
        raise ValueError(f"np.linalg.tensorinv: shape {shape} with ind={ind} is not square")
    return reshape(inv(reshape(a, (rows, -1))), (*shape[ind:], *shape[:ind]))


def tensorsolve(a: Any, b: Any, axes: Any = None) -> Any:
    """x with ``tensordot(a, x, x.ndim) == b``; ``axes`` of ``a`` move to the end first."""
    ndim = len(shape_of(a))
    if axes is not None:
        moved = [k % ndim for k in axes]
        a = moveaxis(a, moved, list(range(ndim - len(moved), ndim)))
    unknown = shape_of(a)[len(shape_of(b)) :]
    size = math.prod(unknown)
    if math.prod(shape_of(a)) != size * size:
        raise ValueError(f"np.linalg.tensorsolve: a of shape {shape_of(a)} does not give a "
                         f"square system for b of shape {shape_of(b)}")  # fmt: skip
    x = solve(reshape(a, (size, size)), reshape(b, (size,)))
    return reshape(x, unknown)


def outer(x1: Any, x2: Any, /) -> Any:
    if len(shape_of(x1)) != 1 or len(shape_of(x2)) != 1:
        raise ValueError(
            f"np.linalg.outer needs 1-D inputs, got shapes {shape_of(x1)} and {shape_of(x2)}"
        )
    return _products.outer(x1, x2)


def cross(x1: Any, x2: Any, /, *, axis: int = -1) -> Any:
    product = _products.cross(moveaxis(x1, axis, -1), moveaxis(x2, axis, -1))
    return moveaxis(product, -1, axis)


def trace(x: Any, /, *, offset: int = 0, dtype: Any = None) -> Any:
    return _products.trace(x, offset, -2, -1, dtype)


def diagonal(x: Any, /, *, offset: int = 0) -> Any:
    return _diagonal(x, offset, -2, -1)


def matrix_transpose(x: Any, /) -> Any:
    if len(shape_of(x)) < 2:
        raise ValueError(f"matrix_transpose needs at least 2 dimensions, got {shape_of(x)}")
    return _matrix_transpose(x)


def tensordot(x1: Any, x2: Any, /, *, axes: Any = 2) -> Any:
    return _products.tensordot(x1, x2, axes)


IMPLEMENTS: dict[Callable[..., Any], Callable[..., Any]] = {
    np.linalg.solve: solve,
    np.linalg.inv: inv,
    np.linalg.det: det,
    np.linalg.slogdet: slogdet,
    np.linalg.cholesky: cholesky,
    np.linalg.eigh: eigh,
    np.linalg.eigvalsh: eigvalsh,
    np.linalg.svd: svd,
    np.linalg.qr: qr,
    np.linalg.matrix_power: matrix_power,
    np.linalg.multi_dot: multi_dot,
    np.linalg.pinv: pinv,
    np.linalg.lstsq: lstsq,
    np.linalg.norm: norm,
    np.linalg.cond: cond,
    np.linalg.matrix_rank: matrix_rank,
    np.linalg.tensorinv: tensorinv,
    np.linalg.tensorsolve: tensorsolve,
}
_NUMPY_2 = {
    "svdvals": svdvals,
    "vector_norm": vector_norm,
    "matrix_norm": matrix_norm,
    "outer": outer,
    "cross": cross,
    "trace": trace,
    "diagonal": diagonal,
    "matrix_transpose": matrix_transpose,
    "tensordot": tensordot,
    "matmul": _products.matmul,
    "vecdot": _products.vecdot,
}
for _name, _fn in _NUMPY_2.items():
    if hasattr(np.linalg, _name):  # NumPy >= 2
        IMPLEMENTS[getattr(np.linalg, _name)] = _fn
