"""Emit: the code of each scheduled block (loop nests, reductions, scalar expressions).

A loop block becomes one loop nest whose body computes its members as scalar locals; an emit
block is written by its primitive's ``emit(w, out, *inputs, **params)`` with a Writer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from ..core.ir import Atom, Literal, Var
from .schedule import Block, Member, Schedule
from .text import (
    canonical_index,
    empty_text,
    equation_comment,
    fill_text,
    literal_text,
    scalar_cast,
)
from .writer import Names, Writer

# Elementwise primitives with a ``vector`` form (exp, log, tanh, ...) call the kernels of
# tracegrad.backend.vecmath in loops of at least this many iterations, libm's scalar
# functions in smaller ones:
# LLVM vectorises the kernels (0.4-2 ns an element against libm's 3-20 ns), but each inlined
# call site adds 6-15 ms of compile time. TRACEGRAD_VECTOR_MATH=0 turns them off.
VECTOR_MATH_MIN_SIZE = 64
_VECTOR_KERNEL = re.compile(r"_vm_(\w+?)\(")
# A scalar template may call an njit function of tracegrad.backend.numba_support by its name
# with a leading underscore (``_polygamma({n}, {0})``): the file then imports it.
_SUPPORT_CALL = re.compile(r"(?<![\w.])_([a-z]\w*)\(")
# A call (BLAS, a shared loop helper) or a view costs Numba little next to a loop nest: the
# 20-layer MLP compiled in 3.3-3.6 s as one function, in 4.2 s cut into five at weight 1.
STATEMENT_WEIGHT = 0.1
# With several threads, a loop nest runs its outermost loop as one contiguous block per
# thread under numba.prange when its work (iterations x equations) is at least this much:
# a parallel region costs a few microseconds to start, which smaller nests do not win back
# (measured in docs/backend.md, "Multi-core").
PARALLEL_MIN_WORK = 100_000
# The block index of a parallel loop nest, and of the loops combining its partial results.
BLOCK = "_blk"


@dataclass(eq=False)
class Code:
    """One block's lines, and what they define and read from outside the block."""

    block: Block
    heading: str | None  # the comment naming a loop nest's values (loop blocks with a loop)
    lines: list[str]
    weight: float  # loop nests; a statement without a loop counts STATEMENT_WEIGHT
    defs: list[Var]
    uses: list[Atom]
    extents: set[int]  # loop bounds the lines use as _ext<n>
    blas: set[str]  # dtypes of the gemm calls in the lines
    parallel: bool = False  # the lines hold a numba.prange loop


@dataclass
class Emitted:
    """The code of every block in order, and the vecmath kernels the loops call."""

    codes: list[Code]
    vector_kernels: set[str]
    support: set[str] = field(default_factory=set)  # numba_support intrinsics beyond _empty


@dataclass
class _Nest:
    """A loop block's statements by place: around each loop level, and the innermost body."""

    pre: list[list[str]]
    post: list[list[str]]
    blocks: int = 1  # > 1: the outermost loop is split into this many blocks, in parallel
    body: list[str] = field(default_factory=list)
    casts: list[tuple[Member, str]] = field(default_factory=list)  # float64 accumulators
    # Parallel nests: statements of each block around its part of the outermost loop, and
    # the array reductions over that loop, whose per-block partials are combined after it.
    block_pre: list[str] = field(default_factory=list)
    block_post: list[str] = field(default_factory=list)
    combines: list[tuple[Member, str]] = field(default_factory=list)

    @staticmethod
    def of_depth(depth: int, blocks: int = 1) -> _Nest:
        return _Nest([[] for _ in range(depth + 1)], [[] for _ in range(depth + 1)], blocks)


@dataclass
class _Context:
    """What every block's emission reads, and the vecmath kernels the loops have called."""

    sched: Schedule
    vector_math: bool
    vector_min_size: int = VECTOR_MATH_MIN_SIZE
    threads: int = 1
    vector_kernels: set[str] = field(default_factory=set)
    support: set[str] = field(default_factory=set)

    @property
    def names(self) -> Names:
        return self.sched.names


