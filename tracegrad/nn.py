"""Small neural-network helpers in plain NumPy: initialisers, activations, losses, an MLP.

Everything here is ordinary NumPy code, so it runs on arrays and traces under
``tracegrad.grad`` alike.  Parameters are pytrees: an MLP is a list of layers,
each a dict ``{"W": (n_in, n_out), "b": (n_out,)}``, and a layer computes
``L_i = f(L_{i-1} @ W_i + b_i)`` on a batch of row vectors (the course's
``W_i L_{i-1} + b_i`` for column vectors, transposed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .frontend.elementwise import logistic, stop_gradient

Array = Any  # a NumPy array or a traced value
Params = list[dict[str, Array]]
Initializer = Callable[[np.random.Generator, int, int], np.ndarray]

__all__ = [
    "binary_cross_entropy",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "init_mlp",
    "log_softmax",
    "logsumexp",
    "mlp",
    "mse",
    "one_hot",
    "relu",
    "sigmoid",
    "softmax",
    "softmax_cross_entropy",
    "tanh",
    "xavier_normal",
    "xavier_uniform",
]

# =============================================================================================
# Initialisers: each returns a float64 (fan_in, fan_out) matrix


def glorot_uniform(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """Glorot/Xavier uniform: U(-a, a) with a = sqrt(6 / (fan_in + fan_out))."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def glorot_normal(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """Glorot/Xavier normal: N(0, 2 / (fan_in + fan_out))."""
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=(fan_in, fan_out))


def he_normal(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """He/Kaiming normal for ReLU layers: N(0, 2 / fan_in)."""
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))


def he_uniform(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """He/Kaiming uniform for ReLU layers: U(-a, a) with a = sqrt(6 / fan_in)."""
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


xavier_uniform = glorot_uniform
xavier_normal = glorot_normal

# =============================================================================================
# Activations


def sigmoid(x: Array) -> Array:
    """The logistic function 1 / (1 + exp(-x)): one primitive, finite for any x (exp(-x)
    overflowing to inf gives 0), with the derivative s(x) s(-x), exact for large |x| too."""
    return logistic(x)


def tanh(x: Array) -> Array:
    """The hyperbolic tangent."""
    return np.tanh(x)


def relu(x: Array) -> Array:
    """max(x, 0), with derivative 1 for x > 0 and 0 for x <= 0."""
    return np.where(x > 0, x, 0.0)


def logsumexp(x: Array, axis: int = -1, keepdims: bool = False) -> Array:
    """log(sum(exp(x))) along ``axis``, shifted by the maximum so exp never overflows."""
    shift = stop_gradient(np.max(x, axis=axis, keepdims=True))  # any shift gives the same value
    out = np.log(np.sum(np.exp(x - shift), axis=axis, keepdims=True)) + shift
    return out if keepdims else np.squeeze(out, axis=axis)


def log_softmax(x: Array, axis: int = -1) -> Array:
    """log(softmax(x)) computed as x - logsumexp(x): stable for any logits."""
    return x - logsumexp(x, axis=axis, keepdims=True)


def softmax(x: Array, axis: int = -1) -> Array:
    """exp(x) / sum(exp(x)) along ``axis``, after subtracting the maximum."""
    e = np.exp(x - stop_gradient(np.max(x, axis=axis, keepdims=True)))
    return e / np.sum(e, axis=axis, keepdims=True)


ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "sigmoid": sigmoid,
    "tanh": tanh,
    "relu": relu,
    "identity": lambda x: x,
}

# =============================================================================================
# Losses (each returns the mean over the batch)


def mse(pred: Array, target: Array) -> Array:
    """Mean squared error."""
    return np.mean((pred - target) ** 2)


def binary_cross_entropy(logits: Array, labels: Array) -> Array:
    """Mean binary cross-entropy of sigmoid(logits) against labels in [0, 1], from logits.

    Uses -[y log s(z) + (1-y) log(1-s(z))] = max(z, 0) - z y + log1p(exp(-|z|)), which is
    finite for any z.
    """
    return np.mean(np.maximum(logits, 0.0) - logits * labels + np.log1p(np.exp(-np.abs(logits))))


def one_hot(labels: np.ndarray, num_classes: int, dtype: Any = np.float64) -> np.ndarray:
    """Integer labels of shape (n,) as an (n, num_classes) one-hot matrix (a constant)."""
    return np.eye(num_classes, dtype=dtype)[np.asarray(labels)]


def softmax_cross_entropy(logits: Array, labels: Array) -> Array:
    """Mean cross-entropy of softmax(logits) against integer labels (n,) or one-hot (n, k)."""
    logp = log_softmax(logits, axis=-1)
    if np.ndim(labels) == np.ndim(logits):  # one-hot or soft targets
        return -np.mean(np.sum(logp * labels, axis=-1))
    rows = np.arange(np.shape(logits)[0])
    return -np.mean(logp[rows, labels])


# =============================================================================================
# Multilayer perceptron


def init_mlp(
    rng: np.random.Generator,
    sizes: Sequence[int],
    init: Initializer | str = glorot_uniform,
    dtype: Any = np.float64,
) -> Params:
    """Layers [{"W": (sizes[i], sizes[i+1]), "b": zeros}] for the layer sizes ``sizes``."""
    if isinstance(init, str):
        init = _INITIALIZERS[init]
    if len(sizes) < 2:
        raise ValueError(f"init_mlp needs at least an input and an output size, got {sizes}")
    return [
        {"W": init(rng, n_in, n_out).astype(dtype), "b": np.zeros(n_out, dtype=dtype)}
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
    ]


_INITIALIZERS: dict[str, Initializer] = {
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "xavier_uniform": glorot_uniform,
    "xavier_normal": glorot_normal,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
}


def mlp(params: Params, x: Array, activation: Callable[[Array], Array] | str = tanh) -> Array:
    """Apply the layers in turn, L_i = f(L_{i-1} W_i + b_i); the last layer is linear."""
    f = ACTIVATIONS[activation] if isinstance(activation, str) else activation
    h = x
    for i, layer in enumerate(params):
        h = h @ layer["W"] + layer["b"]
        if i < len(params) - 1:
            h = f(h)
    return h
