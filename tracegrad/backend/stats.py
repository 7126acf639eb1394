"""Compile statistics of this process: what the compiler did, for users and tests.

Kept apart from the compiler so that ``import tracegrad`` (which exports ``compile_stats``)
does not load the code generator; the compiler itself is imported with the first program
built.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class CompileStats:
    """What the compiler did in this process (``tracegrad.compile_stats()`` returns a copy)."""

    programs: int = 0  # programs built (in-memory cache misses)
    memory_hits: int = 0  # programs found in the in-memory cache
    compiles: int = 0  # njit functions compiled to machine code
    disk_hits: int = 0  # njit functions loaded from Numba's on-disk cache
    seconds: float = 0.0  # wall time spent generating, compiling and loading
    native_loops: int = 0  # scan and while loops compiled as native loops (nested ones too)
    python_loops: int = 0  # loops and branches run from Python around compiled pieces


STATS = CompileStats()


def compile_stats() -> CompileStats:
    """A snapshot of the compile statistics of this process."""
    return dataclasses.replace(STATS)
