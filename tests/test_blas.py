"""Matrix products in compiled code: NumPy's own BLAS (tracegrad.backend.blas), and SciPy's.

Every product form the code generator writes (C arrays and transposed views, both dtypes,
odd and degenerate shapes) is checked against NumPy. With NumPy's BLAS the kernels are the
ones ``x @ y`` runs, so matrix-matrix products are bit-identical; products NumPy computes
as matrix-vector ones (an extent of 1) may round differently.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.backend import blas, codegen, compiler

FORMS = {
    "x @ y": lambda a, b: a @ b,
    "x.T @ y": lambda a, b: a.T @ b,
    "x @ y.T": lambda a, b: a @ b.T,
    "x.T @ y.T": lambda a, b: a.T @ b.T,
}
# (m, k, n): vectors, a k of 1, odd sizes, and sizes past OpenBLAS's small-matrix paths
SHAPES = [(1, 1, 1), (1, 5, 1), (1, 9, 4), (6, 1, 3), (3, 7, 5), (17, 33, 9), (65, 129, 3)]
SHAPES += [(2, 300, 1), (64, 784, 128)]
RTOL = {np.float32: 1e-5, np.float64: 1e-12}

needs_numpy_blas = pytest.mark.skipif(
    not blas.uses_numpy_blas(), reason="this NumPy is not built with scipy-openblas64"
)


def operands(form: str, m: int, k: int, n: int, dtype, seed: int = 0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(k, m) if form.startswith("x.T") else (m, k)).astype(dtype)
    b = rng.normal(size=(n, k) if form.endswith("y.T") else (k, n)).astype(dtype)
    return a, b


def check_products(exact: bool) -> None:
    for dtype in (np.float32, np.float64):
        for m, k, n in SHAPES:
            for name, f in FORMS.items():
                a, b = operands(name, m, k, n, dtype)
                got, want = tg.jit(f)(a, b), f(a, b)
                assert got.dtype == want.dtype and got.shape == want.shape
                np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=0, err_msg=name)
                if exact and min(m, n) > 1:
                    np.testing.assert_array_equal(got, want, err_msg=f"{name} {(m, k, n)}")


@needs_numpy_blas
def test_products_match_numpy_bit_for_bit():
    check_products(exact=True)


@needs_numpy_blas
def test_generated_source_calls_numpy_blas():
    a, b = operands("x.T @ y", 3, 4, 5, np.float32)
    source = tg.show_source(FORMS["x.T @ y"])(a, b)
    assert blas.symbol("float32") in source and "numba_xxgemm" not in source
    # m and n as numbers; the inner dimension read from x (a loop's stacked rows: any length)
    assert re.search(
        r"\(CBLAS_COL_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS, 5, 3, \w+\.shape\[1\],", source
    )
    for name, value in [("COL_MAJOR", blas.COL_MAJOR), ("NO_TRANS", blas.NO_TRANS)]:
        assert source.count(f"CBLAS_{name} = {value}\n") == 1  # named once per file


def test_gradient_of_a_product_chain():
    # Both gemm transposition flags and both dtypes, through value_and_grad.
    def f(w, x):
        return np.sum(np.tanh(x @ w) ** 2) + np.sum((x.T @ x) @ w)

    for dtype in (np.float32, np.float64):
        rng = np.random.default_rng(1)
        w, x = rng.normal(size=(7, 3)).astype(dtype), rng.normal(size=(5, 7)).astype(dtype)
        value, grad = tg.value_and_grad(f)(w, x)
        t = np.tanh(x @ w)
        want = x.T @ (2 * t * (1 - t * t)) + (x.T @ x).T @ np.ones((7, 3), dtype)
        np.testing.assert_allclose(value, f(w, x), rtol=RTOL[dtype] * 10)
        np.testing.assert_allclose(grad, want, rtol=RTOL[dtype] * 10, atol=RTOL[dtype])


def test_scipy_fallback_when_numpy_blas_is_missing(monkeypatch, tmp_path):
    # NumPy built against another BLAS: the kernels call Numba's numba_xxgemm (SciPy).
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(blas, "uses_numpy_blas", lambda: False)
    memory: dict = {}
    monkeypatch.setattr(compiler, "_memory", memory)  # no kernels compiled with NumPy's BLAS
    a, b = operands("x @ y.T", 3, 4, 5, np.float64)
    source = codegen.generate_source(tg.make_ir(FORMS["x @ y.T"])(a, b))
    assert "numba_xxgemm" in source and "tracegrad_cblas" not in source
    check_products(exact=False)
    assert memory and all("numba_xxgemm" in e.gen.source for e in memory.values())


def test_bind_registers_the_symbols():
    if not blas.uses_numpy_blas():
        with pytest.raises(ImportError):
            blas.bind()
        return
    from llvmlite import binding

    blas.bind()
    blas.bind()  # idempotent
    addresses = blas.numpy_gemm_addresses()
    for dtype in ("float32", "float64"):
        assert binding.address_of_symbol(blas.symbol(dtype)) == addresses[dtype]
