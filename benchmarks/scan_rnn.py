"""The RNN of issue 11 with ``tg.scan``: cold first call and gradient per call against T;
and a whole training epoch as one ``scan`` against the per-step ``tg.jit`` loop.

RNN: hidden 16, input 8, gradient of sum(h_T^2) with respect to (W_h, W_x, b). Each trip
count runs in a fresh process with the disk cache off and synchronous compiles, so the first
call includes every compile; compile time should not depend on T.  A NumPy forward+backward
loop written by hand is the per-call reference, and JAX's ``lax.scan`` another, if JAX is
installed (it is not a dependency: ``pip install jax`` to compare).

Per call, each competitor is timed in turns with the others, seven rounds, and its best
round counts: on a shared machine a burst of load then slows one round of each rather than
all of one.

Epochs: the demo's MLP (64-64-10 tanh, batches of 32, momentum SGD, float32) trained one
epoch of 50 batches as one ``tg.scan`` over the batches, the update inside the body, against
the same step under ``tg.jit`` called from a Python loop, and the step in NumPy by hand; then
the same for an RNN whose loss holds a scan (nested loops).  Ratios come from one process,
BLAS pinned to one thread.

    python benchmarks/scan_rnn.py            # all of it, each RNN size in a fresh process
    python benchmarks/scan_rnn.py --one 1000 [--checkpoint]  # one RNN run, in this process
    python benchmarks/scan_rnn.py --epoch    # the epoch comparison only
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # noqa: E402 (before NumPy loads its BLAS)
os.environ.setdefault("TRACEGRAD_COMPILE", "sync")  # time the compiles, not the interpreter
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")  # JAX: one thread

import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

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


def numba_grad() -> Any:
    """Forward and backward written by hand as one Numba function: the fused reference."""
    import numba

    @numba.njit(fastmath={"reassoc", "contract", "arcp", "nsz"}, error_model="numpy")
    def grad(Wh: np.ndarray, Wx: np.ndarray, b: np.ndarray, xs: np.ndarray) -> tuple:
        T = xs.shape[0]
        hs = np.zeros((T + 1, H))
        for t in range(T):
            hs[t + 1] = np.tanh(hs[t] @ Wh + xs[t] @ Wx + b)
        dh = 2.0 * hs[T]
        gWh, gWx, gb = np.zeros_like(Wh), np.zeros_like(Wx), np.zeros_like(b)
        for t in range(T - 1, -1, -1):
            da = dh * (1.0 - hs[t + 1] ** 2)
            for i in range(H):
                for j in range(H):
                    gWh[i, j] += hs[t, i] * da[j]
            for i in range(I):
                for j in range(H):
                    gWx[i, j] += xs[t, i] * da[j]
            gb += da
            dh = Wh @ da
        return gWh, gWx, gb

    return grad


def jax_grad(remat: bool) -> Any:
    """JAX's ``lax.scan`` on the same RNN (x64, one thread), or None without JAX."""
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    def loss(p: tuple, xs: Any) -> Any:
        Wh, Wx, b = p

        def step(h: Any, x: Any) -> tuple:
            return jnp.tanh(h @ Wh + x @ Wx + b), None

        h, _ = jax.lax.scan(jax.checkpoint(step) if remat else step, jnp.zeros(H), xs)
        return (h**2).sum()

    return jax.jit(jax.grad(loss))


def per_call(f: Any, *args: Any, at_least: float = 0.2) -> float:
    n = 3
    while True:
        start = time.perf_counter()
        for _ in range(n):
            f(*args)
        seconds = time.perf_counter() - start
        if seconds > at_least:
            return seconds / n
        n *= 4


def per_call_in_turns(runs: dict[str, Any], rounds: int = 7) -> dict[str, float]:
    """Seconds per call of each ``runs[name]()``: the best of ``rounds`` rounds that time
    every run in turn (the order rotating), so that a burst of load on a shared machine
    slows one round of all of them rather than all the rounds of one."""
    best = dict.fromkeys(runs, float("inf"))
    names = list(runs)
    for k in range(rounds):
        for name in names[k % len(names) :] + names[: k % len(names)]:
            best[name] = min(best[name], per_call(runs[name], at_least=0.05))
    return best


