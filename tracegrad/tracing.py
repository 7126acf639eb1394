"""Tracing: run a plain NumPy function on Tracers and record a Program.

``bind(prim, *args, **params)`` is the one entry point for applying a
primitive.  With concrete arguments it runs the primitive's NumPy
implementation; when a Tracer is among the arguments it records an equation in
the innermost active trace instead.  Gradient rules are written with the same
ops, so running them under a trace stages the backward pass as IR.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .errors import TracerBoolError, TracerConversionError, TracerLeakError
from .ir import Atom, Aval, Eqn, Literal, Program, Var


class _ThreadState(threading.local):
    """Each thread traces independently: the stack of active traces is per thread."""

    def __init__(self) -> None:
        self.stack: list[Trace] = []


_STATE = _ThreadState()


def _stack() -> list[Trace]:
    return _STATE.stack


class Trace:
    """Collects the equations of one program while a function runs on Tracers."""

    def __init__(self) -> None:
        self.inputs: list[Var] = []
        self.eqns: list[Eqn] = []
        # Tracers of enclosing traces that this function closes over become extra inputs.
        self.captured: dict[int, tuple[Tracer, Var]] = {}

    def new_input(self, aval: Aval) -> Tracer:
        var = Var(aval)
        self.inputs.append(var)
        return new_tracer(self, var)

    def to_atom(self, value: Any) -> Atom:
        if isinstance(value, Tracer):
            if value.trace is self:
                return value.node
            if value.trace not in _stack():
                raise TracerLeakError(
                    "a traced value from a finished trace was used: it escaped the function "
                    "being traced (stored in a global, a list or an attribute). Return it "
                    "from the function instead."
                )
            key = id(value)
            if key not in self.captured:
                self.captured[key] = (value, Var(value.aval))
            return self.captured[key][1]
        return constant_atom(value)

    def emit(self, prim: Any, args: Sequence[Any], params: dict[str, Any]) -> Tracer:
        inputs = tuple(self.to_atom(a) for a in args)
        aval = prim.shape_rule(*(a.aval for a in inputs), **params)
        out = Var(aval)
        self.eqns.append(Eqn(prim, inputs, out, params))
        return new_tracer(self, out)


def constant_atom(value: Any) -> Literal:
    if isinstance(value, Literal):
        return value
    if isinstance(value, bool | int | float) and not isinstance(value, np.generic):
        return Literal.make(value)
    return Literal.make(np.asarray(value))


def bind(prim: Any, *args: Any, **params: Any) -> Any:
    """Apply ``prim``: eagerly on concrete values, or record it when tracing."""
    for a in args:
        if isinstance(a, Tracer):
            stack = _STATE.stack
            if not stack:
                raise TracerLeakError(
                    "a traced value was used after its trace finished: it escaped the traced "
                    "function. Return values from the function instead of storing them."
                )
            return stack[-1].emit(prim, args, params)
    arrays = [a.value if isinstance(a, Literal) else np.asarray(a) for a in args]
    aval = prim.shape_rule(*(Aval(x.shape, x.dtype) for x in arrays), **params)
    # Like compiled code, follow IEEE arithmetic (inf, nan) without NumPy's warnings.
    with np.errstate(all="ignore"):
        result = np.asarray(prim.impl(*arrays, **params))
    if result.dtype != aval.dtype:
        result = result.astype(aval.dtype)
    return result


def trace_flat(
    fn: Callable[..., Sequence[Any]], in_avals: Sequence[Aval]
) -> tuple[Program, list[Tracer]]:
    """Trace ``fn(*tracers) -> flat outputs``.

    Returns the program and the enclosing-trace Tracers it closed over; those
    are the program's trailing inputs, after one input per ``in_avals``.
    """
    trace = Trace()
    tracers = [trace.new_input(a) for a in in_avals]
    stack = _STATE.stack
    stack.append(trace)
    try:
        outs = fn(*tracers)
        out_atoms = [trace.to_atom(o) for o in outs]
    finally:
        stack.pop()
    captured = list(trace.captured.values())
    program = Program(
        inputs=trace.inputs + [var for _, var in captured],
        eqns=trace.eqns,
        outputs=out_atoms,
    )
    return program, [t for t, _ in captured]


def is_tracing() -> bool:
    return bool(_STATE.stack)


def stage(prim: Any, args: Sequence[Any], params: dict[str, Any]) -> Any:
    """Like ``bind``, but record the equation even when no argument is a Tracer.

    Used for values that must stay symbolic while tracing (zeros that are updated in
    place, or that would otherwise be folded into large constant arrays).
    """
    stack = _STATE.stack
    if not stack:
        return bind(prim, *args, **params)
    return stack[-1].emit(prim, args, params)


class Tracer:
    """Stands for an array while a function is traced; NumPy calls on it record IR."""

    __slots__ = ("trace", "node")
    __array_priority__ = 1000

    def __init__(self, trace: Trace, var: Var) -> None:
        self.trace = trace
        self.node = var

    # -- what is known statically ---------------------------------------------------------
    @property
    def aval(self) -> Aval:
        return self.node.aval

    @property
    def shape(self) -> tuple[int, ...]:
        return self.node.aval.shape

    @property
    def dtype(self) -> np.dtype:
        return self.node.aval.dtype

    @property
    def ndim(self) -> int:
        return len(self.node.aval.shape)

    @property
    def size(self) -> int:
        return self.node.aval.size

    def __repr__(self) -> str:
        return f"Tracer<{self.aval}>"

    # -- NumPy protocols ----------------------------------------------------------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return numpy_api.apply_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        return numpy_api.apply_function(func, args, kwargs)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TracerConversionError(
            f"a traced array {self.aval} was converted to a NumPy array (assignment into a "
            "NumPy array, or an array constructor NumPy calls internally or that was imported "
            "under another name). Its value is not known while tracing. Call np.asarray / "
            "np.array as attributes of numpy (they accept traced values while tracing), keep "
            "the computation in NumPy functions on the traced value, or build the result "
            "with np.stack / np.concatenate / np.where instead of writing into an array."
        )

    # -- no concrete values while tracing -------------------------------------------------
    def __bool__(self) -> bool:
        raise TracerBoolError(
            f"a traced value {self.aval} was used as a Python bool (in `if`, `while`, `and`/"
            "`or`, `not` or bool()). Its value is not known while tracing. Use "
            "np.where(cond, a, b) to choose between values, or pass the flag as a "
            "non-differentiated Python bool/int argument."
        )

    def _conversion(self, kind: str) -> TracerConversionError:
        return TracerConversionError(
            f"a traced value {self.aval} was converted with {kind}; its value is not known "
            "while tracing. Use NumPy functions (np.sin, np.exp, ...) on it instead of the "
            "math module or Python number conversions."
        )

    def __float__(self) -> float:
        raise self._conversion("float(), a math.* function, or assignment into a NumPy array")

    def __int__(self) -> int:
        raise self._conversion("int()")

    def __index__(self) -> int:
        raise self._conversion("int() / use as an index")

    def __complex__(self) -> complex:
        raise self._conversion("complex()")

    def item(self) -> Any:
        raise self._conversion(".item()")

    def tolist(self) -> Any:
        raise self._conversion(".tolist()")

    __hash__ = object.__hash__

    # -- operators ------------------------------------------------------------------------
    def __add__(self, other):
        return numpy_api.add(self, other)

    def __radd__(self, other):
        return numpy_api.add(other, self)

    def __sub__(self, other):
        return numpy_api.subtract(self, other)

    def __rsub__(self, other):
        return numpy_api.subtract(other, self)

    def __mul__(self, other):
        return numpy_api.multiply(self, other)

    def __rmul__(self, other):
        return numpy_api.multiply(other, self)

    def __truediv__(self, other):
        return numpy_api.divide(self, other)

    def __rtruediv__(self, other):
        return numpy_api.divide(other, self)

    def __floordiv__(self, other):
        return np.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return np.floor_divide(other, self)

    def __mod__(self, other):
        return np.mod(self, other)

    def __rmod__(self, other):
        return np.mod(other, self)

    def __pow__(self, other):
        return numpy_api.power(self, other)

    def __rpow__(self, other):
        return numpy_api.power(other, self)

    def __matmul__(self, other):
        return numpy_api.matmul(self, other)

    def __rmatmul__(self, other):
        return numpy_api.matmul(other, self)

    def __neg__(self):
        return numpy_api.negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return numpy_api.absolute(self)

    def __lt__(self, other):
        return numpy_api.less(self, other)

    def __le__(self, other):
        return numpy_api.less_equal(self, other)

    def __gt__(self, other):
        return numpy_api.greater(self, other)

    def __ge__(self, other):
        return numpy_api.greater_equal(self, other)

    def __eq__(self, other):  # type: ignore[override]
        return numpy_api.equal(self, other)

    def __ne__(self, other):  # type: ignore[override]
        return numpy_api.not_equal(self, other)

    def __and__(self, other):
        return numpy_api.logical_and(self, other)

    def __or__(self, other):
        return numpy_api.logical_or(self, other)

    def __invert__(self):
        return numpy_api.logical_not(self)

    # -- in-place operators are functional: they rebind the name to a new tracer ------------
    __iadd__ = __add__
    __isub__ = __sub__
    __imul__ = __mul__
    __itruediv__ = __truediv__
    __ipow__ = __pow__

    # -- array methods ----------------------------------------------------------------------
    @property
    def T(self):
        return numpy_api.transpose(self)

    def reshape(self, *shape, order="C"):
        if len(shape) == 1 and isinstance(shape[0], tuple | list):
            shape = tuple(shape[0])
        return numpy_api.reshape(self, shape, order=order)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], tuple | list):
            axes = tuple(axes[0])
        return numpy_api.transpose(self, axes or None)

    def sum(self, axis=None, dtype=None, keepdims=False):
        return numpy_api.sum(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def mean(self, axis=None, dtype=None, keepdims=False):
        return numpy_api.mean(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return numpy_api.amax(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return numpy_api.amin(self, axis=axis, keepdims=keepdims)

    def var(self, axis=None, ddof=0, keepdims=False):
        return numpy_api.var(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def std(self, axis=None, ddof=0, keepdims=False):
        return numpy_api.std(self, axis=axis, ddof=ddof, keepdims=keepdims)

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
        return numpy_api.dot(self, other)

    def astype(self, dtype, copy=True):
        return numpy_api.astype(self, dtype)

    def ravel(self):
        return numpy_api.reshape(self, (-1,))

    def flatten(self):
        return numpy_api.reshape(self, (-1,))

    def squeeze(self, axis=None):
        return numpy_api.squeeze(self, axis=axis)

    def clip(self, a_min=None, a_max=None):
        return numpy_api.clip(self, a_min, a_max)

    def copy(self, order="C"):
        # A new Tracer for the same value: in-place updates of the copy (z[0] = 1, z.sort())
        # rebind only the copy, as with NumPy arrays.
        return new_tracer(self.trace, self.node)


class ArrayTracer(Tracer):
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
        return numpy_api.getitem(self, index)

    def __setitem__(self, index, value):
        # A functional update: this Tracer now stands for the updated array.  Other names
        # bound to the same Tracer see the update, as with a NumPy array.
        self.node = numpy_api.setitem(self, index, value).node


def new_tracer(trace: Trace, var: Var) -> Tracer:
    return ArrayTracer(trace, var) if var.aval.shape else Tracer(trace, var)


# numpy_api builds on Tracer and the primitives, so it cannot be imported here; it installs
# itself into this name when it is imported (tracegrad/__init__ imports it).
numpy_api: Any = None
