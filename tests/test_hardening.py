"""Hardening: unusual inputs, huge programs, threads, a failing disk cache, aliasing, errors.

Compiled functions are defined once at module level and shared by the tests; tests that
are not about compiled code run on the reference interpreter.
"""

from __future__ import annotations

import errno
import os
import sys
import threading
import time
import warnings

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.backend import compiler, disk_cache
from tracegrad.core.interpret import eval_program
from tracegrad.testing import check_grads

HERE = os.path.basename(__file__)


def model(x):
    return np.sum(np.sin(x) * x) + np.max(x)


def forward(x):
    return (
        np.sin(x) * x,
        np.exp(-x),
        np.log(x),
        np.sqrt(x),
        np.maximum(x, 0.0),
        np.minimum(x, 1.0),
        np.where(x > 0, x, 0.0),
        np.tanh(x),
        np.sum(x),
        np.max(x),
        np.min(x),
    )


def int_forward(x):
    return np.sin(x), x * 2, x / 2, np.sum(x), x > 1


VALUE_AND_GRAD = tg.value_and_grad(model)
JIT_FORWARD = tg.jit(forward)
JIT_INT = tg.jit(int_forward)


# =============================================================================================
# Inputs


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nan_and_inf_propagate_like_numpy(dtype):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, -1.0, 1.5, 1e-300], dtype=dtype)
    with np.errstate(all="ignore"):
        want = forward(x)
        got = JIT_FORWARD(x)
        value, _ = VALUE_AND_GRAD(x)
        assert np.isnan(model(x)) and np.isnan(value)
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        assert np.asarray(g).dtype == np.asarray(w).dtype, k
        # NaN where NumPy has NaN, the same infinities; finite values to a few ulp (libm).
        rtol = 4 * np.finfo(dtype).eps
        np.testing.assert_allclose(g, w, rtol=rtol, atol=0, err_msg=f"output {k}")


def test_inf_without_nan_gives_numpy_values():
    x = np.array([np.inf, 1.0, 2.0])
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(JIT_FORWARD(x)[9], np.inf)  # max
        np.testing.assert_array_equal(JIT_FORWARD(-x)[10], -np.inf)  # min


@pytest.mark.parametrize(
    "x",
    [np.array(1.5), 1.5, np.float64(1.5)],
    ids=["0-d array", "Python float", "NumPy scalar"],
)
def test_zero_d_inputs(x):
    value, grad = VALUE_AND_GRAD(x)
    assert value == pytest.approx(np.sin(1.5) * 1.5 + 1.5)
    assert grad == pytest.approx(np.sin(1.5) + 1.5 * np.cos(1.5) + 1.0)
    assert np.shape(grad) == ()
    assert isinstance(grad, np.ndarray) == isinstance(x, np.ndarray)


@pytest.mark.parametrize("shape", [(0,), (0, 3), (2, 0)])
def test_empty_arrays(shape):
    f = tg.value_and_grad(lambda x: np.sum(np.sin(x) * x))
    value, grad = f(np.zeros(shape))
    assert value == 0.0 and grad.shape == shape and grad.dtype == np.float64
    out = JIT_FORWARD.__wrapped__  # the plain function: NumPy's own answer for max of empty
    with pytest.raises(ValueError):
        out(np.zeros(shape))
    with pytest.raises(tg.ShapeError, match="zero-size"):
        VALUE_AND_GRAD(np.zeros(shape))


def test_size_one_broadcasting():
    def f(a, b):
        return np.sum(np.tanh(a * b + a))

    pairs = [((1, 3), (4, 1)), ((1,), (5,)), ((1, 1), (2, 3)), ((), (1, 2))]
    rng = np.random.default_rng(0)
    for sa, sb in pairs:
        args = (rng.normal(size=sa), rng.normal(size=sb))
        check_grads(f, args)


def _layouts(base):
    ro = base.copy()
    ro.setflags(write=False)
    return {
        "strided": np.repeat(base, 2)[::2],
        "reversed": base[::-1].copy()[::-1],
        "fortran row": np.asfortranarray(np.stack([base, base]))[0],
        "read-only": ro,
        "big-endian": base.astype(">f8"),
    }