def timed_first(f: Any, *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = f(*args)
    return time.perf_counter() - start, result


def one(T: int, remat: bool = False) -> None:
    import numba  # noqa: F401  (a warm process has it: time the compiles, not the import)

    import tracegrad as tg

    rng = np.random.default_rng(0)
    p, xs = params(rng), rng.normal(size=(T, I))
    g = tg.grad(lambda p, xs: loss(p, xs, remat))
    first, got = timed_first(g, p, xs)
    stats = tg.compile_stats()
    start = time.perf_counter()
    want = numpy_grad(p, xs)
    by_hand = time.perf_counter() - start
    assert all(np.allclose(a, b) for a, b in zip(got, want, strict=True))
    runs = {"tracegrad": lambda: g(p, xs)}
    fused = numba_grad()
    fused_first, fused_got = timed_first(fused, *p, xs)
    assert all(np.allclose(a, b) for a, b in zip(fused_got, want, strict=True))
    runs["fused"] = lambda: fused(*p, xs)
    jax_g = jax_grad(remat)
    if jax_g is not None:
        jax_first, jax_got = timed_first(lambda *a: jax_g(*a)[0].block_until_ready(), p, xs)
        assert np.allclose(jax_got, want[0])
        runs["jax"] = lambda: jax_g(p, xs)[0].block_until_ready()
    best = per_call_in_turns(runs)
    ours = best["tracegrad"]
    print(
        f"T={T:>6}{' checkpointed' if remat else ''}: first call {first:5.2f} s "
        f"({stats.compiles} Numba compile(s), {getattr(stats, 'native_loops', '?')} native "
        f"loops); grad per call {ours * 1e3:8.3f} ms ({ours / T * 1e6:5.2f} us/step); "
        f"NumPy by hand {by_hand * 1e3:8.2f} ms; stored {stored_bytes(p, xs, remat) / 1e3:.0f} kB"
    )
    print(
        f"{'':9}hand-fused Numba: first call {fused_first:5.2f} s, per call "
        f"{best['fused'] * 1e3:8.3f} ms (tracegrad / fused: {ours / best['fused']:.2f})"
    )
    if jax_g is None:
        print(f"{'':9}JAX: not installed, skipped")
        return
    print(
        f"{'':9}JAX lax.scan: first call {jax_first:5.2f} s, per call "
        f"{best['jax'] * 1e3:8.3f} ms (JAX / tracegrad: {best['jax'] / ours:.2f})"
    )


# =============================================================================================
# A training epoch as one scan


def mlp_loss(p: list, x: Any, labels: Any) -> Any:
    """The demo's model: a tanh MLP with softmax cross-entropy."""
    from tracegrad import nn

    return nn.softmax_cross_entropy(nn.mlp(p, x, nn.tanh), labels)


def momentum_step(state: tuple, x: Any, labels: Any, lr: float = 0.05, m: float = 0.9) -> tuple:
    import tracegrad as tg

    p, v = state
    grads = tg.grad(mlp_loss)(p, x, labels)
    v = tg.tree.tree_map(lambda v, g: m * v + lr * g, v, grads)
    return tg.tree.tree_map(lambda w, d: w - d, p, v), v


def numpy_step(state: tuple, x: np.ndarray, labels: np.ndarray) -> tuple:
    """The same momentum step with backpropagation by hand."""
    p, v = state
    hs = [x]
    for layer in p[:-1]:
        hs.append(np.tanh(hs[-1] @ layer["W"] + layer["b"]))
    logits = hs[-1] @ p[-1]["W"] + p[-1]["b"]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    delta = e / e.sum(axis=1, keepdims=True)
    delta[np.arange(len(x)), labels] -= 1.0
    delta /= len(x)
    new_p, new_v = [], []
    for i in range(len(p) - 1, -1, -1):
        g = {"W": hs[i].T @ delta, "b": delta.sum(axis=0)}
        if i > 0:
            delta = (delta @ p[i]["W"].T) * (1.0 - hs[i] ** 2)
        vel = {k: np.float32(0.9) * v[i][k] + np.float32(0.05) * g[k] for k in g}
        new_v.insert(0, vel)
        new_p.insert(0, {k: p[i][k] - vel[k] for k in g})
    return new_p, new_v


def rnn_sgd_step(p: dict, seqs: Any, lr: float = 0.1) -> dict:
    """SGD on next-value prediction by an RNN over a batch of sequences: a scan inside."""
    import tracegrad as tg

    def loss(p: dict, seqs: Any) -> Any:
        def step(h: Any, x: Any) -> tuple:
            h = np.tanh(h @ p["W"] + x @ p["U"] + p["b"])
            return h, h @ p["V"]

        _, ys = tg.scan(step, np.zeros((seqs.shape[1], H)), seqs[:-1])
        return np.mean((ys - seqs[1:]) ** 2)

    return tg.tree.tree_map(lambda w, g: w - lr * g, p, tg.grad(loss)(p, seqs))


def best_of(f: Any, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


def compare_epoch(title: str, step: Any, state: Any, batches: tuple, by_hand: Any = None) -> None:
    """One epoch as one ``scan`` of ``step(state, *batch)`` over the batches, against the
    jitted step called from a Python loop (and ``by_hand``, the step in NumPy)."""
    import tracegrad as tg

    def epoch_scan(state: Any, batches: tuple) -> Any:
        return tg.scan(lambda s, batch: (step(s, *batch), None), state, batches)[0]

    whole, jitted = tg.jit(epoch_scan), tg.jit(step)
    before = tg.compile_stats()
    start = time.perf_counter()
    whole(state, batches)
    first = time.perf_counter() - start
    stats = tg.compile_stats()
    # (getattr: the loop counts are newer than the rest; older trees run this file too)
    native, in_python = (
        getattr(stats, k, 0) - getattr(before, k, 0) for k in ("native_loops", "python_loops")
    )

    def loop(step: Any = jitted) -> Any:
        s = state
        for batch in zip(*batches, strict=True):
            s = step(s, *batch)
        return s

    loop()  # compiles the step
    runs = {"scan over the epoch": lambda: whole(state, batches), "tg.jit step, Python loop": loop}
    if by_hand is not None:
        runs["NumPy by hand"] = lambda: loop(by_hand)
    want = tg.tree.tree_leaves(loop())
    for run in runs.values():
        for a, b in zip(want, tg.tree.tree_leaves(run()), strict=True):
            assert np.allclose(a, b, atol=1e-4)
    n = len(batches[0])
    rates = {name: n / best_of(run) for name, run in runs.items()}
    print(
        f"{title}, {n} batches: scan first call {first:.2f} s ({native} native loops, "
        f"{in_python} run from Python)"
    )
    base = rates["tg.jit step, Python loop"]
    for name, rate in rates.items():
        print(f"  {name:26} {rate:9.0f} steps/s  ({rate / base:.2f}x the jit loop)")


def epochs() -> None:
    import tracegrad as tg
    from tracegrad import nn

    rng = np.random.default_rng(0)
    p = nn.init_mlp(rng, [64, 64, 10], dtype=np.float32)
    xs = rng.normal(size=(50, 32, 64)).astype(np.float32)
    labels = rng.integers(0, 10, size=(50, 32))
    state = (p, tg.tree.tree_map(np.zeros_like, p))
    compare_epoch("MLP 64-64-10 f32, batch 32", momentum_step, state, (xs, labels), numpy_step)
    rnn = {
        "W": rng.normal(scale=0.25, size=(H, H)),
        "U": rng.normal(size=(1, H)),
        "b": np.zeros(H),
        "V": rng.normal(scale=0.25, size=(H, 1)),
    }
    seqs = np.sin(np.linspace(0, 6, 31)[None, :, None, None] + rng.uniform(size=(16, 1, 8, 1)))
    compare_epoch("RNN (hidden 16) over 30 steps, batch 8", rnn_sgd_step, rnn, (seqs,))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        one(int(sys.argv[2]), remat="--checkpoint" in sys.argv)
    elif sys.argv[1:2] == ["--epoch"]:
        epochs()
    else:
        env = {**os.environ, "TRACEGRAD_DISABLE_DISK_CACHE": "1"}
        for T in (10, 1000, 10000):
            subprocess.run([sys.executable, __file__, "--one", str(T)], env=env, check=True)
        one_run = [sys.executable, __file__, "--one", "1000", "--checkpoint"]
        subprocess.run(one_run, env=env, check=True)
        subprocess.run([sys.executable, __file__, "--epoch"], check=True)
