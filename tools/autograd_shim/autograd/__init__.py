"""A stand-in for the ``autograd`` package, backed by tracegrad, so that autograd's own NumPy
tests run against tracegrad (``tools/autograd_suite.py``).

``autograd.numpy`` is NumPy itself: tracegrad traces plain NumPy code.  The differential
operators take autograd's ``argnum`` and map onto tracegrad's transformations.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy

import tracegrad as tg

sys.modules[__name__ + ".numpy"] = numpy
sys.modules[__name__ + ".numpy.random"] = numpy.random


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
        tangents = [numpy.zeros_like(numpy.asarray(a, dtype=float)) for a in args]
        tangents[argnum] = numpy.ones_like(tangents[argnum])
        return tg.jvp(fun, list(args), tangents)[1]

    return derivative
