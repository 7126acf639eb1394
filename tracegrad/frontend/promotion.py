"""Operands of the NumPy layer: dtype promotion, shapes, axes and argument checks.

Every function of the layer takes Tracers, NumPy arrays or Python numbers.  ``promote``
applies NumPy 2's rules (a Python number is weak and takes the array's dtype) and inserts
``convert`` where operands differ, so that primitives always see operands of one dtype.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..core import primitives as P
from ..core.tracing import Tracer
from ..errors import ShapeError, UnsupportedNumpyFunction


def is_python_scalar(x: Any) -> bool:
    return isinstance(x, bool | int | float | complex) and not isinstance(x, np.generic)


def dtype_of(x: Any) -> np.dtype:
    return x.dtype if isinstance(x, Tracer) else np.asarray(x).dtype


def shape_of(x: Any) -> tuple[int, ...]:
    return tuple(x.shape) if isinstance(x, Tracer) else np.shape(x)


def result_dtype(*xs: Any) -> np.dtype:
    """NumPy's promotion: Python numbers are weak and take the arrays' dtype."""
    proxies = [x if is_python_scalar(x) else dtype_of(x) for x in xs]
    return np.result_type(*proxies)


def cast(x: Any, dtype: np.dtype) -> Any:
    dtype = np.dtype(dtype)
    if isinstance(x, Tracer):
        return x if x.dtype == dtype else P.convert(x, dtype=dtype)
    array = np.asarray(x)
    return array if array.dtype == dtype else array.astype(dtype)


def promote(*xs: Any, float_only: bool = False) -> list[Any]:
    """The operands in their common dtype; ``float_only`` computes integers in float64."""
    dtype = result_dtype(*xs)
    if float_only and dtype.kind not in "fc":
        dtype = np.dtype(np.float64)
    return [cast(x, dtype) for x in xs]


def asarray_like(x: Any) -> Any:
    return x if isinstance(x, Tracer) else np.asarray(x)


def normalize_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """``axis`` (None, an int or a sequence) as sorted non-negative axes, checked."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < ndim:
            raise ShapeError(f"axis {a} is out of bounds for an array of dimension {ndim}")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"repeated axis in {axis}")
    return tuple(sorted(out))


def no_out(name: str, out: Any) -> None:
    if out is not None:
        raise UnsupportedNumpyFunction(
            f"np.{name}(..., out=...) writes into an array, which a traced program cannot do. "
            "Use the returned value instead."
        )


def reject_kwargs(name: str, kwargs: dict[str, Any]) -> None:
    for key, value in kwargs.items():
        if value is not np._NoValue and value is not None:
            raise UnsupportedNumpyFunction(f"np.{name}: the argument {key}= is not supported")


def traced_replacement(
    ours: Callable[..., Any],
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``make(original)``: a stand-in for a library function (``scipy.special.gammaln``)
    while tracing, that calls ``ours`` when an argument holds a Tracer, else ``original``."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def dispatching(*args: Any, **kwargs: Any) -> Any:
            if any(holds_tracer(a) for a in (*args, *kwargs.values())):
                return ours(*args, **kwargs)
            return original(*args, **kwargs)

        return dispatching

    return make


def holds_tracer(data: Any) -> bool:
    """Whether ``data`` is a Tracer or a (nested) list or tuple containing one."""
    if isinstance(data, Tracer):
        return True
    if isinstance(data, list | tuple):
        return any(holds_tracer(item) for item in data)
    return False
