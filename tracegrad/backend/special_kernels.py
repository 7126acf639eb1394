"""Scalar kernels of the special functions (core/special.py) that Numba's math module lacks:
polygamma, the normal distribution's log-CDF and quantile, erf's inverse, and modified Bessel
functions of the first kind. The generated code calls them through ``numba_support``.
"""

from __future__ import annotations

import math

from numba import njit

from .. import config

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


# --- incomplete beta ---
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
    inv2 = 1.0 / (z * z)
    series = 0.0
    power = 1.0
    for j in range(len(_BERNOULLI)):
        power *= inv2
        term = _BERNOULLI[j] / (2.0 * (j + 1)) * power
        series += term
        if abs(term) < 1e-17 * abs(series):
            break
    return -0.5 / z - series


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
    a, b, x = float(a), float(b), float(x)
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
    a, b, x = float(a), float(b), float(x)
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
