"""The reference interpreter: evaluate a Program with NumPy, one primitive at a time.

This is the semantics that compiled code must match.  Given Tracers instead of
arrays, the same walk stages every equation into the enclosing trace, which is
how a gradient function is itself traced (grad of grad, make_ir of grad).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .ir import Atom, Literal, Program, Var
from .tracing import bind


def eval_program(program: Program, args: Sequence[Any], env: dict[Var, Any] | None = None) -> list:
    """Run ``program`` on ``args``; ``env``, if given, receives every variable's value."""
    if len(args) != len(program.inputs):
        raise TypeError(f"program takes {len(program.inputs)} inputs, got {len(args)}")
    values: dict[Var, Any] = {} if env is None else env
    values.update(zip(program.inputs, args, strict=True))

    def read(a: Atom) -> Any:
        return a.value if isinstance(a, Literal) else values[a]

    for eqn in program.eqns:
        values[eqn.out] = bind(eqn.prim, *(read(a) for a in eqn.inputs), **eqn.params)
    return [read(a) for a in program.outputs]
