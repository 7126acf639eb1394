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

``hoist_input_products``: a product ``x_t @ C`` of a step's input (a vector) by a matrix
the body closes over does not depend on the carry.  It is computed before the loop by a
map (a scan without carry) over the same ``xs``, which ``backend.fused_loops`` runs as one
GEMM ``xs @ C``, and the loop reads its rows as inputs of their own: the input projection of
an RNN costs one BLAS call per sequence instead of one per step.

Both rewrites are plain IR (the interpreter runs them too), made where a program is
prepared to run; a program to be differentiated keeps its loops as written.  The products
over the steps read the trip count from the arrays' shapes (``backend.matmul``,
``fused_loops``), so one compile still serves every trip count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .interpret import group_key
from .ir import Atom, Aval, Eqn, Literal, Program, SubProgram, Var
from .primitives import Kind, add, matmul, mul, reshape, transpose


def stack_outer_products(program: Program) -> Program:
    """``program`` with every scan carry (nested loops too) that only sums outer products
    turned into stacked outputs and one matrix product after the loop."""
    return _rewrite_scans(program, _stack)


def hoist_input_products(program: Program) -> Program:
    """``program`` with each scan's products of a step's input by a loop-invariant matrix
    computed before the loop, for all the steps at once (nested loops too)."""
    return _rewrite_scans(program, _hoist)


Rule = Callable[[list[Eqn], dict], "list[Eqn] | None"]


def _rewrite_scans(program: Program, rule: Rule) -> Program:
    """``program`` with ``rule(results of one scan, its params)`` applied to every scan,
    inner loops first; the rule gives the equations replacing the loop's, or None."""
    eqns: list[Eqn] = []
    groups: dict[tuple, bool] = {}  # loop -> whether it was rewritten
    for eqn in program.eqns:
        key = group_key(eqn) if eqn.prim.kind is Kind.CONTROL else None
        if key is None or groups.get(key) is False:
            eqns.append(eqn)
        elif key not in groups:  # the loop's first result: all its results go here
            members = [e for e in program.eqns if e.prim is eqn.prim and group_key(e) == key]
            rewritten = _rewrite_group(members, rule)
            groups[key] = rewritten is not None
            eqns += [eqn] if rewritten is None else rewritten
    if not any(groups.values()):
        return program
    return Program(program.inputs, eqns, program.outputs)


def _rewrite_group(members: list[Eqn], rule: Rule) -> list[Eqn] | None:
    """The equations replacing one loop's results, or None if nothing changes.  Bodies
    (and branches) are rewritten first, so nested loops are too."""
    eqn = members[0]
    params = {k: v for k, v in eqn.params.items() if k != "index"}
    inner = {}
    for name, value in params.items():
        if isinstance(value, SubProgram):
            new = _rewrite_scans(value.program, rule)
            inner[name] = value if new is value.program else SubProgram(_optimized(new))
        elif isinstance(value, tuple) and any(isinstance(v, SubProgram) for v in value):
            new_branches = [_rewrite_scans(b.program, rule) for b in value]
            inner[name] = tuple(
                b if n is b.program else SubProgram(_optimized(n))
                for b, n in zip(value, new_branches, strict=True)
            )
    nested = any(inner[k] is not params[k] for k in inner)
    params.update(inner)
    if eqn.prim.name == "scan":
        rewritten = rule(members, params)
        if rewritten is not None:
            return rewritten
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


def _outer_product(eqn: Eqn, aval: Aval) -> _Outer | None:
    """``eqn`` as a column times a row, broadcast to ``aval``, or None."""
    if eqn.prim is not mul or not all(isinstance(a, Var) for a in eqn.inputs):
        return None
    m, n = aval.shape
    for column, row in (eqn.inputs, eqn.inputs[::-1]):
        if column.aval.shape == (m, 1) and row.aval.shape in ((1, n), (n,)):
            if column.aval.dtype == row.aval.dtype == aval.dtype:
                return _Outer(column, row)
    return None


def _update_terms(
    atom: Atom, carry: Var, producers: dict[Var, Eqn], uses: Counter
) -> tuple[list[_Outer], int] | None:
    """``atom`` as ``carry`` (counted) plus a sum of outer products, or None.  A partial sum
    holding the carry must have no other use: the body would read the carry through it."""
    if atom is carry:
        return [], 1
    eqn = producers.get(atom) if isinstance(atom, Var) else None
    if eqn is None:
        return None
    if eqn.prim is add:
        parts = [_update_terms(a, carry, producers, uses) for a in eqn.inputs]
        if parts[0] is None or parts[1] is None:
            return None
        hits = parts[0][1] + parts[1][1]
        if hits and uses[atom] != 1:
            return None
        return parts[0][0] + parts[1][0], hits
    term = _outer_product(eqn, carry.aval)
    return None if term is None else ([term], 0)


