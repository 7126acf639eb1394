"""The text of BLAS gemm calls in generated kernels, and of their declarations in the file.

Generated code calls a gemm as an external function: Numba's ``np.dot`` costs a 0.3-0.5 s
specialisation per call form and layout mix, this costs one statement. The gemm is NumPy's
own (``tracegrad.backend.blas``: no SciPy import in a new process) or, where that is not
found, Numba's ``numba_xxgemm`` (SciPy's). Row-major ``out = x @ y`` is column-major
``out.T = y.T @ x.T``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import blas
from .text import empty_text

if TYPE_CHECKING:
    from .writer import Operand

# The CBLAS enums (cblas.h) by name, defined once at the top of each file that calls a gemm.
CBLAS_NAMES = {
    "CBLAS_COL_MAJOR": blas.COL_MAJOR,
    "CBLAS_NO_TRANS": blas.NO_TRANS,
    "CBLAS_TRANS": blas.TRANS,
}


# With several threads, a product of at least this many multiply-adds (m x n x k) runs as
# one gemm call per thread, each on a block of the result (``block_gemm``).
PARALLEL_MIN_PRODUCT = 250_000
# The name generated code calls ``block_gemm.gemm_blocks`` by.
BLOCK_CALL = "_gemm_blocks("


def gemm_call(out: Operand, x: Operand, y: Operand, blocks: int = 1) -> str:
    """The statement ``out = x @ y`` for 2-D float operands, C arrays or ``x.T`` views;
    ``blocks`` > 1 (NumPy's BLAS only, ``product_blocks``) runs it as that many gemm calls
    in parallel."""
    dtype = np.dtype(out.aval.dtype)
    m, n = out.aval.shape
    # The inner dimension is read from x: a product summing over a loop's stacked rows (see
    # core/scan_passes.py) then has no trip count in its text, and one compile serves all.
    # (BLAS wants leading dimensions of at least 1, also where k is 0.)
    k = f"{x}.shape[1]"
    ld_k = f"max({k}, 1)"
    d = dtype.name
    if blas.uses_numpy_blas():
        ta, lda = ("CBLAS_NO_TRANS", n) if y.layout == "C" else ("CBLAS_TRANS", ld_k)
        tb, ldb = ("CBLAS_NO_TRANS", ld_k) if x.layout == "C" else ("CBLAS_TRANS", m)
        if blocks > 1:
            return (
                f"{BLOCK_CALL}{ta}, {tb}, {n}, {m}, {k}, {y}.ctypes.data, {lda}, "
                f"{x}.ctypes.data, {ldb}, {out}.ctypes.data, {n}, {dtype.itemsize}, {blocks})"
            )
        one, zero = ("1.0", "0.0") if dtype == np.float64 else ("_f32_1", "_f32_0")
        return (
            f"_gemm_{d}(CBLAS_COL_MAJOR, {ta}, {tb}, {n}, {m}, {k}, {one}, {y}.ctypes, "
            f"{lda}, {x}.ctypes, {ldb}, {zero}, {out}.ctypes, {n})"
        )
    ta, lda = (ord("N"), n) if y.layout == "C" else (ord("T"), ld_k)
    tb, ldb = (ord("N"), ld_k) if x.layout == "C" else (ord("T"), m)
    kind = ord("d" if dtype == np.float64 else "s")
    return (
        f"_blas |= _gemm_{d}({kind}, {ta}, {tb}, {n}, {m}, {k}, _one_{d}.ctypes, "
        f"{y}.ctypes, {lda}, {x}.ctypes, {ldb}, _zero_{d}.ctypes, {out}.ctypes, {n})"
    )


def product_blocks(out: Operand, x: Operand, threads: int) -> int:
    """How many gemm calls ``out = x @ y`` runs as: ``threads`` for a product of at least
    ``PARALLEL_MIN_PRODUCT`` multiply-adds whose longer side has a row or column for every
    thread, when kernels can size NumPy's BLAS pool; else 1."""
    m, n = out.aval.shape
    work = m * n * x.aval.shape[1]
    if threads < 2 or max(m, n) < threads or work < PARALLEL_MIN_PRODUCT:
        return 1
    return threads if blas.controls_numpy_pool() else 1


def setup_lines(dtypes: set[str]) -> list[str]:
    """The locals a function's gemm calls need: alpha = 1 and beta = 0 cells, the status flag.

    (NumPy's CBLAS takes alpha and beta by value and reports no status.)
    """
    if blas.uses_numpy_blas() or not dtypes:
        return []
    lines = []
    for d in sorted(dtypes):
        for name, value in ((f"_one_{d}", 1), (f"_zero_{d}", 0)):
            lines.append(f"{name} = {empty_text((1,), d)}")
            lines.append(f"{name}[0] = {value}")
    return [*lines, "_blas = 0"]


def check_lines(dtypes: set[str]) -> list[str]:
    """The status check closing a function whose gemm calls report one (SciPy's)."""
    if blas.uses_numpy_blas() or not dtypes:
        return []
    return [
        "if _blas != 0:",
        '    raise RuntimeError("tracegrad: the BLAS matrix product (SciPy) failed")',
    ]


def declarations(dtypes: set[str], splits_products: bool = False) -> list[str]:
    """The module-level declarations of ``_gemm_<dtype>`` for the file's gemm dtypes, and of
    ``_gemm_blocks`` where the file ``splits_products`` over its threads."""
    if not dtypes:
        return []
    if not blas.uses_numpy_blas():
        return [_NUMBA_GEMM.format(dtype=d) for d in sorted(dtypes)]
    enums = "\n".join(f"{name} = {value}" for name, value in CBLAS_NAMES.items())
    texts = [f"\n# CBLAS enums (cblas.h): storage order and transposition\n{enums}"]
    for d in sorted(dtypes):
        text = _NUMPY_GEMM.format(dtype=d, symbol=blas.symbol(d))
        texts.append(
            text + "\n_f32_1, _f32_0 = np.float32(1.0), np.float32(0.0)" * (d == "float32")
        )
    return texts + [_BLOCK_GEMM] * splits_products


# bind() registers the symbol's address with LLVM: it must run before the njit decorators,
# which link cached machine code at once. float32 alpha and beta are typed constants: Numba
# would type a bare 1.0 as float64.
_NUMPY_GEMM = """
# {dtype} matrix products: NumPy's OpenBLAS (tracegrad.backend.blas), CBLAS with 64-bit integers
# order, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc
from tracegrad.backend import blas as _tg_blas

_tg_blas.bind()
_P_{dtype} = numba.types.CPointer(numba.types.{dtype})
_gemm_{dtype} = numba.types.ExternalFunction(
    "{symbol}",
    numba.types.void(
        *(numba.types.intc,) * 3, *(numba.types.int64,) * 3, numba.types.{dtype}, _P_{dtype},
        numba.types.int64, _P_{dtype}, numba.types.int64, numba.types.{dtype}, _P_{dtype},
        numba.types.int64,
    ),
)"""

# After bind(): gemm_blocks links the gemm symbols when it is compiled or loaded.
_BLOCK_GEMM = """
# Large products as one gemm call per thread (tracegrad.backend.block_gemm)
from tracegrad.backend import block_gemm as _tg_block_gemm

_gemm_blocks = _tg_block_gemm.compiled()"""

_NUMBA_GEMM = """
# {dtype} matrix products: Numba's BLAS entry point (SciPy's gemm), column-major arguments
# kind, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc
_P_{dtype} = numba.types.CPointer(numba.types.{dtype})
_gemm_{dtype} = numba.types.ExternalFunction(
    "numba_xxgemm",
    numba.types.intc(
        *(numba.types.char,) * 3, *(numba.types.intp,) * 3, _P_{dtype}, _P_{dtype},
        numba.types.intp, _P_{dtype}, numba.types.intp, _P_{dtype}, _P_{dtype}, numba.types.intp
    ),
)"""
