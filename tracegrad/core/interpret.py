"""The reference interpreter: evaluate a Program with NumPy, one primitive at a time.

This is the semantics that compiled code must match.  Given Tracers instead of
arrays, the same walk stages every equation into the enclosing trace, which is
how a gradient function is itself traced (grad of grad, make_ir of grad).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .ir import Atom, Eqn, Literal, Program, Var, atom_key
from .tracing import Tracer, bind


def eval_program(program: Program, args: Sequence[Any], env: dict[Var, Any] | None = None) -> list:
    """Run ``program`` on ``args``; ``env``, if given, receives every variable's value."""
    if len(args) != len(program.inputs):
        raise TypeError(f"program takes {len(program.inputs)} inputs, got {len(args)}")
    values: dict[Var, Any] = {} if env is None else env
    values.update(zip(program.inputs, args, strict=True))

    def read(a: Atom) -> Any:
        return a.value if isinstance(a, Literal) else values[a]

    groups: dict[tuple, list] = {}
    for eqn in program.eqns:
        args = [read(a) for a in eqn.inputs]
        if eqn.prim.impl_all is not None and not any(isinstance(a, Tracer) for a in args):
            values[eqn.out] = _group_result(eqn, args, groups)
        else:
            values[eqn.out] = bind(eqn.prim, *args, **eqn.params)
    return [read(a) for a in program.outputs]


def group_key(eqn: Eqn) -> tuple:
    """What the equations of one group (the results of one loop or branch) share."""
    params = tuple(sorted((k, v) for k, v in eqn.params_key() if k != "index"))
    return (eqn.prim.name, params, tuple(atom_key(a) for a in eqn.inputs))


def _group_result(eqn: Eqn, args: list, groups: dict[tuple, list]) -> Any:
    # A loop with several results is one equation per result: run it once for all of them.
    key = group_key(eqn)
    results = groups.get(key)
    if results is None:
        params = {k: v for k, v in eqn.params.items() if k != "index"}
        results = groups[key] = eqn.prim.impl_all(*args, **params)
    return results[eqn.params["index"]]
