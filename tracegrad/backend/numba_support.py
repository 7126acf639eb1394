"""Array allocation for generated kernels, lowered inline instead of compiled as overloads.

Numba implements ``np.empty`` and ``ndarray.fill`` as ``@overload`` functions: each new
(rank, dtype) pair the generated code uses is one more nested compile of 30-100 ms, and a
fresh process compiling its first program pays for every one of them (about 0.25 s of the
MLP gradient's 1.4 s). The intrinsics below emit the same LLVM IR directly while the kernel
itself is lowered, so they cost no compile of their own.

Generated modules import this module; it imports Numba, so ``import tracegrad`` must not.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit
from numba.core import cgutils, types
from numba.extending import intrinsic

from .. import config


def _element_type(dtype: Any) -> types.Type | None:
    """The Numba scalar type that a dtype argument like ``np.float32`` stands for."""
    if isinstance(dtype, types.NumberClass):
        return dtype.instance_type
    if isinstance(dtype, types.DType):
        return dtype.dtype
    if isinstance(dtype, types.Function) and dtype.typing_key is bool:
        return types.boolean
    return None


def _shape_rank(shape: Any) -> int | None:
    if isinstance(shape, types.UniTuple) and isinstance(shape.dtype, types.Integer):
        return shape.count
    if isinstance(shape, types.Tuple) and len(shape) == 0:
        return 0
    return None


@intrinsic
def empty(typingctx: Any, shape: Any, dtype: Any) -> Any:
    """``empty((n0, n1, ...), np.float32)``: a new uninitialised C-contiguous array."""
    element = _element_type(dtype)
    rank = _shape_rank(shape)
    if element is None or rank is None:
        return None
    array_type = types.Array(element, rank, "C")

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        # Imported here, when a kernel is compiled: a new process that only loads cached
        # kernels skips the import (about 20 ms).
        from numba.np.arrayobj import make_array, populate_array

        intp = context.get_value_type(types.intp)
        extents = cgutils.unpack_tuple(builder, args[0], rank)
        extents = [builder.sext(e, intp) if e.type.width < intp.width else e for e in extents]
        array = make_array(array_type)(context, builder)
        itemsize = context.get_abi_sizeof(context.get_data_type(element))
        count = ir.Constant(intp, 1)
        for e in extents:
            count = builder.mul(count, e)
        nbytes = builder.mul(count, ir.Constant(intp, itemsize))
        align = ir.Constant(ir.IntType(32), context.get_preferred_array_alignment(element))
        meminfo = context.nrt.meminfo_alloc_aligned(builder, nbytes, align)
        data = context.nrt.meminfo_data(builder, meminfo)
        strides = []
        stride = ir.Constant(intp, itemsize)
        for e in reversed(extents):
            strides.insert(0, stride)
            stride = builder.mul(stride, e)
        populate_array(
            array,
            data=builder.bitcast(data, context.get_data_type(element).as_pointer()),
            shape=cgutils.pack_array(builder, extents, ty=intp),
            strides=cgutils.pack_array(builder, strides, ty=intp),
            itemsize=ir.Constant(intp, itemsize),
            meminfo=meminfo,
        )
        return array._getvalue()

    return array_type(shape, dtype), codegen


@intrinsic
def fill(typingctx: Any, array: Any, value: Any) -> Any:
    """``fill(a, v)``: every element of the C-contiguous array ``a`` becomes ``v``."""
    if not (isinstance(array, types.Array) and array.layout == "C"):
        return None
    if not isinstance(value, (types.Number, types.Boolean)):
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        from numba.np.arrayobj import make_array

        array_type, value_type = sig.args
        target = make_array(array_type)(context, builder, args[0])
        element = context.cast(builder, args[1], value_type, array_type.dtype)
        element = context.get_value_as_data(builder, array_type.dtype, element)
        count = target.nitems
        with cgutils.for_range(builder, count) as loop:
            builder.store(element, builder.gep(target.data, [loop.index]))
        return context.get_dummy_value()

    return types.none(array, value), codegen


@intrinsic
def reshape(typingctx: Any, array: Any, shape: Any) -> Any:
    """``reshape(a, (n0, n1, ...))``: a C-contiguous view of the C-contiguous array ``a``.

    Numba's ``ndarray.reshape`` is compiled as a subroutine for each (rank, rank) pair, about
    0.2 s each in a new process; the generator only reshapes C arrays into shapes of the same
    size (checked when the code is generated), so the view needs no checks.
    """
    rank = _shape_rank(shape)
    if not (isinstance(array, types.Array) and array.layout == "C") or rank is None:
        return None
    view_type = types.Array(array.dtype, rank, "C")

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        from numba.core.imputils import impl_ret_borrowed
        from numba.np.arrayobj import make_array, populate_array

        source = make_array(sig.args[0])(context, builder, args[0])
        intp = context.get_value_type(types.intp)
        extents = cgutils.unpack_tuple(builder, args[1], rank)
        extents = [builder.sext(e, intp) if e.type.width < intp.width else e for e in extents]
        itemsize = source.itemsize
        strides = []
        stride = itemsize
        for e in reversed(extents):
            strides.insert(0, stride)
            stride = builder.mul(stride, e)
        view = make_array(view_type)(context, builder)
        populate_array(
            view,
            data=source.data,
            shape=cgutils.pack_array(builder, extents, ty=intp),
            strides=cgutils.pack_array(builder, strides, ty=intp),
            itemsize=itemsize,
            meminfo=source.meminfo,
            parent=source.parent,
        )
        return impl_ret_borrowed(context, builder, view_type, view._getvalue())

    return view_type(array, shape), codegen


@intrinsic
def copy(typingctx: Any, target: Any, source: Any) -> Any:
    """``copy(dst, src)``: the elements of ``src`` into ``dst`` in C order, both C-contiguous
    arrays of one dtype and size (of any ranks).

    This replaces ``dst[...] = src.reshape(..)``: Numba compiles that assignment through
    its generic fancy-indexing ``setitem``, 7 s in a new process.
    """
    arrays = (target, source)
    if not all(isinstance(a, types.Array) and a.layout == "C" for a in arrays):
        return None
    if target.dtype != source.dtype:
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        from numba.np.arrayobj import make_array

        dst = make_array(sig.args[0])(context, builder, args[0])
        src = make_array(sig.args[1])(context, builder, args[1])
        nbytes = builder.mul(src.nitems, src.itemsize)
        cgutils.raw_memcpy(builder, dst.data, src.data, nbytes, 1)
        return context.get_dummy_value()

    return types.none(target, source), codegen


# LU factorisation and solve for small matrices (backend/lu.py decides which matrices).
# They are njit functions, not loops written into each kernel: each program with a solve,
# inv or slogdet would compile its own copies (the Gaussian log-likelihood's three
# factorisations and three solves: 3.6 s of CPU), where these compile once for each dtype
# and are then loaded from Numba's cache, like vecmath's kernels.
_LU_OPTIONS: dict[str, Any] = {"error_model": "numpy", "cache": config.read().disk_cache}


@njit(**_LU_OPTIONS)
def lu_factor(lu: Any, perm: Any, singular_raises: bool) -> float:
    """Factor the C array ``lu`` in place (L below the diagonal with a unit diagonal, U on
    and above it) by Gaussian elimination with partial pivoting, LAPACK getf2's algorithm;
    ``perm[k]`` is the row swapped with row k. Returns the swaps' parity (1.0 or -1.0).
    A zero pivot raises LinAlgError as NumPy does if ``singular_raises``, else stays on
    the diagonal (slogdet reads it)."""
    n = lu.shape[0]
    sign = 1.0
    for k in range(n):
        p = k
        best = abs(lu[k, k])
        for i in range(k + 1, n):
            if abs(lu[i, k]) > best:
                best = abs(lu[i, k])
                p = i
        perm[k] = p
        if p != k:
            sign = -sign
            for j in range(n):
                lu[k, j], lu[p, j] = lu[p, j], lu[k, j]
        pivot = lu[k, k]
        if pivot == 0:
            if singular_raises:
                raise np.linalg.LinAlgError("Singular matrix")
            continue
        for i in range(k + 1, n):
            m = lu[i, k] / pivot
            lu[i, k] = m
            for j in range(k + 1, n):
                lu[i, j] -= m * lu[k, j]
    return sign


@njit(**_LU_OPTIONS)
def lu_solve(lu: Any, perm: Any, b: Any) -> None:
    """``b`` (C, n x m) becomes A^-1 b for A = P L U as ``lu_factor`` left it: the row swaps,
    forward substitution with L, back substitution with U (LAPACK getrs's order)."""
    n, m = b.shape
    for k in range(n):
        p = perm[k]
        if p != k:
            for c in range(m):
                b[k, c], b[p, c] = b[p, c], b[k, c]
    for i in range(n):
        for j in range(i):
            f = lu[i, j]
            for c in range(m):
                b[i, c] -= f * b[j, c]
    for i in range(n - 1, -1, -1):
        for j in range(i + 1, n):
            f = lu[i, j]
            for c in range(m):
                b[i, c] -= f * b[j, c]
        d = lu[i, i]
        for c in range(m):
            b[i, c] /= d


# Kernels for stacks of matrices (C arrays of shape (count, m, n)) and the decompositions
# (core/linalg.py emits the calls). Like lu_factor, each compiles once per dtype and is then
# loaded from Numba's cache, instead of once per program that uses it.


@njit(**_LU_OPTIONS)
def _factor_copy(x: Any, lu: Any, perm: Any, singular_raises: bool) -> float:
    lu[:, :] = x
    return lu_factor(lu, perm, singular_raises)


@njit(**_LU_OPTIONS)
def stack_solve(a: Any, b: Any, out: Any) -> None:
    n = a.shape[1]
    lu, perm = np.empty((n, n), a.dtype), np.empty(n, np.int64)
    for s in range(a.shape[0]):
        _factor_copy(a[s], lu, perm, True)
        out[s, :, :] = b[s]
        lu_solve(lu, perm, out[s])


@njit(**_LU_OPTIONS)
def stack_inv(a: Any, out: Any) -> None:
    n = a.shape[1]
    lu, perm = np.empty((n, n), a.dtype), np.empty(n, np.int64)
    for s in range(a.shape[0]):
        _factor_copy(a[s], lu, perm, True)
        out[s, :, :] = 0
        for k in range(n):
            out[s, k, k] = 1
        lu_solve(lu, perm, out[s])


# From backend.lu's MAX_LOOP_SIZE up, LAPACK's blocked algorithms win (3x at 128x128): the
# stack kernels call np.linalg per matrix, in kernels of their own, so that programs on small
# matrices never compile or load Numba's LAPACK bindings.


@njit(**_LU_OPTIONS)
def stack_solve_lapack(a: Any, b: Any, out: Any) -> None:
    if a.shape[1] == 0:
        return
    for s in range(a.shape[0]):
        out[s] = np.linalg.solve(a[s], b[s])


@njit(**_LU_OPTIONS)
def stack_inv_lapack(a: Any, out: Any) -> None:
    if a.shape[1] == 0:
        return
    for s in range(a.shape[0]):
        out[s] = np.linalg.inv(a[s])


@njit(**_LU_OPTIONS)
def _det(x: Any, lu: Any, perm: Any) -> float:
    value = _factor_copy(x, lu, perm, False)
    for k in range(x.shape[0]):
        value *= lu[k, k]
    return value


@njit(**_LU_OPTIONS)
def stack_det(a: Any, out: Any) -> None:
    """``out`` is (count, 1, 1)."""
    n = a.shape[1]
    lu, perm = np.empty((n, n), a.dtype), np.empty(n, np.int64)
    for s in range(a.shape[0]):
        out[s, 0, 0] = _det(a[s], lu, perm)


@njit(**_LU_OPTIONS)
def stack_slogdet(a: Any, out: Any, part: str) -> None:
    """``part`` "sign" or "logabsdet" of each matrix into ``out`` (count, 1, 1); a zero pivot
    gives sign 0 and -inf, as NumPy."""
    n = a.shape[1]
    lu, perm = np.empty((n, n), a.dtype), np.empty(n, np.int64)
    for s in range(a.shape[0]):
        sign = _factor_copy(a[s], lu, perm, False)
        logabs = 0.0
        for k in range(n):
            d = lu[k, k]
            if d < 0:
                sign = -sign
            elif d == 0:
                sign = 0.0
            logabs += math.log(abs(d))
        out[s, 0, 0] = sign if part == "sign" else logabs


@njit(**_LU_OPTIONS)
def stack_cholesky(a: Any, out: Any) -> None:
    """The lower Cholesky factor of each matrix, reading its lower triangle only."""
    n = a.shape[1]
    for s in range(a.shape[0]):
        for j in range(n):
            d = a[s, j, j]
            for k in range(j):
                d -= out[s, j, k] * out[s, j, k]
            if not d > 0:
                raise np.linalg.LinAlgError("Matrix is not positive definite")
            pivot = math.sqrt(d)
            out[s, j, j] = pivot
            for i in range(j):
                out[s, i, j] = 0
            for i in range(j + 1, n):
                t = a[s, i, j]
                for k in range(j):
                    t -= out[s, i, k] * out[s, j, k]
                out[s, i, j] = t / pivot


@njit(**_LU_OPTIONS)
def stack_eigh(a: Any, out: Any, vectors: bool) -> None:
    """Eigenvalues into row 0 of ``out`` (count, n + 1, n), eigenvectors below them if
    ``vectors``; the matrix is the lower triangle of ``a``, mirrored."""
    n = a.shape[1]
    if n == 0:
        return
    sym = np.empty((n, n), a.dtype)
    for s in range(a.shape[0]):
        for i in range(n):
            for j in range(i + 1):
                sym[i, j] = sym[j, i] = a[s, i, j]
        w, v = np.linalg.eigh(sym)
        out[s, 0, :] = w
        if vectors:
            out[s, 1:, :] = v


@njit(**_LU_OPTIONS)
def stack_svd(a: Any, out: Any, vectors: bool) -> None:
    """The reduced SVD into ``out`` (count, m + 1 + n, k): U, then s, then V; or s alone into
    (count, 1, k)."""
    m, n = a.shape[1], a.shape[2]
    if min(m, n) == 0:
        return
    for s in range(a.shape[0]):
        u, sv, vt = np.linalg.svd(np.ascontiguousarray(a[s]), False)
        if vectors:
            out[s, :m, :] = u
            out[s, m, :] = sv
            out[s, m + 1 :, :] = vt.T
        else:
            out[s, 0, :] = sv


@njit(**_LU_OPTIONS)
def stack_qr(a: Any, out: Any) -> None:
    """The reduced QR into ``out`` (count, m + n, k): Q above R^T."""
    m, n = a.shape[1], a.shape[2]
    if min(m, n) == 0:
        return
    for s in range(a.shape[0]):
        q, r = np.linalg.qr(np.ascontiguousarray(a[s]))
        out[s, :m, :] = q
        out[s, m:, :] = r.T


@njit(**_LU_OPTIONS)
def _adjugate_by_svd(x: Any, out: Any, lu: Any, perm: Any, c: Any) -> None:
    """adj(A) = det(U) det(V) V diag(c) U^T from A = U S V^T, c_i the product of the other
    singular values: exact at singular matrices too."""
    n = x.shape[0]
    u, sv, vt = np.linalg.svd(np.ascontiguousarray(x))
    sign = _det(u, lu, perm) * _det(vt, lu, perm)
    for i in range(n):
        c[i] = 1
        for j in range(n):
            if j != i:
                c[i] *= sv[j]
    for i in range(n):
        for j in range(n):
            acc = 0.0
            for k in range(n):
                acc += vt[k, i] * c[k] * u[j, k]
            out[i, j] = sign * acc


@njit(**_LU_OPTIONS)
def stack_adjugate(a: Any, out: Any) -> None:
    """The adjugate of each matrix: det(A) inv(A) from the LU factors when every pivot is
    within a factor ``ratio`` of the largest (a cheap sign that A is far from singular),
    else from the SVD, which is exact at any rank but 10-20x slower for small matrices."""
    n = a.shape[1]
    if n == 0:
        return
    lu, perm = np.empty((n, n), a.dtype), np.empty(n, np.int64)
    c = np.empty(n, a.dtype)
    ratio = 1e-3 if a.itemsize == 4 else 1e-6
    for s in range(a.shape[0]):
        det = _factor_copy(a[s], lu, perm, False)
        smallest, largest = np.inf, 0.0
        for k in range(n):
            d = abs(lu[k, k])
            smallest, largest = min(smallest, d), max(largest, d)
            det *= lu[k, k]
        if not smallest > ratio * largest:
            _adjugate_by_svd(a[s], out[s], lu, perm, c)
            continue
        out[s, :, :] = 0
        for k in range(n):
            out[s, k, k] = det
        lu_solve(lu, perm, out[s])


# The special functions' kernels live in special_kernels.py (the incomplete beta function's
# in incomplete_beta.py); generated code imports them from here, with the other support
# functions.
from .incomplete_beta import betainc, betainc_grad  # noqa: E402, F401
from .special_kernels import (  # noqa: E402, F401
    bessel_i,
    erfinv,
    gammainc,  # incomplete gamma
    gammainc_da,  # incomplete gamma
    log_ndtr,
    ndtri,
    polygamma,
)
