"""A catalogue of typical small programs: what a new user differentiates first.

``benchmarks/first_call.py`` times each one's first ``value_and_grad`` in a fresh process;
``tests/test_compile_cliffs.py`` checks the code generated for each. Every loss is written
against an array namespace ``xp`` (NumPy for tracegrad, ``jax.numpy`` for JAX) and
differentiates its first argument. Data come from a seeded generator, so every process sees
the same arrays (and the same kernel).

This module imports only NumPy: the fresh-process timer imports it before ``import
tracegrad``, and must not pay for anything else there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Program:
    """One catalogue entry: ``loss(xp)`` gives the loss, ``args()`` its arguments."""

    name: str
    loss: Callable[[Any], Callable]
    args: Callable[[], tuple]
    unrolled: bool = False  # a long unrolled program: exempt from the 1 s compile target


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


def logistic_loss(xp: Any) -> Callable:
    def logistic(w, x, y):
        z = x @ w
        return xp.mean(xp.logaddexp(0.0, z) - y * z)

    return logistic


def _logistic_args() -> tuple:
    r = _rng()
    x = r.normal(size=(256, 20))
    return r.normal(size=20) * 0.1, x, (r.random(256) < 0.5).astype(np.float64)


def linear_loss(xp: Any) -> Callable:
    def linear(params, x, y):
        w, b = params
        return xp.mean((x @ w + b - y) ** 2)

    return linear


def _linear_args() -> tuple:
    r = _rng()
    return (r.normal(size=10), 0.5), r.normal(size=(128, 10)), r.normal(size=128)


def softmax_loss(xp: Any) -> Callable:
    def softmax(w, x, labels):
        logits = x @ w
        shifted = logits - xp.max(logits, axis=1, keepdims=True)
        logp = shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))
        picked = xp.take_along_axis(logp, labels[:, None], axis=1)
        return -xp.mean(picked)

    return softmax


def _softmax_args() -> tuple:
    r = _rng()
    return r.normal(size=(20, 5)) * 0.1, r.normal(size=(128, 20)), r.integers(0, 5, size=128)


def mlp_loss(xp: Any) -> Callable:
    def mlp(layers, x, y):
        h = x
        for w, b in layers[:-1]:
            h = xp.tanh(h @ w + b)
        w, b = layers[-1]
        return xp.mean((h @ w + b - y) ** 2)

    return mlp


def _layers(r: np.random.Generator, sizes: list[int]) -> list:
    return [
        (r.normal(size=(m, n)) / np.sqrt(m), np.zeros(n))
        for m, n in zip(sizes[:-1], sizes[1:], strict=True)
    ]


def _mlp_args() -> tuple:
    r = _rng()
    return _layers(r, [16, 64, 64, 10]), r.normal(size=(64, 16)), r.normal(size=(64, 10))


def autoencoder_loss(xp: Any) -> Callable:
    def autoencoder(params, x):
        (w1, b1), (w2, b2) = params
        code = xp.tanh(x @ w1 + b1)
        return xp.mean((code @ w2 + b2 - x) ** 2)

    return autoencoder


def _autoencoder_args() -> tuple:
    r = _rng()
    return _layers(r, [32, 8, 32]), r.normal(size=(64, 32))


def rosenbrock_loss(xp: Any) -> Callable:
    def rosenbrock(x):
        return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    return rosenbrock


def gaussian_loss(xp: Any) -> Callable:
    def gaussian(params, x):
        mean, scale = params
        cov = scale @ scale.T + xp.eye(scale.shape[0])
        d = (x - mean).T
        quad = xp.sum(d * xp.linalg.solve(cov, d))
        logdet = xp.linalg.slogdet(cov)[1]
        return 0.5 * quad + 0.5 * x.shape[0] * logdet

    return gaussian


def _gaussian_args() -> tuple:
    r = _rng()
    return (r.normal(size=5), r.normal(size=(5, 5)) * 0.5), r.normal(size=(100, 5))


def layernorm_loss(xp: Any) -> Callable:
    def layernorm(params, x):
        gain, bias = params
        mu = xp.mean(x, axis=-1, keepdims=True)
        var = xp.mean((x - mu) ** 2, axis=-1, keepdims=True)
        y = (x - mu) / xp.sqrt(var + 1e-5) * gain + bias
        return xp.sum(y**2)

    return layernorm


def _layernorm_args() -> tuple:
    r = _rng()
    return (np.ones(32), np.zeros(32)), r.normal(size=(8, 16, 32))


def attention_loss(xp: Any) -> Callable:
    def attention(params, x):
        wq, wk, wv = params
        q, k, v = x @ wq, x @ wk, x @ wv
        scores = q @ k.T / np.sqrt(q.shape[1])
        scores = scores - xp.max(scores, axis=1, keepdims=True)
        weights = xp.exp(scores)
        weights = weights / xp.sum(weights, axis=1, keepdims=True)
        return xp.sum((weights @ v) ** 2)

    return attention


def _attention_args() -> tuple:
    r = _rng()
    return tuple(r.normal(size=(16, 16)) * 0.25 for _ in range(3)), r.normal(size=(32, 16))


def conv1d_loss(xp: Any) -> Callable:
    def conv1d(kernel, x, y):
        width = kernel.shape[0]
        n = x.shape[0] - width + 1
        windows = xp.stack([x[i : i + n] for i in range(width)], axis=1)
        out = xp.einsum("nk,k->n", windows, kernel)
        return xp.mean((out - y) ** 2)

    return conv1d


def _conv1d_args() -> tuple:
    r = _rng()
    return r.normal(size=5), r.normal(size=200), r.normal(size=196)


def rnn_loss(xp: Any) -> Callable:
    def rnn(params, xs):
        wx, wh, b = params
        h = xp.zeros(wh.shape[0])
        for t in range(xs.shape[0]):
            h = xp.tanh(xs[t] @ wx + h @ wh + b)
        return xp.sum(h**2)

    return rnn


def _rnn_args() -> tuple:
    r = _rng()
    params = (r.normal(size=(4, 16)) * 0.3, r.normal(size=(16, 16)) * 0.3, np.zeros(16))
    return params, r.normal(size=(20, 4))


def pairwise_loss(xp: Any) -> Callable:
    def pairwise(pos):
        diff = pos[:, None, :] - pos[None, :, :]
        d2 = xp.sum(diff**2, axis=-1) + xp.eye(pos.shape[0])
        return xp.sum(1.0 / d2) - xp.sum(xp.log(d2))

    return pairwise


def _pairwise_args() -> tuple:
    return (_rng().normal(size=(24, 3)),)


CATALOGUE = [
    Program("logistic regression", logistic_loss, _logistic_args),
    Program("linear regression", linear_loss, _linear_args),
    Program("softmax regression", softmax_loss, _softmax_args),
    Program("MLP 16-64-64-10", mlp_loss, _mlp_args),
    Program("autoencoder", autoencoder_loss, _autoencoder_args),
    Program("Rosenbrock 50-d", rosenbrock_loss, lambda: (np.linspace(-1.0, 1.0, 50),)),
    Program("Gaussian log-likelihood", gaussian_loss, _gaussian_args),
    Program("layer norm", layernorm_loss, _layernorm_args),
    Program("attention", attention_loss, _attention_args),
    Program("conv1d (einsum)", conv1d_loss, _conv1d_args),
    Program("RNN 20 steps", rnn_loss, _rnn_args, unrolled=True),
    Program("pairwise energy", pairwise_loss, _pairwise_args),
]


def by_name(name: str) -> Program:
    return next(p for p in CATALOGUE if p.name == name)
