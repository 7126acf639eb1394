"""Dask data parallelism: throughput of tracegrad.dask.value_and_grad on 1 and 2 workers.

Two LocalClusters on 127.0.0.1 run side by side, one with one worker process, one with two
(one thread each, BLAS on one thread); each holds the same dataset (default 1,000,000 rows
of 8 features, 4 shards) in its workers' memory.  Each round takes one gradient step on
each cluster, in alternating order, so that a burst of load on this shared machine hits
both; the figures are medians over rounds.  Also measured: the same shards one after the
other in this process without Dask, and Dask's overhead per step (shards of 8 rows).

The target: 2 workers give >= 1.5x the throughput of 1.  The machine's load (``uptime``)
is printed before and after, since other jobs share its 2 cores.

    python benchmarks/dask_scaling.py [--rows 1000000] [--shards 4] [--rounds 7] [--json out]
"""

from __future__ import annotations

import os

# BLAS on one thread in this process (the one-process baseline) and in the workers, which
# inherit the environment (distributed's nanny also sets these for its workers).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import dask  # noqa: E402
import dask.array as da  # noqa: E402
import numpy as np  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import tracegrad as tg  # noqa: E402
import tracegrad.dask as tgd  # noqa: E402
from tracegrad import nn  # noqa: E402

FEATURES, HIDDEN = 8, 32


def loss(params: nn.Params, x: np.ndarray, y: np.ndarray) -> Any:
    return np.mean((nn.mlp(params, x, nn.tanh)[:, 0] - y) ** 2)


def load() -> str:
    return "load average {:.2f}, {:.2f}, {:.2f} (1, 5, 15 min, as uptime)".format(*os.getloadavg())


def start(workers: int) -> tuple[LocalCluster, Client]:
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
    )
    return cluster, Client(cluster, set_as_default=False)


def dataset(rows: int, shards: int) -> tuple[da.Array, da.Array]:
    x = da.random.default_rng(0).normal(size=(rows, FEATURES), chunks=(rows // shards, -1))
    a = np.random.default_rng(1).normal(size=FEATURES) / 2
    return x, np.sin(x @ a)


def one_process(params: nn.Params, x: da.Array, y: da.Array) -> Any:
    """A step without Dask: the same shards in turn, in this process, BLAS on one thread."""
    with dask.config.set(scheduler="threads"):
        shards = [(xb.compute(), yb.compute()) for xb, yb in zip(x.blocks, y.blocks, strict=True)]
    f = tg.value_and_grad(loss, compile="sync")

    def step() -> None:
        for xb, yb in shards:
            f(params, xb, yb)

    step()  # compile (this fills the disk cache the workers then load from)
    return step


def on(client: Client, f: Any, *args: Any) -> float:
    """Seconds for ``f(*args)`` with ``client`` as Dask's scheduler."""
    with dask.config.set(scheduler=client):
        start = time.perf_counter()
        f(*args)
        return time.perf_counter() - start


def measure(args: argparse.Namespace) -> dict[str, Any]:
    params = nn.init_mlp(np.random.default_rng(2), [FEATURES, HIDDEN, 1])
    x, y = dataset(args.rows, args.shards)
    local = one_process(params, x, y)
    clusters = {n: start(n) for n in (1, 2)}
    try:
        grads = {n: tgd.value_and_grad(loss, compile="sync") for n in clusters}
        data = {}
        for n, (_, client) in clusters.items():
            with dask.config.set(scheduler=client):
                data[n] = dask.persist(x, y)
            on(client, grads[n], params, *data[n])  # each worker loads the compiled kernel
        tiny = (
            da.zeros((8 * args.shards, FEATURES), chunks=(8, -1)),
            da.zeros(8 * args.shards, chunks=8),
        )
        overhead_f = tgd.value_and_grad(loss, compile="never")
        times: dict[str, list[float]] = {"1 process, no Dask": [], "1 worker": [], "2 workers": []}
        overhead = []
        for r in range(args.rounds):
            order = [1, 2] if r % 2 == 0 else [2, 1]
            for n in order:
                key = "1 worker" if n == 1 else "2 workers"
                times[key].append(on(clusters[n][1], grads[n], params, *data[n]))
            start_local = time.perf_counter()
            local()
            times["1 process, no Dask"].append(time.perf_counter() - start_local)
            overhead.append(on(clusters[2][1], overhead_f, params, *tiny))
        compute = grads[2].last_step.compute_seconds
    finally:
        for cluster, client in clusters.values():
            client.close()
            cluster.close()
    return {"times": times, "overhead": overhead, "compute_2w": compute}


def report(args: argparse.Namespace, result: dict[str, Any]) -> dict[str, Any]:
    times = result["times"]
    medians = {k: statistics.median(v) for k, v in times.items()}
    base = medians["1 worker"]
    print(f"{args.rows:,} rows x {FEATURES} features, MLP {FEATURES}-{HIDDEN}-1, {args.shards} "
          f"shards, {args.rounds} rounds")  # fmt: skip
    print(f"{'':22s} {'s/step':>8s} {'fastest':>8s} {'rows/s':>12s} {'vs 1 worker':>12s}")
    for name, seconds in medians.items():
        print(f"{name:22s} {seconds:8.3f} {min(times[name]):8.3f} {args.rows / seconds:12,.0f} "
              f"{base / seconds:11.2f}x")  # fmt: skip
    overhead = statistics.median(result["overhead"])
    per_row = medians["1 process, no Dask"] / args.rows
    print(f"Dask overhead per step (2 workers, {args.shards} shards of 8 rows): "
          f"{overhead * 1e3:.1f} ms; compute per step per worker: "
          f"{result['compute_2w'] / 2 * 1e3:.0f} ms")  # fmt: skip
    print(f"two workers beat one process from ~{2 * overhead / per_row:,.0f} rows per step")
    speedup = base / medians["2 workers"]
    # The two clusters' steps of one round are adjacent in time, so their ratio is less
    # exposed to the load drifting over the run than the ratio of the medians.
    paired = statistics.median(
        a / b for a, b in zip(times["1 worker"], times["2 workers"], strict=True)
    )
    print(f"2 workers / 1 worker throughput: {speedup:.2f}x (median of the per-round ratios: "
          f"{paired:.2f}x; target >= 1.5x)")  # fmt: skip
    return {
        "medians_s": medians,
        "overhead_s": overhead,
        "speedup": speedup,
        "paired_speedup": paired,
        "rows": args.rows,
        "times_s": times,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    print("before:", load())
    result = report(args, measure(args))
    print("after: ", load())
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