def emit(
    sched: Schedule,
    vector_math: bool = True,
    vector_min_size: int = VECTOR_MATH_MIN_SIZE,
    threads: int = 1,
) -> Emitted:
    """The code of ``sched``'s blocks; ``vector_math`` allows vecmath kernels in loops of at
    least ``vector_min_size`` iterations (fewer in the body of a native loop, run per step);
    ``threads`` > 1 runs large loop nests in that many blocks in parallel."""
    ctx = _Context(sched, vector_math, vector_min_size, threads)
    codes = [_emit_loop(ctx, b) if b.eqn is None else _emit_equation(ctx, b) for b in sched.blocks]
    return Emitted(codes, ctx.vector_kernels, ctx.support)


def _emit_equation(ctx: _Context, block: Block) -> Code:
    """An emit block: its primitive's emitter writes it."""
    eqn, names = block.eqn, ctx.names
    w = Writer(names, threads=ctx.threads)
    w.line(equation_comment(eqn, names.of))
    eqn.prim.emit(w, names.operand(eqn.out), *map(names.operand, eqn.inputs), **eqn.params)
    ctx.support |= w.support
    preallocated = eqn.out in names.buffers
    uses: list[Atom] = [a for a in eqn.inputs if not (isinstance(a, Literal) and a.is_scalar)]
    if preallocated:
        uses.append(eqn.out)
    defs = [] if preallocated else [eqn.out]
    weight = w.nests or STATEMENT_WEIGHT
    return Code(block, None, w.lines, weight, defs, uses, w.extents, w.blas)


def _emit_loop(ctx: _Context, block: Block) -> Code:
    """A loop block: allocations, one loop nest, then casts of float64 accumulators."""
    names = ctx.names
    w = Writer(names)
    heading = None
    if block.key:  # values that are all 0-d need no loop
        shown = ", ".join(names.of[m.out] for m in block.members)
        heading = f"# loop over {block.key}: {shown}"
        w.line(heading)
    nest = _Nest.of_depth(len(block.key), _parallel_blocks(ctx, block))
    for m in block.members:
        _emit_member(ctx, w, block, m, nest)
    if nest.blocks > 1:
        _write_blocks(w, block.key, nest)
    else:
        _write_levels(w, block.key, nest)
    for m, acc in nest.casts:
        with w.loops(m.out.aval.shape) as idx:
            cast = scalar_cast(f"{acc}[{', '.join(idx)}]", m.out.aval.dtype)
            w.line(f"{names.of[m.out]}[{', '.join(idx)}] = {cast}")
    for m, part in nest.combines:
        _write_combine(w, names, m, part, nest.blocks)
    defs = [
        m.out
        for m in block.members
        if (m.out in ctx.sched.stored or m.out.aval.ndim == 0) and m.out not in names.buffers
    ]
    weight = 1 + len(nest.casts) + len(nest.combines)
    uses = _loop_uses(ctx, block)
    return Code(block, heading, w.lines, weight, defs, uses, w.extents, w.blas, nest.blocks > 1)


def _parallel_blocks(ctx: _Context, block: Block) -> int:
    """How many blocks ``block``'s outermost loop runs in: the thread count for a nest with
    at least ``PARALLEL_MIN_WORK`` and a block of work for every thread, else 1 (serial).

    The count is fixed in the code, so a reduction adds its partial results in the same
    order however many threads Numba really runs: results depend on ``threads`` alone.
    """
    if ctx.threads < 2 or not block.key or block.key[0] < ctx.threads:
        return 1
    work = math.prod(block.key) * len(block.members)
    return ctx.threads if work >= PARALLEL_MIN_WORK else 1


def _loop_uses(ctx: _Context, block: Block) -> list[Atom]:
    """What a loop block reads from outside: constant arrays, other blocks' values, buffers."""
    uses: list[Atom] = []
    for m in block.members:
        if m.out in ctx.names.buffers:
            uses.append(m.out)
        for b, _ in m.accesses:
            if isinstance(b, Literal) and b.value.ndim > 0:
                uses.append(b)
            elif isinstance(b, Var) and ctx.sched.block_of.get(b) != block.index:
                uses.append(b)
    return uses


