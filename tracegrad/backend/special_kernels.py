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
def digamma_series(x: float) -> float:
    """sum_j B_2j / (2j) x^(-2j), the series of digamma(x) ~ log x - 1 / (2x) - series,
    summed to rounding (x of 10 or more)."""
    inv2 = 1.0 / (x * x)
    series = 0.0
    power = 1.0
    for j in range(len(_BERNOULLI)):
        power *= inv2
        term = _BERNOULLI[j] / (2.0 * (j + 1)) * power
        series += term
        if abs(term) < 1e-17 * abs(series):
            break
    return series


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
    if n == 0:
        return math.log(x) - 0.5 / x - digamma_series(x) - shifted
    inv2 = 1.0 / (x * x)
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


# --- incomplete gamma ---
# The regularized incomplete gamma functions P(a, x) = gamma(a, x) / Gamma(a) and
# Q(a, x) = 1 - P(a, x), and dP/da (core/special.py).  P from its power series below
# x = a + 1, Q from its continued fraction above; each carries its derivative in a along
# (forward-mode dual numbers), so dP/da is exact to rounding.  Both share the prefactor
# x^a e^-x / Gamma(a + 1), whose logarithm for large a is written as a log1p(t) - a t + ...
# (t = x / a - 1) so that its rounding error stays small near x = a, where
# a log x - x - lgamma(a + 1) would cancel a few thousand down to a few units.
_EULER_GAMMA = 0.5772156649015329
_GAMMAINC_MAX_TERMS = 100_000  # the series and the fraction take O(sqrt(a)) steps
_TINY = 1e-300


def _zeta_values(count: int) -> tuple:
    """zeta(2), ..., zeta(count + 1): ten terms of the sum, then the Euler-Maclaurin tail."""
    values = []
    for s in range(2, count + 2):
        n = 10
        total = math.fsum(k**-s for k in range(1, n)) + n ** (1 - s) / (s - 1) + 0.5 * n**-s
        coefficient, factorial, power = float(s), 2.0, float(n) ** (-s - 1)
        for j in range(8):
            total += _BERNOULLI[j] * coefficient / factorial * power
            coefficient *= (s + 2 * j + 1) * (s + 2 * j + 2)
            factorial *= (2 * j + 3) * (2 * j + 4)
            power /= n * n
        values.append(total)
    return tuple(values)


_ZETA = _zeta_values(60)  # _ZETA[k - 2] = zeta(k)


@njit(error_model="numpy", cache=config.read().disk_cache)
def _as_float64(value: float) -> float:
    """``value`` as float64 for float32 operands too (Numba's float() keeps float32, whose
    rounding the sums and the exponent would not survive)."""
    return value * 1.0


@njit(error_model="numpy", cache=config.read().disk_cache)
def _lgamma1p(a: float) -> float:
    """lgamma(1 + a) for a >= 0, accurate relative to its value near a = 0 (Taylor series
    -gamma a + sum_k (-1)^k zeta(k) a^k / k below 1/2, where 1 + a would round a away)."""
    if a >= 0.5:
        return math.lgamma(1.0 + a)
    total = -_EULER_GAMMA * a
    power = -a  # (-a)^(k - 1)
    for k in range(2, len(_ZETA) + 2):
        power *= -a
        term = _ZETA[k - 2] * power / k
        total += term
        if abs(term) <= 1e-17 * abs(total):
            break
    return total


@njit(error_model="numpy", cache=config.read().disk_cache)
def _log1pmx(t: float) -> float:
    """log(1 + t) - t for |t| <= 1/2, as 2 atanh(z) - t with z = t / (2 + t), whose series
    in z^2 <= 1/9 has no cancellation."""
    z = t / (2.0 + t)
    z2 = z * z
    power = z * z2
    total = 0.0
    k = 3.0
    while True:
        term = power / k
        total += term
        if abs(term) <= 1e-17 * abs(total):
            break
        power *= z2
        k += 2.0
    return 2.0 * total - t * t / (2.0 + t)


@njit(error_model="numpy", cache=config.read().disk_cache)
def _gammainc_log_prefactor(a: float, x: float) -> float:
    """log(x^a e^-x / Gamma(a + 1)) for x > 0.  From a = 10 on, Stirling's series with its
    leading terms cancelled by hand: a (log(1 + t) - t) - log(a) / 2 - log(2 pi) / 2 -
    sum_j B_2j / (2j (2j - 1) a^(2j - 1)), t = (x - a) / a."""
    if a < 10.0:
        return a * math.log(x) - x - _lgamma1p(a)
    tail = 0.0
    power = 1.0 / a
    inv2 = power * power
    for j in range(8):
        tail += _BERNOULLI[j] / ((2 * j + 2) * (2 * j + 1)) * power
        power *= inv2
    t = (x - a) / a
    # Far from a, log(x / a) directly: 1 + t would round away the digits of a small x / a.
    shape = _log1pmx(t) if abs(t) <= 0.5 else math.log(x / a) - t
    return a * shape - 0.5 * math.log(a) - _LOG_SQRT_2PI - tail


