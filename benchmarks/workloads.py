"""Benchmark workloads: each loss once, its hand-written NumPy backprop, and its input data.

A loss is written against an array namespace ``xp`` (``numpy`` for tracegrad, and also
``jax.numpy`` or ``autograd.numpy``), so that every framework differentiates the same code.
The hand-written baselines below are what a careful person would write without any AD tool:
forward pass, then the backward pass derived by hand, NumPy only. ``tests/test_benchmarks_
smoke.py`` checks each against tracegrad's gradient so that they cannot silently rot.

Each workload differentiates its first argument. ``steps`` marks the Rosenbrock workload, whose
timed unit is a whole optimisation loop (``momentum_loop``) calling ``value_and_grad`` once per
step, rather than one gradient.

This module imports only NumPy: the fresh-process first-call measurement imports it before
``import tracegrad``, and must not pay for Numba or JAX there. The hand-written Numba kernels
live in ``numba_kernels.py`` and the Torch losses in ``torch_losses.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# =============================================================================================
# Losses, written once for any NumPy-like namespace


def poly_loss(xp: Any) -> Callable:
    def poly(x):
        return 3.0 * x**3 - 2.0 * x**2 + x - 5.0

    return poly


def expchain_loss(xp: Any) -> Callable:
    def expchain(x):
        return xp.exp(xp.exp(xp.exp(xp.exp(xp.exp(x)))))

    return expchain


def rosenbrock_loss(xp: Any) -> Callable:
    def rosenbrock(p):
        return xp.sum(100.0 * (p[1:] - p[:-1] ** 2) ** 2 + (1.0 - p[:-1]) ** 2)

    return rosenbrock


def sinexp_loss(xp: Any) -> Callable:
    def sinexp(x):
        return xp.sum(xp.sin(x) * xp.exp(-x * x))

    return sinexp


def mlp_loss(xp: Any) -> Callable:
    """One tanh hidden layer, softmax cross-entropy against one-hot labels."""

    def mlp(params, x, y):
        h = xp.tanh(x @ params["W1"] + params["b1"])
        logits = h @ params["W2"] + params["b2"]
        m = xp.max(logits, axis=1, keepdims=True)
        lse = m[:, 0] + xp.log(xp.sum(xp.exp(logits - m), axis=1))
        return xp.mean(lse - xp.sum(y * logits, axis=1))

    return mlp


def autoencoder_loss(xp: Any) -> Callable:
    """ReLU code layer, sigmoid reconstruction, mean squared error."""

    def autoencoder(params, x):
        h = xp.maximum(x @ params["W1"] + params["b1"], 0.0)
        out = 1.0 / (1.0 + xp.exp(-(h @ params["W2"] + params["b2"])))
        return xp.mean((out - x) ** 2)

    return autoencoder


def deep_mlp_loss(xp: Any) -> Callable:
    """A stack of tanh layers of equal width, mean squared error at the top."""

    def deep_mlp(layers, x, y):
        h = x
        for w, b in layers:
            h = xp.tanh(h @ w + b)
        return xp.mean((h - y) ** 2)

    return deep_mlp


# =============================================================================================
# Hand-written NumPy forward and forward+backward


def poly_np(x):
    return 3.0 * x**3 - 2.0 * x**2 + x - 5.0


def poly_np_vg(x):
    x2 = x * x
    return 3.0 * x2 * x - 2.0 * x2 + x - 5.0, 9.0 * x2 - 4.0 * x + 1.0


def expchain_np(x):
    return np.exp(np.exp(np.exp(np.exp(np.exp(x)))))


def expchain_np_vg(x):
    e1 = np.exp(x)
    e2 = np.exp(e1)
    e3 = np.exp(e2)
    e4 = np.exp(e3)
    e5 = np.exp(e4)
    return e5, e5 * e4 * e3 * e2 * e1


def rosenbrock_np(p):
    a, b = p[:-1], p[1:]
    return np.sum(100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2)


def rosenbrock_np_vg(p):
    a, b = p[:-1], p[1:]
    r = b - a * a
    s = 1.0 - a
    g = np.zeros_like(p)
    g[1:] = 200.0 * r
    g[:-1] -= 400.0 * r * a + 2.0 * s
    return np.sum(100.0 * r * r + s * s), g


def sinexp_np(x):
    return np.sum(np.sin(x) * np.exp(-x * x))


def sinexp_np_vg(x):
    s = np.sin(x)
    e = np.exp(-x * x)
    return np.sum(s * e), e * (np.cos(x) - 2.0 * x * s)


def mlp_np(params, x, y):
    h = np.tanh(x @ params["W1"] + params["b1"])
    logits = h @ params["W2"] + params["b2"]
    m = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - m)
    s = e.sum(axis=1, keepdims=True)
    return np.mean(m[:, 0] + np.log(s[:, 0]) - np.sum(y * logits, axis=1))


def mlp_np_vg(params, x, y):
    n = x.shape[0]
    h = np.tanh(x @ params["W1"] + params["b1"])
    logits = h @ params["W2"] + params["b2"]
    m = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - m)
    s = e.sum(axis=1, keepdims=True)
    loss = np.mean(m[:, 0] + np.log(s[:, 0]) - np.sum(y * logits, axis=1))
    d_logits = (e / s - y) * (1.0 / n)
    d_z1 = (d_logits @ params["W2"].T) * (1.0 - h * h)
    grads = {
        "W1": x.T @ d_z1,
        "b1": d_z1.sum(axis=0),
        "W2": h.T @ d_logits,
        "b2": d_logits.sum(axis=0),
    }
    return loss, grads


def autoencoder_np(params, x):
    h = np.maximum(x @ params["W1"] + params["b1"], 0.0)
    out = 1.0 / (1.0 + np.exp(-(h @ params["W2"] + params["b2"])))
    return np.mean((out - x) ** 2)


def autoencoder_np_vg(params, x):
    z1 = x @ params["W1"] + params["b1"]
    h = np.maximum(z1, 0.0)
    out = 1.0 / (1.0 + np.exp(-(h @ params["W2"] + params["b2"])))
    diff = out - x
    loss = np.mean(diff * diff)
    d_z2 = diff * (2.0 / diff.size) * out * (1.0 - out)
    d_z1 = (d_z2 @ params["W2"].T) * (z1 > 0)
    grads = {
        "W1": x.T @ d_z1,
        "b1": d_z1.sum(axis=0),
        "W2": h.T @ d_z2,
        "b2": d_z2.sum(axis=0),
    }
    return loss, grads


def deep_mlp_np(layers, x, y):
    h = x
    for w, b in layers:
        h = np.tanh(h @ w + b)
    return np.mean((h - y) ** 2)


def deep_mlp_np_vg(layers, x, y):
    acts = [x]
    for w, b in layers:
        acts.append(np.tanh(acts[-1] @ w + b))
    diff = acts[-1] - y
    loss = np.mean(diff * diff)
    d_h = diff * (2.0 / diff.size)
    grads = [None] * len(layers)
    for i in range(len(layers) - 1, -1, -1):
        h = acts[i + 1]
        d_z = d_h * (1.0 - h * h)
        grads[i] = (acts[i].T @ d_z, d_z.sum(axis=0))
        if i:
            d_h = d_z @ layers[i][0].T
    return loss, grads


# =============================================================================================
# The Rosenbrock optimisation loop (the timed unit of the "rosenbrock" workload)

ROSEN_START = (-1.2, 1.0)
ROSEN_LR = 2e-4
ROSEN_MOMENTUM = 0.9


def momentum_loop(value_and_grad: Callable, p0: np.ndarray, steps: int) -> tuple[Any, Any]:
    """Heavy-ball descent: ``steps`` calls of ``value_and_grad``; the update is NumPy."""
    p = p0
    v = np.zeros_like(p0)
    value = None
    for _ in range(steps):
        value, g = value_and_grad(p)
        v = ROSEN_MOMENTUM * v - ROSEN_LR * np.asarray(g)
        p = p + v
    return value, p


def forward_loop(forward: Callable, p0: np.ndarray, steps: int) -> tuple[Any, Any]:
    """``momentum_loop`` with ``forward`` in place of ``value_and_grad`` and a zero gradient:
    the same per-step NumPy work, so that the two loops' ratio is the cost of the gradient."""
    p = p0
    v = np.zeros_like(p0)
    value = None
    for _ in range(steps):
        value = forward(p)
        v = ROSEN_MOMENTUM * v - ROSEN_LR * np.asarray(0.0)
        p = p + v
    return value, p


