"""Compile a Program: generated source -> file in the cache directory -> import -> njit.

Two caches.  In memory, by the program's structural key, so identical programs (from
different function objects, or grad and value_and_grad of one function) share one compile;
the key holds constant arrays by shape and dtype only, so programs that differ only in the
values of closure constants share one kernel, each runner passing its own constants.
On disk, the generated source goes to ``<cache dir>/tg_<hash>.py`` where the hash covers the
source text and the versions of tracegrad, Numba, NumPy and Python; its functions are
``numba.njit(cache=True)`` with explicit signatures, so Numba stores their machine code in
``__pycache__`` beside it and a new process loads it instead of compiling.

* ``TRACEGRAD_CACHE_DIR`` moves the directory (default ``~/.cache/tracegrad``);
  ``TRACEGRAD_DISABLE_DISK_CACHE=1`` turns the disk cache off (a private temporary directory,
  no ``cache=True``).  An unwritable directory falls back to a temporary one, with a warning.
* The module is executed from the source text we generated (never from whatever is on disk,
  and without ``.pyc`` files), registered in ``sys.modules`` first: Numba records the module
  name in its cache, and an unregistered module poisons it.
* A file whose content differs from the source (truncated, corrupted) is rewritten; writes go
  to a temporary file and ``os.replace``, so racing processes only ever see whole files.
  Numba's own index checks a hash of the file; if its cache files are unreadable they are
  deleted and the functions compiled again.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
import hashlib
import os
import shutil
import sys
import tempfile
import threading
import time
import types
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ..core.ir import Aval, Literal, Program, format_literal, format_params
from ..errors import DTypeError
from . import codegen

# =============================================================================================
# Statistics


@dataclasses.dataclass
class CompileStats:
    """What the compiler did in this process (``tracegrad.compile_stats()`` returns a copy)."""

    programs: int = 0  # programs built (in-memory cache misses)
    memory_hits: int = 0  # programs found in the in-memory cache
    compiles: int = 0  # njit functions compiled to machine code
    disk_hits: int = 0  # njit functions loaded from Numba's on-disk cache
    seconds: float = 0.0  # wall time spent generating, compiling and loading


STATS = CompileStats()


def compile_stats() -> CompileStats:
    """A snapshot of the compile statistics of this process."""
    return dataclasses.replace(STATS)


# =============================================================================================
# Cache directory and files


_warned: set[str] = set()
_temp_dir: str | None = None
_lock = threading.RLock()
_memory: dict[str, _Entry] = {}
_counted: set[str] = set()  # modules whose kernels are already in STATS


def _disk_cache_enabled() -> bool:
    return os.environ.get("TRACEGRAD_DISABLE_DISK_CACHE", "").strip() in ("", "0")


def cache_dir() -> str:
    """The directory for generated modules and Numba's cache files."""
    configured = os.environ.get("TRACEGRAD_CACHE_DIR")
    if configured:
        return configured
    return os.path.join(os.path.expanduser("~"), ".cache", "tracegrad")


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
        warnings.warn(message, RuntimeWarning, stacklevel=4)


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


