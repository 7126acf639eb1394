"""A recurrent network written with ``tg.scan``: predict the next value of noisy waves.

An Elman RNN, h_t = tanh(h_{t-1} W + x_t U + b), y_t = h_t V + c, reads a sequence one value
at a time and predicts the next one.  The recurrence is a ``tg.scan`` instead of a Python
loop, so the traced program (and the compiled code) has one loop body whatever the sequence
length, and its gradient is a second loop running backwards over the stored residuals.
A whole training epoch is then itself one ``scan`` over the mini-batches, with the SGD
update inside the loop body: one call per epoch, compiled as one function in which the
sequence loops (forward and backward) are native loops nested in the loop over batches.

Prints the losses and saves the loss curve and a prediction to examples/out/rnn_scan.png.

    python examples/rnn_scan.py [--quick]
"""

from __future__ import annotations

from typing import Any

import numpy as np
from _common import progress, pyplot, run, save

import tracegrad as tg

HIDDEN = 16


def waves(rng: np.random.Generator, n: int, length: int) -> np.ndarray:
    """``n`` noisy sine waves of random frequency and phase, shape (length + 1, n, 1)."""
    t = np.arange(length + 1)[:, None]
    freq = rng.uniform(0.1, 0.3, size=n)
    phase = rng.uniform(0, 2 * np.pi, size=n)
    x = np.sin(freq * t + phase) + 0.05 * rng.normal(size=(length + 1, n))
    return x[..., None]


def init_params(rng: np.random.Generator) -> dict[str, np.ndarray]:
    scale = 1 / np.sqrt(HIDDEN)
    return {
        "W": rng.normal(scale=scale, size=(HIDDEN, HIDDEN)),
        "U": rng.normal(scale=1.0, size=(1, HIDDEN)),
        "b": np.zeros(HIDDEN),
        "V": rng.normal(scale=scale, size=(HIDDEN, 1)),
        "c": np.zeros(1),
    }


def predict(params: dict[str, Any], xs: Any) -> Any:
    """Predictions for xs[1:], from xs[:-1]: one scan step per time step, the batch inside."""

    def step(h: Any, x: Any) -> tuple[Any, Any]:
        h = np.tanh(h @ params["W"] + x @ params["U"] + params["b"])
        return h, h @ params["V"] + params["c"]

    h0 = np.zeros((xs.shape[1], HIDDEN))
    _, ys = tg.scan(step, h0, xs[:-1])
    return ys


def loss(params: dict[str, Any], xs: Any) -> Any:
    return np.mean((predict(params, xs) - xs[1:]) ** 2)


def sgd_epoch(params: dict[str, Any], batches: Any, lr: float) -> tuple[dict[str, Any], Any]:
    """One epoch as one scan over the mini-batches, the SGD update inside the loop body."""

    def step(p: dict[str, Any], xs: Any) -> tuple[dict[str, Any], Any]:
        value, grads = tg.value_and_grad(loss)(p, xs)
        return tg.tree.tree_map(lambda w, g: w - lr * g, p, grads), value

    return tg.scan(step, params, batches)


def main(quick: bool = False) -> dict[str, float]:
    rng = np.random.default_rng(0)
    length, n_batches, batch = (30, 4, 8) if quick else (60, 16, 16)
    epochs = 15 if quick else 60
    data = waves(rng, n_batches * batch, length)
    batches = np.stack(np.split(data, n_batches, axis=1))  # (n_batches, length + 1, batch, 1)
    test = waves(rng, 64, length)
    params = init_params(rng)

    epoch = tg.jit(sgd_epoch)
    test_loss = tg.jit(loss)
    first = float(test_loss(params, test))
    curve = []
    for _ in progress(range(epochs), desc="epochs"):
        params, losses = epoch(params, batches, 0.1)
        curve.append(float(np.mean(losses)))
    final = float(test_loss(params, test))
    print(f"test loss: {first:.4f} before training, {final:.4f} after {epochs} epochs")

    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    left.plot(curve)
    left.set(xlabel="epoch", ylabel="training loss", yscale="log", title="RNN trained with scan")
    right.plot(test[1:, 0, 0], label="next value")
    right.plot(np.asarray(predict(params, test))[:, 0, 0], label="prediction")
    right.set(xlabel="t", title="a test sequence")
    right.legend()
    save(fig, "rnn_scan.png")
    return {"before": first, "after": final}


if __name__ == "__main__":
    run(main)