def test_any_layout_gives_the_contiguous_result():
    base = np.array([0.3, -1.2, 2.0, 0.7, -0.1, 1.1])
    want_value, want_grad = VALUE_AND_GRAD(base)
    for name, x in _layouts(base).items():
        before = np.array(x, copy=True)
        flags = (x.flags.writeable, x.flags.c_contiguous, x.dtype)
        value, grad = VALUE_AND_GRAD(x)
        assert value == want_value, name
        np.testing.assert_array_equal(grad, want_grad, err_msg=name)
        assert grad.dtype == np.float64 and grad.flags.writeable, name
        np.testing.assert_array_equal(x, before, err_msg=name)
        assert (x.flags.writeable, x.flags.c_contiguous, x.dtype) == flags, name


def test_fortran_and_strided_matrices():
    f = tg.value_and_grad(lambda w, x: np.sum(np.tanh(x @ w)), argnums=(0, 1))
    rng = np.random.default_rng(1)
    w, x = rng.normal(size=(4, 3)), rng.normal(size=(5, 8))[:, ::2]
    want = f(np.ascontiguousarray(w), np.ascontiguousarray(x))
    got = f(np.asfortranarray(w), x)
    assert got[0] == pytest.approx(want[0], rel=1e-13)
    for g, h in zip(got[1], want[1], strict=True):
        np.testing.assert_allclose(g, h, rtol=1e-13)


def test_big_endian_float32_keeps_float32():
    x = np.array([0.5, 1.0, 2.0], dtype=">f4")
    value, grad = VALUE_AND_GRAD(x)
    assert grad.dtype == np.float32 and value.dtype == np.float32
    check_grads(model, (x,))


def test_integer_arrays_to_grad_are_a_clear_error():
    for x in (np.arange(3), np.arange(3, dtype=np.int32), np.array([True, False]), 3):
        with pytest.raises(tg.DTypeError, match="only defined for float inputs") as info:
            VALUE_AND_GRAD(x)
        assert HERE in str(info.value)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_integer_arrays_to_jit_follow_numpy(dtype):
    """jit does not cast: the program is traced for the integer dtype with NumPy's rules."""
    x = np.array([0, 1, 2, 3]).astype(dtype)
    for k, (got, want) in enumerate(zip(JIT_INT(x), int_forward(x), strict=True)):
        if dtype == np.bool_ and k == 0:  # NumPy: np.sin(bool) is float16; tracegrad: float64
            assert np.asarray(got).dtype == np.float64
            want = np.sin(x.astype(np.float64))
        assert np.asarray(got).dtype == np.asarray(want).dtype
        np.testing.assert_allclose(got, want, rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble])
def test_dtypes_numba_cannot_compile_are_a_clear_error(dtype, monkeypatch):
    monkeypatch.delenv("TRACEGRAD_BACKEND", raising=False)
    with pytest.raises(tg.DTypeError, match="TRACEGRAD_BACKEND=interpret"):
        tg.grad(lambda x: np.sum(x * x))(np.ones(3, dtype))
    monkeypatch.setenv("TRACEGRAD_BACKEND", "interpret")
    assert tg.grad(lambda x: np.sum(x * x))(np.ones(3, dtype)).dtype == dtype


# =============================================================================================
# Programs: size and depth


def chain(x, n):
    for _ in range(n):
        x = np.sin(x) * 0.5 + x * 0.25
    return np.sum(x)


def test_ten_thousand_op_program_traces_interprets_and_generates(monkeypatch):
    """4 ops per step: a 10,000-op forward program (and its adjoint), without Numba."""
    monkeypatch.setenv("TRACEGRAD_BACKEND", "interpret")
    x = np.linspace(-1, 1, 4)
    start = time.perf_counter()
    executable = tg.value_and_grad(lambda v: chain(v, 2500)).lower(x)
    assert len(executable.program.eqns) >= 10_000
    value, grad = eval_program(executable.lowered, [x])
    source = executable.source()
    assert time.perf_counter() - start < 120
    assert source.count("@numba.njit") >= 1
    small = tg.value_and_grad(lambda v: chain(v, 3))(x)
    assert np.isfinite(value) and grad.shape == (4,)
    assert small[1].shape == (4,)
    assert sys.getrecursionlimit() <= 10_000  # no one raised it to get here


