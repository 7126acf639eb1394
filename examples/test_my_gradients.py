"""Property-based tests of gradients: copy this file next to your own tests and adapt it.

Run it with ``pytest examples/test_my_gradients.py``. Each test draws inputs with the
strategies of ``tracegrad.testing.strategies`` and compares ``tracegrad.grad`` with central
finite differences (``check_grads``), so a wrong gradient fails with the argument, the
expected and actual directional derivatives, and the direction.

Every new input shape compiles a new program (0.3-4 s with the Numba backend): draw shapes
sparingly, or run property tests with ``TRACEGRAD_BACKEND=interpret`` (the reference
interpreter computes the same gradients with NumPy, without compiling).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import tracegrad as tg
from tracegrad.testing import check_grads, numerical_jacobian
from tracegrad.testing import strategies as tgs

# =============================================================================================
# The functions under test


def softplus_loss(x):
    return np.sum(np.logaddexp(0.0, x))


def leaky_square(x):
    """Has a kink at 0: finite differences across it are wrong, so inputs avoid it."""
    return np.sum(np.where(x > 0, x, 0.1 * x) ** 2)


def gated(a, b):
    return np.sum(np.tanh(a * b) + a / (1.0 + b * b))


def mlp_loss(params, X, y):
    h = X
    for layer in params[:-1]:
        h = np.tanh(h @ layer["W"] + layer["b"])
    out = h @ params[-1]["W"] + params[-1]["b"]
    return np.mean((out[:, 0] - y) ** 2)


def normalize(x):
    return x / np.sqrt(np.sum(x * x) + 1.0)


# =============================================================================================
# The tests


@settings(max_examples=10, deadline=None)
@given(tgs.arguments(None))  # one argument of a random (small) shape
def test_softplus_to_second_order(args):
    check_grads(softplus_loss, args, order=2)


@settings(max_examples=10, deadline=None)
@given(tgs.arguments((5,), avoid=[0.0], margin=0.05))
def test_leaky_square_away_from_its_kink(args):
    check_grads(leaky_square, args)


@settings(max_examples=10, deadline=None)
@given(tgs.broadcastable_shapes(max_dims=2).flatmap(lambda pair: tgs.arguments(*pair)))
def test_broadcasting_arguments(args):
    check_grads(gated, args)


@settings(max_examples=5, deadline=None)
@given(
    params=tgs.mlp_params([3, 4, 1]),
    X=tgs.arrays((6, 3)),
    y=tgs.arrays((6,), min_value=-1.0, max_value=1.0),
)
def test_mlp_loss_gradient_wrt_parameters(params, X, y):
    check_grads(mlp_loss, (params, X, y), argnums=0)


@settings(max_examples=5, deadline=None)
@given(tgs.arguments((4,), dtype=np.float32))
def test_float32_gradient(args):
    check_grads(softplus_loss, args)  # float32 tolerances are chosen automatically


@settings(max_examples=5, deadline=None)
@given(tgs.arguments((3,), dtype=st.sampled_from([np.float64])))
def test_jacobian_of_a_vector_function(args):
    got = tg.jacobian(normalize)(*args)
    np.testing.assert_allclose(got, numerical_jacobian(normalize, args), rtol=1e-5, atol=1e-8)


# A whole test in one line: pytest collects it like any test_* function.
test_gated_property = tgs.check_gradient_property(gated, [(2, 3), (3,)], max_examples=5)