def _sums_of_outer_products(body: Program, n_consts: int, n_carry: int) -> dict:
    """Carry position -> its outer-product terms, for each carry ``c`` of a real float
    matrix whose new value is ``c + (sum of outer products)`` and which the body reads
    nowhere else."""
    producers = {e.out: e for e in body.eqns}
    uses: Counter = Counter(a for e in body.eqns for a in e.inputs if isinstance(a, Var))
    uses.update(a for a in body.outputs if isinstance(a, Var))
    found = {}
    for p in range(n_carry):
        c_in, c_out = body.inputs[n_consts + p], body.outputs[p]
        if c_in.aval.ndim != 2 or c_in.aval.dtype not in (np.float32, np.float64):
            continue
        if uses[c_in] != 1 or not isinstance(c_out, Var):
            continue
        got = _update_terms(c_out, c_in, producers, uses)
        if got is not None and got[1] == 1 and got[0]:
            found[p] = got[0]
    return found


# =============================================================================================
# The rewrite


def _new(prim: object, inputs: tuple, out: Var | None = None, **params: object) -> Eqn:
    aval = prim.abstract_eval(*(a.aval for a in inputs), **params)  # type: ignore[attr-defined]
    return Eqn(prim, inputs, out if out is not None else Var(aval), params)  # type: ignore[arg-type]


def _stack(members: list[Eqn], params: dict) -> list[Eqn] | None:
    """The equations of a scan group whose outer-product sums leave the loop, or None."""
    found = _sums_of_outer_products(params["body"].program, params["n_consts"], params["n_carry"])
    return _Stacking(members, params, found).equations() if found else None


class _Stacking:
    """One scan rewritten: the summing carries go, each term's column and row are stacked
    (as vectors), and a matrix product per term after the loop adds them up."""

    def __init__(self, members: list[Eqn], params: dict, found: dict[int, list[_Outer]]) -> None:
        self.members, self.params, self.found = members, params, found
        self.by_index = {m.params["index"]: m for m in members}
        body: Program = params["body"].program
        self.body, self.n_consts, self.n_carry = body, params["n_consts"], params["n_carry"]
        self.kept = [p for p in range(self.n_carry) if p not in found]
        self.eqns = list(body.eqns)
        self.vectors: dict[tuple[Var, int], Var] = {}  # (column or row, length) -> vector
        # Each term's column and row as vectors (a sum nobody reads is not computed).
        self.pairs = {}
        for p, terms in found.items():
            if p in self.by_index:
                m, n = body.inputs[self.n_consts + p].aval.shape
                self.pairs[p] = [(self.vector(t.column, m), self.vector(t.row, n)) for t in terms]
        self.new_ys = list(self.vectors.values())
        self.rewritten: list[Eqn] = []
        self.results: dict[int, Var] = {}
        self.sources: dict[Var, tuple[bool, int]] = {}  # (from xs, operand or result index)

    def vector(self, v: Var, length: int) -> Var:
        if (v, length) not in self.vectors:
            if v.aval.shape == (length,):
                self.vectors[v, length] = v
            else:
                self.eqns.append(_new(reshape, (v,), shape=(length,)))
                self.vectors[v, length] = self.eqns[-1].out
        return self.vectors[v, length]

    def dropped(self, i: int) -> bool:
        """Whether the body's (and the loop's) operand ``i`` is a carry that goes."""
        return i - self.n_consts in self.found

    def loop_params(self) -> dict:
        """The new loop's params; finds where each stacked vector comes from (``sources``):
        a step's input is read from the loop's own ``xs``, not stacked a second time."""
        body, n_carry, n_kept = self.body, self.n_carry, len(self.kept)
        outputs = [body.outputs[p] for p in self.kept] + body.outputs[n_carry:] + self.new_ys
        inputs = [v for i, v in enumerate(body.inputs) if not self.dropped(i)]
        program = _optimized(Program(inputs, self.eqns, outputs))
        first = n_kept + len(body.outputs) - n_carry  # the new outputs' first index
        steps = {v: i for i, v in enumerate(program.inputs) if i >= self.n_consts + n_kept}
        kept_outputs = program.outputs[:first]
        for k, v in enumerate(program.outputs[first:]):
            if v in steps:
                self.sources[self.new_ys[k]] = (True, steps[v])
            else:
                self.sources[self.new_ys[k]] = (False, len(kept_outputs))
                kept_outputs.append(v)
        if len(kept_outputs) < len(program.outputs):
            program = _optimized(Program(program.inputs, program.eqns, kept_outputs))
        return {**self.params, "body": SubProgram(program), "n_carry": n_kept}

    def equations(self) -> list[Eqn]:
        loop = self.loop_params()
        operands = tuple(a for i, a in enumerate(self.members[0].inputs) if not self.dropped(i))
        prim = self.members[0].prim

        def result(index: int, out: Var | None = None) -> Var:
            if index not in self.results:
                self.rewritten.append(_new(prim, operands, out, index=index, **loop))
                self.results[index] = self.rewritten[-1].out
            return self.results[index]

        def stacked(vector: Var) -> Atom:
            from_xs, position = self.sources[vector]
            return operands[position] if from_xs else result(position)

        n_kept = len(self.kept)
        for j, m in sorted(self.by_index.items()):
            if j in self.kept:
                result(self.kept.index(j), m.out)
            elif j >= self.n_carry:
                result(j - self.n_carry + n_kept, m.out)
        for p, terms in self.pairs.items():
            products = [self.product(stacked(a), stacked(b)) for a, b in terms]
            total = products[0]
            for other in products[1:]:
                total = self.emit(add, total, other)
            self.emit(
                add, self.members[0].inputs[self.n_consts + p], total, out=self.by_index[p].out
            )
        return self.rewritten

    def product(self, columns: Atom, rows: Atom) -> Var:
        """``columns.T @ rows``: the sum over the steps of column times row."""
        return self.emit(matmul, self.emit(transpose, columns, perm=(1, 0)), rows)

    def emit(self, prim: object, *inputs: Atom, out: Var | None = None, **params: object) -> Var:
        self.rewritten.append(_new(prim, inputs, out, **params))
        return self.rewritten[-1].out


