"""Dispatch from NumPy's protocols: the tables that map NumPy's ufuncs and functions to
their traced versions, and the two entry points Tracer's protocols call.

Each topic module lists what it implements in its ``IMPLEMENTS`` table (elementwise derives
most of its ufuncs from the primitive registry); this module merges them, split the way
NumPy dispatches: ufuncs through ``__array_ufunc__``, functions through
``__array_function__``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..core.tracing import Tracer
from ..errors import UnsupportedNumpyFunction
from . import (
    elementwise,
    fourier,
    indexing,
    linalg,
    products,
    rearranging,
    reductions,
    scipy_special,
    shapes,
    sorting,
    statistics,
)
from .elementwise import astype
from .promotion import no_out

TOPICS = (
    elementwise,
    shapes,
    indexing,
    rearranging,
    reductions,
    products,
    linalg,
    sorting,
    statistics,
    fourier,  # complex numbers: np.fft
)


def _merged() -> dict[Callable[..., Any], Callable[..., Any]]:
    table: dict[Callable[..., Any], Callable[..., Any]] = {}
    for topic in TOPICS:
        twice = set(table) & set(topic.IMPLEMENTS)
        if twice:
            names = sorted(f.__name__ for f in twice)
            raise RuntimeError(f"{topic.__name__} implements {names} again")
        table.update(topic.IMPLEMENTS)
    return table


_ALL = _merged()
UFUNCS: dict[np.ufunc, Callable[..., Any]] = {
    f: fn for f, fn in _ALL.items() if isinstance(f, np.ufunc)
}
FUNCTIONS: dict[Callable[..., Any], Callable[..., Any]] = {
    f: fn for f, fn in _ALL.items() if not isinstance(f, np.ufunc)
}


def _no_rule(name: str) -> UnsupportedNumpyFunction:
    return UnsupportedNumpyFunction(
        f"{name} has no tracegrad rule. Express it with supported functions "
        "(docs/numpy-support.md lists them), or compute it outside the differentiated function "
        "and pass the result in as an argument."
    )


def apply_ufunc(ufunc: np.ufunc, method: str, inputs: Sequence[Any], kwargs: dict) -> Any:
    if method == "at" and ufunc in (np.add, np.subtract):
        return _at(ufunc, *inputs)
    if method != "__call__":
        raise UnsupportedNumpyFunction(
            f"np.{ufunc.__name__}.{method} is not supported on traced values; use the "
            "matching function (np.sum for add.reduce, indexing for take, ...) instead."
        )
    handler = UFUNCS.get(ufunc) or scipy_special.ufunc_rule(ufunc)
    if handler is None:
        module = "scipy.special" if scipy_special.is_scipy_ufunc(ufunc) else "np"
        raise _no_rule(f"{module}.{ufunc.__name__}")
    out = kwargs.pop("out", None)
    no_out(ufunc.__name__, out)
    dtype = kwargs.pop("dtype", None)
    kwargs.pop("casting", None)
    if kwargs:
        raise UnsupportedNumpyFunction(
            f"np.{ufunc.__name__}: arguments {sorted(kwargs)} are not supported while tracing"
        )
    result = handler(*inputs)
    return astype(result, dtype) if dtype is not None else result


def _at(ufunc: np.ufunc, target: Any, index: Any, value: Any = None) -> None:
    """``np.add.at`` / ``np.subtract.at``: in place on a traced target (rebound, like the
    other in-place updates); a NumPy array cannot hold traced values."""
    if not isinstance(target, Tracer):
        raise UnsupportedNumpyFunction(
            f"np.{ufunc.__name__}.at into a NumPy array with traced values: the array cannot "
            "hold them. Make the target traced (e.g. y = np.zeros_like(x)) and update that."
        )
    if ufunc is np.subtract:
        value = elementwise.negative(value)
    target.node = indexing.add_at(target, index, value).node


def apply_function(func: Callable[..., Any], args: Sequence[Any], kwargs: dict) -> Any:
    handler = FUNCTIONS.get(func)
    if handler is None:
        module = getattr(func, "__module__", None) or "numpy"
        prefix = "np." + "".join(f"{part}." for part in module.split(".")[1:] if part != "_core")
        raise _no_rule(f"{prefix}{func.__name__}")
    return handler(*args, **kwargs)
