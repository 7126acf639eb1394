"""Package: blocks' code into ``numba.njit`` functions, their signatures, and the file.

Blocks are packed into functions of at most ``MAX_OPS_PER_FUNCTION`` loop nests each (a
statement without a loop counts a tenth), chained by a plain Python driver: Numba's compile
time grows superlinearly with the size of one function, linearly with the number of
functions. Arrays are made with ``numba_support.empty`` and ``fill`` only: each NumPy
constructor, and each new shape rank or dtype of one, is a Numba overload to compile,
0.03-0.1 s each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.ir import Atom, Literal, Program, Var, atom_key, pretty
from . import matmul
from .emit import Code, Emitted
from .schedule import OutputPlan, Schedule
from .text import extent_lines, numba_type, support_import
from .writer import Names

MAX_OPS_PER_FUNCTION = 30
DECORATOR_OPTIONS = "error_model='numpy', fastmath={'reassoc', 'contract', 'arcp', 'nsz'}"


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


@dataclass
class _Function:
    """One njit function of the file: a chunk of blocks."""

    name: str
    params: list[Atom]
    live_out: list[Var]  # values it returns: read by later functions or returned by the entry
    lines: list[str]
    blas: set[str]


def njit_options(cache: bool) -> str:
    """The ``numba.njit`` options of every function of a file, kernels and helpers."""
    return ("cache=True, " if cache else "") + DECORATOR_OPTIONS


def package(sched: Schedule, emitted: Emitted, helpers: list[str], cache: bool) -> Generated:
    """The source file of the scheduled, emitted program and its calling convention."""
    names = sched.names
    const_atoms = _constant_params(emitted.codes, names)
    entry_params: list[Atom] = [*sched.program.inputs, *const_atoms, *names.buffers]
    functions = _functions(sched, _chunks(emitted.codes), entry_params)
    blas = set().union(*(f.blas for f in functions))
    header = _file_header(sched.program, sched.names, emitted.vector_kernels, emitted.support)
    out = [header, *matmul.declarations(blas)]
    out.extend(helpers)
    for f in functions:
        out.extend(_function_text(f, names, njit_options(cache)))
    if len(functions) > 1:
        out.extend(_driver_text(functions, entry_params, sched.returned, names))
    kernels = [f.name for f in functions]
    out += ["", "", f"KERNELS = [{', '.join(kernels)}]", ""]
    return Generated(
        source="\n".join(out),
        entry="program",
        kernels=kernels,
        consts=[np.array(lit.value, order="C") for lit in const_atoms],  # writable copies
        const_classes=[int(names.const_name(lit)[5:]) for lit in const_atoms],
        outputs=sched.outputs,
        n_returned=len(sched.returned),
    )


def _chunks(codes: list[Code]) -> list[list[Code]]:
    """Consecutive blocks, cut where a function would exceed ``MAX_OPS_PER_FUNCTION``."""
    chunks: list[list[Code]] = [[]]
    weight = 0.0
    for code in codes:
        if chunks[-1] and weight + code.weight > MAX_OPS_PER_FUNCTION:
            chunks.append([])
            weight = 0.0
        chunks[-1].append(code)
        weight += code.weight
    return chunks


def _constant_params(codes: list[Code], names: Names) -> list[Literal]:
    """The constant arrays the code reads, one per value, in the order of their names."""
    found: dict[tuple, Literal] = {}
    for code in codes:
        for a in code.uses:
            if isinstance(a, Literal):
                found.setdefault(a.key(), a)
    return sorted(found.values(), key=lambda lit: int(names.const_name(lit)[5:]))


def _functions(
    sched: Schedule, chunks: list[list[Code]], entry_params: list[Atom]
) -> list[_Function]:
    """One function per chunk, with the parameters it reads and the values it hands on."""
    if len(chunks) == 1:
        return [_function(sched.names, "program", chunks[0], entry_params, list(sched.returned))]
    defined_in = {
        atom_key(v): c for c, chunk in enumerate(chunks) for code in chunk for v in code.defs
    }
    later: set[tuple] = {atom_key(v) for v in sched.returned}  # read after the current chunk
    functions = []
    for c in range(len(chunks) - 1, -1, -1):
        params: dict[tuple, Atom] = {}
        for code in chunks[c]:
            for a in code.uses:
                if defined_in.get(atom_key(a), -1) < c:
                    params.setdefault(atom_key(a), a)
        live_out = [v for code in chunks[c] for v in code.defs if atom_key(v) in later]
        name = f"program_{c + 1}"
        functions.append(_function(sched.names, name, chunks[c], list(params.values()), live_out))
        later.update(atom_key(a) for code in chunks[c] for a in code.uses)
    return functions[::-1]


def _function(
    names: Names, fname: str, chunk: list[Code], params: list[Atom], live_out: list[Var]
) -> _Function:
    """A chunk's lines behind its loop bounds and BLAS locals."""
    lines = [line for code in chunk for line in code.lines]
    extents = set().union(*(code.extents for code in chunk))
    blas = set().union(*(code.blas for code in chunk))
    bounds = extent_lines([names.name(a) for a in params], [a.aval for a in params], extents)
    lines = bounds + matmul.setup_lines(blas) + lines + matmul.check_lines(blas)
    return _Function(fname, params, live_out, lines, blas)


def _signature(params: list[Atom], names: Names) -> str:
    """The explicit Numba signature of a function taking ``params``."""
    types = []
    for a in params:
        layout = names.layouts.get(names.name(a), "C") if isinstance(a, Var) else "C"
        types.append(numba_type(a.aval, layout))
    return "(" + ", ".join(types) + ("," if len(types) == 1 else "") + ")"


def _function_text(f: _Function, names: Names, options: str) -> list[str]:
    """The decorated ``def`` of one njit function."""
    out = ["", "", f'@numba.njit("{_signature(f.params, names)}", {options})']
    out.append(f"def {f.name}({', '.join(names.name(a) for a in f.params)}):")
    out.extend("    " + line for line in f.lines)
    if f.live_out:
        out.append("    return " + ", ".join(names.name(v) for v in f.live_out))
    elif not f.lines:
        out.append("    return None")
    return out


def _driver_text(
    functions: list[_Function], entry_params: list[Atom], returned: list[Var], names: Names
) -> list[str]:
    """The plain Python ``program`` calling the njit functions in turn."""
    out = ["", "", f"def program({', '.join(names.name(a) for a in entry_params)}):"]
    for f in functions:
        call = f"{f.name}({', '.join(names.name(a) for a in f.params)})"
        if f.live_out:
            out.append(f"    {', '.join(names.name(v) for v in f.live_out)} = {call}")
        else:
            out.append(f"    {call}")
    if returned:
        out.append("    return " + ", ".join(names.name(v) for v in returned))
    return out


def _file_header(
    program: Program, names: Names, vector_kernels: set[str], support: set[str]
) -> str:
    """The program as a comment (in the file's names), and the imports of the module."""
    ir_text = "\n".join("#   " + line for line in pretty(program, names.of).splitlines())
    return (
        "# Generated by tracegrad from the program below; one comment per IR equation.\n"
        f"{ir_text}\n"
        "import math  # noqa: F401\n\n"
        "import numba\n"
        "import numpy as np\n\n"
        + support_import(support)
        + "".join(
            f"\nfrom tracegrad.backend.vecmath import {k} as _vm_{k}"
            for k in sorted(vector_kernels)
        )
    )
