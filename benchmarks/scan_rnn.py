"""The RNN of issue 11 with ``tg.scan``: cold first call and gradient per call against T.

Hidden 16, input 8, gradient of sum(h_T^2) with respect to (W_h, W_x, b). Each trip count
runs in a fresh process with the disk cache off, so the first call includes every compile;
compile time should not depend on T.  A NumPy forward+backward loop written by hand is the
per-call reference.

    python benchmarks/scan_rnn.py            # T = 10, 1000, 10000; T = 1000 checkpointed
    python benchmarks/scan_rnn.py --one 1000 [--checkpoint]  # one run, in this process
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np

H, I = 16, 8


def params(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return rng.normal(scale=0.3, size=(H, H)), rng.normal(scale=0.3, size=(I, H)), np.zeros(H)


def loss(p: tuple, xs: np.ndarray, remat: bool = False) -> object:
    import tracegrad as tg

    Wh, Wx, b = p

    def step(h: object, x: object) -> tuple:
        return np.tanh(h @ Wh + x @ Wx + b), None

    h, _ = tg.scan(tg.checkpoint(step) if remat else step, np.zeros(H), xs)
    return (h**2).sum()


def stored_bytes(p: tuple, xs: np.ndarray, remat: bool) -> int:
    """What the forward loop stores for the backward loop (its stacked results)."""
    import tracegrad as tg

    program = tg.make_ir(tg.grad(lambda p, xs: loss(p, xs, remat)))(p, xs)
    forward = [e for e in program.eqns if e.prim.name == "scan" and not e.params["reverse"]]
    return sum(e.out.aval.size * e.out.aval.dtype.itemsize for e in forward if e.out.aval.ndim > 1)


def numpy_grad(p: tuple, xs: np.ndarray) -> tuple:
    """Forward and backward by hand: the per-call reference."""
    Wh, Wx, b = p
    hs = [np.zeros(H)]
    for x in xs:
        hs.append(np.tanh(hs[-1] @ Wh + x @ Wx + b))
    dh = 2 * hs[-1]
    gWh, gWx, gb = np.zeros_like(Wh), np.zeros_like(Wx), np.zeros_like(b)
    for t in range(len(xs) - 1, -1, -1):
        da = dh * (1 - hs[t + 1] ** 2)
        gWh += np.outer(hs[t], da)
        gWx += np.outer(xs[t], da)
        gb += da
        dh = da @ Wh.T
    return gWh, gWx, gb


def one(T: int, remat: bool = False) -> None:
    import numba  # noqa: F401  (a warm process has it: time the compiles, not the import)

    import tracegrad as tg

    rng = np.random.default_rng(0)
    p, xs = params(rng), rng.normal(size=(T, I))
    g = tg.grad(lambda p, xs: loss(p, xs, remat))
    start = time.perf_counter()
    got = g(p, xs)
    first = time.perf_counter() - start
    n = max(3, 20000 // T)
    start = time.perf_counter()
    for _ in range(n):
        g(p, xs)
    per_call = (time.perf_counter() - start) / n
    start = time.perf_counter()
    want = numpy_grad(p, xs)
    ref = time.perf_counter() - start
    assert all(np.allclose(a, b) for a, b in zip(got, want, strict=True))
    print(
        f"T={T:>6}{' checkpointed' if remat else ''}: first call {first:5.2f} s; grad per "
        f"call {per_call * 1e3:8.3f} ms ({per_call / T * 1e6:5.2f} us/step); NumPy by hand "
        f"{ref * 1e3:8.2f} ms; stored {stored_bytes(p, xs, remat) / 1e3:.0f} kB"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        one(int(sys.argv[2]), remat="--checkpoint" in sys.argv)
    else:
        env = {**os.environ, "TRACEGRAD_DISABLE_DISK_CACHE": "1"}
        for T in (10, 1000, 10000):
            subprocess.run([sys.executable, __file__, "--one", str(T)], env=env, check=True)
        one_run = [sys.executable, __file__, "--one", "1000", "--checkpoint"]
        subprocess.run(one_run, env=env, check=True)