# =============================================================================================
# Inputs


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _dense(rng, n_in, n_out, dtype):
    w = rng.normal(scale=1.0 / np.sqrt(n_in), size=(n_in, n_out)).astype(dtype)
    return w, (0.1 * rng.normal(size=n_out)).astype(dtype)


def mlp_args(batch, n_in=784, n_hidden=128, n_out=10, dtype=np.float64):
    rng = _rng(1)
    w1, b1 = _dense(rng, n_in, n_hidden, dtype)
    w2, b2 = _dense(rng, n_hidden, n_out, dtype)
    x = rng.uniform(0.0, 1.0, size=(batch, n_in)).astype(dtype)
    y = np.eye(n_out, dtype=dtype)[rng.integers(0, n_out, size=batch)]
    return {"W1": w1, "b1": b1, "W2": w2, "b2": b2}, x, y


def autoencoder_args(batch, n_in=784, n_code=64, dtype=np.float64):
    rng = _rng(2)
    w1, b1 = _dense(rng, n_in, n_code, dtype)
    w2, b2 = _dense(rng, n_code, n_in, dtype)
    x = rng.uniform(0.0, 1.0, size=(batch, n_in)).astype(dtype)
    return {"W1": w1, "b1": b1, "W2": w2, "b2": b2}, x


