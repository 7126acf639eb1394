"""Programs with loops and branches: one native function, or compiled pieces around loops.

``fused_loops.compose`` makes a program holding higher-order equations
(``core/control_flow.py``) one ``numba.njit`` function, each loop a native loop, nested
loops nested.  Where some piece cannot be inlined (code ``package`` splits into several
functions, an array literal output), the program is cut at its loops and branches instead:
each run of ordinary equations between them is compiled as its own program, each loop or
branch group is composed on its own if it can be, and otherwise runs in a Python loop over
its compiled body (for ``while_loop`` too), or, for ``switch``, calls the chosen branch's
compiled runner.

Everything goes through ``disk_cache`` and ``compiler.compile_program``, so it shares their
caches, and ``stats.STATS`` counts the native loops and those run from Python.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import config
from ..core import control_flow as C
from ..core.interpret import group_key
from ..core.ir import Eqn, Literal, Program, SubProgram, Var, structure
from ..core.passes import lower
from ..core.primitives import Kind
from . import codegen, disk_cache
from .fused_loops import NotInlinable, compose
from .package import Generated
from .runner import make_runner
from .stats import STATS

Runner = Callable[[Sequence[Any]], list[Any]]

# (program structure with constant values, vector math) -> its one-function runner, or None
# where some piece cannot be inlined.
_FUSED: dict[tuple, Runner | None] = {}


def compile_with_loops(program: Program, settings: config.Settings) -> Runner:
    """``runner(args) -> outputs`` for a program that may hold loops and branches."""
    fused = compile_fused(program, settings)
    if fused is not None:
        return fused
    all_steps = steps(program)
    plan: list[tuple[list[Var], list[Var], Runner]] = []
    for step, later in zip(all_steps, needed_after(all_steps, program), strict=True):
        read = reads(step)
        if step[0].prim.kind is Kind.CONTROL:
            outs = [e.out for e in step]
            group = Program(list(dict.fromkeys(a for a in read if isinstance(a, Var))), step, outs)
            fused = compile_fused(group, settings)
            if fused is not None:
                plan.append((group.inputs, outs, fused))
            else:
                plan.append((read, outs, _group_runner(step, settings)))
            continue
        defined = {e.out for e in step}
        outs = [v for v in dict.fromkeys(e.out for e in step) if v in later]
        if outs:
            segment = Program([v for v in read if v not in defined], step, outs)
            plan.append((segment.inputs, outs, _compile(segment, settings)))

    def run(args: Sequence[Any]) -> list[Any]:
        env: dict[Var, Any] = dict(zip(program.inputs, args, strict=True))
        for reads, writes, step_runner in plan:
            env.update(zip(writes, step_runner([_read(env, a) for a in reads]), strict=True))
        return _fresh(args, program, [_read(env, a) for a in program.outputs])

    return run


def _read(env: dict[Var, Any], a: Any) -> Any:
    return a.value if isinstance(a, Literal) else env[a]


def _fresh(args: Sequence[Any], program: Program, outs: list[Any]) -> list[Any]:
    # Like compiled code: outputs are fresh arrays, never inputs, constants or one another.
    seen = {id(a) for a in args}
    result = []
    for atom, out in zip(program.outputs, outs, strict=True):
        out = np.asarray(out)
        if id(out) in seen or isinstance(atom, Literal) or not out.flags.writeable:
            out = np.array(out)
        seen.add(id(out))
        result.append(out[()] if out.ndim == 0 else out)
    return result


def steps(program: Program) -> list[list[Eqn]]:
    """Runs of ordinary equations, and loop groups (all results of one loop), in order."""
    steps: list[list[Eqn]] = []
    groups: dict[tuple, list[Eqn]] = {}
    for eqn in program.eqns:
        if eqn.prim.kind is Kind.CONTROL:
            key = group_key(eqn)
            if key in groups:  # a later result of an earlier loop: computed with it
                groups[key].append(eqn)
            else:
                groups[key] = [eqn]
                steps.append(groups[key])
        elif steps and steps[-1][0].prim.kind is not Kind.CONTROL:
            steps[-1].append(eqn)
        else:
            steps.append([eqn])
    return steps


def reads(step: list[Eqn]) -> list[Any]:
    defined: set[Var] = set()
    reads: dict[Any, None] = {}
    for eqn in step:
        for a in eqn.inputs:
            if isinstance(a, Var) and a not in defined:
                reads[a] = None
        defined.add(eqn.out)
    if step[0].prim.kind is Kind.CONTROL:
        return list(step[0].inputs)  # a group's members share their inputs, literals too
    return list(reads)


def needed_after(steps: list[list[Eqn]], program: Program) -> list[set[Var]]:
    live = {a for a in program.outputs if isinstance(a, Var)}
    needed: list[set[Var]] = []
    for step in reversed(steps):
        needed.append(set(live))
        live |= {a for e in step for a in e.inputs if isinstance(a, Var)}
    return needed[::-1]


def _compile(program: Program, settings: config.Settings) -> Runner:
    from .compiler import compile_program

    program = lower(program)
    if C.has_control_flow(program):
        return compile_with_loops(program, settings)
    return compile_program(program, settings)


# =============================================================================================
# Loops and branches


def _group_runner(members: list[Eqn], settings: config.Settings) -> Runner:
    eqn = members[0]
    params = {k: v for k, v in eqn.params.items() if k != "index"}
    indices = [m.params["index"] for m in members]
    if eqn.prim is C.scan:
        run_all = _scan_runner(params, settings)
    elif eqn.prim is C.while_loop:
        run_all = _while_runner(params, settings)

    else:
        branches: dict[int, Runner] = {}  # compiled when first taken
        STATS.python_loops += 1

        def run_all(args: Sequence[Any]) -> list[Any]:
            k = int(np.clip(int(args[0]), 0, len(params["branches"]) - 1))
            if k not in branches:
                branches[k] = _compile(params["branches"][k].program, settings)
            return branches[k](list(args[1:]))

    def run(args: Sequence[Any]) -> list[Any]:
        results = run_all(args)
        return [results[i] for i in indices]

    return run


def _scan_runner(params: dict, settings: config.Settings) -> Runner:
    """A Python loop over the compiled body (a body ``fused_loops`` cannot inline)."""
    body = lower(params["body"].program)
    loop = {k: params[k] for k in ("n_consts", "n_carry", "length", "reverse")}
    run_body = _compile(body, settings)
    STATS.python_loops += 1
    y_avals = body.out_avals[params["n_carry"] :]
    return lambda args: C.run_scan(run_body, args, y_avals, **loop)


def _while_runner(params: dict, settings: config.Settings) -> Runner:
    """A Python loop over the compiled condition and body."""
    cond, body = lower(params["cond"].program), lower(params["body"].program)
    n_cond, n_body = params["n_cond"], params["n_body"]
    run_cond, run_body = _compile(cond, settings), _compile(body, settings)
    STATS.python_loops += 1
    return lambda args: C.run_while(run_cond, run_body, args, n_cond, n_body)


def compile_fused(program: Program, settings: config.Settings) -> Runner | None:
    """The runner of ``program`` compiled as one function (``fused_loops``), or None if some
    piece of it cannot be inlined.  Kept in memory by the program's structure, constant
    values included (they are the kernel's arguments, found by composing the program)."""
    from .compiler import _count_kernels, _lock

    key = (structure(program), settings.vector_math)
    if key in _FUSED:
        STATS.memory_hits += 1
        return _FUSED[key]
    variants: dict[tuple[bool, bool], tuple[Generated, int]] = {}

    def generated_for(cache: bool, user_names: bool) -> tuple[Generated, int]:
        if (cache, user_names) not in variants:
            variants[cache, user_names] = compose(program, settings.vector_math, cache, user_names)
        return variants[cache, user_names]

    with _lock:
        start = time.perf_counter()
        try:
            generated_for(settings.disk_cache, False)  # the variant load asks for first
        except NotInlinable:
            _FUSED[key] = None
            return None
        module, cached = disk_cache.load(lambda *how: generated_for(*how)[0].source, settings)
        gen, loops = generated_for(cached, True)
        _count_kernels(module)
        STATS.programs += 1
        STATS.native_loops += loops
        STATS.seconds += time.perf_counter() - start
        runner = _FUSED[key] = make_runner(gen, module.program, program.in_avals)
    return runner


def source(program: Program, vector_math: bool = True) -> str:
    """The generated source of a program with loops: the one function of ``fused_loops``,
    or else each compiled piece under a heading."""
    try:
        return compose(program, vector_math, cache=False, user_names=True)[0].source
    except NotInlinable:
        pass
    texts = []
    all_steps = steps(program)
    for k, (step, later) in enumerate(
        zip(all_steps, needed_after(all_steps, program), strict=True)
    ):
        eqn = step[0]
        if eqn.prim.kind is not Kind.CONTROL:
            defined = {e.out for e in step}
            outs = [e.out for e in step if e.out in later]
            piece = Program([v for v in reads(step) if v not in defined], step, outs)
            texts.append(_piece(f"step {k}: straight-line code", piece, vector_math))
            continue
        for name, value in eqn.params.items():
            for sub in value if isinstance(value, tuple) else (value,):
                if isinstance(sub, SubProgram):
                    title = f"step {k}: {eqn.prim.name} {name}, run from Python"
                    texts.append(_piece(title, sub.program, vector_math))
    return "\n\n".join(texts)


def _piece(title: str, program: Program, vector_math: bool) -> str:
    program = lower(program)
    if C.has_control_flow(program):
        text = source(program, vector_math)
    else:
        text = codegen.generate_source(program, cache=False, vector_math=vector_math)
    return f"# {'=' * 30} {title}\n{text}"
