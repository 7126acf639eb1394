"""Structured control flow with JAX's names, argument orders and semantics.

``scan``, ``fori_loop``, ``while_loop``, ``cond`` and ``switch`` trace their body functions
once (with the NumPy-like Tracers of the frontend, so plain NumPy code works inside) and
record one higher-order equation (``tracegrad/core/control_flow.py``) instead of unrolling
a Python loop.  Called on concrete arrays outside any trace they run at once.  Carries and
outputs are pytrees (``tracegrad.tree``).  See docs/control-flow.md for the rules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .core import control_flow as C
from .core.ir import Aval, Program, SubProgram, Var
from .core.passes import optimize
from .core.tracing import Tracer, trace_flat
from .errors import ControlFlowError
from .frontend.constructors import traced_constructors
from .frontend.tracer import box
from .signature import function_name
from .tree import TreeDef, tree_flatten, tree_unflatten

__all__ = ["cond", "fori_loop", "scan", "switch", "while_loop"]


def _aval(leaf: Any) -> Aval:
    return leaf.aval if isinstance(leaf, Tracer) else Aval.of(leaf)


def _trace(
    f: Callable, trees: Sequence[TreeDef], avals: Sequence[Aval]
) -> tuple[Program, list[Tracer], Any]:
    """Trace ``f(*pytrees)`` over leaves of ``avals``; the program's inputs are the values it
    closed over (consts) first, then the leaves.  Returns it, the consts and the output."""
    found: dict[str, Any] = {}

    def flat_fn(*tracers: Tracer) -> list[Any]:
        it = iter(tracers)
        args = [tree_unflatten(t, [next(it) for _ in range(t.num_leaves)]) for t in trees]
        found["out"] = out = f(*args)
        leaves, found["tree"] = tree_flatten(out)
        return leaves

    with traced_constructors():
        program, captured = trace_flat(flat_fn, list(avals), box)
    n = len(avals)
    closed = Program(program.inputs[n:] + program.inputs[:n], program.eqns, program.outputs)
    return optimize(closed), captured, found


def _out_avals_error(what: str, f: Callable, got: Sequence[Aval], want: Sequence[Aval]) -> None:
    if list(got) != list(want):
        raise ControlFlowError(
            f"{what} {function_name(f)} has types ({', '.join(map(str, got))}) but must "
            f"match ({', '.join(map(str, want))}). Cast with .astype(...) or build the initial "
            "value with the dtype and shape the body returns."
        )


def _same_tree(what: str, f: Callable, got: TreeDef, want: TreeDef) -> None:
    if got != want:
        raise ControlFlowError(f"{what} {function_name(f)} has structure {got}, expected {want}.")


# =============================================================================================
# scan


def scan(
    f: Callable[[Any, Any], tuple[Any, Any]],
    init: Any,
    xs: Any = None,
    length: int | None = None,
    reverse: bool = False,
    unroll: int = 1,
) -> tuple[Any, Any]:
    """Loop ``carry, y = f(carry, x)`` over the leading axis of ``xs``; return the final carry
    and the ``y``s stacked.  ``unroll`` is accepted for JAX compatibility; it does not change
    the result (the loop is never unrolled)."""
    # scan(tg.checkpoint(f), ...): store only the carries, recompute each step backwards.
    remat = hasattr(f, "checkpointed")
    f = getattr(f, "checkpointed", f)
    init_leaves, init_tree = tree_flatten(init)
    x_leaves, x_tree = tree_flatten(xs)
    length = _scan_length(x_leaves, length)
    carry_avals = [_aval(v) for v in init_leaves]
    x_avals = [Aval(_aval(v).shape[1:], _aval(v).dtype) for v in x_leaves]

    def body(carry: Any, x: Any) -> list:
        out = f(carry, x)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise ControlFlowError(
                f"the scan body {function_name(f)} must return a pair (carry, y), "
                f"got {type(out).__name__}."
            )
        return list(out)

    program, consts, found = _trace(body, [init_tree, x_tree], carry_avals + x_avals)
    (carry_tree, y_tree) = found["tree"].children if found["tree"].children else (None, None)
    _same_tree("the carry returned by the scan body", f, carry_tree, init_tree)
    n_carry = len(init_leaves)
    _out_avals_error("the carry returned by", f, program.out_avals[:n_carry], carry_avals)
    args = [*consts, *init_leaves, *x_leaves]
    outs = C.bind_scan(args, program, len(consts), n_carry, length, bool(reverse), remat)
    return tree_unflatten(init_tree, outs[:n_carry]), tree_unflatten(y_tree, outs[n_carry:])


def _scan_length(x_leaves: list, length: int | None) -> int:
    lengths = {_aval(x).shape[0] if _aval(x).shape else None for x in x_leaves}
    if None in lengths:
        raise ControlFlowError("scan's xs must be arrays with a leading axis to loop over.")
    if length is not None:
        lengths.add(int(length))
    if len(lengths) > 1:
        raise ControlFlowError(
            f"scan's xs and length disagree on the trip count: {sorted(lengths)}"
        )
    if not lengths:
        raise ControlFlowError("scan needs xs or length to know its trip count.")
    return lengths.pop()


# =============================================================================================
# fori_loop and while_loop


def _static_int(value: Any) -> int | None:
    if isinstance(value, Tracer):
        return None
    array = np.asarray(value)
    if array.shape != () or array.dtype.kind not in "iu":
        raise ControlFlowError(
            f"fori_loop bounds must be integer scalars, got {array.dtype}{list(array.shape)}"
        )
    return int(array)


def fori_loop(lower: Any, upper: Any, body_fun: Callable[[Any, Any], Any], init_val: Any) -> Any:
    """``val = body_fun(i, val)`` for ``i`` in ``range(lower, upper)``.

    With bounds known when tracing (Python ints) this is a ``scan`` (and can be differentiated
    in reverse mode); with a traced bound it is a ``while_loop``, as in JAX."""
    lo, hi = _static_int(lower), _static_int(upper)
    if lo is not None and hi is not None:
        # The index is an integer carry (not a constant array of T indices): nothing in the
        # program grows with the trip count.
        def step(state: tuple, _: None) -> tuple:
            i, val = state
            return (i + 1, body_fun(i, val)), None

        (_, val), _ = scan(step, (np.int64(lo), init_val), None, length=max(hi - lo, 0))
        return val

    def cond_fun(state: tuple) -> Any:
        return state[0] < state[1]

    def body(state: tuple) -> tuple:
        i, end, val = state
        return i + 1, end, body_fun(i, val)

    start = lower if isinstance(lower, Tracer) else np.int64(lower)
    end = upper if isinstance(upper, Tracer) else np.int64(upper)
    return while_loop(cond_fun, body, (start, end, init_val))[2]


def while_loop(
    cond_fun: Callable[[Any], Any], body_fun: Callable[[Any], Any], init_val: Any
) -> Any:
    """``while cond_fun(val): val = body_fun(val)``; forward only (see docs/control-flow.md)."""
    leaves, tree = tree_flatten(init_val)
    avals = [_aval(v) for v in leaves]
    cond_prog, cond_consts, _ = _trace(cond_fun, [tree], avals)
    body_prog, body_consts, found = _trace(body_fun, [tree], avals)
    _same_tree("the value returned by while_loop's body_fun", body_fun, found["tree"], tree)
    _out_avals_error("the value returned by", body_fun, body_prog.out_avals, avals)
    if cond_prog.out_avals != [Aval((), np.dtype(bool))]:
        raise ControlFlowError(
            f"while_loop's cond_fun {function_name(cond_fun)} must return one bool scalar, "
            f"got ({', '.join(map(str, cond_prog.out_avals))})."
        )
    outs = C.apply(
        C.while_loop,
        [*cond_consts, *body_consts, *leaves],
        len(leaves),
        cond=SubProgram(cond_prog),
        body=SubProgram(body_prog),
        n_cond=len(cond_consts),
        n_body=len(body_consts),
    )
    return tree_unflatten(tree, outs)


# =============================================================================================
# cond and switch


def switch(index: Any, branches: Sequence[Callable[..., Any]], *operands: Any) -> Any:
    """``branches[index](*operands)``, with ``index`` clamped to the valid range as in JAX;
    only the chosen branch runs.  Every branch must return the same structure and types."""
    if not branches:
        raise ControlFlowError("switch needs at least one branch.")
    leaves, tree = tree_flatten(operands)
    avals = [_aval(v) for v in leaves]
    traced = [_trace(lambda args, b=b: b(*args), [tree], avals) for b in branches]
    first_tree = traced[0][2]["tree"]
    for b, (prog, _, found) in zip(branches, traced, strict=True):
        _same_tree("the output of branch", b, found["tree"], first_tree)
        _out_avals_error("the output of branch", b, prog.out_avals, traced[0][0].out_avals)
    consts = list({id(t): t for _, captured, _ in traced for t in captured}.values())
    programs = tuple(SubProgram(_over(prog, captured, consts)) for prog, captured, _ in traced)
    which = _as_index(index)
    outs = C.apply(
        C.switch, [which, *leaves, *consts], len(traced[0][0].outputs), branches=programs
    )
    return tree_unflatten(first_tree, outs)


def _over(program: Program, captured: list[Tracer], consts: list[Tracer]) -> Program:
    """``program`` with inputs (*operands, *consts): every branch takes the union of what the
    branches closed over, and ignores what it does not read."""
    own = dict(zip(map(id, captured), program.inputs[: len(captured)], strict=True))
    extra = [own.get(id(t)) or Var(t.aval) for t in consts]
    return Program(program.inputs[len(captured) :] + extra, program.eqns, program.outputs)


def _as_index(index: Any) -> Any:
    if isinstance(index, Tracer):
        if index.shape != ():
            raise ControlFlowError(
                f"switch/cond need a scalar index or predicate, got {index.aval}"
            )
        return index if index.dtype.kind in "iu" else index.astype(np.int64)
    array = np.asarray(index)
    if array.shape != ():
        raise ControlFlowError(
            f"switch/cond need a scalar index or predicate, got shape {array.shape}"
        )
    return array.astype(np.int64)


def cond(
    pred: Any, true_fun: Callable[..., Any], false_fun: Callable[..., Any], *operands: Any
) -> Any:
    """``true_fun(*operands) if pred else false_fun(*operands)``; ``pred`` may be traced."""
    if isinstance(pred, Tracer) and pred.dtype.kind != "b":
        pred = pred != 0
    elif not isinstance(pred, Tracer):
        pred = np.asarray(pred) != 0
    return switch(pred, [false_fun, true_fun], *operands)
