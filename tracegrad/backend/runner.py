"""Runners: small Python functions that call a compiled kernel with its calling convention."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..core.ir import Aval
from .package import Generated
from .schedule import OutputPlan


def _scalar_converter(dtype: np.dtype) -> Callable[[Any], Any]:
    if dtype.kind == "f":
        return float
    if dtype.kind == "c":
        return complex
    if dtype.kind == "b":
        return bool
    return int


def _normalizer(avals: list[Aval]) -> Callable[[Sequence[Any]], list[Any]]:
    """Slow path: bring any accepted input to the exact types of the kernel's signature."""

    def normalize(args: Sequence[Any]) -> list[Any]:
        if len(args) != len(avals):
            raise TypeError(f"the program takes {len(avals)} inputs, got {len(args)}")
        out = []
        for x, aval in zip(args, avals, strict=True):
            array = np.asarray(x, dtype=aval.dtype)
            if array.shape != aval.shape:
                raise ValueError(f"input of shape {array.shape} where {aval.shape} was compiled")
            if aval.ndim == 0:
                out.append(_scalar_converter(aval.dtype)(array[()]))
            elif array.flags.c_contiguous and array.flags.writeable:
                out.append(array)
            else:
                out.append(np.array(array, order="C"))  # a copy: the user's array stays as is
        return out

    return normalize


def _scalar_type(dtype: np.dtype) -> Any:
    return np.bool_ if dtype.kind == "b" else dtype.type


def make_runner(
    gen: Generated,
    entry: Callable,
    in_avals: list[Aval],
    consts: Sequence[np.ndarray] | None = None,
    literals: dict[int, np.ndarray] | None = None,
) -> Callable:
    """A small Python function ``run(args) -> outputs`` specialised to the calling convention.

    Everything is decided here, once: the buffers to allocate, the constants to pass, the
    conversions of returned scalars.  The per-call work is one unpacking, ``np.empty`` per
    array output, the kernel call and a list.  ``consts`` and ``literals`` (literal outputs by
    position) bind another program's constant values to the same kernel; by default the
    values of the program ``gen`` was generated from.
    """
    consts = gen.consts if consts is None else consts
    ns: dict[str, Any] = {"_kernel": entry, "_normalize": _normalizer(in_avals), "_empty": np.empty}
    names = [f"a{i}" for i in range(len(in_avals))]
    unpack = f"{', '.join(names)}{',' if len(names) == 1 else ''}"
    lines = ["def run(args):", *([f"    {unpack} = args"] if names else [])]
    lines += _scalar_inputs(in_avals, ns)
    call_args = list(names)
    for k, value in enumerate(consts):
        ns[f"_c{k}"] = value
        call_args.append(f"_c{k}")
    allocations, buffers, returned, results = _outputs(gen.outputs, literals or {}, ns)
    call = f"_kernel({', '.join(call_args + buffers)})"
    if returned:
        call = f"{', '.join(returned)} = {call}"  # one scalar comes back bare, more as a tuple
    lines += [
        *allocations,
        "    try:",
        f"        {call}",
        "    except TypeError:",
        f"        {f'{unpack} = _normalize(args)' if names else 'raise'}",
        f"        {call}",
        f"    return [{', '.join(results)}]",
    ]
    exec("\n".join(lines), ns)
    return ns["run"]


def _scalar_inputs(in_avals: list[Aval], ns: dict[str, Any]) -> list[str]:
    """Convert 0-d inputs to Python scalars.

    Numba takes only Python and NumPy scalars for a scalar parameter: a 0-d array (a traced
    scalar passed back in, ``np.asarray(0.9)``) would miss the signature and take the slow
    path, about 0.3 ms with many arguments, on every call.
    """
    lines = []
    for i, aval in enumerate(in_avals):
        if aval.ndim == 0:
            ns[f"_scalar{i}"] = _scalar_converter(aval.dtype)
            lines.append(f"    a{i} = _scalar{i}(a{i})")
    return lines


def _outputs(
    plans: list[OutputPlan], literals: dict[int, np.ndarray], ns: dict[str, Any]
) -> tuple[list[str], list[str], list[str], list[str]]:
    """Buffer allocations, buffer arguments, returned names, and the expressions returned."""
    allocations, buffers, returned, results = [], [], [], []
    for j, plan in enumerate(plans):
        if plan.kind == "array":
            ns[f"_dt{j}"] = plan.aval.dtype
            allocations.append(f"    o{j} = _empty({plan.aval.shape!r}, _dt{j})")
            buffers.append(f"o{j}")
            results.append(f"o{j}")
        elif plan.kind == "scalar":
            ns[f"_s{j}"] = _scalar_type(plan.aval.dtype)
            returned.append(f"r{j}")
            results.append(f"_s{j}(r{j})")
        else:
            ns[f"_l{j}"] = literals.get(j, plan.value)
            results.append(f"_l{j}[()]" if plan.aval.ndim == 0 else f"_l{j}.copy()")
    return allocations, buffers, returned, results