def _ensure_file(directory: str, name: str, source: str) -> str:
    """Make ``directory/name.py`` hold exactly ``source``; return its path."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name + ".py")
    try:
        with open(path, encoding="utf-8") as f:
            current = f.read()
    except (OSError, UnicodeDecodeError):
        current = None
    if current != source:
        _write_atomic(path, source)
    return path


@functools.cache
def _versions() -> str:
    import numba

    from .. import __version__

    # Generated kernels inline numba_support's intrinsics and vecmath's kernels, and Numba's
    # cache does not track other modules: their text is part of every file's key.
    inlined = hashlib.sha256()
    for module in ("numba_support.py", "vecmath.py"):
        with open(os.path.join(os.path.dirname(__file__), module), "rb") as f:
            inlined.update(f.read())
    py = "{}.{}".format(*sys.version_info[:2])
    return (
        f"tracegrad {__version__}; numba {numba.__version__}; numpy {np.__version__}; py {py}; "
        f"inlined {inlined.hexdigest()[:16]}"
    )


def _module_name(source: str) -> str:
    digest = hashlib.sha256((_versions() + "\n" + source).encode()).hexdigest()
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


@contextlib.contextmanager
def _light_cache_loads() -> Iterator[None]:
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
            return original(cache, sig, target_context)
        finally:
            vars(target_context).pop("refresh", None)

    with global_compiler_lock:
        Cache.load_overload = load_overload
        try:
            yield
        finally:
            Cache.load_overload = original


@contextlib.contextmanager
def _registries_without_scipy_linalg() -> Iterator[None]:
    """While active, Numba's first compile does not import ``scipy.linalg``.

    The first compile in a process imports Numba's NumPy registries, and with them
    ``numba.np.arraymath``, which calls ``numba.np.linalg.ensure_blas()`` at import only to
    set a "BLAS is available" flag: that imports ``scipy.linalg`` (0.1-0.27 s of a cold first
    call). Our kernels never use SciPy's BLAS when NumPy's is bound (``tracegrad.backend.blas``), so
    while a generated module compiles, ``ensure_blas`` answers from whether SciPy is
    installed, without importing it. Numba's np.dot and linalg lowerings call the real
    ``ensure_blas`` themselves when user code needs them; it is restored on exit, also in
    ``numba.np.arraymath``.
    """
    if "numba.np.arraymath" in sys.modules:
        yield
        return
    import importlib.util

    from . import blas

    try:
        import numba.np.linalg as numba_linalg
    except ImportError:  # pragma: no cover - another Numba layout
        yield
        return
    original = getattr(numba_linalg, "ensure_blas", None)
    if original is None or not blas.uses_numpy_blas() or importlib.util.find_spec("scipy") is None:
        yield
        return

    def ensure_blas() -> None:  # SciPy is installed: its BLAS can be imported when needed
        return None

    numba_linalg.ensure_blas = ensure_blas
    try:
        yield
    finally:
        numba_linalg.ensure_blas = original
        arraymath = sys.modules.get("numba.np.arraymath")
        if arraymath is not None and getattr(arraymath, "ensure_blas", None) is ensure_blas:
            arraymath.ensure_blas = original


def _execute(name: str, path: str, source: str) -> types.ModuleType:
    """Run ``source`` as module ``name`` backed by the file ``path``."""
    module = types.ModuleType(name)
    module.__file__ = path
    sys.modules[name] = module  # before running it: Numba's cache records the module name
    try:
        code = compile(source, path, "exec")
        with _light_cache_loads(), _registries_without_scipy_linalg():
            exec(code, module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _load(source_for: Callable[[bool], str]) -> tuple[types.ModuleType, bool]:
    """Import the generated module; returns it and whether Numba's disk cache was used."""
    if not _disk_cache_enabled():
        source = source_for(False)
        name = _module_name(source)
        if name in sys.modules:
            return sys.modules[name], False
        path = _ensure_file(_private_dir(), name, source)
        return _execute(name, path, source), False

    source = source_for(True)
    name = _module_name(source)
    if name in sys.modules:
        return sys.modules[name], True
    directory = cache_dir()
    try:
        path = _ensure_file(directory, name, source)
    except OSError as e:
        _warn_once(
            f"tracegrad: cannot write to the cache directory {directory!r} ({e}); compiled "
            "code is cached in a temporary directory for this process only. Set "
            "TRACEGRAD_CACHE_DIR to a writable directory.",
            key=f"unwritable {directory}",  # once per directory: the error names each file
        )
        directory = _private_dir()
        path = _ensure_file(directory, name, source)
    try:
        return _execute(name, path, source), True
    except Exception:
        # Unreadable Numba cache files (truncated, corrupted): drop them and compile again.
        _clear_numba_cache(directory, name)
    try:
        return _execute(name, path, source), True
    except Exception as e:
        _warn_once(f"tracegrad: Numba's disk cache failed ({e!r}); compiling without it.")
    source = source_for(False)
    name = _module_name(source)
    if name in sys.modules:
        return sys.modules[name], False
    return _execute(name, _ensure_file(_private_dir(), name, source), source), False


