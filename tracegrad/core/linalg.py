"""The linear-algebra primitives: solve, inv, det, slogdet, cholesky, the adjugate (det's
gradient), and the decompositions eigh, svd and qr.

Every primitive takes stacks of matrices: the last two axes are the matrix, leading axes a
batch (the frontend broadcasts the batches of several operands to one shape first). The
VJP rules are written with primitives, so they can be differentiated again.

Decompositions have several results, but an equation has one output: each returns one
*packed* array the frontend slices (``eigh``: the eigenvalues as row 0 above the
eigenvectors; ``svd``: U above s above V; ``qr``: Q above R^T). One LAPACK call computes
everything, and the VJP rule receives the cotangents of all the parts at once. With
``vectors=False`` (eigvalsh, svdvals) only the values are returned, and their gradient
needs no division by gaps between them.

Code generation: 2-D solve, inv, det, slogdet and cholesky keep their inline LU loops or
np.linalg calls; stacks and the decompositions call the ``stack_*`` kernels of
``backend.numba_support`` on 3-D C views, compiled once per dtype and cached.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import DTypeError, ShapeError
from .ir import Aval
from .primitives import (
    Kind,
    Primitive,
    add,
    broadcast_like,
    concatenate,
    const,
    div,
    matmul,
    mul,
    neg,
    reduce_prod,
    reduce_sum,
    reshape,
    select,
    slice_,
    stop_gradient,
    sub,
    transpose,
)

# =============================================================================================
# Helpers for rules: batched transposes and products built from primitives


def mT(x: Any) -> Any:  # noqa: N802 (NumPy's name)
    """Swap the last two axes."""
    nd = len(x.shape)
    return transpose(x, perm=(*range(nd - 2), nd - 1, nd - 2))


def mm(x: Any, y: Any) -> Any:
    """``x @ y`` for stacks with one batch shape: BLAS for matrices, else a broadcast product
    summed over the inner axis (the small matrices of batched code fuse into one loop)."""
    if len(x.shape) == 2:
        return matmul(x, y)
    *batch, m, k = x.shape
    n = y.shape[-1]
    product = mul(reshape(x, shape=(*batch, m, k, 1)), reshape(y, shape=(*batch, 1, k, n)))
    return reduce_sum(product, axes=(len(batch) + 1,))


def diag(v: Any) -> Any:
    """(..., n) -> (..., n, n) with ``v`` on the diagonal."""
    n = v.shape[-1]
    return mul(reshape(v, shape=(*v.shape[:-1], 1, n)), const(np.eye(n), v))


def diagonal(x: Any) -> Any:
    """(..., n, n) -> (..., n)."""
    return reduce_sum(mul(x, const(np.eye(x.shape[-1]), x)), axes=(len(x.shape) - 1,))


def rows(x: Any, start: int, count: int) -> Any:
    """Rows ``start`` to ``start + count`` of each matrix of the stack ``x``."""
    nd = len(x.shape)
    return slice_(
        x,
        start=(0,) * (nd - 2) + (start, 0),
        step=(1,) * nd,
        shape=(*x.shape[:-2], count, x.shape[-1]),
    )


def _scalars_as_matrices(ct: Any) -> Any:
    return reshape(ct, shape=(*ct.shape, 1, 1))


def _fold_lower(g: Any) -> Any:
    """The gradient of a function that reads only the lower triangle of its symmetric
    argument, from ``g``, its gradient as if all entries were free: entry (i, j), i > j,
    stands for itself and for (j, i)."""
    n = g.shape[-1]
    strict = np.tril(np.ones((n, n)), -1)
    return add(mul(add(g, mT(g)), const(strict, g)), mul(g, const(np.eye(n), g)))


def _gaps(values: Any, squared: bool) -> Any:
    """F[i, j] = 1 / (v_j - v_i) (of the squares if ``squared``), 0 on the diagonal."""
    n = values.shape[-1]
    v = mul(values, values) if squared else values
    row = reshape(v, shape=(*v.shape[:-1], 1, n))
    col = reshape(v, shape=(*v.shape[:-1], n, 1))
    eye = const(np.eye(n), values)
    return mul(div(const(1, values), add(sub(row, col), eye)), const(1 - np.eye(n), values))


# =============================================================================================
# Shape rules


def _stack(name: str, a: Aval, square: bool = True) -> tuple[tuple[int, ...], int, int]:
    if a.ndim < 2 or (square and a.shape[-1] != a.shape[-2]):
        kind = "square " if square else ""
        raise ShapeError(f"{name}: needs a stack of {kind}matrices (..., m, n), got {a.shape}")
    if a.dtype.kind != "f":
        raise DTypeError(f"{name}: needs a float matrix, got {a.dtype}")
    return tuple(a.shape[:-2]), a.shape[-2], a.shape[-1]


def _same_stack(name: str) -> Callable[..., Aval]:
    def rule(a: Aval) -> Aval:
        _stack(name, a)
        return a

    return rule


def _scalar_per_matrix(name: str) -> Callable[..., Aval]:
    def rule(a: Aval, **params: Any) -> Aval:
        batch, _, _ = _stack(name, a)
        return Aval(batch, a.dtype)

    return rule


def _solve_rule(a: Aval, b: Aval) -> Aval:
    batch, n, _ = _stack("solve", a)
    if b.ndim != a.ndim or tuple(b.shape[:-1]) != (*batch, n):
        raise ShapeError(f"solve: right-hand side of shape {b.shape} for matrices {a.shape}")
    if b.dtype != a.dtype:
        raise DTypeError(f"solve: operand dtypes differ ({a.dtype} vs {b.dtype})")
    return b


# =============================================================================================
# Code generation


def _c_stack(w: Any, x: Any, shape: tuple[int, ...]) -> str:
    """A C view of ``x`` with ``shape`` (the same elements, e.g. as a 3-D stack)."""
    name = x.name
    if x.layout != "C":
        name = w.fresh("c")
        w.line(f"{name} = np.ascontiguousarray({x})")
    w.support.add("reshape")
    return f"_reshape({name}, {tuple(int(d) for d in shape)!r})"


def _kernel_emit(kernel: str, large: str | None = None) -> Callable:
    """Emit ``_<kernel>(a, [b,] out, *params)`` on 3-D C views: (count, rows, columns) for
    the inputs and a matrix result, (count, 1, size) for a vector or scalar per matrix.
    ``large``: the kernel for matrices too big for ``backend.lu``'s loops."""

    def emit(w: Any, out: Any, *inputs: Any, **params: Any) -> None:
        a = inputs[0].aval
        name = kernel if large is None or w.loop_linalg(inputs[0]) else large
        count = math.prod(a.shape[:-2])
        views = [_c_stack(w, x, (count, *x.aval.shape[-2:])) for x in inputs]
        w.alloc(out)
        if out.aval.ndim == a.ndim:
            shape = (count, *out.aval.shape[-2:])
        else:
            shape = (count, 1, out.aval.size // count if count else 1)
        w.support.add(name)
        args = [*views, _c_stack(w, out, shape), *(repr(v) for v in params.values())]
        w.line(f"_{name}({', '.join(args)})")

    return emit


def _batched_or(emit_2d: Callable, kernel: Callable) -> Callable:
    def emit(w: Any, out: Any, a: Any, *rest: Any, **params: Any) -> None:
        if a.aval.ndim == 2:
            emit_2d(w, out, a, *rest, **params)
        else:
            kernel(w, out, a, *rest, **params)

    return emit


def _array_call(w: Any, out: Any, call: str, layout: str = "C") -> None:
    """``out = call``, a new array (Fortran order if ``layout`` is "F", as Numba's inv and
    solve return); copied into ``out`` if it is preallocated."""
    if 0 in out.aval.shape:
        w.alloc(out)
    elif w.preallocated(out):  # an element loop: ``out[...] =`` is Numba's slow fancy setitem
        result = w.fresh("r")
        w.line(f"{result} = {call}")
        with w.loops(out.aval.shape) as index:
            w.line(f"{w.index(out, index)} = {result}[{', '.join(index)}]")
    elif layout == "F" and 1 not in out.aval.shape:
        w.line(f"{out} = np.asfortranarray({call})")
        w.set_layout(out, "F")
    else:  # a size-1 axis: C- and F-contiguous, and typed "C" across functions
        w.line(f"{out} = np.ascontiguousarray({call})")


def _scalar_call(w: Any, out: Any, a: Any, call: str, empty: str) -> None:
    """A 0-d result: a scalar local (``empty`` for a 0x0 matrix, which LAPACK is not given)."""
    w.line(f"{out} = {w.cast(empty if a.aval.shape[0] == 0 else call, out.aval)}")


def _solve_2d(w: Any, out: Any, a: Any, b: Any) -> None:
    if w.loop_linalg(a):
        w.lu_solve(out, a, b)
    else:
        _array_call(w, out, f"np.linalg.solve({w.contiguous(a)}, {w.contiguous(b)})", "F")


def _inv_2d(w: Any, out: Any, a: Any) -> None:
    if w.loop_linalg(a):
        w.lu_inv(out, a)
    else:
        _array_call(w, out, f"np.linalg.inv({w.contiguous(a)})", "F")


def _det_2d(w: Any, out: Any, a: Any) -> None:
    if w.loop_linalg(a):
        w.lu_determinant(out, a, "det")
    else:
        _scalar_call(w, out, a, f"np.linalg.det({w.contiguous(a)})", "1.0")


def _slogdet_2d(w: Any, out: Any, a: Any, *, part: str) -> None:
    if w.loop_linalg(a):
        w.lu_determinant(out, a, part)
    else:
        call = f"np.linalg.slogdet({w.contiguous(a)})[{0 if part == 'sign' else 1}]"
        _scalar_call(w, out, a, call, "1.0" if part == "sign" else "0.0")


def _cholesky_2d(w: Any, out: Any, a: Any) -> None:
    _array_call(w, out, f"np.linalg.cholesky({w.contiguous(a)})")


# =============================================================================================
# solve, inv, det, slogdet, cholesky


def _solve_vjp(ct: Any, x: Any, a: Any, b: Any) -> tuple:
    gb = solve(mT(a), ct)
    return neg(mm(gb, mT(x))), gb


solve = Primitive(
    name="solve",
    kind=Kind.LINALG,
    shape_rule=_solve_rule,
    impl=np.linalg.solve,
    vjp=_solve_vjp,
    emit=_batched_or(_solve_2d, _kernel_emit("stack_solve", "stack_solve_lapack")),
)


def _inv_vjp(ct: Any, out: Any, a: Any) -> tuple:
    t = mT(out)
    return (neg(mm(mm(t, ct), t)),)


inv = Primitive(
    name="inv",
    kind=Kind.LINALG,
    shape_rule=_same_stack("inv"),
    impl=np.linalg.inv,
    vjp=_inv_vjp,
    emit=_batched_or(_inv_2d, _kernel_emit("stack_inv", "stack_inv_lapack")),
)

# det's gradient is the transposed adjugate, which exists at singular matrices too.
det = Primitive(
    name="det",
    kind=Kind.LINALG,
    shape_rule=_scalar_per_matrix("det"),
    impl=np.linalg.det,
    vjp=lambda ct, out, a: (mul(_scalars_as_matrices(ct), mT(adjugate(a))),),
    emit=_batched_or(_det_2d, _kernel_emit("stack_det")),
)


def _slogdet_impl(a: np.ndarray, *, part: str) -> np.ndarray:
    sign, logabsdet = np.linalg.slogdet(a)
    return np.asarray(sign if part == "sign" else logabsdet, dtype=a.dtype)


def _slogdet_vjp(ct: Any, out: Any, a: Any, *, part: str) -> tuple:
    if part == "sign":
        return (None,)  # piecewise constant
    return (mul(_scalars_as_matrices(ct), mT(inv(a))),)


# ``part`` is "sign" or "logabsdet": our primitives have one output, np.linalg.slogdet two.
slogdet = Primitive(
    name="slogdet",
    kind=Kind.LINALG,
    shape_rule=_scalar_per_matrix("slogdet"),
    impl=_slogdet_impl,
    vjp=_slogdet_vjp,
    emit=_batched_or(_slogdet_2d, _kernel_emit("stack_slogdet")),
)


def _cholesky_vjp(ct: Any, lower: Any, a: Any) -> tuple:
    # With A = L L^T: G = L^-T phi(L^T ct) L^-1, phi = lower triangle with a halved diagonal;
    # cholesky reads only the lower triangle of A, so _fold_lower maps G onto it.
    n = a.shape[-1]
    phi = mul(mm(mT(lower), ct), const(np.tril(np.ones((n, n))) - 0.5 * np.eye(n), a))
    left = solve(mT(lower), phi)
    g = mT(solve(mT(lower), mT(left)))
    return (_fold_lower(g),)


cholesky = Primitive(
    name="cholesky",
    kind=Kind.LINALG,
    shape_rule=_same_stack("cholesky"),
    impl=np.linalg.cholesky,
    vjp=_cholesky_vjp,
    emit=_batched_or(_cholesky_2d, _kernel_emit("stack_cholesky")),
)


# =============================================================================================
# The adjugate, adj(A) = det(A) inv(A) where A is invertible, from the SVD A = U S V^T:
# adj(A) = det(U) det(V) V diag(c) U^T with c_i the product of the other singular values.
# At rank n - 1 one c_i is nonzero; at rank <= n - 2 all are 0, so adj(A) = 0.


def _others_product(s: np.ndarray) -> np.ndarray:
    k = s.shape[-1]
    return np.prod(np.where(np.eye(k, dtype=bool), 1, s[..., None, :]), axis=-1)


def _adjugate_impl(a: np.ndarray) -> np.ndarray:
    u, s, vt = np.linalg.svd(a)
    sign = np.linalg.det(u) * np.linalg.det(vt)
    v_c = np.swapaxes(vt, -1, -2) * _others_product(s)[..., None, :]
    return (sign[..., None, None] * (v_c @ np.swapaxes(u, -1, -2))).astype(a.dtype)


def _pair_products(s: Any) -> Any:
    """p[i, j] = the product of the singular values other than s_i and s_j (0 on i == j)."""
    k = s.shape[-1]
    index = np.arange(k)
    skip = (index[:, None, None] == index[None, None, :]) | (
        index[None, :, None] == index[None, None, :]
    )
    spread = broadcast_like(reshape(s, shape=(*s.shape[:-1], 1, 1, k)), (*s.shape[:-1], k, k, k))
    product = reduce_prod(select(skip, const(1, s), spread), axes=(len(s.shape) + 1,))
    return mul(product, const(1 - np.eye(k), s))


def _adjugate_vjp(ct: Any, out: Any, a: Any) -> tuple:
    # adj(U (S + E) V^T) = sign V adj(S + E) U^T with E = U^T dA V held in the SVD's frame;
    # adj(S + E) to first order: diagonal sum_{k != i} E_kk p_ik, off-diagonal -E_ij p_ij.
    # No division: valid at any rank and for repeated singular values.
    n = a.shape[-1]
    packed = svd(a, vectors=True)
    u, s, v = rows(packed, 0, n), rows(packed, n, 1), rows(packed, n + 1, n)
    s = reshape(s, shape=(*s.shape[:-2], n))
    sign = stop_gradient(mul(det(u), det(v)))
    k = mul(_scalars_as_matrices(sign), mm(mm(mT(v), ct), u))
    p = _pair_products(s)
    k_diagonal = reshape(diagonal(k), shape=(*s.shape[:-1], 1, n))
    on_diagonal = diag(reduce_sum(mul(p, k_diagonal), axes=(len(s.shape),)))
    g_e = sub(on_diagonal, mul(k, p))
    return (mm(mm(u, g_e), mT(v)),)


adjugate = Primitive(
    name="adjugate",
    kind=Kind.LINALG,
    shape_rule=_same_stack("adjugate"),
    impl=_adjugate_impl,
    vjp=_adjugate_vjp,
    emit=_kernel_emit("stack_adjugate"),
)


# =============================================================================================
# eigh: the lower triangle of a symmetric matrix (NumPy's UPLO="L"), eigenvalues ascending.
# Packed: (..., n + 1, n), eigenvalues in row 0, eigenvectors (columns) below; with
# vectors=False, (..., n). Gradients need distinct eigenvalues when eigenvectors are used.


def _eigh_rule(a: Aval, *, vectors: bool) -> Aval:
    batch, n, _ = _stack("eigh", a)
    return Aval((*batch, n + 1, n) if vectors else (*batch, n), a.dtype)


def _eigh_impl(a: np.ndarray, *, vectors: bool) -> np.ndarray:
    if not vectors:
        return np.linalg.eigvalsh(a).astype(a.dtype)
    w, v = np.linalg.eigh(a)
    return np.concatenate([w[..., None, :], v], axis=-2).astype(a.dtype)


def _eigh_vjp(ct: Any, out: Any, a: Any, *, vectors: bool) -> tuple:
    n = a.shape[-1]
    if not vectors:
        v = rows(eigh(a, vectors=True), 1, n)
        return (_fold_lower(mm(mm(v, diag(ct)), mT(v))),)
    w = reshape(rows(out, 0, 1), shape=(*a.shape[:-2], n))
    v = rows(out, 1, n)
    ct_w = reshape(rows(ct, 0, 1), shape=(*a.shape[:-2], n))
    inner = add(diag(ct_w), mul(_gaps(w, squared=False), mm(mT(v), rows(ct, 1, n))))
    return (_fold_lower(mm(mm(v, inner), mT(v))),)


eigh = Primitive(
    name="eigh",
    kind=Kind.LINALG,
    shape_rule=_eigh_rule,
    impl=_eigh_impl,
    vjp=_eigh_vjp,
    emit=_kernel_emit("stack_eigh"),
)


# =============================================================================================
# svd, reduced (full_matrices=False): A (m x n) = U diag(s) V^T, k = min(m, n), s descending.
# Packed: (..., m + 1 + n, k) = U above s above V; with vectors=False, (..., k).


def _svd_rule(a: Aval, *, vectors: bool) -> Aval:
    batch, m, n = _stack("svd", a, square=False)
    k = min(m, n)
    return Aval((*batch, m + 1 + n, k) if vectors else (*batch, k), a.dtype)


def _svd_impl(a: np.ndarray, *, vectors: bool) -> np.ndarray:
    if not vectors:
        return np.linalg.svd(a, compute_uv=False).astype(a.dtype)
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    parts = [u, s[..., None, :], np.swapaxes(vt, -1, -2)]
    return np.concatenate(parts, axis=-2).astype(a.dtype)


def _svd_vjp(ct: Any, out: Any, a: Any, *, vectors: bool) -> tuple:
    m, n = a.shape[-2:]
    k = min(m, n)
    batch = tuple(a.shape[:-2])
    packed = out if vectors else svd(a, vectors=True)
    u, v = rows(packed, 0, m), rows(packed, m + 1, n)
    if not vectors:
        return (mm(mm(u, diag(ct)), mT(v)),)
    s = reshape(rows(out, m, 1), shape=(*batch, k))
    ct_u, ct_v = rows(ct, 0, m), rows(ct, m + 1, n)
    ct_s = reshape(rows(ct, m, 1), shape=(*batch, k))
    f, big_s = _gaps(s, squared=True), diag(s)
    ju = mul(f, sub(mm(mT(u), ct_u), mm(mT(ct_u), u)))
    jv = mul(f, sub(mm(mT(v), ct_v), mm(mT(ct_v), v)))
    inner = add(diag(ct_s), add(mm(ju, big_s), mm(big_s, jv)))
    grad = mm(mm(u, inner), mT(v))
    inverse_s = reshape(div(const(1, s), s), shape=(*batch, 1, k))
    if m > k:  # the part of ct_U outside U's columns
        outside = sub(ct_u, mm(u, mm(mT(u), ct_u)))
        grad = add(grad, mm(mul(outside, inverse_s), mT(v)))
    if n > k:
        outside = sub(ct_v, mm(v, mm(mT(v), ct_v)))
        grad = add(grad, mm(u, mT(mul(outside, inverse_s))))
    return (grad,)


svd = Primitive(
    name="svd",
    kind=Kind.LINALG,
    shape_rule=_svd_rule,
    impl=_svd_impl,
    vjp=_svd_vjp,
    emit=_kernel_emit("stack_svd"),
)


# =============================================================================================
# qr, reduced: A (m x n) = Q R, k = min(m, n), Q (m x k), R (k x n) upper triangular.
# Packed: (..., m + n, k) = Q above R^T.


def _qr_rule(a: Aval) -> Aval:
    batch, m, n = _stack("qr", a, square=False)
    return Aval((*batch, m + n, min(m, n)), a.dtype)


def _qr_impl(a: np.ndarray) -> np.ndarray:
    q, r = np.linalg.qr(a, mode="reduced")
    return np.concatenate([q, np.swapaxes(r, -1, -2)], axis=-2).astype(a.dtype)


def _qr_square_vjp(q: Any, r: Any, ct_q: Any, ct_r: Any) -> Any:
    """For Q (m x k) and a square R (k x k): (ct_Q + Q copyltu(M)) R^-T, where
    M = R ct_R^T - ct_Q^T Q and copyltu mirrors the lower triangle onto the upper."""
    k = r.shape[-1]
    m_ = sub(mm(r, mT(ct_r)), mm(mT(ct_q), q))
    lower = mul(m_, const(np.tril(np.ones((k, k))), q))
    strict = mul(m_, const(np.tril(np.ones((k, k)), -1), q))
    b = add(ct_q, mm(q, add(lower, mT(strict))))
    return mT(solve(r, mT(b)))


def _qr_vjp(ct: Any, out: Any, a: Any) -> tuple:
    m, n = a.shape[-2:]
    k = min(m, n)
    q, r = rows(out, 0, m), mT(rows(out, m, n))
    ct_q, ct_r = rows(ct, 0, m), mT(rows(ct, m, n))
    if m >= n:
        return (_qr_square_vjp(q, r, ct_q, ct_r),)
    # Wide: A = [X | Y] with X = Q R1 square and Y = Q R2, so R2 = Q^T Y.
    nd = len(a.shape)
    r1 = _columns(r, 0, k)
    ct_r1, ct_r2 = _columns(ct_r, 0, k), _columns(ct_r, k, n - k)
    y = _columns(a, k, n - k)
    gx = _qr_square_vjp(q, r1, add(ct_q, mm(y, mT(ct_r2))), ct_r1)
    return (concatenate(gx, mm(q, ct_r2), axis=nd - 1),)


def _columns(x: Any, start: int, count: int) -> Any:
    return mT(rows(mT(x), start, count))


qr = Primitive(
    name="qr",
    kind=Kind.LINALG,
    shape_rule=_qr_rule,
    impl=_qr_impl,
    vjp=_qr_vjp,
    emit=_kernel_emit("stack_qr"),
)