@njit(error_model="numpy", cache=config.read().disk_cache)
def _gammainc_series(a: float, x: float, slope: bool) -> tuple:
    """S = sum_n x^n / ((a + 1) ... (a + n)), P = prefactor * S, and with ``slope``
    d log S / da (each term's derivative from the previous one's, as a dual number)."""
    term, dterm = 1.0, 0.0
    total, dtotal = 1.0, 0.0
    n = 0.0
    for _ in range(_GAMMAINC_MAX_TERMS):
        n += 1.0
        inverse = 1.0 / (a + n)
        ratio = x * inverse
        if slope:
            dterm = (dterm - term * inverse) * ratio
            dtotal += dterm
        term *= ratio
        total += term
        if term <= 1e-17 * total and (not slope or abs(dterm) <= 1e-17 * abs(dtotal)):
            break
    return total, dtotal / total


@njit(error_model="numpy", cache=config.read().disk_cache)
def _gammainc_fraction(a: float, x: float, slope: bool) -> tuple:
    """g = x + 1 - a - 1 (1 - a) / (x + 3 - a - 2 (2 - a) / (x + 5 - a - ...)), Q =
    a prefactor / g, by the modified Lentz method, and with ``slope`` d log g / da carried
    alongside: the n-th numerator -n (n - a) has derivative n, every denominator -1."""
    b = x + 1.0 - a  # at least 2: the fraction is used for x >= a + 1
    g, dlog_g = b, -1.0 / b
    c, dc = b, -1.0
    d, dd = 0.0, 0.0
    for n in range(1, _GAMMAINC_MAX_TERMS):
        numerator = -n * (n - a)
        b += 2.0
        d_next = b + numerator * d
        if d_next == 0.0:
            d_next = _TINY
        c_next = b + numerator / c
        if c_next == 0.0:
            c_next = _TINY
        dlog_delta = 0.0
        if slope:
            dd = -(-1.0 + n * d + numerator * dd) / (d_next * d_next)
            dc = -1.0 + n / c - numerator * dc / (c * c)
            dlog_delta = dc / c_next + dd * d_next
            dlog_g += dlog_delta
        d = 1.0 / d_next
        c = c_next
        delta = c * d
        g *= delta
        converged = abs(delta - 1.0) <= 3e-16
        if converged and (not slope or abs(dlog_delta) <= 1e-17 * (abs(dlog_g) + 1.0 / x)):
            break
    return g, dlog_g


@njit(error_model="numpy", cache=config.read().disk_cache)
def _gammaincc_small(a: float, x: float) -> float:
    """Q for a < 1/2 and x < a + 1, where 1 - P would lose the relative accuracy of a small
    Q: Q = -expm1(u) - a e^u sum_(n >= 1) (-x)^n / (n! (a + n)), u = a log x - lgamma(1 + a)."""
    u = a * math.log(x) - _lgamma1p(a)
    term, total = 1.0, 0.0
    for n in range(1, _GAMMAINC_MAX_TERMS):
        term *= -x / n
        part = term / (a + n)
        total += part
        if abs(part) <= 1e-17 * abs(total):
            break
    return -math.expm1(u) - a * math.exp(u) * total


@njit(error_model="numpy", cache=config.read().disk_cache)
def _gammainc_edge(a: float, x: float) -> float:
    """P where a or x is 0 or inf (both >= 0), as SciPy: nan for (0, 0) and (inf, inf)."""
    if a == 0.0:
        return math.nan if x == 0.0 else 1.0
    if x == 0.0:
        return 0.0
    if a == math.inf:
        return math.nan if x == math.inf else 0.0
    return 1.0


@njit(error_model="numpy", cache=config.read().disk_cache)
def gammainc(upper: bool, a: float, x: float) -> float:
    """P(a, x), or Q(a, x) when ``upper``; nan for a < 0, x < 0 or nan."""
    a, x = _as_float64(a), _as_float64(x)
    if not (a >= 0.0 and x >= 0.0):
        return math.nan
    if a == 0.0 or x == 0.0 or a == math.inf or x == math.inf:
        p = _gammainc_edge(a, x)
        return 1.0 - p if upper else p
    if x < a + 1.0:
        if upper and a < 0.5:
            return _gammaincc_small(a, x)
        p = math.exp(_gammainc_log_prefactor(a, x)) * _gammainc_series(a, x, False)[0]
        return 1.0 - p if upper else p
    q = a * math.exp(_gammainc_log_prefactor(a, x)) / _gammainc_fraction(a, x, False)[0]
    return q if upper else 1.0 - q


@njit(error_model="numpy", cache=config.read().disk_cache)
def gammainc_da(a: float, x: float) -> float:
    """dP(a, x)/da (dQ/da is its negative).  With F the prefactor, d log F / da =
    log x - digamma(a + 1); below x = a + 1, dP/da = P (d log F/da + d log S/da); above,
    Q = a F / g gives dQ/da = F / g (1 + a (d log F/da - d log g/da)), finite at a = 0."""
    a, x = _as_float64(a), _as_float64(x)
    if not (a >= 0.0 and x >= 0.0):
        return math.nan
    if x == 0.0 or a == math.inf or x == math.inf:
        return _gammainc_edge(a, x) * 0.0  # P is constant there; nan where it is
    log_prefactor = _gammainc_log_prefactor(a, x)
    dlog_prefactor = math.log(x) - polygamma(0, a + 1.0)
    if x < a + 1.0:
        total, dlog_total = _gammainc_series(a, x, True)
        return math.exp(log_prefactor) * total * (dlog_prefactor + dlog_total)
    g, dlog_g = _gammainc_fraction(a, x, True)
    return -math.exp(log_prefactor) / g * (1.0 + a * (dlog_prefactor - dlog_g))
