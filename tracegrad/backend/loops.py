"""Programs with loops and branches: compiled segments around native loops.

The code generator makes straight-line kernels.  A program holding higher-order equations
(``core/control_flow.py``) is cut at them: each run of ordinary equations between them is
compiled as its own program, and each loop or branch runs its compiled body:

* ``scan``: the body is compiled once, as a kernel of its own, and a small ``numba.njit``
  driver calls it in a native ``for t in range(T)`` loop, writing each step's ``y`` straight
  into a preallocated ``(T, ...)`` buffer and swapping two buffers per array carry.  Compile
  time does not depend on the trip count.  A body the driver cannot call natively (one split
  into several functions by ``package``, a literal output, a loop inside) runs in a Python
  loop over its compiled runner instead (for ``while_loop`` too).
* ``while_loop``: the same, a native ``while`` loop over one kernel that runs the body and
  then the condition on the new carry.
* ``switch``: the chosen branch's compiled runner.

Segments and bodies go through ``compiler.compile_program``, so they share its caches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import config
from ..core import control_flow as C
from ..core.interpret import eval_program, group_key
from ..core.ir import Aval, Eqn, Literal, Program, SubProgram, Var
from ..core.passes import lower, optimize
from ..core.primitives import Kind
from ..core.tracing import trace_flat
from . import codegen, disk_cache
from .package import Generated, njit_options

Runner = Callable[[Sequence[Any]], list[Any]]

# (body, n_consts, n_carry, reverse, vector math) -> (generated body, njit driver) or None
# when the body cannot be called from a native loop.
_DRIVERS: dict[tuple, tuple[Generated, Any] | None] = {}


def compile_with_loops(program: Program, settings: config.Settings) -> Runner:
    """``runner(args) -> outputs`` for a program that may hold loops and branches."""
    steps = _steps(program)
    needed = _needed_after(steps, program)
    plan: list[tuple[list[Var], list[Var], Runner]] = []
    for step, later in zip(steps, needed, strict=True):
        reads = _reads(step)
        if step[0].prim.kind is Kind.CONTROL:
            plan.append((reads, [e.out for e in step], _group_runner(step, settings)))
            continue
        defined = {e.out for e in step}
        outs = [v for v in dict.fromkeys(e.out for e in step) if v in later]
        if outs:
            segment = Program([v for v in reads if v not in defined], step, outs)
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


def _steps(program: Program) -> list[list[Eqn]]:
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


def _reads(step: list[Eqn]) -> list[Any]:
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


def _needed_after(steps: list[list[Eqn]], program: Program) -> list[set[Var]]:
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
    body = lower(params["body"].program)
    n_carry = params["n_carry"]
    y_avals = body.out_avals[n_carry:]
    loop = {k: params[k] for k in ("n_consts", "n_carry", "length", "reverse")}
    if not C.has_control_flow(body):
        # One driver per body and direction, whatever the trip count (a runtime argument).
        key = (params["body"], loop["n_consts"], n_carry, loop["reverse"], settings.vector_math)
        if key not in _DRIVERS:
            _DRIVERS[key] = _load_driver(body, loop, settings)
        if _DRIVERS[key] is not None:
            return _native_scan(body, *_DRIVERS[key], loop)
    run_body = _compile(body, settings)
    return lambda args: C.run_scan(run_body, args, y_avals, **loop)


def _while_runner(params: dict, settings: config.Settings) -> Runner:
    """A native ``while`` over one kernel computing the new carry and the condition on it;
    the condition on the initial carry is interpreted (once per call)."""
    cond, body = lower(params["cond"].program), lower(params["body"].program)
    n_cond, n_body = params["n_cond"], params["n_body"]
    step = (
        None
        if C.has_control_flow(body) or C.has_control_flow(cond)
        else _step(cond, body, n_cond, n_body)
    )
    loop = {"n_consts": n_cond + n_body, "n_carry": len(body.outputs), "while": True}
    key = (params["cond"], params["body"], n_cond, n_body, settings.vector_math)
    if step is not None and key not in _DRIVERS:
        _DRIVERS[key] = _load_driver(step, loop, settings)
    if step is None or _DRIVERS[key] is None:
        run_cond, run_body = _compile(cond, settings), _compile(body, settings)
        return lambda args: C.run_while(run_cond, run_body, args, n_cond, n_body)
    gen, drive = _DRIVERS[key]
    n_fixed = n_cond + n_body
    arrays = [k for k, a in enumerate(body.out_avals) if a.ndim]

    def run(args: Sequence[Any]) -> list[Any]:
        go = bool(eval_program(cond, [*args[:n_cond], *args[n_fixed:]])[0])
        conv = [
            _arg(v, a, i >= n_fixed)
            for i, (v, a) in enumerate(zip(args, step.in_avals, strict=True))
        ]
        spares = [np.empty_like(conv[n_fixed + k]) for k in arrays]
        final = drive(*conv, *spares, *gen.consts, go)
        return [np.asarray(v, a.dtype) for v, a in zip(final, body.out_avals, strict=True)]

    return run


def _step(cond: Program, body: Program, n_cond: int, n_body: int) -> Program:
    """``(*cond consts, *body consts, *carry) -> (*new carry, cond(new carry))``."""

    def step(*args: Any) -> list[Any]:
        carry = eval_program(body, list(args[n_cond:]))
        return [*carry, eval_program(cond, [*args[:n_cond], *carry])[0]]

    avals = cond.in_avals[:n_cond] + body.in_avals
    program, _ = trace_flat(step, avals)
    return optimize(program)


def _load_driver(body: Program, loop: dict, settings: config.Settings) -> Any:
    """The generated body and its native driver, in one file loaded as ``compiler`` loads
    programs (so Numba's disk cache keeps both), or None if the driver cannot call it."""
    generated_for = codegen.variants(body, settings.vector_math)
    gen = generated_for(False, True)
    if gen.kernels != [gen.entry] or any(p.kind == "literal" for p in gen.outputs):
        return None  # a Python driver chains several functions, or a constant output

    def source_for(cache: bool, user_names: bool) -> str:
        gen = generated_for(cache, user_names)
        return f"{gen.source}\n\n{driver_source(body, gen, loop, cache)}\n"

    module, cached = disk_cache.load(source_for, settings)
    return generated_for(cached, True), module.drive


def driver_source(body: Program, gen: Generated, loop: dict, cache: bool = False) -> str:
    """The source of a scan's driver, appended to the body's source: it calls the body's
    kernel ``program`` in a native loop."""
    n_consts, n_carry = loop["n_consts"], loop["n_carry"]
    in_avals, out_avals = body.in_avals, body.out_avals
    n_xs = len(in_avals) - n_consts - n_carry
    arrays = [k for k in range(n_carry) if out_avals[k].ndim]
    consts = [f"c{i}" for i in range(n_consts)]
    carry = [f"k{k}" for k in range(n_carry)]
    spare = [f"n{k}" for k in arrays]
    xs = [f"x{j}" for j in range(n_xs)]
    ys = [f"y{j}" for j in range(len(out_avals) - n_carry)]
    qs = [f"q{m}" for m in range(len(gen.consts))]
    args = [*consts, *carry, *(f"{x}[t]" for x in xs), *qs]
    returned, after = [], []
    for o, plan in enumerate(gen.outputs):
        target = f"k{o}" if o < n_carry else f"y{o - n_carry}[t]"
        if loop.get("while"):
            target = f"k{o}" if o < n_carry else "go"  # the last output: cond of the new carry
        if plan.kind == "array":
            args.append(f"n{o}" if o < n_carry else target)
        else:
            returned.append(f"r{o}")
            after.append(f"        {target} = r{o}")
    call = f"{gen.entry}({', '.join(args)})"
    if returned:
        call = f"{', '.join(returned)} = {call}"  # one scalar comes back bare, more as a tuple
    if loop.get("while"):
        head = [f"def drive({', '.join([*consts, *carry, *spare, *qs, 'go'])}):", "    while go:"]
    else:
        head = [
            f"def drive({', '.join([*consts, *carry, *spare, *xs, *ys, *qs, 'T'])}):",
            "    for i in range(T):",
            f"        t = {'T - 1 - i' if loop['reverse'] else 'i'}",
        ]
    lines = [
        f"@numba.njit({njit_options(cache)})",
        *head,
        f"        {call}",
        *after,
        *(f"        k{k}, n{k} = n{k}, k{k}" for k in arrays),  # the step's output is next input
        f"    return ({''.join(f'k{k}, ' for k in range(n_carry))})",
    ]
    return "\n".join(lines)


def source(program: Program, vector_math: bool = True) -> str:
    """The generated source of a program with loops: each compiled piece under a heading,
    and each scan's native driver after its body."""
    texts = []
    steps = _steps(program)
    for k, (step, later) in enumerate(zip(steps, _needed_after(steps, program), strict=True)):
        eqn = step[0]
        if eqn.prim.kind is not Kind.CONTROL:
            defined = {e.out for e in step}
            outs = [e.out for e in step if e.out in later]
            piece = Program([v for v in _reads(step) if v not in defined], step, outs)
            texts.append(_piece(f"step {k}: straight-line code", piece, vector_math))
            continue
        for name, value in eqn.params.items():
            for sub in value if isinstance(value, tuple) else (value,):
                if isinstance(sub, SubProgram):
                    title = f"step {k}: {eqn.prim.name} {name}"
                    texts.append(_piece(title, sub.program, vector_math))
        native = _native_source(eqn, vector_math)
        if native:
            texts.append(native)
    return "\n\n".join(texts)


def _native_source(eqn: Eqn, vector_math: bool) -> str:
    """The native loop of a scan (calling its body) or a while_loop (calling a kernel that
    runs the body and the condition on its result), or "" for a loop run from Python."""
    params = eqn.params
    if eqn.prim is C.scan:
        body = lower(params["body"].program)
        loop = {k: params[k] for k in ("n_consts", "n_carry", "reverse")}
    elif eqn.prim is C.while_loop:
        cond, body = lower(params["cond"].program), lower(params["body"].program)
        if C.has_control_flow(cond) or C.has_control_flow(body):
            return ""
        body = _step(cond, body, params["n_cond"], params["n_body"])
        loop = {"n_consts": params["n_cond"] + params["n_body"], "while": True}
        loop["n_carry"] = len(body.outputs) - 1
        texts = [_piece("the while loop's step: body, then cond", body, vector_math)]
        gen = codegen.generate(body, False, vector_math)
        return "\n\n".join(
            [*texts, f"# the native loop calling it:\n{driver_source(body, gen, loop)}"]
        )
    else:
        return ""
    if C.has_control_flow(body):
        return ""
    gen = codegen.generate(body, False, vector_math)
    return f"# the native loop calling it:\n{driver_source(body, gen, loop)}"


def _piece(title: str, program: Program, vector_math: bool) -> str:
    program = lower(program)
    if C.has_control_flow(program):
        text = source(program, vector_math)
    else:
        text = codegen.generate_source(program, cache=False, vector_math=vector_math)
    return f"# {'=' * 30} {title}\n{text}"


def _native_scan(body: Program, gen: Generated, drive: Any, loop: dict) -> Runner:
    """The Python runner around a driver: converts arguments, allocates the buffers."""
    n_consts, n_carry, length = loop["n_consts"], loop["n_carry"], loop["length"]
    in_avals, out_avals = body.in_avals, body.out_avals
    arrays = [k for k in range(n_carry) if out_avals[k].ndim]
    body_consts = list(gen.consts)

    value_avals = [*in_avals[: n_consts + n_carry]]
    value_avals += [Aval((length, *a.shape), a.dtype) for a in in_avals[n_consts + n_carry :]]
    copied = range(n_consts, n_consts + n_carry)

    def run(values: Sequence[Any]) -> list[Any]:
        conv = [
            _arg(v, a, i in copied)
            for i, (v, a) in enumerate(zip(values, value_avals, strict=True))
        ]
        spares = [np.empty_like(conv[n_consts + k]) for k in arrays]
        stacked = [np.empty((length, *a.shape), a.dtype) for a in out_avals[n_carry:]]
        fixed = n_consts + n_carry
        final = drive(*conv[:fixed], *spares, *conv[fixed:], *stacked, *body_consts, length)
        carry = [np.asarray(v, a.dtype) for v, a in zip(final, out_avals, strict=False)]
        return carry + stacked

    return run


def _arg(value: Any, aval: Any, copy: bool) -> Any:
    """A value as the kernel's signature takes it: NumPy scalars, C-contiguous writable arrays
    (constants are read-only; array carries are copied: the driver writes into them)."""
    array = np.asarray(value, aval.dtype)
    if aval.ndim == 0:
        return array[()]
    if copy or not (array.flags.c_contiguous and array.flags.writeable):
        return np.array(array, order="C")
    return array
