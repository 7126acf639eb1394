"""Multi-core kernels: large loop nests split into one block per thread under numba.prange.

Parallel code must compute what serial code computes: elementwise results bit for bit,
reductions to rounding (their per-block partials are added in another order), and the same
result on every run for a given thread count. Compiles are few: the generated code reads its
loop bounds from its arguments, so one compiled kernel of an elementwise-and-reduce program,
which allocates nothing of the input's size, is called here on arrays of many sizes.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tracegrad as tg
from tracegrad import config, nn
from tracegrad.backend import codegen, compiler, disk_cache, emit

THREADS = 2


def sin_exp(x):
    return np.sum(np.sin(x) * np.exp(-x * x))


def reductions(x):
    """Reductions over the outermost loop into arrays (per-block partial rows), over the
    inner loop (private to a block), and over every loop (per-block partial scalars)."""
    t = np.tanh(x)
    columns = np.sum(t * t, axis=0) + np.max(t, axis=0)
    rows = np.max(t * 3.0, axis=1)
    return np.sum(columns * columns) + np.sum(np.exp(rows)) + np.sum(t) + np.max(t)


def _program(f, *args):
    return tg.value_and_grad(f).lower(*args).lowered


def _equations_per_element(source: str) -> int:
    """The number of values the (first) loop nest of ``source`` computes."""
    heading = next(line for line in source.splitlines() if "# loop over" in line)
    return len(heading.split(":", 1)[1].split(","))


def _kernel(program, threads: int):
    """The compiled entry of ``program`` generated for ``threads``, and its source."""
    settings = dataclasses.replace(config.read(), threads=threads)
    generated_for = codegen.variants(program, settings.vector_math, threads)
    module, _ = disk_cache.load(lambda *how: generated_for(*how).source, settings)
    return module.program, generated_for(False, True).source


def _functions(source: str) -> list[tuple[str, str]]:
    """Each ``@numba.njit`` function of ``source``: its decorator line and its body."""
    parts = re.split(r"^(@numba\.njit.*)$", source, flags=re.M)
    return [(parts[k], parts[k + 1].split("\n\n\n")[0]) for k in range(1, len(parts), 2)]


# --- the setting -------------------------------------------------------------------------


@pytest.fixture
def clean_thread_env(monkeypatch):
    for name in ("TRACEGRAD_THREADS", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_thread_count_follows_tracegrad_then_numba_then_openmp(clean_thread_env):
    mp = clean_thread_env
    # Told nothing: serial kernels, BLAS left alone
    assert (config.read().threads, config.read().blas_threads) == (1, None)
    mp.setenv("OMP_NUM_THREADS", "1")  # Dask and joblib workers set this
    assert (config.read().threads, config.read().blas_threads) == (1, None)
    mp.setenv("NUMBA_NUM_THREADS", "3")
    assert (config.read().threads, config.read().blas_threads) == (3, None)
    mp.setenv("TRACEGRAD_THREADS", " 5 ")
    assert (config.read().threads, config.read().blas_threads) == (5, 5)


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_a_bad_thread_count_is_refused_by_name(clean_thread_env, value):
    clean_thread_env.setenv("TRACEGRAD_THREADS", value)
    with pytest.raises(ValueError, match="TRACEGRAD_THREADS"):
        config.read()


# --- the generated code (no compiles) ----------------------------------------------------


def test_one_thread_and_small_nests_give_serial_code_byte_for_byte():
    x = np.linspace(-2, 2, 4096)
    program = _program(sin_exp, x)
    serial = codegen.generate(program)
    assert "prange" not in serial.source and "parallel" not in serial.source
    assert codegen.generate(program, threads=1).source == serial.source
    # Below the threshold a thread count changes nothing, so small programs keep their
    # cached kernels whatever the setting.
    assert _equations_per_element(serial.source) * x.size < emit.PARALLEL_MIN_WORK
    assert codegen.generate(program, threads=THREADS).source == serial.source


def test_the_threshold_decides_by_iterations_times_equations():
    probe = codegen.generate(_program(sin_exp, np.ones(100))).source
    per_element = _equations_per_element(probe)
    above = math.ceil(emit.PARALLEL_MIN_WORK / per_element)
    for n, parallel in ((above - 1, False), (above, True)):
        source = codegen.generate(_program(sin_exp, np.ones(n)), threads=THREADS).source
        assert ("numba.prange(2)" in source) is parallel
        assert ("parallel=True" in source) is parallel


def test_parallel_true_exactly_on_functions_with_a_prange_loop():
    # Equal hidden layers: their loop nests become shared helpers (_loop<k>), parallel ones
    # compiled with parallel=True and called from a kernel that is not.
    rng = np.random.default_rng(0)
    params = nn.init_mlp(rng, [64, 64, 64, 64, 10])
    x, labels = rng.normal(size=(2048, 64)), rng.integers(0, 10, size=2048)

    def loss(params, x, labels):
        return nn.softmax_cross_entropy(nn.mlp(params, x, nn.tanh), labels)

    source = codegen.generate(_program(loss, params, x, labels), threads=THREADS).source
    functions = _functions(source)
    assert any("_loop" in body.split("(")[0] for _, body in functions)
    assert any("prange" in body for _, body in functions)
    for decorator, body in functions:
        assert ("parallel=True" in decorator) == ("numba.prange" in body), body[:80]


def test_cache_keys_tell_thread_counts_apart():
    program = _program(sin_exp, np.ones(2 * emit.PARALLEL_MIN_WORK))
    settings = config.read()
    one, two = (dataclasses.replace(settings, threads=t) for t in (1, THREADS))
    assert compiler.memory_key(program, one) != compiler.memory_key(program, two)
    texts = [codegen.generate(program, user_names=False, threads=t).source for t in (1, THREADS)]
    assert disk_cache._module_name(texts[0]) != disk_cache._module_name(texts[1])


# --- compiled: parallel equals serial ----------------------------------------------------


@pytest.fixture(scope="module")
def sin_exp_kernels():
    """The serial and the parallel kernel of value_and_grad(sin_exp), generated at a size
    above the threshold (two compiles); both take arrays of any size."""
    program = _program(sin_exp, np.ones(2 * emit.PARALLEL_MIN_WORK))
    (serial, _), (parallel, source) = (_kernel(program, t) for t in (1, THREADS))
    assert "numba.prange" in source
    return program, serial, parallel, _equations_per_element(source)


@given(data=st.data(), seed=st.integers(0, 2**16))
def test_parallel_kernel_equals_serial_kernel(sin_exp_kernels, data, seed):
    _, serial, parallel, per_element = sin_exp_kernels
    edge = math.ceil(emit.PARALLEL_MIN_WORK / per_element)  # the smallest parallel size
    n = data.draw(
        st.one_of(
            st.integers(0, 2 * THREADS + 1),  # fewer elements than blocks: empty blocks
            st.integers(edge - 40, edge + 40),
            st.integers(0, 3 * edge),
        ),
        label="n",
    )
    x = np.random.default_rng(seed).normal(scale=2.0, size=n)
    grad_serial, grad_parallel = np.empty(n), np.empty(n)
    value_serial = serial(x, grad_serial)
    value_parallel = parallel(x, grad_parallel)
    assert np.array_equal(grad_parallel, grad_serial)  # elementwise: bit for bit
    terms = np.abs(np.sin(x) * np.exp(-x * x))
    assert abs(value_parallel - value_serial) <= n * np.finfo(float).eps * terms.sum()
    assert parallel(x, np.empty(n)) == value_parallel  # deterministic


def test_threads_really_run(sin_exp_kernels):
    numba = pytest.importorskip("numba")
    parallel = sin_exp_kernels[2]
    x = np.linspace(-3, 3, 10**5)
    value = parallel(x, np.empty_like(x))
    assert numba.threading_layer() in ("omp", "tbb", "workqueue")
    assert parallel.targetoptions["parallel"] is True
    metadata = parallel.get_metadata(parallel.signatures[0])
    if "parfor_diagnostics" in metadata:  # compiled in this process, not loaded from disk
        assert metadata["parfor_diagnostics"].initial_parfors
    if len(os.sched_getaffinity(0)) > 1:
        assert numba.get_num_threads() > 1
    # The blocks are fixed by the code: one Numba thread running both gives the same sum.
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        assert parallel(x, np.empty_like(x)) == value
    finally:
        numba.set_num_threads(before)


def layered(x, w):
    """Equal layers: their loop nests become calls of shared helpers (``_loop<k>``)."""
    for _ in range(3):
        x = np.tanh(x @ w)
    return reductions(x)


def test_reductions_over_blocks_match_serial(monkeypatch):
    """float32: partial sums and maxima per block in float64, cast after the fold; the
    parallel nests are shared helpers compiled with parallel=True, called from a kernel."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 256)).astype(np.float32)
    w = (rng.normal(size=(256, 256)) / 16).astype(np.float32)
    results = {}
    for threads in (1, THREADS):
        monkeypatch.setenv("TRACEGRAD_THREADS", str(threads))
        vg = tg.value_and_grad(layered, argnums=(0, 1))  # a function keeps its first kernel
        source = tg.show_source(vg)(x, w)
        assert ("numba.prange" in source) is (threads > 1)
        results[threads] = vg(x, w)
    assert re.search(r"_part\d+ = _empty\(\(2, 256\), np.float64\)", source)  # per-block rows
    helpers = [body for _, body in _functions(source) if body.lstrip().startswith("def _loop")]
    assert any("numba.prange" in body for body in helpers)
    (v1, g1), (v2, g2) = results[1], results[THREADS]
    assert v2.dtype == v1.dtype == np.float32
    np.testing.assert_allclose(v2, v1, rtol=1e-6)
    for a, b in zip(g1, g2, strict=True):
        assert b.dtype == np.float32
        # float32 sums of 600 terms (the gradient of w is a product over the batch): to
        # rounding relative to the largest entry, where entries cancel
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5 * np.abs(a).max())
    x[123, 45] = np.nan  # a NaN in one block reaches the max and the sums
    value, _ = vg(x, w)
    assert np.isnan(value)


