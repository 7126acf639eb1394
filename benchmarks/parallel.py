#!/usr/bin/env python
"""Multi-core kernels: the same programs with 2 threads against 1, in one process.

    python benchmarks/parallel.py [--quick] [--threshold] [--products]

Targets (issue 13): ``value_and_grad`` of ``sum(sin(x) * exp(-x*x))`` at N = 1e7, and of
an MLP (digits-like layers 64-128-64-10, tanh, softmax cross-entropy) at batch 4096, each
at least 1.7x faster with 2 threads than with 1. Each program is compiled twice, with
``TRACEGRAD_THREADS`` = 1 (serial code) and = 2 (large loop nests under ``numba.prange``);
the BLAS pool of the matrix products is set to the same count before every call, so the
1-thread row is single-threaded throughout. Rows are timed interleaved (benchmarks/timing.py)
and the load average is printed before and after: this machine is shared. The disk cache is
off, so the first call of each row is a compile (the serial and the parallel one).

``--threshold`` measures where a parallel loop nest starts to pay: three kernels (cheap
``x * 1.5 + 0.5``; the value and gradient of ``sum(x * x)``; of ``sum(sin(x) * exp(-x*x))``)
are compiled once serial and once parallel, and each is called on arrays of many sizes
(the generated code reads its loop bounds from the arguments), so the sweep costs six
compiles. It prints the speed-up against the work, iterations x equations of the nest,
which is what ``tracegrad.backend.emit.PARALLEL_MIN_WORK`` compares.

``--products`` measures where a matrix product split over the kernel's threads starts to
pay (``tracegrad.backend.matmul.PARALLEL_MIN_PRODUCT``): ``x @ y`` of square matrices of
several sizes, compiled with 1 thread and with 2 (split at every size), against NumPy's
``x @ y`` with its BLAS pool at 1 and at 2 threads.
"""

import os

