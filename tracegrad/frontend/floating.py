"""Floating-point anatomy as ufuncs: ``frexp``, ``ldexp``, ``modf``, ``divmod``, ``signbit``,
``spacing`` and ``nextafter``, plus the stacked products ``matvec`` and ``vecmat``.

All compose existing traced functions.  Exponents and spacings are piecewise constant, so
they carry no gradient; a mantissa is the operand scaled by a power of two, and gets that
factor as its derivative.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .elementwise import (
    absolute,
    add,
    copysign,
    equal,
    floor,
    floor_divide,
    greater,
    greater_equal,
    isfinite,
    isinf,
    isnan,
    less,
    log2,
    logical_and,
    logical_not,
    logical_or,
    maximum,
    mod,
    multiply,
    not_equal,
    power,
    sign,
    subtract,
    trunc,
    where,
)
from .products import matmul
from .promotion import cast, dtype_of, promote
from .shapes import expand_dims, squeeze


def _floating(x: Any) -> Any:
    (x,) = promote(x, float_only=True)
    return x


def _two_to(exponent: Any) -> Any:
    """2**exponent for whole-number exponents, exactly (pow is exact there; exp2 is exp)."""
    return power(2.0, exponent)


def _scale_by_power_of_two(x: Any, exponent: Any) -> Any:
    """``x * 2**exponent`` exactly, in two steps so that neither power over- or underflows
    where the product itself is representable."""
    half = floor(multiply(exponent, 0.5))
    return multiply(multiply(x, _two_to(half)), _two_to(subtract(exponent, half)))


def frexp(x: Any) -> tuple[Any, Any]:
    """``x = m * 2**e`` with 0.5 <= |m| < 1 (m = x, e = 0 for 0, inf and NaN)."""
    x = _floating(x)
    regular = logical_and(isfinite(x), not_equal(x, 0.0))
    guess = add(floor(log2(where(regular, absolute(x), 1.0))), 1.0)
    mantissa = _scale_by_power_of_two(x, multiply(guess, -1.0))
    # log2 may round across a power of two: move the mantissa back into [0.5, 1).
    too_big = greater_equal(absolute(mantissa), 1.0)
    too_small = less(absolute(mantissa), 0.5)
    mantissa = where(
        too_big, multiply(mantissa, 0.5), where(too_small, multiply(mantissa, 2.0), mantissa)
    )
    exponent = add(guess, subtract(cast(too_big, dtype_of(x)), cast(too_small, dtype_of(x))))
    mantissa = where(regular, mantissa, x)
    return mantissa, cast(where(regular, exponent, 0.0), np.int32)


def ldexp(x: Any, exponent: Any) -> Any:
    """``x * 2**exponent`` for integer exponents."""
    if dtype_of(exponent).kind not in "iub":
        raise TypeError("np.ldexp: the exponent must be an integer array")
    x = _floating(x)
    return _scale_by_power_of_two(x, cast(exponent, dtype_of(x)))


def modf(x: Any) -> tuple[Any, Any]:
    """Fractional and integral parts, both with the sign of ``x`` (0 fraction for inf)."""
    x = _floating(x)
    whole = trunc(x)
    fraction = where(isinf(x), 0.0, subtract(x, whole))
    return copysign(fraction, x), whole


def divmod_(x: Any, y: Any) -> tuple[Any, Any]:
    return floor_divide(x, y), mod(x, y)


def signbit(x: Any) -> Any:
    """Whether the sign bit is set: True for -0.0 too; False for every NaN (a NaN's sign
    bit cannot be read without bit operations, which tracegrad does not trace)."""
    return less(copysign(1.0, _floating(x)), 0.0)


def _ulp(x: Any) -> Any:
    """The spacing of floats at |x| (finite x): 2**(e - digits), at least the smallest
    subnormal."""
    info = np.finfo(dtype_of(x))
    _, exponent = frexp(x)
    digits_below = subtract(cast(exponent, dtype_of(x)), float(info.nmant + 1))
    ulp = maximum(_two_to(digits_below), info.smallest_subnormal)
    return where(equal(x, 0.0), info.smallest_subnormal, ulp)


def spacing(x: Any) -> Any:
    """Distance to the next float away from zero, with the sign of ``x`` (positive at -0.0);
    NaN for inf."""
    x = _floating(x)
    largest = np.finfo(dtype_of(x)).max
    result = where(equal(x, 0.0), _ulp(x), copysign(_ulp(x), x))  # 0 and -0: positive
    result = where(equal(absolute(x), largest), copysign(np.inf, x), result)  # the next is inf
    return where(isfinite(x), result, np.nan)


def nextafter(x: Any, y: Any) -> Any:
    """The next float after ``x`` towards ``y`` (``y`` where they are equal)."""
    x, y = promote(x, y, float_only=True)
    info = np.finfo(dtype_of(x))
    direction = sign(subtract(y, x))
    ulp = _ulp(where(isfinite(x), x, 1.0))
    # Towards zero from a power of two (above the normal range's bottom) the step halves.
    mantissa, _ = frexp(x)
    halves = logical_and(equal(absolute(mantissa), 0.5), greater(absolute(x), info.tiny))
    away = logical_or(equal(x, 0.0), equal(sign(x), direction))
    step = where(logical_or(away, logical_not(halves)), ulp, multiply(ulp, 0.5))
    result = add(x, multiply(direction, step))
    result = where(isinf(x), copysign(info.max, x), result)
    result = where(logical_or(isnan(x), isnan(y)), np.nan, result)
    return where(equal(x, y), y, result)


def matvec(a: Any, v: Any) -> Any:
    """Stacked matrix-vector products: (..., m, n) with (..., n) -> (..., m)."""
    return squeeze(matmul(a, expand_dims(v, -1)), axis=-1)


def vecmat(v: Any, a: Any) -> Any:
    """Stacked vector-matrix products: (..., n) with (..., n, m) -> (..., m)."""
    return squeeze(matmul(expand_dims(v, -2), a), axis=-2)


IMPLEMENTS: dict[Callable[..., Any], Callable[..., Any]] = {
    np.frexp: frexp,
    np.ldexp: ldexp,
    np.modf: modf,
    np.divmod: divmod_,
    np.signbit: signbit,
    np.spacing: spacing,
    np.nextafter: nextafter,
}
if hasattr(np, "matvec"):  # NumPy >= 2.2
    IMPLEMENTS[np.matvec] = matvec
    IMPLEMENTS[np.vecmat] = vecmat
