"""Scalar kernels of the regularized incomplete beta function I_x(a, b) and of its
derivatives in a and b (primitives betainc and betainc_grad of core/special.py), in their
own module beside special_kernels.py, whose digamma kernel they use.  The generated code
calls them through ``numba_support``.
"""

from __future__ import annotations

import math

from numba import njit

from .. import config
from .special_kernels import _polygamma_positive, digamma_series

# The regularized incomplete beta function I_x(a, b) and its derivatives in a and b
# (core/special.py).  The continued fraction of I_x(a, b) (Abramowitz and Stegun 26.5.8),
# evaluated by the modified Lentz method, converges fast for x below the mean (a + 1) /
# (a + b + 2); above it, I_x(a, b) = 1 - I_(1-x)(b, a).  The derivatives ride along as dual
# numbers: every step of the recurrence also carries its derivative in one parameter.  The
# prefactor x^a (1-x)^b / B(a, b) is taken in log space, for large a and b around the mean
# with Stirling's series (no cancelling lgamma values); where the answer is 1 minus a value
# near 1, a power series (small first parameter) gives it directly.
_LENTZ_TINY = 1e-300
_LENTZ_STEPS = 3000
_FALLBACK_STEPS = 100
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


@njit(error_model="numpy", cache=config.read().disk_cache)
def _stirling_error(z: float) -> float:
    """lgamma(z) - ((z - 1/2) log z - z + log(2 pi) / 2) for z >= 10 (its asymptotic series),
    so that differences of lgamma at large arguments cancel nothing."""
    inv = 1.0 / z
    inv2 = inv * inv
    series = 1 / 12 - inv2 * (1 / 360 - inv2 * (1 / 1260 - inv2 * (1 / 1680 - inv2 / 1188)))
    return inv * series


@njit(error_model="numpy", cache=config.read().disk_cache)
def _log1pmx(t: float) -> float:
    """log(1 + t) - t, by its series where the difference cancels."""
    if abs(t) > 0.25:
        return math.log1p(t) - t
    term = t
    total = 0.0
    for k in range(2, 60):
        term *= -t
        total += term / k
        if abs(term) < 1e-17 * abs(total):
            break
    return total


@njit(error_model="numpy", cache=config.read().disk_cache)
def _log_beta(p: float, q: float) -> float:
    """log B(p, q) for p, q > 0: by gamma where it is small, else with the Stirling error
    terms, which keep lgamma(q) - lgamma(p + q) from cancelling for large q."""
    small, large = min(p, q), max(p, q)
    if large < 10.0:
        return math.log(math.gamma(small) * math.gamma(large) / math.gamma(small + large))
    total = small + large
    corrections = _stirling_error(large) - _stirling_error(total)
    if small < 10.0:
        # lgamma(large) - lgamma(total), written without the large terms
        differences = -(large - 0.5) * math.log1p(small / large) - small * math.log(total) + small
        return math.lgamma(small) + differences + corrections
    corrections += _stirling_error(small)
    return (
        (small - 0.5) * math.log(small / total)
        + (large - 0.5) * math.log1p(-small / total)
        - 0.5 * math.log(total)
        + _HALF_LOG_2PI
        + corrections
    )


@njit(error_model="numpy", cache=config.read().disk_cache)
def _log_ratios(p: float, q: float, log_x: float, log_y: float, e: float) -> tuple:
    """(log(x / x0), log(y / y0)) around the mean x0 = p / (p + q), y0 = 1 - x0, from
    e = x - x0 where that keeps them accurate; the second result says whether it did."""
    total = p + q
    x0, y0 = p / total, q / total
    if abs(e) < 0.5 * x0 and abs(e) < 0.5 * y0:
        return e / x0, -e / y0, True
    # log x0 = -log1p(q / p), log y0 = -log1p(p / q): exact where x0 or y0 is near 1
    return log_x + math.log1p(q / p), log_y + math.log1p(p / q), False


@njit(error_model="numpy", cache=config.read().disk_cache)
def _log_front(p: float, q: float, log_x: float, log_y: float, e: float) -> float:
    """log(x^p y^q / B(p, q)) from log x, log y and e = x - p / (p + q).  For large p and
    q the terms p log(x / x0) and q log(y / y0) cancel to first order around the mean: the
    first-order parts are dropped analytically, leaving p log1pmx(e / x0) + q log1pmx(-e /
    y0), and log B by Stirling's series with its error terms."""
    if min(p, q) < 10.0:
        return p * log_x + q * log_y - _log_beta(p, q)
    total = p + q
    t_x, t_y, near = _log_ratios(p, q, log_x, log_y, e)
    if near:
        exponent = p * _log1pmx(t_x) + q * _log1pmx(t_y)
    else:
        exponent = p * t_x + q * t_y
    corrections = _stirling_error(p) + _stirling_error(q) - _stirling_error(total)
    return exponent + 0.5 * math.log(p * q / total) - _HALF_LOG_2PI - corrections


