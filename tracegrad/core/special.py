"""Special-function primitives: log-gamma, gamma, the polygamma functions, erf and erfc,
erf's inverse, the normal distribution's log-CDF and quantile, the modified Bessel
functions of the first kind, and the regularized incomplete gamma and beta functions.

Declared like the elementwise primitives of ``primitives.py`` (shape rule, implementation,
VJP rule and code generation side by side), in their own module because they share one
thing the others do not: their reference implementation is SciPy's (``scipy.special``,
imported when a program first evaluates one of them, never by ``import tracegrad``).

The derivative of each is another special function: d lgamma = digamma = polygamma(0),
d polygamma(n) = polygamma(n + 1), so derivatives of every order stay in this family.
The inverses and log_ndtr have derivatives in closed form of their outputs.  Compiled code
calls libm (``math.lgamma``, ``math.gamma``, ``math.erf``, ``math.erfc``) and the kernels
of ``backend.numba_support`` (``polygamma``, ``log_ndtr``, ``ndtri``, ``erfinv``, ``bessel_i``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import DTypeError, UnsupportedNumpyFunction
from .ir import Aval
from .primitives import (
    Kind,
    Primitive,
    _binary_rule,
    add,
    broadcast_shapes,
    const,
    eq,
    exp,
    gt,
    log,
    log1p,
    logical_or,
    mul,
    ne,
    neg,
    select,
    sign,
    sub,
    unary,
    unbroadcast,
)
from .special_gammainc import gammainc_da_numpy


def _scipy_special() -> Any:
    import scipy.special

    return scipy.special


def _same_dtype(fn: str) -> Any:
    """``scipy.special.fn`` with the operand's dtype kept (SciPy's loops may widen it)."""

    def impl(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        with np.errstate(all="ignore"):
            return np.asarray(getattr(_scipy_special(), fn)(x), dtype=x.dtype)

    impl.__name__ = fn
    return impl


lgamma = unary(
    name="lgamma",
    impl=_same_dtype("gammaln"),
    vjp=lambda ct, out, x: (mul(ct, polygamma(x, n=0)),),
    # SciPy's gammaln(-inf) is -inf where libm's lgamma gives +inf.
    scalar="(math.lgamma({0}) if {0} != -math.inf else {0})",
)
gamma = unary(
    name="gamma",
    impl=_same_dtype("gamma"),
    vjp=lambda ct, out, x: (mul(ct, mul(out, polygamma(x, n=0))),),
    scalar="math.gamma({0})",
)

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _gaussian(x: Any, scale: float) -> Any:
    """scale * exp(-x^2): the derivative of erf (scale 2/sqrt(pi)) and erfc (its negative)."""
    return mul(const(scale, x), exp(neg(mul(x, x))))


erf = unary(
    name="erf",
    impl=_same_dtype("erf"),
    vjp=lambda ct, out, x: (mul(ct, _gaussian(x, _TWO_OVER_SQRT_PI)),),
    scalar="math.erf({0})",
)
# Its own primitive, not 1 - erf: erfc(x) for large x is far below erf's rounding error.
erfc = unary(
    name="erfc",
    impl=_same_dtype("erfc"),
    vjp=lambda ct, out, x: (mul(ct, _gaussian(x, -_TWO_OVER_SQRT_PI)),),
    scalar="math.erfc({0})",
)


def _polygamma_rule(x: Aval, *, n: int) -> Aval:
    if x.dtype.kind != "f":
        raise DTypeError(f"polygamma needs a float operand, got {x.dtype}")
    if not isinstance(n, int) or n < 0:
        raise DTypeError(f"polygamma's order must be a non-negative Python int, got {n!r}")
    return x


def _polygamma_impl(x: np.ndarray, *, n: int) -> np.ndarray:
    x = np.asarray(x)
    special = _scipy_special()
    with np.errstate(all="ignore"):
        value = special.digamma(x) if n == 0 else special.polygamma(n, x)
    return np.asarray(value, dtype=x.dtype)


# psi^(n), the n-th derivative of digamma (n = 0: digamma itself); n is static.
polygamma = Primitive(
    name="polygamma",
    kind=Kind.UNARY,
    shape_rule=_polygamma_rule,
    impl=_polygamma_impl,
    vjp=lambda ct, out, x, *, n: (mul(ct, polygamma(x, n=n + 1)),),
    scalar="_polygamma({n}, {0})",
)


_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)

# log Phi(x) of the standard normal: its derivative phi(x) / Phi(x) = exp(-x^2/2 - out) /
# sqrt(2 pi) reuses the output, so it stays finite far in the lower tail (about -x there).
log_ndtr = unary(
    name="log_ndtr",
    impl=_same_dtype("log_ndtr"),
    vjp=lambda ct, out, x: (
        mul(ct, exp(sub(neg(mul(const(0.5, x), mul(x, x))), add(out, const(_LOG_SQRT_2PI, x))))),
    ),
    scalar="_log_ndtr({0})",
)
# The normal quantile, Phi^-1: the derivative of an inverse is 1 / phi(out).
ndtri = unary(
    name="ndtri",
    impl=_same_dtype("ndtri"),
    vjp=lambda ct, out, x: (
        mul(ct, exp(add(mul(const(0.5, out), mul(out, out)), const(_LOG_SQRT_2PI, out)))),
    ),
    scalar="_ndtri({0})",
)
# erf^-1: the derivative is sqrt(pi) / 2 * exp(out^2).
erfinv = unary(
    name="erfinv",
    impl=_same_dtype("erfinv"),
    vjp=lambda ct, out, x: (mul(ct, mul(const(math.sqrt(math.pi) / 2, out), exp(mul(out, out)))),),
    scalar="_erfinv({0})",
)


def _bessel_i_rule(x: Aval, *, n: int, scaled: bool) -> Aval:
    if x.dtype.kind != "f":
        raise DTypeError(f"bessel_i needs a float operand, got {x.dtype}")
    if not isinstance(n, int) or n < 0:
        raise DTypeError(f"bessel_i's order must be a non-negative Python int, got {n!r}")
    return x


def _bessel_i_impl(x: np.ndarray, *, n: int, scaled: bool) -> np.ndarray:
    x = np.asarray(x)
    special = _scipy_special()
    with np.errstate(all="ignore"):
        if n <= 1:  # SciPy's own i0, i0e, i1, i1e
            value = getattr(special, f"i{n}" + ("e" if scaled else ""))(x)
        else:
            value = (special.ive if scaled else special.iv)(n, x)
            # SciPy's iv/ive give nan for subnormal x; the leading term of the series,
            # (x/2)^n / n!, is exact there (and underflows to a signed 0).
            tiny = np.abs(x) < 1e-150
            if np.any(tiny):
                value = np.where(tiny, (x / 2.0) ** n / math.factorial(n), value)
    return np.asarray(value, dtype=x.dtype)


def _bessel_i_vjp(ct: Any, out: Any, x: Any, *, n: int, scaled: bool) -> tuple:
    """I_n' = (I_(n-1) + I_(n+1)) / 2 with I_-1 = I_1; scaling by exp(-|x|) subtracts
    sign(x) times the output (0 at the kink of x = 0)."""
    below, above = bessel_i(x, n=abs(n - 1), scaled=scaled), bessel_i(x, n=n + 1, scaled=scaled)
    slope = mul(const(0.5, x), add(below, above))
    if scaled:
        slope = sub(slope, mul(sign(x), out))
    return (mul(ct, slope),)


# I_n, the modified Bessel function of the first kind of integer order n (static), or
# exp(-|x|) I_n with ``scaled``: scipy.special.i0, i0e, i1, i1e and np.i0.
bessel_i = Primitive(
    name="bessel_i",
    kind=Kind.UNARY,
    shape_rule=_bessel_i_rule,
    impl=_bessel_i_impl,
    vjp=_bessel_i_vjp,
    scalar="_bessel_i({n}, {scaled}, {0})",
)


# --- incomplete gamma ---
# The regularized incomplete gamma functions P(a, x) (scipy.special.gammainc) and
# Q(a, x) = 1 - P(a, x) (gammaincc), one primitive with ``upper`` choosing Q.  d/dx is the
# gamma density x^(a-1) e^-x / Gamma(a), composed of primitives, so x-derivatives of every
# order follow.  d/da has no closed form: its own primitive gammainc_da computes dP/da (the
# kernel carries the derivative through the series and the continued fraction); its own
# derivative in a is not implemented, which first_derivative_only reports when asked.


def _gammainc_rule(a: Aval, x: Aval, **params: Any) -> Aval:
    if a.dtype.kind != "f" or x.dtype.kind != "f":
        raise DTypeError(f"the incomplete gamma function needs float operands, got {a}, {x}")
    return _binary_rule("gammainc")(a, x)


def _gammainc_impl(a: np.ndarray, x: np.ndarray, *, upper: bool) -> np.ndarray:
    a, x = np.asarray(a), np.asarray(x)
    with np.errstate(all="ignore"):
        value = getattr(_scipy_special(), "gammaincc" if upper else "gammainc")(a, x)
    return np.asarray(value, dtype=np.result_type(a, x))


def _gamma_density(a: Any, x: Any, log_slope: bool = False) -> Any:
    """dP/dx = x^(a-1) e^-x / Gamma(a), as exp((a - 1) log x - x - lgamma(a)); (a - 1) log x
    is 0 at a = 1 (also where x = 0).  With ``log_slope``, times d/da of its log,
    log x - digamma(a).  0 where a or x is inf (P is constant there): computed at 1 instead,
    so that no inf - inf reaches the value or its derivatives."""
    one = const(1.0, a)
    constant = eq(add(a, x), const(np.inf, a))  # a, x >= 0 wherever P is defined
    a, x = select(constant, one, a), select(constant, one, x)
    power = select(eq(a, one), const(0.0, a), mul(sub(a, one), log(x)))
    density = exp(sub(sub(power, x), lgamma(a)))
    if log_slope:
        density = mul(density, sub(log(x), polygamma(a, n=0)))
    return select(constant, const(0.0, a), density)


def _gammainc_vjp(ct: Any, out: Any, a: Any, x: Any, *, upper: bool) -> tuple:
    da = gammainc_da(first_derivative_only(a, what=_SECOND_A_DERIVATIVE), x)
    dx = _gamma_density(a, x)
    if upper:
        da, dx = neg(da), neg(dx)
    return unbroadcast(mul(ct, da), a.shape), unbroadcast(mul(ct, dx), x.shape)


gammainc = Primitive(
    name="gammainc",
    kind=Kind.BINARY,
    shape_rule=_gammainc_rule,
    impl=_gammainc_impl,
    vjp=_gammainc_vjp,
    scalar="_gammainc({upper}, {0}, {1})",
)


def _gammainc_da_impl(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """dP/da from SciPy's P or Q times the log-derivatives of the series or the continued
    fraction in a (gammainc_da_numpy)."""
    a, x = np.asarray(a), np.asarray(x)
    return np.asarray(gammainc_da_numpy(a, x, _scipy_special()), dtype=np.result_type(a, x))


def _gammainc_da_vjp(ct: Any, out: Any, a: Any, x: Any) -> tuple:
    """d/dx dP/da = d/da of the density = density (log x - digamma(a)); d/da is not
    implemented (``a`` arrives through first_derivative_only, which says so)."""
    dx = _gamma_density(a, x, log_slope=True)
    return unbroadcast(ct, a.shape), unbroadcast(mul(ct, dx), x.shape)


gammainc_da = Primitive(
    name="gammainc_da",
    kind=Kind.BINARY,
    shape_rule=_gammainc_rule,
    impl=_gammainc_da_impl,
    vjp=_gammainc_da_vjp,
    scalar="_gammainc_da({0}, {1})",
)

_SECOND_A_DERIVATIVE = (
    "the second derivative of scipy.special.gammainc / gammaincc in their first argument a "
    "is not implemented (the first is, and derivatives of every order in x); differentiate "
    "in a only once, e.g. hold a fixed in the outer gradient"
)


def _first_derivative_only_vjp(ct: Any, out: Any, x: Any, *, what: str) -> tuple:
    raise UnsupportedNumpyFunction(what)


# The identity, marking an operand of a gradient whose own derivative is missing: its VJP
# rule, reached only when that derivative is asked for, raises an error saying ``what``.
first_derivative_only = Primitive(
    name="first_derivative_only",
    kind=Kind.GRADIENT_MARKER,
    shape_rule=lambda x, *, what: x,
    impl=lambda x, *, what: x,
    vjp=_first_derivative_only_vjp,
)


# --- incomplete beta ---


def _betainc_rule(a: Aval, b: Aval, x: Aval, **params: Any) -> Aval:
    if len({a.dtype, b.dtype, x.dtype}) != 1 or a.dtype.kind != "f":
        raise DTypeError(
            f"betainc needs float operands of one dtype, got {a.dtype}, {b.dtype}, {x.dtype}"
        )
    return Aval(broadcast_shapes(a.shape, b.shape, x.shape), a.dtype)


def _betainc_impl(a: np.ndarray, b: np.ndarray, x: np.ndarray, *, complement: bool) -> Any:
    """SciPy's own loop (in float32 it loses digits: ~4e-6; the compiled kernel computes in
    float64 and rounds)."""
    dtype = np.asarray(x).dtype
    with np.errstate(all="ignore"):
        value = getattr(_scipy_special(), "betaincc" if complement else "betainc")(a, b, x)
    return np.asarray(value, dtype=dtype)


def _betainc_grad_impl(a: np.ndarray, b: np.ndarray, x: np.ndarray, *, argnum: int) -> Any:
    """SciPy has no derivatives in a and b: the compiled kernel's, element by element."""
    from ..backend.incomplete_beta import betainc_grad as kernel

    dtype = np.asarray(x).dtype
    value = np.vectorize(lambda *abx: kernel(argnum, *abx), otypes=[np.float64])(a, b, x)
    return np.asarray(value, dtype=dtype)


