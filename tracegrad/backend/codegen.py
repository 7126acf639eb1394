"""Code generation: a Program becomes Python source text that Numba compiles.

Equations are grouped into *blocks*, emitted in program order:

* A **loop block** is one loop nest over an iteration space.  Elementwise equations whose
  outputs have that shape (size-1 axes aside) join it, and so do reductions of arrays of that
  shape, accumulated as the loop runs.  Inside the loop every value is a scalar local; only
  values read outside the block are stored into arrays.  Views (``broadcast_to``,
  ``transpose``, ``slice``, reshapes that add or drop size-1 axes) cost nothing: a loop reads
  their source with other indices (the primitive's ``index_map``).
* An **emit block** is one other equation (``matmul``, ``concatenate``, ``take``, ...),
  written by the emitter declared next to its primitive in primitives.py with the small
  helper API of :class:`Writer`.

Blocks are then packed into ``numba.njit`` functions of at most ``MAX_OPS_PER_FUNCTION``
loop nests each (a statement without a loop counts a tenth), chained by a plain Python
driver: Numba's compile time grows superlinearly with the size of one function, linearly
with the number of functions.

Calling convention of the generated ``program`` function: the program's inputs (0-d ones as
scalars, arrays C-contiguous), then the constant arrays, then one preallocated buffer per
array output; it returns the 0-d outputs (a scalar, a tuple, or None).
"""

from __future__ import annotations

import builtins
import keyword
import math
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.ir import Atom, Aval, Eqn, Literal, Program, Var, format_literal, format_params
from . import blas as _blas_binding

MAX_OPS_PER_FUNCTION = 30
# Elementwise primitives with a ``vector`` form (exp, log, tanh, ...) call the kernels of
# tracegrad.backend.vecmath in loops of at least this many iterations, libm's scalar
# functions in smaller ones:
# LLVM vectorises the kernels (0.4-2 ns an element against libm's 3-20 ns), but each inlined
# call site adds 6-15 ms of compile time. TRACEGRAD_VECTOR_MATH=0 turns them off.
VECTOR_MATH_MIN_SIZE = 64
_VECTOR_KERNEL = re.compile(r"_vm_(\w+?)\(")
# A call (BLAS, a shared loop helper) or a view costs Numba little next to a loop nest: the
# 20-layer MLP compiled in 3.3-3.6 s as one function, in 4.2 s cut into five at weight 1.
STATEMENT_WEIGHT = 0.1
DECORATOR_OPTIONS = "error_model='numpy', fastmath={'reassoc', 'contract', 'arcp', 'nsz'}"

# Identifiers in generated lines (not attributes like ``np.float32``), and fresh names.
_IDENTIFIER = re.compile(r"(?<![\w.])[A-Za-z_]\w*")
_FRESH = re.compile(r"_(?!ext\d)[a-z]+\d+")
_RESERVED = set(keyword.kwlist) | set(dir(builtins)) | {"np", "math", "numba"}


# =============================================================================================
# The helper API for emitters (primitives.py)


@dataclass
class Operand:
    """A value as an emitter sees it: the Python expression naming it, its aval, its layout.

    0-d values are scalars (``name`` is a local or a literal); arrays are C-contiguous
    unless ``layout`` says "F" (a transposed view).
    """

    name: str
    aval: Aval
    layout: str = "C"

    def __str__(self) -> str:
        return self.name

    def __format__(self, spec: str) -> str:
        return format(self.name, spec)


