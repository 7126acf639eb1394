"""tracegrad.nn, tracegrad.optim and tracegrad.data against hand-computed references."""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
import pytest

import tracegrad as tg
from tracegrad import nn, optim
from tracegrad.data import EarlyStopping, batches, num_batches
from tracegrad.testing import check_grads

# =============================================================================================
# Losses and activations against naive references


def _naive_log_softmax(z: np.ndarray) -> np.ndarray:
    return np.log(np.exp(z) / np.sum(np.exp(z), axis=-1, keepdims=True))


@pytest.mark.parametrize("seed", range(3))
def test_losses_match_naive_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(6, 4)) * 3
    labels = rng.integers(0, 4, size=6)
    y01 = rng.integers(0, 2, size=(6, 4)).astype(float)
    np.testing.assert_allclose(nn.log_softmax(z), _naive_log_softmax(z), rtol=1e-12)
    np.testing.assert_allclose(nn.softmax(z), np.exp(_naive_log_softmax(z)), rtol=1e-12)
    expected_ce = -np.mean(_naive_log_softmax(z)[np.arange(6), labels])
    np.testing.assert_allclose(nn.softmax_cross_entropy(z, labels), expected_ce, rtol=1e-12)
    np.testing.assert_allclose(
        nn.softmax_cross_entropy(z, nn.one_hot(labels, 4)), expected_ce, rtol=1e-12
    )
    s = 1 / (1 + np.exp(-z))
    expected_bce = -np.mean(y01 * np.log(s) + (1 - y01) * np.log(1 - s))
    np.testing.assert_allclose(nn.binary_cross_entropy(z, y01), expected_bce, rtol=1e-12)
    np.testing.assert_allclose(nn.sigmoid(z), s, rtol=1e-12)
    np.testing.assert_allclose(nn.mse(z, y01), np.mean((z - y01) ** 2))
    np.testing.assert_allclose(nn.relu(z), np.maximum(z, 0))
    np.testing.assert_allclose(nn.logsumexp(z, axis=0), np.log(np.sum(np.exp(z), axis=0)))


def test_losses_stable_for_large_logits() -> None:
    z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]])
    labels = np.array([1, 2])
    y01 = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    for f, target in [(nn.softmax_cross_entropy, labels), (nn.binary_cross_entropy, y01)]:
        value, g = tg.value_and_grad(f)(z, target)
        assert np.isfinite(value) and np.all(np.isfinite(g)), f.__name__
        assert np.isfinite(f(z, target))
    # Row 0: label 1 is 2000 below the top logit. Row 1: label 2 is 1 below the top logit.
    row1 = 1.0 + np.log1p(np.exp(-1.0))
    np.testing.assert_allclose(nn.softmax_cross_entropy(z, labels), (2000.0 + row1) / 2, rtol=1e-12)
    for f in (nn.softmax, nn.log_softmax, nn.sigmoid):
        assert np.all(np.isfinite(f(z))), f.__name__
        assert np.all(np.isfinite(tg.grad(lambda x, f=f: np.sum(f(x) * 0.3))(z))), f.__name__
    np.testing.assert_allclose(nn.sigmoid(np.array([-1000.0, 1000.0])), [0.0, 1.0])


def _stable_sigmoid(x: np.ndarray) -> np.ndarray:
    """A reference in float64: exp of -|x| only, so it never overflows."""
    e = np.exp(-np.abs(x.astype(np.float64)))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("run", ["interpret", "jit"])
def test_sigmoid_and_its_derivative_for_any_x(dtype, run: str) -> None:
    """Values and derivatives on [-800, 800]: no overflow, no NaN, exact where it is 0.25,
    and within a few ulp of the reference wherever the result is a normal number."""
    x = np.concatenate([np.linspace(-800, 800, 4001), [0.0, -np.inf, np.inf]]).astype(dtype)
    value = nn.sigmoid if run == "interpret" else tg.jit(nn.sigmoid)
    grad = tg.grad(lambda z: np.sum(nn.sigmoid(z)))
    grad = grad if run == "interpret" else tg.jit(grad)
    s, ds = np.asarray(value(x)), grad(x)
    assert s.dtype == ds.dtype == dtype
    expected_s = _stable_sigmoid(x)
    expected_ds = expected_s * _stable_sigmoid(-x)
    tiny, rtol = np.finfo(dtype).tiny, 8 * np.finfo(dtype).eps
    np.testing.assert_allclose(s, expected_s, rtol=rtol, atol=tiny)
    np.testing.assert_allclose(ds, expected_ds, rtol=rtol, atol=tiny)
    assert set(ds[x == 0].tolist()) == {0.25} and set(s[x == 0].tolist()) == {0.5}
    assert s[-2:].tolist() == [0.0, 1.0] and ds[-2:].tolist() == [0.0, 0.0]


