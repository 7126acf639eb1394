"""Universal approximation: one hidden layer fits a 1-D function better as it widens.

A network x -> tanh(x W1 + b1) W2 + b2 with enough hidden units can approximate any
continuous function on an interval as closely as we like (Cybenko 1989, Hornik 1991).
This fits f(x) = sin(3x) + 0.3 x^2 - |x| on [-2, 2] with growing widths, and compares a
deep narrow network with about as many parameters as the widest shallow one.

Prints the mean squared error of each fit and saves examples/out/universal_approximation.png.

    python examples/universal_approximation.py [--quick]
"""

from __future__ import annotations

from typing import Any

import numpy as np
from _common import progress, pyplot, run, save

import tracegrad as tg
from tracegrad import nn, optim


def target(x: np.ndarray) -> np.ndarray:
    """The function to approximate: smooth parts and a kink at 0."""
    return np.sin(3 * x) + 0.3 * x**2 - np.abs(x)


def loss(params: nn.Params, x: np.ndarray, y: np.ndarray) -> Any:
    """Mean squared error of the tanh network."""
    return nn.mse(nn.mlp(params, x, nn.tanh), y)


def fit(sizes: list[int], x: np.ndarray, y: np.ndarray, steps: int, seed: int) -> nn.Params:
    """Full-batch Adam on the squared error."""
    params = nn.init_mlp(np.random.default_rng(seed), sizes)
    opt = optim.adam(optim.cosine_decay(0.02, steps, final=1e-3))
    state = opt.init(params)
    grad_loss = tg.grad(loss)
    for _ in progress(range(steps), desc=str(sizes)):
        updates, state = opt.update(grad_loss(params, x, y), state, params)
        params = optim.apply_updates(params, updates)
    return params


def count(params: nn.Params) -> int:
    return sum(layer["W"].size + layer["b"].size for layer in params)


def main(quick: bool = False) -> dict[str, Any]:
    x = np.linspace(-2, 2, 200)[:, None]
    y = target(x)
    widths = [1, 4, 16] if quick else [1, 2, 4, 8, 16, 32]
    steps = 800 if quick else 2500
    architectures = [[1, w, 1] for w in widths] + [[1, 6, 6, 6, 1]]
    print(f"fitting f(x) = sin(3x) + 0.3x^2 - |x| on [-2, 2], {steps} Adam steps each")
    errors, fits = {}, {}
    for sizes in architectures:
        params = fit(sizes, x, y, steps, seed=1)
        name = "-".join(map(str, sizes))
        errors[name] = float(loss(params, x, y))
        fits[name] = nn.mlp(params, x)
        print(f"  {name:12s} {count(params):4d} parameters   MSE {errors[name]:.2e}")

    deep, wide = "1-6-6-6-1", f"1-{widths[-1]}-1"
    better = "better" if errors[deep] < errors[wide] else "worse"
    print(f"the deep narrow net fits {better} than the widest shallow one ({wide})")

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(x, y, "k", lw=3, alpha=0.3, label="target")
    for name, pred in fits.items():
        ax.plot(x, pred, lw=1, label=f"{name} (MSE {errors[name]:.1e})")
    ax.legend(fontsize=7)
    ax.set(title="one hidden layer of growing width, and a deep narrow net", xlabel="x")
    print("saved", save(fig, "universal_approximation.png"))
    return {"errors": errors, "widths": widths}


if __name__ == "__main__":
    run(main)
