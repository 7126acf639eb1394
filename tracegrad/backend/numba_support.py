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


# Polygamma functions psi^(n)(x) for the special-function primitives (core/special.py):
# Numba has math.lgamma, math.gamma and math.erf but no digamma.  An njit function called
# from the loops, compiled once for each operand type and then loaded from Numba's cache.
# Bernoulli numbers B_2, B_4, ..., B_30 of the asymptotic (Euler-Maclaurin) series.
_BERNOULLI = (
    1 / 6,
    -1 / 30,
    1 / 42,
    -1 / 30,
    5 / 66,
    -691 / 2730,
    7 / 6,
    -3617 / 510,
    43867 / 798,
    -174611 / 330,
    854513 / 138,
    -236364091 / 2730,
    8553103 / 6,
    -23749461029 / 870,
    8615841276005 / 14322,
)


@njit(error_model="numpy", cache=config.read().disk_cache)
def _polygamma_positive(n: int, x: float) -> float:
    """psi^(n)(x) for x > 0.  The recurrence psi^(n)(x) = psi^(n)(x + 1) - (-1)^n n! / x^(n+1)
    moves x up to 10 + n, where the asymptotic series converges to rounding within 15
    terms.  For n >= 1, psi^(n)(x) = (-1)^(n+1) n! zeta(n + 1, x), and the recurrence adds
    positive terms to zeta (no cancellation)."""
    s = n + 1.0
    floor_at = 10.0 + n
    shifted = 0.0  # sum of (x + k)^-s (n >= 1) or of 1 / (x + k) (n = 0)
    while x < floor_at:
        shifted += x**-s
        x += 1.0
    inv2 = 1.0 / (x * x)
    if n == 0:
        series = 0.0
        power = 1.0
        for j in range(len(_BERNOULLI)):
            power *= inv2
            term = _BERNOULLI[j] / (2.0 * (j + 1)) * power
            series += term
            if abs(term) < 1e-17 * abs(series):
                break
        return math.log(x) - 0.5 / x - series - shifted
    # zeta(s, x) ~ x^(1-s) / (s-1) + x^-s / 2 + sum_j B_2j / (2j)! (s)_(2j-1) x^(1-s-2j)
    lead = x ** (1.0 - s)
    total = lead / (s - 1.0) + 0.5 * lead / x
    coefficient = s  # (s)_(2j-1) / (2j)!, updated term by term
    factorial = 2.0
    power = lead * inv2  # x^(1-s-2j) for j = 1
    for j in range(len(_BERNOULLI)):
        term = _BERNOULLI[j] * coefficient / factorial * power
        total += term
        if abs(term) < 1e-17 * total:
            break
        coefficient *= (s + 2 * j + 1) * (s + 2 * j + 2)
        factorial *= (2 * j + 3) * (2 * j + 4)
        power *= inv2
    gamma_n1 = math.gamma(s)  # n!
    return (1.0 if n % 2 else -1.0) * gamma_n1 * (total + shifted)


@njit(error_model="numpy", cache=config.read().disk_cache)
def polygamma(n: int, x: float) -> float:
    """psi^(n)(x), the n-th derivative of digamma, as scipy.special.polygamma (at the poles
    too: the non-positive integers).  Negative x by reflection, written with positive
    arguments only: psi^(n)(x) = (-1)^n (psi^(n)(1 - x) - psi^(n)(1 - r)) + psi^(n)(r), with
    r = x - floor(x) and 1 - r = ceil(x) - x, each computed exactly where it is small (the
    distances to the neighbouring poles), so that accuracy holds next to the poles, where
    pi cot(pi x) from tan(pi x) would lose it."""
    x = float(x)
    if x > 0.0:
        if x < math.inf:
            return _polygamma_positive(n, x)
        return math.inf if n == 0 else (0.0 if n % 2 else -0.0)  # the sign of the tail
    if x != x:
        return x
    r = x - math.floor(x) if x > -math.inf else 0.0
    one_minus_r = math.ceil(x) - x
    if r == 0.0:  # a pole
        if n > 0:
            return math.inf if n % 2 else -math.inf
        if x == 0.0:  # digamma(+0) = -inf, digamma(-0) = +inf: the limits from each side
            return -math.copysign(math.inf, x)
        return math.nan
    sign = -1.0 if n % 2 else 1.0
    reflected = _polygamma_positive(n, 1.0 - x) - _polygamma_positive(n, one_minus_r)
    return sign * reflected + _polygamma_positive(n, r)


# The normal distribution's log-CDF and quantile, and erf's inverse (core/special.py): libm has
# erfc, which is accurate relative to its (tiny) values in the lower tail; the rest is built on
# it.  The inverses refine a rough start by Newton or Halley steps on a residual written so
# that it keeps relative accuracy, where cancellation would otherwise lose it.
_SQRT_HALF = math.sqrt(0.5)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


@njit(error_model="numpy", cache=config.read().disk_cache)
def log_ndtr(x: float) -> float:
    """log of the standard normal CDF: log1p(-upper tail) for x > 0, log of the lower tail
    down to -20, and below that the asymptotic series of the Mills ratio, where erfc would
    underflow: log Phi(x) = -x^2/2 - log(-x) - log(sqrt(2 pi)) + log(sum_k (-1)^k (2k-1)!!
    / x^(2k))."""
    x = float(x)
    if x > 0.0:
        return math.log1p(-0.5 * math.erfc(x * _SQRT_HALF))
    if x > -20.0:
        return math.log(0.5 * math.erfc(-x * _SQRT_HALF))
    if x != x:
        return x
    inv2 = 1.0 / (x * x)
    series, term = 1.0, 1.0
    for k in range(1, 40):
        term *= -(2 * k - 1) * inv2
        series += term
        if abs(term) < 1e-17 * series:
            break
    # x^2 / 2 from x's mantissa and exponent: x * x alone overflows above |x| = 1.3e154,
    # where the result does not, and the generated code's fastmath flags, which this
    # function inherits when a program calls it, may reorder (0.5 * x) * x into it.
    mantissa, exponent = math.frexp(x)
    half_square = math.ldexp(mantissa * mantissa, 2 * exponent - 1)
    return -half_square - math.log(-x) - _LOG_SQRT_2PI + math.log(series)


