"""Detect random numbers drawn while a function is traced.

A traced function runs once; ``np.random.normal(...)`` inside it is evaluated then, and
its result is frozen into the program as a constant.  NumPy-style dropout would use the
same mask on every call, silently.  We compare the state of NumPy's global generator, and
of the ``np.random.Generator`` / ``RandomState`` objects the function refers to by name,
before and after tracing, and warn if any moved.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..errors import FrozenRandomnessWarning, user_stacklevel

_RANDOM_SOURCES = (np.random.Generator, np.random.RandomState)


def _referenced_generators(f: Callable) -> list[Any]:
    """Generators that ``f`` (or the function it wraps) names as a global or a closure."""
    seen: list[Any] = []
    while f is not None:
        code = getattr(f, "__code__", None)
        if code is not None:
            scope = getattr(f, "__globals__", {})
            candidates = [scope.get(name) for name in code.co_names]
            candidates += [cell.cell_contents for cell in (f.__closure__ or ()) if _full(cell)]
            seen += [c for c in candidates if isinstance(c, _RANDOM_SOURCES)]
        f = getattr(f, "__wrapped__", None)
    return seen


def _full(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018  (an empty cell raises ValueError)
    except ValueError:
        return False
    return True


def _token(state: Any) -> Any:
    """A comparable snapshot of a generator state (dicts, tuples and arrays of ints)."""
    if isinstance(state, dict):
        return tuple((k, _token(v)) for k, v in sorted(state.items()))
    if isinstance(state, tuple | list):
        return tuple(_token(v) for v in state)
    if isinstance(state, np.ndarray):
        return state.tobytes()
    return state


def _states(sources: list[Any]) -> list[Any]:
    tokens = [_token(np.random.get_state())]
    for source in sources:
        if isinstance(source, np.random.Generator):
            tokens.append(_token(source.bit_generator.state))
        else:
            tokens.append(_token(source.get_state()))
    return tokens


@contextlib.contextmanager
def warn_if_random_drawn(f: Callable) -> Iterator[None]:
    """Warn (FrozenRandomnessWarning) if tracing ``f`` drew random numbers."""
    sources = _referenced_generators(f)
    before = _states(sources)
    yield
    if _states(sources) != before:
        name = getattr(f, "__qualname__", getattr(f, "__name__", repr(f)))
        warnings.warn(
            f"{name} drew random numbers while it was traced. They were computed once and "
            "are now constants of the compiled program: every call reuses the same values "
            "(the same dropout mask, the same noise). Draw them outside the function and "
            "pass them in as an argument, e.g. loss(params, x, rng.normal(size=...)).",
            FrozenRandomnessWarning,
            stacklevel=user_stacklevel(),
        )
