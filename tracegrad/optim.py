"""Functional optimisers over pytrees, in the optax style, and learning-rate schedules.

An optimiser is a pair of pure functions:

```python
opt = momentum(0.1, m=0.9)
state = opt.init(params)
for batch in ...:
    grads = tg.grad(loss)(params, batch)
    updates, state = opt.update(grads, state, params)
    params = apply_updates(params, updates)     # params + updates, leaf by leaf
```

Updates are what gets *added* to the parameters (so they carry the minus sign).
Every hyperparameter that varies during training (learning rate, momentum) may be a
number or a schedule: a function of the step count ``n = 0, 1, 2, ...``.

The update arithmetic is plain NumPy, so a whole training step (gradient, update,
apply) can be compiled with ``tg.jit``.  The step count is a Python int, which ``jit``
treats as static: pass only the array parts of the state through a jitted step (as in
``tests/test_nn_optim.py::test_jitted_training_step``), or every step compiles anew.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from .tree import tree_map

Schedule = Callable[[int], float]
ScalarOrSchedule = float | Schedule
PyTree = Any

__all__ = [
    "AdamState",
    "MomentumState",
    "Optimizer",
    "SgdState",
    "adam",
    "apply_updates",
    "constant",
    "cosine_decay",
    "momentum",
    "nesterov",
    "piecewise_constant",
    "sgd",
    "step_decay",
]

# =============================================================================================
# Schedules: step count -> value


def constant(value: float) -> Schedule:
    """The schedule that is always ``value``."""
    return lambda step: value


def step_decay(init: float, factor: float, every: int) -> Schedule:
    """``init * factor ** (step // every)``: multiply by ``factor`` every ``every`` steps."""
    return lambda step: init * factor ** (step // every)


def cosine_decay(init: float, total_steps: int, final: float = 0.0) -> Schedule:
    """From ``init`` to ``final`` along half a cosine over ``total_steps``, then ``final``."""

    def schedule(step: int) -> float:
        t = min(step, total_steps) / total_steps
        return final + 0.5 * (init - final) * (1.0 + math.cos(math.pi * t))

    return schedule


def piecewise_constant(values: Sequence[float], boundaries: Sequence[int]) -> Schedule:
    """``values[0]`` before ``boundaries[0]``, ``values[1]`` until ``boundaries[1]``, ...

    ``piecewise_constant([0.5, 0.9], [100])`` is the course's momentum: 0.5 early, 0.9 late.
    """
    if len(values) != len(boundaries) + 1:
        raise ValueError("piecewise_constant needs one more value than boundaries")

    def schedule(step: int) -> float:
        for value, boundary in zip(values, boundaries, strict=False):
            if step < boundary:
                return value
        return values[-1]

    return schedule


def _as_schedule(x: ScalarOrSchedule) -> Schedule:
    return x if callable(x) else constant(float(x))


# =============================================================================================
# Optimisers


class Optimizer(NamedTuple):
    """A pair ``init(params) -> state`` and ``update(grads, state, params) -> (updates, state)``."""

    init: Callable[[PyTree], Any]
    update: Callable[[PyTree, Any, PyTree], tuple[PyTree, Any]]


class SgdState(NamedTuple):
    """The step count."""

    count: int


class MomentumState(NamedTuple):
    """The step count and the last step D_{n-1} (a pytree like the parameters)."""

    count: int
    velocity: PyTree


class AdamState(NamedTuple):
    """The step count and the moving averages of the gradient and its square."""

    count: int
    mu: PyTree
    nu: PyTree


def apply_updates(params: PyTree, updates: PyTree) -> PyTree:
    """``params + updates`` leaf by leaf."""
    return tree_map(lambda p, u: p + u, params, updates)


def _zeros_like(params: PyTree) -> PyTree:
    return tree_map(np.zeros_like, params)


def sgd(lr: ScalarOrSchedule) -> Optimizer:
    """Plain gradient descent: x_{n+1} = x_n - lr_n grad F(x_n)."""
    lr_at = _as_schedule(lr)

    def init(params: PyTree) -> SgdState:
        return SgdState(0)

    def update(grads: PyTree, state: SgdState, params: PyTree = None) -> tuple[PyTree, SgdState]:
        step = lr_at(state.count)
        return tree_map(lambda g: -step * g, grads), SgdState(state.count + 1)

    return Optimizer(init, update)


def _velocity_method(lr: ScalarOrSchedule, m: ScalarOrSchedule, lookahead: bool) -> Optimizer:
    """Momentum and Nesterov share the velocity D_n = lr_n g_n + m_n D_{n-1}; they differ in
    the step: D_n itself, or the look-ahead lr_n g_n + m_n D_n."""
    lr_at, m_at = _as_schedule(lr), _as_schedule(m)

    def init(params: PyTree) -> MomentumState:
        return MomentumState(0, _zeros_like(params))

    def update(
        grads: PyTree, state: MomentumState, params: PyTree = None
    ) -> tuple[PyTree, MomentumState]:
        step, mass = lr_at(state.count), m_at(state.count)
        d = tree_map(lambda g, d_prev: step * g + mass * d_prev, grads, state.velocity)
        if lookahead:
            updates = tree_map(lambda g, d_new: -(step * g + mass * d_new), grads, d)
        else:
            updates = tree_map(lambda x: -x, d)
        return updates, MomentumState(state.count + 1, d)

    return Optimizer(init, update)


def momentum(lr: ScalarOrSchedule, m: ScalarOrSchedule = 0.9) -> Optimizer:
    """Gradient descent with momentum as in the course: x_{n+1} = x_n - D_n, where
    D_n = lr_n grad F(x_n) + m_n D_{n-1} and D_{-1} = 0.

    ``lr`` and ``m`` may be schedules, e.g. ``m=piecewise_constant([0.5, 0.9], [100])``.
    """
    return _velocity_method(lr, m, lookahead=False)


def nesterov(lr: ScalarOrSchedule, m: ScalarOrSchedule = 0.9) -> Optimizer:
    """Nesterov momentum, in the form that needs only grad F(x_n):
    D_n = lr_n g_n + m_n D_{n-1};  x_{n+1} = x_n - (lr_n g_n + m_n D_n).

    (The step looks ahead along the new velocity; this is the change of variables
    Sutskever et al. and most libraries use for the gradient at x_n + m D.)
    """
    return _velocity_method(lr, m, lookahead=True)


def adam(
    lr: ScalarOrSchedule = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> Optimizer:
    """Adam (Kingma & Ba): steps of lr * mu_hat / (sqrt(nu_hat) + eps) with bias correction."""
    lr_at = _as_schedule(lr)

    def init(params: PyTree) -> AdamState:
        return AdamState(0, _zeros_like(params), _zeros_like(params))

    def update(grads: PyTree, state: AdamState, params: PyTree = None) -> tuple[PyTree, AdamState]:
        n = state.count + 1
        mu = tree_map(lambda g, m: b1 * m + (1 - b1) * g, grads, state.mu)
        nu = tree_map(lambda g, v: b2 * v + (1 - b2) * g * g, grads, state.nu)
        step = lr_at(state.count)
        c1, c2 = 1 - b1**n, 1 - b2**n
        updates = tree_map(lambda m, v: -step * (m / c1) / (np.sqrt(v / c2) + eps), mu, nu)
        return updates, AdamState(n, mu, nu)

    return Optimizer(init, update)
