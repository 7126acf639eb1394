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

from ..errors import TracerBoolError, TracerConversionError, TracerLeakError
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

    def __init__(self, box: Box) -> None:
        self.box = box  # makes the Tracer that stands for a new Var of this trace
        self.inputs: list[Var] = []
        self.eqns: list[Eqn] = []
        # Tracers of enclosing traces that this function closes over become extra inputs.
        self.captured: dict[int, tuple[Tracer, Var]] = {}

    def new_input(self, aval: Aval, hint: str = "") -> Tracer:
        var = Var(aval, hint=hint)
        self.inputs.append(var)
        return self.box(self, var)

    def to_atom(self, value: Any) -> Atom:
        if isinstance(value, Tracer):
            if value._trace is self:
                return value.node
            if value._trace not in _stack():
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
        aval = prim.abstract_eval(*(a.aval for a in inputs), **params)
        out = Var(aval)
        self.eqns.append(Eqn(prim, inputs, out, params))
        return self.box(self, out)


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
    fn: Callable[..., Sequence[Any]],
    in_avals: Sequence[Aval],
    box: Box | None = None,
    hints: Sequence[str] | None = None,
) -> tuple[Program, list[Tracer]]:
    """Trace ``fn(*tracers) -> flat outputs``, with Tracers made by ``box`` (default: the
    core's plain Tracer, enough for primitives and the rules written with them).

    Returns the program and the enclosing-trace Tracers it closed over; those
    are the program's trailing inputs, after one input per ``in_avals``.
    """
    trace = Trace(box or Tracer)
    hints = hints if hints is not None else [""] * len(in_avals)
    tracers = [trace.new_input(a, h) for a, h in zip(in_avals, hints, strict=True)]
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


def current_box() -> Box | None:
    """The Tracer factory of the innermost trace (rules tracing sub-programs reuse it, so
    user code inside them keeps NumPy-like Tracers), or None outside any trace."""
    stack = _STATE.stack
    return stack[-1].box if stack else None


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
    """Stands for an array while a function is traced.

    The core knows only what every traced value has: its trace, its IR variable, and its
    shape and dtype; and that it has no concrete value.  The NumPy-facing subclasses
    (``tracegrad.frontend.tracer``) add operators, methods and NumPy's dispatch protocols.
    """

    __slots__ = ("_trace", "node")
    __array_priority__ = 1000

    def __init__(self, trace: Trace, var: Var) -> None:
        self._trace = trace
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

    # -- no concrete values while tracing -------------------------------------------------
    def __bool__(self) -> bool:
        raise TracerBoolError(
            f"a traced value {self.aval} was used as a Python bool (in `if`, `while`, `and`/"
            "`or`, `not` or bool()). Its value is not known while tracing. Use "
            "np.where(cond, a, b) to choose between values, tracegrad.cond/switch/"
            "while_loop for control flow on traced values, or pass the flag as a "
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


Box = Callable[[Trace, Var], Tracer]
