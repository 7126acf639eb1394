"""A feedforward network that is not fully connected: local receptive fields on the digits.

Each of 36 hidden units sees only a 3x3 patch of the 8x8 image (a fixed 0/1 connectivity
mask on W1), like the locally connected layers that came before convolutions.  The mask is
applied inside the loss, ``x @ (W1 * mask)``, so its gradient is zero off the mask and the
same ``tg.value_and_grad`` / optimiser loop trains it.  Compared with a dense layer of the
same width, it has far fewer effective weights.

Prints validation accuracies and weight counts; saves examples/out/sparse_mask.png.

    python examples/sparse_architecture.py [--quick]
"""

from __future__ import annotations

from typing import Any

import numpy as np
from _common import digits, progress, pyplot, run, save

import tracegrad as tg
from tracegrad import nn, optim
from tracegrad.data import batches


def local_mask(patch: int = 3, image: int = 8) -> np.ndarray:
    """A (64, n_hidden) 0/1 mask: hidden unit k is connected to one patch x patch window."""
    corners = [(r, c) for r in range(image - patch + 1) for c in range(image - patch + 1)]
    mask = np.zeros((image * image, len(corners)))
    for k, (r, c) in enumerate(corners):
        for dr in range(patch):
            for dc in range(patch):
                mask[(r + dr) * image + (c + dc), k] = 1.0
    return mask


def make_loss(mask: np.ndarray | None) -> Any:
    def loss(params: nn.Params, x: np.ndarray, labels: np.ndarray) -> Any:
        """Softmax cross-entropy of a two-layer net whose first weights are masked."""
        w1 = params[0]["W"] if mask is None else params[0]["W"] * mask
        h = np.tanh(x @ w1 + params[0]["b"])
        return nn.softmax_cross_entropy(h @ params[1]["W"] + params[1]["b"], labels)

    return loss


def predict(params: nn.Params, mask: np.ndarray | None, x: np.ndarray) -> np.ndarray:
    w1 = params[0]["W"] if mask is None else params[0]["W"] * mask
    return np.argmax(np.tanh(x @ w1 + params[0]["b"]) @ params[1]["W"] + params[1]["b"], axis=1)


def train(data: dict, mask: np.ndarray | None, n_hidden: int, epochs: int, seed: int) -> Any:
    rng = np.random.default_rng(seed)
    fan_in = 9 if mask is not None else 64
    params = nn.init_mlp(rng, [64, n_hidden, 10])
    params[0]["W"] = rng.normal(0, 1 / np.sqrt(fan_in), size=(64, n_hidden))
    if mask is not None:
        params[0]["W"] *= mask  # zero off the mask; it gets no gradient, so it stays zero
    loss_and_grad = tg.value_and_grad(make_loss(mask))
    opt = optim.momentum(0.05, m=0.9)
    state = opt.init(params)
    x, y = data["x_train"], data["y_train"]
    for _ in progress(range(epochs), desc="sparse" if mask is not None else "dense"):
        for idx in batches(rng, len(x), 32, drop_last=True):
            _, grads = loss_and_grad(params, x[idx], y[idx])
            updates, state = opt.update(grads, state, params)
            params = optim.apply_updates(params, updates)
    return params


def main(quick: bool = False) -> dict[str, Any]:
    data = digits(np.random.default_rng(0))
    mask = local_mask()
    n_hidden = mask.shape[1]
    epochs = 15 if quick else 60
    results = {}
    for name, m in (("locally connected", mask), ("fully connected", None)):
        params = train(data, m, n_hidden, epochs, seed=1)
        acc = float(np.mean(predict(params, m, data["x_val"]) == data["y_val"]))
        first = int(mask.sum()) if m is not None else 64 * n_hidden
        weights = first + n_hidden + n_hidden * 10 + 10
        results[name] = {"val_acc": acc, "weights": weights, "params": params}
        print(f"{name:18s} {weights:5d} weights   validation accuracy {acc:.3f}")
    off_mask = results["locally connected"]["params"][0]["W"] * (1 - mask)
    print(f"largest weight off the mask after training: {np.max(np.abs(off_mask)):.1g}")
    print(f"{n_hidden} hidden units, each seeing a 3x3 patch of the 8x8 image")

    plt = pyplot()
    fig, axes = plt.subplots(2, 6, figsize=(9, 3.4))
    w = results["locally connected"]["params"][0]["W"] * mask
    for k, ax in enumerate(axes.ravel()):
        unit = [0, 3, 5, 14, 17, 20, 30, 33, 35, 7, 11, 25][k]
        ax.imshow(w[:, unit].reshape(8, 8), cmap="RdBu", vmin=-1.5, vmax=1.5)
        ax.set_title(f"unit {unit}", fontsize=8)
        ax.axis("off")
    fig.suptitle("learned weights of some locally connected hidden units")
    print("saved", save(fig, "sparse_mask.png"))
    return {
        "dense_acc": results["fully connected"]["val_acc"],
        "sparse_acc": results["locally connected"]["val_acc"],
        "sparse_weights": results["locally connected"]["weights"],
        "dense_weights": results["fully connected"]["weights"],
        "off_mask_abs_max": float(np.max(np.abs(off_mask))),
    }


if __name__ == "__main__":
    run(main)
