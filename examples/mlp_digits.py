"""A multilayer perceptron on scikit-learn's 8x8 digits, trained the plain way.

SGD with momentum on shuffled mini-batches; validation loss after every epoch; early
stopping keeps the parameters of the best epoch; the hidden-layer size is chosen on the
validation set and only the chosen network is scored on the test set.

Each hidden size is a new set of shapes, so ``value_and_grad`` traces (and, with the Numba
backend, compiles) once per size, and every later step reuses that code: the first-step
and per-step times printed below show the difference.

Saves examples/out/digits_validation_curve.png and digits_hidden_sweep.png.

    python examples/mlp_digits.py [--quick]
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from _common import digits, progress, pyplot, run, save

import tracegrad as tg
from tracegrad import nn, optim
from tracegrad.data import EarlyStopping, batches


def loss(params: nn.Params, x: np.ndarray, labels: np.ndarray) -> Any:
    """Mean softmax cross-entropy of the tanh MLP."""
    return nn.softmax_cross_entropy(nn.mlp(params, x, nn.tanh), labels)


def accuracy(params: nn.Params, x: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of correctly classified rows (plain NumPy: the model is plain NumPy)."""
    return float(np.mean(np.argmax(nn.mlp(params, x, nn.tanh), axis=1) == labels))


def train(
    data: dict[str, np.ndarray],
    hidden: list[int],
    rng: np.random.Generator,
    max_epochs: int,
    patience: int,
    batch_size: int = 32,
    lr: float = 0.05,
) -> dict[str, Any]:
    """Train one MLP with early stopping; return its best parameters, history and timings."""
    x, y = data["x_train"], data["y_train"]
    params = nn.init_mlp(rng, [x.shape[1], *hidden, 10])
    opt = optim.momentum(lr, m=optim.piecewise_constant([0.5, 0.9], [100]))
    state = opt.init(params)
    loss_and_grad = tg.value_and_grad(loss)
    stopper = EarlyStopping(patience=patience)
    history: dict[str, list[float]] = {"train": [], "val": [], "val_acc": []}

    idx = next(batches(rng, len(x), batch_size))
    start = time.perf_counter()
    loss_and_grad(params, x[idx], y[idx])  # the first call traces (and compiles)
    first_call = time.perf_counter() - start

    steps, train_time = 0, 0.0
    for _epoch in progress(range(max_epochs), desc=f"hidden {hidden}"):
        losses = []
        start = time.perf_counter()
        for idx in batches(rng, len(x), batch_size, drop_last=True):
            value, grads = loss_and_grad(params, x[idx], y[idx])
            updates, state = opt.update(grads, state, params)
            params = optim.apply_updates(params, updates)
            losses.append(value)
            steps += 1
        train_time += time.perf_counter() - start
        history["train"].append(float(np.mean(losses)))
        history["val"].append(float(loss(params, data["x_val"], data["y_val"])))
        history["val_acc"].append(accuracy(params, data["x_val"], data["y_val"]))
        if stopper.update(history["val"][-1], params):
            break
    return {
        "params": stopper.best_params,
        "best_epoch": stopper.best_epoch,
        "val_loss": stopper.best_loss,
        "val_acc": history["val_acc"][stopper.best_epoch],
        "history": history,
        "first_call": first_call,
        "steps_per_second": steps / train_time,
    }


def main(quick: bool = False) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    data = digits(rng)
    sizes = [[32], [64]] if quick else [[8], [16], [32], [64], [128], [64, 32]]
    max_epochs, patience = (20, 5) if quick else (100, 10)
    print(
        f"digits: {len(data['x_train'])} train / {len(data['x_val'])} val / "
        f"{len(data['x_test'])} test images of 8x8 pixels"
    )
    print("hidden    best epoch  val loss  val acc  first call  steps/s")
    runs = {}
    for hidden in sizes:
        r = train(data, hidden, rng, max_epochs, patience)
        runs[str(hidden)] = r
        print(
            f"{str(hidden):9s} {r['best_epoch']:10d}  {r['val_loss']:8.4f}  {r['val_acc']:7.3f}"
            f"  {r['first_call'] * 1e3:7.1f} ms  {r['steps_per_second']:7.0f}"
        )
    chosen = min(runs, key=lambda k: runs[k]["val_loss"])
    best = runs[chosen]
    test_acc = accuracy(best["params"], data["x_test"], data["y_test"])
    print(f"chosen on validation: hidden {chosen}; validation accuracy {best['val_acc']:.3f}")
    print(f"test accuracy of the chosen network: {test_acc:.3f}")

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k, (name, r) in enumerate(runs.items()):
        color = f"C{k}"
        ax.plot(r["history"]["train"], color=color, ls="--", lw=1)
        ax.plot(r["history"]["val"], color=color, label=f"hidden {name}")
        ax.plot(r["best_epoch"], r["val_loss"], "o", color=color)
    ax.set(yscale="log", xlabel="epoch", ylabel="cross-entropy (dashed: train, solid: val)")
    ax.set_title("validation curves; dots mark the epoch early stopping kept")
    ax.legend(fontsize=8)
    print("saved", save(fig, "digits_validation_curve.png"))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(list(runs), [r["val_acc"] for r in runs.values()], color="C0")
    ax.set(ylim=(0.8, 1.0), ylabel="validation accuracy", xlabel="hidden layer sizes")
    print("saved", save(fig, "digits_hidden_sweep.png"))
    return {
        "runs": runs,
        "chosen": chosen,
        "val_acc": best["val_acc"],
        "test_acc": test_acc,
    }


if __name__ == "__main__":
    run(main)
