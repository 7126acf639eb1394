"""tracegrad's flagship demo: train an MLP on the digits with plain NumPy code.

1. The loss is ordinary NumPy; ``tg.value_and_grad(loss)`` gives value and gradients.
2. Trains a 64-64-10 tanh MLP with momentum SGD on shuffled mini-batches; reports the
   validation accuracy, the time to the first gradient (trace + compile), steps per second,
   and the speed-up over the same loop with backpropagation written by hand in NumPy.
3. Prints the IR of a small MLP loss and of its gradient.
4. Checks the gradients of the examples' models against finite differences.

All numbers are measured on this run.  ``make demo`` runs this file.

    python examples/demo.py [--quick]
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
from _common import digits, progress, run

import tracegrad as tg
from tracegrad import nn, optim
from tracegrad.data import batches
from tracegrad.testing import check_grads

DTYPE = np.float32
HIDDEN = 64
BATCH = 32
LEARNING_RATE = 0.05
MOMENTUM = optim.piecewise_constant([0.5, 0.9], [100])  # the course's schedule


def loss(params: nn.Params, x: np.ndarray, labels: np.ndarray) -> Any:
    """Mean softmax cross-entropy of a tanh MLP: the whole model, in NumPy."""
    return nn.softmax_cross_entropy(nn.mlp(params, x, nn.tanh), labels)


def hand_value_and_grad(
    params: nn.Params, x: np.ndarray, labels: np.ndarray
) -> tuple[float, nn.Params]:
    """The same loss and its gradient with backpropagation written out by hand in NumPy."""
    hs = [x]
    for layer in params[:-1]:
        hs.append(np.tanh(hs[-1] @ layer["W"] + layer["b"]))
    logits = hs[-1] @ params[-1]["W"] + params[-1]["b"]
    shifted = logits - logits.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = len(x)
    rows = np.arange(n)
    value = -logp[rows, labels].mean()
    delta = np.exp(logp)  # dL/dlogits = (softmax - onehot) / n
    delta[rows, labels] -= 1.0
    delta /= n
    grads: list[dict[str, np.ndarray]] = [{} for _ in params]
    for i in range(len(params) - 1, -1, -1):
        grads[i] = {"W": hs[i].T @ delta, "b": delta.sum(axis=0)}
        if i > 0:
            delta = (delta @ params[i]["W"].T) * (1.0 - hs[i] ** 2)
    return value, grads


def backend_name() -> str:
    if os.environ.get("TRACEGRAD_BACKEND", "numba") != "numba":
        return "NumPy reference interpreter (TRACEGRAD_BACKEND)"
    try:
        import tracegrad.backend.compiler  # noqa: F401
    except ImportError:
        return "NumPy reference interpreter (the Numba backend is not installed yet)"
    return "Numba"


def train(
    value_and_grad: Any, data: dict[str, np.ndarray], epochs: int, label: str
) -> dict[str, Any]:
    """The plain training loop; identical for tracegrad and the hand-written baseline."""
    rng = np.random.default_rng(1)
    params = nn.init_mlp(rng, [64, HIDDEN, 10], dtype=DTYPE)
    opt = optim.momentum(LEARNING_RATE, m=MOMENTUM)
    state = opt.init(params)
    x, y = data["x_train"], data["y_train"]

    steps, start = 0, time.perf_counter()
    for _ in progress(range(epochs), desc=label):
        for idx in batches(rng, len(x), BATCH, drop_last=True):
            value, grads = value_and_grad(params, x[idx], y[idx])
            updates, state = opt.update(grads, state, params)
            params = optim.apply_updates(params, updates)
            steps += 1
    seconds = time.perf_counter() - start
    predicted = np.argmax(nn.mlp(params, data["x_val"]), axis=1)
    return {
        "params": params,
        "steps_per_second": steps / seconds,
        "val_acc": float(np.mean(predicted == data["y_val"])),
        "steps": steps,
    }


def compiled_step(
    params: nn.Params, velocity: nn.Params, x: np.ndarray, labels: np.ndarray, mass: Any
) -> tuple[nn.Params, nn.Params]:
    """One whole training step (gradient, momentum update, apply), for ``tg.jit``.

    ``mass`` is this step's momentum as a 0-d array, so it is an input of the compiled
    step, not a constant baked into it: one compile serves every value of the schedule.
    """
    grads = tg.grad(loss)(params, x, labels)
    opt = optim.momentum(LEARNING_RATE, m=lambda step: mass)
    updates, state = opt.update(grads, optim.MomentumState(0, velocity), params)
    return optim.apply_updates(params, updates), state.velocity


def train_compiled(data: dict[str, np.ndarray], epochs: int) -> dict[str, Any]:
    """The loop of ``train`` with the whole step as one compiled call (same batches)."""
    rng = np.random.default_rng(1)
    params = nn.init_mlp(rng, [64, HIDDEN, 10], dtype=DTYPE)
    velocity = optim.momentum(LEARNING_RATE).init(params).velocity
    x, y = data["x_train"], data["y_train"]
    step = tg.jit(compiled_step)
    step(params, velocity, x[:BATCH], y[:BATCH], np.asarray(MOMENTUM(0), DTYPE))  # compile

    steps, start = 0, time.perf_counter()
    for _ in progress(range(epochs), desc="tracegrad, jit(step)"):
        for idx in batches(rng, len(x), BATCH, drop_last=True):
            mass = np.asarray(MOMENTUM(steps), DTYPE)
            params, velocity = step(params, velocity, x[idx], y[idx], mass)
            steps += 1
    seconds = time.perf_counter() - start
    predicted = np.argmax(nn.mlp(params, data["x_val"]), axis=1)
    return {
        "steps_per_second": steps / seconds,
        "val_acc": float(np.mean(predicted == data["y_val"])),
        "steps": steps,
    }


def check_models() -> list[str]:
    """Finite-difference checks of the gradients of the examples' models (float64)."""
    rng = np.random.default_rng(2)
    x, labels = rng.normal(size=(6, 5)), rng.integers(0, 3, size=6)
    mlp = nn.init_mlp(rng, [5, 4, 3])
    ae = {"encoder": nn.init_mlp(rng, [5, 3, 2]), "decoder": nn.init_mlp(rng, [2, 3, 5])}
    y01 = rng.integers(0, 2, size=6).astype(float)

    def autoencoder(p: Any, x: np.ndarray) -> Any:
        code = nn.mlp(p["encoder"], x)
        return nn.mse(nn.sigmoid(nn.mlp(p["decoder"], code)), x)

    def rosenbrock(p: np.ndarray) -> Any:
        return (1.0 - p[0]) ** 2 + 100.0 * (p[1] - p[0] ** 2) ** 2

    def masked(p: Any, x: np.ndarray, labels: np.ndarray) -> Any:
        mask = np.tril(np.ones((5, 4)))
        h = np.tanh(x @ (p[0]["W"] * mask) + p[0]["b"])
        return nn.softmax_cross_entropy(h @ p[1]["W"] + p[1]["b"], labels)

    def relu_mlp(p: Any, x: np.ndarray, labels: np.ndarray) -> Any:
        return nn.softmax_cross_entropy(nn.mlp(p, x, nn.relu), labels)

    def logistic(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> Any:
        return nn.binary_cross_entropy(x @ w, y)

    cases = [
        ("MLP, softmax cross-entropy (digits, demo)", loss, (mlp, x, labels)),
        ("MLP, ReLU", relu_mlp, (mlp, x, labels)),
        ("logistic unit (perceptron)", logistic, (rng.normal(size=5), x, y01)),
        ("Rosenbrock (banana)", rosenbrock, (np.array([-1.2, 1.0]),)),
        ("autoencoder", autoencoder, (ae, x)),
        ("masked (sparse) network", masked, (mlp, x, labels)),
    ]
    passed = []
    for name, f, args in cases:
        check_grads(f, args, argnums=0, order=1)
        passed.append(name)
    return passed


def main(quick: bool = False) -> dict[str, Any]:
    data = digits(np.random.default_rng(0), dtype=DTYPE)
    epochs = 4 if quick else 20
    print(f"backend: {backend_name()}")
    print(
        f"task: 8x8 digits, {len(data['x_train'])} training images; MLP 64-{HIDDEN}-10 (tanh), "
        f"{np.dtype(DTYPE).name}, batch {BATCH}, momentum SGD, {epochs} epochs"
    )

    # The first call traces and compiles; then the gradients are compared with the
    # hand-written backpropagation before anything is timed.
    params = nn.init_mlp(np.random.default_rng(1), [64, HIDDEN, 10], dtype=DTYPE)
    xb, yb = data["x_train"][:BATCH], data["y_train"][:BATCH]
    loss_and_grad = tg.value_and_grad(loss)
    start = time.perf_counter()
    _, g_tg = loss_and_grad(params, xb, yb)
    first_call = time.perf_counter() - start
    _, g_hand = hand_value_and_grad(params, xb, yb)
    gap = max(
        float(np.max(np.abs(a - b)))
        for a, b in zip(tg.tree.tree_leaves(g_tg), tg.tree.tree_leaves(g_hand), strict=True)
    )
    print(f"tracegrad vs hand-written gradients: max |difference| = {gap:.1e}")

    ours = train(loss_and_grad, data, epochs, "tracegrad")
    hand = train(hand_value_and_grad, data, epochs, "NumPy by hand")
    whole = train_compiled(data, epochs)
    speedup = ours["steps_per_second"] / hand["steps_per_second"]
    step_speedup = whole["steps_per_second"] / hand["steps_per_second"]
    print(f"validation accuracy:     {ours['val_acc']:.3f}  (hand-written: {hand['val_acc']:.3f})")
    print(f"time to first gradient:  {first_call * 1e3:.0f} ms (trace + compile)")
    print(
        f"training steps/s:        {ours['steps_per_second']:.0f}  vs  "
        f"{hand['steps_per_second']:.0f} for hand-written NumPy backprop  "
        f"(speed-up {speedup:.2f}x, {ours['steps']} steps each)"
    )
    print(
        f"whole step in tg.jit:    {whole['steps_per_second']:.0f} steps/s (speed-up "
        f"{step_speedup:.2f}x; gradient, momentum update and apply as one compiled call; "
        f"validation accuracy {whole['val_acc']:.3f})"
    )
    if "interpreter" in backend_name():
        print(
            "  (the reference interpreter runs each IR equation as one NumPy call: it is the "
            "correctness baseline, not the fast path)"
        )

    small = nn.init_mlp(np.random.default_rng(3), [4, 3, 2])
    xs, ys = np.ones((2, 4)), np.array([0, 1])
    print("\nIR of the loss of a 4-3-2 MLP on a batch of 2:")
    print(tg.make_ir(loss)(small, xs, ys))
    print("IR of its gradient (forward, then the adjoint, as one program):")
    print(tg.make_ir(tg.grad(loss))(small, xs, ys))

    print("\ngradients vs central finite differences (tracegrad.testing.check_grads):")
    passed = check_models()
    for name in passed:
        print(f"  ok  {name}")
    return {
        "val_acc": ours["val_acc"],
        "hand_val_acc": hand["val_acc"],
        "first_call": first_call,
        "steps_per_second": ours["steps_per_second"],
        "speedup": speedup,
        "step_speedup": step_speedup,
        "step_val_acc": whole["val_acc"],
        "grad_gap": gap,
        "checked": passed,
    }


if __name__ == "__main__":
    run(main)
