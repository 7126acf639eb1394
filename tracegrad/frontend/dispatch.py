"""Dispatch from NumPy's protocols: the tables that map NumPy's ufuncs and functions to
their traced versions, and the two entry points Tracer's protocols call.

Each topic module lists what it implements in its ``IMPLEMENTS`` table (elementwise derives
most of its ufuncs from the primitive registry); this module merges them, split the way
NumPy dispatches: ufuncs through ``__array_ufunc__``, functions through
``__array_function__``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..core.tracing import Tracer
from ..errors import UnsupportedNumpyFunction, library_function, library_function_in
from . import (
    arraylike,
    binning,
    editing,
    elementwise,
    floating,
    fourier,
    indexing,
    linalg,
    polynomials,
    products,
    rearranging,
    reductions,
    scipy_special,
    scipy_stats,
    shapes,
    sorting,
    statistics,
)
from .elementwise import astype
from .promotion import no_out

TOPICS = (
    elementwise,
    shapes,
    indexing,
    rearranging,
    reductions,
    products,
    linalg,
    sorting,
    statistics,
    scipy_special,  # np.i0, which it shares with scipy.special
    # breadth: functions added for issue 15's coverage targets
    floating,
    arraylike,
    editing,
    polynomials,
    binning,
    fourier,  # complex numbers: np.fft
)


def _merged() -> dict[Callable[..., Any], Callable[..., Any]]:
    table: dict[Callable[..., Any], Callable[..., Any]] = {}
    for topic in TOPICS:
        twice = set(table) & set(topic.IMPLEMENTS)
        if twice:
            names = sorted(f.__name__ for f in twice)
            raise RuntimeError(f"{topic.__name__} implements {names} again")
        table.update(topic.IMPLEMENTS)
    return table


_ALL = _merged()
UFUNCS: dict[np.ufunc, Callable[..., Any]] = {
    f: fn for f, fn in _ALL.items() if isinstance(f, np.ufunc)
}
FUNCTIONS: dict[Callable[..., Any], Callable[..., Any]] = {
    f: fn for f, fn in _ALL.items() if not isinstance(f, np.ufunc)
}


def _no_rule(name: str) -> UnsupportedNumpyFunction:
    """The error for ``name``; when a library function the user called reached it, that
    function is named first (what the user wrote), with how to reach tracegrad's version."""
    library = library_function()
    if library is not None and library != name:
        return _library_error(library, f"called {name}, which has no tracegrad rule")
    from .support import REASONS  # support reads this module's tables: import it late

    kind, note = REASONS.get(name, (None, None))
    why = f" ({kind}: {note})" if kind else ""
    return UnsupportedNumpyFunction(
        f"{name} has no tracegrad rule{why}. Express it with supported functions "
        "(docs/numpy-support.md lists them), or compute it outside the differentiated function "
        "and pass the result in as an argument."
    )


def library_failure(error: Exception) -> UnsupportedNumpyFunction | None:
    """``error``, raised inside an installed library's code that the user's function called
    on traced values, as an error naming that library function (and how to reach tracegrad's
    version of it, if there is one); None when no library function is involved."""
    library = library_function_in(error.__traceback__)
    if library is None:
        return None
    return _library_error(library, f"failed on a traced value ({type(error).__name__}: {error})")


def held_reference_hint(library: str) -> str | None:
    """How to reach tracegrad's version of the SciPy function ``library`` whose own code ran
    on a traced value (it was bound before tracing), if tracegrad has one."""
    return scipy_special.held_reference_hint(library) or scipy_stats.held_reference_hint(library)


def _library_error(library: str, what: str) -> UnsupportedNumpyFunction:
    """``library`` (the function the user called) ``what``, and how to do without it: reach
    tracegrad's version if there is one, else compute it outside the traced function."""
    held = held_reference_hint(library)
    return UnsupportedNumpyFunction(
        f"{library} {what}. "
        + (held or "Compute it outside the differentiated function and pass the result in as "
           "an argument (docs/numpy-support.md lists what traces).")
    )  # fmt: skip


def apply_ufunc(ufunc: np.ufunc, method: str, inputs: Sequence[Any], kwargs: dict) -> Any:
    if method == "at" and ufunc in (np.add, np.subtract):
        return _at(ufunc, *inputs)
    if method != "__call__":
        raise UnsupportedNumpyFunction(
            f"np.{ufunc.__name__}.{method} is not supported on traced values; use the "
            "matching function (np.sum for add.reduce, indexing for take, ...) instead."
        )
    handler = UFUNCS.get(ufunc) or scipy_special.ufunc_rule(ufunc)
    if handler is None:
        raise _no_rule(scipy_special.ufunc_name(ufunc))
    out = kwargs.pop("out", None)
    no_out(ufunc.__name__, out)
    dtype = kwargs.pop("dtype", None)
    kwargs.pop("casting", None)
    if kwargs:
        raise UnsupportedNumpyFunction(
            f"np.{ufunc.__name__}: arguments {sorted(kwargs)} are not supported while tracing"
        )
    result = handler(*inputs)
    return astype(result, dtype) if dtype is not None else result


def _at(ufunc: np.ufunc, target: Any, index: Any, value: Any = None) -> None:
    """``np.add.at`` / ``np.subtract.at``: in place on a traced target (rebound, like the
    other in-place updates); a NumPy array cannot hold traced values."""
    if not isinstance(target, Tracer):
        raise UnsupportedNumpyFunction(
            f"np.{ufunc.__name__}.at into a NumPy array with traced values: the array cannot "
            "hold them. Make the target traced (e.g. y = np.zeros_like(x)) and update that."
        )
    if ufunc is np.subtract:
        value = elementwise.negative(value)
    target.node = indexing.add_at(target, index, value).node


def apply_function(func: Callable[..., Any], args: Sequence[Any], kwargs: dict) -> Any:
    # NumPy's like= dispatch of its C constructors passes what ``numpy.<name>`` is now,
    # which while tracing may be the replacement of constructors.py wrapping NumPy's own.
    handler = FUNCTIONS.get(func) or FUNCTIONS.get(getattr(func, "__wrapped__", None))
    if handler is None:
        module = getattr(func, "__module__", None) or "numpy"
        prefix = "np." + "".join(f"{part}." for part in module.split(".")[1:] if part != "_core")
        raise _no_rule(f"{prefix}{func.__name__}")
    return handler(*args, **kwargs)
