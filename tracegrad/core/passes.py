"""Optimisation passes over Programs.  Each takes a Program and returns a new one.

Fusion of elementwise work is not a pass here: it is how the code generator
groups equations into loop nests (see tracegrad/backend/schedule.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .ir import Atom, Eqn, Literal, Program, SubProgram, Var, atom_key, check, substitute
from .primitives import Kind, broadcast_shapes
from .scan_passes import hoist_input_products, stack_outer_products
from .tracing import bind


def dce(program: Program) -> Program:
    """Drop equations whose result is never used."""
    live = {a for a in program.outputs if isinstance(a, Var)}
    kept = []
    for eqn in reversed(program.eqns):
        if eqn.out in live:
            kept.append(eqn)
            live.update(a for a in eqn.inputs if isinstance(a, Var))
    kept.reverse()
    return Program(program.inputs, kept, program.outputs)


def cse(program: Program) -> Program:
    """Compute each (primitive, params, inputs) combination once."""
    seen: dict[tuple, Var] = {}
    mapping: dict[Var, Atom] = {}
    eqns = []
    for eqn in program.eqns:
        inputs = substitute(eqn.inputs, mapping)
        operand_keys = tuple(atom_key(a) for a in inputs)
        if eqn.prim.commutative:
            operand_keys = tuple(sorted(operand_keys, key=repr))
        key = (eqn.prim.name, eqn.params_key(), operand_keys)
        if key in seen:
            mapping[eqn.out] = seen[key]
            continue
        seen[key] = eqn.out
        eqns.append(Eqn(eqn.prim, inputs, eqn.out, eqn.params) if inputs != eqn.inputs else eqn)
    return Program(program.inputs, eqns, list(substitute(program.outputs, mapping)))


def _is_scalar_literal(a: Atom, value: float) -> bool:
    return isinstance(a, Literal) and a.value.ndim == 0 and a.value == value


def _passthrough(eqn: Eqn, inputs: tuple[Atom, ...]) -> Atom | None:
    """The operand that equals ``eqn``'s result by its primitive's declared algebra, or None:
    ``f(x, unit)`` (and ``f(unit, x)`` if commutative), or a no-op case of ``noop_if``."""
    prim, out = eqn.prim, eqn.out.aval
    if prim.unit is not None:
        x, y = inputs
        if _is_scalar_literal(y, prim.unit) and x.aval == out:
            return x
        if prim.commutative and _is_scalar_literal(x, prim.unit) and y.aval == out:
            return y
    if prim.noop_if is not None and inputs[0].aval == out and prim.noop_if(**eqn.params):
        return inputs[0]
    return None


def _inner(eqn: Eqn, inputs: tuple[Atom, ...], producers: dict[Var, Eqn]) -> Eqn | None:
    """The equation of ``eqn``'s own primitive that computed its first operand, if any."""
    first = inputs[0] if inputs else None
    inner = producers.get(first) if isinstance(first, Var) else None
    return inner if inner is not None and inner.prim is eqn.prim else None


def _uniform_to_scalar(eqn: Eqn, inputs: tuple[Atom, ...]) -> tuple[Atom, ...]:
    """In elementwise equations, replace a constant array whose entries are all equal by a
    scalar, when the other operands alone already give the output's shape."""
    if not eqn.prim.elementwise:
        return inputs
    changed = list(inputs)
    for i, a in enumerate(inputs):
        if not isinstance(a, Literal) or a.value.ndim == 0 or a.value.size == 0:
            continue
        flat = a.value.reshape(-1)
        if not (flat == flat[0]).all():
            continue
        others = [b.aval.shape for j, b in enumerate(changed) if j != i]
        if broadcast_shapes(*others) == eqn.out.aval.shape:
            changed[i] = Literal.make(flat[0])
    return tuple(changed)


def simplify(program: Program) -> Program:
    """Algebraic identities (x*1, x+0, no-op reshapes, neg of neg) and constant folding.

    Which identities hold is declared on each primitive (``unit``, ``noop_if``,
    ``involution``, ``collapses``); this pass only applies them.
    """
    mapping: dict[Var, Atom] = {}
    producers: dict[Var, Eqn] = {}
    eqns = []
    for eqn in program.eqns:
        inputs = _uniform_to_scalar(eqn, substitute(eqn.inputs, mapping))
        replacement = _passthrough(eqn, inputs)
        inner = _inner(eqn, inputs, producers)
        if replacement is None and inner is not None and eqn.prim.involution:
            replacement = inner.inputs[0]  # f(f(x)) = x
        if replacement is None and inner is not None and eqn.prim.collapses:
            inputs = inner.inputs  # f(f(x, **inner), **params) = f(x, **params)
        if replacement is None and all(isinstance(a, Literal) for a in inputs):
            if eqn.out.aval.size <= 1:
                value = bind(eqn.prim, *inputs, **eqn.params)
                replacement = Literal.make(np.asarray(value, eqn.out.aval.dtype))
        if replacement is not None:
            mapping[eqn.out] = replacement
            continue
        new = Eqn(eqn.prim, inputs, eqn.out, eqn.params) if inputs != eqn.inputs else eqn
        producers[eqn.out] = new
        eqns.append(new)
    return Program(program.inputs, eqns, list(substitute(program.outputs, mapping)))


