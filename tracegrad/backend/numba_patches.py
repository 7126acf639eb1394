"""Two temporary patches of Numba's internals that keep a new process from paying for SciPy.

Both are context managers active only while a generated module runs (see
``disk_cache.execute``), and both step aside when this Numba's internals look different.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import sys
from collections.abc import Iterator
from typing import Any

from . import blas


@contextlib.contextmanager
def light_cache_loads() -> Iterator[None]:
    """While active, Numba loads cached kernels without initialising its compiler.

    Before each disk-cache lookup Numba "refreshes" its target context: the first refresh in
    a process imports every lowering registry of Numba (NumPy, typed containers, random,
    ...), and with them ``scipy.linalg`` (``numba.np.arraymath`` checks for BLAS at import),
    0.25-0.5 s together.  Loading machine code needs none of it, only the runtime (NRT),
    whose symbols the kernels link against.  So inside ``Cache.load_overload`` the context's
    ``refresh`` is replaced by the runtime's initialisation alone; Numba's own lookup runs
    unchanged.  On a miss Numba compiles, and its compiler refreshes the context itself (the
    replacement is gone by then), so compiling is untouched; so is user code compiled later.

    The class attribute is swapped under Numba's global compiler lock, which every cache
    lookup and compile takes: no other thread can observe it.  If this Numba has other
    internals the loads simply keep their refresh.
    """
    try:
        from numba.core.caching import Cache
        from numba.core.compiler_lock import global_compiler_lock
        from numba.core.runtime import rtsys
    except ImportError:  # pragma: no cover - another Numba layout: keep its behaviour
        yield
        return
    original = Cache.__dict__.get("load_overload")
    if original is None or not callable(getattr(rtsys, "initialize", None)):
        yield  # pragma: no cover
        return

    def load_overload(cache: Any, sig: Any, target_context: Any) -> Any:
        # An instance attribute shadows the method for this one lookup. Popped, not deleted:
        # a nested lookup may have removed it already (the outer one then refreshes fully,
        # which is only slower).
        target_context.refresh = functools.partial(rtsys.initialize, target_context)
        try:
            loaded = original(cache, sig, target_context)
        finally:
            vars(target_context).pop("refresh", None)
        if loaded is None and _pending is not None:
            _pending.apply()  # a miss: Numba compiles next, and imports its registries
        return loaded

    with global_compiler_lock:
        Cache.load_overload = load_overload
        try:
            yield
        finally:
            Cache.load_overload = original


class _EnsureBlasPatch:
    """``numba.np.linalg.ensure_blas`` answering without importing SciPy, until restored."""

    def __init__(self) -> None:
        self.module: Any = None
        self.original: Any = None

    def apply(self) -> None:
        if self.module is not None:
            return
        try:
            import numba.np.linalg as numba_linalg
        except ImportError:  # pragma: no cover - another Numba layout
            return
        original = getattr(numba_linalg, "ensure_blas", None)
        if original is None:  # pragma: no cover
            return
        self.module, self.original = numba_linalg, original
        numba_linalg.ensure_blas = _ensure_blas

    def restore(self) -> None:
        if self.module is None:
            return
        self.module.ensure_blas = self.original
        arraymath = sys.modules.get("numba.np.arraymath")
        if arraymath is not None and getattr(arraymath, "ensure_blas", None) is _ensure_blas:
            arraymath.ensure_blas = self.original
        self.module = None


def _ensure_blas() -> None:  # SciPy is installed: its BLAS can be imported when needed
    return None


# The patch a lazy ``registries_without_scipy_linalg`` applies at the first cache miss.
_pending: _EnsureBlasPatch | None = None


@contextlib.contextmanager
def registries_without_scipy_linalg(lazy: bool = False) -> Iterator[None]:
    """While active, Numba's first compile does not import ``scipy.linalg``.

    The first compile in a process imports Numba's NumPy registries, and with them
    ``numba.np.arraymath``, which calls ``numba.np.linalg.ensure_blas()`` at import only to
    set a "BLAS is available" flag: that imports ``scipy.linalg`` (0.1-0.27 s of a cold first
    call). Our kernels never use SciPy's BLAS when NumPy's is bound (``tracegrad.backend.blas``), so
    while a generated module compiles, ``ensure_blas`` answers from whether SciPy is
    installed, without importing it. Numba's np.dot and linalg lowerings call the real
    ``ensure_blas`` themselves when user code needs them; it is restored on exit, also in
    ``numba.np.arraymath``.

    ``lazy``: patch only when a disk-cache lookup misses (see ``light_cache_loads``).
    Importing ``numba.np.linalg`` to patch it imports ``numba.np.arrayobj``, unicode and
    ``numpy.ma`` too (25-60 ms), which a process that only loads cached kernels never needs.
    """
    global _pending
    if (
        "numba.np.arraymath" in sys.modules
        or not blas.uses_numpy_blas()
        or importlib.util.find_spec("scipy") is None
    ):
        yield
        return
    patch = _EnsureBlasPatch()
    if lazy:
        _pending = patch
    else:
        patch.apply()
    try:
        yield
    finally:
        _pending = None
        patch.restore()