# =============================================================================================
# Products of a step's input by a loop-invariant matrix, before the loop


def _input_products(body: Program, n_consts: int, n_carry: int) -> list[Eqn]:
    """The body's ``reshape(x, (1, k)) @ C`` for a step's input ``x`` (a vector) and a
    const ``C`` (or a constant array), float32 or float64: they do not depend on the carry."""
    consts, steps = set(body.inputs[:n_consts]), set(body.inputs[n_consts + n_carry :])
    producers = {e.out: e for e in body.eqns}
    found = []
    for eqn in body.eqns:
        matrix = eqn.inputs[1] if eqn.prim is matmul else None
        if matrix is None or not (isinstance(matrix, Literal) or matrix in consts):
            continue
        row = producers.get(eqn.inputs[0]) if isinstance(eqn.inputs[0], Var) else None
        if row is None or row.prim is not reshape or row.inputs[0] not in steps:
            continue
        if row.inputs[0].aval.ndim == 1 and eqn.out.aval.dtype in (np.float32, np.float64):
            found.append(eqn)
    return found


def row_product_body(body: Program) -> bool:
    """Whether ``body`` is ``(C, x) -> reshape(reshape(x, (1, k)) @ C, (n,))``: a map of it
    over the rows of ``X`` is ``X @ C`` (``backend.fused_loops`` makes it one GEMM)."""
    if len(body.inputs) != 2 or len(body.eqns) != 3 or len(body.outputs) != 1:
        return False
    row, product, vector = body.eqns
    return (
        (row.prim, product.prim, vector.prim) == (reshape, matmul, reshape)
        and row.inputs == (body.inputs[1],)
        and product.inputs == (row.out, body.inputs[0])
        and vector.inputs == (product.out,)
        and body.outputs == [vector.out]
    )


def _hoist(members: list[Eqn], params: dict) -> list[Eqn] | None:
    """A scan whose input products are computed before it, each by a map (a scan without
    carry) over the same ``xs``, and read by the loop as ``xs`` of their own."""
    body: Program = params["body"].program
    n_consts, n_carry = params["n_consts"], params["n_carry"]
    products = _input_products(body, n_consts, n_carry)
    if not products or row_product_body(body):  # a map of one product is what this makes
        return None
    operands = list(members[0].inputs)
    position = {v: i for i, v in enumerate(body.inputs)}
    eqns, inputs, before = list(body.eqns), list(body.inputs), []
    for eqn in products:
        row = next(e for e in body.eqns if e.out is eqn.inputs[0])
        step, matrix = row.inputs[0], eqn.inputs[1]
        x_rows = operands[position[step]]
        n = eqn.out.aval.shape[1]
        c, x = Var(matrix.aval), Var(step.aval)
        reshaped = _new(reshape, (x,), shape=row.params["shape"])
        product = _new(matmul, (reshaped.out, c))
        vector = _new(reshape, (product.out,), shape=(n,))
        map_body = SubProgram(Program([c, x], [reshaped, product, vector], [vector.out]))
        loop = {**params, "body": map_body, "n_consts": 1, "n_carry": 0, "reverse": False}
        loop.pop("remat", None)
        pair = (matrix if isinstance(matrix, Literal) else operands[position[matrix]], x_rows)
        before.append(_new(members[0].prim, pair, index=0, **loop))
        z = Var(vector.out.aval)
        inputs.append(z)
        operands.append(before[-1].out)
        eqns[eqns.index(eqn)] = Eqn(reshape, (z,), eqn.out, {"shape": eqn.out.aval.shape})
    new_body = SubProgram(_optimized(Program(inputs, eqns, list(body.outputs))))
    rest = [Eqn(m.prim, tuple(operands), m.out, {**m.params, "body": new_body}) for m in members]
    return before + rest
