"""NumPy's array constructors on traced values: ``np.asarray(x)``, ``np.array([x, y ** 2])``,
and lists of traced values given to NumPy functions: ``np.mean([a, b])``.

NumPy never hands its constructors' first argument to ``__array_function__``: ``np.asarray``
and ``np.array`` look at ``__array__`` and the sequence protocol, and can only return an
ndarray.  So while a user function is traced, the constructor names on the ``numpy`` module
are replaced by versions that build a traced array when the data holds a Tracer (a Tracer
itself, or nested lists and tuples of Tracers and numbers), and call NumPy's own otherwise.
The NumPy functions tracegrad implements are replaced the same way, by versions that turn
such lists into one traced array before NumPy dispatches.

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
from . import dispatch, scipy_linalg, scipy_special, scipy_stats
from .elementwise import astype
from .promotion import holds_tracer, promote, shape_of
from .shapes import broadcast_to, concatenate, reshape, stack


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


def _contiguous(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def ascontiguousarray(a: Any, dtype: Any = None, *args: Any, **kwargs: Any) -> Any:
        if holds_tracer(a):
            return _with_dtype(from_nested(a), dtype, ndmin=1)  # NumPy: at least 1-d
        return original(a, dtype, *args, **kwargs)

    return ascontiguousarray


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


class _IndexConcatenator:
    """``np.r_[...]`` (``column=False``) and ``np.c_[...]`` when an item is traced; NumPy's
    own object for everything else."""

    def __init__(self, original: Any, column: bool) -> None:
        self.original, self.column = original, column

    def __getitem__(self, key: Any) -> Any:
        items = key if isinstance(key, tuple) else (key,)
        if not any(holds_tracer(item) for item in items):
            return self.original[key]
        if any(isinstance(item, str) for item in items):
            raise UnsupportedNumpyFunction(
                "np.r_/np.c_ directives (strings) with traced values are not supported; "
                "use np.concatenate(..., axis=k) or np.stack instead."
            )
        parts = [_concatenator_part(item, self.column) for item in items]
        return concatenate(promote(*parts), axis=-1 if self.column else 0)

    def __len__(self) -> int:
        return 0


def _concatenator_part(item: Any, column: bool) -> Any:
    if isinstance(item, slice):
        item = np.r_[item]  # a constant range
    part = from_nested(item) if holds_tracer(item) else np.asarray(item)
    ndim = len(shape_of(part))
    if column and ndim < 2:
        return reshape(part, (-1, 1))
    return reshape(part, (1,)) if ndim == 0 else part


def _lists_as_arrays(original: Callable[..., Any]) -> Callable[..., Any]:
    """A NumPy function whose array arguments may be lists of Tracers (``np.mean([a, b])``).

    NumPy looks for ``__array_function__`` on the arguments themselves, not inside lists,
    so without this it would run its own code and fail converting the Tracers.
    """

    @functools.wraps(original)
    def with_lists(*args: Any, **kwargs: Any) -> Any:
        args = tuple(_as_array_if_list(a) for a in args)
        kwargs = {k: _as_array_if_list(v) for k, v in kwargs.items()}
        return original(*args, **kwargs)

    return with_lists


def _as_array_if_list(value: Any) -> Any:
    return from_nested(value) if isinstance(value, list | tuple) and holds_tracer(value) else value


# Functions whose parameter is itself a sequence of arrays: NumPy's dispatch looks inside it
# already, and stacking the sequence would change its meaning.
_SEQUENCE_PARAMETERS = frozenset(
    {"concatenate", "stack", "hstack", "vstack", "dstack", "column_stack", "block", "einsum"}
    | {"broadcast_arrays", "meshgrid", "atleast_1d", "atleast_2d", "atleast_3d", "choose"}
    | {"select", "piecewise", "split", "array_split", "unstack", "multi_dot", "ix_"}
    | {"histogramdd"}  # a list of coordinate arrays, not one array
)
_CONSTRUCTORS: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    "asarray": _asarray,
    "asanyarray": _asarray,
    "ascontiguousarray": _contiguous,
    "asfortranarray": _asarray,
    "require": _asarray,
    "array": _array,
    "full": _full,
}


@functools.cache
def _replacements() -> list[tuple[Any, str, Callable[[Callable[..., Any]], Callable[..., Any]]]]:
    """(module, name, make replacement) for every name swapped while tracing."""
    found = [(np, name, make) for name, make in _CONSTRUCTORS.items()]
    found += [(np, "r_", lambda r: _IndexConcatenator(r, column=False))]
    found += [(np, "c_", lambda c: _IndexConcatenator(c, column=True))]
    for function in dispatch.FUNCTIONS:
        name = getattr(function, "__name__", "")
        if name in _SEQUENCE_PARAMETERS or name in _CONSTRUCTORS:
            continue
        for module in (np, np.linalg):
            if getattr(module, name, None) is function:
                found.append((module, name, _lists_as_arrays))
    return found


class _Installer:
    """Counts the traces running in any thread; the replacements live while one does."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.originals: list[tuple[Any, str, Callable[..., Any]]] = []

    def enter(self) -> None:
        with self.lock:
            if self.depth == 0:
                scipy = scipy_special.replacements() + scipy_linalg.replacements()
                scipy += scipy_stats.replacements()
                for owner, name, make in _replacements() + scipy:
                    original = getattr(owner, name)
                    # A method a class inherits is put back by deleting the stand-in.
                    own = name in vars(owner)
                    self.originals.append((owner, name, original if own else None))
                    setattr(owner, name, make(original))
            self.depth += 1

    def exit(self) -> None:
        with self.lock:
            self.depth -= 1
            if self.depth == 0:
                for owner, name, original in self.originals:
                    if original is None:
                        delattr(owner, name)
                    else:
                        setattr(owner, name, original)
                self.originals.clear()


_INSTALLER = _Installer()


@contextlib.contextmanager
def traced_constructors() -> Iterator[None]:
    """While active, ``np.asarray``/``np.array``/``np.full`` accept traced values, and NumPy
    functions accept lists of them where they take one array."""
    _INSTALLER.enter()
    try:
        yield
    finally:
        _INSTALLER.exit()
