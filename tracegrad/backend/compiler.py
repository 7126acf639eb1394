"""Compile a Program: generate its source, load it as a module, wrap its kernel in a runner.

This module composes the backend (``codegen``, ``disk_cache``, ``runner``) and holds the
in-memory cache, keyed by the program's structural key, so identical programs (from
different function objects, or grad and value_and_grad of one function) share one compile;
the key holds constant arrays by shape and dtype only, so programs that differ only in the
values of closure constants share one kernel, each runner passing its own constants.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import config
from ..core.control_flow import has_control_flow
from ..core.ir import Literal, Program, format_literal, format_params
from ..errors import DTypeError
from . import blas, codegen, disk_cache, heap, openmp
from .package import Generated
from .runner import make_runner
from .schedule import constant_classes
from .stats import STATS

_lock = threading.RLock()
_memory: dict[tuple[str, bool, int], _Entry] = {}
_counted: set[str] = set()  # modules whose kernels are already in STATS


_COMPILABLE = set(map(np.dtype, [np.bool_, np.float32, np.float64, np.complex64, np.complex128]))
_COMPILABLE |= {np.dtype(f"{k}{n}") for k in "iu" for n in (1, 2, 4, 8)}


def _check_dtypes(program: Program) -> None:
    """Numba has no float16 or long double: say so instead of failing inside Numba."""
    avals = [*program.in_avals, *(e.out.aval for e in program.eqns)]
    for aval in avals:
        if aval.dtype not in _COMPILABLE:
            raise DTypeError(
                f"the Numba backend cannot compile {aval.dtype} arrays (it supports float32, "
                "float64, complex64, complex128, integers and bool). Cast the inputs, e.g. "
                "x.astype(np.float32), or run with TRACEGRAD_BACKEND=interpret."
            )


def structural_key(program: Program) -> str:
    """The in-memory cache key: the program's text with constant arrays by shape and dtype.

    Constant arrays are kernel arguments, so their values are not part of the compiled code;
    only which of them are equal is (equal constants share one argument).  Programs that
    differ only in constant values (a loss closing over each new batch) share one kernel.
    """
    classes = {group[0].key(): k for k, group in enumerate(constant_classes(program))}
    names: dict[Any, str] = {}

    def ref(a: Any) -> str:
        if isinstance(a, Literal):
            if a.value.ndim == 0:
                return format_literal(a)
            return f"const{a.aval}#{classes.get(a.key(), '')}"
        return names.setdefault(a, f"v{len(names)}")

    lines = [" ".join(f"{ref(v)}:{v.aval}" for v in program.inputs)]
    for eqn in program.eqns:
        head = f"{eqn.prim.name}{format_params(eqn.params, structural=True)}"
        lines.append(f"{ref(eqn.out)}:{eqn.out.aval} = {head} {' '.join(map(ref, eqn.inputs))}")
    lines.append(" ".join(ref(a) for a in program.outputs))
    return "\n".join(lines)


def memory_key(program: Program, settings: config.Settings) -> tuple[str, bool, int]:
    """What a compiled kernel depends on: the program's structure and the settings that
    change its code (vector math, and the thread count that splits large loop nests)."""
    return structural_key(program), settings.vector_math, settings.threads


@dataclasses.dataclass
class _Entry:
    """A compiled program in the memory cache, and its runner for its own constant values."""

    gen: Generated
    kernel: Callable
    runner: Callable
    const_keys: list[tuple]

    def runner_for(self, program: Program) -> Callable:
        """The runner of ``program`` (same structure): the kernel with its own constants."""
        classes = constant_classes(program)
        consts = [classes[k][0] for k in self.gen.const_classes]
        literals = {
            j: atom.value
            for j, atom in enumerate(program.outputs)
            if isinstance(atom, Literal) and atom.value.ndim > 0
        }
        keys = [c.key() for c in consts] + [Literal.make(v).key() for v in literals.values()]
        if keys == self.const_keys:
            return self.runner
        values = [np.array(c.value, order="C") for c in consts]  # writable copies
        return make_runner(self.gen, self.kernel, program.in_avals, values, literals)


def _const_keys(gen: Generated) -> list[tuple]:
    keys = [Literal.make(c).key() for c in gen.consts]
    literal_outputs = [p.value for p in gen.outputs if p.kind == "literal" and p.value.ndim]
    return keys + [Literal.make(v).key() for v in literal_outputs]


def compile_program(
    program: Program, settings: config.Settings | None = None
) -> Callable[[Sequence[Any]], list[Any]]:
    """Compile ``program``; returns ``runner(args) -> list of outputs``.

    ``args`` are the flat program inputs: arrays of any layout (copied only when they are not
    C-contiguous and writable), NumPy scalars or Python numbers for 0-d inputs.  Array outputs
    are fresh arrays; 0-d outputs are NumPy scalars.  ``settings`` default to the
    environment's now.
    """
    settings = config.read() if settings is None else settings
    if settings.blas_threads is not None:
        blas.allow_pool_size(settings.blas_threads)
    if settings.threads > 1:
        openmp.use_short_spin()
    if settings.tune_malloc:
        heap.keep_freed_memory()
    if has_control_flow(program):  # loops and branches: compiled pieces, see backend/loops.py
        from .loops import compile_with_loops

        return compile_with_loops(program, settings)
    key = memory_key(program, settings)
    entry = _memory.get(key)
    if entry is not None:
        STATS.memory_hits += 1
        return entry.runner_for(program)
    _check_dtypes(program)
    with _lock:
        entry = _memory.get(key)
        if entry is not None:
            STATS.memory_hits += 1
            return entry.runner_for(program)
        start = time.perf_counter()
        entry = _memory[key] = _build(program, settings)
        STATS.programs += 1
        STATS.seconds += time.perf_counter() - start
        return entry.runner


def _build(program: Program, settings: config.Settings) -> _Entry:
    """Generate, load and wrap ``program`` (a memory-cache miss)."""
    generated_for = codegen.variants(program, settings.vector_math, settings.threads)
    module, cached = disk_cache.load(lambda *how: generated_for(*how).source, settings)
    gen = generated_for(cached, True)  # names aside, the calling convention of every variant
    _count_kernels(module)
    kernel = getattr(module, gen.entry)
    return _Entry(gen, kernel, make_runner(gen, kernel, program.in_avals), _const_keys(gen))


def _count_kernels(module: Any) -> None:
    """Add a newly loaded module's compiles and disk-cache hits to STATS."""
    if module.__name__ in _counted:
        return
    _counted.add(module.__name__)
    for kernel in module.KERNELS:
        stats = kernel.stats
        hits = sum(stats.cache_hits.values())
        STATS.disk_hits += hits
        STATS.compiles += max(sum(stats.cache_misses.values()), 0 if hits else 1)