def _loop_key(eqn: Eqn, body: SubProgram) -> tuple:
    params = tuple((k, v) for k, v in eqn.params_key() if k not in ("index", "body"))
    return (eqn.prim.name, body.key, params, tuple(atom_key(a) for a in eqn.inputs))


def share_loops(program: Program) -> Program:
    """Run a loop once when reverse mode made a copy of it that also stores residuals (its
    body ``extends`` the first): the copy moves to the first loop's place and gives both."""
    extending: dict[tuple, list[Eqn]] = {}
    for eqn in program.eqns:
        body = eqn.params.get("body")
        if isinstance(body, SubProgram) and body.extends is not None:
            extending.setdefault(_loop_key(eqn, body.extends), []).append(eqn)
    if not extending:
        return program
    mapping: dict[Var, Atom] = {}
    moved: set[int] = set()
    eqns = []
    for eqn in program.eqns:
        if id(eqn) in moved:
            continue
        body = eqn.params.get("body")
        group = extending.get(_loop_key(eqn, body)) if isinstance(body, SubProgram) else None
        if group is None:
            inputs = substitute(eqn.inputs, mapping)
            eqns.append(Eqn(eqn.prim, inputs, eqn.out, eqn.params) if inputs != eqn.inputs else eqn)
            continue
        members = {m.params["index"]: m for m in group}
        index = eqn.params["index"]
        if index not in members:
            params = {**group[0].params, "index": index}
            group.append(Eqn(group[0].prim, group[0].inputs, Var(eqn.out.aval), params))
            members[index] = group[-1]
        for m in group:
            if id(m) not in moved:
                moved.add(id(m))
                eqns.append(Eqn(m.prim, substitute(m.inputs, mapping), m.out, m.params))
        mapping[eqn.out] = members[index].out
    return Program(program.inputs, eqns, list(substitute(program.outputs, mapping)))


def prune_loops(program: Program) -> Program:
    """Drop the results of loops and branches that no equation reads from their bodies (DCE
    reaching inside): a stacked output nobody reads is neither computed nor stored."""
    used: dict[tuple, set[int]] = {}
    for eqn in program.eqns:
        if eqn.prim.prune is not None:
            used.setdefault(_group(eqn), set()).add(eqn.params["index"])
    renamed: dict[tuple, tuple[dict, dict[int, int]] | None] = {}
    eqns = []
    for eqn in program.eqns:
        if eqn.prim.prune is None:
            eqns.append(eqn)
            continue
        key = _group(eqn)
        if key not in renamed:
            params = {k: v for k, v in eqn.params.items() if k != "index"}
            renamed[key] = eqn.prim.prune(used[key], **params)
        if renamed[key] is None:
            eqns.append(eqn)
            continue
        params, index = renamed[key]
        params = {**params, "index": index[eqn.params["index"]]}
        eqns.append(Eqn(eqn.prim, eqn.inputs, eqn.out, {k: params[k] for k in eqn.params}))
    return Program(program.inputs, eqns, program.outputs)


def _group(eqn: Eqn) -> tuple:
    params = tuple((k, v) for k, v in eqn.params_key() if k != "index")
    return (eqn.prim.name, params, tuple(atom_key(a) for a in eqn.inputs))


PIPELINE: list[tuple[Callable[[Program], Program], str]] = [
    (simplify, "remove identities the adjoint introduces (x*1, x+0, no-op reshapes)"),
    (share_loops, "a loop that reverse mode re-ran to store residuals gives its values too"),
    (cse, "share work between forward and backward sweeps, and between rules"),
    (dce, "drop cotangents and values that no output needs"),
    (prune_loops, "loops stop computing the results that DCE dropped"),
]


def lower(program: Program) -> Program:
    """Prepare a program for execution: drop the markers that only steer differentiation.

    ``stop_gradient`` and ``custom_vjp_call`` equal their first input.  They must stay in
    programs that may be differentiated again, but compiled code needs none of them, and
    without them CSE can share work between a custom rule's forward and the plain one.
    Scans that sum outer products sum them after the loop, in one matrix product, and
    multiply their inputs by loop-invariant matrices before it (``scan_passes``): rewrites
    for speed that a program to be differentiated needs not.
    """
    mapping: dict[Var, Atom] = {}
    eqns = []
    for eqn in program.eqns:
        inputs = substitute(eqn.inputs, mapping)
        if eqn.prim.kind is Kind.GRADIENT_MARKER:
            mapping[eqn.out] = inputs[0]
            continue
        eqns.append(Eqn(eqn.prim, inputs, eqn.out, eqn.params) if inputs != eqn.inputs else eqn)
    lowered = Program(program.inputs, eqns, list(substitute(program.outputs, mapping)))
    return optimize(hoist_input_products(stack_outer_products(lowered)))


def optimize(program: Program, rounds: int = 3) -> Program:
    """Run PIPELINE until nothing changes (at most ``rounds`` times); check the result."""
    for _ in range(rounds):
        before = len(program.eqns)
        for pass_, _why in PIPELINE:
            program = pass_(program)
        if len(program.eqns) == before:
            break
    return check(program)
