"""``scipy.special`` on traced values: the functions losses use most.

SciPy's ufuncs (``expit``, ``logit``, ``xlogy``, ...) reach ``__array_ufunc__`` like NumPy's;
they are recognised by identity with the ``scipy.special`` attribute of the same name.  Its
Python functions (``logsumexp``, ``softmax``, ``log_softmax``) run SciPy's own array-API
code, which cannot take Tracers, so while a trace runs the names on ``scipy.special`` are
swapped for ours (see ``constructors``).  tracegrad never imports SciPy itself: all of this
applies once the user's code has.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core import special as S
from ..core.tracing import Tracer
from ..errors import UnsupportedNumpyFunction, library_function
from .elementwise import (
    DERIVED,
    absolute,
    add,
    divide,
    equal,
    exp,
    floor,
    greater,
    greater_equal,
    isfinite,
    isnan,
    less,
    less_equal,
    log,
    log1p,
    logaddexp,
    logical_and,
    logical_or,
    logistic,
    multiply,
    negative,
    not_equal,
    sign,
    stop_gradient,
    subtract,
    where,
)
from .promotion import cast, dtype_of, promote, shape_of, traced_replacement
from .reductions import amax, sum
from .shapes import broadcast_to


def _special() -> Any:
    return sys.modules.get("scipy.special")


def logit(p: Any) -> Any:
    return subtract(log(p), log1p(-p))


def xlogy(x: Any, y: Any) -> Any:
    """x * log(y), and 0 where x == 0 unless y is nan (as SciPy).  The gradient is that of
    x log y: log y for x, also at x = 0 (where y > 0), and x / y for y."""
    x, y = promote(x, y, float_only=True)
    # At x == 0, log(y) becomes log(1) unless y is positive and finite: never 0 * inf.
    keep = logical_or(not_equal(x, 0.0), logical_and(greater(y, 0.0), isfinite(y)))
    return where(isnan(y), y, multiply(x, log(where(keep, y, 1.0))))


def xlog1py(x: Any, y: Any) -> Any:
    """x * log1p(y), as ``xlogy`` with y + 1 in place of y."""
    x, y = promote(x, y, float_only=True)
    keep = logical_or(not_equal(x, 0.0), logical_and(greater(y, -1.0), isfinite(y)))
    return where(isnan(y), y, multiply(x, log1p(where(keep, y, 0.0))))


def _nan_where_any_nan(value: Any, *args: Any) -> Any:
    """SciPy's nan for a nan argument, where the branches below would pick a finite one."""
    total = args[0] if len(args) == 1 else add(*args)
    return where(isnan(total), total, value)


def entr(x: Any) -> Any:
    """-x log x; 0 at x = 0 (gradient 0 there, as xlogy), -inf for x < 0."""
    (x,) = promote(x, float_only=True)
    return where(less(x, 0.0), -np.inf, negative(xlogy(x, x)))


def _kl_parts(x: Any, y: Any) -> tuple[Any, Any, Any]:
    """Where x, y > 0; x log(x / y) there (logs of 1 elsewhere); where x = 0 <= y."""
    x, y = promote(x, y, float_only=True)
    inside = logical_and(greater(x, 0.0), greater(y, 0.0))
    ratio = divide(where(inside, x, 1.0), where(inside, y, 1.0))
    at_zero = logical_and(equal(x, 0.0), greater_equal(y, 0.0))
    return inside, multiply(x, log(ratio)), at_zero


def rel_entr(x: Any, y: Any) -> Any:
    """x log(x / y) for x, y > 0; 0 for x = 0 <= y; inf otherwise."""
    inside, value, at_zero = _kl_parts(x, y)
    value = where(inside, value, cast(where(at_zero, 0.0, np.inf), dtype_of(value)))
    return _nan_where_any_nan(value, x, y)


def kl_div(x: Any, y: Any) -> Any:
    """x log(x / y) - x + y for x, y > 0; y for x = 0 <= y; inf otherwise."""
    inside, value, at_zero = _kl_parts(x, y)
    x, y = promote(x, y, float_only=True)
    value = where(inside, add(subtract(value, x), y), where(at_zero, y, np.inf))
    return _nan_where_any_nan(value, x, y)


