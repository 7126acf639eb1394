"""The seed's models against finite differences, and higher derivatives against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from seed_models import autoencoder_loss, exp_chain, perceptron_loss, rosenbrock

import tracegrad as tg
from tracegrad.testing import check_grads, numerical_grad

pytestmark = pytest.mark.usefixtures("interpret_backend")

SEEDS = [0, 1, 2]
DTYPES = [np.float64, np.float32]


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def relu(z):
    return np.maximum(z, 0.0)


# =============================================================================================
# Models


def mlp_loss(params, X, Y, activation):
    h = activation(X @ params["W1"] + params["b1"])
    out = sigmoid(h @ params["W2"] + params["b2"])
    return np.mean((out - Y) ** 2)


def mlp_params(rng, n_in, n_hidden, n_out, dtype):
    return {
        "W1": (rng.normal(size=(n_in, n_hidden)) / math.sqrt(n_in)).astype(dtype),
        "b1": (0.1 * rng.normal(size=n_hidden)).astype(dtype),
        "W2": (rng.normal(size=(n_hidden, n_out)) / math.sqrt(n_hidden)).astype(dtype),
        "b2": (0.1 * rng.normal(size=n_out)).astype(dtype),
    }


# =============================================================================================
# Gradients against finite differences


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_logistic_perceptron(seed, dtype):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(20, 3)).astype(dtype)
    y = np.where(rng.uniform(size=20) > 0.5, 1.0, -1.0).astype(dtype)
    w, b = rng.normal(size=3).astype(dtype), float(rng.normal())
    check_grads(perceptron_loss, (w, b, X, y), order=2, argnums=(0, 1))
    check_grads(perceptron_loss, (w, b, X, y), argnums=2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", [sigmoid, np.tanh, relu], ids=["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("seed", SEEDS)
def test_two_layer_mlp(seed, activation, dtype):
    rng = np.random.default_rng(seed)
    params = mlp_params(rng, 4, 6, 2, dtype)
    X = rng.normal(size=(8, 4)).astype(dtype)
    Y = rng.uniform(size=(8, 2)).astype(dtype)
    if activation is relu:  # keep finite differences away from the kink at 0
        pre = X.astype(float) @ params["W1"] + params["b1"]
        assert np.min(np.abs(pre)) > 1e-3, "pick another seed: a pre-activation is near 0"
    order = 1 if activation is relu else 2

    def loss(params, X, Y):
        return mlp_loss(params, X, Y, activation)

    check_grads(loss, (params, X, Y), order=order, argnums=0)
    check_grads(loss, (params, X, Y), argnums=1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_autoencoder(seed, dtype):
    rng = np.random.default_rng(seed)
    params = {
        "enc": (0.5 * rng.normal(size=(5, 2))).astype(dtype),
        "b_enc": np.zeros(2, dtype),
        "dec": (0.5 * rng.normal(size=(2, 5))).astype(dtype),
        "b_dec": (0.1 * rng.normal(size=5)).astype(dtype),
    }
    X = rng.normal(size=(6, 5)).astype(dtype)
    check_grads(autoencoder_loss, (params, X), order=2, argnums=0)


@pytest.mark.parametrize("seed", SEEDS)
def test_rosenbrock(seed):
    x = np.random.default_rng(seed).uniform(-1.5, 1.5, size=5)
    check_grads(rosenbrock, (x,), order=2)
    # The minimum at (1, ..., 1): gradient exactly zero.
    np.testing.assert_array_equal(tg.grad(rosenbrock)(np.ones(4)), np.zeros(4))


def test_rosenbrock_closed_form():
    x = np.array([-1.2, 1.0])
    expected = np.array(
        [-400 * x[0] * (x[1] - x[0] ** 2) - 2 * (1 - x[0]), 200 * (x[1] - x[0] ** 2)]
    )
    np.testing.assert_allclose(tg.grad(rosenbrock)(x), expected, rtol=1e-13)


def test_exp_chain():
    """exp(exp(exp(exp(exp(x))))) at x = -3: the derivative is the product of the chain."""
    x = -3.0
    e1 = math.exp(x)
    e2 = math.exp(e1)
    e3 = math.exp(e2)
    e4 = math.exp(e3)
    e5 = math.exp(e4)
    value, g = tg.value_and_grad(exp_chain)(x)
    assert value == pytest.approx(e5, rel=1e-13)
    assert g == pytest.approx(e5 * e4 * e3 * e2 * e1, rel=1e-12)
    check_grads(exp_chain, (x,), order=2)
    assert float(numerical_grad(exp_chain, (x,))) == pytest.approx(g, rel=1e-6)


def test_exp_chain_array():
    x = np.array([-3.0, -2.5, -4.0])
    check_grads(lambda x: np.sum(exp_chain(x)), (x,), order=2)


# =============================================================================================
# Higher derivatives of scalar functions against closed forms


def test_second_derivative_sin_x_cubed():
    x = 0.7
    d2 = tg.grad(tg.grad(lambda x: np.sin(x) * x**3))(x)
    expected = -math.sin(x) * x**3 + 6 * math.cos(x) * x**2 + 6 * math.sin(x) * x
    assert d2 == pytest.approx(expected, rel=1e-13)


def test_third_derivative_sin_x_cubed():
    x = 0.7
    d3 = tg.grad(tg.grad(tg.grad(lambda x: np.sin(x) * x**3)))(x)
    s, c = math.sin(x), math.cos(x)
    expected = -c * x**3 - 9 * s * x**2 + 18 * c * x + 6 * s
    assert d3 == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "f, derivatives",
    [
        (np.exp, lambda x: [math.exp(x)] * 3),
        (np.sin, lambda x: [math.cos(x), -math.sin(x), -math.cos(x)]),
        (np.tanh, lambda x: _tanh_derivatives(x)),
        (np.log, lambda x: [1 / x, -1 / x**2, 2 / x**3]),
        (lambda x: x**5, lambda x: [5 * x**4, 20 * x**3, 60 * x**2]),
        (lambda x: 1.0 / (1.0 + x * x), lambda x: _lorentz_derivatives(x)),
        (np.sqrt, lambda x: [0.5 * x**-0.5, -0.25 * x**-1.5, 0.375 * x**-2.5]),
        (lambda x: x**x, lambda x: _x_to_x_derivatives(x)),
    ],
    ids=["exp", "sin", "tanh", "log", "x^5", "1/(1+x^2)", "sqrt", "x^x"],
)
@pytest.mark.parametrize("x", [0.3, 1.7])
def test_grad_grad_grad_closed_forms(f, derivatives, x):
    d1 = tg.grad(f)
    d2 = tg.grad(d1)
    d3 = tg.grad(d2)
    expected = derivatives(x)
    for got, want in zip([d1(x), d2(x), d3(x)], expected, strict=True):
        assert got == pytest.approx(want, rel=1e-11)


def _tanh_derivatives(x):
    t = math.tanh(x)
    return [1 - t * t, -2 * t * (1 - t * t), (1 - t * t) * (6 * t * t - 2)]


def _lorentz_derivatives(x):
    d = 1 + x * x
    return [-2 * x / d**2, (6 * x * x - 2) / d**3, 24 * x * (1 - x * x) / d**4]


def _x_to_x_derivatives(x):
    f, lg = x**x, math.log(x) + 1
    return [f * lg, f * (lg**2 + 1 / x), f * (lg**3 + 3 * lg / x - 1 / x**2)]


def test_grad_of_grad_of_vector_function():
    """d/dx of (grad of sum(x**3 * y)) . v = 6 x y v, componentwise."""
    x, y, v = np.array([0.5, -1.0, 2.0]), np.array([1.0, 2.0, -0.5]), np.array([0.3, 0.1, 1.0])
    g = tg.grad(lambda x: np.sum(tg.grad(lambda x: np.sum(x**3 * y))(x) * v))(x)
    np.testing.assert_allclose(g, 6 * x * y * v, rtol=1e-13)


def test_grad_of_grad_mixed_arguments():
    """d/dy of d/dx (x**2 * y**3) = 6 x y**2."""

    def dfdx(x, y):
        return tg.grad(lambda x, y: x**2 * y**3)(x, y)

    assert tg.grad(dfdx, argnums=1)(0.5, 1.5) == pytest.approx(6 * 0.5 * 1.5**2, rel=1e-13)


def test_mlp_hessian_vector_product():
    """order=3 on a smooth model: third derivatives through matmul, tanh and the sigmoid."""
    rng = np.random.default_rng(3)
    params = mlp_params(rng, 3, 4, 1, np.float64)
    X, Y = rng.normal(size=(5, 3)), rng.uniform(size=(5, 1))
    check_grads(lambda p: mlp_loss(p, X, Y, np.tanh), (params,), order=3)
