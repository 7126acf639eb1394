"""Forward mode for programs with ``while_loop``s.

``transforms.jvp`` gets ``J v`` by transposing the VJP, which a ``while_loop`` has not (its
trip count bounds nothing the backward loop could store).  Forward mode needs no storage:
:func:`jvp_program` walks the program, turning each run of other equations into its JVP by
the same transposition (they all have VJPs), and each ``while_loop`` into a ``while_loop``
that carries the tangents beside the values, its body the JVP of the original body.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import control_flow as C
from .adjoint import joint_program, vjp_program
from .complex_primitives import real
from .interpret import eval_program, group_key
from .ir import Aval, Eqn, Literal, Program, SubProgram, Var
from .passes import optimize
from .primitives import add, broadcast_to, convert, mul, reduce_sum
from .tracing import current_box, trace_flat


def _floats(avals: Sequence[Aval]) -> list[int]:
    """The positions of the values that carry tangents: floats and complex numbers."""
    return [i for i, a in enumerate(avals) if a.dtype.kind in "fc"]


def _zeros(aval: Aval) -> Any:
    zero = Literal.make(np.zeros((), aval.dtype))
    return zero.value if not aval.shape else broadcast_to(zero, shape=aval.shape)


def jvp_program(program: Program) -> Program:
    """``(*inputs, *tangents of the float inputs) -> (*outputs, *tangents of the float
    outputs)``."""
    in_floats, out_floats = _floats(program.in_avals), _floats(program.out_avals)
    n_in = len(program.inputs)

    def run(*args: Any) -> list[Any]:
        values: dict[Var, Any] = dict(zip(program.inputs, args[:n_in], strict=True))
        tangents = {program.inputs[i]: t for i, t in zip(in_floats, args[n_in:], strict=True)}
        for step in _steps(program):
            if step[0].prim is C.while_loop:
                _while(step, values, tangents)
            else:
                _straight(step, values, tangents)

        def read(a: Any, table: dict) -> Any:
            return a.value if isinstance(a, Literal) else table[a]

        outs = [read(a, values) for a in program.outputs]
        tangent_outs = []
        for j in out_floats:
            a = program.outputs[j]
            known = isinstance(a, Var) and a in tangents
            tangent_outs.append(tangents[a] if known else _zeros(a.aval))
        return outs + tangent_outs

    avals = program.in_avals + [program.in_avals[i] for i in in_floats]
    result, captured = trace_flat(run, avals, current_box())
    assert not captured, "a program is closed"
    return optimize(result)


def _steps(program: Program) -> list[list[Eqn]]:
    """Runs of equations without while loops, and while loops (all results of one)."""
    steps: list[list[Eqn]] = []
    groups: dict[tuple, list[Eqn]] = {}
    for eqn in program.eqns:
        if eqn.prim is C.while_loop:
            key = group_key(eqn)
            if key not in groups:
                groups[key] = []
                steps.append(groups[key])
            groups[key].append(eqn)
        elif steps and steps[-1][0].prim is not C.while_loop:
            steps[-1].append(eqn)
        else:
            steps.append([eqn])
    return steps


def _straight(step: list[Eqn], values: dict, tangents: dict) -> None:
    """Values and tangents of a run of equations with VJPs, by transposing its VJP."""
    defined = {e.out for e in step}
    reads = list(dict.fromkeys(a for e in step for a in e.inputs if isinstance(a, Var)))
    inputs = [v for v in reads if v not in defined]
    piece = Program(inputs, step, [e.out for e in step])
    jvp = straight_jvp(piece)
    in_floats = _floats(piece.in_avals)
    args = [values[v] for v in inputs]
    args += [
        tangents[inputs[i]] if inputs[i] in tangents else _zeros(inputs[i].aval) for i in in_floats
    ]
    outs = eval_program(jvp, args)
    n_out = len(piece.outputs)
    values.update(zip(piece.outputs, outs[:n_out], strict=True))
    float_outs = [piece.outputs[j] for j in _floats(piece.out_avals)]
    tangents.update(zip(float_outs, outs[n_out:], strict=True))


def straight_jvp(program: Program) -> Program:
    """JVP of a program whose equations all have VJPs: ``J t`` is the gradient, with respect
    to ``u``, of ``<J^T u, t>`` (linear in ``u``, so any ``u`` will do: zeros)."""
    if any(e.prim is C.while_loop for e in program.eqns):
        return jvp_program(program)
    in_floats, out_floats = _floats(program.in_avals), _floats(program.out_avals)
    n_in, n_out = len(program.inputs), len(program.outputs)
    if not in_floats or not out_floats:
        return _no_tangents(program, in_floats, out_floats)
    pullback = vjp_program(program, in_floats, current_box())

    def dot(*args: Any) -> list[Any]:
        x, t, u = args[:n_in], args[n_in : n_in + len(in_floats)], args[n_in + len(in_floats) :]
        seeds = [None] * n_out
        for j, uj in zip(out_floats, u, strict=True):
            seeds[j] = uj
        seeds = [
            _zeros(a) if s is None else s for s, a in zip(seeds, program.out_avals, strict=True)
        ]
        res = eval_program(pullback, [*x, *seeds])
        total: Any = np.zeros((), np.float64)
        for ct, ti in zip(res[n_out:], t, strict=True):
            term = mul(ct, ti)
            if np.ndim(term) or getattr(term, "shape", ()):
                term = reduce_sum(term, axes=tuple(range(len(term.shape))))
            if np.dtype(term.dtype).kind == "c":  # complex values pair as Re sum(a * b)
                term = real(term)
            total = add(total, convert(term, dtype=np.dtype(np.float64)))
        return [total, *res[:n_out]]

    t_avals = [program.in_avals[i] for i in in_floats]
    u_avals = [program.out_avals[j] for j in out_floats]
    traced, _ = trace_flat(dot, program.in_avals + t_avals + u_avals, current_box())
    u_start = n_in + len(in_floats)
    joint = joint_program(traced, range(u_start, u_start + len(u_avals)), current_box())

    def fix_u(*args: Any) -> list[Any]:
        res = eval_program(joint, [*args, *(_zeros(a) for a in u_avals)])
        return res[1 : 1 + n_out] + res[1 + n_out :]

    result, _ = trace_flat(fix_u, program.in_avals + t_avals, current_box())
    return optimize(result)


def _no_tangents(program: Program, in_floats: list[int], out_floats: list[int]) -> Program:
    t_avals = [program.in_avals[i] for i in in_floats]

    def run(*args: Any) -> list[Any]:
        outs = eval_program(program, list(args[: len(program.inputs)]))
        return outs + [_zeros(program.out_avals[j]) for j in out_floats]

    result, _ = trace_flat(run, program.in_avals + t_avals, current_box())
    return optimize(result)


def _while(members: list[Eqn], values: dict, tangents: dict) -> None:
    """A while loop carrying the tangents of its float carries beside them."""
    eqn = members[0]
    cond, body = eqn.params["cond"].program, eqn.params["body"].program
    n_cond, n_body = eqn.params["n_cond"], eqn.params["n_body"]
    args = [a.value if isinstance(a, Literal) else values[a] for a in eqn.inputs]
    cc, bc, init = args[:n_cond], args[n_cond : n_cond + n_body], args[n_cond + n_body :]
    n_carry = len(init)
    body_floats = _floats(body.in_avals)  # tangents of body consts, then of carries
    const_floats = [i for i in body_floats if i < n_body]
    carry_floats = [i - n_body for i in body_floats if i >= n_body]

    def tangent(a: Any) -> Any:
        return tangents[a] if isinstance(a, Var) and a in tangents else _zeros(a.aval)

    consts_in = eqn.inputs[n_cond : n_cond + n_body]
    t_consts = [tangent(consts_in[i]) for i in const_floats]
    t_init = [tangent(eqn.inputs[n_cond + n_body + k]) for k in carry_floats]
    jvp_body = straight_jvp(body)

    def new_body(*a: Any) -> list[Any]:
        consts, tc = a[:n_body], a[n_body : n_body + len(const_floats)]
        rest = a[n_body + len(const_floats) :]
        carry, t_carry = rest[:n_carry], rest[n_carry:]
        by_pos = dict(zip(const_floats, tc, strict=True))
        by_pos.update({n_body + k: t for k, t in zip(carry_floats, t_carry, strict=True)})
        out = eval_program(jvp_body, [*consts, *carry, *(by_pos[i] for i in body_floats)])
        return out  # (*new carry, *tangents of the float carries)

    def new_cond(*a: Any) -> list[Any]:
        return eval_program(cond, list(a[: n_cond + n_carry]))

    carry_avals = body.out_avals + [body.out_avals[k] for k in carry_floats]
    body_avals = body.in_avals[:n_body] + [body.in_avals[i] for i in const_floats] + carry_avals
    body2, _ = trace_flat(new_body, body_avals, current_box())
    cond2, _ = trace_flat(new_cond, cond.in_avals[:n_cond] + carry_avals, current_box())
    outs = C.apply(
        C.while_loop,
        [*cc, *bc, *t_consts, *init, *t_init],
        n_carry + len(carry_floats),
        cond=SubProgram(optimize(cond2)),
        body=SubProgram(optimize(body2)),
        n_cond=n_cond,
        n_body=n_body + len(const_floats),
    )
    for m in members:
        values[m.out] = outs[m.params["index"]]
    for k, t in zip(carry_floats, outs[n_carry:], strict=True):
        for m in members:
            if m.params["index"] == k:
                tangents[m.out] = t
