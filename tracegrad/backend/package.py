"""Package: blocks' code into ``numba.njit`` functions, their signatures, and the file.

Blocks are packed into functions of at most ``MAX_OPS_PER_FUNCTION`` loop nests each (a
statement without a loop counts a tenth), chained by a plain Python driver: Numba's compile
time grows superlinearly with the size of one function, linearly with the number of
functions. Arrays are made with ``numba_support.empty`` and ``fill`` only: each NumPy
constructor, and each new shape rank or dtype of one, is a Numba overload to compile,
0.03-0.1 s each.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..core.ir import Atom, Literal, Program, Var, atom_key, pretty
from . import matmul
from .emit import Code, Emitted
from .schedule import OutputPlan, Schedule
from .text import extent_lines, numba_type, support_import
from .writer import Names

MAX_OPS_PER_FUNCTION = 30
# A repeated run of blocks becomes one shared function only if it holds this many loop nests:
# each call from the driver costs about a microsecond, each function about 0.2 s to compile.
MIN_STEP_WEIGHT = 1.0
MAX_STEP_BLOCKS = 400
# More new arrays than this handed on by one function come back stacked: Numba's compile
# time grows superlinearly with the arrays a function returns (100 of them: 12 s).
MAX_RETURNED_ARRAYS = 8  # the longest period looked for (a step of an unrolled loop, in blocks)

_IDENTIFIER = re.compile(r"(?<![\w.])[A-Za-z_]\w*")
_FRESH = re.compile(r"_(?!ext\d|loop\d|stack\d)[a-z]+\d+")  # not _ext<n>, _loop<k>, _stack<k>
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
    text: list[str] | None = None  # a shared step's body in positional names, return included
    stacks: dict[str, list[Var]] = field(default_factory=dict)  # returned stacks' members
    parallel: bool = False  # holds a numba.prange loop


def njit_options(cache: bool, parallel: bool = False) -> str:
    """The ``numba.njit`` options of a function of a file, kernel or helper: ``parallel``
    only for functions with a ``numba.prange`` loop (it costs compile time)."""
    return (
        ("cache=True, " if cache else "")
        + ("parallel=True, " if parallel else "")
        + (DECORATOR_OPTIONS)
    )


def package(sched: Schedule, emitted: Emitted, helpers: list[str], cache: bool) -> Generated:
    """The source file of the scheduled, emitted program and its calling convention."""
    names = sched.names
    const_atoms = _constant_params(emitted.codes, names)
    entry_params: list[Atom] = [*sched.program.inputs, *const_atoms, *names.buffers]
    functions, defined = _shared_steps(sched, emitted.codes, entry_params)
    blas = set().union(*(f.blas for f in functions))
    uses_cmath = any("cmath." in line for code in emitted.codes for line in code.lines)
    splits_products = any(
        matmul.BLOCK_CALL in line for code in emitted.codes for line in code.lines
    )
    header = _file_header(
        sched.program, sched.names, emitted.vector_kernels, emitted.support, uses_cmath
    )
    out = [header, *matmul.declarations(blas, splits_products)]
    out.extend(helpers)
    for f in defined:
        out.extend(_function_text(f, names, njit_options(cache, f.parallel)))
    if len(functions) > 1:
        out.extend(_driver_text(functions, entry_params, sched.returned, names))
    kernels = [f.name for f in defined]
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


def _shared_steps(
    sched: Schedule, codes: list[Code], entry_params: list[Atom]
) -> tuple[list[_Function], list[_Function]]:
    """The functions the driver calls in order, and those the file defines.

    A Python loop unrolled by tracing repeats the same run of blocks once per step. Each such
    run is made a chunk of its own; runs whose functions read the same (names aside) become
    calls of one function, compiled once, so the compile time follows the number of distinct
    steps, not the loop's length. Runs left without a twin go back to the ordinary chunks.
    """
    # A program that fits in one function gains nothing from shared steps at compile time,
    # and each step call from the Python driver costs about a microsecond per call.
    fits_one = sum(code.weight for code in codes) <= MAX_OPS_PER_FUNCTION
    segments = [] if fits_one else _repeated_runs(codes, sched.names)
    while True:
        chunks, steps = _chunks_around(codes, segments)
        functions = _functions(sched, chunks, entry_params)
        keys = {c: _canonical(functions[c], sched.names)[0] for c in steps}
        counts: dict[str, int] = {}
        for key in keys.values():
            counts[key] = counts.get(key, 0) + 1
        twins = [k for k, c in enumerate(steps) if counts[keys[c]] > 1]
        if len(twins) == len(steps):
            return _calls_of_shared(functions, keys, sched.names)
        # A run's reads and results do not depend on how the other blocks are chunked, so
        # dropping the runs without a twin leaves the others' functions as they were.
        segments = [segments[k] for k in twins]


def _calls_of_shared(
    functions: list[_Function], keys: dict[int, str], names: Names
) -> tuple[list[_Function], list[_Function]]:
    """Each group of equal step functions defined once as ``_step<k>``, called by all."""
    shared: dict[str, _Function] = {}
    calls, defined = [], []
    for c, f in enumerate(functions):
        if c not in keys:
            calls.append(f)
            defined.append(f)
            continue
        if keys[c] not in shared:
            name = f"_step{len(shared) + 1}"
            step = _Function(name, f.params, f.live_out, f.lines, f.blas, stacks=f.stacks)
            step.parallel = f.parallel
            step.text = _canonical(f, names)[1]
            shared[keys[c]] = step
            defined.append(step)
        calls.append(
            _Function(shared[keys[c]].name, f.params, f.live_out, [], f.blas, stacks=f.stacks)
        )
    return calls, defined


def _block_token(code: Code, value_names: set[str]) -> str:
    """A block's text with every value and fresh name blanked, and the shapes it reads."""

    def blank(match: re.Match) -> str:
        word = match.group(0)
        base = word.removesuffix("_acc").removesuffix("_")
        return "_" if base in value_names or _FRESH.fullmatch(word) else word

    text = "\n".join(_IDENTIFIER.sub(blank, line.split("#")[0]) for line in code.lines)
    return text + repr([(a.aval.shape, a.aval.dtype.name) for a in code.uses])


