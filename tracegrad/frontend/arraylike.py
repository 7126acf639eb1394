"""Conversions, dtype queries and constructors called with ``like=`` a traced array.

A traced array is always contiguous and never shares memory with a NumPy array, so the
layout conversions (``ascontiguousarray``, ``asfortranarray``, ``require``) only cast, and
the memory queries answer from that.  Constructors given ``like=`` a Tracer build their
array from the arguments known while tracing: ``zeros``/``ones``/``empty``/``full`` give
traced arrays (so they can be updated in place, like ``zeros_like``), ``eye``, ``identity``,
``tri`` and ``arange`` NumPy constants.  ``arange`` needs its bounds known while tracing:
its length would depend on traced values otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..core import primitives as P
from ..core.tracing import Tracer, stage
from ..errors import UnsupportedNumpyFunction
from .elementwise import add, astype, full_like, less, log10, multiply, where
from .indexing import getitem
from .promotion import (
    asarray_like,
    cast,
    dtype_of,
    holds_tracer,
    is_python_scalar,
    promote,
    shape_of,
)
from .shapes import broadcast_to, concatenate, logspace, reshape

# =============================================================================================
# Conversions and dtype queries


def ascontiguousarray(a: Any, dtype: Any = None, **kwargs: Any) -> Any:
    a = asarray_like(a) if dtype is None else astype(a, dtype)
    return reshape(a, (1,)) if not shape_of(a) else a  # NumPy: at least one dimension


def asarray_cast(a: Any, dtype: Any = None, *args: Any, **kwargs: Any) -> Any:
    """``asanyarray`` / ``asfortranarray``: a traced array has no layout to change."""
    return asarray_like(a) if dtype is None else astype(a, dtype)


def require(a: Any, dtype: Any = None, requirements: Any = None, **kwargs: Any) -> Any:
    return asarray_cast(a, dtype)


def astype_(x: Any, dtype: Any, /, *, copy: bool = True, device: Any = None) -> Any:
    return astype(x, dtype)


def _dtype_proxy(x: Any) -> Any:
    """What NumPy's dtype functions see: the dtype of an array, a Python number itself."""
    if isinstance(x, Tracer):
        return x.dtype
    return x if is_python_scalar(x) or isinstance(x, np.dtype | type | str) else np.asarray(x)


def result_type(*arrays_and_dtypes: Any) -> np.dtype:
    return np.result_type(*(_dtype_proxy(x) for x in arrays_and_dtypes))


def can_cast(from_: Any, to: Any, casting: str = "safe") -> bool:
    return bool(np.can_cast(_dtype_proxy(from_), to, casting))


def min_scalar_type(a: Any) -> np.dtype:
    if isinstance(a, Tracer):
        if a.ndim == 0:
            raise UnsupportedNumpyFunction(
                "np.min_scalar_type of a traced scalar depends on its value; use x.dtype."
            )
        return a.dtype  # for arrays NumPy answers with the array's own dtype
    return np.min_scalar_type(a)


def common_type(*arrays: Any) -> type:
    return np.common_type(*(np.empty(0, dtype_of(a)) for a in arrays))


def iscomplexobj(x: Any) -> bool:
    return dtype_of(x).kind == "c"


def isrealobj(x: Any) -> bool:
    return not iscomplexobj(x)


def may_share_memory(a: Any, b: Any, max_work: Any = None) -> bool:
    """Traced values are never views of each other: an in-place update rebinds a name."""
    return False


def broadcast_arrays(*args: Any, subok: bool = False) -> tuple[Any, ...]:
    shape = np.broadcast_shapes(*(shape_of(a) for a in args))
    return tuple(broadcast_to(asarray_like(a), shape) for a in args)


def einsum_path(subscripts: str, *operands: Any, **kwargs: Any) -> Any:
    """The contraction order depends on shapes only: NumPy plans it on stand-in arrays."""
    return np.einsum_path(subscripts, *(np.empty(shape_of(o), dtype_of(o)) for o in operands),
                          **kwargs)  # fmt: skip


# =============================================================================================
# Constructors with like=


def _shape(shape: Any) -> tuple[int, ...]:
    return (int(shape),) if np.ndim(shape) == 0 else tuple(int(n) for n in shape)