@njit(error_model="numpy", cache=config.read().disk_cache)
def _digamma_minus_log(z: float) -> float:
    """digamma(z) - log(z), by the asymptotic series from z = 10 on (no cancellation)."""
    if z < 10.0:
        return _polygamma_positive(0, z) - math.log(z)
    return -0.5 / z - digamma_series(z)


@njit(error_model="numpy", cache=config.read().disk_cache)
def _log_front_slope(p: float, q: float, log_x: float, log_y: float, e: float, dp: float) -> float:
    """The derivative of log(x^p y^q / (p B(p, q))) in p (dp = 1) or in q (dp = 0):
    log x - digamma(p) + digamma(p + q) - 1/p, or log y - digamma(q) + digamma(p + q),
    each written as differences from the logarithms at the mean (no cancellation)."""
    total = p + q
    t_x, t_y, near = _log_ratios(p, q, log_x, log_y, e)
    if near:
        t_x, t_y = math.log1p(t_x), math.log1p(t_y)
    shared = _digamma_minus_log(total)
    if dp:
        return t_x - _digamma_minus_log(p) + shared - 1.0 / p
    return t_y - _digamma_minus_log(q) + shared


@njit(error_model="numpy", cache=config.read().disk_cache)
def _continued_fraction(p: float, q: float, x: float) -> tuple:
    """1 / (1 + d1 / (1 + d2 / (1 + ...))), the continued fraction of I_x(p, q) divided by
    x^p y^q / (p B(p, q)), by the modified Lentz method; and the number of steps it took."""
    f, c, d = 1.0, 1.0, 0.0
    for n in range(1, _LENTZ_STEPS):
        m = n // 2
        if n % 2:
            coefficient = -(p + m) * (p + q + m) * x / ((p + 2 * m) * (p + 2 * m + 1))
        else:
            coefficient = m * (q - m) * x / ((p + 2 * m - 1) * (p + 2 * m))
        d = 1.0 + coefficient * d
        d = 1.0 / (d if abs(d) > _LENTZ_TINY else _LENTZ_TINY)
        c = 1.0 + coefficient / c
        c = c if abs(c) > _LENTZ_TINY else _LENTZ_TINY
        step = c * d
        f *= step
        if abs(step - 1.0) <= 2.3e-16:
            return 1.0 / f, n
    return 1.0 / f, _LENTZ_STEPS


@njit(error_model="numpy", cache=config.read().disk_cache)
def _continued_fraction_slope(p: float, q: float, x: float, dp: float, dq: float) -> tuple:
    """The continued fraction and its derivative along (dp, dq): every quantity of the
    Lentz recurrence carries its derivative (forward-mode dual numbers)."""
    f, c, d = 1.0, 1.0, 0.0
    df, dc, dd = 0.0, 0.0, 0.0
    for n in range(1, _LENTZ_STEPS):
        m = n // 2
        if n % 2:
            top = -(p + m) * (p + q + m) * x
            dtop = -((p + q + m) * dp + (p + m) * (dp + dq)) * x
            bottom = (p + 2 * m) * (p + 2 * m + 1)
            dbottom = (2.0 * p + 4 * m + 1) * dp
        else:
            top = m * (q - m) * x
            dtop = m * dq * x
            bottom = (p + 2 * m - 1) * (p + 2 * m)
            dbottom = (2.0 * p + 4 * m - 1) * dp
        coefficient = top / bottom
        dcoefficient = (dtop - coefficient * dbottom) / bottom
        dd = dcoefficient * d + coefficient * dd
        d = 1.0 + coefficient * d
        if abs(d) < _LENTZ_TINY:
            d, dd = _LENTZ_TINY, 0.0
        d = 1.0 / d
        dd = -dd * d * d
        dc = dcoefficient / c - coefficient * dc / (c * c)
        c = 1.0 + coefficient / c
        if abs(c) < _LENTZ_TINY:
            c, dc = _LENTZ_TINY, 0.0
        step = c * d
        dstep = dc * d + c * dd
        df = df * step + f * dstep
        f *= step
        if abs(step - 1.0) <= 2.3e-16 and abs(dstep) <= 1e-16 * abs(df / f):
            break
    return 1.0 / f, -df / (f * f)


@njit(error_model="numpy", cache=config.read().disk_cache)
def _betainc_edge(a: float, b: float, x: float) -> float:
    """I_x(a, b) where the continued fraction is not needed: nan for invalid arguments (as
    SciPy), 0 or 1 at the ends of [0, 1] and for the limits a or b = 0 or inf; else -1."""
    if not (a >= 0.0 and b >= 0.0 and 0.0 <= x <= 1.0):
        return math.nan
    if (a == 0.0 and b == 0.0) or (a == math.inf and b == math.inf):
        return math.nan
    if x == 0.0:
        return 0.0
    if x == 1.0:
        return 1.0
    if a == 0.0 or b == math.inf:
        return 1.0
    if b == 0.0 or a == math.inf:
        return 0.0
    return -1.0