def deep_mlp_args(batch, width=32, depth=20, dtype=np.float64):
    rng = _rng(3)
    layers = [_dense(rng, width, width, dtype) for _ in range(depth)]
    x = rng.normal(size=(batch, width)).astype(dtype)
    y = rng.uniform(-0.5, 0.5, size=(batch, width)).astype(dtype)
    return layers, x, y


def sinexp_args(n):
    return (_rng(4).uniform(-3.0, 3.0, size=n),)


# =============================================================================================
# The registry


@dataclass
class Workload:
    """One benchmark: a loss, its baselines and a way to build its inputs."""

    name: str
    loss: Callable[[Any], Callable]  # xp -> loss function
    numpy_fwd: Callable
    numpy_vg: Callable
    make_args: Callable[[bool], tuple]  # small -> args
    numba: str | None = None  # name of the kernel in numba_kernels.KERNELS
    steps: int | None = None  # an optimisation loop of this many value_and_grad calls
    dtype: Any = np.float64
    note: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def rtol(self) -> float:
        return 2e-3 if np.dtype(self.dtype) == np.float32 else 1e-7

    def timed_call(self, fn: Callable, args: tuple, forward: bool = False) -> tuple:
        """``(f, f_args)`` such that ``f(*f_args)`` is one timed unit of this workload, where
        ``fn`` is a value_and_grad (or with ``forward``, the loss alone) taking ``args``."""
        if self.steps is not None:
            return (forward_loop if forward else momentum_loop), (fn, args[0], self.steps)
        return fn, args


def _mlp_workload(batch: int, dtype) -> Workload:
    bits = np.dtype(dtype).itemsize * 8
    return Workload(
        f"mlp_b{batch}_f{bits}",
        mlp_loss,
        mlp_np,
        mlp_np_vg,
        lambda small: mlp_args(5, 12, 8, 3, dtype) if small else mlp_args(batch, dtype=dtype),
        dtype=dtype,
        note=f"MLP 784-128-10 tanh, softmax CE, batch {batch}, float{bits}",
        tags=("mlp",),
    )


