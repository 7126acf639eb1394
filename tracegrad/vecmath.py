"""Scalar exp and tanh that LLVM can vectorise inside the generated loops.

Numba lowers ``math.exp`` and ``math.tanh`` to calls into the C library. Without SVML (PyPI's
llvmlite has none) those calls stay scalar, so a fused loop with a transcendental runs at
5-20 ns per element where NumPy's SIMD ufuncs take about 1 ns. The kernels below are written
only with arithmetic, comparisons that become selects, and bit manipulation, so a loop that
calls them is vectorised by LLVM (AVX-512 here: 8 float64 or 16 float32 lanes per
instruction). Numba inlines them into the caller's LLVM module before optimising it.

Method (the same for every kernel):

* exp: n = rint(x / ln 2), r = x - n ln 2 with ln 2 split in two parts so that the first
  product is exact (Cody and Waite), exp(r) = 1 + r + r^2 q(r) on |r| <= ln(2)/2 with q a
  minimax polynomial, and the scaling by 2^n built from its exponent bits, in two factors
  so that results that overflow or are subnormal round exactly once.
* tanh: x + x^3 Q(x^2) for |x| < 0.625 (keeps the relative accuracy near 0; tanh(-0.0) is
  -0.0 and tiny x give x), otherwise sign(x) (1 - 2 / (exp(2|x|) + 1)) with |x| clamped
  where tanh rounds to 1. Both are computed and one is selected, without a branch.

The polynomial coefficients come from ``tools/fit_vecmath.py`` (a Remez fit in 60-digit
arithmetic). Measured accuracy (``tests/test_vecmath.py``, ``benchmarks/vecmath.py``) is
listed with each kernel. NaN gives NaN, and +-inf, overflow and underflow give the same as
NumPy.

The kernels are compiled with ``fastmath={'contract'}`` only (fused multiply-adds); the
caller's own flags do not change an inlined callee's instructions.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

# =============================================================================================
# Bit reinterpretation and rounding (Numba has no scalar bitcast)


@intrinsic
def float_bits(typingctx: Any, x: Any) -> Any:
    """The bits of a float64 (float32) as an int64 (int32)."""
    if x == types.float64:
        return types.int64(x), lambda context, builder, sig, args: builder.bitcast(
            args[0], ir.IntType(64)
        )
    if x == types.float32:
        return types.int32(x), lambda context, builder, sig, args: builder.bitcast(
            args[0], ir.IntType(32)
        )
    return None


def _from_bits(width: int, ftype: Any, ir_type: Any) -> Any:
    def typer(typingctx: Any, i: Any) -> Any:
        if not isinstance(i, types.Integer):
            return None

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            v = args[0]
            if v.type.width > width:
                v = builder.trunc(v, ir.IntType(width))
            elif v.type.width < width:
                v = builder.sext(v, ir.IntType(width))
            return builder.bitcast(v, ir_type)

        return ftype(i), codegen

    return typer


f64_from_bits = intrinsic(_from_bits(64, types.float64, ir.DoubleType()))
f64_from_bits.__doc__ = "The float64 whose bits are the low 64 bits of an integer."
f32_from_bits = intrinsic(_from_bits(32, types.float32, ir.FloatType()))
f32_from_bits.__doc__ = "The float32 whose bits are the low 32 bits of an integer."


@intrinsic
def rint(typingctx: Any, x: Any) -> Any:
    """Round to the nearest integer, ties to even (``llvm.rint``; one instruction in SIMD)."""
    if x not in (types.float64, types.float32):
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        fn = builder.module.declare_intrinsic("llvm.rint", [args[0].type])
        return builder.call(fn, args)

    return x(x), codegen


@intrinsic
def fma(typingctx: Any, a: Any, b: Any, c: Any) -> Any:
    """a * b + c with one rounding (``llvm.fma``: one instruction on any CPU with FMA)."""
    if not (a == b == c and a in (types.float64, types.float32)):
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        t = args[0].type
        fn = builder.module.declare_intrinsic("llvm.fma", [t], ir.FunctionType(t, [t, t, t]))
        return builder.call(fn, args)

    return a(a, b, c), codegen


# =============================================================================================
# Constants (tools/fit_vecmath.py prints them)

_OPTIONS: dict[str, Any] = {"error_model": "numpy", "fastmath": {"contract"}, "forceinline": True}

_F = np.float32
# float32 constants as globals: Numba freezes them as float32 literals.
_LOG2E_32 = _F(1.4426950408889634)
_LN2_HI_32 = _F(0.693145751953125)  # 16 significant bits: n * hi is exact for |n| < 2**8
_LN2_LO_32 = _F(1.428606765330187e-06)
_E32_0 = _F(0.4999999403953552)  # exp(r) = 1 + r + r^2 (E0 + E1 r + ...), |r| <= ln(2)/2
_E32_1 = _F(0.1666652113199234)
_E32_2 = _F(0.04166838899254799)
_E32_3 = _F(0.00836874544620514)
_E32_4 = _F(0.0013814540579915047)
_T32_0 = _F(-0.3333328068256378)  # tanh(x) = x + x^3 (T0 + T1 s + ...), s = x^2, |x| < 0.625
_T32_1 = _F(0.13331441581249237)
_T32_2 = _F(-0.05373971536755562)
_T32_3 = _F(0.0206390880048275)
_T32_4 = _F(-0.005704987328499556)
_ZERO_32 = _F(0.0)
_ONE_32 = _F(1.0)
_TWO_32 = _F(2.0)
_EXP_MAX_32 = _F(89.0)  # exp overflows to inf above 88.7228
_EXP_MIN_32 = _F(-104.0)  # and rounds to 0 below -103.9721
_TANH_BIG_32 = _F(10.0)  # tanh rounds to 1 above 9.011
_TANH_CUT_32 = _F(0.625)
_TANH_TINY_32 = _F(1e-4)  # tanh(x) rounds to x below 2.4e-4


# =============================================================================================
# exp


@numba.njit(**_OPTIONS)
def exp_f64(x):
    """exp of a float64. Max error 0.6 ulp (0.75 ulp for subnormal results)."""
    # Clamp so that every step below stays finite; NaN becomes 710.0 and is restored last.
    xc = x if x < 710.0 else 710.0
    xc = xc if xc > -746.0 else -746.0
    n = rint(xc * 1.4426950408889634)
    r_hi = xc - n * 0.6931471805598903  # exact: the constant has 42 significant bits
    r = r_hi - n * 5.497923018708371e-14
    r_lo = (r_hi - r) - n * 5.497923018708371e-14  # the rounding error of r
    q = 2.0826586081469857e-09
    q = q * r + 2.5112084684680842e-08
    q = q * r + 2.755758227123311e-07
    q = q * r + 2.755723472726243e-06
    q = q * r + 2.480158692572993e-05
    q = q * r + 0.0001984126989651574
    q = q * r + 0.0013888888889116355
    q = q * r + 0.008333333333316982
    q = q * r + 0.041666666666666095
    q = q * r + 0.16666666666666682
    q = q * r + 0.5
    # exp(r + r_lo) = (1 + r) + (r^2 q + r_lo (1 + r)): 1 + r as a rounded sum plus its
    # exact error, so that only the final addition rounds at the scale of the result.
    s = 1.0 + r
    p = s + ((((1.0 - s) + r) + r_lo * (1.0 + r)) + (r * r) * q)
    # 2^n in two factors: n is in [-1076, 1024], each half is a normal power of two.
    k = np.int64(n)
    k1 = k >> 1
    y = p * f64_from_bits((k1 + 1023) << 52) * f64_from_bits((k - k1 + 1023) << 52)
    return y if x == x else x


@numba.njit(**_OPTIONS)
def exp_f32(x):
    """exp of a float32, computed in float32. Max error 0.99 ulp.

    The steps of ``exp_f64`` without carrying the rounding error of r and of 1 + r: that
    costs a quarter more time and would only bring the error from 0.99 to 0.77 ulp.
    """
    xc = x if x < _EXP_MAX_32 else _EXP_MAX_32
    xc = xc if xc > _EXP_MIN_32 else _EXP_MIN_32
    n = rint(xc * _LOG2E_32)
    r = xc - n * _LN2_HI_32
    r = r - n * _LN2_LO_32
    q = _E32_4
    q = q * r + _E32_3
    q = q * r + _E32_2
    q = q * r + _E32_1
    q = q * r + _E32_0
    p = _ONE_32 + (r + (r * r) * q)
    k = np.int32(n)  # in [-150, 128]
    k1 = k >> 1
    y = p * f32_from_bits((k1 + 127) << 23) * f32_from_bits((k - k1 + 127) << 23)
    return y if x == x else x


# =============================================================================================
# tanh


@numba.njit(**_OPTIONS)
def tanh_f64(x):
    """tanh of a float64. Max error 0.59 ulp."""
    # |x| < 0.3: an odd polynomial.
    s = x * x
    q = 0.0005024535035557115
    q = q * s + -0.0014416545901210908
    q = q * s + 0.003590873800082754
    q = q * s + -0.008863170761330317
    q = q * s + 0.02186948658078045
    q = q * s + -0.053968253935533096
    q = q * s + 0.1333333333330682
    q = q * s + -0.3333333333333326
    small = x + (x * s) * q
    # Elsewhere 1 - 2 / (e + 1), e = exp(2|x|), |x| clamped to 20 (tanh rounds to 1 above
    # 19.06). Every step carries its rounding error along (e = e_hi + e_lo, then d = e + 1,
    # then 2 / d), so the result is rounded once, at the end.
    ax = abs(x)
    a = ax if ax < 20.0 else 20.0  # NaN gives 20.0
    t = a + a
    n = rint(t * 1.4426950408889634)
    r_hi = t - n * 0.6931471805598903
    r = r_hi - n * 5.497923018708371e-14
    r_lo = (r_hi - r) - n * 5.497923018708371e-14
    q = 2.0826586081469857e-09
    q = q * r + 2.5112084684680842e-08
    q = q * r + 2.755758227123311e-07
    q = q * r + 2.755723472726243e-06
    q = q * r + 2.480158692572993e-05
    q = q * r + 0.0001984126989651574
    q = q * r + 0.0013888888889116355
    q = q * r + 0.008333333333316982
    q = q * r + 0.041666666666666095
    q = q * r + 0.16666666666666682
    q = q * r + 0.5
    u = 1.0 + r
    c = (((1.0 - u) + r) + r_lo * (1.0 + r)) + (r * r) * q
    p = u + c
    p_lo = (u - p) + c  # exact: |u| >= |c|
    scale = f64_from_bits((np.int64(n) + 1023) << 52)  # n <= 58
    e = p * scale
    e_lo = p_lo * scale
    d = e + 1.0
    d_lo = ((e - d) + 1.0) + e_lo  # e >= 1
    g = 2.0 / d
    # 2 / (d + d_lo) = g + g_lo: the residual of the division is exact with a fused
    # multiply-add, and a correction this small may be divided by d approximately (* g / 2).
    g_lo = (fma(-g, d, 2.0) - g * d_lo) * (0.5 * g)
    h = 1.0 - g
    big = h + (((1.0 - h) - g) - g_lo)  # g <= 1/2 <= 1
    big = -big if x < 0.0 else big
    y = small if ax < 0.3 else big
    # 0, -0.0, tiny x (tanh(x) rounds to x below 1.3e-8) and NaN give x.
    return y if ax > 1e-9 else x


@numba.njit(**_OPTIONS)
def tanh_f32(x):
    """tanh of a float32, computed in float32. Max error 1.28 ulp (NumPy's: 1.37).

    The branches of ``tanh_f64`` without the error-carrying steps (those give 0.59 ulp but
    take 1.6 times as long), and the polynomial up to |x| = 0.625, where 1 - 2 / (e + 1)
    starts to lose less than a bit to cancellation.
    """
    s = x * x
    q = _T32_4
    q = q * s + _T32_3
    q = q * s + _T32_2
    q = q * s + _T32_1
    q = q * s + _T32_0
    small = x + (x * s) * q
    ax = abs(x)
    a = ax if ax < _TANH_BIG_32 else _TANH_BIG_32
    t = a + a
    n = rint(t * _LOG2E_32)
    r = t - n * _LN2_HI_32
    r = r - n * _LN2_LO_32
    q = _E32_4
    q = q * r + _E32_3
    q = q * r + _E32_2
    q = q * r + _E32_1
    q = q * r + _E32_0
    e = (_ONE_32 + (r + (r * r) * q)) * f32_from_bits((np.int32(n) + 127) << 23)  # n <= 29
    big = _ONE_32 - _TWO_32 / (e + _ONE_32)
    big = -big if x < _ZERO_32 else big
    y = small if ax < _TANH_CUT_32 else big
    return y if ax > _TANH_TINY_32 else x
