#!/usr/bin/env python
"""vmap and the Jacobians of issue 12, against Python loops and (when installed) JAX.

    python benchmarks/vmap.py [--quick]

* per-example gradients of an MLP 20-32-1 at batch 64: ``vmap(grad(loss), in_axes=(None, 0,
  0))`` against a Python loop over ``grad`` and JAX's ``jit(vmap(grad))``;
* ``hessian`` of the n-d Rosenbrock function, n = 10 and 50, against JAX's ``jit(hessian)``;
* ``jacrev`` of a 100 -> 100 function (one compiled call) against 100 calls of the backward
  sweep of ``vjp``, timed as the compiled kernel alone (no Python between the calls).

Every competitor is checked against tracegrad's answer before it is timed, and all are timed
in this process, interleaved (``timing.py``); BLAS and XLA use one thread.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("TRACEGRAD_COMPILE", "sync")
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import format_seconds, interleaved  # noqa: E402

import tracegrad as tg  # noqa: E402

HAVE_JAX = importlib.util.find_spec("jax") is not None


def _jax() -> Any:
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


# =============================================================================================
# Workloads


def mlp_loss(p: dict, x: Any, t: Any) -> Any:
    h = np.tanh(x @ p["W1"] + p["b1"])
    return ((h @ p["W2"] + p["b2"])[0] - t) ** 2


def rosenbrock(x: Any) -> Any:
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def square_map(x: Any) -> Any:
    return np.tanh(np.sin(x) * x.sum()) + x * x[::-1]


def per_example(rng: np.random.Generator) -> dict[str, tuple[Callable, tuple]]:
    params = {
        "W1": rng.normal(size=(20, 32)) * 0.3,
        "b1": np.zeros(32),
        "W2": rng.normal(size=(32, 1)) * 0.3,
        "b2": np.zeros(1),
    }
    X, y = rng.normal(size=(64, 20)), rng.normal(size=64)
    batched = tg.vmap(tg.grad(mlp_loss), in_axes=(None, 0, 0))
    one = tg.grad(mlp_loss)

    def python_loop(p: dict, X: np.ndarray, y: np.ndarray) -> dict:
        grads = [one(p, X[i], y[i]) for i in range(len(X))]
        return {k: np.stack([g[k] for g in grads]) for k in p}

    competitors = {
        "tracegrad vmap": (batched, (params, X, y)),
        "python loop": (python_loop, (params, X, y)),
    }
    if HAVE_JAX:
        jax = _jax()
        jnp = jax.numpy

        def jax_loss(p: dict, x: Any, t: Any) -> Any:
            h = jnp.tanh(x @ p["W1"] + p["b1"])
            return ((h @ p["W2"] + p["b2"])[0] - t) ** 2

        jax_fn = jax.jit(jax.vmap(jax.grad(jax_loss), in_axes=(None, 0, 0)))
        competitors["jax jit(vmap(grad))"] = (
            lambda p, X, y: jax.block_until_ready(jax_fn(p, X, y)),
            ({k: jnp.asarray(v) for k, v in params.items()}, jnp.asarray(X), jnp.asarray(y)),
        )
    return competitors


def hessians(n: int) -> dict[str, tuple[Callable, tuple]]:
    x = np.linspace(-1.2, 1.0, n)
    competitors = {f"tracegrad hessian n={n}": (tg.hessian(rosenbrock), (x,))}
    if HAVE_JAX:
        jax = _jax()
        jnp = jax.numpy

        def jax_rosen(x: Any) -> Any:
            return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

        jax_fn = jax.jit(jax.hessian(jax_rosen))
        competitors[f"jax jit(hessian) n={n}"] = (
            lambda x: jax.block_until_ready(jax_fn(x)),
            (jnp.asarray(x),),
        )
    return competitors


def jacobian_against_vjps(rng: np.random.Generator) -> dict[str, tuple[Callable, tuple]]:
    x = rng.normal(size=100)
    # The backward sweep's compiled kernel, called 100 times from a Python loop with nothing
    # else in it: the "pure kernel time" of 100 vjp calls.
    out, pullback = tg.vjp(square_map, x)
    pullback(np.zeros(100))
    from tracegrad.transforms import _VJP_PLANS

    plan = next(iter(_VJP_PLANS[square_map].values()))
    residuals = plan.forward(plan.signature.select([x]))[1:]
    backward = plan.backward.runner()
    basis = [(residuals + [e],) for e in np.eye(100)]

    def hundred_backward_kernels() -> None:
        for args in basis:
            backward(*args)

    return {
        "tracegrad jacrev 100->100": (tg.jacrev(square_map), (x,)),
        "100 vjp kernel calls": (hundred_backward_kernels, ()),
        "100 vjp_fn calls": (lambda: np.stack([pullback(e)[0] for e in np.eye(100)]), ()),
    }


def check(competitors: dict[str, tuple[Callable, tuple]]) -> None:
    """Every competitor that returns arrays agrees with the first (tracegrad's)."""
    fn, args = next(iter(competitors.values()))
    want = tg.tree.tree_leaves(fn(*args))
    for name, (f, a) in list(competitors.items())[1:]:
        got = f(*a)
        if got is None:  # timed only: the kernel-call loop
            continue
        for g, w in zip(tg.tree.tree_leaves(got), want, strict=True):
            np.testing.assert_allclose(np.asarray(g), w, rtol=1e-8, atol=1e-10, err_msg=name)


def report(title: str, competitors: dict, rounds: int, target: float) -> None:
    check(competitors)
    timings = interleaved(competitors, rounds, target)
    base = next(iter(timings.values())).median
    print(f"\n{title}")
    for name, t in timings.items():
        print(f"  {name:28s} {format_seconds(t.median):>10s}   {t.median / base:6.2f}x tracegrad")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, shorter timings")
    args = parser.parse_args()
    rounds, target = (3, 0.05) if args.quick else (7, 0.2)
    rng = np.random.default_rng(0)
    print(f"JAX: {'installed' if HAVE_JAX else 'not installed (its rows are skipped)'}")
    report("per-example gradients, MLP 20-32-1, batch 64", per_example(rng), rounds, target)
    for n in (10, 50):
        report(f"hessian of {n}-d Rosenbrock", hessians(n), rounds, target)
    report("Jacobian of a 100 -> 100 function", jacobian_against_vjps(rng), rounds, target)


if __name__ == "__main__":
    main()
