"""Generated modules on disk: file names, atomic writes, and loading with Numba's cache.

The generated source goes to ``<cache dir>/tg_<hash>.py`` where the hash covers the source
text and the versions of tracegrad, Numba, NumPy and Python; its functions are
``numba.njit(cache=True)`` with explicit signatures, so Numba stores their machine code in
``__pycache__`` beside it and a new process loads it instead of compiling.

* ``TRACEGRAD_CACHE_DIR`` moves the directory (default ``~/.cache/tracegrad``);
  ``TRACEGRAD_DISABLE_DISK_CACHE=1`` turns the disk cache off (a private temporary directory,
  no ``cache=True``).  An unwritable directory falls back to a temporary one, with a warning.
* The file name hashes the source with every value named by a letter, while the file holds
  the source in the user's names (``W1``, ``grad_W1``) and ends with a checksum line.  A
  whole file already there is executed as it is, so programs that differ only in names
  share it and its compiled code; a file that is not whole (truncated, corrupted) is
  rewritten.  Writes go to a temporary file and ``os.replace``, so racing processes only
  ever see whole files.
* The module is executed from the text we checked (without ``.pyc`` files), registered in
  ``sys.modules`` first: Numba records the module name in its cache, and an unregistered
  module poisons it.
  Numba's own index checks a hash of the file; if its cache files are unreadable they are
  deleted and the functions compiled again.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import shutil
import sys
import tempfile
import types
import warnings
from collections.abc import Callable

import numpy as np

from ..config import Settings
from .numba_patches import light_cache_loads, registries_without_scipy_linalg

_warned: set[str] = set()
_temp_dir: str | None = None


def _private_dir() -> str:
    """A per-process temporary directory, removed at exit."""
    global _temp_dir
    if _temp_dir is None:
        _temp_dir = tempfile.mkdtemp(prefix="tracegrad-")
        atexit.register(shutil.rmtree, _temp_dir, True)
    return _temp_dir


def _warn_once(message: str, key: str | None = None) -> None:
    """Warn the first time for ``key`` (default: the message itself)."""
    key = message if key is None else key
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=5)


def _write_atomic(path: str, text: str) -> None:
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".py", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


_SEAL = "# tracegrad checksum: "


def _sealed(source: str) -> str:
    """``source`` with a last line that lets a later reader tell it is whole."""
    return f"{source}{_SEAL}{hashlib.sha256(source.encode()).hexdigest()}\n"


def _is_whole(text: str) -> bool:
    body, _, last = text.rstrip("\n").rpartition("\n")
    if not last.startswith(_SEAL):
        return False
    return hashlib.sha256((body + "\n").encode()).hexdigest() == last[len(_SEAL) :]


def _ensure_file(directory: str, name: str, source: str) -> tuple[str, str]:
    """Make ``directory/name.py`` hold a whole generated module; return its path and text.

    A whole file that is already there is kept as it is, even where its names differ from
    ``source``'s (a program of the same structure whose user named things differently):
    rewriting it would throw away Numba's compiled code, which is keyed by the file's text.
    """
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name + ".py")
    try:
        with open(path, encoding="utf-8") as f:
            current = f.read()
    except (OSError, UnicodeDecodeError):
        current = None
    if current is not None and _is_whole(current):
        return path, current
    text = _sealed(source)
    _write_atomic(path, text)
    return path, text


@functools.cache
def _versions() -> str:
    import numba

    from .. import __version__

    # Generated kernels inline the support intrinsics, the special and vecmath kernels and
    # the block products, and Numba's cache does not track other modules: their text is part
    # of every file's key.
    inlined = hashlib.sha256()
    kernels = ("special_kernels.py", "incomplete_beta.py", "vecmath.py", "block_gemm.py")
    for module in ("numba_support.py", *kernels):
        with open(os.path.join(os.path.dirname(__file__), module), "rb") as f:
            inlined.update(f.read())
    py = "{}.{}".format(*sys.version_info[:2])
    return (
        f"tracegrad {__version__}; numba {numba.__version__}; numpy {np.__version__}; py {py}; "
        f"inlined {inlined.hexdigest()[:16]}"
    )


def _module_name(key_source: str) -> str:
    digest = hashlib.sha256((_versions() + "\n" + key_source).encode()).hexdigest()
    return "tg_" + digest[:24]


def _clear_numba_cache(directory: str, name: str) -> None:
    pycache = os.path.join(directory, "__pycache__")
    try:
        entries = os.listdir(pycache)
    except OSError:
        return
    for entry in entries:
        if entry.startswith(name + "."):
            try:
                os.unlink(os.path.join(pycache, entry))
            except OSError:
                pass


def execute(name: str, path: str, source: str, cached: bool = False) -> types.ModuleType:
    """Run ``source`` as module ``name`` backed by the file ``path``.

    ``cached``: the source's functions use Numba's disk cache, so they may load rather than
    compile, and the patch for compiling is applied only at a cache miss.
    """
    module = types.ModuleType(name)
    module.__file__ = path
    sys.modules[name] = module  # before running it: Numba's cache records the module name
    try:
        code = compile(source, path, "exec")
        with light_cache_loads(), registries_without_scipy_linalg(lazy=cached):
            exec(code, module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def load(
    source_for: Callable[[bool, bool], str], settings: Settings
) -> tuple[types.ModuleType, bool]:
    """Import the generated module; returns it and whether Numba's disk cache was used.

    ``source_for(cache, user_names)`` generates the source with or without ``cache=True``,
    with the user's names or with letters only; the letters-only text names the module, so
    programs that differ only in names share one file and one compiled kernel.
    """
    if settings.disk_cache:
        module = _load_cached(source_for(True, True), source_for(True, False), settings.cache_dir)
        if module is not None:
            return module, True
    return _load_private(source_for(False, True), source_for(False, False)), False


def _load_private(source: str, key_source: str) -> types.ModuleType:
    """The module run from a file in this process's temporary directory, without a cache."""
    name = _module_name(key_source)
    if name in sys.modules:
        return sys.modules[name]
    path, text = _ensure_file(_private_dir(), name, source)
    return execute(name, path, text)


def _load_cached(source: str, key_source: str, directory: str) -> types.ModuleType | None:
    """The module run from ``directory`` with Numba's cache; None if that cache fails."""
    name = _module_name(key_source)
    if name in sys.modules:
        return sys.modules[name]
    try:
        path, text = _ensure_file(directory, name, source)
    except OSError as e:
        _warn_once(
            f"tracegrad: cannot write to the cache directory {directory!r} ({e}); compiled "
            "code is cached in a temporary directory for this process only. Set "
            "TRACEGRAD_CACHE_DIR to a writable directory.",
            key=f"unwritable {directory}",  # once per directory: the error names each file
        )
        directory = _private_dir()
        path, text = _ensure_file(directory, name, source)
    try:
        return execute(name, path, text, cached=True)
    except Exception:
        # Unreadable Numba cache files (truncated, corrupted): drop them and compile again.
        _clear_numba_cache(directory, name)
    try:
        return execute(name, path, text, cached=True)
    except Exception as e:
        _warn_once(f"tracegrad: Numba's disk cache failed ({e!r}); compiling without it.")
    return None