@njit(error_model="numpy", cache=config.read().disk_cache)
def _ndtri_lower(q: float) -> float:
    """The quantile for 0 < q <= 1/2.  Start: Abramowitz and Stegun 26.2.23 (error below
    4.5e-4).  Then Newton steps, on Phi(x) - q = erf(x / sqrt 2) / 2 + (1/2 - q) above
    q = 1/4 (1/2 - q exact there, so x near 0 keeps its relative accuracy), and on
    log Phi(x) - log q below (no underflow or overflow however small q is)."""
    t = math.sqrt(-2.0 * math.log(q))
    x = -(t - (2.515517 + t * (0.802853 + t * 0.010328)) /
          (1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308))))  # fmt: skip
    log_q = math.log(q)
    for _ in range(8):
        if q > 0.25:
            density = math.exp(-0.5 * x * x - _LOG_SQRT_2PI)
            step = (0.5 * math.erf(x * _SQRT_HALF) + (0.5 - q)) / density
        else:
            log_cdf = log_ndtr(x)
            step = (log_cdf - log_q) / math.exp(-0.5 * x * x - _LOG_SQRT_2PI - log_cdf)
        x -= step
        if abs(step) <= 1e-16 * abs(x):
            break
    return x


@njit(error_model="numpy", cache=config.read().disk_cache)
def ndtri(p: float) -> float:
    """The standard normal quantile: x with Phi(x) = p; -inf at 0, inf at 1, nan outside.
    Above 1/2 by symmetry with 1 - p, which is exact there."""
    p = float(p)
    if not 0.0 < p < 1.0:
        if p == 0.0:
            return -math.inf
        return math.inf if p == 1.0 else math.nan
    if p > 0.5:
        return -_ndtri_lower(1.0 - p)
    return _ndtri_lower(p)


@njit(error_model="numpy", cache=config.read().disk_cache)
def erfinv(y: float) -> float:
    """x with erf(x) = y.  Beyond |y| = 1/2 from the normal quantile of (1 - |y|) / 2, which
    is exact; within, Halley steps on erf(x) - y itself from x = y sqrt(pi) / 2, so small y
    keep their relative accuracy."""
    y = float(y)
    if not -0.5 <= y <= 0.5:
        if not -1.0 <= y <= 1.0:
            return math.nan  # outside [-1, 1], or nan
        x = -_SQRT_HALF * ndtri(0.5 * (1.0 - abs(y)))
        return x if y > 0.0 else -x
    x = 0.5 * math.sqrt(math.pi) * y
    for _ in range(8):
        ratio = (math.erf(x) - y) / (2.0 / math.sqrt(math.pi) * math.exp(-x * x))
        step = ratio / (1.0 + x * ratio)
        x -= step
        if abs(step) <= 1e-16 * abs(x):
            break
    return x


# Modified Bessel functions of the first kind I_n of integer order, plain and scaled by
# exp(-|x|) (core/special.py).  Positive-term power series up to |x| = max(30, n^2), Hankel's
# asymptotic series beyond (its terms fall to 1e-17 before they start to grow there).
@njit(error_model="numpy", cache=config.read().disk_cache)
def _bessel_i_series(n: int, x: float) -> float:
    """I_n(x) for x >= 0: sum_k (x/2)^(2k+n) / (k! (k+n)!), every term positive."""
    half = 0.5 * x
    term = 1.0
    for k in range(1, n + 1):
        term *= half / k
    total = term
    quarter_square = half * half
    k = 0
    while term > 1e-17 * total:
        k += 1
        term *= quarter_square / (k * (k + n))
        total += term
    return total


@njit(error_model="numpy", cache=config.read().disk_cache)
def _bessel_i_asymptotic_scaled(n: int, x: float) -> float:
    """exp(-x) I_n(x) for large x: sum_k (-1)^k prod_j (4n^2 - (2j-1)^2) / (k! (8x)^k),
    over sqrt(2 pi x)."""
    mu = 4.0 * n * n
    term = 1.0
    total = 1.0
    for k in range(1, 60):
        step = -(mu - (2 * k - 1) ** 2) / (k * 8.0 * x)
        if abs(step) >= 1.0:
            break
        term *= step
        total += term
        if abs(term) <= 1e-17 * abs(total):
            break
    return total / math.sqrt(2.0 * math.pi * x)


@njit(error_model="numpy", cache=config.read().disk_cache)
def bessel_i(n: int, scaled: bool, x: float) -> float:
    """I_n(x), or exp(-|x|) I_n(x) when ``scaled``; odd orders are odd in x."""
    x = float(x)
    if x != x:
        return x
    size = abs(x)
    if size > max(30.0, float(n * n)):
        value = _bessel_i_asymptotic_scaled(n, size)
        if not scaled:  # exp(x) overflows a little before I_n(x) does: in two halves
            half_growth = math.exp(0.5 * size) if size < 1500.0 else math.inf
            value = value * half_growth * half_growth
    else:
        value = _bessel_i_series(n, size)
        if scaled:
            value *= math.exp(-size)
    return -value if x < 0.0 and n % 2 else value
