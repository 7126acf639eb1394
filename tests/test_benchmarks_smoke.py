"""The benchmarks' hand-written baselines still compute what tracegrad computes.

Benchmarks are not tests, but a baseline that silently drifts from the loss it claims to
differentiate makes every ratio in docs/performance.md meaningless. At small sizes, on the
reference interpreter (no compiles), each workload's hand-written NumPy (and Numba, where
there is one) value and gradient must match tracegrad's.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

import tracegrad as tg

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import workloads as W  # noqa: E402
from timing import format_seconds, interleaved  # noqa: E402


@pytest.fixture(autouse=True)
def interpret(monkeypatch):
    monkeypatch.setenv("TRACEGRAD_BACKEND", "interpret")


@pytest.mark.parametrize("w", W.WORKLOADS, ids=lambda w: w.name)
def test_baselines_match_tracegrad(w):
    args = w.make_args(True)
    want = tg.value_and_grad(w.loss(np))(*args)
    rtol = 1e-5 if w.rtol < 1e-5 else w.rtol

    got = w.numpy_vg(*args)
    assert W.check_value_and_grad(got, want, rtol) is None
    assert W.max_rel_error(w.numpy_fwd(*args), want[0]) <= rtol
    assert [np.shape(g) for g in W.flat(got[1])] == [np.shape(g) for g in W.flat(want[1])]
    if np.dtype(w.dtype) == np.float32:
        assert all(g.dtype == np.float32 for g in W.flat(got[1]))

    if w.numba:
        from numba_kernels import KERNELS

        assert W.check_value_and_grad(KERNELS[w.numba](*args), want, rtol) is None


def test_rosenbrock_loop_follows_tracegrad():
    w = W.BY_NAME["rosenbrock"]
    (p0,) = w.make_args(True)
    ours = W.momentum_loop(tg.value_and_grad(w.loss(np)), p0, 20)
    hand = W.momentum_loop(w.numpy_vg, p0, 20)
    np.testing.assert_allclose(ours[1], hand[1], rtol=1e-10)
    assert ours[0] < w.numpy_fwd(p0)  # the loop descends
    fn, fn_args = w.timed_call(w.numpy_fwd, (p0,), forward=True)
    assert np.isfinite(fn(*fn_args)[0])


def test_max_rel_error_sees_a_wrong_leaf():
    tree = {"a": np.ones(3), "b": [np.zeros(2), 2.0]}
    assert W.max_rel_error(tree, tree) == 0.0
    assert W.max_rel_error({"a": np.ones(3), "b": [np.zeros(2), 2.1]}, tree) > 1e-2
    assert W.max_rel_error({"a": np.ones(4), "b": [np.zeros(2), 2.0]}, tree) == float("inf")


def test_interleaved_timing_reports_every_competitor():
    result = interleaved({"a": (abs, (-1,)), "b": (max, (1, 2))}, rounds=3, target_s=1e-4)
    assert set(result) == {"a", "b"}
    assert all(len(t.samples) == 3 and t.median > 0 for t in result.values())
    assert format_seconds(3.07e-6) == "3.07 us" and format_seconds(0.5) == "500 ms"
