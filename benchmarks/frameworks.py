"""Optional peers: JAX, PyTorch and HIPS autograd, each used only when importable.

``available()`` imports what is installed and configures it for a fair single-threaded CPU
comparison (JAX with float64 enabled and XLA's Eigen thread pool off, Torch with one thread).
Each ``*_value_and_grad(workload)`` returns ``(value_and_grad, args_converter)``: a function
with tracegrad's calling convention (differentiate the first argument, return ``(value,
grads)``) and a function that turns the NumPy inputs into that framework's arrays once, before
timing, so the timed calls do not pay for conversion. The Rosenbrock loop passes NumPy arrays
on every step, so conversion is part of its cost for every competitor alike.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Callable
from typing import Any

import numpy as np
from workloads import Workload

_MODULES: dict[str, Any] = {}


def available(skip: set[str]) -> dict[str, str]:
    """Import the installed peers (minus ``skip``); return {name: version}."""
    found = {}
    if "jax" not in skip:
        os.environ.setdefault(
            "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        )
        try:
            import jax
            import jax.numpy as jnp
        except Exception:  # noqa: BLE001  (absent or broken: the peer is optional)
            pass
        else:
            jax.config.update("jax_enable_x64", True)
            jax.config.update("jax_platforms", "cpu")
            _MODULES["jax"] = (jax, jnp)
            found["jax"] = jax.__version__
    if "torch" not in skip:
        try:
            import torch
        except Exception:  # noqa: BLE001
            pass
        else:
            torch.set_num_threads(1)
            _MODULES["torch"] = torch
            found["torch"] = torch.__version__
    if "autograd" not in skip:
        try:
            import autograd
            import autograd.numpy as anp
        except Exception:  # noqa: BLE001
            pass
        else:
            _MODULES["autograd"] = (autograd, anp)
            found["autograd"] = _version("autograd")
    return found


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _identity(args: tuple) -> tuple:
    return args


# =============================================================================================
# JAX: jit(value_and_grad(f)), outputs blocked on before the call returns


def jax_value_and_grad(w: Workload) -> tuple[Callable, Callable]:
    jax, jnp = _MODULES["jax"]
    compiled = jax.jit(jax.value_and_grad(w.loss(jnp)))

    def value_and_grad(*args):
        return jax.block_until_ready(compiled(*args))

    def convert(args: tuple) -> tuple:
        if w.steps is not None:  # the loop hands in fresh NumPy arrays every step
            return args
        return jax.device_put(args)

    return value_and_grad, convert


# =============================================================================================
# PyTorch: eager autograd (torch.autograd.grad), one thread


def _torch_mlp(torch):
    def mlp(params, x, y):
        h = torch.tanh(x @ params["W1"] + params["b1"])
        logits = h @ params["W2"] + params["b2"]
        return torch.mean(torch.logsumexp(logits, dim=1) - torch.sum(y * logits, dim=1))

    return mlp


def _torch_autoencoder(torch):
    def autoencoder(params, x):
        h = torch.relu(x @ params["W1"] + params["b1"])
        out = torch.sigmoid(h @ params["W2"] + params["b2"])
        return torch.mean((out - x) ** 2)

    return autoencoder


def _torch_loss(w: Workload, torch) -> Callable:
    if "mlp" in w.tags:
        return _torch_mlp(torch)
    if w.name == "autoencoder":
        return _torch_autoencoder(torch)
    return w.loss(torch)  # the shared loss only uses names torch also has


def _tree_map(fn: Callable, tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _tree_map(fn, v) for k, v in tree.items()}
    if isinstance(tree, list | tuple):
        return type(tree)(_tree_map(fn, v) for v in tree)
    return fn(tree)


def _tree_leaves(tree: Any) -> list:
    if isinstance(tree, dict):
        return [leaf for v in tree.values() for leaf in _tree_leaves(v)]
    if isinstance(tree, list | tuple):
        return [leaf for v in tree for leaf in _tree_leaves(v)]
    return [tree]


def _tree_rebuild(tree: Any, leaves: list) -> Any:
    it = iter(leaves)
    return _tree_map(lambda _: next(it), tree)


def torch_value_and_grad(w: Workload) -> tuple[Callable, Callable]:
    torch = _MODULES["torch"]
    loss = _torch_loss(w, torch)

    def to_tensor(a, requires_grad=False):
        if isinstance(a, float):  # torch.tensor(float) would be float32
            t = torch.tensor(a, dtype=torch.float64)
        else:
            t = torch.from_numpy(np.asarray(a))
        return t.requires_grad_(requires_grad)

    def value_and_grad_tensors(*args):
        leaves = _tree_leaves(args[0])
        value = loss(*args)
        grads = torch.autograd.grad(value, leaves)
        return value.detach(), _tree_rebuild(args[0], list(grads))

    def convert(args: tuple) -> tuple:
        first = _tree_map(lambda a: to_tensor(a, True), args[0])
        return (first, *_tree_map(to_tensor, args[1:]))

    if w.steps is None:
        return value_and_grad_tensors, convert

    def value_and_grad_numpy(p):
        value, g = value_and_grad_tensors(to_tensor(p, True))
        return value.item(), g.numpy()

    return value_and_grad_numpy, _identity


# =============================================================================================
# HIPS autograd: boxes every operation at run time (no compilation)


def autograd_value_and_grad(w: Workload) -> tuple[Callable, Callable]:
    autograd, anp = _MODULES["autograd"]
    return autograd.value_and_grad(w.loss(anp)), _identity


VALUE_AND_GRAD = {
    "jax": jax_value_and_grad,
    "torch": torch_value_and_grad,
    "autograd": autograd_value_and_grad,
}


def to_numpy(result: Any) -> Any:
    """(value, grads) of any peer as NumPy, for checking against the hand-written baseline."""

    def leaf(a):
        if hasattr(a, "detach"):
            a = a.detach().numpy()
        return np.asarray(a)

    return _tree_map(leaf, result)