def _traced_zeros(shape: tuple[int, ...], dtype: Any) -> Any:
    """Zeros staged into the running trace (a 0-d one stays a NumPy constant)."""
    if not shape:
        return np.zeros((), dtype)
    return stage(P.broadcast_to, [np.zeros((), dtype)], {"shape": shape})


def zeros_(shape: Any, dtype: Any = float, *args: Any, **kwargs: Any) -> Any:
    return _traced_zeros(_shape(shape), np.dtype(dtype))


def ones(shape: Any, dtype: Any = None, *args: Any, **kwargs: Any) -> Any:
    return full(shape, 1, dtype)


def full(shape: Any, fill_value: Any, dtype: Any = None, *args: Any, **kwargs: Any) -> Any:
    shape = _shape(shape)
    if holds_tracer(fill_value):
        fill = asarray_like(fill_value)
        return broadcast_to(fill if dtype is None else astype(fill, dtype), shape)
    dtype = np.dtype(dtype) if dtype is not None else np.asarray(fill_value).dtype
    filled = _traced_zeros(shape, dtype)
    return add(filled, cast(np.asarray(fill_value), dtype)) if np.any(fill_value) else filled


def empty_like(prototype: Any, dtype: Any = None, *args: Any, **kwargs: Any) -> Any:
    """Zeros: a trace has no uninitialised memory to hand out."""
    return full_like(prototype, 0, dtype=dtype)


def _constant(make: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    def constant(*args: Any, **kwargs: Any) -> np.ndarray:
        if holds_tracer(list(args)) or holds_tracer(list(kwargs.values())):
            raise UnsupportedNumpyFunction(
                f"np.{make.__name__} with traced arguments: its shape would depend on traced "
                "values. Pass numbers known while tracing (shapes are static in tracegrad)."
            )
        return make(*args, **kwargs)

    constant.__name__ = make.__name__
    return constant


def fromfunction(function: Callable[..., Any], shape: Any, *, dtype: Any = float,
                 **kwargs: Any) -> Any:  # fmt: skip
    """``function`` called once on the index grids, as NumPy does."""
    return function(*np.indices(_shape(shape), dtype=dtype), **kwargs)


def geomspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True, dtype: Any = None,
              axis: int = 0) -> Any:  # fmt: skip
    """Scalar endpoints of one sign: ``logspace`` of their logarithms, with the ends exact
    (as NumPy makes them)."""
    if shape_of(start) or shape_of(stop):
        raise UnsupportedNumpyFunction("np.geomspace with array endpoints is not supported")
    start, stop = promote(start, stop, float_only=True)
    sign = where(less(start, 0), -1.0, 1.0)
    values = multiply(sign, logspace(log10(multiply(sign, start)), log10(multiply(sign, stop)),
                                     num, endpoint))  # fmt: skip
    if num > 0:
        ends = [reshape(start, (1,)), getitem(values, slice(1, num - 1 if endpoint else None))]
        values = concatenate(ends + ([reshape(stop, (1,))] if endpoint and num > 1 else []))
    return astype(values, dtype) if dtype is not None else values


IMPLEMENTS: dict[Callable[..., Any], Callable[..., Any]] = {
    np.ascontiguousarray: ascontiguousarray,
    np.asfortranarray: asarray_cast,
    np.asanyarray: asarray_cast,
    np.require: require,
    np.astype: astype_,
    np.result_type: result_type,
    np.can_cast: can_cast,
    np.min_scalar_type: min_scalar_type,
    np.common_type: common_type,
    np.iscomplexobj: iscomplexobj,
    np.isrealobj: isrealobj,
    np.may_share_memory: may_share_memory,
    np.shares_memory: may_share_memory,
    np.broadcast_arrays: broadcast_arrays,
    np.einsum_path: einsum_path,
    np.zeros: zeros_,
    np.empty: zeros_,
    np.ones: ones,
    np.full: full,
    np.empty_like: empty_like,
    np.eye: _constant(np.eye),
    np.identity: _constant(np.identity),
    np.tri: _constant(np.tri),
    np.arange: _constant(np.arange),
    np.fromfunction: fromfunction,
    np.geomspace: geomspace,
}