# Timed rows measure compiled code, compiled before the first answer.
os.environ.setdefault("TRACEGRAD_COMPILE", "sync")
os.environ.setdefault("TRACEGRAD_DISABLE_DISK_CACHE", "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402
import threadpoolctl  # noqa: E402
from timing import Timing, format_seconds, interleaved  # noqa: E402

import tracegrad as tg  # noqa: E402
from tracegrad import config, nn  # noqa: E402
from tracegrad.backend import codegen, disk_cache, emit, matmul  # noqa: E402

BLAS = threadpoolctl.ThreadpoolController().select(user_api="blas").lib_controllers


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def with_blas_threads(f: Callable, threads: int) -> Callable:
    """``f`` with the BLAS pool set to ``threads`` before each call (a call into OpenBLAS,
    well under a microsecond; threadpoolctl's context manager would cost more than that)."""

    def call(*args: Any) -> Any:
        for lib in BLAS:
            lib.set_num_threads(threads)
        return f(*args)

    return call


def compiled(make: Callable[[], Callable], args: tuple, threads: int) -> tuple[Callable, float]:
    """``make()`` (a fresh tracegrad function) compiled with ``threads`` by a first call, and
    the seconds that call took."""
    os.environ["TRACEGRAD_THREADS"] = str(threads)
    f = make()
    start = time.perf_counter()
    f(*args)
    return with_blas_threads(f, threads), time.perf_counter() - start


def sin_exp(x: np.ndarray) -> Any:
    return np.sum(np.sin(x) * np.exp(-x * x))


def mlp_loss(params: nn.Params, x: np.ndarray, labels: np.ndarray) -> Any:
    return nn.softmax_cross_entropy(nn.mlp(params, x, nn.tanh), labels)


def targets(quick: bool) -> None:
    rng = np.random.default_rng(0)
    n = 10**6 if quick else 10**7
    batch = 512 if quick else 4096
    x = rng.normal(size=n)
    params = nn.init_mlp(rng, [64, 128, 64, 10])
    xs, labels = rng.normal(size=(batch, 64)), rng.integers(0, 10, size=batch)
    rows = {
        f"value_and_grad sum(sin(x)*exp(-x*x)), N={n:.0e}": (sin_exp, (x,)),
        f"value_and_grad MLP 64-128-64-10, batch {batch}": (mlp_loss, (params, xs, labels)),
    }
    print("median (fastest) of 9 interleaved rounds; first calls compile, 1 / 2 threads")
    print(f"{'workload':48s} {'1 thread':>18s} {'2 threads':>18s}  speed-up  first calls")
    for name, (f, args) in rows.items():
        made = {t: compiled(lambda f=f: tg.value_and_grad(f), args, t) for t in (1, 2)}
        competitors = {t: (run, args) for t, (run, _) in made.items()}
        one, two = interleaved(competitors, rounds=9, target_s=0.2).values()
        firsts = " / ".join(format_seconds(seconds) for _, seconds in made.values())
        print(f"{name:48s} {shown(one):>18s} {shown(two):>18s}  {ratios(one, two)}  {firsts}")


def shown(t: Timing) -> str:
    return f"{format_seconds(t.median)} ({format_seconds(min(t.samples))})"


def ratios(one: Timing, two: Timing) -> str:
    """Speed-up of the medians (and of the fastest rounds)."""
    return f"{one.median / two.median:.2f}x ({min(one.samples) / min(two.samples):.2f}x)"


def raw_kernel(f: Callable, make_args: Callable, threads: int) -> tuple[Callable, str]:
    """The generated kernel of ``value_and_grad(f)`` (``jit`` for a non-scalar ``f``), and
    the loop heading of its nest."""
    settings = dataclasses.replace(config.read(), threads=threads)
    args = make_args(10**6)
    out = f(*args)
    staged = tg.value_and_grad(f) if np.ndim(out) == 0 else tg.jit(f)
    program = staged.lower(*args).lowered
    generated_for = codegen.variants(program, settings.vector_math, threads)
    module, _ = disk_cache.load(lambda *how: generated_for(*how).source, settings)
    heading = next(s for s in generated_for(False, True).source.splitlines() if "# loop" in s)
    return module.program, heading


def threshold_sweep() -> None:
    emit.PARALLEL_MIN_WORK = 0  # the parallel kernels stay parallel at every size called
    kernels = {
        "x * 1.5 + 0.5": lambda x: x * 1.5 + 0.5,
        "sum(x * x)": lambda x: np.sum(x * x),
        "sum(sin(x) * exp(-x*x))": sin_exp,
    }
    sizes = [10**3, 3 * 10**3, 10**4, 3 * 10**4, 10**5, 3 * 10**5, 10**6]
    print("median (fastest) of 7 interleaved rounds")
    print(f"{'kernel':26s} {'N':>7s} {'work':>7s} {'serial':>18s} {'parallel':>18s}  speed-up")
    for name, f in kernels.items():
        serial, heading = raw_kernel(f, lambda n: (np.ones(n),), 1)
        parallel, _ = raw_kernel(f, lambda n: (np.ones(n),), 2)
        equations = len(heading.split(":", 1)[1].split(","))
        for n in sizes:
            x = np.random.default_rng(1).normal(size=n)
            args = (x, np.empty(n))
            one, two = interleaved(
                {"s": (serial, args), "p": (parallel, args)}, rounds=7, target_s=0.02
            ).values()
            print(
                f"{name:26s} {n:7.0e} {n * equations:7.0e} {shown(one):>18s} {shown(two):>18s}"
                f"  {ratios(one, two)}"
            )


def product_sweep() -> None:
    matmul.PARALLEL_MIN_PRODUCT = 0  # split at every size
    rng = np.random.default_rng(2)
    print("median of 7 interleaved rounds; speed-ups against NumPy with a one-thread BLAS")
    print(f"{'n':>5s} {'n**3':>8s} {'NumPy 1':>9s} {'NumPy 2':>9s} {'tg 1':>9s} {'tg 2':>9s}")
    for n in (16, 32, 48, 64, 96, 128, 256, 512):
        x, y = rng.normal(size=(n, n)), rng.normal(size=(n, n))
        rows = {}
        for threads in (1, 2):
            os.environ["TRACEGRAD_THREADS"] = str(threads)
            product = tg.jit(lambda x, y: x @ y)
            product(x, y)
            rows[f"tg {threads}"] = (with_blas_threads(product, threads), (x, y))
            rows[f"NumPy {threads}"] = (with_blas_threads(np.matmul, threads), (x, y))
        # NumPy's two-thread row is timed apart: OpenBLAS's threads spin for a long while
        # after a product (tens of milliseconds), taking a core from the kernel's threads.
        numpy_two = rows.pop("NumPy 2")
        times = interleaved(rows, rounds=7, target_s=0.02)
        times |= interleaved({"NumPy 1": rows["NumPy 1"], "NumPy 2": numpy_two}, 7, 0.02)
        base = times["NumPy 1"].median
        shown = [f"{base / times[k].median:8.2f}x" for k in ("NumPy 2", "tg 1", "tg 2")]
        print(f"{n:5d} {n**3:8.0e} {format_seconds(base):>9s}", *shown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("--threshold", action="store_true", help="the serial/parallel sweep")
    parser.add_argument("--products", action="store_true", help="the matrix product sweep")
    options = parser.parse_args()
    print(f"{load()}; Numba {numba.__version__}, {numba.config.NUMBA_NUM_THREADS} threads")
    if options.threshold:
        threshold_sweep()
    elif options.products:
        product_sweep()
    else:
        targets(options.quick)
    print(f"threading layer {numba.threading_layer()}; {load()}")


if __name__ == "__main__":
    main()
