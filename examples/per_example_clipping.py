"""Per-example gradient clipping (DP-SGD style) on the 8x8 digits MLP, with ``tg.vmap``.

Differentially private SGD bounds how much any one training example can move the model:
each example's gradient is clipped to norm at most C, the clipped gradients are averaged,
and Gaussian noise of scale sigma C / batch is added before the step.  That needs one
gradient per example, not the batch mean that ``grad`` of the mean loss gives.

``tg.vmap(tg.grad(loss_one), in_axes=(None, 0, 0))`` computes them all in one compiled loop
over the batch; the whole step (per-example gradients, clipping, averaging, noise, the SGD
update) is one ``tg.jit`` call.  The noise is drawn outside, in NumPy, and passed in, so the
compiled step stays a pure function.  Printed: the accuracy of plain SGD and of DP-SGD, and
the time of one step against a Python loop over ``grad``.

Saves examples/out/per_example_clipping.png.

    python examples/per_example_clipping.py [--quick]
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from _common import digits, progress, pyplot, run, save

import tracegrad as tg
from tracegrad import nn

CLIP = 1.0  # C: the largest norm an example's gradient may have
NOISE = 0.6  # sigma: noise scale, in units of C


def loss_one(params: nn.Params, x: np.ndarray, label: np.ndarray) -> Any:
    """Cross-entropy of one example (x: (64,), label: an integer)."""
    logp = nn.log_softmax(nn.mlp(params, x, nn.tanh))
    return -logp[label]


def mean_loss(params: nn.Params, x: np.ndarray, labels: np.ndarray) -> Any:
    return nn.softmax_cross_entropy(nn.mlp(params, x, nn.tanh), labels)


per_example_grads = tg.vmap(tg.grad(loss_one), in_axes=(None, 0, 0))


def clipped_mean(grads: nn.Params) -> nn.Params:
    """Scale each example's gradient to norm <= CLIP (its norm over every parameter), then
    average over the batch."""
    leaves = tg.tree.tree_leaves(grads)
    batch = leaves[0].shape[0]
    squared = sum(np.sum(g.reshape(batch, -1) ** 2, axis=1) for g in leaves)
    scale = 1.0 / np.maximum(1.0, np.sqrt(squared) / CLIP)
    return tg.tree.tree_map(lambda g: np.tensordot(scale, g, axes=1) / batch, grads)


@tg.jit
def dp_step(params: nn.Params, x: np.ndarray, labels: np.ndarray, noise: nn.Params, lr: Any):
    clipped = clipped_mean(per_example_grads(params, x, labels))
    batch = x.shape[0]
    return tg.tree.tree_map(
        lambda p, g, z: p - lr * (g + NOISE * CLIP / batch * z), params, clipped, noise
    )


@tg.jit
def sgd_step(params: nn.Params, x: np.ndarray, labels: np.ndarray, lr: Any):
    grads = tg.grad(mean_loss)(params, x, labels)
    return tg.tree.tree_map(lambda p, g: p - lr * g, params, grads)


def accuracy(params: nn.Params, x: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(nn.mlp(params, x, nn.tanh), axis=1) == labels))


grad_one = tg.grad(loss_one)


def python_loop_grads(params: nn.Params, x: np.ndarray, labels: np.ndarray) -> list:
    return [grad_one(params, x[i], labels[i]) for i in range(len(x))]


def time_per_call(fn: Any, *args: Any, repeat: int = 20) -> float:
    fn(*args)
    tg.block_until_compiled()  # time compiled code, not the interpreter that answers first
    fn(*args)
    start = time.perf_counter()
    for _ in range(repeat):
        fn(*args)
    return (time.perf_counter() - start) / repeat


def train(data: dict, private: bool, epochs: int, rng: np.random.Generator) -> dict[str, Any]:
    x, y = data["x_train"], data["y_train"]
    params = nn.init_mlp(np.random.default_rng(0), [64, 32, 10])
    lr, batch = np.float64(0.5 if private else 0.2), 64
    curve = []
    for _ in progress(range(epochs), desc="DP-SGD" if private else "SGD"):
        order = rng.permutation(len(x))
        for start in range(0, len(x) - batch + 1, batch):
            idx = order[start : start + batch]
            if private:
                noise = tg.tree.tree_map(lambda p: rng.normal(size=p.shape), params)
                params = dp_step(params, x[idx], y[idx], noise, lr)
            else:
                params = sgd_step(params, x[idx], y[idx], lr)
        curve.append(accuracy(params, data["x_val"], data["y_val"]))
    return {"params": params, "val_curve": curve}


def main(quick: bool = False) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    data = digits(rng)
    epochs = 8 if quick else 30
    runs = {name: train(data, name == "DP-SGD", epochs, rng) for name in ("SGD", "DP-SGD")}
    result: dict[str, Any] = {"epochs": epochs}
    for name, r in runs.items():
        result[name] = accuracy(r["params"], data["x_test"], data["y_test"])
        print(f"{name:7s} test accuracy {result[name]:.3f}")

    # Per-example gradients for one batch: vmap against a Python loop over grad.
    params, x, y = runs["SGD"]["params"], data["x_train"][:64], data["y_train"][:64]
    batched = per_example_grads(params, x, y)
    looped = python_loop_grads(params, x, y)
    result["max_difference"] = max(
        float(np.max(np.abs(batched[k][key][i] - looped[i][k][key])))
        for i in range(64)
        for k in range(len(params))
        for key in ("W", "b")
    )
    t_vmap = time_per_call(per_example_grads, params, x, y)
    t_loop = time_per_call(python_loop_grads, params, x, y, repeat=5)
    result["speedup"] = t_loop / t_vmap
    print(
        f"per-example gradients of a batch of 64: vmap {t_vmap * 1e6:.0f} us, Python loop "
        f"{t_loop * 1e6:.0f} us ({result['speedup']:.1f}x); they agree to "
        f"{result['max_difference']:.1e}"
    )

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, r in runs.items():
        ax.plot(range(1, epochs + 1), r["val_curve"], marker="o", label=name)
    ax.set(xlabel="epoch", ylabel="validation accuracy", title="Clipped, noisy per-example steps")
    ax.legend()
    save(fig, "per_example_clipping.png")
    return result


if __name__ == "__main__":
    run(main)