def test_sigmoid_is_the_logistic_primitive() -> None:
    program = tg.make_ir(tg.grad(lambda z: np.sum(nn.sigmoid(z))))(np.ones(3))
    assert "logistic" in str(program) and "select" not in str(program), program
    check_grads(lambda z: np.sum(nn.sigmoid(z) ** 2), (np.linspace(-6, 6, 7),), order=2)


def test_relu_derivative_convention() -> None:
    g = tg.grad(lambda x: np.sum(nn.relu(x)))(np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0])


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
@pytest.mark.parametrize("one_hot", [False, True])
def test_mlp_loss_gradients(activation: str, one_hot: bool) -> None:
    rng = np.random.default_rng(1)
    params = nn.init_mlp(rng, [5, 7, 6, 3])
    x = rng.normal(size=(8, 5))
    y = rng.integers(0, 3, size=8)
    if one_hot:
        y = nn.one_hot(y, 3)

    def loss(p, x, y):
        return nn.softmax_cross_entropy(nn.mlp(p, x, activation), y)

    check_grads(loss, (params, x, y), argnums=0)


def test_initialisers_shapes_and_scale() -> None:
    rng = np.random.default_rng(0)
    for init, var in [
        (nn.glorot_uniform, 2 / 700),
        (nn.glorot_normal, 2 / 700),
        (nn.he_normal, 2 / 400),
        (nn.he_uniform, 2 / 400),
    ]:
        w = init(rng, 400, 300)
        assert w.shape == (400, 300)
        assert abs(w.var() / var - 1) < 0.05, init.__name__
    params = nn.init_mlp(rng, [3, 4, 2], init="he_normal", dtype=np.float32)
    assert [p["W"].shape for p in params] == [(3, 4), (4, 2)]
    assert params[0]["b"].dtype == np.float32 and not params[1]["b"].any()


def test_mlp_is_the_layer_recursion() -> None:
    rng = np.random.default_rng(2)
    params = nn.init_mlp(rng, [3, 4, 2])
    x = rng.normal(size=(5, 3))
    hidden = np.tanh(x @ params[0]["W"] + params[0]["b"])
    np.testing.assert_allclose(nn.mlp(params, x), hidden @ params[1]["W"] + params[1]["b"])


# =============================================================================================
# Optimisers: two steps by hand

Pair = namedtuple("Pair", ["a", "b"])


def _params():
    return {"w": np.array([1.0, -2.0]), "layers": [Pair(np.array(3.0), np.array([[0.5]]))]}


def _grads(k: int):
    """Two different gradients, for steps 0 and 1."""
    s = [1.0, -0.5][k]
    return {"w": np.array([0.2, 0.4]) * s, "layers": [Pair(np.array(1.0) * s, np.array([[2.0]]))]}


def _run(opt: optim.Optimizer):
    params = _params()
    state = opt.init(params)
    for k in range(2):
        updates, state = opt.update(_grads(k), state, params)
        params = optim.apply_updates(params, updates)
    return params


def _check(params, expected_fn) -> None:
    p0 = tg.tree.tree_leaves(_params())
    g0, g1 = (tg.tree.tree_leaves(_grads(k)) for k in range(2))
    got = tg.tree.tree_leaves(params)
    for x, a, b, y in zip(p0, g0, g1, got, strict=True):
        np.testing.assert_allclose(y, expected_fn(x, a, b), rtol=1e-12)


def test_sgd_two_steps() -> None:
    _check(_run(optim.sgd(0.1)), lambda x, g0, g1: x - 0.1 * g0 - 0.1 * g1)


def test_sgd_with_schedule() -> None:
    lr = optim.step_decay(0.1, 0.5, every=1)
    _check(_run(optim.sgd(lr)), lambda x, g0, g1: x - 0.1 * g0 - 0.05 * g1)


def test_momentum_two_steps_as_in_the_course() -> None:
    # D_0 = lr g0, D_1 = lr g1 + m D_0; x_2 = x_0 - D_0 - D_1.
    def expected(x, g0, g1):
        d0 = 0.1 * g0
        d1 = 0.1 * g1 + 0.9 * d0
        return x - d0 - d1

    _check(_run(optim.momentum(0.1, m=0.9)), expected)


def test_momentum_with_scheduled_mass() -> None:
    m = optim.piecewise_constant([0.5, 0.9], [1])  # m_0 = 0.5 (unused), m_1 = 0.9

    def expected(x, g0, g1):
        d0 = 0.1 * g0 + 0.5 * 0.0
        d1 = 0.1 * g1 + 0.9 * d0
        return x - d0 - d1

    _check(_run(optim.momentum(0.1, m=m)), expected)
    m2 = optim.piecewise_constant([0.5, 0.9], [2])  # m_1 = 0.5
    _check(_run(optim.momentum(0.1, m=m2)), lambda x, g0, g1: x - 0.1 * g0 - (0.1 * g1 + 0.05 * g0))


