"""What emitters see: the file's names, operands, and a :class:`Writer` of indented lines.

Primitives declare ``emit(w, out, *inputs, **params)`` (see core/primitives.py): ``w`` is a
Writer, ``out`` and ``inputs`` are Operands.
"""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.ir import Atom, Aval, Literal, Program, Var, display_names, program_vars
from . import lu as _lu
from . import matmul as _matmul
from .text import dtype_text, empty_text, fill_text, literal_text, numba_type, scalar_cast

_RESERVED = set(keyword.kwlist) | set(dir(builtins)) | {"np", "math", "numba"}


class CodegenError(NotImplementedError):
    """A primitive has no way to be compiled (no scalar template, emitter or index map)."""


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


# The generated file's own names: loop indices, extents, constants, helpers, locals (value
# name + "_", reductions + "_acc"), BLAS and vecmath bindings.
_GENERATED = re.compile(r"i\d+|const\d+|program|KERNELS|CBLAS_\w*|\w*_|\w*_acc|_\w*")


def _is_usable_hint(hint: str) -> bool:
    return not _GENERATED.fullmatch(hint)


def _no_hint(hint: str) -> bool:
    return False


@dataclass
class Names:
    """The names of one generated file: values, constant arrays, fresh locals, layouts."""

    of: dict[Var, str] = field(default_factory=dict)
    consts: dict[tuple, str] = field(default_factory=dict)  # Literal.key() -> const<k>
    layouts: dict[str, str] = field(default_factory=dict)  # names of non-C arrays
    buffers: dict[Var, str] = field(default_factory=dict)  # outputs the caller allocates
    counter: int = 0

    @staticmethod
    def of_program(program: Program, user_names: bool = True) -> Names:
        """Names for the program's values: the user's (``W1``, ``grad_W1``) where they are
        unique and cannot clash with the generated file's own names, else ``a, b, c, ...``.
        ``user_names=False`` gives letters only: the text that identifies a kernel."""
        names = Names()
        usable = _is_usable_hint if user_names else _no_hint
        names.of = display_names(program_vars(program), _RESERVED, usable)
        return names

    def fresh(self, hint: str) -> str:
        self.counter += 1
        return f"_{hint}{self.counter}"

    def name(self, atom: Atom) -> str:
        if isinstance(atom, Literal):
            if atom.value.ndim == 0:
                return literal_text(atom.value)
            return self.const_name(atom)
        return self.of[atom]

    def const_name(self, lit: Literal) -> str:
        return self.consts.setdefault(lit.key(), f"const{len(self.consts)}")

    def local(self, v: Var) -> str:
        """The scalar local holding ``v``'s element inside a loop nest."""
        return self.of[v] if v.aval.ndim == 0 else self.of[v] + "_"

    def operand(self, atom: Atom) -> Operand:
        name = self.name(atom)
        return Operand(name, atom.aval, self.layouts.get(name, "C"))