def _write_levels(w: Writer, key: tuple[int, ...], nest: _Nest, depth: int = 0) -> None:
    """Write the loop over axis ``depth`` of ``key`` and, inside it, the deeper ones."""
    for s in nest.pre[depth]:
        w.line(s)
    if depth == len(key):
        for s in nest.body:
            w.line(s)
    else:
        w.line(f"for i{depth} in range({w.extent(key[depth])}):")
        with w.indented():
            _write_levels(w, key, nest, depth + 1)
    for s in nest.post[depth]:
        w.line(s)


def _write_blocks(w: Writer, key: tuple[int, ...], nest: _Nest) -> None:
    """The outermost loop as ``nest.blocks`` contiguous blocks under ``numba.prange``."""
    for s in nest.pre[0]:
        w.line(s)
    w.line(f"for {BLOCK} in numba.prange({nest.blocks}):")
    with w.indented():
        for s in nest.block_pre:
            w.line(s)
        extent, n = w.extent(key[0]), nest.blocks
        w.line(f"{_LOW} = {BLOCK} * {extent} // {n}")
        w.line(f"{_HIGH} = ({BLOCK} + 1) * {extent} // {n}")
        start = len(w.lines)
        with w.indented():
            _write_levels(w, key, nest, 1)
        views, body = _block_local(w.lines[start:], w.depth + 1)
        del w.lines[start:]
        for array, view in views.items():
            w.line(f"{view} = {array}[{_LOW}:{_HIGH}]")
        w.line(f"for i0 in range({_HIGH} - {_LOW}):")
        w.lines.extend(body)
        for s in nest.block_post:
            w.line(s)
    for s in nest.post[0]:
        w.line(s)


# A block's bounds. Its loop counts from 0 over views of the arrays it indexes first by the
# loop variable: Numba vectorises a loop over range(n) but not one over range(lo, hi)
# (10x slower on x * 1.5 + 0.5, and the vecmath kernels stay scalar), so a block that
# indexed the whole arrays from lo ran serially slower than the serial nest.
_LOW, _HIGH, _GLOBAL = "_lo", "_hi", "_g0"
_FIRST_INDEXED = re.compile(rf"(?<![\w.])([A-Za-z_]\w*)\[{_GLOBAL}\b")


def _block_local(lines: list[str], depth: int) -> tuple[dict[str, str], list[str]]:
    """``lines`` of a block's loop body (indexed by ``i0`` over the whole extent) rewritten
    for a loop from 0: arrays indexed first by ``i0`` read through views (returned, array
    name -> view name), and any other use of ``i0`` is the global index ``_lo + i0``."""
    views: dict[str, str] = {}

    def local(match: re.Match) -> str:
        view = views.setdefault(match[1], f"_blkv{len(views)}")
        return f"{view}[i0"

    text = re.sub(r"\bi0\b", _GLOBAL, "\n".join(lines))
    text = _FIRST_INDEXED.sub(local, text)
    out = text.split("\n")
    if re.search(rf"\b{_GLOBAL}\b", text):
        out.insert(0, "    " * depth + f"{_GLOBAL} = {_LOW} + i0")
    return views, out


def _fold_template(m: Member) -> str:
    """A reduction's fold of ``{0}`` into ``{acc}``: its complex form for complex operands
    (the ordering of complex numbers in max and min)."""
    prim = m.eqn.prim
    if prim.complex_scalar is not None and m.out.aval.dtype.kind == "c":
        return prim.complex_scalar
    return prim.scalar


def _combine_lines(m: Member, acc: str, part: str, blocks: int) -> list[str]:
    """Fold the per-block partial results ``part`` into ``acc``, in block order."""
    init = literal_text(_identity(m), _accumulator_dtype(m))
    fold = _fold_template(m).format(part, acc=acc)
    return [f"{acc} = {init}", f"for {BLOCK} in range({blocks}):", f"    {acc} = {fold}"]