# =============================================================================================
# Runners


def _scalar_converter(dtype: np.dtype) -> Callable[[Any], Any]:
    if dtype.kind == "f":
        return float
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
    gen: codegen.Generated,
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
    literals = literals or {}
    ns: dict[str, Any] = {
        "_kernel": entry,
        "_normalize": _normalizer(in_avals),
        "_empty": np.empty,
    }
    n_in = len(in_avals)
    names = [f"a{i}" for i in range(n_in)]
    lines = ["def run(args):"]
    if n_in:
        lines.append(f"    {', '.join(names)}{',' if n_in == 1 else ''} = args")
    for i, aval in enumerate(in_avals):
        if aval.ndim == 0:
            # Numba takes only Python and NumPy scalars for a scalar parameter: a 0-d array
            # (a traced scalar passed back in, ``np.asarray(0.9)``) would miss the signature
            # and take the slow path, about 0.3 ms with many arguments, on every call.
            ns[f"_scalar{i}"] = _scalar_converter(aval.dtype)
            lines.append(f"    a{i} = _scalar{i}(a{i})")
    call_args = list(names)
    for k, value in enumerate(consts):
        ns[f"_c{k}"] = value
        call_args.append(f"_c{k}")
    results = []
    returned = []
    for j, plan in enumerate(gen.outputs):
        if plan.kind == "array":
            ns[f"_dt{j}"] = plan.aval.dtype
            lines.append(f"    o{j} = _empty({plan.aval.shape!r}, _dt{j})")
            call_args.append(f"o{j}")
            results.append(f"o{j}")
        elif plan.kind == "scalar":
            ns[f"_s{j}"] = _scalar_type(plan.aval.dtype)
            returned.append(f"r{j}")
            results.append(f"_s{j}(r{j})")
        else:
            ns[f"_l{j}"] = literals.get(j, plan.value)
            results.append(f"_l{j}[()]" if plan.aval.ndim == 0 else f"_l{j}.copy()")
    call = f"_kernel({', '.join(call_args)})"
    if returned:
        call = f"{', '.join(returned)} = {call}"  # one scalar comes back bare, more as a tuple
    renormalize = f"{', '.join(names)}{',' if n_in == 1 else ''} = _normalize(args)"
    lines += [
        "    try:",
        f"        {call}",
        "    except TypeError:",
        f"        {renormalize if n_in else 'raise'}",
        f"        {call}",
        f"    return [{', '.join(results)}]",
    ]
    exec("\n".join(lines), ns)
    return ns["run"]


_COMPILABLE = set(map(np.dtype, [np.bool_, np.float32, np.float64]))
_COMPILABLE |= {np.dtype(f"{k}{n}") for k in "iu" for n in (1, 2, 4, 8)}


def _check_dtypes(program: Program) -> None:
    """Numba has no float16 or long double: say so instead of failing inside Numba."""
    avals = [*program.in_avals, *(e.out.aval for e in program.eqns)]
    for aval in avals:
        if aval.dtype not in _COMPILABLE:
            raise DTypeError(
                f"the Numba backend cannot compile {aval.dtype} arrays (it supports float32, "
                "float64, integers and bool). Cast the inputs, e.g. x.astype(np.float32), or "
                "run with TRACEGRAD_BACKEND=interpret."
            )


