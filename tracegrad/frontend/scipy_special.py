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
    add,
    equal,
    exp,
    isfinite,
    log,
    log1p,
    logaddexp,
    logistic,
    multiply,
    stop_gradient,
    subtract,
    where,
)
from .promotion import cast, holds_tracer, promote, shape_of
from .reductions import amax, sum
from .shapes import broadcast_to


def _special() -> Any:
    return sys.modules.get("scipy.special")


def logit(p: Any) -> Any:
    return subtract(log(p), log1p(-p))


def xlogy(x: Any, y: Any) -> Any:
    """x * log(y), and 0 where x == 0 (whatever y is), with a gradient free of log(0)."""
    x, y = promote(x, y, float_only=True)
    zero = equal(x, 0.0)
    return where(zero, 0.0, multiply(x, log(where(zero, 1.0, y))))


def xlog1py(x: Any, y: Any) -> Any:
    x, y = promote(x, y, float_only=True)
    zero = equal(x, 0.0)
    return where(zero, 0.0, multiply(x, log1p(where(zero, 0.0, y))))


def log_expit(x: Any) -> Any:
    return -logaddexp(0.0, -x)


def logsumexp(
    a: Any, axis: Any = None, b: Any = None, keepdims: bool = False, return_sign: bool = False
) -> Any:
    """log(sum(exp(a))) over ``axis``, shifted by the (constant) maximum to stay finite."""
    if b is not None or return_sign:
        raise UnsupportedNumpyFunction(
            "scipy.special.logsumexp: b= and return_sign= are not supported on traced values; "
            "fold b into a (a + np.log(b)) instead."
        )
    (a,) = promote(a, float_only=True)
    top = stop_gradient(amax(a, axis=axis, keepdims=True))
    top = where(isfinite(top), top, 0.0)  # all -inf (or an inf): no shift
    total = log(sum(exp(subtract(a, top)), axis=axis, keepdims=True)) + top
    return total if keepdims else sum(total, axis=axis)  # drops the size-1 reduced axes


def _float_unary(prim: Any, name: str) -> Callable[[Any], Any]:
    def fn(x: Any) -> Any:
        (x,) = promote(x, float_only=True)
        return prim(x)

    fn.__name__ = name
    fn.__doc__ = f"scipy.special.{name} on traced values (primitive {prim.name})."
    return fn


gammaln = _float_unary(S.lgamma, "gammaln")
gamma = _float_unary(S.gamma, "gamma")
erf = _float_unary(S.erf, "erf")
erfc = _float_unary(S.erfc, "erfc")


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
    "betaln": betaln,
}
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "logsumexp": logsumexp,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "polygamma": polygamma,
    "multigammaln": multigammaln,
}


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


def ufunc_rule(ufunc: np.ufunc) -> Callable[..., Any] | None:
    """Our rule for a ``scipy.special`` ufunc, or None."""
    return UFUNCS.get(ufunc.__name__) if is_scipy_ufunc(ufunc) else None


def replacements() -> list[tuple[Any, str, Callable[[Callable[..., Any]], Callable[..., Any]]]]:
    """(scipy.special, name, make) for the functions swapped while tracing, if SciPy is in."""
    special = _special()
    if special is None:
        return []
    return [(special, name, _replacing(ours)) for name, ours in FUNCTIONS.items()]


def _replacing(ours: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def dispatching(*args: Any, **kwargs: Any) -> Any:
            if any(holds_tracer(a) for a in (*args, *kwargs.values())):
                return ours(*args, **kwargs)
            return original(*args, **kwargs)

        return dispatching

    return make
