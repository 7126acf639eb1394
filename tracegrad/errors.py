"""tracegrad's exception types.

Every message says what went wrong, where in the user's code (file:line of the
first frame outside tracegrad, the standard library, NumPy and installed packages), and
what to do instead.
"""

from __future__ import annotations

import functools
import os
import sys
import sysconfig
from typing import Any

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


@functools.cache
def _library_dirs() -> tuple[str, ...]:
    """Where code that is not the user's lives: tracegrad, the standard library, NumPy, and
    installed packages (SciPy and others that call NumPy on the user's behalf)."""
    import numpy

    paths = sysconfig.get_paths()
    dirs = [_PACKAGE_DIR, os.path.dirname(os.path.abspath(os.__file__))]
    dirs += [os.path.dirname(os.path.abspath(numpy.__file__)), paths["purelib"], paths["platlib"]]
    return tuple(os.path.join(os.path.abspath(d), "") for d in dict.fromkeys(dirs))


def _is_users(filename: str) -> bool:
    path = os.path.abspath(filename)
    return not path.startswith(_library_dirs()) and not filename.startswith("<frozen")


def user_location() -> str:
    """``file:line`` of the innermost frame that belongs to the user's code."""
    frame = sys._getframe(1)
    while frame is not None:
        if _is_users(frame.f_code.co_filename):
            return f"{frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back
    return "<unknown location>"


def library_function() -> str | None:
    """The function of an installed library (``scipy.special.factorial``) that the user's code
    called and that led to this call, by its module's public path; None when the user's code
    reached tracegrad directly or through NumPy."""
    frame, inner = sys._getframe(1), None
    while frame is not None and not _is_users(frame.f_code.co_filename):
        frame, inner = frame.f_back, frame
    if frame is None or inner is None:
        return None
    return _public_name(inner)


def library_function_in(traceback: Any) -> str | None:
    """``library_function`` for where an exception was raised: the library function that the
    innermost of the user's frames in ``traceback`` called, if it is a library's."""
    called = None
    while traceback is not None:
        frame = traceback.tb_frame
        if _is_users(frame.f_code.co_filename):
            called = None
        elif called is None:
            called = frame
        traceback = traceback.tb_next
    return None if called is None else _public_name(called)


def _public_name(frame: Any) -> str | None:
    module = frame.f_globals.get("__name__", "")
    if module.split(".")[0] in ("tracegrad", "numpy", ""):
        return None
    public = [part for part in module.split(".") if not part.startswith("_")]
    return ".".join([*public, frame.f_code.co_name])


def user_stacklevel() -> int:
    """The ``stacklevel`` that makes ``warnings.warn``, called by the caller of this function,
    point at the user's code."""
    frame, level = sys._getframe(2), 2
    while frame is not None:
        if _is_users(frame.f_code.co_filename):
            return level
        frame, level = frame.f_back, level + 1
    return 1


class TracegradError(Exception):
    """Base class of every error tracegrad raises on purpose; names the user's file:line."""

    def __init__(self, message: str) -> None:
        super().__init__(f"{message}\n  (at {user_location()})")


class TracerError(TracegradError):
    """A traced value was used where a concrete value is needed."""


class TracerBoolError(TracerError):
    """A traced value decided Python control flow (``if``, ``while``, ``bool()``, ``and``)."""


class TracerConversionError(TracerError):
    """A traced value was turned into a concrete Python or NumPy value."""


class TracerLeakError(TracerError):
    """A traced value escaped the function being traced and was used later."""


class UnsupportedNumpyFunction(TracegradError, NotImplementedError):
    """A NumPy function or ufunc that tracegrad has no rule for."""


class ShapeError(TracegradError, ValueError):
    """Operands whose shapes do not fit together."""


class DTypeError(TracegradError, TypeError):
    """An input of a type that cannot be differentiated or traced."""


class NonScalarOutputError(TracegradError, TypeError):
    """``grad`` of a function whose output is not a scalar."""


class OutputStructureError(TracegradError, TypeError):
    """A function returned something other than what the transformation needs."""


class NotCallableError(TracegradError, TypeError):
    """A transformation was given something that is not a function."""


class ArgnumsError(TracegradError, ValueError):
    """``argnums`` names an argument that the call does not have."""


class BatchAxisError(TracegradError, ValueError):
    """``vmap`` axes that do not fit the arguments (sizes differ, an axis out of range)."""


class ControlFlowError(TracegradError, TypeError):
    """A loop body or branch that does not fit its construct (carry or branch types differ),
    or a loop that cannot be differentiated in the mode asked for."""


class FrozenRandomnessWarning(UserWarning):
    """Random numbers drawn while tracing are baked into the program as constants."""