def _repeated_runs(codes: list[Code], names: Names) -> list[tuple[int, int]]:
    """Block ranges ``[start, end)`` that repeat back to back, found greedily from the front.

    At each position the period covering the most blocks wins (ties: the shortest), so a
    step's two equal transposes do not hide the step itself. Only equal block texts are
    found here; whether two runs really compute the same function is checked later.
    """
    value_names = set(names.of.values())
    tokens = [_block_token(code, value_names) for code in codes]
    weights = [code.weight for code in codes]
    n, i = len(tokens), 0
    runs: list[tuple[int, int]] = []
    while i < n:
        best, best_count = 0, 0
        for period in range(1, min(MAX_STEP_BLOCKS, (n - i) // 2) + 1):
            if tokens[i + period] != tokens[i] or sum(weights[i : i + period]) < MIN_STEP_WEIGHT:
                continue
            count = 1
            while tokens[i : i + period] == tokens[i + count * period : i + (count + 1) * period]:
                count += 1
            if count > 1 and count * period > best * best_count:
                best, best_count = period, count
        if not best:
            i += 1
            continue
        runs += [(i + k * best, i + (k + 1) * best) for k in range(best_count)]
        i += best * best_count
    return runs


def _chunks_around(
    codes: list[Code], runs: list[tuple[int, int]]
) -> tuple[list[list[Code]], list[int]]:
    """Chunks with each run a chunk of its own; also the indices of those chunks."""
    chunks: list[list[Code]] = []
    steps: list[int] = []
    done = 0
    for start, end in runs:
        if start > done:
            chunks += _chunks(codes[done:start])
        steps.append(len(chunks))
        chunks.append(codes[start:end])
        done = end
    if done < len(codes) or not chunks:
        chunks += _chunks(codes[done:])
    return chunks, steps


def _canonical(f: _Function, names: Names) -> tuple[str, list[str]]:
    """The key of a step function (its text with positional names, and its signature), and
    that text with comments dropped: the body shared by every step it stands for.

    Parameters become ``p0, p1, ...`` and every other value (with its scalar ``_`` and
    ``_acc`` forms) and fresh name is numbered by first appearance.
    """
    rename = {names.name(a): f"p{k}" for k, a in enumerate(f.params)}
    value_names = set(names.of.values())
    fresh: dict[str, str] = {}

    def positional(match: re.Match) -> str:
        word = match.group(0)
        for suffix in ("", "_", "_acc"):
            base = word.removesuffix(suffix) if suffix else word
            if (base in rename or base in value_names) and base + suffix == word:
                return rename.setdefault(base, f"l{len(rename)}") + suffix
        if _FRESH.fullmatch(word):
            return fresh.setdefault(word, f"_f{len(fresh)}")
        return word

    lines = [line.split("#")[0].rstrip() for line in f.lines]
    lines = [_IDENTIFIER.sub(positional, line) for line in lines if line.strip()]
    if f.live_out or f.stacks:
        results = [rename[names.name(v)] for v in f.live_out]
        lines.append("return " + ", ".join([*results, *f.stacks]))
    return _signature(f.params, names) + "\n" + "\n".join(lines), lines


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
    f = _Function(fname, params, live_out, lines, blas)
    f.parallel = any(code.parallel for code in chunk)
    if fname != "program":  # the entry's results are the program's, returned as they are
        _stack_results(f, names)
    return f


def _stack_results(f: _Function, names: Names) -> None:
    """Allocate many of ``f``'s new results as the rows of a few stacked arrays.

    A loop over the steps of an unrolled loop writes one array per step (``x[t]`` of every
    step in one pass), all handed on. Each group of equal shape and dtype becomes one array
    ``_stack<k>`` returned instead, and the driver unpacks its rows, C-contiguous views.
    """
    allocated: dict[str, tuple[int, str]] = {}
    pattern = re.compile(r"(\w+) = _empty\(\((.*)\), (.+)\)$")
    for index, line in enumerate(f.lines):
        match = pattern.match(line)
        if match:
            allocated[match.group(1)] = (index, line)
    fresh = [v for v in f.live_out if names.name(v) in allocated]
    if len(fresh) <= MAX_RETURNED_ARRAYS:
        return
    groups: dict[tuple[str, str], list[Var]] = {}
    for v in fresh:
        match = pattern.match(allocated[names.name(v)][1])
        groups.setdefault((match.group(2), match.group(3)), []).append(v)
    header = []
    for (shape, dtype), members in groups.items():
        if len(members) < 2:
            continue
        stack = f"_stack{len(f.stacks) + 1}"
        f.stacks[stack] = members
        header.append(f"{stack} = _empty(({len(members)}, {shape.rstrip(',')}), {dtype})")
        for row, v in enumerate(members):
            index, _ = allocated[names.name(v)]
            f.lines[index] = f"{names.name(v)} = {stack}[{row}]"
            _index_stack_directly(f.lines, index, names.name(v), f"{stack}[{row}, ")
    stacked = {atom_key(v) for members in f.stacks.values() for v in members}
    f.live_out = [v for v in f.live_out if atom_key(v) not in stacked]
    f.lines[:] = header + [line for line in f.lines if line]


def _index_stack_directly(lines: list[str], index: int, name: str, prefix: str) -> None:
    """Write ``name[i, j]`` as ``_stack<k>[row, i, j]`` if the lines only ever index it.

    A view per row is one more array variable, with its reference counting, for Numba to
    compile: with a hundred rows in one function that was 4 s of 5.5.
    """
    used = re.compile(rf"(?<![\w.]){re.escape(name)}\b(\[)?")
    code = [line.split("#")[0] for line in lines[index + 1 :]]  # comments name values too
    if any(m.group(1) is None for line in code for m in used.finditer(line)):
        return  # read as a whole too (a gemm operand, a reshape): keep the view
    subscript = re.compile(rf"(?<![\w.]){re.escape(name)}\[")
    lines[index + 1 :] = [subscript.sub(prefix, line) for line in lines[index + 1 :]]
    lines[index] = ""


def _results(f: _Function, names: Names) -> list[str]:
    """What ``f`` returns: its results handed on one by one, then its stacks."""
    return [*(names.name(v) for v in f.live_out), *f.stacks]


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
    if f.text is not None:
        out.append(f"def {f.name}({', '.join(f'p{k}' for k in range(len(f.params)))}):")
        return out + ["    " + line for line in f.text]
    out.append(f"def {f.name}({', '.join(names.name(a) for a in f.params)}):")
    out.extend("    " + line for line in f.lines)
    if f.live_out or f.stacks:
        out.append("    return " + ", ".join(_results(f, names)))
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
        if f.live_out or f.stacks:
            out.append(f"    {', '.join(_results(f, names))} = {call}")
        else:
            out.append(f"    {call}")
        for stack, members in f.stacks.items():
            out.append(f"    {', '.join(names.name(v) for v in members)} = {stack}")
    if returned:
        out.append("    return " + ", ".join(names.name(v) for v in returned))
    return out


def _file_header(
    program: Program,
    names: Names,
    vector_kernels: set[str],
    support: set[str],
    uses_cmath: bool = False,
) -> str:
    """The program as a comment (in the file's names), and the imports of the module (cmath
    only where complex code uses it, so that other files keep their text and cache)."""
    ir_text = "\n".join("#   " + line for line in pretty(program, names.of).splitlines())
    return (
        "# Generated by tracegrad from the program below; one comment per IR equation.\n"
        f"{ir_text}\n"
        + "import cmath  # noqa: F401\n"
        * uses_cmath
        + "import math  # noqa: F401\n\n"
        "import numba\n"
        "import numpy as np\n\n"
        + support_import(support)
        + "".join(
            f"\nfrom tracegrad.backend.vecmath import {k} as _vm_{k}"
            for k in sorted(vector_kernels)
        )
    )