def huber(delta: Any, r: Any) -> Any:
    """r^2 / 2 for |r| <= delta, delta (|r| - delta / 2) beyond; inf for delta < 0."""
    delta, r = promote(delta, r, float_only=True)
    size = absolute(r)
    value = where(
        less_equal(size, delta),
        multiply(0.5, multiply(r, r)),
        multiply(delta, subtract(size, multiply(0.5, delta))),
    )
    return where(less(delta, 0.0), np.inf, _nan_where_any_nan(value, delta, r))


def pseudo_huber(delta: Any, r: Any) -> Any:
    """delta^2 (sqrt(1 + (r / delta)^2) - 1), as expm1(log1p(.) / 2) to keep small r
    accurate; inf for delta < 0, else 0 where delta or r is 0 (SciPy's order of cases)."""
    delta, r = promote(delta, r, float_only=True)
    regular = logical_and(greater(delta, 0.0), not_equal(r, 0.0))
    scaled = divide(where(regular, r, 0.0), where(regular, delta, 1.0))
    value = multiply(multiply(delta, delta), expm1(multiply(0.5, log1p(multiply(scaled, scaled)))))
    zero = logical_or(equal(delta, 0.0), equal(r, 0.0))
    value = where(zero, 0.0, where(regular, value, add(delta, r)))  # the last: nan
    return where(less(delta, 0.0), np.inf, value)


def log_expit(x: Any) -> Any:
    return -logaddexp(0.0, -x)


def logsumexp(
    a: Any, axis: Any = None, b: Any = None, keepdims: bool = False, return_sign: bool = False
) -> Any:
    """log(sum(b * exp(a))) over ``axis``, shifted by the (constant) maximum to stay finite;
    with ``return_sign``, log|sum| and the sign of the sum."""
    if b is None:
        (a,) = promote(a, float_only=True)
    else:
        a, b = promote(a, b, float_only=True)
        a = broadcast_to(a, np.broadcast_shapes(shape_of(a), shape_of(b)))
    top = stop_gradient(amax(a, axis=axis, keepdims=True))
    top = where(isfinite(top), top, 0.0)  # all -inf (or an inf): no shift
    terms = exp(subtract(a, top))
    total = sum(terms if b is None else multiply(b, terms), axis=axis, keepdims=True)
    signs = sign(total)
    total = add(log(absolute(total) if return_sign else total), top)
    if not keepdims:  # drop the size-1 reduced axes
        total, signs = sum(total, axis=axis), sum(signs, axis=axis)
    return (total, signs) if return_sign else total


expm1 = DERIVED[np.expm1]


def _float_unary(prim: Any, name: str) -> Callable[[Any], Any]:
    def fn(x: Any) -> Any:
        (x,) = promote(x, float_only=True)
        return prim(x)

    fn.__name__ = name
    fn.__doc__ = f"scipy.special.{name} on traced values (primitive {prim.name})."
    return fn


log_ndtr = _float_unary(S.log_ndtr, "log_ndtr")
ndtri = _float_unary(S.ndtri, "ndtri")
erfinv = _float_unary(S.erfinv, "erfinv")
gammaln = _float_unary(S.lgamma, "gammaln")
gamma = _float_unary(S.gamma, "gamma")
erf = _float_unary(S.erf, "erf")
erfc = _float_unary(S.erfc, "erfc")


def _bessel(n: int, scaled: bool, name: str) -> Callable[[Any], Any]:
    def fn(x: Any) -> Any:
        (x,) = promote(x, float_only=True)
        return S.bessel_i(x, n=n, scaled=scaled)

    fn.__name__ = name
    fn.__doc__ = f"scipy.special.{name} on traced values (primitive bessel_i)."
    return fn


i0, i0e, i1, i1e = (_bessel(n, e, f"i{n}" + "e" * e) for n in (0, 1) for e in (False, True))


def digamma(x: Any) -> Any:
    (x,) = promote(x, float_only=True)
    return S.polygamma(x, n=0)


def polygamma(n: Any, x: Any) -> Any:
    """The n-th derivative of digamma, for a whole number n known while tracing."""
    if isinstance(n, Tracer):
        raise UnsupportedNumpyFunction(
            "scipy.special.polygamma: the order n must be known while tracing (a Python int), "
            "not a traced value; pass it as a static argument."
        )
    orders = np.unique(np.asarray(n))
    if orders.size != 1 or orders[0] < 0 or orders[0] != int(orders[0]):
        raise UnsupportedNumpyFunction(
            f"scipy.special.polygamma: the order n must be one whole number >= 0, got {n!r}; "
            "for several orders call polygamma once per order."
        )
    result = S.polygamma(cast(x, np.float64), n=int(orders[0]))  # float64, as SciPy's
    shape = np.broadcast_shapes(np.shape(n), shape_of(result))
    return broadcast_to(result, shape) if shape != shape_of(result) else result


