"""Matrix products of generated kernels through NumPy's own BLAS.

Generated code calls a BLAS gemm directly (see ``tracegrad.backend.matmul``).  Numba's own entry
point, ``numba_xxgemm``, forwards to SciPy's BLAS and needs ``scipy.linalg`` imported, which
costs 0.15-0.35 s in a new process: more than everything else of a warm-cache start together
once Numba is imported.  NumPy's wheels carry their own OpenBLAS (the one ``x @ y`` uses),
built with 64-bit integers and exporting ``cblas_?gemm`` under a prefixed name; we register
its address with LLVM under a name of our own, and the kernels call that.  Same kernels as
NumPy's matmul, one thread pool (``OPENBLAS_NUM_THREADS`` and threadpoolctl limit it, as they
limit NumPy), and no SciPy import.

When NumPy was built against another BLAS (MKL, Accelerate, a system OpenBLAS with 32-bit
integers) the symbols are not there, or not reachable (Windows resolves only a DLL's own
exports), and the kernels use ``numba_xxgemm`` as before.  Which binding a program uses is
part of its generated source, so of its cache key.

This module imports neither Numba nor llvmlite until a generated module calls ``bind``:
``import tracegrad`` stays free of them.
"""

from __future__ import annotations

import ctypes
import functools
import importlib

# NumPy's exported names, newest first: the scipy-openblas64 wheels (NumPy 2), the openblas64_
# wheels (NumPy 1.26).  The "64_" suffix marks the ILP64 build: every integer argument is
# 64-bit, the enums stay C ints.
_NUMPY_NAMES = {
    "float64": ("scipy_cblas_dgemm64_", "cblas_dgemm64_"),
    "float32": ("scipy_cblas_sgemm64_", "cblas_sgemm64_"),
}
# The size of OpenBLAS's thread pool (process-wide, as threadpoolctl sets it), read and set by
# kernels that run their matrix products in blocks on their own threads (``pool_symbol``).
_POOL_NAMES = {
    "get_num_threads": ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_"),
    "set_num_threads": ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_"),
}

_LETTER = {"float64": "d", "float32": "s"}

# CBLAS enum values (cblas.h): storage order and transposition flags.
COL_MAJOR = 102
NO_TRANS = 111
TRANS = 112


def _numpy_extension() -> str | None:
    """The path of NumPy's core extension, which links NumPy's BLAS."""
    for name in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):
        try:
            return importlib.import_module(name).__file__
        except ImportError:
            continue
    return None


@functools.cache
def _numpy_library() -> ctypes.CDLL | None:
    """A handle of NumPy's extension module: ``dlsym`` on it also searches the libraries it
    was linked against, so the lookups below find the BLAS NumPy really uses (loaded
    privately, not in the global namespace) without guessing file names."""
    path = _numpy_extension()
    if path is None:
        return None
    try:
        return ctypes.CDLL(path)
    except OSError:
        return None


def _addresses(wanted: dict[str, tuple[str, ...]]) -> dict[str, int] | None:
    """The address of each of ``wanted``'s functions (the first of its names NumPy's BLAS
    exports), or None when one is missing."""
    library = _numpy_library()
    if library is None:
        return None
    found: dict[str, int] = {}
    for key, names in wanted.items():
        for name in names:
            try:
                function = getattr(library, name)
            except AttributeError:
                continue
            found[key] = ctypes.cast(function, ctypes.c_void_p).value
            break
    return found if len(found) == len(wanted) else None


@functools.cache
def numpy_gemm_addresses() -> dict[str, int] | None:
    """``{"float64": address, "float32": address}`` of NumPy's ILP64 ``cblas_?gemm``, or None."""
    return _addresses(_NUMPY_NAMES)


@functools.cache
def numpy_pool_addresses() -> dict[str, int] | None:
    """The addresses of OpenBLAS's ``get_num_threads`` and ``set_num_threads`` in NumPy's
    BLAS, or None."""
    return _addresses(_POOL_NAMES)


def symbol(dtype: str) -> str:
    """The name generated code declares for the gemm of ``dtype`` ("float32" or "float64").

    The ABI (CBLAS arguments, 64-bit integers) is in the name, so a cached kernel can never be
    linked to a function of another signature.
    """
    return f"tracegrad_cblas_{_LETTER[dtype]}gemm_ilp64"


def address_symbol(dtype: str) -> str:
    """Another name of the gemm of ``dtype``, for a declaration that types its array
    arguments as addresses (``tracegrad.backend.block_gemm``): LLVM wants one type for one
    name."""
    return symbol(dtype) + "_addresses"


def pool_symbol(function: str) -> str:
    """The name generated code declares for OpenBLAS's ``get_num_threads`` or
    ``set_num_threads`` (``function``)."""
    return f"tracegrad_openblas_{function}"


def uses_numpy_blas() -> bool:
    """Whether generated kernels call NumPy's BLAS (else Numba's ``numba_xxgemm``)."""
    return numpy_gemm_addresses() is not None


def controls_numpy_pool() -> bool:
    """Whether generated kernels can size NumPy's BLAS pool: then, with several threads, they
    split large matrix products into blocks of rows or columns, one one-thread gemm call
    each on their own threads (``tracegrad.backend.block_gemm``)."""
    return uses_numpy_blas() and numpy_pool_addresses() is not None


_bound = False


def allow_pool_size(threads: int) -> None:
    """Let matrix products use at least ``threads`` threads (``TRACEGRAD_THREADS`` set).

    The pool is the process's (NumPy's own products share it): a smaller one, such as
    ``OPENBLAS_NUM_THREADS=1`` in a Dask worker, is raised to ``threads`` through
    threadpoolctl (every BLAS loaded, SciPy's too) when that is installed; a larger one is
    left alone, so that limiting BLAS stays the business of the BLAS settings.
    """
    if threads < 2:
        return  # every pool has a thread
    try:
        import threadpoolctl
    except ImportError:
        return
    # Looked up each time (a few milliseconds, once per program built): SciPy's BLAS may
    # have been loaded since.
    for pool in threadpoolctl.ThreadpoolController().select(user_api="blas").lib_controllers:
        if pool.num_threads < threads:
            pool.set_num_threads(threads)


def bind() -> None:
    """Make the ``symbol`` names resolvable by Numba's JIT linker (idempotent).

    Generated modules call this before their ``numba.njit`` decorators run: loading a kernel
    from Numba's disk cache links its machine code at once, and an unresolved name there is
    a fatal LLVM error, not an exception.  Code generation only chooses this binding when the
    addresses were found, so the ImportError below means a broken installation.
    """
    global _bound
    if _bound:
        return
    addresses = numpy_gemm_addresses()
    if addresses is None:
        raise ImportError("tracegrad: NumPy's BLAS (scipy-openblas64) was not found")
    from llvmlite import binding

    for dtype, address in addresses.items():
        binding.add_symbol(symbol(dtype), address)
        binding.add_symbol(address_symbol(dtype), address)
    for function, address in (numpy_pool_addresses() or {}).items():
        binding.add_symbol(pool_symbol(function), address)
    _bound = True