def _sinexp_workload(label: str, n: int) -> Workload:
    return Workload(
        f"sinexp_{label}",
        sinexp_loss,
        sinexp_np,
        sinexp_np_vg,
        lambda small: sinexp_args(37 if small else n),
        numba="sinexp",
        note=f"sum(sin(x) * exp(-x*x)), N = {label}",
        tags=("sinexp",),
    )


WORKLOADS: list[Workload] = [
    Workload(
        "poly",
        poly_loss,
        poly_np,
        poly_np_vg,
        lambda small: (0.7,),
        numba="poly",
        note="3x^3 - 2x^2 + x - 5 at a Python float",
        tags=("scalar",),
    ),
    Workload(
        "expchain",
        expchain_loss,
        expchain_np,
        expchain_np_vg,
        lambda small: (-3.0,),
        numba="expchain",
        note="exp(exp(exp(exp(exp(x))))) at x = -3",
        tags=("scalar",),
    ),
    Workload(
        "rosenbrock",
        rosenbrock_loss,
        rosenbrock_np,
        rosenbrock_np_vg,
        lambda small: (np.array(ROSEN_START),),
        numba="rosenbrock",
        steps=200,
        note="2-D Rosenbrock, 200 momentum steps, value_and_grad per step",
    ),
    _sinexp_workload("1e3", 1000),
    _sinexp_workload("1e5", 100_000),
    _sinexp_workload("1e6", 1_000_000),
    _mlp_workload(64, np.float32),
    _mlp_workload(64, np.float64),
    _mlp_workload(512, np.float32),
    _mlp_workload(512, np.float64),
    Workload(
        "autoencoder",
        autoencoder_loss,
        autoencoder_np,
        autoencoder_np_vg,
        lambda small: autoencoder_args(4, 10, 3) if small else autoencoder_args(128),
        note="autoencoder 784-64-784, ReLU code, sigmoid output, MSE, batch 128",
    ),
    Workload(
        "deep_mlp",
        deep_mlp_loss,
        deep_mlp_np,
        deep_mlp_np_vg,
        lambda small: deep_mlp_args(3, 4, 3) if small else deep_mlp_args(16),
        note="20 tanh layers of width 32, MSE, batch 16",
    ),
]

BY_NAME = {w.name: w for w in WORKLOADS}


# =============================================================================================
# Comparing gradients (pytrees of arrays or floats)


def flat(tree: Any) -> list[np.ndarray]:
    """The leaves of a nested dict/list/tuple as NumPy arrays, in a canonical order."""
    if isinstance(tree, dict):
        return [leaf for k in sorted(tree) for leaf in flat(tree[k])]
    if isinstance(tree, list | tuple):
        return [leaf for item in tree for leaf in flat(item)]
    return [np.asarray(tree)]


def max_rel_error(got: Any, want: Any) -> float:
    """Largest |got - want| over the leaves, relative to each leaf's largest |want|."""
    worst = 0.0
    a, b = flat(got), flat(want)
    if len(a) != len(b):
        return float("inf")
    for x, y in zip(a, b, strict=True):
        if x.shape != y.shape:
            return float("inf")
        x = x.astype(np.float64)
        y = y.astype(np.float64)
        scale = max(float(np.max(np.abs(y))) if y.size else 0.0, 1e-30)
        worst = max(worst, float(np.max(np.abs(x - y))) / scale if y.size else 0.0)
    return worst


def check_value_and_grad(got: tuple, want: tuple, rtol: float) -> str | None:
    """None if ``got`` = (value, grads) matches ``want``, else a description of the mismatch."""
    value_err = max_rel_error(got[0], want[0])
    grad_err = max_rel_error(got[1], want[1])
    if value_err <= rtol and grad_err <= rtol:
        return None
    return f"value rel. error {value_err:.2e}, gradient rel. error {grad_err:.2e} (rtol {rtol})"