class Writer:
    """Lines of code at an indentation, plus the helpers an emitter needs."""

    def __init__(self, names: Names, depth: int = 0, threads: int = 1) -> None:
        self.lines: list[str] = []
        self.threads = threads  # > 1: large matrix products run in that many blocks
        self.depth = depth
        self.nests = 0  # loop nests opened at the writer's base depth: the block's op count
        self.extents: set[int] = set()  # loop extents used (see ``extent``)
        self.blas: set[str] = set()  # dtypes of the BLAS products written (see ``matmul``)
        self.support: set[str] = set()  # numba_support intrinsics used beyond empty and fill
        self._base = depth
        self._names = names

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
        return self._names.fresh(hint)

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

    @contextmanager
    def loop(self, var: str, bounds: str) -> Iterator[None]:
        """``for var in range(bounds):`` with the body indented; a loop nest of the block's
        count (functions are cut by it) when opened at the base depth."""
        if self.depth == self._base:
            self.nests += 1
        self.line(f"for {var} in range({bounds}):")
        with self.indented():
            yield

    def extent(self, n: int) -> str:
        """The loop bound ``n`` as the function will see it (``_ext<n>``, see ``extent_lines``)."""
        self.extents.add(int(n))
        return f"_ext{int(n)}"

    def matmul(self, out: Operand, x: Operand, y: Operand) -> None:
        """``out = x @ y`` (2-D, one float dtype, ``out`` allocated) as one BLAS gemm call.

        The operands may be C arrays or ``x.T`` views (layout "F"); see ``backend.matmul``.
        """
        dtype = np.dtype(out.aval.dtype)
        if dtype.kind == "c" and x.aval.dtype == dtype == y.aval.dtype:
            self._loop_matmul(out, x, y)
            return
        if dtype not in (np.float32, np.float64) or x.aval.dtype != dtype != y.aval.dtype:
            raise CodegenError(f"BLAS matmul of {x.aval.dtype} and {y.aval.dtype}")
        self.blas.add(dtype.name)
        blocks = _matmul.product_blocks(out, x, self.threads)
        self.line(_matmul.gemm_call(out, x, y, blocks))

    def _loop_matmul(self, out: Operand, x: Operand, y: Operand) -> None:
        """``out = x @ y`` as a loop nest: complex products (BLAS's cgemm and zgemm take alpha
        and beta by pointer, which the gemm declarations here do not)."""
        acc, inner = self.fresh("acc"), self.fresh("l")
        with self.loops(out.aval.shape) as (i, j):
            self.line(f"{acc} = {self.cast('0', out.aval)}")
            with self.loop(inner, self.extent(x.aval.shape[1])):
                self.line(f"{acc} += {self.index(x, [i, inner])} * {self.index(y, [inner, j])}")
            self.line(f"{self.index(out, [i, j])} = {acc}")

    def object_mode(self, out: Operand, call: str) -> None:
        """``out = call``, a NumPy call that Numba does not compile (np.fft), run in object
        mode: the kernel returns to the interpreter for it, a few microseconds a call."""
        result = self.fresh("r")
        self.line(f"with numba.objmode({result}={numba_type(out.aval)!r}):")
        with self.indented():
            self.line(f"{result} = np.ascontiguousarray({call}, dtype={self.dtype(out.aval)})")
        if self.preallocated(out):  # an element loop: ``out[...] =`` is Numba's slow setitem
            with self.loops(out.aval.shape) as index:
                self.line(f"{self.index(out, index)} = {result}[{', '.join(index)}]")
        else:
            self.line(f"{out} = {result}")

    def view(self, x: Operand, shape: Sequence[int]) -> str:
        """A C view of the C array ``x`` in ``shape`` (same size): no Numba reshape compile."""
        if x.layout != "C":
            raise CodegenError(f"a reshaped view of the {x.layout}-layout array {x}")
        self.support.add("reshape")
        return f"_reshape({x}, {tuple(int(n) for n in shape)!r})"

    def copy(self, out: Operand, x: Operand) -> None:
        """``out``'s elements become ``x``'s in C order (both C arrays of one size)."""
        if x.layout != "C" or out.layout != "C":
            raise CodegenError(f"a copy of the {x.layout}-layout array {x}")
        self.support.add("copy")
        self.line(f"_copy({out}, {x})")

    @staticmethod
    def loop_linalg(a: Operand) -> bool:
        """Whether the square matrices ``a`` (one, or a stack) are small enough for
        ``backend.lu``'s loops."""
        return _lu.use_loops(a.aval.shape[-1])

    def lu_solve(self, out: Operand, a: Operand, b: Operand) -> None:
        _lu.solve(self, out, a, b)

    def lu_inv(self, out: Operand, a: Operand) -> None:
        _lu.inv(self, out, a)

    def lu_determinant(self, out: Operand, a: Operand, part: str) -> None:
        """``part``: "det", or slogdet's "sign" or "logabsdet"."""
        _lu.determinant(self, out, a, part)

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
        return out.name in self._names.buffers.values()

    def alloc(self, out: Operand, fill: str | None = None) -> None:
        """Make ``out`` an array of its aval (unless preallocated); ``fill`` initialises it."""
        if not self.preallocated(out):
            self.line(f"{out} = {empty_text(out.aval.shape, out.aval.dtype)}")
        if fill is not None:
            self.line(fill_text(out.name, fill))

    def set_layout(self, out: Operand, layout: str) -> None:
        """Declare that the emitter made ``out`` with another layout (e.g. "F" for ``x.T``)."""
        out.layout = layout
        self._names.layouts[out.name] = layout

    @staticmethod
    def contiguous(x: Operand) -> str:
        return x.name if x.layout == "C" else f"np.ascontiguousarray({x.name})"