def test_thousand_op_program_compiles_in_bounded_time():
    x = np.linspace(-1, 1, 4)
    start = time.perf_counter()
    value, grad = tg.value_and_grad(lambda v: chain(v, 250))(x)
    assert time.perf_counter() - start < 120
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRACEGRAD_BACKEND", "interpret")
        want = tg.value_and_grad(lambda v: chain(v, 250))(x)
    assert value == pytest.approx(want[0], rel=1e-12)
    np.testing.assert_allclose(grad, want[1], rtol=1e-12)


def test_deeply_nested_grad_and_long_call_chains(monkeypatch):
    monkeypatch.setenv("TRACEGRAD_BACKEND", "interpret")
    f = lambda x: np.sum(np.exp(0.5 * x))  # noqa: E731  the n-th derivative is exp(x/2)/2^n
    for _ in range(6):
        f = (lambda h: lambda x: np.sum(tg.grad(h)(x)))(f)
    assert f(np.array([1.0])) == pytest.approx(np.exp(0.5) / 2**6, rel=1e-12)

    def deep(x, n):  # Python recursion in user code is unrolled by tracing, 300 frames deep
        return x if n == 0 else deep(np.sin(x) + 0.1, n - 1)

    assert np.isfinite(tg.grad(lambda x: np.sum(deep(x, 300)))(np.ones(2))).all()


# =============================================================================================
# Threads


def _hammer(calls, n_threads=8):
    """Run ``calls[i % len(calls)]`` in 8 threads released together; return their results."""
    barrier = threading.Barrier(n_threads)
    results, errors = [None] * n_threads, []

    def work(i):
        try:
            barrier.wait()
            results[i] = calls[i % len(calls)]()
        except BaseException as e:  # noqa: BLE001  re-raised in the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    if errors:
        raise errors[0]
    return results


def test_threads_share_one_compile_per_signature():
    scale = 1.234567  # a constant no other test uses: these programs are new to the process
    funcs = [
        tg.value_and_grad(lambda x: np.sum(np.tanh(x * scale) ** 2)),
        tg.value_and_grad(lambda x: np.sum(np.cos(x * scale) * x)),
    ]
    x = np.linspace(-1, 1, 5)
    before = tg.compile_stats()
    results = _hammer([lambda f=f: f(x) for f in funcs])
    after = tg.compile_stats()
    assert after.programs - before.programs == 2  # one per signature, not one per thread
    t = np.tanh(x * scale)
    wants = [
        (np.sum(t**2), 2 * t * (1 - t**2) * scale),
        (np.sum(np.cos(x * scale) * x), np.cos(x * scale) - scale * x * np.sin(x * scale)),
    ]
    for i, (value, grad) in enumerate(results):
        want_value, want_grad = wants[i % 2]
        assert value == pytest.approx(want_value, rel=1e-12)
        np.testing.assert_allclose(grad, want_grad, rtol=1e-12)


def test_threads_calling_compiled_gradients_with_different_data():
    rng = np.random.default_rng(2)
    inputs = [rng.normal(size=6) for _ in range(8)]
    wants = [VALUE_AND_GRAD(x) for x in inputs]
    for _ in range(3):
        results = _hammer([lambda x=x: [VALUE_AND_GRAD(x) for _ in range(50)][-1] for x in inputs])
        for (value, grad), (want_value, want_grad) in zip(results, wants, strict=True):
            assert value == want_value
            np.testing.assert_array_equal(grad, want_grad)


# =============================================================================================
# The disk cache fails: fall back to compiling, warn once, never fail


def _fresh_function():
    """A function whose program no other test compiles (a unique constant)."""
    c = float(np.random.default_rng().uniform(1, 2))
    return tg.value_and_grad(lambda x: np.sum(np.sin(x) * c)), c


def _check(f, c):
    x = np.linspace(0, 1, 3)
    value, grad = f(x)
    assert value == pytest.approx(np.sum(np.sin(x) * c), rel=1e-12)
    np.testing.assert_allclose(grad, np.cos(x) * c, rtol=1e-12)


def test_missing_cache_directory_is_created(tmp_path, monkeypatch):
    target = tmp_path / "does" / "not" / "exist"
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(target))
    _check(*_fresh_function())
    assert list(target.glob("tg_*.py"))


