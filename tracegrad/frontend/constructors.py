"""NumPy's array constructors on traced values: ``np.asarray(x)``, ``np.array([x, y ** 2])``.

NumPy never hands its constructors' first argument to ``__array_function__``: ``np.asarray``
and ``np.array`` look at ``__array__`` and the sequence protocol, and can only return an
ndarray.  So while a user function is traced, the constructor names on the ``numpy`` module
are replaced by versions that build a traced array when the data holds a Tracer (a Tracer
itself, or nested lists and tuples of Tracers and numbers), and call NumPy's own otherwise.

The replacement is counted: it is installed when the first trace starts and removed when
the last one ends, in any thread.  Calls that hold no Tracer cost one extra Python call
while a trace is running, and nothing at other times.  Code that bound a constructor to
another name before tracing (``from numpy import asarray``) keeps NumPy's own.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..core.tracing import Tracer
from ..errors import UnsupportedNumpyFunction
from .elementwise import astype
from .promotion import promote, shape_of
from .shapes import broadcast_to, reshape, stack


def holds_tracer(data: Any) -> bool:
    """Whether ``data`` is a Tracer or a (nested) list or tuple containing one."""
    if isinstance(data, Tracer):
        return True
    if isinstance(data, list | tuple):
        return any(holds_tracer(item) for item in data)
    return False


def from_nested(data: Any) -> Any:
    """One traced array from a Tracer or nested sequences of Tracers, arrays and numbers.

    Elements are promoted as NumPy's array constructor promotes them: a Python float
    next to a float32 Tracer makes float64, as in ``np.array([np.float32(1), 2.0])``.
    """
    if isinstance(data, Tracer):
        return data
    if not holds_tracer(data):
        return np.asarray(data)
    items = [from_nested(item) for item in data]
    shapes = {shape_of(item) for item in items}
    if len(shapes) != 1:
        raise UnsupportedNumpyFunction(
            f"np.array of a list of traced values needs elements of one shape, got "
            f"{sorted(shapes)}: NumPy itself would refuse this ragged list."
        )
    return stack(promote(*items))


def _with_dtype(result: Any, dtype: Any, ndmin: int = 0) -> Any:
    if dtype is not None:
        result = astype(result, dtype)
    missing = ndmin - len(shape_of(result))
    return reshape(result, (1,) * missing + shape_of(result)) if missing > 0 else result


def _asarray(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def asarray(a: Any, dtype: Any = None, *args: Any, **kwargs: Any) -> Any:
        if holds_tracer(a):
            return _with_dtype(from_nested(a), dtype)
        return original(a, dtype, *args, **kwargs)

    return asarray


def _array(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def array(obj: Any, dtype: Any = None, *args: Any, ndmin: int = 0, **kwargs: Any) -> Any:
        if holds_tracer(obj):
            # np.array copies; a traced copy is a new Tracer, so in-place updates of the
            # result leave the argument alone.
            result = from_nested(obj)
            result = result.copy() if result is obj else result
            return _with_dtype(result, dtype, ndmin)
        return original(obj, dtype, *args, ndmin=ndmin, **kwargs)

    return array


def _full(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def full(shape: Any, fill_value: Any, dtype: Any = None, *args: Any, **kwargs: Any) -> Any:
        if holds_tracer(fill_value):
            fill = from_nested(fill_value)
            shape = (shape,) if isinstance(shape, int) else tuple(shape)
            return _with_dtype(broadcast_to(fill, shape), dtype)
        return original(shape, fill_value, dtype, *args, **kwargs)

    return full


_REPLACEMENTS: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    "asarray": _asarray,
    "asanyarray": _asarray,
    "ascontiguousarray": _asarray,
    "array": _array,
    "full": _full,
}


class _Installer:
    """Counts the traces running in any thread; the replacements live while one does."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.originals: dict[str, Callable[..., Any]] = {}

    def enter(self) -> None:
        with self.lock:
            if self.depth == 0:
                for name, make in _REPLACEMENTS.items():
                    self.originals[name] = original = getattr(np, name)
                    setattr(np, name, make(original))
            self.depth += 1

    def exit(self) -> None:
        with self.lock:
            self.depth -= 1
            if self.depth == 0:
                for name, original in self.originals.items():
                    setattr(np, name, original)
                self.originals.clear()


_INSTALLER = _Installer()


@contextlib.contextmanager
def traced_constructors() -> Iterator[None]:
    """While active, ``np.asarray``/``np.array``/``np.full`` accept traced values."""
    _INSTALLER.enter()
    try:
        yield
    finally:
        _INSTALLER.exit()
