"""Source text of types, literals, array allocation and loop indices in generated code."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.ir import Aval, Eqn, Var, format_literal, format_params


def dtype_text(dtype: np.dtype) -> str:
    return "np.bool_" if dtype.kind == "b" else f"np.{dtype.name}"


def empty_text(shape: Sequence[int], dtype: Any) -> str:
    """A new uninitialised C array (``numba_support.empty``: no overload compile per form)."""
    return f"_empty({tuple(int(n) for n in shape)!r}, {dtype_text(np.dtype(dtype))})"


def support_import(extra: set[str]) -> str:
    """The import of numba_support's intrinsics: ``empty`` and ``fill``, and ``extra`` (for
    example ``reshape``, ``copy``) only where the code uses them, so other files keep their
    text (and their cached kernels)."""
    used = sorted({"empty", "fill", *extra})
    return "from tracegrad.backend.numba_support import " + ", ".join(f"{n} as _{n}" for n in used)


def fill_text(name: str, value: str) -> str:
    return f"_fill({name}, {value})"


def scalar_cast(expr: str, dtype: np.dtype) -> str:
    return f"bool({expr})" if dtype.kind == "b" else f"np.{dtype.name}({expr})"


def numba_type(aval: Aval, layout: str = "C") -> str:
    """The Numba signature text of a value: ``float32`` or ``float32[:, ::1]``."""
    dtype = aval.dtype
    base = "boolean" if dtype.kind == "b" else dtype.name
    if aval.ndim == 0:
        return base
    axes = [":"] * aval.ndim
    axes[-1 if layout == "C" else 0] = "::1"
    return f"{base}[{', '.join(axes)}]"


def literal_text(value: Any, dtype: Any = None) -> str:
    """A scalar constant as source text of the right dtype (np.float32(0.1) for float32)."""
    array = np.asarray(value, dtype=dtype)
    dtype = array.dtype
    item = array.item()
    if dtype.kind == "b":
        return repr(bool(item))
    if dtype.kind in "iu":
        text = repr(int(item))
        return text if dtype == np.int64 else f"np.{dtype.name}({text})"
    if dtype.kind == "c":
        parts = (_float_text(item.real), _float_text(item.imag))
        return f"np.{dtype.name}(complex({parts[0]}, {parts[1]}))"
    if dtype == np.float64:
        text = _float_text(item)
    else:
        text = _float_text(item) if not math.isfinite(item) else str(array[()])
    if dtype != np.float64:
        return f"np.{dtype.name}({text})"
    return f"({text})" if text.startswith("-") else text


def _float_text(item: float) -> str:
    if math.isnan(item):
        return "np.nan"
    if math.isinf(item):
        return "np.inf" if item > 0 else "-np.inf"
    return repr(float(item))


def squeeze(shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


def canonical_index(shape: Sequence[int]) -> list[str]:
    """Index of a value of ``shape`` inside a loop nest over its non-1 axes (i0, i1, ...)."""
    index, k = [], 0
    for d in shape:
        if d == 1:
            index.append("0")
        else:
            index.append(f"i{k}")
            k += 1
    return index


def equation_comment(eqn: Eqn, names: dict[Var, str]) -> str:
    """``# c = mul a b``: the IR equation a statement computes."""
    args = " ".join(names[a] if isinstance(a, Var) else format_literal(a) for a in eqn.inputs)
    return f"# {names[eqn.out]} = {eqn.prim.name}{format_params(eqn.params)} {args}"


def extent_lines(names: list[str], avals: list[Aval], extents: set[int]) -> list[str]:
    """Define the loop bounds ``_ext<n>`` of one function, read from its arguments' shapes.

    A bound that LLVM knows as a constant makes it unroll and specialise every loop nest
    (a 16 x 32 tanh layer fully unrolled): compiling the 20-layer MLP took 3-4x longer.
    A bound read from an argument's shape is opaque to it, and costs nothing at run time.
    Bounds that no argument has are written as constants.
    """
    lines = []
    for n in sorted(extents):
        source = str(n)
        for name, aval in zip(names, avals, strict=True):
            if n in aval.shape:
                source = f"{name}.shape[{aval.shape.index(n)}]"
                break
        lines.append(f"_ext{n} = {source}")
    return lines
