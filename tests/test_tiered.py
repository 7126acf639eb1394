"""Tiered execution: the interpreter answers at once, a background compile takes over.

The session runs with TRACEGRAD_COMPILE=sync (conftest); these tests opt into the background
policy.  They share one tiny program (``loss``) so that the module costs one Numba compile,
plus one for the backward sweep of the transforms test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import tracegrad as tg
from tracegrad import config

ROOT = Path(__file__).resolve().parents[1]


def loss(w):
    return np.sum(np.sin(w) * w)


W = np.linspace(-1.0, 1.0, 5)


@pytest.fixture
def background(monkeypatch):
    monkeypatch.setenv("TRACEGRAD_COMPILE", "background")
    yield
    tg.block_until_compiled()  # leave no compile running into the next test


def reference(f, *args):
    return tg.value_and_grad(f, compile="never")(*args)


def test_first_call_interprets_then_the_compiled_kernel_takes_over(background):
    vg = tg.value_and_grad(loss)
    before = tg.compile_stats()
    value, g = vg(W)
    expected_value, expected_g = reference(loss, W)
    assert value == expected_value and np.array_equal(g, expected_g)  # the interpreter's
    tier = vg.lower(W).tier
    assert tier is not None and not tier.started  # one call: nothing compiling yet
    assert tg.block_until_compiled(vg) is vg
    after = tg.compile_stats()
    assert after.programs + after.memory_hits == before.programs + before.memory_hits + 1
    calls = tier.calls
    value2, g2 = vg(W)
    vg(W)
    assert tier.calls == calls  # the cached entry no longer goes through the interpreter
    np.testing.assert_allclose(value2, expected_value, rtol=1e-12)
    np.testing.assert_allclose(g2, expected_g, rtol=1e-12, atol=1e-15)


def test_second_call_starts_the_compile(background):
    f = tg.jit(loss)
    f(W)
    tier = f.lower(W).tier
    assert not tier.started
    f(W)
    assert tier.started
    tg.block_until_compiled(f)
    np.testing.assert_allclose(f(W), tg.jit(loss, compile="never")(W), rtol=1e-12)


def test_user_threads_racing_a_background_compile(background):
    vg = tg.value_and_grad(loss)
    expected_value, expected_g = reference(loss, W)
    results, errors = [], []

    def work() -> None:
        try:
            for _ in range(20):
                results.append(vg(W))
        except Exception as e:  # reported below: a thread's exception is otherwise lost
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and len(results) == 80
    tg.block_until_compiled(vg, timeout=120)
    results.append(vg(W))
    for value, g in results:
        np.testing.assert_allclose(value, expected_value, rtol=1e-12)
        np.testing.assert_allclose(g, expected_g, rtol=1e-12, atol=1e-15)


def test_policies(monkeypatch):
    monkeypatch.setenv("TRACEGRAD_COMPILE", "never")
    assert config.read().compile == "never"
    f = tg.grad(loss)
    f(W)
    f(W)
    assert f.lower(W).tier is None
    assert tg.grad(loss, compile="sync").lower(W).compile == "sync"
    with pytest.raises(ValueError, match="compile"):
        tg.jit(loss, compile="later")
    monkeypatch.setenv("TRACEGRAD_COMPILE", "eventually")
    with pytest.raises(ValueError, match="TRACEGRAD_COMPILE"):
        config.read()
    monkeypatch.delenv("TRACEGRAD_COMPILE")
    assert config.read().compile == "background"
    with pytest.raises(TypeError, match="block_until_compiled"):
        tg.block_until_compiled(loss)


def test_a_failing_compile_warns_once_and_keeps_interpreting(background, monkeypatch):
    from tracegrad.backend import compiler

    attempts = []

    def broken(program, settings=None):
        attempts.append(program)
        raise RuntimeError("injected failure")

    monkeypatch.setattr(compiler, "compile_program", broken)

    def other(w):  # a program no other test compiles: its failure is remembered
        return np.sum(np.cos(w) * w)

    vg = tg.value_and_grad(other)
    expected_value, expected_g = reference(other, W)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(5):
            value, g = vg(W)
            np.testing.assert_allclose(value, expected_value, rtol=1e-12)
            np.testing.assert_allclose(g, expected_g, rtol=1e-12)
        tg.block_until_compiled(vg)
        for _ in range(5):
            vg(W)
        again = tg.value_and_grad(other)  # a new function of the same program: not retried
        again(W)
        again(W)
        tg.block_until_compiled(again)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1, messages
    assert "other) for (f64[5])" in messages[0] and "injected failure" in messages[0]
    assert len(attempts) == 1


def test_grad_of_grad_and_transforms_under_background(background):
    def outer(w):
        return np.sum(tg.grad(loss)(w) ** 2)

    g2 = tg.grad(outer)
    expected = tg.grad(outer, compile="never")(W)
    np.testing.assert_allclose(g2(W), expected, rtol=1e-12)
    w3 = W[:3]
    h = tg.hessian(loss)(w3)  # three backward sweeps: the second starts a compile
    tg.block_until_compiled()
    np.testing.assert_allclose(tg.hessian(loss)(w3), h, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(h, np.diag(2 * np.cos(w3) - w3 * np.sin(w3)), atol=1e-12)
    np.testing.assert_allclose(tg.hessian(loss, compile="never")(w3), h, rtol=1e-12, atol=1e-15)
    forward = tg.jacfwd(tg.grad(loss, compile="never"), compile="never")(w3)
    np.testing.assert_allclose(forward, h, rtol=1e-12, atol=1e-15)


EXIT_SCRIPT = r"""
import sys, time
import numpy as np
import tracegrad as tg
from tracegrad.backend import tiers

def loss(w):
    return np.sum(np.sin(w) * w)

vg = tg.value_and_grad(loss)
w = np.linspace(-1.0, 1.0, 5)
value, g = vg(w)
print("numba after first call:", "numba" in sys.modules)
vg(w)  # starts the background compile
print("pending at exit:", len(tiers.pending()))
print("value:", repr(float(value)))
"""


def test_exit_with_a_pending_compile_is_prompt_and_leaves_a_consistent_cache(tmp_path):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TRACEGRAD_")}
    environ.update({"TRACEGRAD_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)})
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT], env=environ, capture_output=True, text=True, timeout=60
    )
    elapsed = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    assert "numba after first call: False" in done.stdout
    assert "pending at exit: 1" in done.stdout
    assert elapsed < 30, elapsed
    from tracegrad.backend.disk_cache import _is_whole

    for path in tmp_path.glob("tg_*.py"):  # whatever was written is whole
        assert _is_whole(path.read_text())
    # The next process either loads what the first one finished or compiles.
    environ["TRACEGRAD_COMPILE"] = "sync"
    script = EXIT_SCRIPT + "s = tg.compile_stats(); print('built:', s.compiles + s.disk_hits)\n"
    second = subprocess.run(
        [sys.executable, "-c", script], env=environ, capture_output=True, text=True, timeout=300
    )
    assert second.returncode == 0, second.stderr
    assert "built: 0" not in second.stdout
    value = [line for line in done.stdout.splitlines() if line.startswith("value:")]
    value2 = [line for line in second.stdout.splitlines() if line.startswith("value:")]
    np.testing.assert_allclose(float(value[0].split()[1]), float(value2[0].split()[1]), rtol=1e-12)
