"""Higher-order primitives: ``scan``, ``while_loop`` and ``switch`` carry closed sub-programs.

Every primitive has one output, so a loop with several results is one equation per result,
told apart by the ``index`` param; the equations of one loop share inputs and other params
(a *group*), and the interpreter and the adjoint run each group once (``impl_all``,
``vjp_all``).  Sub-programs are closed: what a body reads from the enclosing program comes
in as leading inputs (*consts*), so each level of the IR stays straight-line.

Operand layouts (params in brackets):

* ``scan(*consts, *init, *xs)[body, n_consts, n_carry, length, reverse]``: the body maps
  ``(*consts, *carry, *x) -> (*carry, *y)``; the results are the final carry, then each ``y``
  stacked to ``(length, ...)``.
* ``while_loop(*cond_consts, *body_consts, *init)[cond, body, n_cond, n_body]``: results are
  the final carry.
* ``switch(index, *operands)[branches]``: runs ``branches[clip(index)]`` on the operands.

Reverse mode through ``scan`` stores, per step, the residuals of the body's own VJP (found by
splitting the body's VJP program into forward and backward sweeps), and runs the backward
sweep as another ``scan`` in the opposite direction: the backward is IR, so it can be
differentiated again.  ``switch``'s backward is a ``switch`` over the branches' VJPs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ControlFlowError
from .adjoint import split_program, vjp_program
from .interpret import eval_program
from .ir import Aval, Eqn, Literal, Program, SubProgram, Var
from .passes import optimize
from .primitives import Kind, Primitive, add, broadcast_to, reshape
from .tracing import Tracer, bind, current_box, trace_flat


def apply(prim: Primitive, args: Sequence[Any], n_results: int, **params: Any) -> list[Any]:
    """All results of a higher-order primitive: one equation each when tracing, else run."""
    if any(isinstance(a, Tracer) for a in args):
        return [bind(prim, *args, index=k, **params) for k in range(n_results)]
    arrays = [a.value if isinstance(a, Literal) else np.asarray(a) for a in args]
    with np.errstate(all="ignore"):
        return prim.impl_all(*arrays, **params)


def _is_float(aval: Aval) -> bool:
    """Whether values of ``aval`` carry cotangents (real or complex floating point)."""
    return aval.dtype.kind in "fc"


def _same(what: str, got: Sequence[Aval], want: Sequence[Aval]) -> None:
    if list(got) != list(want):
        shown = ", ".join(map(str, got)), ", ".join(map(str, want))
        raise ControlFlowError(f"{what}: got ({shown[0]}), expected ({shown[1]})")


def zeros_like_aval(aval: Aval) -> Any:
    """A zero cotangent, staged (a broadcast scalar) when it is an array."""
    zero = np.zeros((), aval.dtype)
    return zero if not aval.shape else broadcast_to(Literal.make(zero), shape=aval.shape)


# =============================================================================================
# scan


def _scan_avals(
    avals: Sequence[Aval], body: SubProgram, n_consts: int, n_carry: int, length: int
) -> list[Aval]:
    prog = body.program
    if len(avals) != len(prog.inputs):
        raise ControlFlowError(f"scan has {len(avals)} operands, its body {len(prog.inputs)}")
    n_fixed = n_consts + n_carry
    xs = [Aval((length, *a.shape), a.dtype) for a in prog.in_avals[n_fixed:]]
    _same("scan operands (consts and initial carry)", avals[:n_fixed], prog.in_avals[:n_fixed])
    _same("scan's xs (length, ...)", avals[n_fixed:], xs)
    carry_in, carry_out = prog.in_avals[n_consts:n_fixed], prog.out_avals[:n_carry]
    _same("the scan body's carry output differs from its carry input", carry_out, carry_in)
    return carry_out + [Aval((length, *a.shape), a.dtype) for a in prog.out_avals[n_carry:]]


def _scan_rule(*avals: Aval, index: int, **params: Any) -> Aval:
    return _scan_avals(
        avals, params["body"], params["n_consts"], params["n_carry"], params["length"]
    )[index]


def run_scan(run_body: Any, args: Sequence[Any], y_avals: Sequence[Aval], **params: Any) -> list:
    """The scan loop over ``run_body(list of args) -> outputs``: the interpreter passes
    ``eval_program`` on the body, the backend a compiled body."""
    n_consts, n_carry, length = params["n_consts"], params["n_carry"], params["length"]
    consts, carry = list(args[:n_consts]), list(args[n_consts : n_consts + n_carry])
    xs = args[n_consts + n_carry :]
    ys = [np.empty((length, *a.shape), a.dtype) for a in y_avals]
    for t in reversed(range(length)) if params["reverse"] else range(length):
        outs = run_body([*consts, *carry, *(x[t] for x in xs)])
        carry = outs[:n_carry]
        for stacked, y in zip(ys, outs[n_carry:], strict=True):
            stacked[t] = y
    return [np.array(c) for c in carry] + ys


def _scan_impl_all(*args: np.ndarray, body: SubProgram, **params: Any) -> list:
    prog = body.program
    y_avals = prog.out_avals[params["n_carry"] :]
    outs = run_scan(lambda a: eval_program(prog, a), args, y_avals, **params)
    return [
        np.asarray(v, a.dtype) for v, a in zip(outs, _scan_out_avals(body, params), strict=True)
    ]


def _scan_out_avals(body: SubProgram, params: dict) -> list[Aval]:
    prog, n_carry, length = body.program, params["n_carry"], params["length"]
    ys = [Aval((length, *a.shape), a.dtype) for a in prog.out_avals[n_carry:]]
    return prog.out_avals[:n_carry] + ys


def invariant_part(program: Program, n_consts: int) -> tuple[list[Eqn], set[Var]]:
    """The equations of a loop body that read only its consts (the same at every step), and
    the variables they and the consts define."""
    invariant = set(program.inputs[:n_consts])
    eqns = []
    for eqn in program.eqns:
        if eqn.prim.kind is not Kind.CONTROL and all(
            not isinstance(a, Var) or a in invariant for a in eqn.inputs
        ):
            eqns.append(eqn)
            invariant.add(eqn.out)
    return eqns, invariant


def bind_scan(
    args: Sequence[Any],
    body: Program,
    n_consts: int,
    n_carry: int,
    length: int,
    reverse: bool,
    remat: bool = False,
) -> list[Any]:
    """All results of a scan of ``body``, with its loop-invariant equations hoisted out: they
    run once, before the loop, and their values enter the body as extra consts."""
    hoist, invariant = invariant_part(body, n_consts)
    if hoist:
        rest = [e for e in body.eqns if e.out not in invariant]
        read = {a for e in rest for a in e.inputs if isinstance(a, Var)}
        read |= {a for a in body.outputs if isinstance(a, Var)}
        hoisted = [e.out for e in hoist if e.out in read]
        values = eval_program(Program(body.inputs[:n_consts], hoist, hoisted), args[:n_consts])
        body = Program(
            body.inputs[:n_consts] + hoisted + body.inputs[n_consts:], rest, body.outputs
        )
        args = [*args[:n_consts], *values, *args[n_consts:]]
        n_consts += len(hoisted)
    loop = {"n_consts": n_consts, "n_carry": n_carry, "length": length, "reverse": reverse}
    if remat:
        loop["remat"] = True
    return apply(scan, args, len(body.outputs), body=SubProgram(optimize(body)), **loop)


def _scan_vjp_all(cts: dict[int, Any], *args: Any, body: SubProgram, **loop: Any) -> list:
    prog, n_consts, n_carry = body.program, loop["n_consts"], loop["n_carry"]
    n_out = len(prog.outputs)
    wrt = [i for i, v in enumerate(prog.inputs) if _is_float(v.aval)]
    joint = vjp_program(prog, wrt, current_box())
    if loop.get("remat"):
        bwd, residuals, invariant, stored, invariant_values, stacks = _remat(
            joint, prog, args, body, loop
        )
        rows = [r.aval for r in stored]
    else:
        fwd, bwd, _ = split_program(joint, len(prog.inputs), range(n_out))
        residuals = fwd.outputs[n_out:]
        # Residuals computed from consts alone are loop-invariant: computed once, not stored.
        hoist, invariant_vars = invariant_part(fwd, n_consts)
        invariant = [r for r in residuals if r in invariant_vars]
        stored = [r for r in residuals if r not in invariant_vars]
        invariant_values = eval_program(
            Program(fwd.inputs[:n_consts], hoist, invariant), args[:n_consts]
        )
        rows, stacks = _store(fwd, stored, args, body, loop)
    plan = _BackwardPlan(prog, wrt, n_consts, n_carry)
    back = plan.body(bwd, residuals, invariant, stored, rows)
    ct_ys = [
        _ct_or_zero(
            cts, j, Aval((loop["length"], *plan.out_avals[j].shape), plan.out_avals[j].dtype)
        )
        for j in plan.float_ys
    ]
    init = [zeros_like_aval(prog.inputs[i].aval) for i in plan.float_consts]
    init += [_ct_or_zero(cts, i - n_consts, plan.out_avals[i - n_consts]) for i in plan.float_carry]
    outs = bind_scan(
        [*invariant_values, *init, *stacks, *ct_ys],
        back,
        len(invariant),
        len(init),
        loop["length"],
        not loop["reverse"],
    )
    result: list[Any] = [None] * len(args)
    for i, g in zip(plan.float_consts + plan.float_carry + plan.float_xs, outs, strict=True):
        result[i] = g
    return result


def _store(
    fwd: Program, stored: list[Var], args: Sequence[Any], body: SubProgram, loop: dict
) -> tuple[list[Aval], list[Any]]:
    """How the backward loop reads each per-step residual: the shape of the row it gets at
    each step (its body reshapes the row to the residual's) and the stacked rows.

    A step's input (or a reshape of it) is not stored again: the backward loop reads
    ``xs``.  The forward loop stores the others, without their axes of length 1 (a column
    ``h[:, None]`` as ``h``), so that a loop summing outer products of them can read the
    stacks as matrices (``scan_passes``).  That loop runs the forward sweep too; the pass
    ``share_loops`` lets it stand for the plain forward loop, so the forward runs once.
    """
    n_fixed, n_out = loop["n_consts"] + loop["n_carry"], len(body.program.outputs)
    steps = {v: k for k, v in enumerate(fwd.inputs) if k >= n_fixed}
    producers = {e.out: e for e in fwd.eqns}
    eqns, outputs, rows = list(fwd.eqns), [], []
    read: list[tuple[bool, Any]] = []  # (from xs, the operand or the forward result's index)
    for r in stored:
        source = producers.get(r)
        step_input = source.inputs[0] if source is not None and source.prim is reshape else r
        if step_input in steps:
            rows.append(step_input.aval)
            read.append((True, args[steps[step_input]]))
            continue
        row = Aval(tuple(d for d in r.aval.shape if d != 1), r.aval.dtype)
        if row != r.aval:
            eqns.append(Eqn(reshape, (r,), Var(row), {"shape": row.shape}))
        outputs.append(eqns[-1].out if row != r.aval else r)
        rows.append(row)
        read.append((False, len(outputs) - 1))
    with_residuals = Program(fwd.inputs, eqns, fwd.outputs[:n_out] + outputs)
    extended = SubProgram(optimize(with_residuals), extends=body)
    stacked = apply(scan, args, n_out + len(outputs), body=extended, **loop)[n_out:]
    return rows, [value if from_xs else stacked[value] for from_xs, value in read]


def _remat(
    joint: Program, prog: Program, args: Sequence[Any], body: SubProgram, loop: dict
) -> tuple:
    """Checkpointing: the residuals are the body's inputs, so the forward loop stores only
    each step's carry (xs are stored already), and the backward loop recomputes the step
    from them (the whole VJP program of the body, not its backward half)."""
    n_consts, n_carry, n_out = loop["n_consts"], loop["n_carry"], len(prog.outputs)
    n_fixed = n_consts + n_carry
    bwd = Program(joint.inputs, joint.eqns, joint.outputs[n_out:])
    residuals = list(prog.inputs)
    with_carries = Program(prog.inputs, prog.eqns, prog.outputs + prog.inputs[n_consts:n_fixed])
    extended = SubProgram(optimize(with_carries), extends=body)
    carries = apply(scan, args, n_out + n_carry, body=extended, **loop)[n_out:]
    stacks = [*carries, *args[n_fixed:]]
    return bwd, residuals, residuals[:n_consts], residuals[n_consts:], list(args[:n_consts]), stacks


class _BackwardPlan:
    """Which of a scan body's inputs and outputs carry cotangents, and its backward body."""

    def __init__(self, prog: Program, wrt: list[int], n_consts: int, n_carry: int) -> None:
        n_fixed, n_out = n_consts + n_carry, len(prog.outputs)
        self.prog, self.wrt, self.n_consts, self.n_carry = prog, wrt, n_consts, n_carry
        self.out_avals = prog.out_avals
        self.float_consts = [i for i in wrt if i < n_consts]
        self.float_carry = [i for i in wrt if n_consts <= i < n_fixed]
        self.float_xs = [i for i in wrt if i >= n_fixed]
        self.float_ys = [j for j in range(n_carry, n_out) if _is_float(self.out_avals[j])]

    def seeds(self, ct_carry: dict[int, Any], ct_y: dict[int, Any]) -> list[Any]:
        """The body's output cotangents; zeros for the non-float outputs."""
        seeds = []
        for j, aval in enumerate(self.out_avals):
            ct = ct_carry.get(self.n_consts + j) if j < self.n_carry else ct_y.get(j)
            seeds.append(np.zeros(aval.shape, aval.dtype) if ct is None else ct)
        return seeds

    def body(
        self, bwd: Program, residuals: list, invariant: list, stored: list, rows: list[Aval]
    ) -> Program:
        """``(*invariant residuals, *ct accumulators, *carry cts, *stored residuals, *y cts)
        -> (*accumulators, *carry cts, *x cts)``: one step of the backward loop.  A stored
        residual arrives as a row of shape ``rows[k]``, reshaped to its own."""
        prog = self.prog

        def step(*a: Any) -> list[Any]:
            it = iter(a)
            by_res = {r: next(it) for r in invariant}
            acc = [next(it) for _ in self.float_consts]
            ct_carry = {i: next(it) for i in self.float_carry}
            for r in stored:
                row = next(it)
                by_res[r] = row if row.shape == r.aval.shape else reshape(row, shape=r.aval.shape)
            ct_y = {j: next(it) for j in self.float_ys}
            args = [by_res[r] for r in residuals] + self.seeds(ct_carry, ct_y)
            got = dict(zip(self.wrt, eval_program(bwd, args), strict=True))
            sums = [add(s, got[i]) for s, i in zip(acc, self.float_consts, strict=True)]
            return sums + [got[i] for i in self.float_carry + self.float_xs]

        avals = [r.aval for r in invariant]
        avals += [prog.inputs[i].aval for i in self.float_consts + self.float_carry]
        avals += list(rows) + [self.out_avals[j] for j in self.float_ys]
        back, captured = trace_flat(step, avals, current_box())
        assert not captured, "the backward body is closed"
        return back


def _ct_or_zero(cts: dict[int, Any], index: int, aval: Aval) -> Any:
    ct = cts.get(index)
    return zeros_like_aval(aval) if ct is None else ct


def _single_vjp(vjp_all: Any) -> Any:
    def vjp(ct: Any, out: Any, *args: Any, index: int, **params: Any) -> Any:
        return vjp_all({index: ct}, *args, **params)

    return vjp


def _pick(impl_all: Any) -> Any:
    def impl(*args: Any, index: int, **params: Any) -> Any:
        return impl_all(*args, **params)[index]

    return impl


def _scan_prune(used: set[int], *, body: SubProgram, n_carry: int, **params: Any) -> Any:
    # Carries feed the next step, so they stay; stacked outputs nobody reads go.
    prog = body.program
    keep = list(range(n_carry)) + [j for j in range(n_carry, len(prog.outputs)) if j in used]
    if len(keep) == len(prog.outputs):
        return None
    outputs = [prog.outputs[j] for j in keep]
    # No longer an extension with the same result positions: share_loops must not use it.
    pruned = SubProgram(optimize(Program(prog.inputs, prog.eqns, outputs)))
    return {"body": pruned, "n_carry": n_carry, **params}, {j: k for k, j in enumerate(keep)}


scan = Primitive(
    name="scan",
    kind=Kind.CONTROL,
    complex=True,
    shape_rule=_scan_rule,
    impl=_pick(_scan_impl_all),
    impl_all=_scan_impl_all,
    vjp=_single_vjp(_scan_vjp_all),
    vjp_all=_scan_vjp_all,
    prune=_scan_prune,
)


# =============================================================================================
# while_loop


def _while_rule(
    *avals: Aval, cond: SubProgram, body: SubProgram, n_cond: int, n_body: int, index: int
) -> Aval:
    carry = list(avals[n_cond + n_body :])
    _same("while_loop cond_fun's operands", avals[:n_cond] + tuple(carry), cond.program.in_avals)
    if cond.program.out_avals != [Aval((), np.dtype(bool))]:
        raise ControlFlowError(
            f"while_loop's cond_fun must return one bool scalar, got {cond.program.out_avals}"
        )
    _same(
        "while_loop body_fun's operands",
        avals[n_cond : n_cond + n_body] + tuple(carry),
        body.program.in_avals,
    )
    _same(
        "while_loop body_fun's output differs from its input carry", body.program.out_avals, carry
    )
    return carry[index]


def run_while(run_cond: Any, run_body: Any, args: Sequence[Any], n_cond: int, n_body: int) -> list:
    """The while loop over ``run_cond`` and ``run_body`` (interpreted or compiled)."""
    cond_consts, body_consts = list(args[:n_cond]), list(args[n_cond : n_cond + n_body])
    carry = list(args[n_cond + n_body :])
    while bool(run_cond(cond_consts + carry)[0]):
        carry = run_body(body_consts + carry)
    return [np.array(c) for c in carry]


def _while_impl_all(*args: np.ndarray, cond: SubProgram, body: SubProgram, **params: Any) -> list:
    def run_cond(a: list) -> list:
        return eval_program(cond.program, a)

    def run_body(a: list) -> list:
        return eval_program(body.program, a)

    return run_while(run_cond, run_body, args, params["n_cond"], params["n_body"])


def _while_vjp_all(*args: Any, **params: Any) -> list:
    raise ControlFlowError(
        "reverse-mode differentiation of while_loop is not supported: its trip count is not "
        "known when the function is traced, so there is no bound on what the backward loop "
        "must store. Use fori_loop with a trip count known when tracing (Python int bounds), "
        "or scan with a fixed length, for loops that must be differentiated."
    )


while_loop = Primitive(
    name="while_loop",
    kind=Kind.CONTROL,
    complex=True,
    shape_rule=_while_rule,
    impl=_pick(_while_impl_all),
    impl_all=_while_impl_all,
    vjp=_while_vjp_all,
    vjp_all=_while_vjp_all,
)


# =============================================================================================
# switch


def _switch_avals(avals: Sequence[Aval], branches: tuple[SubProgram, ...]) -> list[Aval]:
    which, operands = avals[0], list(avals[1:])
    if which.shape != () or which.dtype.kind not in "iub":
        raise ControlFlowError(f"switch's index must be an integer scalar, got {which}")
    first = branches[0].program.out_avals
    for k, branch in enumerate(branches):
        _same(f"switch branch {k}'s operands", branch.program.in_avals, operands)
        _same(
            f"switch branch {k} returns other shapes or dtypes than branch 0",
            branch.program.out_avals,
            first,
        )
    return first


def _switch_impl_all(
    which: np.ndarray, *operands: np.ndarray, branches: tuple[SubProgram, ...]
) -> list:
    k = int(np.clip(int(which), 0, len(branches) - 1))
    return [np.array(v) for v in eval_program(branches[k].program, list(operands))]


def _switch_vjp_all(
    cts: dict[int, Any], which: Any, *operands: Any, branches: tuple[SubProgram, ...]
) -> list:
    first = branches[0].program
    wrt = [i for i, v in enumerate(first.inputs) if _is_float(v.aval)]
    n_out = len(first.outputs)
    backward = []
    for branch in branches:
        joint = vjp_program(branch.program, wrt, current_box())
        backward.append(
            SubProgram(optimize(Program(joint.inputs, joint.eqns, joint.outputs[n_out:])))
        )
    seeds = [_ct_or_zero(cts, j, a) for j, a in enumerate(first.out_avals)]
    grads = apply(switch, [which, *operands, *seeds], len(wrt), branches=tuple(backward))
    result: list[Any] = [None] * (1 + len(operands))
    for i, g in zip(wrt, grads, strict=True):
        result[1 + i] = g
    return result


switch = Primitive(
    name="switch",
    kind=Kind.CONTROL,
    complex=True,
    shape_rule=lambda which, *ops, branches, index: _switch_avals((which, *ops), branches)[index],
    impl=_pick(_switch_impl_all),
    impl_all=_switch_impl_all,
    vjp=_single_vjp(_switch_vjp_all),
    vjp_all=_switch_vjp_all,
)


def has_control_flow(program: Program) -> bool:
    """Whether ``program`` holds a higher-order equation (compiled code has no loops yet)."""
    return any(e.prim.kind is Kind.CONTROL for e in program.eqns)
