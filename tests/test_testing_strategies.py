"""tracegrad.testing: numerical_jacobian, the Hypothesis strategies, and the example file
users copy (examples/test_my_gradients.py, outside pytest's testpaths, run from here)."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracegrad as tg
from tracegrad.testing import check_grads, numerical_jacobian
from tracegrad.testing import strategies as tgs

pytestmark = pytest.mark.usefixtures("interpret_backend")

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "test_my_gradients.py"


# =============================================================================================
# numerical_jacobian


def test_numerical_jacobian_matches_jacobian_layout_and_values():
    def f(x, y):
        return np.sin(x)[:, None] * y

    x, y = np.array([0.3, -1.2, 2.0]), np.array([1.5, -0.5], dtype=np.float32)
    got = numerical_jacobian(f, (x, y), argnums=(0, 1))
    want = tg.jacobian(f, argnums=(0, 1))(x, y)
    assert [g.shape for g in got] == [(3, 2, 3), (3, 2, 2)]
    np.testing.assert_allclose(got[0], want[0], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-4, atol=1e-6)


def test_numerical_jacobian_of_pytrees_and_scalars():
    def f(p):
        return {"double": p["w"] * 2.0, "total": np.sum(p["w"] ** 2)}

    p = {"w": np.array([1.0, -3.0])}
    got = numerical_jacobian(f, (p,))
    want = tg.jacobian(f)(p)
    np.testing.assert_allclose(got["double"]["w"], want["double"]["w"], atol=1e-8)
    np.testing.assert_allclose(got["total"]["w"], [2.0, -6.0], rtol=1e-7)
    assert float(numerical_jacobian(lambda s: s**3, (2.0,))) == pytest.approx(12.0, rel=1e-7)


# =============================================================================================
# Strategies


@settings(max_examples=40)
@given(tgs.arrays(None, tgs.float_dtypes(), avoid=[0.0, 1.0], margin=0.2))
def test_arrays_are_finite_in_range_and_avoid_kinks(a):
    assert a.dtype in (np.float32, np.float64) and a.ndim <= 3
    assert np.all(np.isfinite(a)) and np.all(np.abs(a) <= 2.0)
    assert not np.any(np.abs(a) < 0.199) and not np.any(np.abs(a - 1.0) < 0.199)


@settings(max_examples=30)
@given(tgs.broadcastable_shapes())
def test_broadcastable_shapes_broadcast(pair):
    a, b = pair
    np.broadcast_shapes(a, b)  # raises if they do not


@settings(max_examples=10)
@given(tgs.mlp_params(dtype=np.float32))
def test_mlp_params_chain(params):
    assert 1 <= len(params) <= 3
    for layer, after in zip(params, params[1:], strict=False):
        assert layer["W"].shape[1] == after["W"].shape[0]
    for layer in params:
        assert layer["b"].shape == (layer["W"].shape[1],)
        assert layer["W"].dtype == layer["b"].dtype == np.float32


@settings(max_examples=10)
@given(tgs.arguments((2, 3), None, dtype=tgs.float_dtypes()))
def test_arguments_share_one_dtype(args):
    assert args[0].shape == (2, 3) and args[0].dtype == args[1].dtype


def test_check_gradient_property_passes_and_catches_a_wrong_gradient():
    good = tgs.check_gradient_property(lambda x: np.sum(np.tanh(x) ** 2), [(3,)], max_examples=5)
    assert good.__name__.startswith("test_gradient_of_")
    good()

    @tg.custom_vjp
    def bad(x):
        return np.sum(x * x)

    bad.defvjp(lambda x: (np.sum(x * x), (x,)), lambda res, ct: (ct * res[0],))  # not 2 x
    with pytest.raises(AssertionError, match="disagrees with central differences"):
        tgs.check_gradient_property(bad, [(3,)], avoid=[0.0], max_examples=5)()


# =============================================================================================
# The example users copy: pytest does not collect examples/, so its tests run here.


def _example_tests():
    spec = importlib.util.spec_from_file_location("example_test_my_gradients", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {n: f for n, f in inspect.getmembers(module, callable) if n.startswith("test_")}


def test_example_is_outside_the_default_testpaths():
    pyproject = (EXAMPLE.parent.parent / "pyproject.toml").read_text()
    assert 'testpaths = ["tests"]' in pyproject


def test_example_gradient_tests_pass():
    tests = _example_tests()
    assert len(tests) >= 6
    for test in tests.values():
        test()


@settings(max_examples=5)
@given(st.data())
def test_strategies_feed_check_grads_at_second_order(data):
    (x,) = data.draw(tgs.arguments((4,), avoid=[0.0]))
    check_grads(lambda v: np.sum(np.abs(v) * np.sin(v)), (x,), order=2)
