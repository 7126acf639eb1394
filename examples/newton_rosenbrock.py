"""Newton's method on the Rosenbrock function, with ``tg.hessian``.

The lecture's narrow curved valley defeats plain gradient descent: the step size that is
stable across the valley is tiny along it, so thousands of steps crawl to the minimum at
(1, 1).  Newton's method rescales every step by the inverse curvature,

    x <- x - H(x)^{-1} grad f(x),

and reaches the minimum in a few dozen steps.  Two safeguards make it robust: where the
Hessian is not positive definite a multiple of the identity is added to it (so the step still
goes downhill), and a backtracking line search keeps a step from overshooting.
``tg.hessian`` gives H as one compiled call (the gradient's pullback mapped over the basis);
``tg.value_and_grad`` gives f and its gradient.  The same code then solves the 50-dimensional
Rosenbrock function.

Saves examples/out/newton_rosenbrock.png.

    python examples/newton_rosenbrock.py [--quick]
"""

from __future__ import annotations

from typing import Any

import numpy as np
from _common import pyplot, run, save

import tracegrad as tg


def rosenbrock(x: Any) -> Any:
    """sum over i of 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2; minimum 0 at x = (1, ..., 1)."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


value_and_grad = tg.value_and_grad(rosenbrock)
hessian = tg.hessian(rosenbrock)


def newton(x0: np.ndarray, tol: float = 1e-10, max_steps: int = 100) -> list[np.ndarray]:
    """Damped Newton iterates from ``x0`` until the gradient norm is below ``tol``."""
    path = [np.asarray(x0, dtype=np.float64)]
    for _ in range(max_steps):
        x = path[-1]
        f, g = value_and_grad(x)
        if np.linalg.norm(g) < tol:
            break
        step = np.linalg.solve(_positive_definite(hessian(x)), g)
        t = 1.0
        while value_and_grad(x - t * step)[0] > f - 1e-4 * t * (g @ step) and t > 1e-8:
            t *= 0.5
        path.append(x - t * step)
    return path


def _positive_definite(h: np.ndarray) -> np.ndarray:
    """``h``, or ``h + lam I`` with the smallest ``lam`` (doubling from 1e-3 times the scale
    of ``h``) that makes it positive definite: then the Newton step is a descent direction."""
    lam = 0.0
    while True:
        try:
            np.linalg.cholesky(h + lam * np.eye(len(h)))
            return h + lam * np.eye(len(h))
        except np.linalg.LinAlgError:
            lam = max(2 * lam, 1e-3 * np.abs(h).max())


def gradient_descent(x0: np.ndarray, lr: float, steps: int) -> list[np.ndarray]:
    path = [np.asarray(x0, dtype=np.float64)]
    for _ in range(steps):
        path.append(path[-1] - lr * value_and_grad(path[-1])[1])
    return path


def main(quick: bool = False) -> dict[str, Any]:
    start = np.array([-1.2, 1.0])
    newton_path = newton(start)
    gd_steps = 2000 if quick else 20000
    gd_path = gradient_descent(start, 1e-3, gd_steps)
    result: dict[str, Any] = {
        "newton_steps": len(newton_path) - 1,
        "newton_error": float(np.linalg.norm(newton_path[-1] - 1.0)),
        "gd_steps": gd_steps,
        "gd_error": float(np.linalg.norm(gd_path[-1] - 1.0)),
    }
    print(
        f"2-d, from (-1.2, 1): Newton reaches the minimum to {result['newton_error']:.1e} in "
        f"{result['newton_steps']} steps; gradient descent is still {result['gd_error']:.1e} "
        f"away after {gd_steps} steps"
    )
    x50 = np.zeros(50)
    path50 = newton(x50, max_steps=200)
    result["newton_50d_steps"] = len(path50) - 1
    result["newton_50d_error"] = float(np.linalg.norm(path50[-1] - 1.0))
    print(
        f"50-d, from 0: Newton reaches the minimum to {result['newton_50d_error']:.1e} in "
        f"{result['newton_50d_steps']} steps (each with one 50 x 50 Hessian)"
    )

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    u, v = np.meshgrid(np.linspace(-1.6, 1.6, 300), np.linspace(-0.6, 2.2, 300))
    z = 100.0 * (v - u**2) ** 2 + (1.0 - u) ** 2
    ax.contour(u, v, np.log1p(z), levels=25, cmap="viridis", linewidths=0.7)
    for name, path, style in (("gradient descent", gd_path, "-"), ("Newton", newton_path, "o-")):
        p = np.array(path)
        ax.plot(p[:, 0], p[:, 1], style, ms=4, lw=1.2, label=f"{name} ({len(path) - 1} steps)")
    ax.plot([1.0], [1.0], "r*", ms=12)
    ax.set(xlabel="x", ylabel="y", title="Rosenbrock's valley: Newton with tg.hessian")
    ax.legend(loc="lower right")
    save(fig, "newton_rosenbrock.png")
    return result


if __name__ == "__main__":
    run(main)