def ndtr(x: Any) -> Any:
    """The standard normal distribution function, erfc(-x / sqrt(2)) / 2."""
    return multiply(0.5, erfc(multiply(x, -1.0 / math.sqrt(2.0))))


def gammasgn(x: Any) -> Any:
    """The sign of gamma(x): 1 for x > 0, (-1)^floor(x) between the poles below 0, the sign
    of a signed zero, nan at the poles (the negative integers, -inf) and for nan."""
    (x,) = promote(x, float_only=True)
    below = floor(x)
    alternating = subtract(1.0, multiply(2.0, np.mod(below, 2.0)))
    sign = where(equal(x, below), np.nan, alternating)
    return where(greater(x, 0.0), 1.0, where(equal(x, 0.0), np.copysign(1.0, x), sign))


def rgamma(x: Any) -> Any:
    """1 / gamma(x), an entire function: 0 at the poles of gamma, where its derivative is
    (-1)^n n! at x = -n (carried by x - stop_gradient(x), which is 0 in value)."""
    (x,) = promote(x, float_only=True)
    pole = logical_and(less_equal(x, 0.0), equal(x, floor(x)))
    regular = multiply(gammasgn(x), exp(negative(gammaln(where(pole, 0.5, x)))))
    n = stop_gradient(negative(where(logical_and(pole, isfinite(x)), x, 0.0)))
    slope = multiply(subtract(1.0, multiply(2.0, np.mod(n, 2.0))), gamma(add(n, 1.0)))
    at_pole = where(equal(x, 0.0), x, multiply(subtract(x, stop_gradient(x)), slope))
    return where(pole, where(isfinite(x), at_pole, 0.0), regular)


def beta(a: Any, b: Any) -> Any:
    """gamma(a) gamma(b) / gamma(a + b) as exp(betaln) with the signs of the three gammas
    (inf where betaln is; 1 stands in for the sign at a pole)."""
    a, b = promote(a, b, float_only=True)
    signs = multiply(multiply(gammasgn(a), gammasgn(b)), gammasgn(add(a, b)))
    signs = where(isnan(signs), 1.0, signs)
    return multiply(signs, exp(betaln(a, b)))


def erfcinv(y: Any) -> Any:
    """erfc(x) = 2 Phi(-x sqrt 2), so erfcinv(y) = -ndtri(y / 2) / sqrt 2 (y / 2 is exact)."""
    return multiply(ndtri(multiply(y, 0.5)), -1.0 / math.sqrt(2.0))


def betaln(a: Any, b: Any) -> Any:
    a, b = promote(a, b, float_only=True)
    return subtract(add(gammaln(a), gammaln(b)), gammaln(add(a, b)))


def multigammaln(a: Any, d: int) -> Any:
    """log of the multivariate gamma function of dimension ``d`` (a Python int)."""
    a = cast(a, np.float64)  # as SciPy's
    total = d * (d - 1) / 4.0 * math.log(math.pi)
    for j in range(d):
        total = add(total, gammaln(subtract(a, j / 2.0)))
    return total


def softmax(x: Any, axis: Any = None) -> Any:
    return exp(log_softmax(x, axis=axis))


def log_softmax(x: Any, axis: Any = None) -> Any:
    return subtract(x, logsumexp(x, axis=axis, keepdims=True))


# --- incomplete beta ---


def _incomplete_beta(complement: bool, name: str) -> Callable[..., Any]:
    def fn(a: Any, b: Any, x: Any) -> Any:
        a, b, x = promote(a, b, x, float_only=True)
        return S.betainc(a, b, x, complement=complement)

    fn.__name__ = name
    fn.__doc__ = (
        f"scipy.special.{name} on traced values (primitive betainc): gradients in x of any "
        "order, first derivatives in a and b (exact, from the continued fraction)."
    )
    return fn


betainc = _incomplete_beta(False, "betainc")
betaincc = _incomplete_beta(True, "betaincc")