def _write_combine(w: Writer, names: Names, m: Member, part: str, blocks: int) -> None:
    """Each element of the array reduction ``m`` from its blocks' partials ``part``."""
    out = m.out.aval
    acc = f"{names.of[m.out]}_acc"
    with w.loops(out.shape) as idx:
        for line in _combine_lines(m, acc, f"{part}[{', '.join([BLOCK, *idx])}]", blocks):
            w.line(line)
        result = acc if _accumulator_dtype(m) == out.dtype else scalar_cast(acc, out.dtype)
        w.line(f"{names.of[m.out]}[{', '.join(idx)}] = {result}")


def _read(names: Names, block: Block, base: Atom, index: list[str]) -> str:
    """The expression reading ``base`` at ``index`` inside ``block``'s loop."""
    if isinstance(base, Literal):
        if base.value.ndim == 0:
            return literal_text(base.value)
        return f"{names.const_name(base)}[{', '.join(index)}]"
    if base in block.locals and block.locals[base] == index:
        return names.local(base)
    if base.aval.ndim == 0:
        return names.of[base]
    return f"{names.of[base]}[{', '.join(index)}]"


def _emit_member(ctx: _Context, w: Writer, block: Block, m: Member, nest: _Nest) -> None:
    """Add the statements computing ``m`` to ``nest`` (and its array, if stored, to ``w``)."""
    names = ctx.names
    name = names.of[m.out]
    comment = equation_comment(m.eqn, names.of) if m.eqn is not None else f"# {name} = copy"
    reads = [_read(names, block, b, idx) for b, idx in m.accesses]
    if m.kind == "reduce":
        _emit_reduction(w, names, m, reads[0], comment, nest)
        return
    expr = reads[0] if m.kind == "copy" else _map_expr(ctx, block, m, reads)
    nest.body.append(f"{names.local(m.out)} = {expr}  {comment}")
    if m.out in ctx.sched.stored and m.out.aval.ndim > 0:
        if m.out not in names.buffers:
            w.line(f"{name} = {empty_text(m.out.aval.shape, m.out.aval.dtype)}")
        index = canonical_index(m.out.aval.shape)
        nest.body.append(f"{name}[{', '.join(index)}] = {names.local(m.out)}")


def _map_expr(ctx: _Context, block: Block, m: Member, reads: list[str]) -> str:
    """An elementwise member's expression, cast where Python's scalar type would differ."""
    expr = _scalar_expr(ctx, block, m, reads)
    out_dtype = m.out.aval.dtype
    if (
        m.eqn.prim.kind == "cast"
        or out_dtype.kind not in "fb"
        or (out_dtype.kind == "f" and out_dtype != np.float64)
    ):
        expr = scalar_cast(expr, out_dtype)
    return expr


def _scalar_expr(ctx: _Context, block: Block, m: Member, reads: list[str]) -> str:
    """The loop body's expression for ``m``: its vecmath form in loops over arrays."""
    eqn = m.eqn
    prim = eqn.prim
    dtype = eqn.inputs[0].aval.dtype if eqn.inputs else None
    if (
        ctx.vector_math
        and prim.vector is not None
        and dtype in (np.float32, np.float64)
        and math.prod(block.key) >= ctx.vector_min_size
    ):
        expr = prim.vector.format(*reads, f="f32" if dtype == np.float32 else "f64")
        ctx.vector_kernels.update(_VECTOR_KERNEL.findall(expr))
        return expr
    if prim.complex_scalar is not None and dtype is not None and dtype.kind == "c":
        return prim.complex_scalar.format(*reads, **eqn.params)
    expr = prim.scalar.format(*reads, **eqn.params)
    ctx.support.update(_SUPPORT_CALL.findall(prim.scalar))
    return expr


_ACCUMULATOR = {"f": np.float64, "c": np.complex128}


def _accumulator_dtype(m: Member) -> np.dtype:
    """Reductions accumulate floats in float64, complex values in complex128 and integers in
    int64."""
    return np.dtype(_ACCUMULATOR.get(m.out.aval.dtype.kind, np.int64))