def test_full_disk_warns_once_and_compiles(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path))

    write = disk_cache._write_atomic

    def no_space(path, text):  # only the configured directory is full
        if path.startswith(str(tmp_path)):
            raise OSError(errno.ENOSPC, "No space left on device", path)
        write(path, text)

    monkeypatch.setattr(disk_cache, "_write_atomic", no_space)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _check(*_fresh_function())
        _check(*_fresh_function())
    messages = [str(w.message) for w in caught if "cache directory" in str(w.message)]
    assert len(messages) == 1 and "No space left" in messages[0]
    assert not list(tmp_path.glob("tg_*.py"))


def test_read_only_cache_directory(tmp_path, monkeypatch):
    # Tests run as root, where chmod does not stop writes: simulate what the OS would say.
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path))

    write = disk_cache._write_atomic

    def denied(path, text):
        if path.startswith(str(tmp_path)):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        write(path, text)

    monkeypatch.setattr(disk_cache, "_write_atomic", denied)
    with pytest.warns(RuntimeWarning, match="cannot write to the cache directory"):
        _check(*_fresh_function())


def test_cache_entry_that_is_a_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path))
    f, c = _fresh_function()
    x = np.linspace(0, 1, 3)
    name = disk_cache._module_name(tg.show_source(f)(x))
    (tmp_path / f"{name}.py").mkdir()  # nothing can be read or replaced there
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _check(f, c)


def test_entries_from_another_version_are_not_used(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path))
    f, c = _fresh_function()
    _check(f, c)
    (old,) = tmp_path.glob("tg_*.py")
    versions = disk_cache._versions()
    monkeypatch.setattr(disk_cache, "_versions", lambda: versions.replace("tracegrad", "tg-old"))
    monkeypatch.setattr(compiler, "_memory", {})
    before = tg.compile_stats()
    _check(tg.value_and_grad(f.__wrapped__), c)  # the same program, a new process's view
    assert tg.compile_stats().programs == before.programs + 1
    assert len(list(tmp_path.glob("tg_*.py"))) == 2 and old.exists()


# =============================================================================================
# Inputs are never mutated, outputs never alias


def _snapshot(tree):
    return [(np.array(x, copy=True), x.flags.writeable) for x in tg.tree.tree_leaves(tree)]


def test_gradient_calls_do_not_mutate_inputs_and_outputs_do_not_alias():
    def loss(p, x):
        h = np.tanh(x @ p["w"] + p["b"])
        return np.sum(h * h) + np.sum(p["unused"] * 0.0)

    rng = np.random.default_rng(3)
    p = {"w": rng.normal(size=(3, 2)), "b": rng.normal(size=2), "unused": np.ones(2)}
    p["b"].setflags(write=False)
    x = np.asfortranarray(rng.normal(size=(4, 3)))
    before = _snapshot((p, x))
    f = tg.value_and_grad(loss, argnums=(0, 1))
    value, grads = f(p, x)
    value2, grads2 = f(p, x)
    after = _snapshot((p, x))
    for (a, fa), (b, fb) in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
        assert fa == fb
    outs = tg.tree.tree_leaves(grads) + tg.tree.tree_leaves(grads2)
    for i, a in enumerate(outs):
        assert a.flags.writeable
        for b in outs[i + 1 :] + tg.tree.tree_leaves((p, x)):
            assert not np.shares_memory(a, b)


def test_jit_outputs_that_are_inputs_are_copies():
    f = tg.jit(lambda x: (x, x, x.T, x[::2], x.reshape(-1)))
    x = np.arange(6.0).reshape(2, 3)
    outs = f(x)
    for i, a in enumerate(outs):
        assert not np.shares_memory(a, x)
        for b in outs[i + 1 :]:
            assert not np.shares_memory(a, b)


def test_interpreter_outputs_do_not_alias(monkeypatch):
    monkeypatch.setenv("TRACEGRAD_BACKEND", "interpret")
    x = np.ones(3)
    outs = tg.jit(lambda v: (v, v * 2, v, v.reshape(3, 1), np.sin(v), np.ones(2)))(x)
    grads = [tg.grad(lambda a, b: np.sum(a), argnums=(0, 1))(x, x) for _ in range(2)]
    arrays = [*outs, *grads[0], *grads[1]]
    for i, a in enumerate(arrays):
        assert a.flags.writeable and not np.shares_memory(a, x)
        for b in arrays[i + 1 :]:
            assert not np.shares_memory(a, b)


