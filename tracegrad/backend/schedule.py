"""Schedule: group a Program's equations into blocks, and decide which values are stored.

A **loop block** is one loop nest over an iteration space. Elementwise equations whose
outputs have that shape (size-1 axes aside) join it, and so do reductions of arrays of that
shape, accumulated as the loop runs. Inside the loop every value is a scalar local; only
values read outside the block are stored into arrays. Views (``broadcast_to``,
``transpose``, ``slice``, reshapes that add or drop size-1 axes) cost nothing: a loop reads
their source with other indices (the primitive's ``index_map``). An **emit block** is one
other equation, written by the emitter declared next to its primitive.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.ir import Atom, Aval, Eqn, Literal, Program, Var
from ..core.primitives import broadcast_to
from .text import canonical_index, squeeze
from .writer import CodegenError, Names


@dataclass(eq=False)
class Member:
    """One value computed inside a loop block."""

    kind: str  # "map" (elementwise) | "reduce" | "copy" (a view or an output copy)
    out: Var
    eqn: Eqn | None
    space: tuple[int, ...]  # iteration shape
    source: Atom | None = None  # for output copies without an equation
    accesses: list[tuple[Atom, list[str]]] = field(default_factory=list)


@dataclass(eq=False)
class Block:
    """A loop nest of members (``eqn`` None), or one equation for its emitter."""

    index: int
    key: tuple[int, ...] | None  # loop blocks: squeezed iteration shape; emit blocks: None
    members: list[Member] = field(default_factory=list)
    eqn: Eqn | None = None
    locals: dict[Var, list[str]] = field(default_factory=dict)  # streamable values -> index


@dataclass
class OutputPlan:
    """How the runner gets output ``j``: a buffer argument, a returned scalar, or a literal."""

    kind: str  # "array" | "scalar" | "literal"
    aval: Aval
    value: np.ndarray | None = None


@dataclass
class Schedule:
    """The blocks of a program in order, and what the code of each needs to know."""

    program: Program
    names: Names
    blocks: list[Block]
    block_of: dict[Var, int]  # the block computing each value
    stored: set[Var]  # values kept as arrays: read outside their loop, reduced, or outputs
    returned: list[Var]  # the 0-d outputs, returned by the entry function
    outputs: list[OutputPlan]


def constant_classes(program: Program) -> list[list[Literal]]:
    """The program's constant arrays grouped by value, in order of first use.

    The generated source depends on the classes (one argument per class, in this order) and
    on their shapes and dtypes, never on the values: programs that differ only in the values
    of constant arrays share one compiled kernel (see ``compiler.structural_key``).
    """
    classes: dict[tuple, list[Literal]] = {}
    for eqn in program.eqns:
        for a in eqn.inputs:
            if isinstance(a, Literal) and a.value.ndim > 0:
                classes.setdefault(a.key(), []).append(a)
    return list(classes.values())


def schedule(program: Program, user_names: bool = True) -> Schedule:
    """Group ``program`` into blocks and mark the values stored as arrays."""
    names = Names.of_program(program, user_names)
    for value_class in constant_classes(program):  # const<k> is the k-th class
        names.const_name(value_class[0])
    plans, returned, copies = _plan_outputs(program, names)
    grouping = _Grouping()
    needed = _needed_views(program, set(names.buffers) | set(returned))
    for eqn in program.eqns:
        grouping.add(eqn, needed)
    for target, source in copies:
        grouping.add_loop(Member("copy", target, None, target.aval.shape, source=source))
    stored = _stored(grouping.blocks, set(names.buffers) | set(returned))
    return Schedule(program, names, grouping.blocks, grouping.block_of, stored, returned, plans)


def _plan_outputs(
    program: Program, names: Names
) -> tuple[list[OutputPlan], list[Var], list[tuple[Var, Atom]]]:
    """Each output's plan, the returned scalars, and the copies into fresh output buffers."""
    plans: list[OutputPlan] = []
    returned: list[Var] = []
    copies: list[tuple[Var, Atom]] = []
    inputs = set(program.inputs)
    for j, atom in enumerate(program.outputs):
        if isinstance(atom, Literal):
            plans.append(OutputPlan("literal", atom.aval, atom.value))
        elif atom.aval.ndim == 0:
            plans.append(OutputPlan("scalar", atom.aval))
            returned.append(atom)
        else:
            plans.append(OutputPlan("array", atom.aval))
            target = atom
            if atom in inputs or atom in names.buffers:
                target = Var(atom.aval)  # an output must not alias an input or an output
                names.of[target] = f"out{j}"
                copies.append((target, atom))
            names.buffers[target] = names.of[target]
    return plans, returned, copies


def _is_view(eqn: Eqn) -> bool:
    index_map = eqn.prim.index_map
    if index_map is None or len(eqn.inputs) != 1:
        return False
    probe = [f"p{k}" for k in range(eqn.out.aval.ndim)]
    return index_map(probe, eqn.inputs[0].aval, eqn.out.aval, **eqn.params) is not None