def _identity(m: Member) -> float | int:
    """The accumulator's starting value (an infinite one as the integer type's extreme)."""
    identity = m.eqn.prim.identity if m.eqn.prim.identity is not None else 0
    if _accumulator_dtype(m).kind == "i" and math.isinf(identity):
        info = np.iinfo(m.out.aval.dtype)
        identity = info.min if identity < 0 else info.max
    return identity


def _emit_reduction(
    w: Writer, names: Names, m: Member, value: str, comment: str, nest: _Nest
) -> None:
    """Accumulate ``value`` into ``m``'s result as the loop nest runs.

    In a parallel nest a reduction over the outermost loop accumulates one partial result
    per block (``_part<k>``), and the partials are folded in block order after the loop.
    """
    index = canonical_index(m.space)
    loopvars = [e for e in index if e != "0"]
    reduced = [index[a] for a in m.eqn.params["axes"] if index[a] != "0"]
    kept = [index[a] for a in range(len(m.space)) if a not in m.eqn.params["axes"]]
    blocks = nest.blocks if loopvars and loopvars[0] in reduced else 1
    if reduced == loopvars[len(loopvars) - len(reduced) :]:
        # The reduced axes are the innermost loops: a scalar accumulator.
        _scalar_reduction(w, names, m, (value, comment), kept, blocks, nest)
    else:  # accumulate into an array indexed by the kept axes
        _array_reduction(w, names, m, (value, comment), kept, blocks, nest)


def _scalar_reduction(
    w: Writer,
    names: Names,
    m: Member,
    statement: tuple[str, str],
    kept: list[str],
    blocks: int,
    nest: _Nest,
) -> None:
    out, acc_dtype = m.out.aval, _accumulator_dtype(m)
    name = names.of[m.out]
    acc = f"{name}_acc"
    init = literal_text(_identity(m), acc_dtype)
    depth = len([e for e in kept if e != "0"])
    if out.ndim and m.out not in names.buffers:
        w.line(f"{name} = {empty_text(out.shape, out.dtype)}")
    value, comment = statement
    nest.body.append(f"{acc} = {_fold_template(m).format(value, acc=acc)}  {comment}")
    if blocks > 1:
        part = w.fresh("part")
        w.line(f"{part} = {empty_text((blocks,), acc_dtype)}")
        nest.block_pre.append(f"{acc} = {init}")
        nest.block_post.append(f"{part}[{BLOCK}] = {acc}")
        nest.post[0].extend(_combine_lines(m, acc, f"{part}[{BLOCK}]", blocks))
    else:
        nest.pre[depth].append(f"{acc} = {init}")
    result = acc if acc_dtype == out.dtype else scalar_cast(acc, out.dtype)
    target = name if out.ndim == 0 else f"{name}[{', '.join(kept)}]"
    nest.post[depth].append(f"{target} = {result}")


def _array_reduction(
    w: Writer,
    names: Names,
    m: Member,
    statement: tuple[str, str],
    kept: list[str],
    blocks: int,
    nest: _Nest,
) -> None:
    out, acc_dtype = m.out.aval, _accumulator_dtype(m)
    name = names.of[m.out]
    init = literal_text(_identity(m), acc_dtype)
    preallocated = m.out in names.buffers
    if blocks > 1:  # one row of partial results per block
        acc = w.fresh("part")
        w.line(f"{acc} = {empty_text((blocks, *out.shape), acc_dtype)}")
        w.line(fill_text(acc, init))
        nest.combines.append((m, acc))
        kept = [BLOCK, *kept]
    elif acc_dtype != out.dtype:  # a float64 accumulator, cast after the loop
        acc = f"{name}_acc"
        w.line(f"{acc} = {empty_text(out.shape, acc_dtype)}")
        w.line(fill_text(acc, init))
        nest.casts.append((m, acc))
    else:
        acc = name
    if not preallocated:
        w.line(f"{name} = {empty_text(out.shape, out.dtype)}")
    if acc == name:
        w.line(fill_text(name, init))
    cell = f"{acc}[{', '.join(kept)}]"
    value, comment = statement
    nest.body.append(f"{cell} = {_fold_template(m).format(value, acc=cell)}  {comment}")
