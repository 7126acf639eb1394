"""autograd's gradient checkers on top of ``tracegrad.testing.check_grads``.

autograd checks a function of any output shape through random vector-Jacobian and
Jacobian-vector products; tracegrad's checker wants a real scalar, so the output is
contracted with a fixed random array of its shape first (complex for a complex output, and
the real part taken), which checks the same products.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tracegrad.testing import check_grads as _tg_check_grads
from tracegrad.tree import tree_flatten


def _contracted(fun: Callable, args: Sequence[Any], kwargs: dict) -> Callable:
    """``fun``'s outputs (an array or a list or tuple of them) summed against fixed random
    weights: a scalar whose gradient is one vector-Jacobian product of ``fun``."""
    samples = [np.asarray(leaf) for leaf in tree_flatten(fun(*args, **kwargs))[0]]
    rng = np.random.default_rng(0)
    weights = [_weights(rng, sample) for sample in samples]
    complex_output = any(sample.dtype.kind == "c" for sample in samples)

    def scalar(*xs: Any) -> Any:
        leaves = tree_flatten(fun(*xs, **kwargs))[0]
        total = sum(np.sum(leaf * w) for leaf, w in zip(leaves, weights, strict=True))
        return total.real if complex_output else total

    return scalar


def _weights(rng: np.random.Generator, sample: np.ndarray) -> np.ndarray:
    """Random weights shaped like an output, complex for a complex output: the real part of
    ``sum(output * weights)`` then depends on the output's real and imaginary parts."""
    weights = rng.standard_normal(sample.shape)
    if sample.dtype.kind == "c":
        weights = weights + 1j * rng.standard_normal(sample.shape)
    return weights


def check_grads(
    fun: Callable, argnum: Any = 0, modes: Sequence[str] = ("fwd", "rev"), order: int = 2
) -> Callable:
    """autograd's checker: the arguments other than ``argnum`` are constants (an integer
    order or dimension stays a Python int), as they are for autograd."""

    def check(*args: Any, **kwargs: Any) -> None:
        argnums = (argnum,) if isinstance(argnum, int) else tuple(argnum)
        scalar = _contracted(fun, args, kwargs)

        def of_checked(*checked: Any) -> Any:
            full = list(args)
            for i, value in zip(argnums, checked, strict=True):
                full[i] = value
            return scalar(*full)

        checked = tuple(args[i] for i in argnums)
        _tg_check_grads(of_checked, checked, order=order, modes=tuple(modes))

    return check


def combo_check(fun: Callable, *checker_args: Any, **checker_kwargs: Any) -> Callable:
    """Check ``fun`` at every combination of the given arguments and keyword values."""

    def check(*arg_lists: Sequence[Any], **kwarg_lists: Sequence[Any]) -> None:
        names = list(kwarg_lists)
        for args in itertools.product(*arg_lists):
            for values in itertools.product(*(kwarg_lists[n] for n in names)):
                kwargs = dict(zip(names, values, strict=True))
                check_grads(fun, *checker_args, **checker_kwargs)(*args, **kwargs)

    return check