@njit(error_model="numpy", cache=config.read().disk_cache)
def _betainc_frame(a: float, b: float, x: float, swap: bool) -> tuple:
    """(p, q, x', log x', log y', e): the continued fraction's problem I_x'(p, q), which is
    I_x(a, b) or (``swap``) 1 - I_x(a, b) = I_(1-x)(b, a)."""
    e = (x * (a + b) - a) / (a + b)
    log_x, log_y = math.log(x), math.log1p(-x)
    if swap:
        return b, a, 1.0 - x, log_y, log_x, -e
    return a, b, x, log_x, log_y, e


@njit(error_model="numpy", cache=config.read().disk_cache)
def _betainc_part(a: float, b: float, x: float, swap: bool) -> tuple:
    """I_x(a, b), or 1 - I_x(a, b) with ``swap``, from the continued fraction; and the
    number of steps it took."""
    p, q, xs, log_x, log_y, e = _betainc_frame(a, b, x, swap)
    fraction, steps = _continued_fraction(p, q, xs)
    return math.exp(_log_front(p, q, log_x, log_y, e)) / p * fraction, steps


@njit(error_model="numpy", cache=config.read().disk_cache)
def _log_gamma_step(s: float, p: float) -> float:
    """lgamma(s + p) - lgamma(s) for s > 0 and p >= 0, accurate relative to its size (~p
    log s) however small p is: s is moved up to 10 or more by the recurrence, each step a
    log1p(p / (s + i)), and there the difference of Stirling's series is written out."""
    shifted = 0.0
    while s < 10.0:
        shifted += math.log1p(p / s)
        s += 1.0
    top = s + p
    stirling = (s - 0.5) * math.log1p(p / s) + p * math.log(top) - p
    return stirling + _stirling_error(top) - _stirling_error(s) - shifted


@njit(error_model="numpy", cache=config.read().disk_cache)
def _log_p_beta(p: float, q: float) -> float:
    """log(p B(p, q)) = log(Gamma(1 + p) Gamma(q) / Gamma(p + q)): of the size of p for
    small p, where log B(p, q) + log p would cancel."""
    return _log_gamma_step(1.0, p) - _log_gamma_step(q, p)


@njit(error_model="numpy", cache=config.read().disk_cache)
def _small_p_complement(p: float, q: float, x: float, log_x: float) -> float:
    """1 - I_x(p, q) for p <= 1 and q x <= 1, from the power series I_x(p, q) = F (1 + p S)
    with F = x^p / (p B(p, q)) and S = sum_j (1 - q)_j x^j / (j! (p + j)): as -expm1(log F)
    - F p S, never forming I_x(p, q), which is near 1 there."""
    log_front = p * log_x - _log_p_beta(p, q)
    term, total = 1.0, 0.0
    for j in range(1, 200):
        term *= (j - q) * x / j
        piece = term / (p + j)
        total += piece
        if abs(piece) <= 1e-17 * abs(total):
            break
    return -math.expm1(log_front) - math.exp(log_front) * p * total


@njit(error_model="numpy", cache=config.read().disk_cache)
def betainc(complement: bool, a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularized incomplete beta function (1 - I_x(a, b) with
    ``complement``), as scipy.special.betainc and betaincc.  The fraction converges fastest
    on the side of the mean that x is on; when that side's value is near 1 and the answer is
    1 minus it (cancellation), a power series gives it directly for small p (the first
    parameter of the fraction's problem), or else the other side's fraction if it converges
    fast."""
    a, b, x = a * 1.0, b * 1.0, x * 1.0  # float64 also for float32 operands
    edge = _betainc_edge(a, b, x)
    if edge != -1.0:
        return 1.0 - edge if complement and edge == edge else edge
    swap = x > (a + 1.0) / (a + b + 2.0)
    value, _ = _betainc_part(a, b, x, swap)
    if swap == complement:
        return value
    if value > 0.9:
        p, q, xs, log_x, _, _ = _betainc_frame(a, b, x, swap)
        if p <= 1.0 and q * xs <= 1.0:
            return _small_p_complement(p, q, xs, log_x)
        direct, steps = _betainc_part(a, b, x, not swap)
        if steps < _FALLBACK_STEPS:
            return direct
    return 1.0 - value


@njit(error_model="numpy", cache=config.read().disk_cache)
def betainc_grad(argnum: int, a: float, b: float, x: float) -> float:
    """dI_x(a, b) / da (argnum 0) or / db (argnum 1): the continued fraction's derivative
    from dual numbers, and the prefactor's in closed form."""
    a, b, x = a * 1.0, b * 1.0, x * 1.0  # float64 also for float32 operands
    edge = _betainc_edge(a, b, x)
    if edge != -1.0:
        return edge if edge != edge else 0.0
    swapped = x > (a + 1.0) / (a + b + 2.0)
    p, q, xs, log_x, log_y, e = _betainc_frame(a, b, x, swapped)
    in_p = (argnum == 0) != swapped  # the parameter's place in I_x'(p, q)
    dp = 1.0 if in_p else 0.0
    fraction, dfraction = _continued_fraction_slope(p, q, xs, dp, 1.0 - dp)
    front = math.exp(_log_front(p, q, log_x, log_y, e)) / p
    slope = front * (fraction * _log_front_slope(p, q, log_x, log_y, e, dp) + dfraction)
    return -slope if swapped else slope