UFUNCS: dict[str, Callable[..., Any]] = {
    "expit": logistic,
    "logit": logit,
    "xlogy": xlogy,
    "xlog1py": xlog1py,
    "log_expit": log_expit,
    "gammaln": gammaln,
    "gamma": gamma,
    "psi": digamma,  # scipy.special.digamma is the ufunc named psi
    "erf": erf,
    "erfc": erfc,
    "ndtr": ndtr,
    "log_ndtr": log_ndtr,
    "ndtri": ndtri,
    "erfinv": erfinv,
    "erfcinv": erfcinv,
    "betaln": betaln,
    "i0": i0,
    "i0e": i0e,
    "i1": i1,
    "i1e": i1e,
    "beta": beta,
    "gammasgn": gammasgn,
    "rgamma": rgamma,
    # -- entropies and robust losses
    "entr": entr,
    "rel_entr": rel_entr,
    "kl_div": kl_div,
    "huber": huber,
    "pseudo_huber": pseudo_huber,
    # -- SciPy's own ufuncs of NumPy's functions
    "expm1": lambda x: expm1(x),
    "log1p": lambda x: log1p(x),
    "exp2": lambda x: np.exp2(x),
    "exp10": lambda x: np.power(10.0, x),
    "cbrt": lambda x: np.cbrt(x),
    # --- incomplete beta ---
    "betainc": betainc,
    "betaincc": betaincc,
}
# NumPy's own function of the same name (dispatch's topic tables).
IMPLEMENTS: dict[Callable[..., Any], Callable[..., Any]] = {np.i0: i0}
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "logsumexp": logsumexp,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "polygamma": polygamma,
    "multigammaln": multigammaln,
}


# --- incomplete gamma ---
def _gammainc_operands(a: Any, x: Any) -> list[Any]:
    """a and x in SciPy's dtype: its loops take a Python number as float64 (float32 only
    when both operands are float32)."""
    a, x = (np.float64(v) if isinstance(v, int | float) else v for v in (a, x))
    return promote(a, x, float_only=True)


def gammainc(a: Any, x: Any) -> Any:
    """The regularized lower incomplete gamma function P(a, x) (primitive gammainc)."""
    a, x = _gammainc_operands(a, x)
    return S.gammainc(a, x, upper=False)


def gammaincc(a: Any, x: Any) -> Any:
    """The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x)."""
    a, x = _gammainc_operands(a, x)
    return S.gammainc(a, x, upper=True)


UFUNCS.update(gammainc=gammainc, gammaincc=gammaincc)


def is_scipy_ufunc(ufunc: np.ufunc) -> bool:
    special = _special()
    return special is not None and getattr(special, ufunc.__name__, None) is ufunc


def ufunc_name(ufunc: np.ufunc) -> str:
    """How the user knows ``ufunc``: ``np.sin``, ``scipy.special.erfinv``, or for a private
    ufunc the library function that called it (``scipy.special.zeta`` for ``_zeta``)."""
    if getattr(np, ufunc.__name__, None) is ufunc:
        return f"np.{ufunc.__name__}"
    if is_scipy_ufunc(ufunc):
        return f"scipy.special.{ufunc.__name__}"
    return library_function() or ufunc.__name__


def held_reference_hint(library: str) -> str | None:
    """For SciPy's own code of a function tracegrad supports (a reference taken before
    tracing, ``from scipy.special import logsumexp``), how to reach tracegrad's version."""
    name = library.removeprefix("scipy.special.")
    if library == name or name not in FUNCTIONS:
        return None
    return (
        f"tracegrad supports scipy.special.{name} when it is looked up while tracing: write "
        f"scipy.special.{name}(...) (or sp.{name} after import scipy.special as sp) in the "
        f"function. A reference taken before tracing (from scipy.special import {name}) runs "
        "SciPy's own code, which cannot take traced values."
    )


def ufunc_rule(ufunc: np.ufunc) -> Callable[..., Any] | None:
    """Our rule for a ``scipy.special`` ufunc, or None."""
    return UFUNCS.get(ufunc.__name__) if is_scipy_ufunc(ufunc) else None


def replacements() -> list[tuple[Any, str, Callable[[Callable[..., Any]], Callable[..., Any]]]]:
    """(scipy.special, name, make) for the functions swapped while tracing, if SciPy is in."""
    special = _special()
    if special is None:
        return []
    return [(special, name, traced_replacement(ours)) for name, ours in FUNCTIONS.items()]