def _log_of_positive(x: Any, keep: Any) -> Any:
    """log x where ``keep`` holds, log 1 = 0 elsewhere (so that 0 * log 0 is 0, as xlogy)."""
    return log(select(keep, x, const(1, x)))


def _beta_density(a: Any, b: Any, x: Any) -> Any:
    """x^(a-1) (1-x)^(b-1) / B(a, b), the derivative of I_x(a, b) in x, in log space;
    (a - 1) log x is 0 at a = 1 also where x = 0 (and (b - 1) log(1 - x) at b = 1, x = 1)."""
    one = const(1, x)
    a1, b1, y = sub(a, one), sub(b, one), sub(one, x)
    log_x = _log_of_positive(x, logical_or(ne(a1, const(0, a1)), gt(x, const(0, x))))
    log_y = log1p(neg(select(logical_or(ne(b1, const(0, b1)), gt(y, const(0, y))), x, const(0, x))))
    log_beta = sub(add(lgamma(a), lgamma(b)), lgamma(add(a, b)))
    return exp(sub(add(mul(a1, log_x), mul(b1, log_y)), log_beta))


def _second_derivative_message(name: str) -> str:
    return (
        f"the second derivative of scipy.special.betainc / betaincc in {name} is not "
        "implemented (the first is, and derivatives of every order in x); differentiate in "
        f"{name} only once, e.g. hold {name} fixed in the outer gradient"
    )


