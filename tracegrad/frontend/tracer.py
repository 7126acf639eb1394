"""The Tracer users' NumPy code sees: operators, array methods and NumPy's dispatch protocols.

``np.sin(t)`` reaches ``__array_ufunc__`` and ``np.sum(t)`` reaches ``__array_function__``;
both look up the tables of ``dispatch``.  ``box`` is the factory that traces started
on user code (and the adjoint traces that may run user rules) pass to the core.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.ir import Var
from ..core.tracing import Trace, Tracer
from ..errors import (
    DTypeError,
    ShapeError,
    TracerBoolError,
    TracerConversionError,
    UnsupportedNumpyFunction,
    library_function,
)
from . import (
    dispatch,
    elementwise,
    indexing,
    products,
    promotion,
    reductions,
    shapes,
)


def _forward(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """The operator method ``self <op> other``, computed as ``fn(self, other)``."""

    def method(self: Tracer, other: Any) -> Any:
        return fn(self, other)

    method.__name__ = fn.__name__
    return method


def _reflected(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """The reflected operator method (``other <op> self``, when ``other`` declines)."""

    def method(self: Tracer, other: Any) -> Any:
        return fn(other, self)

    method.__name__ = "reflected_" + fn.__name__
    return method


_MEMORY = "a traced value has no memory layout; compute with it and return it instead."
_OUTSIDE = "return the array from the function and do this outside it."
_NO_TRACED_MEANING = {
    "base": _MEMORY,
    "ctypes": _MEMORY,
    "data": _MEMORY,
    "flags": _MEMORY,
    "strides": _MEMORY,
    "byteswap": _MEMORY,
    "getfield": _MEMORY,
    "setfield": _MEMORY,
    "setflags": _MEMORY,
    "view": "use x.astype(dtype) to convert, or x.reshape(shape) for another shape.",
    "resize": "use np.reshape, np.pad or np.concatenate to build an array of the new size.",
    "flat": "use x.ravel() (or x.reshape(-1)) and index that.",
    "tobytes": _OUTSIDE,
    "tofile": _OUTSIDE,
    "dump": _OUTSIDE,
    "dumps": _OUTSIDE,
    "device": "traced values live on the CPU; the array API's devices do not apply.",
    "to_device": "traced values live on the CPU; the array API's devices do not apply.",
}


def _in_place(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """``self <op>= other`` as NumPy does it: the result keeps ``self``'s shape and dtype.

    The update is functional (the name is rebound to a new Tracer), but what NumPy refuses
    is refused: a result that would need a larger array, or a cast across kinds.
    """

    def method(self: Tracer, other: Any) -> Any:
        result = fn(self, other)
        if result.shape != self.shape:
            raise ShapeError(
                f"an in-place {fn.__name__} of {self.aval} with an operand of shape "
                f"{promotion.shape_of(other)} gives shape {result.shape}, which does not fit: "
                "NumPy refuses this (non-broadcastable output). Write x = x op y instead."
            )
        if result.dtype != self.dtype:
            if not np.can_cast(result.dtype, self.dtype, casting="same_kind"):
                raise DTypeError(
                    f"an in-place {fn.__name__} of {self.aval} gives {result.dtype}, which NumPy "
                    f"cannot store back into {self.dtype}. Cast first: x = x.astype(float)."
                )
            result = elementwise.astype(result, self.dtype)
        return result

    method.__name__ = "in_place_" + fn.__name__
    return method


class NumpyTracer(Tracer):
    """A traced value that behaves like a NumPy array in user code."""

    __slots__ = ()

    # -- NumPy protocols ----------------------------------------------------------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return dispatch.apply_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        return dispatch.apply_function(func, args, kwargs)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        message = (
            f"a traced array {self.aval} was converted to a NumPy array (assignment into a "
            "NumPy array, an index into a NumPy array, or an array constructor NumPy calls "
            "internally or that was imported under another name). Its value is not known "
            "while tracing. Call np.asarray / np.array as attributes of numpy (they accept "
            "traced values while tracing), keep the computation in NumPy functions on the "
            "traced value, or build the result with np.stack / np.concatenate / np.where "
            "instead of writing into an array."
        )
        library = library_function()
        if library is not None:
            message = f"{library} converted a traced array {self.aval} to a NumPy array: " + (
                dispatch.held_reference_hint(library)
                or "tracegrad has no rule for it. Express it with supported functions "
                "(docs/numpy-support.md lists them), or compute it outside the differentiated "
                "function and pass the result in as an argument."
            )
        elif self.dtype.kind in "iu":
            message += (
                " To index a NumPy array A with this traced integer i, write "
                "np.take_along_axis(A, np.atleast_1d(i), axis=0) instead of A[i]."
            )
        raise TracerConversionError(message)

    # -- operators ------------------------------------------------------------------------
    __add__, __radd__ = _forward(elementwise.add), _reflected(elementwise.add)
    __sub__, __rsub__ = _forward(elementwise.subtract), _reflected(elementwise.subtract)
    __mul__, __rmul__ = _forward(elementwise.multiply), _reflected(elementwise.multiply)
    __truediv__, __rtruediv__ = _forward(elementwise.divide), _reflected(elementwise.divide)
    __floordiv__ = _forward(elementwise.floor_divide)
    __rfloordiv__ = _reflected(elementwise.floor_divide)
    __mod__, __rmod__ = _forward(elementwise.mod), _reflected(elementwise.mod)
    __pow__, __rpow__ = _forward(elementwise.power), _reflected(elementwise.power)
    __matmul__, __rmatmul__ = _forward(products.matmul), _reflected(products.matmul)
    __lt__ = _forward(elementwise.ordered_less)  # complex numbers compare as in NumPy
    __le__ = _forward(elementwise.ordered_less_equal)
    __gt__ = _forward(elementwise.ordered_greater)
    __ge__ = _forward(elementwise.ordered_greater_equal)
    __eq__ = _forward(elementwise.equal)  # type: ignore[assignment]
    __ne__ = _forward(elementwise.not_equal)  # type: ignore[assignment]
    __and__ = _forward(elementwise.logical_and)
    __or__ = _forward(elementwise.logical_or)

    def __neg__(self):
        return elementwise.negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return elementwise.absolute(self)

    def __invert__(self):
        return elementwise.logical_not(self)

    # -- in-place operators are functional: they rebind the name to a new tracer ------------
    __iadd__ = _in_place(elementwise.add)
    __isub__ = _in_place(elementwise.subtract)
    __imul__ = _in_place(elementwise.multiply)
    __itruediv__ = _in_place(elementwise.divide)
    __ipow__ = _in_place(elementwise.power)

    # -- array methods ----------------------------------------------------------------------
    @property
    def T(self):
        return shapes.transpose(self)

    def reshape(self, *shape, order="C"):
        if len(shape) == 1 and isinstance(shape[0], tuple | list):
            shape = tuple(shape[0])
        return shapes.reshape(self, shape, order=order)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], tuple | list):
            axes = tuple(axes[0])
        return shapes.transpose(self, axes or None)

    def sum(self, axis=None, dtype=None, keepdims=False):
        return reductions.sum(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def mean(self, axis=None, dtype=None, keepdims=False):
        return reductions.mean(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return reductions.amax(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return reductions.amin(self, axis=axis, keepdims=keepdims)

    def var(self, axis=None, ddof=0, keepdims=False):
        return reductions.var(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def std(self, axis=None, ddof=0, keepdims=False):
        return reductions.std(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def prod(self, axis=None, keepdims=False):
        return np.prod(self, axis=axis, keepdims=keepdims)

    def cumsum(self, axis=None):
        return np.cumsum(self, axis=axis)

    def cumprod(self, axis=None):
        return np.cumprod(self, axis=axis)

    def argmax(self, axis=None, keepdims=False):
        return np.argmax(self, axis=axis, keepdims=keepdims)

    def argmin(self, axis=None, keepdims=False):
        return np.argmin(self, axis=axis, keepdims=keepdims)

    def argsort(self, axis=-1):
        return np.argsort(self, axis=axis)

    def sort(self, axis=-1):
        # NumPy sorts in place; a Tracer cannot, so rebind it to the sorted value.
        self.node = np.sort(self, axis=axis).node

    def all(self, axis=None, keepdims=False):
        return np.all(self, axis=axis, keepdims=keepdims)

    def any(self, axis=None, keepdims=False):
        return np.any(self, axis=axis, keepdims=keepdims)

    def dot(self, other):
        return products.dot(self, other)

    def __bool__(self) -> bool:
        library = library_function()
        held = dispatch.held_reference_hint(library) if library else None
        if held:  # SciPy's own code of a function tracegrad has its own version of
            raise TracerBoolError(f"{library} used a traced value {self.aval} as a bool: {held}")
        return super().__bool__()

    def astype(self, dtype, copy=True):
        return elementwise.astype(self, dtype)

    def ravel(self, order="C"):
        return shapes.ravel(self, order=order)

    def flatten(self, order="C"):
        return shapes.ravel(self, order=order)

    def squeeze(self, axis=None):
        return shapes.squeeze(self, axis=axis)

    def clip(self, a_min=None, a_max=None):
        return elementwise.clip(self, a_min, a_max)

    def copy(self, order="C"):
        # A new Tracer for the same value: in-place updates of the copy (z[0] = 1, z.sort())
        # rebind only the copy, as with NumPy arrays.
        return self._trace.box(self._trace, self.node)

    # Methods that are NumPy functions of the array: each goes through NumPy's dispatch, so
    # it is supported exactly when the function is (docs/numpy-support.md).
    def swapaxes(self, axis1, axis2):
        return np.swapaxes(self, axis1, axis2)

    def diagonal(self, offset=0, axis1=0, axis2=1):
        return np.diagonal(self, offset, axis1, axis2)

    def take(self, indices, axis=None, mode="raise"):
        return np.take(self, indices, axis=axis, mode=mode)

    def repeat(self, repeats, axis=None):
        return np.repeat(self, repeats, axis=axis)

    def round(self, decimals=0):
        return np.round(self, decimals)

    def trace(self, offset=0, axis1=0, axis2=1, dtype=None):
        return np.trace(self, offset, axis1, axis2, dtype)

    def nonzero(self):
        return np.nonzero(self)

    def searchsorted(self, v, side="left", sorter=None):
        return np.searchsorted(self, v, side=side, sorter=sorter)

    def partition(self, kth, axis=-1):
        self.node = np.partition(self, kth, axis=axis).node

    def argpartition(self, kth, axis=-1):
        return np.argpartition(self, kth, axis=axis)

    def compress(self, condition, axis=None):
        return np.compress(condition, self, axis=axis)

    def choose(self, choices):
        return np.choose(self, choices)

    @property
    def mT(self):  # noqa: N802  (NumPy's name)
        return np.swapaxes(self, -1, -2)

    @property
    def real(self):
        return elementwise.real(self)

    @property
    def imag(self):
        return elementwise.imag(self)

    def conj(self):
        return elementwise.conjugate(self)

    conjugate = conj

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def fill(self, value):
        # In place, like NumPy's: this Tracer now stands for the filled array.
        filled = elementwise.add(
            elementwise.zeros_like(self), elementwise.astype(value, self.dtype)
        )
        self.node = filled.node

    def put(self, indices, values, mode="raise"):
        flat = shapes.reshape(self, (-1,))
        flat[indices] = values
        self.node = shapes.reshape(flat, self.shape).node

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the class lacks: ndarray attributes with no traced meaning.
        if name in _NO_TRACED_MEANING:
            raise UnsupportedNumpyFunction(
                f"ndarray.{name} has no meaning for a traced array {self.aval}: "
                f"{_NO_TRACED_MEANING[name]}"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


class NumpyArrayTracer(NumpyTracer):
    """A Tracer with at least one axis: it can be indexed, iterated and measured with len().

    0-d Tracers lack these on purpose: NumPy treats any object with ``__getitem__`` and
    ``__len__`` as a sequence, which would hide our error for ``array[i] = tracer``.
    """

    __slots__ = ()

    def __len__(self) -> int:
        return self.shape[0]

    def __iter__(self):
        return (self[i] for i in range(self.shape[0]))

    def __getitem__(self, index):
        return indexing.getitem(self, index)

    def __setitem__(self, index, value):
        # A functional update: this Tracer now stands for the updated array.  Other names
        # bound to the same Tracer see the update, as with a NumPy array.
        self.node = indexing.setitem(self, index, value).node


def box(trace: Trace, var: Var) -> NumpyTracer:
    """The Tracer for ``var``: with ``len``, iteration and indexing if it has an axis."""
    return NumpyArrayTracer(trace, var) if var.aval.shape else NumpyTracer(trace, var)
