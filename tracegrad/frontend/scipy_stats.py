"""``scipy.stats`` distributions on traced values: the log-densities that likelihoods use.

SciPy's distribution methods (``norm.logpdf``) run SciPy's own code, which converts its
arguments to arrays and cannot take Tracers.  While a trace runs, the methods below are
swapped on the distributions' classes (see ``constructors``): a call with a traced argument
runs tracegrad's version, any other call SciPy's.  Patching the classes, not the module's
names, reaches the distributions however the user holds them: ``scipy.stats.norm``, one
imported before tracing (``from scipy.stats import norm``) and a frozen distribution
(``norm(loc, scale).logpdf(x)``) alike, as long as the method is looked up while tracing; a
bound method taken before (``logpdf = norm.logpdf``) is SciPy's own code, and its error says
so.  tracegrad never imports SciPy itself.

Every method takes SciPy's arguments (shape parameters, then ``loc`` and ``scale``, by
position or keyword) and returns what SciPy returns: -inf (``log*``) or 0 outside the
support, nan for a scale that is not positive or an invalid shape parameter.  Gradients flow
to every floating argument; outside the support they are 0.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from ..errors import UnsupportedNumpyFunction
from . import scipy_special as sp
from .elementwise import stop_gradient
from .promotion import traced_replacement

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _stats() -> Any:
    return sys.modules.get("scipy.stats")


def _positive(parameter: Any) -> Any:
    """``parameter``, nan where it is not positive (SciPy's answer for an invalid one)."""
    return np.where(np.greater(parameter, 0), parameter, np.nan)


def _standardised(x: Any, loc: Any, scale: Any) -> tuple[Any, Any]:
    """(x - loc) / scale, and log(scale) (nan for a scale that is not positive)."""
    scale = _positive(scale)
    return (x - loc) / scale, np.log(scale)


def _inside(condition: Any, value: Any, outside: float, point: Any) -> Any:
    """``value`` where ``condition`` (the support) holds, ``outside`` elsewhere; nan where
    ``value`` or the ``point`` is nan."""
    unknown = np.logical_or(np.isnan(value), np.isnan(point))
    return np.where(condition, value, np.where(unknown, np.nan, outside))


def _density(logpdf: Callable[..., Any]) -> Callable[..., Any]:
    """``pdf`` from ``logpdf`` (0 where the log-density is -inf)."""

    def pdf(*args: Any, **kwargs: Any) -> Any:
        return np.exp(logpdf(*args, **kwargs))

    return pdf


# -- location-scale families: the standard log-density of z, then the shift and the scale


def _split(
    args: tuple, named: dict[str, Any], shapes: tuple[str, ...], loc: Any, scale: Any
) -> tuple[list, Any, Any]:
    """SciPy's arguments after x: the shape parameters (by position or name), then loc and
    scale."""
    given = list(args)
    params = [given.pop(0) if given else named.pop(name, None) for name in shapes]
    if any(p is None for p in params) or len(given) > 2 or named:
        expected = ", ".join((*shapes, "loc", "scale"))
        raise TypeError(f"expected the arguments {expected} after x, got {args} and {named}")
    loc = given[0] if len(given) > 0 else loc
    scale = given[1] if len(given) > 1 else scale
    return params, loc, scale


def _location_scale(standard: Callable[..., Any], *shapes: str) -> Callable[..., Any]:
    """``logpdf(x, *shapes, loc=0, scale=1)`` from the standard family's log-density."""

    def logpdf(x: Any, *args: Any, loc: Any = 0.0, scale: Any = 1.0, **named: Any) -> Any:
        params, loc, scale = _split(args, named, shapes, loc, scale)
        z, log_scale = _standardised(x, loc, scale)
        return standard(z, *params) - log_scale

    return logpdf


def _norm(z: Any) -> Any:
    return -0.5 * z * z - _HALF_LOG_2PI


def _t(z: Any, df: Any) -> Any:
    df = _positive(df)
    half = 0.5 * (df + 1)
    return (
        sp.gammaln(half)
        - sp.gammaln(0.5 * df)
        - 0.5 * np.log(df * math.pi)
        - half * np.log1p(z * z / df)
    )


def _cauchy(z: Any) -> Any:
    return -math.log(math.pi) - np.log1p(z * z)


def _laplace(z: Any) -> Any:
    return -math.log(2.0) - np.abs(z)


def _logistic(z: Any) -> Any:
    return -np.abs(z) - 2.0 * np.log1p(np.exp(-np.abs(z)))


def _expon(z: Any) -> Any:
    return _inside(np.greater_equal(z, 0), -z, -np.inf, z)


def _gamma(z: Any, a: Any) -> Any:
    a = _positive(a)
    inside = np.greater_equal(z, 0)  # at 0: +inf, 0 or -inf as a < 1, = 1, > 1
    value = sp.xlogy(a - 1, np.where(inside, z, 1.0)) - z - sp.gammaln(a)
    return _inside(inside, value, -np.inf, z)


def _chi2(z: Any, df: Any) -> Any:
    return _gamma(0.5 * z, 0.5 * df) - math.log(2.0)


def _beta(z: Any, a: Any, b: Any) -> Any:
    a = _positive(a)
    b = _positive(b)
    inside = np.logical_and(np.greater_equal(z, 0), np.less_equal(z, 1))
    safe = np.where(inside, z, 0.5)
    value = sp.xlogy(a - 1, safe) + sp.xlog1py(b - 1, -safe) - sp.betaln(a, b)
    return _inside(inside, value, -np.inf, z)


# -- the normal distribution's other methods


def _norm_method(of_z: Callable[[Any], Any]) -> Callable[..., Any]:
    def method(x: Any, *args: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        _, loc, scale = _split(args, {}, (), loc, scale)
        return of_z(_standardised(x, loc, scale)[0])

    return method


def _norm_ppf(q: Any, *args: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
    _, loc, scale = _split(args, {}, (), loc, scale)
    return loc + _positive(scale) * sp.ndtri(q)


# -- discrete and multivariate distributions


def _poisson_logpmf(k: Any, mu: Any, loc: Any = 0) -> Any:
    k = k - loc
    mu = np.where(np.greater_equal(mu, 0), mu, np.nan)
    whole = np.logical_and(np.greater_equal(k, 0), np.equal(np.floor(k), k))
    safe = np.where(whole, k, 0.0)
    value = sp.xlogy(safe, mu) - sp.gammaln(safe + 1) - mu
    return _inside(whole, value, -np.inf, k)


def _multivariate_normal_logpdf(
    x: Any, mean: Any = None, cov: Any = 1, allow_singular: bool = False
) -> Any:
    if allow_singular:
        raise UnsupportedNumpyFunction(
            "scipy.stats.multivariate_normal.logpdf with allow_singular=True is not supported "
            "on traced values; pass a positive definite cov"
        )
    x = x + np.zeros(())  # a Tracer or an array, never a list
    dim = np.shape(mean)[-1] if mean is not None and np.ndim(mean) else np.shape(x)[-1]
    mean = np.zeros(dim) if mean is None else mean
    cov = cov if hasattr(cov, "shape") else np.asarray(cov, float)
    if np.ndim(cov) < 2:  # a scalar variance or a diagonal, as SciPy takes them
        cov = np.eye(dim) * cov
    chol = np.linalg.cholesky(cov)
    diff = np.reshape(x - mean, (-1, dim))
    solved = np.linalg.solve(chol, diff.T)
    maha = np.sum(solved * solved, axis=0)
    log_det = 2.0 * np.sum(np.log(np.diagonal(chol)))
    value = -0.5 * (dim * math.log(2 * math.pi) + log_det + maha)
    return np.reshape(value, np.shape(x)[:-1]) if np.ndim(x) > 1 else value[0]


def _dirichlet_logpdf(x: Any, alpha: Any) -> Any:
    """x holds the components along its first axis, as SciPy takes it: (K,) or (K, N)."""
    normaliser = np.sum(sp.gammaln(alpha)) - sp.gammaln(np.sum(alpha))
    column = np.reshape(alpha, (-1,) + (1,) * (np.ndim(x) - 1))
    return np.sum(sp.xlogy(column - 1, x), axis=0) - normaliser


def _methods(logpdf: Callable[..., Any]) -> dict[str, Callable[..., Any]]:
    return {"logpdf": logpdf, "pdf": _density(logpdf)}


# distribution name -> method name -> tracegrad's version (without SciPy's ``self``)
DISTRIBUTIONS: dict[str, dict[str, Callable[..., Any]]] = {
    "norm": {
        **_methods(_location_scale(_norm)),
        "cdf": _norm_method(sp.ndtr),
        "logcdf": _norm_method(sp.log_ndtr),
        "sf": _norm_method(lambda z: sp.ndtr(-z)),
        "logsf": _norm_method(lambda z: sp.log_ndtr(-z)),
        "ppf": _norm_ppf,
    },
    "t": _methods(_location_scale(_t, "df")),
    "cauchy": _methods(_location_scale(_cauchy)),
    "laplace": _methods(_location_scale(_laplace)),
    "logistic": _methods(_location_scale(_logistic)),
    "expon": _methods(_location_scale(_expon)),
    "gamma": _methods(_location_scale(_gamma, "a")),
    "chi2": _methods(_location_scale(_chi2, "df")),
    "beta": _methods(_location_scale(_beta, "a", "b")),
    "poisson": {"logpmf": _poisson_logpmf, "pmf": _density(_poisson_logpmf)},
    "multivariate_normal": _methods(_multivariate_normal_logpdf),
    "dirichlet": _methods(_dirichlet_logpdf),
}


# --- incomplete gamma ---
# Distribution functions built on the regularized incomplete gamma functions P and Q
# (scipy.special.gammainc, gammaincc).  Arguments outside the support go to the functions
# as a harmless 1 and are replaced afterwards, so that no nan reaches the gradients.


def _standard_method(standard: Callable[..., Any], *shapes: str) -> Callable[..., Any]:
    """``method(x, *shapes, loc=0, scale=1)`` from the standard family's function of z."""

    def method(x: Any, *args: Any, loc: Any = 0.0, scale: Any = 1.0, **named: Any) -> Any:
        params, loc, scale = _split(args, named, shapes, loc, scale)
        return standard(_standardised(x, loc, scale)[0], *params)

    return method


def _gamma_tail(upper: bool, logarithm: bool) -> Callable[..., Any]:
    """The gamma distribution's cdf (P(a, z)) or sf (Q(a, z)), or their logs; 0 / 1 below
    the support (-inf / 0 for the logs)."""

    def standard(z: Any, a: Any) -> Any:
        a = _positive(a)
        inside = np.greater_equal(z, 0)
        safe = np.where(inside, z, 1.0)
        value = sp.gammaincc(a, safe) if upper else sp.gammainc(a, safe)
        outside = 1.0 if upper else 0.0
        if logarithm:
            value, outside = np.log(value), (0.0 if upper else -np.inf)
        return _inside(inside, value, outside, z)

    return standard


def _chi2_tail(upper: bool) -> Callable[..., Any]:
    gamma_tail = _gamma_tail(upper, logarithm=False)
    return lambda z, df: gamma_tail(0.5 * z, 0.5 * df)


def _expon_tail(upper: bool) -> Callable[..., Any]:
    """exp(-z) (sf) or -expm1(-z) (cdf) for z >= 0."""

    def standard(z: Any) -> Any:
        inside = np.greater_equal(z, 0)
        safe = np.where(inside, z, 0.0)
        value = np.exp(-safe) if upper else -np.expm1(-safe)
        return _inside(inside, value, 1.0 if upper else 0.0, z)

    return standard


def _poisson_tail(upper: bool) -> Callable[..., Any]:
    """cdf(k) = Q(floor(k) + 1, mu), sf(k) = P(floor(k) + 1, mu); 0 / 1 for k < 0.  k is
    a count: no gradient flows to it."""

    def method(k: Any, mu: Any, loc: Any = 0) -> Any:
        k = stop_gradient(np.floor(np.subtract(k, loc)))
        mu = np.where(np.greater_equal(mu, 0), mu, np.nan)
        inside = np.greater_equal(k, 0)
        count = np.where(inside, k, 0.0) + 1.0
        value = sp.gammainc(count, mu) if upper else sp.gammaincc(count, mu)
        return _inside(inside, value, 1.0 if upper else 0.0, k)

    return method


DISTRIBUTIONS["gamma"].update(
    cdf=_standard_method(_gamma_tail(False, False), "a"),
    sf=_standard_method(_gamma_tail(True, False), "a"),
    logcdf=_standard_method(_gamma_tail(False, True), "a"),
    logsf=_standard_method(_gamma_tail(True, True), "a"),
)
DISTRIBUTIONS["chi2"].update(
    cdf=_standard_method(_chi2_tail(False), "df"), sf=_standard_method(_chi2_tail(True), "df")
)
DISTRIBUTIONS["expon"].update(
    cdf=_standard_method(_expon_tail(False)), sf=_standard_method(_expon_tail(True))
)
DISTRIBUTIONS["poisson"].update(cdf=_poisson_tail(False), sf=_poisson_tail(True))


# --- incomplete beta ---
# Distribution functions from the regularized incomplete beta function: each tail computed
# directly where it is small (no 1 - cdf), so the far tails keep their relative accuracy.


def _beta_tail(z: Any, a: Any, b: Any, upper: bool) -> Any:
    """I_z(a, b) (or its complement) at z clipped to the support [0, 1]."""
    a, b = _positive(a), _positive(b)
    return (sp.betaincc if upper else sp.betainc)(a, b, np.clip(z, 0.0, 1.0))


def _t_tail(z: Any, df: Any, upper: bool) -> Any:
    """P(T <= z) (P(T > z) with ``upper``) from the tail P(T > |z|) = I_(df / (df + z^2))
    (df / 2, 1/2) / 2, by its complement in z^2 / (df + z^2) where z^2 < df (no rounding of
    1 - small); a normal tail for df = inf.  At z = 0 the value is 1/2 and the slope the
    density (the beta function's own slope is inf * 0 there)."""
    df = _positive(df)
    if upper:  # P(T > z) = P(T < -z): the same tail, no 1 - cdf
        z = -z
    safe = np.where(np.equal(z, 0), 1.0, z)
    square = safe * safe
    tail = 0.5 * np.where(
        np.less(square, df),
        sp.betaincc(0.5, 0.5 * df, square / (df + square)),
        sp.betainc(0.5 * df, 0.5, df / (df + square)),
    )
    tail = np.where(np.isinf(df), sp.ndtr(-np.abs(safe)), tail)
    lower = np.where(np.greater(z, 0), 1.0 - tail, tail)  # P(T <= z)
    normal = np.isinf(df)
    density = np.exp(_t(z * 0.0, np.where(normal, 1.0, df)))
    density = np.where(normal, math.exp(-_HALF_LOG_2PI), density)
    return np.where(np.equal(z, 0), 0.5 + z * density, lower)


def _f_tail(z: Any, dfn: Any, dfd: Any, upper: bool) -> Any:
    """I_u(dfn / 2, dfd / 2) with u = dfn z / (dfn z + dfd) (or its complement), as
    I_(1 - u)(dfd / 2, dfn / 2) where 1 - u = dfd / (dfn z + dfd) is the smaller: whichever
    argument is not rounded next to 1."""
    dfn, dfd = _positive(dfn), _positive(dfd)
    finite = np.isfinite(z)
    safe = np.where(finite, np.maximum(z, 0.0), 1.0)
    scaled = dfn * safe
    u, v = scaled / (scaled + dfd), dfd / (scaled + dfd)  # u + v = 1, each to rounding
    by_u = (sp.betaincc if upper else sp.betainc)(0.5 * dfn, 0.5 * dfd, u)
    by_v = (sp.betainc if upper else sp.betaincc)(0.5 * dfd, 0.5 * dfn, v)
    value = np.where(np.less(u, v), by_u, by_v)  # the smaller of the two as the argument
    ends = np.where(np.greater(z, 0), 0.0 if upper else 1.0, 1.0 if upper else 0.0)
    unknown = np.isnan(z + dfn + dfd)  # also an invalid degree of freedom
    return np.where(finite, value, np.where(unknown, np.nan, ends))


def _binom_tail(upper: bool) -> Callable[..., Any]:
    """binom.cdf / binom.sf(k, n, p, loc=0): P(K <= k) = I_(1-p)(n - k, k + 1) for 0 <= k <
    n; gradients flow to p only (k and n count)."""

    def method(k: Any, n: Any, p: Any, loc: Any = 0) -> Any:
        k = np.floor(stop_gradient(k - loc))
        n = stop_gradient(n) + np.zeros(())
        whole = np.logical_and(np.greater_equal(n, 0), np.equal(np.floor(n), n))
        valid = np.logical_and(whole, np.logical_and(np.greater_equal(p, 0), np.less_equal(p, 1)))
        safe_n = np.where(valid, np.maximum(n, 1.0), 1.0)
        inner = np.clip(k, 0.0, safe_n - 1.0)
        value = (sp.betainc if upper else sp.betaincc)(inner + 1.0, safe_n - inner, p)
        below, beyond = (1.0, 0.0) if upper else (0.0, 1.0)
        value = np.where(np.less(k, 0), below, np.where(np.greater_equal(k, n), beyond, value))
        return np.where(np.logical_and(valid, np.logical_not(np.isnan(k))), value, np.nan)

    return method


def _both_tails(standard: Callable[..., Any], *shapes: str) -> dict[str, Callable[..., Any]]:
    """``cdf`` and ``sf`` from ``standard(z, *params, upper)``."""
    return {
        "cdf": _standard_method(partial(standard, upper=False), *shapes),
        "sf": _standard_method(partial(standard, upper=True), *shapes),
    }


DISTRIBUTIONS["beta"].update(_both_tails(_beta_tail, "a", "b"))
DISTRIBUTIONS["t"].update(_both_tails(_t_tail, "df"))
DISTRIBUTIONS["f"] = _both_tails(_f_tail, "dfn", "dfd")
DISTRIBUTIONS["binom"] = {"cdf": _binom_tail(False), "sf": _binom_tail(True)}


def _unbound(ours: Callable[..., Any]) -> Callable[..., Any]:
    """``ours`` as a method: SciPy's ``self`` (the distribution) is dropped."""

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return ours(*args, **kwargs)

    return method


def replacements() -> list[tuple[Any, str, Callable[[Callable[..., Any]], Callable[..., Any]]]]:
    """(distribution class, method, make) for the methods swapped while tracing, if
    ``scipy.stats`` is imported."""
    stats = _stats()
    if stats is None:
        return []
    found = []
    for name, methods in DISTRIBUTIONS.items():
        cls = type(getattr(stats, name))
        found += [(cls, m, traced_replacement(_unbound(f))) for m, f in methods.items()]
    return found


def held_reference_hint(library: str) -> str | None:
    """For SciPy's own code of a distribution method tracegrad supports (a bound method taken
    before tracing, ``logpdf = norm.logpdf``), how to reach tracegrad's version."""
    method = library.removeprefix("scipy.stats.")
    supported = sorted(d for d, methods in DISTRIBUTIONS.items() if method in methods)
    if library == method or not supported:
        return None
    return (
        f"tracegrad supports the {method} method of scipy.stats.{', '.join(supported)} when "
        f"it is looked up while tracing: write norm.{method}(...) in the function. A method "
        f"taken before tracing ({method} = norm.{method}) runs SciPy's own code, which cannot "
        "take traced values."
    )


def names() -> list[str]:
    """``scipy.stats.<distribution>.<method>`` for every method supported (the support page)."""
    return [f"{d}.{m}" for d, methods in DISTRIBUTIONS.items() for m in methods]
