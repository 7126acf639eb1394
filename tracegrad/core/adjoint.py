"""Reverse mode: turn a forward Program into a Program that also returns gradients.

The backward pass is an interpreter over the forward program's equations, run
in reverse under a trace: every VJP rule calls primitives, so what comes out is
again a Program (the "adjoint program") that can be optimised, compiled, or
differentiated once more.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import primitives as P
from .interpret import eval_program, group_key
from .ir import Aval, Eqn, Literal, Program, Var, name_var
from .passes import optimize
from .tracing import Box, Tracer, stage, trace_flat


def active_vars(program: Program, wrt: Sequence[int]) -> set[Var]:
    """Variables that depend differentiably on the inputs at positions ``wrt``."""
    active = {program.inputs[i] for i in wrt}
    for eqn in program.eqns:
        if eqn.prim.vjp is None or eqn.out.aval.dtype.kind not in "fc":
            continue
        if any(isinstance(a, Var) and a in active for a in eqn.inputs):
            active.add(eqn.out)
    return active


def zeros(aval: Aval) -> Any:
    """A zero of ``aval``, staged as IR (a broadcast literal) when a trace is active."""
    zero = np.zeros((), aval.dtype)
    if not aval.shape:
        return zero
    return stage(P.broadcast_to, [Literal.make(zero)], {"shape": aval.shape})


def backward_pass(
    program: Program,
    env: dict[Var, Any],
    seeds: Sequence[Any],
    wrt: Sequence[int],
) -> list[Any]:
    """Propagate output cotangents ``seeds`` back to the inputs at positions ``wrt``.

    ``env`` holds the forward values of every variable (arrays or Tracers).  A
    variable used by several equations receives the sum of their cotangents.
    """
    active = active_vars(program, wrt)
    cts: dict[Var, Any] = {}

    def accumulate(var: Var, ct: Any) -> None:
        cts[var] = ct if var not in cts else P.add(cts[var], ct)

    for out, seed in zip(program.outputs, seeds, strict=True):
        if isinstance(out, Var) and out in active and seed is not None:
            accumulate(out, seed)

    def read(a: Any) -> Any:
        return a.value if isinstance(a, Literal) else env[a]

    groups = _groups(program)
    for eqn in reversed(program.eqns):
        if eqn.out not in active:
            continue
        if eqn.prim.vjp_all is not None:
            _group_backward(groups.pop(group_key(eqn), []), cts, read, accumulate, active)
            continue
        ct = cts.pop(eqn.out, None)
        if ct is None:
            continue
        in_cts = eqn.prim.vjp(ct, env[eqn.out], *(read(a) for a in eqn.inputs), **eqn.params)
        for a, in_ct in zip(eqn.inputs, in_cts, strict=True):
            if in_ct is not None and isinstance(a, Var) and a in active:
                accumulate(a, in_ct)

    grads = []
    for i in wrt:
        var = program.inputs[i]
        grads.append(cts[var] if var in cts else zeros(var.aval))
    return grads


def _groups(program: Program) -> dict[tuple, list[Eqn]]:
    groups: dict[tuple, list[Eqn]] = {}
    for eqn in program.eqns:
        if eqn.prim.vjp_all is not None:
            groups.setdefault(group_key(eqn), []).append(eqn)
    return groups


def _group_backward(members: list[Eqn], cts: dict, read: Any, accumulate: Any, active: set) -> None:
    """One backward loop for all results of a loop: every member's cotangent is final when
    the last member (in program order) is reached, since members never read one another."""
    if not members:
        return  # the group was handled at its last member
    group_cts = {m.params["index"]: cts.pop(m.out) for m in members if m.out in cts}
    if not group_cts:
        return
    eqn = members[0]
    params = {k: v for k, v in eqn.params.items() if k != "index"}
    in_cts = eqn.prim.vjp_all(group_cts, *(read(a) for a in eqn.inputs), **params)
    for a, in_ct in zip(eqn.inputs, in_cts, strict=True):
        if in_ct is not None and isinstance(a, Var) and a in active:
            accumulate(a, in_ct)


def joint_program(program: Program, wrt: Sequence[int], box: Box | None = None) -> Program:
    """``inputs -> (*outputs, *d outputs[0] / d inputs[wrt])`` for a scalar first output.

    ``box`` makes the Tracers of the adjoint trace: user rules (custom_vjp) may run on them.
    """
    first = program.out_avals[0]
    if first.shape != () or first.dtype.kind not in "fc":
        raise ValueError(f"the differentiated output must be a scalar, got {first}")

    def joint(*args: Tracer) -> list[Any]:
        env: dict[Var, Any] = {}
        outs = eval_program(program, args, env)
        seeds = [np.ones((), first.dtype)] + [None] * (len(outs) - 1)
        return outs + backward_pass(program, env, seeds, wrt)

    joint_prog, captured = trace_flat(joint, program.in_avals, box, _hints(program.inputs))
    assert not captured, "a forward program cannot close over traced values"
    _name_gradients(joint_prog, program, wrt, first_gradient=len(program.outputs))
    return optimize(joint_prog)


def _hints(variables: Sequence[Var]) -> list[str]:
    return [v.hint for v in variables]


def _name_gradients(
    joint: Program, program: Program, wrt: Sequence[int], first_gradient: int
) -> None:
    """Call each gradient output ``grad_<input>`` after the input it belongs to."""
    for k, i in enumerate(wrt):
        out, hint = joint.outputs[first_gradient + k], program.inputs[i].hint
        if hint and isinstance(out, Var):
            name_var(out, f"grad_{hint}")


def vjp_program(program: Program, wrt: Sequence[int], box: Box | None = None) -> Program:
    """``(*inputs, *output cotangents) -> (*outputs, *input cotangents for wrt)``."""
    n_in = len(program.inputs)

    def joint(*args: Tracer) -> list[Any]:
        env: dict[Var, Any] = {}
        outs = eval_program(program, args[:n_in], env)
        return outs + backward_pass(program, env, args[n_in:], wrt)

    avals = program.in_avals + program.out_avals
    hints = _hints(program.inputs) + [""] * len(program.outputs)
    joint_prog, captured = trace_flat(joint, avals, box, hints)
    assert not captured, "a forward program cannot close over traced values"
    _name_gradients(joint_prog, program, wrt, first_gradient=len(program.outputs))
    return optimize(joint_prog)


def split_program(
    program: Program, n_known: int, first_outputs: Sequence[int]
) -> tuple[Program, Program, int]:
    """Partial evaluation: split ``program`` by what depends on its trailing inputs.

    The first part takes ``inputs[:n_known]`` and returns ``outputs[first_outputs]``
    followed by residuals: the values the second part needs.  The second part takes
    ``residuals + inputs[n_known:]`` and returns the other outputs.  For a vjp program
    this separates the forward sweep (run once) from the backward sweep (run per
    cotangent).  Returns ``(first, second, number of residuals)``.
    """
    unknown = set(program.inputs[n_known:])
    first_eqns, second_eqns = [], []
    for eqn in program.eqns:
        if any(isinstance(a, Var) and a in unknown for a in eqn.inputs):
            second_eqns.append(eqn)
            unknown.add(eqn.out)
        else:
            first_eqns.append(eqn)
    rest = [i for i in range(len(program.outputs)) if i not in set(first_outputs)]
    second_outputs = [program.outputs[i] for i in rest]
    residuals: list[Var] = []
    seen: set[Var] = set()
    for atom in [a for e in second_eqns for a in e.inputs] + second_outputs:
        if isinstance(atom, Var) and atom not in unknown and atom not in seen:
            seen.add(atom)
            residuals.append(atom)
    first = Program(
        program.inputs[:n_known],
        first_eqns,
        [program.outputs[i] for i in first_outputs] + residuals,
    )
    second = Program(residuals + program.inputs[n_known:], second_eqns, second_outputs)
    return optimize(first), optimize(second), len(residuals)