def _blas_pool_sizes(threadpoolctl):
    return {p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"}


def test_blas_pool_may_use_the_threads_of_an_explicit_setting(monkeypatch, sin_exp_kernels):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    program = sin_exp_kernels[0]

    with threadpoolctl.threadpool_limits(1, user_api="blas"):  # as OPENBLAS_NUM_THREADS=1
        monkeypatch.setenv("TRACEGRAD_THREADS", "1")
        compiler.compile_program(program)  # in memory already: no compile
        assert _blas_pool_sizes(threadpoolctl) == {1}
        monkeypatch.setenv("TRACEGRAD_THREADS", str(THREADS))
        compiler.compile_program(program)
        assert _blas_pool_sizes(threadpoolctl) == {THREADS}
        monkeypatch.setenv("TRACEGRAD_THREADS", "1")  # never lowered
        compiler.compile_program(program)
        assert _blas_pool_sizes(threadpoolctl) == {THREADS}


def mixed_indexing(x, y, row, col):
    """A nest over (n, m) that reads arrays along the blocked axis (``y``), across it (``x.T``:
    the block index as a second index), broadcast along it (``row``) and broadcast across it
    (``col``): every way a block's loop index reaches an array."""
    z = np.sin(x.T) * y + np.cos(row) * col - y * y
    return np.sum(z * z) + np.sum(np.exp(-z[::-1] * z))


def test_blocks_index_every_array_as_serial_code_does(monkeypatch):
    """Each block loops from 0 over views of the arrays it indexes first by the block's loop
    (a loop from lo to hi does not vectorise); other uses of the index stay global."""
    rng = np.random.default_rng(5)
    n, m = 401, 300  # blocks of 200 and 201 rows
    args = (rng.normal(size=(m, n)), rng.normal(size=(n, m)), rng.normal(size=m))
    args = (*args, rng.normal(size=(n, 1)))
    monkeypatch.setenv("TRACEGRAD_THREADS", str(THREADS))
    vg = tg.value_and_grad(mixed_indexing, argnums=(0, 1, 2, 3))
    source = tg.show_source(vg)(*args)
    assert "numba.prange" in source and "_g0 = _lo + i0" in source
    assert re.search(r"_blkv\d+ = \w+\[_lo:_hi\]", source)
    got = vg(*args)
    monkeypatch.setenv("TRACEGRAD_BACKEND", "interpret")
    want = tg.value_and_grad(mixed_indexing, argnums=(0, 1, 2, 3))(*args)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
    for g, w in zip(got[1], want[1], strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12 * np.abs(w).max())


def test_openmp_threads_are_asked_to_spin_briefly_unless_the_user_chose(monkeypatch):
    from tracegrad.backend import openmp

    for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        monkeypatch.setenv(name, "")  # recorded, so what the test sets is undone after it
        monkeypatch.delenv(name)
    monkeypatch.setattr(openmp, "_layer_started", lambda: True)  # too late: left alone
    openmp.use_short_spin()
    assert "GOMP_SPINCOUNT" not in os.environ
    monkeypatch.setattr(openmp, "_layer_started", lambda: False)
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")  # the user's choice stands
    openmp.use_short_spin()
    assert "GOMP_SPINCOUNT" not in os.environ
    monkeypatch.delenv("OMP_WAIT_POLICY")
    monkeypatch.setenv("TRACEGRAD_THREADS", str(THREADS))
    compiler.compile_program(_program(sin_exp, np.ones(10)))  # built with threads: asks
    assert os.environ["GOMP_SPINCOUNT"] == openmp.SHORT_SPIN


def products(a, b, c, e):
    """Products large enough to split, by rows (more rows than columns) and by columns, with
    each operand a C array or a transposed view; their gradients add more of each."""
    rows = a @ b  # (301, 15): C @ C
    columns = a.T @ c  # (60, 90): x transposed
    rows_of_transposed = c.T @ a  # (90, 60)
    columns_of_transposed = a @ e.T  # (301, 500): y transposed
    return (
        np.sum(np.tanh(rows))
        + np.sum(np.sin(columns))
        + np.sum(rows_of_transposed**2)
        + np.sum(np.cos(columns_of_transposed))
    )


def test_large_products_run_in_blocks_on_the_kernels_threads(monkeypatch):
    """Each thread calls a one-thread gemm on a block of rows or columns; BLAS's pool is one
    thread meanwhile and has its size back after the call."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    rng = np.random.default_rng(7)
    args = (
        rng.normal(size=(301, 60)),
        rng.normal(size=(60, 15)),
        rng.normal(size=(301, 90)),
        rng.normal(size=(500, 60)),
    )
    monkeypatch.setenv("TRACEGRAD_THREADS", str(THREADS))
    vg = tg.value_and_grad(products, argnums=(0, 1, 2, 3))
    source = tg.show_source(vg)(*args)
    calls = re.findall(r"_gemm_blocks\((\w+), (\w+), .*, 8, 2\)$", source, flags=re.M)
    assert len(calls) == 12  # the 4 products and the 8 of their gradients
    assert {"CBLAS_NO_TRANS", "CBLAS_TRANS"} <= {a for a, _ in calls} & {b for _, b in calls}
    assert "_gemm_float64(" not in source

    with threadpoolctl.threadpool_limits(THREADS, user_api="blas"):
        got = vg(*args)
        assert _blas_pool_sizes(threadpoolctl) == {THREADS}
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        assert vg(*args)[0] == got[0]
        assert _blas_pool_sizes(threadpoolctl) == {1}
    monkeypatch.setenv("TRACEGRAD_BACKEND", "interpret")
    want = tg.value_and_grad(products, argnums=(0, 1, 2, 3))(*args)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
    for g, w in zip(got[1], want[1], strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12 * np.abs(w).max())
