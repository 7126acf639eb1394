"""A stand-in for the ``autograd`` package, backed by tracegrad, so that autograd's own NumPy
tests run against tracegrad (``tools/autograd_suite.py``).

``autograd.numpy`` is NumPy itself: tracegrad traces plain NumPy code.  The differential
operators take autograd's ``argnum`` and map onto tracegrad's transformations.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any

import numpy

import tracegrad as tg

sys.modules[__name__ + ".numpy"] = numpy
sys.modules[__name__ + ".numpy.random"] = numpy.random


def _scipy_in_place() -> None:
    """``autograd.scipy.x`` is ``scipy.x``: tracegrad traces SciPy's functions directly (those
    it supports).  Skipped when SciPy is not installed, as autograd's tests then skip."""
    try:
        import scipy.integrate
        import scipy.linalg
        import scipy.signal
        import scipy.special
        import scipy.stats
    except ImportError:
        return
    package = types.ModuleType(__name__ + ".scipy")
    for name in ["integrate", "linalg", "signal"]:
        setattr(package, name, getattr(scipy, name))
        sys.modules[f"{package.__name__}.{name}"] = getattr(scipy, name)
    package.stats = _LateStats(package.__name__ + ".stats")
    sys.modules[package.__name__ + ".stats"] = package.stats
    sys.modules[package.__name__ + ".stats.multivariate_normal"] = package.stats.multivariate_normal
    package.special = _LateSpecial(package.__name__ + ".special")
    sys.modules[package.__name__ + ".special"] = package.special
    sys.modules[package.__name__] = package
    globals()["scipy"] = package


class _LateSpecial(types.ModuleType):
    """``autograd.scipy.special``: each function looks itself up on ``scipy.special`` when
    called, as code that writes ``scipy.special.f(x)`` does, so a test that holds on to
    ``special.logsumexp`` still gets tracegrad's version while tracing."""

    def __getattr__(self, name: str) -> Any:
        import scipy.special

        if not callable(getattr(scipy.special, name)):
            return getattr(scipy.special, name)

        def late(*args: Any, **kwargs: Any) -> Any:
            return getattr(scipy.special, name)(*args, **kwargs)

        late.__name__ = name
        return late


class _LateDistribution(types.ModuleType):
    """``autograd.scipy.stats.norm``: each method looks itself up on ``scipy.stats.norm`` when
    called, as code that writes ``norm.logpdf(x)`` does (a bound method taken before tracing
    holds SciPy's own code)."""

    def __getattr__(self, method: str) -> Any:
        import scipy.stats

        distribution = self.__name__.rsplit(".", 1)[1]

        def late(*args: Any, **kwargs: Any) -> Any:
            return getattr(getattr(scipy.stats, distribution), method)(*args, **kwargs)

        late.__name__ = method
        return late


class _LateStats(types.ModuleType):
    """``autograd.scipy.stats``: its distributions as ``_LateDistribution``s."""

    def __getattr__(self, name: str) -> Any:
        import scipy.stats

        found = getattr(scipy.stats, name)
        if not hasattr(found, "rvs"):  # a function or a constant, not a distribution
            return found
        return _LateDistribution(f"{self.__name__}.{name}")


_scipy_in_place()


def grad(fun: Callable, argnum: Any = 0) -> Callable:
    return tg.grad(fun, argnums=argnum)


def value_and_grad(fun: Callable, argnum: Any = 0) -> Callable:
    return tg.value_and_grad(fun, argnums=argnum)


def jacobian(fun: Callable, argnum: Any = 0) -> Callable:
    return tg.jacobian(fun, argnums=argnum)


def hessian(fun: Callable, argnum: Any = 0) -> Callable:
    return tg.hessian(fun, argnums=argnum)


def elementwise_grad(fun: Callable, argnum: int = 0) -> Callable:
    """The gradient of sum(fun): each output element depends on its own input element."""

    def summed(*args: Any, **kwargs: Any) -> Any:
        return numpy.sum(fun(*args, **kwargs))

    return tg.grad(summed, argnums=argnum)


def deriv(fun: Callable, argnum: int = 0) -> Callable:
    """The derivative along a tangent of ones (forward mode)."""

    def derivative(*args: Any) -> Any:
        tangents = [numpy.zeros(numpy.shape(a), numpy.result_type(a, float)) for a in args]
        tangents[argnum] = numpy.ones_like(tangents[argnum])
        return tg.jvp(fun, list(args), tangents)[1]

    return derivative