def test_nesterov_two_steps() -> None:
    def expected(x, g0, g1):
        d0 = 0.1 * g0
        x1 = x - (0.1 * g0 + 0.9 * d0)
        d1 = 0.1 * g1 + 0.9 * d0
        return x1 - (0.1 * g1 + 0.9 * d1)

    _check(_run(optim.nesterov(0.1, m=0.9)), expected)


def test_adam_two_steps() -> None:
    b1, b2, eps, lr = 0.9, 0.999, 1e-8, 0.01

    def expected(x, g0, g1):
        m, v = (1 - b1) * g0, (1 - b2) * g0**2
        x = x - lr * (m / (1 - b1)) / (np.sqrt(v / (1 - b2)) + eps)
        m, v = b1 * m + (1 - b1) * g1, b2 * v + (1 - b2) * g1**2
        return x - lr * (m / (1 - b1**2)) / (np.sqrt(v / (1 - b2**2)) + eps)

    _check(_run(optim.adam(lr)), expected)


def test_schedules() -> None:
    assert optim.constant(0.3)(1000) == 0.3
    s = optim.step_decay(1.0, 0.1, every=10)
    assert [s(0), s(9), s(10), s(25)] == pytest.approx([1.0, 1.0, 0.1, 0.01])
    c = optim.cosine_decay(1.0, 100, final=0.1)
    assert c(0) == pytest.approx(1.0) and c(50) == pytest.approx(0.55)
    assert c(100) == pytest.approx(0.1) and c(500) == pytest.approx(0.1)
    p = optim.piecewise_constant([0.5, 0.9], [100])
    assert (p(0), p(99), p(100), p(10**6)) == (0.5, 0.5, 0.9, 0.9)


def test_optimisers_keep_float32() -> None:
    params = {"w": np.ones(3, dtype=np.float32)}
    grads = {"w": np.full(3, 0.5, dtype=np.float32)}
    for opt in (optim.sgd(0.1), optim.momentum(0.1), optim.nesterov(0.1), optim.adam(0.1)):
        state = opt.init(params)
        updates, state = opt.update(grads, state, params)
        assert optim.apply_updates(params, updates)["w"].dtype == np.float32


def test_jitted_training_step() -> None:
    rng = np.random.default_rng(3)
    params = nn.init_mlp(rng, [5, 4, 3])
    x, y = rng.normal(size=(6, 5)), rng.integers(0, 3, size=6)
    opt = optim.momentum(0.1, m=0.9)

    def loss(p, x, y):
        return nn.softmax_cross_entropy(nn.mlp(p, x), y)

    def step(p, velocity, x, y):
        grads = tg.grad(loss)(p, x, y)
        updates, state = opt.update(grads, optim.MomentumState(0, velocity), p)
        return optim.apply_updates(p, updates), state.velocity

    jitted = tg.jit(step)
    velocity = opt.init(params).velocity
    compiled, plain = params, params
    v1, v2 = velocity, velocity
    for _ in range(2):
        compiled, v1 = jitted(compiled, v1, x, y)
        plain, v2 = step(plain, v2, x, y)
    for a, b in zip(tg.tree.tree_leaves(compiled), tg.tree.tree_leaves(plain), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


# =============================================================================================
# Data


def test_batches_cover_every_index_once() -> None:
    rng = np.random.default_rng(0)
    parts = list(batches(rng, 10, 3))
    assert [len(p) for p in parts] == [3, 3, 3, 1] and len(parts) == num_batches(10, 3)
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(10))
    assert not np.array_equal(np.concatenate(parts), np.arange(10))
    dropped = list(batches(rng, 10, 3, drop_last=True))
    assert [len(p) for p in dropped] == [3, 3, 3] == [3] * num_batches(10, 3, drop_last=True)
    ordered = list(batches(None, 5, 2, shuffle=False))
    np.testing.assert_array_equal(np.concatenate(ordered), np.arange(5))


def test_early_stopping_keeps_best_params() -> None:
    stopper = EarlyStopping(patience=2)
    params = {"w": np.zeros(2)}
    losses = [3.0, 2.0, 2.5, 1.5, 1.6, 1.7, 0.1]
    stopped_at = None
    for epoch, loss in enumerate(losses):
        params = {"w": params["w"] + 1}
        if stopper.update(loss, params):
            stopped_at = epoch
            break
    assert stopped_at == 5
    assert stopper.best_loss == 1.5 and stopper.best_epoch == 3
    np.testing.assert_array_equal(stopper.best_params["w"], [4.0, 4.0])
    assert stopper.should_stop and math.isfinite(stopper.best_loss)
