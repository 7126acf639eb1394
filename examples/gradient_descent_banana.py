"""Gradient descent versus momentum in the Rosenbrock "banana" valley.

F(x, y) = (1 - x)^2 + 100 (y - x^2)^2 has its minimum at (1, 1) at the bottom of a long,
narrow, curved valley.  Plain gradient descent needs a step small enough for the steep
walls (lr < 2 / 1000 here), and then crawls along the flat floor.  Momentum,
x_{n+1} = x_n - D_n with D_n = lr grad F(x_n) + m D_{n-1}, accumulates speed along the
floor while the oscillations across the valley cancel.

Prints the iterations each method needs to get within 1e-3 of the minimum and saves the
trajectories over a contour plot to examples/out/banana.png.

    python examples/gradient_descent_banana.py [--quick]
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from _common import progress, pyplot, run, save

import tracegrad as tg
from tracegrad import optim

START = np.array([-1.2, 1.0])
MINIMUM = np.array([1.0, 1.0])
TOL = 1e-3


def rosenbrock(p: np.ndarray) -> Any:
    """The banana function of a 2-vector."""
    return (1.0 - p[0]) ** 2 + 100.0 * (p[1] - p[0] ** 2) ** 2


grad_rosenbrock = tg.grad(rosenbrock)  # one transformed function: traced (compiled) once


def descend(opt: optim.Optimizer, max_iter: int, label: str) -> tuple[np.ndarray, int | None]:
    """Run ``opt`` from START; return the path and the iteration count (None: no convergence)."""
    p = START.copy()
    state = opt.init(p)
    path = [p]
    for n in progress(range(1, max_iter + 1), desc=label):
        updates, state = opt.update(grad_rosenbrock(p), state, p)
        p = optim.apply_updates(p, updates)
        path.append(p)
        if np.linalg.norm(p - MINIMUM) < TOL:
            return np.array(path), n
        if not np.all(np.isfinite(p)):
            break
    return np.array(path), None


def main(quick: bool = False) -> dict[str, Any]:
    max_iter = 3000 if quick else 25000
    lr = 1e-3
    methods = {
        "gradient descent": optim.sgd(lr),
        "momentum m=0.9": optim.momentum(lr, m=0.9),
        "momentum m=0.5 then 0.9": optim.momentum(
            lr, m=optim.piecewise_constant([0.5, 0.9], [100])
        ),
    }
    if not quick:
        methods["nesterov m=0.9"] = optim.nesterov(lr, m=0.9)

    print(f"Rosenbrock from {tuple(START.tolist())}, lr={lr}, stop when |x - (1,1)| < {TOL}")
    paths, iterations = {}, {}
    for label, opt in methods.items():
        start = time.perf_counter()
        path, n = descend(opt, max_iter, label)
        paths[label], iterations[label] = path, n
        seconds = time.perf_counter() - start
        where = np.array2string(path[-1], precision=5)
        result = f"{n:6d} iterations" if n else f"not converged in {max_iter}"
        print(f"  {label:26s} {result}  (ends at {where}, {seconds:.1f} s)")

    gd, mom = iterations["gradient descent"], iterations["momentum m=0.9"]
    if mom is not None:
        ratio = f"{gd / mom:.1f}x fewer" if gd else f"more than {max_iter / mom:.1f}x fewer"
        print(f"momentum needs {ratio} iterations than plain gradient descent")

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 5))
    xs, ys = np.meshgrid(np.linspace(-1.6, 1.6, 300), np.linspace(-0.6, 1.8, 300))
    zs = (1 - xs) ** 2 + 100 * (ys - xs**2) ** 2
    ax.contour(xs, ys, zs, levels=np.logspace(-2, 3, 18), cmap="viridis", linewidths=0.7)
    for k, (label, path) in enumerate(paths.items()):
        n = iterations[label]
        style = {"lw": 4, "alpha": 0.4} if k == 0 else {"lw": 1.2}
        ax.plot(path[:, 0], path[:, 1], label=f"{label} ({n or '>' + str(max_iter)})", **style)
    ax.plot(*START, "ko")
    ax.plot(*MINIMUM, "r*", ms=12)
    ax.set(title="Rosenbrock: iterations to reach the minimum", xlabel="x", ylabel="y")
    ax.legend(fontsize=8)
    print("saved", save(fig, "banana.png"))
    return {"iterations": iterations, "max_iter": max_iter, "paths": paths}


if __name__ == "__main__":
    run(main)
