"""Rosenblatt's perceptron (1957) versus a logistic unit trained by gradient descent.

Rosenblatt's rule changes the weights only on mistakes, w <- w + lr (y - step(w.x)) x, and
stops after finitely many updates when the classes are linearly separable.  A logistic unit
s(w.x + b) trained on the cross-entropy with ``tg.grad`` always has a gradient, so it also
learns from correctly classified points.  Neither can represent XOR; one hidden layer can.

Prints the accuracies and saves decision boundaries to examples/out/perceptron.png.

    python examples/perceptron.py [--quick]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from _common import progress, pyplot, run, save

import tracegrad as tg
from tracegrad import nn, optim


def separable_data(rng: np.random.Generator, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian blobs on either side of a line, with a margin."""
    y = rng.integers(0, 2, size=n)
    centres = np.array([[-1.0, -0.5], [1.0, 0.8]])
    x = centres[y] + 0.45 * rng.normal(size=(n, 2))
    w = centres[1] - centres[0]  # drop points too near the mid-line so a margin exists
    margin = (x - centres.mean(axis=0)) @ w / np.linalg.norm(w)
    keep = np.abs(margin) > 0.2
    return x[keep], y[keep].astype(float)


def xor_data(rng: np.random.Generator, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Four clusters at the corners of a square; opposite corners share a class."""
    corners = rng.integers(0, 2, size=(n, 2))
    x = (2.0 * corners - 1.0) + 0.25 * rng.normal(size=(n, 2))
    return x, (corners[:, 0] ^ corners[:, 1]).astype(float)


# =============================================================================================
# Rosenblatt's rule (plain NumPy: the rule is not a gradient)


def rosenblatt(
    x: np.ndarray, y: np.ndarray, epochs: int, lr: float = 0.1
) -> tuple[np.ndarray, int | None]:
    """Weights (bias last) and the epoch after which no point was misclassified (or None)."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(3)
    for epoch in range(1, epochs + 1):
        mistakes = 0
        for xi, yi in zip(xb, y, strict=True):
            predicted = float(xi @ w > 0)
            if predicted != yi:
                w += lr * (yi - predicted) * xi
                mistakes += 1
        if mistakes == 0:
            return w, epoch
    return w, None


# =============================================================================================
# Gradient-trained models


def logistic_loss(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> Any:
    """Cross-entropy of a single logistic unit s(x w + b)."""
    return nn.binary_cross_entropy(x @ params["w"] + params["b"], y)


def hidden_layer_loss(params: list[dict[str, np.ndarray]], x: np.ndarray, y: np.ndarray) -> Any:
    """Cross-entropy of a 2-8-1 tanh network."""
    return nn.binary_cross_entropy(nn.mlp(params, x)[:, 0], y)


def train(loss: Callable, params: Any, x: np.ndarray, y: np.ndarray, steps: int, label: str) -> Any:
    """Full-batch gradient descent with momentum."""
    grad_loss = tg.grad(loss)
    opt = optim.momentum(0.5, m=0.9)
    state = opt.init(params)
    for _ in progress(range(steps), desc=label):
        updates, state = opt.update(grad_loss(params, x, y), state, params)
        params = optim.apply_updates(params, updates)
    return params


def accuracy(scores: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((scores > 0) == (y > 0.5)))


def main(quick: bool = False) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    steps = 150 if quick else 1000
    datasets = {"linearly separable": separable_data(rng), "XOR": xor_data(rng)}
    results: dict[str, Any] = {}
    models: dict[tuple[str, str], Callable[[np.ndarray], np.ndarray]] = {}
    for name, (x, y) in datasets.items():
        w, epochs = rosenblatt(x, y, epochs=100)
        models[name, "Rosenblatt perceptron"] = lambda g, w=w: g @ w[:2] + w[2]
        lin = train(logistic_loss, {"w": np.zeros(2), "b": np.zeros(())}, x, y, steps, name)
        models[name, "logistic unit (tg.grad)"] = lambda g, p=lin: g @ p["w"] + p["b"]
        hidden = train(hidden_layer_loss, nn.init_mlp(rng, [2, 8, 1]), x, y, steps, name)
        models[name, "one hidden layer (tg.grad)"] = lambda g, p=hidden: nn.mlp(p, g)[:, 0]
        print(f"{name} data ({len(x)} points):")
        converged = f"converged after {epochs} epochs" if epochs else "did not converge in 100"
        for (data, model), predict in models.items():
            if data != name:
                continue
            acc = accuracy(predict(x), y)
            results[name, model] = acc
            extra = f"  ({converged})" if model.startswith("Rosenblatt") else ""
            print(f"  {model:28s} accuracy {acc:.3f}{extra}")
        results[name, "rosenblatt epochs"] = epochs
    print("(a straight line gets at most 3 of XOR's 4 clusters right; a hidden layer is needed)")

    plt = pyplot()
    fig, axes = plt.subplots(2, 3, figsize=(12, 7.5), sharex=True, sharey=True)
    gx, gy = np.meshgrid(np.linspace(-2.6, 2.6, 200), np.linspace(-2.6, 2.6, 200))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    for ax, ((name, model), predict) in zip(axes.ravel(), models.items(), strict=True):
        x, y = datasets[name]
        z = predict(grid).reshape(gx.shape)
        ax.contourf(gx, gy, z > 0, levels=[-0.5, 0.5, 1.5], colors=["#cde", "#fdc"])
        ax.contour(gx, gy, z, levels=[0.0], colors="k", linewidths=1)
        ax.scatter(x[:, 0], x[:, 1], c=y, cmap="coolwarm", s=10, edgecolors="none")
        ax.set_title(f"{model}\n{name}: accuracy {results[name, model]:.2f}", fontsize=9)
    print("saved", save(fig, "perceptron.png"))
    return results


if __name__ == "__main__":
    run(main)
