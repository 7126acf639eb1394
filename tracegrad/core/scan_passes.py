"""Rewrites of ``scan`` loops for execution, run by ``passes.lower``.

``stack_outer_products``: a scan carry that only sums outer products,
``c <- c + a_t b_t^T`` (``a_t`` a column ``(m, 1)``, ``b_t`` a row ``(1, n)`` or ``(n,)``),
stops being a carry.  The loop stacks ``a_t`` and ``b_t`` as two more outputs, ``(T, m)``
and ``(T, n)``, and one matrix product after the loop adds them all up:
``c_T = c_0 + A^T B``.  The weight gradients of a backward loop have this form (matmul's VJP
writes an outer product as a broadcast multiply, ``primitives._product``): per step they cost
an ``m x n`` read-modify-write of the sum, and all together one BLAS GEMM that runs many
times faster.  The loop stores ``m + n`` numbers a step more, like the activations reverse
mode stores already.  Sums of several outer products (a weight used twice in the body) are
one product per term.

The rewrite is plain IR (the interpreter runs it too).  The matrix product after the loop
contracts over the trip count, which the generated code reads from the arrays' shapes
(``backend.matmul``), so one compile still serves every trip count.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from .interpret import group_key
from .ir import Atom, Aval, Eqn, Program, SubProgram, Var
from .primitives import Kind, add, matmul, mul, reshape, transpose


def stack_outer_products(program: Program) -> Program:
    """``program`` with every scan carry (nested loops too) that only sums outer products
    turned into stacked outputs and one matrix product after the loop."""
    eqns: list[Eqn] = []
    groups: dict[tuple, bool] = {}  # loop -> whether it was rewritten
    for eqn in program.eqns:
        key = group_key(eqn) if eqn.prim.kind is Kind.CONTROL else None
        if key is None or groups.get(key) is False:
            eqns.append(eqn)
        elif key not in groups:  # the loop's first result: all its results go here
            members = [e for e in program.eqns if e.prim is eqn.prim and group_key(e) == key]
            rewritten = _rewrite_group(members)
            groups[key] = rewritten is not None
            eqns += [eqn] if rewritten is None else rewritten
    if not any(groups.values()):
        return program
    return Program(program.inputs, eqns, program.outputs)


def _rewrite_group(members: list[Eqn]) -> list[Eqn] | None:
    """The equations replacing one loop's results, or None if nothing changes.  Bodies
    (and branches) are rewritten first, so nested loops are too."""
    eqn = members[0]
    params = {k: v for k, v in eqn.params.items() if k != "index"}
    inner = {}
    for name, value in params.items():
        if isinstance(value, SubProgram):
            new = stack_outer_products(value.program)
            inner[name] = value if new is value.program else SubProgram(_optimized(new))
        elif isinstance(value, tuple) and any(isinstance(v, SubProgram) for v in value):
            new_branches = [stack_outer_products(b.program) for b in value]
            inner[name] = tuple(
                b if n is b.program else SubProgram(_optimized(n))
                for b, n in zip(value, new_branches, strict=True)
            )
    nested = any(inner[k] is not params[k] for k in inner)
    params.update(inner)
    if eqn.prim.name == "scan":
        stacked = _stack(members, params)
        if stacked is not None:
            return stacked
    if not nested:
        return None
    return [Eqn(m.prim, m.inputs, m.out, {**params, "index": m.params["index"]}) for m in members]


def _optimized(program: Program) -> Program:
    from .passes import optimize  # passes imports this module

    return optimize(program)


# =============================================================================================
# Finding the sums of outer products


@dataclass(frozen=True)
class _Outer:
    """One term ``column @ row`` of a carry's per-step update."""

    column: Var  # (m, 1)
    row: Var  # (1, n) or (n,)


def _outer_terms(u: Atom, aval: Aval, producers: dict[Var, Eqn]) -> list[_Outer] | None:
    """``u`` as a sum of outer products of shape ``aval``, or None."""
    eqn = producers.get(u) if isinstance(u, Var) else None
    if eqn is None:
        return None
    if eqn.prim is add:
        left, right = (_outer_terms(a, aval, producers) for a in eqn.inputs)
        return None if left is None or right is None else left + right
    if eqn.prim is not mul or not all(isinstance(a, Var) for a in eqn.inputs):
        return None
    m, n = aval.shape
    for column, row in (eqn.inputs, eqn.inputs[::-1]):
        if column.aval.shape == (m, 1) and row.aval.shape in ((1, n), (n,)):
            if column.aval.dtype == row.aval.dtype == aval.dtype:
                return [_Outer(column, row)]
    return None