def _betainc_vjp(ct: Any, out: Any, a: Any, b: Any, x: Any, *, complement: bool) -> tuple:
    if complement:
        ct = neg(ct)
    marked_a = first_derivative_only(a, what=_second_derivative_message("a"))
    marked_b = first_derivative_only(b, what=_second_derivative_message("b"))
    return (
        unbroadcast(mul(ct, betainc_grad(marked_a, marked_b, x, argnum=0)), a.shape),
        unbroadcast(mul(ct, betainc_grad(marked_a, marked_b, x, argnum=1)), b.shape),
        unbroadcast(mul(ct, _beta_density(a, b, x)), x.shape),
    )


def _betainc_grad_vjp(ct: Any, out: Any, a: Any, b: Any, x: Any, *, argnum: int) -> tuple:
    """d/dx of dI/da is the density times d/da of its log, log x - digamma(a) +
    digamma(a + b) (for b: log(1 - x) - digamma(b) + digamma(a + b)).  a and b arrive
    through first_derivative_only, whose rule raises where their derivative is asked for."""
    own = (a, b)[argnum]
    log_side = log(x) if argnum == 0 else log1p(neg(x))
    slope = add(sub(log_side, polygamma(own, n=0)), polygamma(add(a, b), n=0))
    return (
        unbroadcast(ct, a.shape),
        unbroadcast(ct, b.shape),
        unbroadcast(mul(ct, mul(_beta_density(a, b, x), slope)), x.shape),
    )


# I_x(a, b), the regularized incomplete beta function (scipy.special.betainc), or with
# ``complement`` 1 - I_x(a, b) (betaincc), computed on its own where it is small.
betainc = Primitive(
    name="betainc",
    kind=Kind.BINARY,  # elementwise with broadcasting, three operands
    shape_rule=_betainc_rule,
    impl=_betainc_impl,
    vjp=_betainc_vjp,
    scalar="_betainc({complement}, {0}, {1}, {2})",
)
# dI_x(a, b) / da (argnum 0) or / db (argnum 1), exact to rounding: the kernel carries the
# derivative through the continued fraction's recurrence (forward-mode dual numbers).
betainc_grad = Primitive(
    name="betainc_grad",
    kind=Kind.BINARY,
    shape_rule=_betainc_rule,
    impl=_betainc_grad_impl,
    vjp=_betainc_grad_vjp,
    scalar="_betainc_grad({argnum}, {0}, {1}, {2})",
)
