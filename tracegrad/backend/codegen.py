"""Code generation: a Program becomes Python source text that Numba compiles.

Four stages, each a module passing a dataclass to the next:

1. ``schedule``: group equations into loop blocks (fused elementwise work and reductions)
   and emit blocks (one other equation each); decide which values are stored as arrays.
2. ``emit``: the lines of each block: loop nests, reductions, scalar expressions, and the
   primitives' own emitters (written with ``writer.Writer``).
3. ``share``: loop nests that occur more than once become one helper function each.
4. ``package``: chunks of blocks become ``numba.njit`` functions with explicit signatures,
   chained by a Python driver, under a file header.

Calling convention of the generated ``program`` function: the program's inputs (0-d ones as
scalars, arrays C-contiguous), then the constant arrays, then one preallocated buffer per
array output; it returns the 0-d outputs (a scalar, a tuple, or None).
"""

from __future__ import annotations

from collections.abc import Callable

from ..core.control_flow import has_control_flow
from ..core.ir import Program
from .emit import VECTOR_MATH_MIN_SIZE, emit
from .package import Generated, njit_options, package
from .schedule import schedule
from .share import share_repeated_loops


def generate(
    program: Program,
    cache: bool = True,
    vector_math: bool = True,
    user_names: bool = True,
    vector_min_size: int = VECTOR_MATH_MIN_SIZE,
    threads: int = 1,
) -> Generated:
    """Generate the Numba source of ``program`` and the calling convention of its entry.

    ``cache`` marks the functions ``cache=True``; ``vector_math`` lets loops call
    ``tracegrad.backend.vecmath``'s kernels; ``user_names`` names values as the user did
    (``W1``, ``grad_W1``) where that is unambiguous, else every value gets a letter: the
    text that identifies the kernel, whatever the user called things; ``vector_min_size``: the
    fewest iterations of a loop that calls vecmath (a native loop's body runs once per step).
    ``threads`` > 1 splits large loop nests into that many blocks run in parallel; 1 gives
    serial code.
    """
    sched = schedule(program, user_names)
    emitted = emit(sched, vector_math, vector_min_size, threads)
    helpers = share_repeated_loops(
        emitted.codes, sched.names, lambda parallel: njit_options(cache, parallel)
    )
    return package(sched, emitted, helpers, cache)


def variants(
    program: Program, vector_math: bool, threads: int = 1
) -> Callable[[bool, bool], Generated]:
    """``variant(cache, user_names)``: ``generate`` of ``program``, each variant made once
    (the disk cache names a file by the letters-only text and writes the user's one)."""
    made: dict[tuple[bool, bool], Generated] = {}

    def variant(cache: bool, user_names: bool) -> Generated:
        if (cache, user_names) not in made:
            made[cache, user_names] = generate(
                program, cache, vector_math, user_names, threads=threads
            )
        return made[cache, user_names]

    return variant


def generate_source(
    program: Program, cache: bool = True, vector_math: bool = True, threads: int = 1
) -> str:
    """The Python/Numba source text for ``program`` (what ``tracegrad.show_source`` shows)."""
    if has_control_flow(program):  # compiled in pieces around native loops
        from .loops import source

        return source(program, vector_math)
    return generate(program, cache, vector_math, threads=threads).source
