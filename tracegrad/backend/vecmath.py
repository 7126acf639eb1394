"""Scalar exp, tanh, log, log1p, expm1, sin and cos that LLVM vectorises in generated loops.

Numba lowers ``math.exp``, ``math.tanh``, ... to calls into the C library. Without SVML
(PyPI's llvmlite has none) those calls stay scalar, so a fused loop with a transcendental
runs at 5-20 ns per element where NumPy's SIMD ufuncs take 0.4-2 ns. The kernels below use
only arithmetic, comparisons that become selects, and bit manipulation, so a loop that calls
them is vectorised by LLVM (AVX-512 here: 8 float64 or 16 float32 lanes per instruction).
They are ``forceinline``: LLVM's inliner would otherwise leave the larger ones as calls,
and a call stops the caller's loop from being vectorised.

``exp_f64(x)``, ``exp_f32(x)``, ... take and return one scalar of their dtype; the float32
kernels compute in float32. Use them in an njit loop; ``source(names)`` gives their text for
a generated module that must not import them. Methods:

* exp: n = rint(x / ln 2), r = x - n ln 2 with ln 2 in two parts so that the first product
  is exact (Cody and Waite), exp(r) = 1 + r + r^2 q(r) on |r| <= ln(2)/2 with q a minimax
  polynomial, and 2^n built from its exponent bits, in two factors so that results that
  overflow or are subnormal round once. float64 carries the rounding errors of r and of
  1 + r to the final addition.
* expm1: the same reduction; (2^n - 1) + 2^n (exp(r) - 1), the last term without forming
  1 + r, so that there is no cancellation near 0; exp(x) itself above 40 (float32: 18).
* tanh: x + x^3 Q(x^2) near 0 (relative accuracy there; tanh(-0.0) is -0.0 and tiny x give
  x), otherwise sign(x) (1 - 2 / (exp(2|x|) + 1)) with |x| clamped where tanh rounds to 1.
  float64 carries the rounding errors through the sum and the division (a fused
  multiply-add gives the division's exact remainder).
* log: x = 2^k m with m in [sqrt(1/2), sqrt(2)) from the bits, f = m - 1 exact, then
  log(1 + f) = f - (f^2/2 - s (f^2/2 + R(s^2))) with s = f / (2 + f) and R a minimax
  polynomial; k ln 2 is added as a rounded sum plus its exact error.
* log1p: u = 1 + x with its exact rounding error e, then log(u) + e / u as above.
* sin, cos: |x| = (4k + q) pi/2 + r with |r| <= pi/4 for every finite x, no cut-off: x 2/pi
  mod 4 from the 212 bits of 2/pi that matter at x's exponent (Payne and Hanek; rows of a
  table built at import, loaded with gathers), in exact products and sums of two floats;
  then r + r^3 S(r^2) or 1 - r^2/2 + r^4 C(r^2) and the sign as q selects. float32 reduces
  and evaluates in float64 (fewer table chunks) and rounds once.

Both sides of every choice are computed and one is selected, without a branch. NaN gives
NaN; +-0, +-inf, overflow, underflow and the domain ends give what NumPy gives. The
polynomial coefficients come from ``tools/fit_vecmath.py`` (Remez fits in 60-digit
arithmetic). The maximum errors in each docstring were measured on dense sweeps against
80-bit long double (``tests/test_vecmath.py``, ``benchmarks/vecmath.py``); for sin and cos
also log-uniform up to the dtype's max, and on every 61st positive float32.

The kernels are compiled with ``fastmath={'contract'}`` only. Setting fastmath explicitly
matters: a Numba function without it inherits its caller's flags, and 'reassoc' would undo
the error-carrying sums. An inlined callee keeps its own flags.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Iterable
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from .. import config

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

# forceinline: LLVM's inliner would leave tanh_f64 (too big for its threshold) as a call,
# which stops the caller's loop from being vectorised. cache: a new process loads the kernels
# from Numba's cache (beside this file, or its user-wide directory if this one is read-only)
# in milliseconds instead of compiling each for about 0.15 s; off with tracegrad's disk cache.
_OPTIONS: dict[str, Any] = {
    "error_model": "numpy",
    "fastmath": {"contract"},
    "forceinline": True,
    "cache": config.read().disk_cache,
}

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
_L32_0 = _F(0.6666677594184875)  # log(1 + f) = ..., R = z (L0 + L1 z + L2 z^2), z = s^2
_L32_1 = _F(0.399774968624115)
_L32_2 = _F(0.298730731010437)
_TINY_32 = _F(1.1754943508222875e-38)  # the smallest normal float32
_TWO_25_32 = _F(33554432.0)
_INF_32 = _F(math.inf)
_NAN_32 = _F(math.nan)
_ZERO_32 = _F(0.0)
_HALF_32 = _F(0.5)
_ONE_32 = _F(1.0)
_TWO_32 = _F(2.0)
_EXP_MAX_32 = _F(89.0)  # exp overflows to inf above 88.7228
_EXP_MIN_32 = _F(-104.0)  # and rounds to 0 below -103.9721
_EXPM1_MIN_32 = _F(-18.0)  # expm1 rounds to -1 below -17.33
_EXPM1_BIG_32 = _F(18.0)  # the -1 is below half an ulp above 17.33
_TANH_BIG_32 = _F(10.0)  # tanh rounds to 1 above 9.011
_TANH_CUT_32 = _F(0.625)
_TANH_TINY_32 = _F(1e-4)  # tanh(x) rounds to x below 3e-4


# =============================================================================================
# exp


@numba.njit(**_OPTIONS)
def _exp_reduce_f64(x):
    """``n, r, r_lo, q`` with x = n ln 2 + r + r_lo (|r| <= ln(2)/2, r_lo the rounding error
    of r) and exp(r) = 1 + r + r^2 q: the reduction exp, tanh and expm1 share."""
    n = rint(x * 1.4426950408889634)
    r_hi = x - n * 0.6931471805598903  # exact: the constant has 42 significant bits
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
    return n, r, r_lo, q


@numba.njit(**_OPTIONS)
def _exp_reduce_f32(x):
    """``_exp_reduce_f64`` in float32 (exp_f32 and tanh_f32 do without r_lo)."""
    n = rint(x * _LOG2E_32)
    r_hi = x - n * _LN2_HI_32
    r = r_hi - n * _LN2_LO_32
    r_lo = (r_hi - r) - n * _LN2_LO_32
    q = _E32_4
    q = q * r + _E32_3
    q = q * r + _E32_2
    q = q * r + _E32_1
    q = q * r + _E32_0
    return n, r, r_lo, q


@numba.njit(**_OPTIONS)
def exp_f64(x):
    """exp of a float64. Max error 0.6 ulp (0.75 ulp for subnormal results)."""
    # Clamp so that every step below stays finite; NaN becomes 710.0 and is restored last.
    xc = x if x < 710.0 else 710.0
    xc = xc if xc > -746.0 else -746.0
    n, r, r_lo, q = _exp_reduce_f64(xc)
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
    n, r, _, q = _exp_reduce_f32(xc)
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
    n, r, r_lo, q = _exp_reduce_f64(t)
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
    """tanh of a float32, computed in float32. Max error 1.31 ulp (NumPy's: 1.37).

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
    n, r, _, q = _exp_reduce_f32(t)
    e = (_ONE_32 + (r + (r * r) * q)) * f32_from_bits((np.int32(n) + 127) << 23)  # n <= 29
    big = _ONE_32 - _TWO_32 / (e + _ONE_32)
    big = -big if x < _ZERO_32 else big
    y = small if ax < _TANH_CUT_32 else big
    return y if ax > _TANH_TINY_32 else x


# =============================================================================================
# log


@numba.njit(**_OPTIONS)
def _log_reduced_f64(f, k, tail):
    """log(2^k (1 + f)) + tail for 1 + f in [sqrt(1/2), sqrt(2)), f exact and tail small: the
    part log_f64 and log1p_f64 share (tail is log1p's rounding correction, added before the
    final rounding)."""
    # log(1 + f) = 2 atanh(s) = 2s + s R(s^2) with s = f / (2 + f); as 2s = f - f^2/2 + s f^2/2,
    # log(1 + f) = f - (f^2/2 - s (f^2/2 + R)): the roundings of s (and of the polynomial) only
    # touch s (f^2/2 + R), at most f^3/4; f^2/2 is split into a rounded value and its exact
    # remainder.
    s = f / (2.0 + f)
    z = s * s
    p = 0.14797508186578717
    p = p * z + 0.153139031989539
    p = p * z + 0.181835697416895
    p = p * z + 0.22222198475949156
    p = p * z + 0.28571428743263055
    p = p * z + 0.3999999999941109
    p = p * z + 0.6666666666666735
    hf = 0.5 * f
    hfsq = hf * f
    c = hfsq - (s * (hfsq + z * p) - fma(hf, f, -hfsq))
    # k ln2_hi + f as a rounded sum and its exact error (k ln2_hi is exact; when k != 0 it is
    # the larger term), so that only the final addition rounds at the scale of the result.
    h = k * 0.6931471805598903
    a = h + f
    return a + (((h - a) + f) + ((k * 5.497923018708371e-14 + tail) - c))


@numba.njit(**_OPTIONS)
def log_f64(x):
    """log of a float64. Max error 0.84 ulp."""
    # x = 2^k m with m in [sqrt(1/2), sqrt(2)): subtracting the bits of sqrt(1/2) makes the
    # exponent field count binades that start at sqrt(1/2). Subnormals are scaled by 2^54.
    sub = x < 2.2250738585072014e-308
    bits = float_bits(x * 18014398509481984.0 if sub else x)
    i = (bits - 0x3FE6A09E667F3BCD) >> 52
    f = f64_from_bits(bits - (i << 52)) - 1.0  # exact
    k = np.float64(i - 54 if sub else i)
    y = _log_reduced_f64(f, k, 0.0)
    y = y if x < math.inf else x  # inf; NaN
    return y if x > 0.0 else (-math.inf if x == 0.0 else math.nan)


@numba.njit(**_OPTIONS)
def _log_reduced_f32(f, k, tail):
    """``_log_reduced_f64`` in float32."""
    s = f / (_TWO_32 + f)
    z = s * s
    p = _L32_2
    p = p * z + _L32_1
    p = p * z + _L32_0
    hf = _HALF_32 * f
    hfsq = hf * f
    c = hfsq - (s * (hfsq + z * p) - fma(hf, f, -hfsq))
    h = k * _LN2_HI_32
    a = h + f
    return a + (((h - a) + f) + ((k * _LN2_LO_32 + tail) - c))


@numba.njit(**_OPTIONS)
def log_f32(x):
    """log of a float32, computed in float32 (the steps of ``log_f64``). Max error 0.83 ulp."""
    sub = x < _TINY_32
    bits = float_bits(x * _TWO_25_32 if sub else x)
    i = (bits - 0x3F3504F3) >> 23
    f = f32_from_bits(bits - (i << 23)) - _ONE_32
    k = np.float32(i - 25 if sub else i)
    y = _log_reduced_f32(f, k, _ZERO_32)
    y = y if x < _INF_32 else x
    return y if x > _ZERO_32 else (-_INF_32 if x == _ZERO_32 else _NAN_32)


@numba.njit(**_OPTIONS)
def log1p_f64(x):
    """log(1 + x) of a float64. Max error 0.83 ulp."""
    # u = 1 + x rounded, e its exact rounding error (Knuth's two-sum: x may exceed 1); then the
    # steps of log_f64 on u, with log(u + e) = log(u) + e / u folded into the small terms.
    u = 1.0 + x
    v = u - 1.0
    e = (1.0 - (u - v)) + (x - v)
    bits = float_bits(u)  # u is 0 or at least 2^-53: never subnormal
    i = (bits - 0x3FE6A09E667F3BCD) >> 52
    f = f64_from_bits(bits - (i << 52)) - 1.0
    k = np.float64(i)
    y = _log_reduced_f64(f, k, e / u)
    y = y if u < math.inf else u  # x = inf; NaN
    y = y if u > 0.0 else (-math.inf if u == 0.0 else math.nan)
    return y if x != 0.0 else x  # -0.0


@numba.njit(**_OPTIONS)
def log1p_f32(x):
    """log(1 + x) of a float32, computed in float32 (the steps of ``log1p_f64``). Max error
    0.81 ulp."""
    u = x + _ONE_32
    v = u - _ONE_32
    e = (_ONE_32 - (u - v)) + (x - v)
    bits = float_bits(u)
    i = (bits - 0x3F3504F3) >> 23
    f = f32_from_bits(bits - (i << 23)) - _ONE_32
    k = np.float32(i)
    y = _log_reduced_f32(f, k, e / u)
    y = y if u < _INF_32 else u
    y = y if u > _ZERO_32 else (-_INF_32 if u == _ZERO_32 else _NAN_32)
    return y if x != _ZERO_32 else x


# =============================================================================================
# expm1


@numba.njit(**_OPTIONS)
def expm1_f64(x):
    """exp(x) - 1 of a float64. Max error 0.79 ulp."""
    xc = x if x < 710.0 else 710.0  # NaN gives 710.0; restored last
    xc = xc if xc > -40.0 else -40.0  # expm1 rounds to -1 below -37.43
    n, r, r_lo, q = _exp_reduce_f64(xc)
    # exp(r) - 1 = t + t_lo, computed without forming 1 + r (no cancellation near 0), and
    # with r^2 split into a rounded product and its exact remainder.
    r2 = r * r
    w = r2 * q + (fma(r, r, -r2) * q + r_lo * (1.0 + r))
    t = r + w
    t_lo = (r - t) + w  # exact: |r| >= |w|
    # expm1(x) = (2^n - 1) + 2^n (t + t_lo) for n <= 58. 2^n - 1 (exact up to n = 53; above,
    # 2^n and -1 apart) is the larger term whenever n != 0: one rounded sum and its exact
    # error again.
    k = np.int64(n)
    scale = f64_from_bits(((k if k < 60 else 60) + 1023) << 52)
    a = scale - 1.0 if k < 54 else scale
    b = scale * t
    y_small = a + b
    y_small = y_small + (((a - y_small) + b) + (scale * t_lo - (0.0 if k < 54 else 1.0)))
    # x > 40: exp(x), scaled in two factors as in exp_f64 (the -1 is below half an ulp).
    k1 = k >> 1
    y_big = (1.0 + (t + t_lo)) * f64_from_bits((k1 + 1023) << 52)
    y_big = y_big * f64_from_bits((k - k1 + 1023) << 52)
    y = y_small if xc < 40.0 else y_big
    # +-0, tiny x (expm1(x) rounds to x) and NaN give x.
    return y if abs(x) > 1e-300 else x


@numba.njit(**_OPTIONS)
def expm1_f32(x):
    """exp(x) - 1 of a float32, computed in float32 (the steps of ``expm1_f64``). Max error
    0.91 ulp."""
    xc = x if x < _EXP_MAX_32 else _EXP_MAX_32
    xc = xc if xc > _EXPM1_MIN_32 else _EXPM1_MIN_32
    n, r, r_lo, q = _exp_reduce_f32(xc)
    r2 = r * r
    w = r2 * q + (fma(r, r, -r2) * q + r_lo * (_ONE_32 + r))
    t = r + w
    t_lo = (r - t) + w
    k = np.int32(n)
    scale = f32_from_bits(((k if k < 30 else 30) + 127) << 23)
    a = scale - _ONE_32 if k < 25 else scale
    b = scale * t
    y_small = a + b
    y_small = y_small + (((a - y_small) + b) + (scale * t_lo - (_ZERO_32 if k < 25 else _ONE_32)))
    k1 = k >> 1
    y_big = (_ONE_32 + (t + t_lo)) * f32_from_bits((k1 + 127) << 23)
    y_big = y_big * f32_from_bits((k - k1 + 127) << 23)
    y = y_small if xc < _EXPM1_BIG_32 else y_big
    return y if abs(x) > _TINY_32 else x


# =============================================================================================
# sin and cos


def _two_over_pi_table(rows: int, chunks: int = 4) -> np.ndarray:
    """Row i: frac(2^i * 2/pi) as ``chunks`` float64 of 53 bits each (their exact sum is the
    fraction truncated to 53 * chunks bits), flattened. Built with integer arithmetic: pi from
    Machin's formula pi = 16 atan(1/5) - 4 atan(1/239) in fixed point with guard bits."""
    bits = 53 * chunks + rows + 64  # the fraction bits row rows - 1 needs, and spare ones
    w = bits + 64

    def atan_inv(k: int) -> int:  # atan(1/k) * 2^w, rounded down term by term
        total, power, j = 0, (1 << w) // k, 0
        while power:
            total += power // (2 * j + 1) if j % 2 == 0 else -(power // (2 * j + 1))
            power //= k * k
            j += 1
        return total

    pi_w = 16 * atan_inv(5) - 4 * atan_inv(239)  # pi * 2^w, off by at most a few hundred
    m = (1 << (bits + 1 + w)) // pi_w  # 2/pi * 2^bits; the guard bits absorb pi_w's error
    mask = (1 << bits) - 1
    out = np.empty((rows, chunks))
    for i in range(rows):
        frac = (m << i) & mask
        for j in range(chunks):
            part = (frac >> (bits - 53 * (j + 1))) & ((1 << 53) - 1)
            out[i, j] = math.ldexp(float(part), -53 * (j + 1))
    return out.reshape(-1)


# |x| = 2^e m: row max(e - 54, 0) of the table; x scaled by 2^(54 - e) when e > 54. e <= 1023.
_TWO_OVER_PI_TABLE = _two_over_pi_table(1023 - 54 + 1)


@numba.njit(**_OPTIONS)
def _two_sum(a, b):
    """(s, e) with s = a + b rounded and s + e = a + b exactly (Knuth)."""
    s = a + b
    v = s - a
    return s, (a - (s - v)) + (b - v)


@numba.njit(**_OPTIONS)
def _reduce_pio2(a):
    """For a finite float64 a >= 0: (r, r_lo, q) with a = (4k + q) pi/2 + r + r_lo, |r| <=
    pi/4 (and a hair), r + r_lo accurate to about 2^-150 absolute for any a.

    a 2/pi mod 4 from the bits of 2/pi that matter (Payne and Hanek): with a = 2^e m, the bits
    of 2/pi above 2^(54 - e) contribute multiples of 4 and are dropped. The next 212 bits are
    row max(e - 54, 0) of the table, scaled by 2^(e - 54) (that row, four 53-bit chunks, is
    frac(2^(e - 54) 2/pi)), and a by 2^(54 - e) so that the product stays below 2^55. Its
    chunks' products are exact sums of two floats (fused multiply-add), from which the
    integer part and the fraction f are separated without rounding the leading terms. For
    a < 2^55 this is row 0, plain 2/pi. Every lane loads its row: the loads are gathers.
    """
    bits = float_bits(a)
    e = (bits >> 52) - 1023
    big = e > 54
    row = (e - 54 if big else 0) * 4
    xs = a * f64_from_bits((1077 - e) << 52) if big else a  # in [2^54, 2^55) when big
    t0 = _TWO_OVER_PI_TABLE[row]
    t1 = _TWO_OVER_PI_TABLE[row + 1]
    t2 = _TWO_OVER_PI_TABLE[row + 2]
    t3 = _TWO_OVER_PI_TABLE[row + 3]
    p0 = xs * t0  # < 2^55
    e0 = fma(xs, t0, -p0)
    p1 = xs * t1  # < 4
    e1 = fma(xs, t1, -p1)
    p2 = xs * t2  # < 2^-51
    e2 = fma(xs, t2, -p2)
    p3 = xs * t3  # < 2^-104; its rounding error and the dropped bits, below 2^-156
    i0 = rint(p0)
    d = p0 - i0  # exact, |d| <= 1/2
    # d + e0 + p1 + e1 + p2 + e2 + p3 without rounding the parts that can cancel: the sum
    # can be as small as 2^-62 while its terms are near 1 (and the errors of their sums near
    # 2^-53), so the terms go through a cascade of exact two-sums and so do the errors, in a
    # second one; only errors below 2^-150 are rounded.
    s, lo = _two_sum(d, e0)  # |e0| <= 2
    s, err = _two_sum(s, p1)
    lo, lolo = _two_sum(lo, err)
    i1 = rint(s)
    s = s - i1  # exact, |s| <= 1/2
    s, err = _two_sum(s, e1)
    lo, err = _two_sum(lo, err)
    lolo = lolo + err
    s, err = _two_sum(s, p2)
    lo, err = _two_sum(lo, err)
    lolo = lolo + (err + (e2 + p3))
    s, lo = _two_sum(s, lo)
    f = s + (lo + lolo)
    f_lo = (s - f) + (lo + lolo)  # exact: |s| >= |lo + lolo|, or both are below 2^-150
    # r + r_lo = (f + f_lo) pi/2, pi/2 = 1.5707963267948966 + 6.123233995736766e-17.
    r = f * 1.5707963267948966
    r_lo = fma(f, 1.5707963267948966, -r) + (f * 6.123233995736766e-17 + f_lo * 1.5707963267948966)
    q = (np.int64(i0) + np.int64(i1)) & 3  # i0 < 2^55
    return r, r_lo, q


@numba.njit(**_OPTIONS)
def _reduce_pio2_f32(a):
    """(r, q) as in ``_reduce_pio2`` for a float64 a >= 0 that is a finite float32, r to about
    2^-100 absolute: a's 24-bit significand cancels at most to 2^-32 (float32 needs r to
    2^-25 relative), so three chunks and one cascade of two-sums suffice."""
    bits = float_bits(a)
    e = (bits >> 52) - 1023
    big = e > 54
    row = (e - 54 if big else 0) * 4
    xs = a * f64_from_bits((1077 - e) << 52) if big else a
    t0 = _TWO_OVER_PI_TABLE[row]
    t1 = _TWO_OVER_PI_TABLE[row + 1]
    t2 = _TWO_OVER_PI_TABLE[row + 2]
    p0 = xs * t0
    e0 = fma(xs, t0, -p0)
    p1 = xs * t1
    e1 = fma(xs, t1, -p1)
    i0 = rint(p0)
    s, lo = _two_sum(p0 - i0, e0)
    s, err = _two_sum(s, p1)
    i1 = rint(s)
    f = (s - i1) + ((lo + err) + (e1 + xs * t2))
    q = (np.int64(i0) + np.int64(i1)) & 3
    return f * 1.5707963267948966, q


@numba.njit(**_OPTIONS)
def _sin_cos_poly_f64(r, r_lo, q):
    """sin(r + r_lo) for even q, cos(r + r_lo) for odd q, negated for q = 2, 3."""
    z = r * r
    s = 1.5896067483751885e-10
    s = s * z + -2.505074503728449e-08
    s = s * z + 2.7557313604522376e-06
    s = s * z + -0.00019841269829542593
    s = s * z + 0.008333333333322063
    s = s * z + -0.1666666666666663
    h = 0.5 * z
    # sin(r + r_lo) = r + (r^3 S + r_lo cos r)
    y_sin = r + ((r * z) * s + r_lo * (1.0 - h))
    c = -1.1358423522635947e-11
    c = c * z + 2.0875698708666215e-09
    c = c * z + -2.755731416397776e-07
    c = c * z + 2.480158728880003e-05
    c = c * z + -0.0013888888888872975
    c = c * z + 0.041666666666666595
    # cos(r + r_lo) = (1 - h) + z^2 C - r r_lo with 1 - h as a rounded value and its exact
    # error, and h = r^2 / 2 with its own (the fused multiply-add's remainder).
    w = 1.0 - h
    y_cos = w + ((((1.0 - w) - h) - 0.5 * fma(r, r, -z)) + ((z * z) * c - r * r_lo))
    y = y_cos if (q & 1) == 1 else y_sin
    return -y if q >= 2 else y


@numba.njit(**_OPTIONS)
def sin_f64(x):
    """sin of a float64, any finite x (exact reduction, no cut-off). Max error 0.76 ulp."""
    ax = abs(x)
    a = ax if ax < math.inf else 0.0  # inf and NaN reduce 0; restored last
    r, r_lo, q = _reduce_pio2(a)
    y = _sin_cos_poly_f64(r, r_lo, q)
    y = -y if x < 0.0 else y
    y = y if ax < math.inf else math.nan
    # +-0, tiny x (sin(x) rounds to x below 1.5e-8) and NaN give x.
    return y if ax > 1e-9 else x


@numba.njit(**_OPTIONS)
def cos_f64(x):
    """cos of a float64, any finite x (exact reduction, no cut-off). Max error 0.77 ulp."""
    ax = abs(x)
    a = ax if ax < math.inf else 0.0
    r, r_lo, q = _reduce_pio2(a)
    y = _sin_cos_poly_f64(r, r_lo, (q + 1) & 3)
    return y if ax < math.inf else math.nan


@numba.njit(**_OPTIONS)
def _sin_cos_poly_f32(r, q):
    """sin(r) for even q, cos(r) for odd q, negated for q = 2, 3; float64, 2^-36 relative."""
    z = r * r
    s = 2.7180840591246885e-06
    s = s * z + -0.00019839308345461558
    s = s * z + 0.008333329292698968
    s = s * z + -0.1666666664069281
    y_sin = r + (r * z) * s
    c = -2.7205400881251046e-07
    c = c * z + 2.4799455862184655e-05
    c = c * z + -0.0013888883483711603
    c = c * z + 0.04166666661929971
    y_cos = (1.0 - 0.5 * z) + (z * z) * c
    y = y_cos if (q & 1) == 1 else y_sin
    return -y if q >= 2 else y


@numba.njit(**_OPTIONS)
def sin_f32(x):
    """sin of a float32, any finite x. Max error 0.5 ulp: the reduction (``_reduce_pio2_f32``)
    and a shorter polynomial run in float64, and the result is rounded once to float32."""
    ax = np.float64(abs(x))
    a = ax if ax < math.inf else 0.0
    r, q = _reduce_pio2_f32(a)
    y = _sin_cos_poly_f32(r, q)
    y = -y if x < _ZERO_32 else y
    y = np.float32(y) if ax < math.inf else _NAN_32
    return y if ax > 1e-30 else x


@numba.njit(**_OPTIONS)
def cos_f32(x):
    """cos of a float32, any finite x; the steps of ``sin_f32``. Max error 0.5 ulp."""
    ax = np.float64(abs(x))
    a = ax if ax < math.inf else 0.0
    r, q = _reduce_pio2_f32(a)
    y = _sin_cos_poly_f32(r, (q + 1) & 3)
    return np.float32(y) if ax < math.inf else _NAN_32


# =============================================================================================
# The kernels as source text, for generated modules

KERNELS = (
    "exp_f64",
    "exp_f32",
    "tanh_f64",
    "tanh_f32",
    "log_f64",
    "log_f32",
    "log1p_f64",
    "log1p_f32",
    "expm1_f64",
    "expm1_f32",
    "sin_f64",
    "sin_f32",
    "cos_f64",
    "cos_f32",
)
_PREFIX = "_vm_"


def source(names: Iterable[str]) -> str:
    """Self-contained source text defining the kernels ``names`` as ``_vm_<name>``.

    For a generated module that must not depend on this file's contents (Numba's disk cache
    keys a module by its own text only): the kernels, the helpers they call (``_reduce_pio2``
    as ``_vm_reduce_pio2``), their float32 constants and the import of the bit-cast
    intrinsics, which are lowered inline and compile nothing of their own, and of the table
    of 2/pi (a fixed constant).
    """
    names = sorted(set(names), key=KERNELS.index)
    constants: dict[str, str] = {}
    tables: dict[str, None] = {}
    bodies: dict[str, str] = {}

    def add(name: str, new_name: str) -> None:
        if new_name in bodies:
            return
        fn = globals()[name].py_func
        text = inspect.getsource(fn)
        for g in fn.__code__.co_names:
            value = globals().get(g)
            if isinstance(value, np.float32):
                # np.float32('nan'): inf and nan have no literal
                constants[g] = f"{_PREFIX.upper()}{g[1:]} = np.float32({str(float(value))!r})"
                text = re.sub(rf"\b{g}\b", f"{_PREFIX.upper()}{g[1:]}", text)
            elif isinstance(value, np.ndarray):
                tables[g] = None
            elif isinstance(value, numba.core.registry.CPUDispatcher) and g.startswith("_"):
                add(g, _PREFIX + g[1:])  # a helper: defined before its caller
                text = re.sub(rf"\b{g}\(", f"{_PREFIX}{g[1:]}(", text)
        text = text.replace("@numba.njit(**_OPTIONS)", f"@numba.njit({_options_text()})")
        text = text.replace(f"def {name}(", f"def {new_name}(")
        bodies[new_name] = text

    for name in names:
        add(name, _PREFIX + name)
    imported = [*tables, "f32_from_bits", "f64_from_bits", "float_bits", "fma", "rint"]
    header = f"from tracegrad.backend.vecmath import (  # noqa: F401\n    {', '.join(imported)}\n)"
    return "\n\n".join([header + "\n" + "\n".join(constants.values()), *bodies.values()])


def _options_text() -> str:
    fastmath = "{" + ", ".join(repr(f) for f in sorted(_OPTIONS["fastmath"])) + "}"
    return (
        f"error_model={_OPTIONS['error_model']!r}, fastmath={fastmath}, "
        f"forceinline={_OPTIONS['forceinline']!r}"
    )