def _sums_of_outer_products(body: Program, n_consts: int, n_carry: int) -> dict:
    """Carry position -> its outer-product terms, for each carry ``c`` of a real float
    matrix whose only use is ``c + (sum of outer products)``, the new carry, which nothing
    else in the body reads."""
    producers = {e.out: e for e in body.eqns}
    uses: Counter = Counter(a for e in body.eqns for a in e.inputs if isinstance(a, Var))
    uses.update(a for a in body.outputs if isinstance(a, Var))
    found = {}
    for p in range(n_carry):
        c_in, c_out = body.inputs[n_consts + p], body.outputs[p]
        aval = c_in.aval
        if aval.ndim != 2 or aval.dtype not in (np.float32, np.float64):
            continue
        eqn = producers.get(c_out) if isinstance(c_out, Var) else None
        if eqn is None or eqn.prim is not add or uses[c_in] != 1 or uses[c_out] != 1:
            continue
        others = [a for a in eqn.inputs if a is not c_in]
        if len(others) != 1:
            continue
        terms = _outer_terms(others[0], aval, producers)
        if terms:
            found[p] = terms
    return found


# =============================================================================================
# The rewrite


def _new(prim: object, inputs: tuple, out: Var | None = None, **params: object) -> Eqn:
    aval = prim.abstract_eval(*(a.aval for a in inputs), **params)  # type: ignore[attr-defined]
    return Eqn(prim, inputs, out if out is not None else Var(aval), params)  # type: ignore[arg-type]


def _stack(members: list[Eqn], params: dict) -> list[Eqn] | None:
    """The equations of a scan group whose outer-product sums leave the loop, or None."""
    body: Program = params["body"].program
    n_consts, n_carry = params["n_consts"], params["n_carry"]
    found = _sums_of_outer_products(body, n_consts, n_carry)
    if not found:
        return None
    by_index = {m.params["index"]: m for m in members}
    kept = [p for p in range(n_carry) if p not in found]
    eqns = list(body.eqns)
    stacked: dict[tuple, Var] = {}  # (var, vector length) -> the body output stacking it

    def vector(v: Var, length: int) -> Var:
        key = (v, length)
        if key not in stacked:
            if v.aval.shape == (length,):
                stacked[key] = v
            else:
                eqns.append(_new(reshape, (v,), shape=(length,)))
                stacked[key] = eqns[-1].out
        return stacked[key]

    # Each term's column and row, as stacked outputs (sums whose result nobody reads go).
    pairs = {}
    for p, terms in found.items():
        if p in by_index:
            m, n = body.inputs[n_consts + p].aval.shape
            pairs[p] = [(vector(t.column, m), vector(t.row, n)) for t in terms]
    new_ys = list(dict.fromkeys(v for ps in pairs.values() for pair in ps for v in pair))
    outputs = [body.outputs[p] for p in kept] + body.outputs[n_carry:] + new_ys
    inputs = [v for i, v in enumerate(body.inputs) if i - n_consts not in found]
    new_body = SubProgram(_optimized(Program(inputs, eqns, outputs)))
    n_kept, n_ys = len(kept), len(body.outputs) - n_carry
    loop = {**params, "body": new_body, "n_carry": n_kept}
    operands = tuple(a for i, a in enumerate(members[0].inputs) if i - n_consts not in found)

    results: dict[int, Var] = {}

    def result(index: int, out: Var | None = None) -> Var:
        if index not in results:
            rewritten.append(_new(members[0].prim, operands, out, index=index, **loop))
            results[index] = rewritten[-1].out
        return results[index]

    rewritten: list[Eqn] = []
    for j, m in sorted(by_index.items()):
        if j < n_carry and j in kept:
            result(kept.index(j), m.out)
        elif j >= n_carry:
            result(j - n_carry + n_kept, m.out)
    for p, terms in pairs.items():
        total = None
        for column, row in terms:
            a = result(n_kept + n_ys + new_ys.index(column))
            b = result(n_kept + n_ys + new_ys.index(row))
            rewritten.append(_new(transpose, (a,), perm=(1, 0)))
            rewritten.append(_new(matmul, (rewritten[-1].out, b)))
            if total is not None:
                rewritten.append(_new(add, (total, rewritten[-1].out)))
            total = rewritten[-1].out
        init = members[0].inputs[n_consts + p]
        rewritten.append(_new(add, (init, total), by_index[p].out))
    return rewritten
