"""Large matrix products on a kernel's own threads: one one-thread gemm call per block.

With several threads, a kernel's loop nests run on Numba's OpenMP threads, and its matrix
products could run on OpenBLAS's own pool. The two pools do not take turns well: threads of
one spin, waiting for their next task, while the other's work (docs/backend.md,
"Multi-core"). ``gemm_blocks`` therefore cuts a large product into one block of the result
per thread and runs the blocks under ``numba.prange``, each a one-thread gemm call, with
OpenBLAS's pool set to one thread meanwhile (and its size restored after): every core works
for the OpenMP threads.

One function serves every product (both dtypes, every layout): the arrays arrive as
addresses, so Numba compiles it for one signature, and its machine code is kept in Numba's
disk cache. A generated module that calls it takes it from ``compiled()``, after binding the
BLAS symbols (``blas.bind``).

The pool size is process-wide. Kernels hold the GIL while they run, so two of them never
interleave their changes to it; NumPy code in another Python thread that multiplies matrices
meanwhile runs on one thread.
"""

from __future__ import annotations

import threading
from typing import Any

import numba
import numpy as np
from numba import njit, types

from .. import config
from . import blas

# CBLAS enums (cblas.h)
_COL_MAJOR = blas.COL_MAJOR
_NO_TRANS = blas.NO_TRANS


def _gemm_of(dtype: types.Float) -> types.ExternalFunction:
    """A gemm entry point whose array arguments are typed as addresses (64-bit integers,
    passed as pointers are on every 64-bit ABI), under a name of its own (``blas.bind``)."""
    address = size = types.int64
    return types.ExternalFunction(
        blas.address_symbol(str(dtype)),
        types.void(
            *(types.intc,) * 3,
            *(size,) * 3,
            dtype,
            address,
            size,
            address,
            size,
            dtype,
            address,
            size,
        ),
    )


_dgemm = _gemm_of(types.float64)
_sgemm = _gemm_of(types.float32)
_pool_size = types.ExternalFunction(blas.pool_symbol("get_num_threads"), types.intc())
_set_pool_size = types.ExternalFunction(blas.pool_symbol("set_num_threads"), types.void(types.intc))


# Array addresses, sizes and flags; compiled by ``compiled()``, not at import, where the BLAS
# symbols may not be bound yet.
_SIGNATURE = types.void(*(types.int64,) * 5, *(types.uint64, types.int64) * 3, *(types.int64,) * 2)
_lock = threading.Lock()


def compiled() -> Any:
    """``gemm_blocks``, compiled for ``_SIGNATURE`` (or loaded from Numba's cache) and closed
    to others: a call site passing constants (``128``, ``CBLAS_TRANS``) would otherwise
    compile a variant for each of their literal types (8 variants, 5 s, for an MLP)."""
    with _lock:
        if not gemm_blocks.signatures:
            gemm_blocks.compile(_SIGNATURE)
            gemm_blocks.disable_compile()
    return gemm_blocks


@njit(parallel=True, cache=config.read().disk_cache)
def gemm_blocks(ta, tb, n, m, k, a, lda, b, ldb, c, ldc, itemsize, blocks):
    """``C = op(A) @ op(B)``, column-major (CBLAS's arguments: ``C`` is ``n x m``), as
    ``blocks`` gemm calls, each on a contiguous block of ``C``'s longer side.

    ``a``, ``b`` and ``c`` are addresses, ``itemsize`` 8 (float64) or 4 (float32). A
    block of ``C``'s columns reads the same columns of ``op(B)``, a block of its rows the
    same rows of ``op(A)``; where the stored matrix is transposed, its step is 1 element.
    The blocks are fixed by ``blocks``, not by how many threads Numba runs.
    """
    a, b, c = np.int64(a), np.int64(b), np.int64(c)  # int64 arithmetic, not float64
    pool = _pool_size()
    _set_pool_size(1)
    by_columns = m >= n
    extent = m if by_columns else n
    for blk in numba.prange(blocks):
        lo = blk * extent // blocks
        hi = (blk + 1) * extent // blocks
        if hi == lo:
            continue
        rows, cols, a_at, b_at, c_at = n, m, a, b, c
        if by_columns:
            cols = hi - lo
            b_at = b + lo * (ldb if tb == _NO_TRANS else 1) * itemsize
            c_at = c + lo * ldc * itemsize
        else:
            rows = hi - lo
            a_at = a + lo * (1 if ta == _NO_TRANS else lda) * itemsize
            c_at = c + lo * itemsize
        if itemsize == 8:
            _dgemm(_COL_MAJOR, ta, tb, rows, cols, k, 1.0, a_at, lda, b_at, ldb, 0.0, c_at, ldc)
        else:
            one, zero = np.float32(1.0), np.float32(0.0)
            _sgemm(_COL_MAJOR, ta, tb, rows, cols, k, one, a_at, lda, b_at, ldb, zero, c_at, ldc)
    _set_pool_size(pool)