# =============================================================================================
# Errors: tracegrad's own types, naming this file and line


def _bad_calls():
    x = np.arange(3.0)
    yield "grad of non-scalar", lambda: tg.grad(lambda v: v * 2)(x)
    yield "grad wrt int", lambda: tg.grad(lambda v: np.sum(v * 1.0))(np.arange(3))
    yield "grad wrt str", lambda: tg.grad(lambda v: 1.0)("a")
    yield "complex input", lambda: tg.grad(lambda v: np.sum(v))(np.ones(2, complex))
    yield "object input", lambda: tg.jit(lambda v: v)(np.ones(2, object))
    yield "datetime input", lambda: tg.jit(lambda v: v)(np.array(["2020"], "datetime64[D]"))
    yield "unhashable leaf", lambda: tg.jit(lambda v, s: v)(x, {1, 2})
    yield "argnums out of range", lambda: tg.grad(lambda v: np.sum(v), argnums=3)(x)
    yield "no arguments", lambda: tg.grad(lambda: 1.0)()
    yield "has_aux not a pair", lambda: tg.grad(lambda v: np.sum(v), has_aux=True)(x)
    yield "broadcast", lambda: tg.grad(lambda v: np.sum(v + np.ones(4)))(x)
    yield "matmul", lambda: tg.grad(lambda v: np.sum(v @ np.ones((4, 2))))(x)
    yield "reshape", lambda: tg.grad(lambda v: np.sum(v.reshape(2, 2)))(x)
    yield "axis", lambda: tg.grad(lambda v: np.sum(v, axis=2))(x)
    yield "too many indices", lambda: tg.grad(lambda v: v[0, 0])(x)
    yield "boolean mask", lambda: tg.grad(lambda v: np.sum(v[v > 1]))(x)
    yield "if on tracer", lambda: tg.grad(lambda v: v[0] if v[0] > 0 else -v[0])(x)
    yield "float()", lambda: tg.grad(lambda v: float(np.sum(v)))(x)
    yield "np.asarray into float", lambda: tg.grad(lambda v: np.sum(np.asarray(v, dtype=int)))(x)
    yield "unsupported function", lambda: tg.grad(lambda v: np.sum(np.roots(v)))(x)
    yield "out=", lambda: tg.grad(lambda v: np.sum(np.sin(v, out=np.empty(3))))(x)
    yield "ufunc.accumulate", lambda: tg.grad(lambda v: np.add.accumulate(v)[-1])(x)
    yield "int ** negative", lambda: tg.jit(lambda v: v**-1)(np.arange(1, 3))
    yield "vjp cotangent shape", lambda: tg.vjp(lambda v: v * 2, x)[1](np.ones(4))
    yield "jvp tangent shape", lambda: tg.jvp(lambda v: v * 2, (x,), (np.ones(4),))
    yield "jacobian wrt int", lambda: tg.jacobian(lambda v: v * 2)(np.arange(3))
    yield "float16 compiled", lambda: tg.jit(lambda v: v * 2)(np.ones(2, np.float16))

    leaked = []
    tg.grad(lambda v: (leaked.append(v), np.sum(v))[1])(x)
    yield "leaked tracer", lambda: leaked[0] + 1


def test_bad_inputs_raise_tracegrad_errors_naming_the_user_line(monkeypatch):
    monkeypatch.setenv("TRACEGRAD_BACKEND", "interpret")
    failures = []
    for label, call in _bad_calls():
        if label == "float16 compiled":
            monkeypatch.delenv("TRACEGRAD_BACKEND")
        try:
            call()
        except tg.TracegradError as e:
            if f"{HERE}:" not in str(e):
                failures.append(f"{label}: no {HERE}:LINE in {str(e)!r}")
        except Exception as e:  # noqa: BLE001  collected and reported below
            failures.append(f"{label}: {type(e).__name__}: {e}")
        else:
            failures.append(f"{label}: no error")
    assert not failures, "\n".join(failures)