def structural_key(program: Program) -> str:
    """The in-memory cache key: the program's text with constant arrays by shape and dtype.

    Constant arrays are kernel arguments, so their values are not part of the compiled code;
    only which of them are equal is (equal constants share one argument).  Programs that
    differ only in constant values (a loss closing over each new batch) share one kernel.
    """
    classes = {group[0].key(): k for k, group in enumerate(codegen.constant_classes(program))}
    names: dict[Any, str] = {}

    def ref(a: Any) -> str:
        if isinstance(a, Literal):
            if a.value.ndim == 0:
                return format_literal(a)
            return f"const{a.aval}#{classes.get(a.key(), '')}"
        return names.setdefault(a, f"v{len(names)}")

    lines = [" ".join(f"{ref(v)}:{v.aval}" for v in program.inputs)]
    for eqn in program.eqns:
        head = f"{eqn.prim.name}{format_params(eqn.params)}"
        lines.append(f"{ref(eqn.out)}:{eqn.out.aval} = {head} {' '.join(map(ref, eqn.inputs))}")
    lines.append(" ".join(ref(a) for a in program.outputs))
    return "\n".join(lines)


@dataclasses.dataclass
class _Entry:
    """A compiled program in the memory cache, and its runner for its own constant values."""

    gen: codegen.Generated
    kernel: Callable
    runner: Callable
    const_keys: list[tuple]

    def runner_for(self, program: Program) -> Callable:
        """The runner of ``program`` (same structure): the kernel with its own constants."""
        classes = codegen.constant_classes(program)
        consts = [classes[k][0] for k in self.gen.const_classes]
        literals = {
            j: atom.value
            for j, atom in enumerate(program.outputs)
            if isinstance(atom, Literal) and atom.value.ndim > 0
        }
        keys = [c.key() for c in consts] + [Literal.make(v).key() for v in literals.values()]
        if keys == self.const_keys:
            return self.runner
        values = [np.array(c.value, order="C") for c in consts]  # writable copies
        return make_runner(self.gen, self.kernel, program.in_avals, values, literals)


def _const_keys(gen: codegen.Generated) -> list[tuple]:
    keys = [Literal.make(c).key() for c in gen.consts]
    literal_outputs = [p.value for p in gen.outputs if p.kind == "literal" and p.value.ndim]
    return keys + [Literal.make(v).key() for v in literal_outputs]


def compile_program(program: Program) -> Callable[[Sequence[Any]], list[Any]]:
    """Compile ``program``; returns ``runner(args) -> list of outputs``.

    ``args`` are the flat program inputs: arrays of any layout (copied only when they are not
    C-contiguous and writable), NumPy scalars or Python numbers for 0-d inputs.  Array outputs
    are fresh arrays; 0-d outputs are NumPy scalars.
    """
    key = structural_key(program)
    entry = _memory.get(key)
    if entry is not None:
        STATS.memory_hits += 1
        return entry.runner_for(program)
    _check_dtypes(program)
    with _lock:
        entry = _memory.get(key)
        if entry is not None:
            STATS.memory_hits += 1
            return entry.runner_for(program)
        start = time.perf_counter()
        generated: dict[bool, codegen.Generated] = {}

        def source_for(cache: bool) -> str:
            if cache not in generated:
                generated[cache] = codegen.generate(program, cache=cache)
            return generated[cache].source

        module, cached = _load(source_for)
        gen = generated[cached] if cached in generated else generated[not cached]
        if module.__name__ not in _counted:
            _counted.add(module.__name__)
            for kernel in module.KERNELS:
                stats = kernel.stats
                hits = sum(stats.cache_hits.values())
                STATS.disk_hits += hits
                STATS.compiles += max(sum(stats.cache_misses.values()), 0 if hits else 1)
        kernel = getattr(module, gen.entry)
        runner = make_runner(gen, kernel, program.in_avals)
        STATS.programs += 1
        STATS.seconds += time.perf_counter() - start
        _memory[key] = _Entry(gen, kernel, runner, _const_keys(gen))
        return runner
