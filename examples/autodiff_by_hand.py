"""Reverse-mode differentiation, looked at from the inside.

1. The exp chain f(x) = exp(exp(exp(x))): the forward IR tracegrad records, and the adjoint
   IR that ``tg.grad`` builds from it (``tg.make_ir(tg.grad(f))``).
2. Sizes as the chain grows: the adjoint program grows linearly with the chain, while the
   derivative written out as a formula (chain rule applied symbolically, no shared
   subexpressions) grows quadratically.  SymPy's count is added when SymPy is installed.
3. One MLP's backpropagation by hand (the deltas of the lecture) next to tracegrad's
   adjoint program: the same numbers.

    python examples/autodiff_by_hand.py [--quick]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from _common import pyplot, run, save

import tracegrad as tg
from tracegrad import nn


def exp_chain(n: int) -> Any:
    """The function x -> exp(exp(...exp(x)...)) with n exps."""

    def f(x: Any) -> Any:
        for _ in range(n):
            x = np.exp(x)
        return x

    f.__qualname__ = f"exp_chain_{n}"
    return f


# =============================================================================================
# A tiny symbolic differentiator: expressions are tuples ("x",), ("exp", e), ("mul", a, b)


def symbolic_chain(n: int) -> tuple:
    e: tuple = ("x",)
    for _ in range(n):
        e = ("exp", e)
    return e


def differentiate(e: tuple) -> tuple:
    """d/dx of an expression, by the chain and product rules, without sharing."""
    op = e[0]
    if op == "x":
        return ("one",)
    if op == "exp":  # (exp u)' = exp(u) u'
        du = differentiate(e[1])
        return e if du == ("one",) else ("mul", e, du)
    if op == "mul":  # (a b)' = a' b + a b'
        a, b = e[1], e[2]
        return ("add", ("mul", differentiate(a), b), ("mul", a, differentiate(b)))
    raise ValueError(op)


def size(e: tuple) -> int:
    """Number of nodes in the expression tree."""
    return 1 + sum(size(c) for c in e[1:])


def to_text(e: tuple) -> str:
    if e[0] == "x":
        return "x"
    if e[0] == "one":
        return "1"
    if e[0] == "exp":
        return f"exp({to_text(e[1])})"
    sep = " * " if e[0] == "mul" else " + "
    return "(" + sep.join(to_text(c) for c in e[1:]) + ")"


def sympy_ops(n: int) -> int | None:
    """SymPy's operation count of d/dx exp^n(x), or None without SymPy."""
    try:
        import sympy
    except ImportError:
        return None
    x = sympy.Symbol("x")
    e = x
    for _ in range(n):
        e = sympy.exp(e)
    return int(sympy.count_ops(sympy.diff(e, x)))


# =============================================================================================
# Backpropagation by hand for a 1-hidden-layer MLP with squared error


def mlp_loss(params: nn.Params, x: np.ndarray, y: np.ndarray) -> Any:
    """Mean squared error of a tanh MLP."""
    return nn.mse(nn.mlp(params, x, nn.tanh), y)


def backprop_by_hand(params: nn.Params, x: np.ndarray, y: np.ndarray) -> nn.Params:
    """The lecture's deltas: delta_2 = dL/dout, delta_1 = (delta_2 W2^T) * f'(z1)."""
    (l1, l2) = params
    h = np.tanh(x @ l1["W"] + l1["b"])
    out = h @ l2["W"] + l2["b"]
    delta2 = 2.0 * (out - y) / out.size
    delta1 = (delta2 @ l2["W"].T) * (1.0 - h**2)
    return [
        {"W": x.T @ delta1, "b": delta1.sum(axis=0)},
        {"W": h.T @ delta2, "b": delta2.sum(axis=0)},
    ]


def main(quick: bool = False) -> dict[str, Any]:
    f3 = exp_chain(3)
    x0 = np.array(-1.0)
    print("=== forward IR of exp(exp(exp(x)))")
    print(tg.make_ir(f3)(x0))
    print("=== adjoint IR (tg.make_ir(tg.grad(f)))")
    print(tg.make_ir(tg.grad(f3))(x0))
    try:
        from tracegrad.api import show_source

        source = show_source(tg.grad(f3))(x0)
    except (ImportError, AttributeError) as e:
        source = f"(the Numba backend is not available here: {e})"
    print("=== generated source")
    print(source)

    e1, e2, e3 = math.exp(-1.0), math.exp(math.exp(-1.0)), math.exp(math.exp(math.exp(-1.0)))
    by_formula = e3 * e2 * e1
    got = float(tg.grad(f3)(x0))
    print(f"f'(-1) = {got:.12g}; the chain rule by hand gives {by_formula:.12g}")

    n_max = 8 if quick else 14
    print("\n=== sizes as the chain grows")
    print(" n  forward eqns  adjoint eqns  symbolic derivative nodes  sympy ops")
    rows = []
    for n in range(1, n_max + 1):
        f = exp_chain(n)
        forward = len(tg.make_ir(f)(x0).eqns)
        adjoint = len(tg.make_ir(tg.grad(f))(x0).eqns)
        symbolic = size(differentiate(symbolic_chain(n)))
        ops = sympy_ops(n) if n <= 8 else None
        rows.append((n, forward, adjoint, symbolic))
        print(f"{n:2d}  {forward:12d}  {adjoint:12d}  {symbolic:25d}  {ops if ops else '-':>9}")
    (_, _, a_half, s_half), (_, _, a_full, s_full) = rows[n_max // 2 - 1], rows[-1]
    print(
        f"doubling the chain from {n_max // 2} to {n_max}: adjoint x{a_full / a_half:.1f} "
        f"(linear), symbolic derivative x{s_full / s_half:.1f} (quadratic)"
    )
    print("symbolic d/dx exp(exp(exp(x))) =", to_text(differentiate(symbolic_chain(3))))

    print("\n=== backpropagation by hand vs tg.grad, 3-4-2 tanh MLP")
    rng = np.random.default_rng(0)
    params = nn.init_mlp(rng, [3, 4, 2])
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    by_hand = backprop_by_hand(params, x, y)
    auto = tg.grad(mlp_loss)(params, x, y)
    worst = max(
        float(np.max(np.abs(by_hand[i][k] - auto[i][k]))) for i in range(2) for k in ("W", "b")
    )
    print(tg.make_ir(tg.grad(mlp_loss))(params, x, y))
    print(f"largest difference between hand-written deltas and tg.grad: {worst:.2e}")

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    table = np.array(rows)
    ax.plot(table[:, 0], table[:, 2], "o-", label="adjoint program (equations)")
    ax.plot(table[:, 0], table[:, 3], "s-", label="symbolic derivative (tree nodes)")
    ax.set(xlabel="number of nested exp", ylabel="size", title="derivative size of exp(exp(...))")
    ax.legend()
    print("saved", save(fig, "autodiff_sizes.png"))
    return {"rows": rows, "grad": got, "by_formula": by_formula, "backprop_error": worst}


if __name__ == "__main__":
    run(main)