def _is_loop(eqn: Eqn) -> bool:
    return eqn.prim.elementwise or eqn.prim.kind == "reduce"


def _needed_views(program: Program, need: set[Var]) -> set[Var]:
    """The values that must exist as arrays: views something other than a loop reads."""
    for eqn in reversed(program.eqns):
        view = _is_view(eqn)
        if (not view and not _is_loop(eqn)) or (
            view and eqn.out in need and eqn.prim.emit is not None
        ):
            need.update(a for a in eqn.inputs if isinstance(a, Var))
    return need


def _stored(blocks: list[Block], outputs: set[Var]) -> set[Var]:
    """Loop values something outside their loop reads, reductions, and the outputs."""
    stored = set(outputs)
    for block in blocks:
        if block.eqn is not None:
            stored.update(a for a in block.eqn.inputs if isinstance(a, Var))
            continue
        for m in block.members:
            if m.kind == "reduce":
                stored.add(m.out)
            for b, idx in m.accesses:
                if isinstance(b, Var) and block.locals.get(b) != idx:
                    stored.add(b)
    return stored


@dataclass
class _Grouping:
    """Blocks under construction: each equation joins a loop, or gets a block of its own."""

    blocks: list[Block] = field(default_factory=list)
    block_of: dict[Var, int] = field(default_factory=dict)
    views: dict[Var, Eqn] = field(default_factory=dict)
    newest: dict[tuple[int, ...], int] = field(default_factory=dict)  # loop block per key

    def add(self, eqn: Eqn, needed: set[Var]) -> None:
        if _is_view(eqn):
            self.views[eqn.out] = eqn
            if eqn.out not in needed:
                return
            if eqn.prim.emit is not None:
                self.add_emit(eqn)
            else:
                self.add_loop(Member("copy", eqn.out, eqn, eqn.out.aval.shape))
        elif _is_loop(eqn):
            if eqn.prim.scalar is None:
                raise CodegenError(f"primitive {eqn.prim.name} has no scalar template")
            kind = "reduce" if eqn.prim.kind == "reduce" else "map"
            space = eqn.inputs[0].aval.shape if kind == "reduce" else eqn.out.aval.shape
            self.add_loop(Member(kind, eqn.out, eqn, tuple(space)))
        elif eqn.prim.emit is not None:
            self.add_emit(eqn)
        else:
            raise CodegenError(
                f"primitive {eqn.prim.name} has no code generation: declare a scalar "
                "template, an emit function or an index_map next to it in primitives.py"
            )

    def resolve(self, atom: Atom, index: list[str]) -> tuple[Atom, list[str]]:
        """Follow views back to the value that holds the data, mapping the index along."""
        while isinstance(atom, Var) and atom in self.views:
            eqn = self.views[atom]
            index = eqn.prim.index_map(index, eqn.inputs[0].aval, atom.aval, **eqn.params)
            atom = eqn.inputs[0]
        return atom, index

    def accesses(self, m: Member) -> list[tuple[Atom, list[str]]]:
        """The values ``m`` reads in its loop, each with the index it reads them at."""
        index = canonical_index(m.space)
        if m.kind == "map":
            return [
                self.resolve(a, broadcast_to.index_map(index, a.aval, m.out.aval, shape=m.space))
                for a in m.eqn.inputs
            ]
        if m.kind == "reduce":
            return [self.resolve(m.eqn.inputs[0], index)]
        if m.eqn is not None:  # a view that must be stored
            x = m.eqn.inputs[0]
            mapped = m.eqn.prim.index_map(index, x.aval, m.out.aval, **m.eqn.params)
            return [self.resolve(x, mapped)]
        return [self.resolve(m.source, index)]

    def add_loop(self, m: Member) -> None:
        """Fuse ``m`` with its producer's loop, else a sibling loop of its space, else new."""
        m.accesses = self.accesses(m)
        key = squeeze(m.space)
        latest = max(
            (self.block_of[b] for b, _ in m.accesses if isinstance(b, Var) and b in self.block_of),
            default=-1,
        )
        target = None
        if latest >= 0:
            block = self.blocks[latest]
            if block.key == key and all(
                block.locals.get(b) == idx
                for b, idx in m.accesses
                if isinstance(b, Var) and self.block_of.get(b) == latest
            ):
                target = block  # fuse with the producer: its values stay scalar locals
        if target is None and self.newest.get(key, -1) > latest:
            target = self.blocks[self.newest[key]]  # a sibling loop over the same space
        if target is None:
            target = Block(len(self.blocks), key)
            self.blocks.append(target)
            self.newest[key] = target.index
        target.members.append(m)
        self.block_of[m.out] = target.index
        if m.kind != "reduce":
            target.locals[m.out] = canonical_index(m.out.aval.shape)

    def add_emit(self, eqn: Eqn) -> None:
        self.blocks.append(Block(len(self.blocks), None, eqn=eqn))
        self.block_of[eqn.out] = len(self.blocks) - 1