class Writer:
    """Lines of code at an indentation, plus the helpers an emitter needs."""

    def __init__(self, gen: _Generator, depth: int = 0) -> None:
        self.lines: list[str] = []
        self.depth = depth
        self.nests = 0  # loop nests opened at the writer's base depth: the block's op count
        self.extents: set[int] = set()  # loop extents used (see ``extent``)
        self.blas: set[str] = set()  # dtypes of the BLAS products written (see ``matmul``)
        self._base = depth
        self._gen = gen

    def line(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    @contextmanager
    def indented(self) -> Iterator[None]:
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    def fresh(self, hint: str = "t") -> str:
        """A new local name that cannot clash with the program's variable names."""
        return self._gen.fresh(hint)

    @contextmanager
    def loops(self, shape: Sequence[int]) -> Iterator[list[str]]:
        """Open a loop nest over ``shape``; yields one index expression per axis."""
        if self.depth == self._base:
            self.nests += 1
        index, opened = [], 0
        for extent in shape:
            if extent == 1:
                index.append("0")
                continue
            var = self.fresh("i")
            self.line(f"for {var} in range({self.extent(extent)}):")
            self.depth += 1
            opened += 1
            index.append(var)
        try:
            yield index
        finally:
            self.depth -= opened

    def extent(self, n: int) -> str:
        """The loop bound ``n`` as the function will see it (``_ext<n>``, see ``_extents``)."""
        self.extents.add(int(n))
        return f"_ext{int(n)}"

    def matmul(self, out: Operand, x: Operand, y: Operand) -> None:
        """``out = x @ y`` (2-D, one float dtype, ``out`` allocated) as one BLAS gemm call.

        The operands may be C arrays or ``x.T`` views (layout "F"). It calls a BLAS gemm as
        an external function: Numba's ``np.dot`` costs a 0.3-0.5 s specialisation per call form
        and layout mix, this costs one statement. The gemm is NumPy's own
        (``tracegrad.backend.blas``: no SciPy import in a new process) or, where that is not
        found, Numba's ``numba_xxgemm`` (SciPy's). Row-major ``out = x @ y`` is column-major
        ``out.T = y.T @ x.T``.
        """
        dtype = np.dtype(out.aval.dtype)
        if dtype not in (np.float32, np.float64) or x.aval.dtype != dtype != y.aval.dtype:
            raise CodegenError(f"BLAS matmul of {x.aval.dtype} and {y.aval.dtype}")
        m, k = x.aval.shape
        n = y.aval.shape[1]
        d = dtype.name
        self.blas.add(d)
        if _blas_binding.uses_numpy_blas():
            b = _blas_binding
            ta, lda = (b.NO_TRANS, n) if y.layout == "C" else (b.TRANS, k)
            tb, ldb = (b.NO_TRANS, k) if x.layout == "C" else (b.TRANS, m)
            one, zero = ("1.0", "0.0") if dtype == np.float64 else ("_f32_1", "_f32_0")
            self.line(
                f"_gemm_{d}({b.COL_MAJOR}, {ta}, {tb}, {n}, {m}, {k}, {one}, {y}.ctypes, "
                f"{lda}, {x}.ctypes, {ldb}, {zero}, {out}.ctypes, {n})"
            )
            return
        ta, lda = (ord("N"), n) if y.layout == "C" else (ord("T"), k)
        tb, ldb = (ord("N"), k) if x.layout == "C" else (ord("T"), m)
        kind = ord("d" if dtype == np.float64 else "s")
        self.line(
            f"_blas |= _gemm_{d}({kind}, {ta}, {tb}, {n}, {m}, {k}, _one_{d}.ctypes, "
            f"{y}.ctypes, {lda}, {x}.ctypes, {ldb}, _zero_{d}.ctypes, {out}.ctypes, {n})"
        )

    @staticmethod
    def index(x: Operand, index: Sequence[str]) -> str:
        """``x[i, j]`` (or just ``x`` for a scalar)."""
        return x.name if x.aval.ndim == 0 else f"{x.name}[{', '.join(index)}]"

    @staticmethod
    def dtype(dtype: Any) -> str:
        return dtype_text(np.dtype(getattr(dtype, "dtype", dtype)))

    @staticmethod
    def cast(expr: str, dtype: Any) -> str:
        return scalar_cast(expr, np.dtype(getattr(dtype, "dtype", dtype)))

    def preallocated(self, out: Operand) -> bool:
        """Whether ``out`` is a buffer the caller passed in (an output): write into it."""
        return out.name in self._gen.buffer_names

    def alloc(self, out: Operand, fill: str | None = None) -> None:
        """Make ``out`` an array of its aval (unless preallocated); ``fill`` initialises it."""
        if not self.preallocated(out):
            self.line(f"{out} = {empty_text(out.aval.shape, out.aval.dtype)}")
        if fill is not None:
            self.line(fill_text(out.name, fill))

    def set_layout(self, out: Operand, layout: str) -> None:
        """Declare that the emitter made ``out`` with another layout (e.g. "F" for ``x.T``)."""
        out.layout = layout
        self._gen.layouts[out.name] = layout

    @staticmethod
    def contiguous(x: Operand) -> str:
        return x.name if x.layout == "C" else f"np.ascontiguousarray({x.name})"


# =============================================================================================
# Text of types and literals


def dtype_text(dtype: np.dtype) -> str:
    return "np.bool_" if dtype.kind == "b" else f"np.{dtype.name}"


def empty_text(shape: Sequence[int], dtype: Any) -> str:
    """A new uninitialised C array (``numba_support.empty``: no overload compile per form)."""
    return f"_empty({tuple(int(n) for n in shape)!r}, {dtype_text(np.dtype(dtype))})"


def fill_text(name: str, value: str) -> str:
    return f"_fill({name}, {value})"


def scalar_cast(expr: str, dtype: np.dtype) -> str:
    return f"bool({expr})" if dtype.kind == "b" else f"np.{dtype.name}({expr})"


def numba_type(aval: Aval, layout: str = "C") -> str:
    """The Numba signature text of a value: ``float32`` or ``float32[:, ::1]``."""
    dtype = aval.dtype
    base = "boolean" if dtype.kind == "b" else dtype.name
    if aval.ndim == 0:
        return base
    axes = [":"] * aval.ndim
    axes[-1 if layout == "C" else 0] = "::1"
    return f"{base}[{', '.join(axes)}]"


def literal_text(value: Any, dtype: Any = None) -> str:
    """A scalar constant as source text of the right dtype (np.float32(0.1) for float32)."""
    array = np.asarray(value, dtype=dtype)
    dtype = array.dtype
    item = array.item()
    if dtype.kind == "b":
        return repr(bool(item))
    if dtype.kind in "iu":
        text = repr(int(item))
        return text if dtype == np.int64 else f"np.{dtype.name}({text})"
    if math.isnan(item):
        text = "np.nan"
    elif math.isinf(item):
        text = "np.inf" if item > 0 else "-np.inf"
    else:
        text = repr(float(item)) if dtype == np.float64 else str(array[()])
    if dtype != np.float64:
        return f"np.{dtype.name}({text})"
    return f"({text})" if text.startswith("-") else text


def _squeeze(shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


def _canonical(shape: Sequence[int]) -> list[str]:
    """Index of a value of ``shape`` inside a loop nest over its non-1 axes (i0, i1, ...)."""
    index, k = [], 0
    for d in shape:
        if d == 1:
            index.append("0")
        else:
            index.append(f"i{k}")
            k += 1
    return index


def _broadcast_index(index: Sequence[str], out_shape: Sequence[int], shape: Sequence[int]) -> list:
    lead = len(out_shape) - len(shape)
    return ["0" if d == 1 else index[lead + j] for j, d in enumerate(shape)]


def _comment(eqn: Eqn, names: dict[Var, str]) -> str:
    args = " ".join(names[a] if isinstance(a, Var) else format_literal(a) for a in eqn.inputs)
    return f"# {names[eqn.out]} = {eqn.prim.name}{format_params(eqn.params)} {args}"


# =============================================================================================
# Blocks


@dataclass(eq=False)
class _Member:
    """One value computed inside a loop block."""

    kind: str  # "map" (elementwise) | "reduce" | "copy" (a view or an output copy)
    out: Var
    eqn: Eqn | None
    space: tuple[int, ...]  # iteration shape
    source: Atom | None = None  # for output copies without an equation
    accesses: list[tuple[Atom, list[str]]] = field(default_factory=list)


@dataclass(eq=False)
class _Block:
    index: int
    key: tuple[int, ...] | None  # loop blocks: squeezed iteration shape; emit blocks: None
    members: list[_Member] = field(default_factory=list)
    eqn: Eqn | None = None  # emit blocks
    locals: dict[Var, list[str]] = field(default_factory=dict)  # streamable values -> index
    lines: list[str] = field(default_factory=list)
    weight: float = 1  # loop nests; a statement without a loop counts STATEMENT_WEIGHT
    defs: list[Var] = field(default_factory=list)
    uses: list[Atom] = field(default_factory=list)
    extents: set[int] = field(default_factory=set)  # loop bounds the lines use as _ext<n>
    blas: set[str] = field(default_factory=set)  # dtypes of the gemm calls in the lines


@dataclass
class OutputPlan:
    """How the runner gets output ``j``: a buffer argument, a returned scalar, or a literal."""

    kind: str  # "array" | "scalar" | "literal"
    aval: Aval
    value: np.ndarray | None = None


@dataclass
class Generated:
    """Generated source plus what the runner needs to call it."""

    source: str
    entry: str  # the function to call
    kernels: list[str]  # names of the njit functions
    consts: list[np.ndarray]  # passed after the program's inputs
    const_classes: list[int]  # which of constant_classes(program) each of ``consts`` is
    outputs: list[OutputPlan]
    n_returned: int  # number of 0-d outputs the entry returns
    header: str = ""


class CodegenError(NotImplementedError):
    """A primitive has no way to be compiled (no scalar template, emitter or index map)."""


class _Generator:
    def __init__(self, program: Program, cache: bool = True) -> None:
        self.program = program
        self.cache = cache
        self.counter = 0
        self.names: dict[Var, str] = {}
        self.layouts: dict[str, str] = {}
        self.buffer_names: set[str] = set()
        self.buffers: dict[Var, str] = {}
        self.consts: dict[tuple, tuple[str, Literal]] = {}
        self.views: dict[Var, Eqn] = {}
        self.blocks: list[_Block] = []
        self.block_of: dict[Var, int] = {}
        self.newest: dict[tuple[int, ...], int] = {}
        self.arrays: set[Var] = set()  # loop-block values something outside reads
        self.blas: set[str] = set()  # dtypes of the file's gemm calls (declared in the header)
        self.vector_kernels: set[str] = set()  # vecmath kernels the loops call (imported)

    # -- names ---------------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        self.counter += 1
        return f"_{hint}{self.counter}"

    def _assign_names(self) -> None:
        from ..core.ir import _names

        fresh = iter(_names())
        for v in [*self.program.inputs, *(e.out for e in self.program.eqns)]:
            if v not in self.names:
                name = next(fresh)
                self.names[v] = name + "_" if name in _RESERVED else name

    def name(self, atom: Atom) -> str:
        if isinstance(atom, Literal):
            if atom.value.ndim == 0:
                return literal_text(atom.value)
            return self.const_name(atom)
        return self.names[atom]

    def const_name(self, lit: Literal) -> str:
        key = lit.key()
        if key not in self.consts:
            self.consts[key] = (f"const{len(self.consts)}", lit)
        return self.consts[key][0]

    def operand(self, atom: Atom) -> Operand:
        name = self.name(atom)
        return Operand(name, atom.aval, self.layouts.get(name, "C"))

    # -- classification ------------------------------------------------------------------
    def _is_view(self, eqn: Eqn) -> bool:
        index_map = eqn.prim.index_map
        if index_map is None or len(eqn.inputs) != 1:
            return False
        probe = [f"p{k}" for k in range(eqn.out.aval.ndim)]
        return index_map(probe, eqn.inputs[0].aval, eqn.out.aval, **eqn.params) is not None

    @staticmethod
    def _is_loop(eqn: Eqn) -> bool:
        return eqn.prim.elementwise or eqn.prim.kind == "reduce"

    def resolve(self, atom: Atom, index: list[str]) -> tuple[Atom, list[str]]:
        """Follow views back to the value that holds the data, mapping the index along."""
        while isinstance(atom, Var) and atom in self.views:
            eqn = self.views[atom]
            index = eqn.prim.index_map(index, eqn.inputs[0].aval, atom.aval, **eqn.params)
            atom = eqn.inputs[0]
        return atom, index

    # -- grouping ------------------------------------------------------------------------
    def build(self) -> None:
        program = self.program
        self._assign_names()
        for value_class in constant_classes(program):  # const<k> is the k-th class
            self.const_name(value_class[0])
        self.plans: list[OutputPlan] = []
        self.returned: list[Var] = []
        copies: list[tuple[Var, Var]] = []
        inputs = set(program.inputs)
        for j, atom in enumerate(program.outputs):
            if isinstance(atom, Literal):
                self.plans.append(OutputPlan("literal", atom.aval, atom.value))
            elif atom.aval.ndim == 0:
                self.plans.append(OutputPlan("scalar", atom.aval))
                self.returned.append(atom)
            else:
                self.plans.append(OutputPlan("array", atom.aval))
                if atom in inputs or atom in self.buffers:
                    target = Var(atom.aval)  # an output must not alias an input or an output
                    self.names[target] = f"out{j}"
                    copies.append((target, atom))
                else:
                    target = atom
                self.buffers[target] = self.names[target]
        self.buffer_names = set(self.buffers.values())

        # Views that something other than a loop reads must exist as arrays.
        need = set(self.buffers) | set(self.returned)
        for eqn in reversed(program.eqns):
            view = self._is_view(eqn)
            if (not view and not self._is_loop(eqn)) or (
                view and eqn.out in need and eqn.prim.emit is not None
            ):
                need.update(a for a in eqn.inputs if isinstance(a, Var))

        for eqn in program.eqns:
            if self._is_view(eqn):
                self.views[eqn.out] = eqn
                if eqn.out not in need:
                    continue
                if eqn.prim.emit is not None:
                    self._add_emit(eqn)
                else:
                    self._add_loop(_Member("copy", eqn.out, eqn, eqn.out.aval.shape))
            elif self._is_loop(eqn):
                if eqn.prim.scalar is None:
                    raise CodegenError(f"primitive {eqn.prim.name} has no scalar template")
                kind = "reduce" if eqn.prim.kind == "reduce" else "map"
                space = eqn.inputs[0].aval.shape if kind == "reduce" else eqn.out.aval.shape
                self._add_loop(_Member(kind, eqn.out, eqn, tuple(space)))
            elif eqn.prim.emit is not None:
                self._add_emit(eqn)
            else:
                raise CodegenError(
                    f"primitive {eqn.prim.name} has no code generation: declare a scalar "
                    "template, an emit function or an index_map next to it in primitives.py"
                )
        for target, source in copies:
            self._add_loop(_Member("copy", target, None, target.aval.shape, source=source))

    def _accesses(self, m: _Member) -> list[tuple[Atom, list[str]]]:
        index = _canonical(m.space)
        if m.kind == "map":
            return [
                self.resolve(a, _broadcast_index(index, m.space, a.aval.shape))
                for a in m.eqn.inputs
            ]
        if m.kind == "reduce":
            return [self.resolve(m.eqn.inputs[0], index)]
        if m.eqn is not None:  # a view that must be stored
            x = m.eqn.inputs[0]
            mapped = m.eqn.prim.index_map(index, x.aval, m.out.aval, **m.eqn.params)
            return [self.resolve(x, mapped)]
        return [self.resolve(m.source, index)]

    def _add_loop(self, m: _Member) -> None:
        m.accesses = self._accesses(m)
        key = _squeeze(m.space)
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
            target = _Block(len(self.blocks), key)
            self.blocks.append(target)
            self.newest[key] = target.index
        target.members.append(m)
        self.block_of[m.out] = target.index
        if m.kind != "reduce":
            target.locals[m.out] = _canonical(m.out.aval.shape)

    def _add_emit(self, eqn: Eqn) -> None:
        block = _Block(len(self.blocks), None, eqn=eqn)
        self.blocks.append(block)
        self.block_of[eqn.out] = block.index

    # -- which loop values are stored ----------------------------------------------------
    def _mark_arrays(self) -> None:
        arrays = set(self.buffers) | set(self.returned)
        for block in self.blocks:
            if block.eqn is not None:
                arrays.update(a for a in block.eqn.inputs if isinstance(a, Var))
                continue
            for m in block.members:
                if m.kind == "reduce":
                    arrays.add(m.out)
                for b, idx in m.accesses:
                    if isinstance(b, Var) and block.locals.get(b) != idx:
                        arrays.add(b)
        self.arrays = arrays

    # -- emission ------------------------------------------------------------------------
    def _local(self, v: Var) -> str:
        return self.names[v] if v.aval.ndim == 0 else self.names[v] + "_"

    def _read(self, block: _Block, base: Atom, index: list[str]) -> str:
        if isinstance(base, Literal):
            if base.value.ndim == 0:
                return literal_text(base.value)
            return f"{self.const_name(base)}[{', '.join(index)}]"
        if base in block.locals and block.locals[base] == index:
            return self._local(base)
        if base.aval.ndim == 0:
            return self.names[base]
        return f"{self.names[base]}[{', '.join(index)}]"

    def _emit_loop(self, block: _Block) -> None:
        w = Writer(self, depth=0)
        k = len(block.key)
        pre: list[list[str]] = [[] for _ in range(k + 1)]
        post: list[list[str]] = [[] for _ in range(k + 1)]
        body: list[str] = []
        after: list[tuple[_Member, str]] = []  # float64 accumulator arrays cast afterwards
        defs = []
        shown = ", ".join(self.names[m.out] for m in block.members)
        w.line(f"# loop over {block.key or 'scalars'}: {shown}")
        for m in block.members:
            name = self.names[m.out]
            stored = m.out in self.arrays and m.out.aval.ndim > 0
            if m.out in self.arrays or m.out.aval.ndim == 0:
                defs.append(m.out)
            comment = _comment(m.eqn, self.names) if m.eqn is not None else f"# {name} = copy"
            reads = [self._read(block, b, idx) for b, idx in m.accesses]
            if m.kind == "reduce":
                self._emit_reduction(w, m, reads[0], comment, pre, post, body, after)
                continue
            if m.kind == "copy":
                expr = reads[0]
            else:
                expr = self._scalar_expr(block, m.eqn, reads)
                out_dtype = m.out.aval.dtype
                if (
                    m.eqn.prim.kind == "cast"
                    or out_dtype.kind not in "fb"
                    or (out_dtype.kind == "f" and out_dtype != np.float64)
                ):
                    expr = scalar_cast(expr, out_dtype)
            body.append(f"{self._local(m.out)} = {expr}  {comment}")
            if stored:
                if not self._preallocated(m.out):
                    w.line(f"{name} = {empty_text(m.out.aval.shape, m.out.aval.dtype)}")
                index = _canonical(m.out.aval.shape)
                body.append(f"{name}[{', '.join(index)}] = {self._local(m.out)}")
        loopvars = [f"i{j}" for j in range(k)]

        def level(d: int) -> None:
            for s in pre[d]:
                w.line(s)
            if d == k:
                for s in body:
                    w.line(s)
            else:
                w.line(f"for {loopvars[d]} in range({w.extent(block.key[d])}):")
                with w.indented():
                    level(d + 1)
            for s in post[d]:
                w.line(s)

        level(0)
        block.weight = 1
        for m, acc in after:
            name = self.names[m.out]
            with w.loops(m.out.aval.shape) as idx:
                cast = scalar_cast(f"{acc}[{', '.join(idx)}]", m.out.aval.dtype)
                w.line(f"{name}[{', '.join(idx)}] = {cast}")
            block.weight += 1
        block.lines = w.lines
        block.extents = w.extents
        block.blas = w.blas
        block.defs = [v for v in defs if v not in self.buffers]
        uses: list[Atom] = []
        for m in block.members:
            if m.out in self.buffers:
                uses.append(m.out)
            for b, _ in m.accesses:
                if isinstance(b, Literal) and b.value.ndim > 0:
                    uses.append(b)
                elif isinstance(b, Var) and self.block_of.get(b) != block.index:
                    uses.append(b)
        block.uses = uses

    def _scalar_expr(self, block: _Block, eqn: Eqn, reads: list[str]) -> str:
        """The loop body's expression for ``eqn``: its vecmath form in loops over arrays."""
        prim = eqn.prim
        dtype = eqn.inputs[0].aval.dtype if eqn.inputs else None
        if (
            prim.vector is not None
            and dtype in (np.float32, np.float64)
            and math.prod(block.key) >= VECTOR_MATH_MIN_SIZE
            and os.environ.get("TRACEGRAD_VECTOR_MATH", "1") != "0"
        ):
            expr = prim.vector.format(*reads, f="f32" if dtype == np.float32 else "f64")
            self.vector_kernels.update(_VECTOR_KERNEL.findall(expr))
            return expr
        return prim.scalar.format(*reads, **eqn.params)

    def _preallocated(self, v: Var) -> bool:
        return v in self.buffers

    def _emit_reduction(
        self,
        w: Writer,
        m: _Member,
        value: str,
        comment: str,
        pre: list[list[str]],
        post: list[list[str]],
        body: list[str],
        after: list[tuple[_Member, str]],
    ) -> None:
        prim, axes = m.eqn.prim, tuple(m.eqn.params["axes"])
        name = self.names[m.out]
        out = m.out.aval
        index = _canonical(m.space)
        loopvars = [e for e in index if e != "0"]
        reduced = [index[a] for a in axes if index[a] != "0"]
        kept = [index[a] for a in range(len(m.space)) if a not in axes]
        acc_dtype = np.dtype(np.float64 if out.dtype.kind == "f" else np.int64)
        identity = prim.identity if prim.identity is not None else 0
        if acc_dtype.kind == "i" and math.isinf(identity):
            info = np.iinfo(out.dtype)
            identity = info.min if identity < 0 else info.max
        init = literal_text(identity, acc_dtype)
        depth = len(loopvars) - len(reduced)
        if reduced == loopvars[depth:]:
            # The reduced axes are the innermost loops: a scalar accumulator.
            acc = f"{name}_acc"
            if out.ndim and not self._preallocated(m.out):
                w.line(f"{name} = {empty_text(out.shape, out.dtype)}")
            pre[depth].append(f"{acc} = {init}")
            body.append(f"{acc} = {prim.scalar.format(value, acc=acc)}  {comment}")
            result = acc if acc_dtype == out.dtype else scalar_cast(acc, out.dtype)
            target = name if out.ndim == 0 else f"{name}[{', '.join(kept)}]"
            post[depth].append(f"{target} = {result}")
            return
        # Otherwise accumulate into an array indexed by the kept axes.
        if acc_dtype == out.dtype:
            acc = name
            if not self._preallocated(m.out):
                w.line(f"{name} = {empty_text(out.shape, out.dtype)}")
            w.line(fill_text(name, init))
        else:
            acc = f"{name}_acc"
            w.line(f"{acc} = {empty_text(out.shape, acc_dtype)}")
            w.line(fill_text(acc, init))
            if not self._preallocated(m.out):
                w.line(f"{name} = {empty_text(out.shape, out.dtype)}")
            after.append((m, acc))
        cell = f"{acc}[{', '.join(kept)}]"
        body.append(f"{cell} = {prim.scalar.format(value, acc=cell)}  {comment}")

    def _emit_block(self, block: _Block) -> None:
        eqn = block.eqn
        w = Writer(self, depth=0)
        w.line(_comment(eqn, self.names))
        out = self.operand(eqn.out)
        inputs = [self.operand(a) for a in eqn.inputs]
        eqn.prim.emit(w, out, *inputs, **eqn.params)
        block.lines = w.lines
        block.extents = w.extents
        block.blas = w.blas
        block.weight = w.nests or STATEMENT_WEIGHT
        block.defs = [] if eqn.out in self.buffers else [eqn.out]
        uses: list[Atom] = [a for a in eqn.inputs if not (isinstance(a, Literal) and a.is_scalar)]
        if eqn.out in self.buffers:
            uses.append(eqn.out)
        block.uses = uses

    # -- repeated loop nests -------------------------------------------------------------
    def _share_repeated_loops(self) -> list[str]:
        """Write each loop nest that occurs more than once as one helper function.

        A stack of equal layers repeats the same nests (bias and tanh forward, their
        derivative backward) once per layer, and Numba's compile time follows the number of
        nests it compiles: 20 inline copies cost 20 times one. Two nests are the same when
        their code is, up to the names of values and fresh locals (``_canonical``; comments
        aside), and their parameters have the same shapes and dtypes. Each such nest is then
        written once as ``_loop<k>`` and its blocks become calls of it. Returns the helpers'
        source text.
        """
        groups: dict[str, list[tuple[_Block, list[Atom], str]]] = {}
        for block in self.blocks:
            if block.eqn is None:
                params, text = self._canonical(block)
                code = "\n".join(line.split("#")[0].rstrip() for line in text.splitlines())
                # Loop bounds are read from the parameters' shapes: those must match too.
                shapes = repr([(a.aval.shape, a.aval.dtype.name) for a in params])
                groups.setdefault(code + shapes, []).append((block, params, text))
        helpers: list[str] = []
        for blocks in groups.values():
            if len(blocks) < 2:
                continue
            fname = f"_loop{len(helpers) + 1}"
            first, first_params, text = blocks[0]
            n = len(first_params)
            names = [f"v{k}" for k in range(n)]
            avals = [a.aval for a in first_params]
            results = [f"v{k}" for k in range(n, n + len(first.defs))]
            body = [*self._extents(names, avals, first.extents), *text.splitlines()]
            if results:
                body.append("return " + ", ".join(results))
            helpers.append(
                f"\n\n@numba.njit({self._njit_options()})\n"
                f"def {fname}({', '.join(names)}):\n" + "\n".join("    " + line for line in body)
            )
            for block, params, _ in blocks:
                call = f"{fname}({', '.join(self.name(a) for a in params)})"
                if block.defs:
                    call = ", ".join(self.name(v) for v in block.defs) + " = " + call
                block.lines = [block.lines[0], call]
                block.extents = set()
                block.weight = STATEMENT_WEIGHT
        return helpers

    def _canonical(self, block: _Block) -> tuple[list[Atom], str]:
        """A loop block's parameters, and its text with every name made positional.

        Parameters (the values it reads from outside) become ``v0, v1, ...``, then the values
        it defines, then its other members; their scalar locals and accumulators follow
        (``v3_``, ``v3_acc``), and fresh names become ``_f0, _f1, ...``. The text is the body
        of the helper that ``_share_repeated_loops`` writes for it.
        """
        params: list[Atom] = []
        seen: set = set()
        for a in block.uses:
            k = ("lit", a.key()) if isinstance(a, Literal) else ("var", a.uid)
            if k not in seen:
                seen.add(k)
                params.append(a)
        rename: dict[str, str] = {}

        def number(name: str) -> None:
            if name not in rename:
                positional = f"v{len(rename) // 3}"
                for suffix in ("", "_", "_acc"):
                    rename[name + suffix] = positional + suffix

        for a in [*params, *block.defs, *(m.out for m in block.members)]:
            number(self.name(a))
        fresh: dict[str, str] = {}

        def token(match: re.Match) -> str:
            word = match.group(0)
            if word not in rename and word in self.var_names:  # e.g. a view in a comment
                number(word)
            if word in rename:
                return rename[word]
            if _FRESH.fullmatch(word):
                return fresh.setdefault(word, f"_f{len(fresh)}")
            return word

        text = "\n".join(_IDENTIFIER.sub(token, line) for line in block.lines)
        return params, text

    # -- functions -----------------------------------------------------------------------
    # (Arrays are made with ``numba_support.empty`` and ``fill`` only: each NumPy constructor,
    # and each new shape rank or dtype of one, is a Numba overload to compile, 0.03-0.1 s each.)
    def _signature(self, params: list[Atom]) -> str:
        types = []
        for a in params:
            layout = self.layouts.get(self.name(a), "C") if isinstance(a, Var) else "C"
            types.append(numba_type(a.aval, layout))
        return "(" + ", ".join(types) + ("," if len(types) == 1 else "") + ")"

    @staticmethod
    def _extents(names: list[str], avals: list[Aval], extents: set[int]) -> list[str]:
        """Define the loop bounds ``_ext<n>`` of one function, read from its arguments' shapes.

        A bound that LLVM knows as a constant makes it unroll and specialise every loop nest
        (a 16 x 32 tanh layer fully unrolled): compiling the 20-layer MLP took 3-4x longer.
        A bound read from an argument's shape is opaque to it, and costs nothing at run time.
        Bounds that no argument has are written as constants.
        """
        lines = []
        for n in sorted(extents):
            source = str(n)
            for name, aval in zip(names, avals, strict=True):
                if n in aval.shape:
                    source = f"{name}.shape[{aval.shape.index(n)}]"
                    break
            lines.append(f"_ext{n} = {source}")
        return lines

    @staticmethod
    def _blas_setup(dtypes: set[str]) -> list[str]:
        """The locals of ``Writer.matmul``: alpha = 1 and beta = 0 cells, the status flag.

        (NumPy's CBLAS takes alpha and beta by value and reports no status.)
        """
        if _blas_binding.uses_numpy_blas():
            return []
        lines = []
        for d in sorted(dtypes):
            for name, value in ((f"_one_{d}", 1), (f"_zero_{d}", 0)):
                lines.append(f"{name} = {empty_text((1,), d)}")
                lines.append(f"{name}[0] = {value}")
        return lines + ["_blas = 0"] if dtypes else []

    def _njit_options(self) -> str:
        return ("cache=True, " if self.cache else "") + DECORATOR_OPTIONS

    def _decorator(self, params: list[Atom]) -> str:
        return f'@numba.njit("{self._signature(params)}", {self._njit_options()})'

    def generate(self) -> Generated:
        self.build()
        self._mark_arrays()
        for block in self.blocks:
            if block.eqn is None:
                self._emit_loop(block)
            else:
                self._emit_block(block)
        self.var_names = set(self.names.values())
        helpers = self._share_repeated_loops()

        # Pack blocks into functions.
        chunks: list[list[_Block]] = [[]]
        weight = 0
        for block in self.blocks:
            if chunks[-1] and weight + block.weight > MAX_OPS_PER_FUNCTION:
                chunks.append([])
                weight = 0
            chunks[-1].append(block)
            weight += block.weight

        const_atoms = []  # in order of first use, so that names match positions
        for block in self.blocks:
            for a in block.uses:
                if isinstance(a, Literal) and a not in const_atoms:
                    if all(c.key() != a.key() for c in const_atoms):
                        const_atoms.append(a)
        const_atoms.sort(key=lambda lit: int(self.const_name(lit)[5:]))
        buffer_vars = list(self.buffers)
        entry_params: list[Atom] = [*self.program.inputs, *const_atoms, *buffer_vars]

        def key(a: Atom) -> Any:
            return ("lit", a.key()) if isinstance(a, Literal) else ("var", a.uid)

        defined_in: dict[Any, int] = {}
        for c, blocks in enumerate(chunks):
            for block in blocks:
                for v in block.defs:
                    defined_in[key(v)] = c
        later_uses: list[set] = [set() for _ in chunks]
        for c in range(len(chunks) - 1, -1, -1):
            if c + 1 < len(chunks):
                later_uses[c] = set(later_uses[c + 1])
                for block in chunks[c + 1]:
                    later_uses[c].update(key(a) for a in block.uses)
        returned_keys = {key(v) for v in self.returned}

        functions: list[tuple[str, list[Atom], list[Var], list[str]]] = []
        single = len(chunks) == 1
        for c, blocks in enumerate(chunks):
            fname = "program" if single else f"program_{c + 1}"
            if single:
                params = entry_params
            else:
                params, seen = [], set()
                for block in blocks:
                    for a in block.uses:
                        k = key(a)
                        if k not in seen and defined_in.get(k, -1) < c:
                            seen.add(k)
                            params.append(a)
            if single:
                live_out = list(self.returned)
            else:
                live_out = []
                for block in blocks:
                    for v in block.defs:
                        if key(v) in later_uses[c] or key(v) in returned_keys:
                            live_out.append(v)
            lines = [line for block in blocks for line in block.lines]
            extents = set().union(*(block.extents for block in blocks))
            blas = set().union(*(block.blas for block in blocks))
            names = [self.name(a) for a in params]
            avals = [a.aval for a in params]
            lines = self._extents(names, avals, extents) + self._blas_setup(blas) + lines
            if blas and not _blas_binding.uses_numpy_blas():
                lines += [
                    "if _blas != 0:",
                    '    raise RuntimeError("tracegrad: the BLAS matrix product (SciPy) failed")',
                ]
            self.blas |= blas
            functions.append((fname, params, live_out, lines))

        out = [self._file_header()]
        for d in sorted(self.blas):
            out.append(_gemm_declaration(d))
        out.extend(helpers)
        for fname, params, live_out, lines in functions:
            out.append("")
            out.append("")
            out.append(self._decorator(params))
            out.append(f"def {fname}({', '.join(self.name(a) for a in params)}):")
            out.extend("    " + line for line in lines)
            if live_out:
                out.append("    return " + ", ".join(self.name(v) for v in live_out))
            elif not lines:
                out.append("    return None")
        if not single:
            out += ["", ""]
            out.append(f"def program({', '.join(self.name(a) for a in entry_params)}):")
            for fname, params, live_out, _ in functions:
                call = f"{fname}({', '.join(self.name(a) for a in params)})"
                if live_out:
                    targets = ", ".join(self.name(v) for v in live_out)
                    out.append(f"    {targets} = {call}")
                else:
                    out.append(f"    {call}")
            if self.returned:
                out.append("    return " + ", ".join(self.name(v) for v in self.returned))
        kernels = [f for f, *_ in functions]
        out += ["", "", f"KERNELS = [{', '.join(kernels)}]", ""]
        return Generated(
            source="\n".join(out),
            entry="program",
            kernels=kernels,
            consts=[np.array(lit.value, order="C") for lit in const_atoms],  # writable copies
            const_classes=[int(self.const_name(lit)[5:]) for lit in const_atoms],
            outputs=self.plans,
            n_returned=len(self.returned),
        )

    def _file_header(self) -> str:
        ir_text = "\n".join("#   " + line for line in str(self.program).splitlines())
        kernels = sorted(self.vector_kernels)
        return (
            "# Generated by tracegrad from the program below; one comment per IR equation.\n"
            f"{ir_text}\n"
            "import math  # noqa: F401\n\n"
            "import numba\n"
            "import numpy as np\n\n"
            "from tracegrad.backend.numba_support import empty as _empty, fill as _fill"
            + "".join(f"\nfrom tracegrad.backend.vecmath import {k} as _vm_{k}" for k in kernels)
        )


def _gemm_declaration(dtype: str) -> str:
    """The module-level declaration of ``_gemm_<dtype>``, the callee of ``Writer.matmul``."""
    if not _blas_binding.uses_numpy_blas():
        return _GEMM_DECLARATION.format(dtype=dtype)
    text = _NUMPY_GEMM_DECLARATION.format(dtype=dtype, symbol=_blas_binding.symbol(dtype))
    return text + "\n_f32_1, _f32_0 = np.float32(1.0), np.float32(0.0)" * (dtype == "float32")


# bind() registers the symbol's address with LLVM: it must run before the njit decorators,
# which link cached machine code at once. float32 alpha and beta are typed constants: Numba
# would type a bare 1.0 as float64.
_NUMPY_GEMM_DECLARATION = """
# {dtype} matrix products: NumPy's OpenBLAS (tracegrad.backend.blas), CBLAS with 64-bit integers
# order, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc
from tracegrad.backend import blas as _tg_blas

_tg_blas.bind()
_P_{dtype} = numba.types.CPointer(numba.types.{dtype})
_gemm_{dtype} = numba.types.ExternalFunction(
    "{symbol}",
    numba.types.void(
        *(numba.types.intc,) * 3, *(numba.types.int64,) * 3, numba.types.{dtype}, _P_{dtype},
        numba.types.int64, _P_{dtype}, numba.types.int64, numba.types.{dtype}, _P_{dtype},
        numba.types.int64,
    ),
)"""

_GEMM_DECLARATION = """
# {dtype} matrix products: Numba's BLAS entry point (SciPy's gemm), column-major arguments
# kind, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc
_P_{dtype} = numba.types.CPointer(numba.types.{dtype})
_gemm_{dtype} = numba.types.ExternalFunction(
    "numba_xxgemm",
    numba.types.intc(
        *(numba.types.char,) * 3, *(numba.types.intp,) * 3, _P_{dtype}, _P_{dtype},
        numba.types.intp, _P_{dtype}, numba.types.intp, _P_{dtype}, _P_{dtype}, numba.types.intp
    ),
)"""


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


def generate(program: Program, cache: bool = True) -> Generated:
    """Generate the Numba source of ``program`` and the calling convention of its entry."""
    return _Generator(program, cache).generate()


def generate_source(program: Program, cache: bool = True) -> str:
    """The Python/Numba source text for ``program`` (what ``tracegrad.show_source`` shows)."""
    return generate(program, cache).source
