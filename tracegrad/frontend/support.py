"""Which NumPy functions and ufuncs tracegrad can trace: the table behind docs/numpy-support.md.

``python -m tracegrad.frontend.support > docs/numpy-support.md`` regenerates the page; a test
checks that the committed page matches the dispatch tables.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np
from numpy.testing.overrides import get_overridable_numpy_array_functions

from . import scipy_special, scipy_stats
from .dispatch import FUNCTIONS, UFUNCS


def _public_name(f: Callable) -> str:
    module = getattr(f, "__module__", None) or "numpy"
    parts = [p for p in module.split(".")[1:] if not p.startswith("_")]
    return ".".join(["np", *parts, f.__name__])


# NumPy registers a submodule's functions when it is first imported; list these modules'
# functions whatever the process has imported so far, and no others.
_MODULES = ("numpy", "numpy.linalg", "numpy.fft", "numpy.lib.stride_tricks")


# Why an entry is not supported: one of three kinds, with a short note.
NOT_DIFFERENTIABLE = "not differentiable"
NO_TRACED_MEANING = "no traced meaning"
PLANNED = "planned"
_KINDS = (NOT_DIFFERENTIABLE, NO_TRACED_MEANING, PLANNED)

_BITS = (NOT_DIFFERENTIABLE, "integer bit operation")
_DATES = (NO_TRACED_MEANING, "dates and business days")
_IO = (NO_TRACED_MEANING, "reads or writes files or buffers")
_PRINTING = (NO_TRACED_MEANING, "produces text")
_DATA_SHAPE = (NO_TRACED_MEANING, "the output's shape depends on the values")
_COMPLEX = (PLANNED, "with complex dtypes")
_LINALG = (PLANNED, "with the linear-algebra work")
_SETS = (NO_TRACED_MEANING, "a set operation, whose output's shape depends on the values")

REASONS: dict[str, tuple[str, str]] = {
    # ufuncs
    "np.bitwise_and": _BITS,
    "np.bitwise_count": _BITS,
    "np.bitwise_or": _BITS,
    "np.bitwise_xor": _BITS,
    "np.invert": _BITS,
    "np.left_shift": _BITS,
    "np.right_shift": _BITS,
    "np.gcd": (NOT_DIFFERENTIABLE, "integers only"),
    "np.lcm": (NOT_DIFFERENTIABLE, "integers only"),
    "np.isnat": (NOT_DIFFERENTIABLE, "datetimes only"),
    # functions
    "np.array2string": _PRINTING,
    "np.array_repr": _PRINTING,
    "np.array_str": _PRINTING,
    "np.datetime_as_string": _DATES,
    "np.busday_count": _DATES,
    "np.busday_offset": _DATES,
    "np.is_busday": _DATES,
    "np.frombuffer": _IO,
    "np.fromfile": _IO,
    "np.fromiter": _IO,
    "np.fromstring": _IO,
    "np.genfromtxt": _IO,
    "np.loadtxt": _IO,
    "np.save": _IO,
    "np.savetxt": _IO,
    "np.savez": _IO,
    "np.savez_compressed": _IO,
    "np.packbits": _BITS,
    "np.unpackbits": _BITS,
    "np.argwhere": _DATA_SHAPE,
    "np.nonzero": _DATA_SHAPE,
    "np.flatnonzero": _DATA_SHAPE,
    "np.trim_zeros": _DATA_SHAPE,
    "np.unique": _SETS,
    "np.unique_all": _SETS,
    "np.unique_counts": _SETS,
    "np.unique_inverse": _SETS,
    "np.unique_values": _SETS,
    "np.intersect1d": _SETS,
    "np.setdiff1d": _SETS,
    "np.setxor1d": _SETS,
    "np.union1d": _SETS,
    "np.roots": (PLANNED, "needs eigenvalues of a general matrix"),
    "np.polydiv": (NO_TRACED_MEANING, "the remainder's length depends on its leading zeros"),
}


def _reason(name: str, supported: bool) -> tuple[str, str] | None:
    if supported:
        return None
    if name.startswith("np.linalg."):
        return REASONS.get(name, _LINALG)
    return REASONS.get(name)


def function_table() -> list[tuple[str, bool]]:
    """(name, supported) for every NumPy function that dispatches on traced arrays."""
    for module in _MODULES:
        importlib.import_module(module)
    rows: dict[str, bool] = {}
    for f in get_overridable_numpy_array_functions():
        if f.__module__ in _MODULES:
            # A few names are registered twice (the like= wrapper and the function inside).
            name = _public_name(f)
            rows[name] = rows.get(name, False) or f in FUNCTIONS
    return sorted(rows.items())


def ufunc_table() -> list[tuple[str, bool]]:
    """(name, supported) for every ufunc in the ``numpy`` namespace."""
    ufuncs = {u for u in vars(np).values() if isinstance(u, np.ufunc)}
    return sorted((f"np.{u.__name__}", u in UFUNCS) for u in ufuncs)


def reason_table() -> dict[str, tuple[str, str] | None]:
    """For every entry: None if supported, else (kind, note); a missing reason is None too,
    which the support-page test reports."""
    rows = [*ufunc_table(), *function_table()]
    return {name: _reason(name, ok) for name, ok in rows}


def _percent(part: int, whole: int) -> str:
    return f"{part} of {whole} ({100 * part / whole:.0f} %)"


def _header(title: str, table: list[tuple[str, bool]]) -> str:
    supported = sum(ok for _, ok in table)
    text = f"## {title}: {_percent(supported, len(table))} supported"
    if title == "Ufuncs":
        not_differentiable = sum(
            (_reason(name, ok) or ("",))[0] == NOT_DIFFERENTIABLE for name, ok in table
        )
        text += f"; {_percent(supported, len(table) - not_differentiable)} of the differentiable"
    return text


def _row(name: str, ok: bool) -> str:
    if ok:
        return f"| `{name}` | yes | |"
    kind, note = _reason(name, ok) or ("?", "reason missing")
    return f"| `{name}` | no | {kind}: {note} |"


def render() -> str:
    """The Markdown page listing every function, whether it is supported, and why not."""
    lines = [
        "# NumPy support",
        "",
        "Generated by `python -m tracegrad.frontend.support > docs/numpy-support.md` from the",
        "dispatch tables of `tracegrad/frontend/`; a test keeps it in sync. A supported",
        "function traces on `tracegrad` Tracers with NumPy's semantics and has a gradient",
        "where one is defined (comparisons, `isnan`, `argmax`-like functions have none).",
        "Calling an unsupported one on a traced value raises `UnsupportedNumpyFunction`.",
        "",
        "Each unsupported entry says why: *not differentiable* (integer and bit operations),",
        "*no traced meaning* (the output's shape would depend on the values, or the function",
        "prints, reads or writes files, or handles dates) or *planned*.",
        "",
        "Where tracing changes what a function can return or do:",
        "",
        "- `allclose`, `array_equal`, `array_equiv` return a traced boolean (NumPy: a Python",
        "  bool), usable in `np.where`, not in a Python `if`.",
        "- The writers `put`, `putmask`, `place`, `copyto`, `fill_diagonal`,",
        "  `put_along_axis` update a traced target as `x[i] = v` does (a view of it taken",
        "  earlier does not see the write); a NumPy target cannot hold traced values.",
        "- What `insert`, `delete`, `compress`, `extract`, `place` and `bincount` select",
        "  must be known while tracing (NumPy arrays or numbers), since it sets the shape.",
        "- `nanargmax`/`nanargmin` of an all-NaN slice give 0 where NumPy raises.",
        "- Constructors called with `like=` a traced array (`zeros`, `ones`, `empty`,",
        "  `full`) give traced arrays that can be updated in place; `eye`, `identity`,",
        "  `tri` and `arange` give NumPy constants and need arguments known while tracing.",
        "",
    ]
    for title, table in (("Ufuncs", ufunc_table()), ("Functions", function_table())):
        lines += [_header(title, table), "", "| name | supported | reason |", "|---|---|---|"]
        lines += [_row(name, ok) for name, ok in table]
        lines.append("")
    # scipy.special.digamma is the ufunc psi under a second name.
    names = sorted({*scipy_special.UFUNCS, *scipy_special.FUNCTIONS, "digamma"})
    lines += [
        f"## scipy.special: {len(names)} functions supported",
        "",
        "Once the user's code has imported SciPy, these trace with SciPy's values and dtypes;",
        "any other `scipy.special` function on a traced value raises an error that names it",
        "(`scipy.special.dawsn`). `polygamma(n, x)` needs an order `n` known while tracing.",
        "`gammainc` and `gammaincc` differentiate to every order in `x` and once in `a` (a",
        "second derivative in `a` raises an error saying so).",
        "`betainc` and `betaincc` differentiate to any order in `x`, once in `a` and `b`.",
        "",
        ", ".join(f"`scipy.special.{name}`" for name in names),
        "",
    ]
    methods = scipy_stats.names()
    lines += [
        f"## scipy.stats: {len(methods)} distribution methods supported",
        "",
        "Reached however the distribution is held (`scipy.stats.norm`, `from scipy.stats import",
        "norm`, a frozen `norm(mu, s)`), with SciPy's arguments (shape parameters by position or",
        "name, then `loc` and `scale`) and SciPy's values outside the support and at invalid",
        "parameters; gradients flow to every floating argument but `poisson`'s counts. The",
        "`cdf`s and `sf`s of `gamma`, `chi2` and `poisson` differentiate once in their shape",
        "parameter (`a`, `df`, `mu`), like `gammainc`. A frozen `multivariate_normal`",
        "with traced parameters, `allow_singular=True` and the other methods and distributions",
        "raise an error that names the SciPy function.",
        "",
        ", ".join(f"`scipy.stats.{name}`" for name in methods),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
