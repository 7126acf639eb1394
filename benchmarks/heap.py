#!/usr/bin/env python
"""glibc's malloc thresholds and kernels with large temporaries (tracegrad/backend/heap.py).

    python benchmarks/heap.py [--quick]

The value and gradient of an MLP (layers 64-128-64-10, tanh, softmax cross-entropy) at
several batch sizes, on one core (the processes are pinned to it: JAX 0.10 runs a second thread
for large programs whatever XLA's flags say), in two fresh processes: one with glibc's own
malloc thresholds (``TRACEGRAD_TUNE_MALLOC=0``) and one with tracegrad's. The setting is
process-wide and taken once, so each process has its own baseline: JAX's ``jit`` of the same
function (when JAX is installed; XLA's buffers come from the same malloc), timed interleaved
with tracegrad. Page faults per call (``ru_minflt``) show what the thresholds change.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from typing import Any

BATCHES = (512, 4096, 16384)


def child(batches: tuple[int, ...]) -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    os.environ.setdefault("TRACEGRAD_COMPILE", "sync")
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
    import numpy as np
    import threadpoolctl
    from timing import interleaved

    import tracegrad as tg
    from tracegrad import nn

    threadpoolctl.threadpool_limits(1)

    def loss(params: Any, x: Any, labels: Any) -> Any:
        return nn.softmax_cross_entropy(nn.mlp(params, x, nn.tanh), labels)

    competitors_of = {"tracegrad": lambda: tg.value_and_grad(loss)}
    jax_of = _jax_loss()
    if jax_of is not None:
        competitors_of["JAX"] = jax_of
    rng = np.random.default_rng(0)
    params = nn.init_mlp(rng, [64, 128, 64, 10])
    rows = []
    for batch in batches:
        x, labels = rng.normal(size=(batch, 64)), rng.integers(0, 10, size=batch)
        made = {name: make() for name, make in competitors_of.items()}
        for f in made.values():
            f(params, x, labels)
        row = {"batch": batch}
        for name, f in made.items():
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            for _ in range(10):
                f(params, x, labels)
            faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10
            row[f"{name} faults"] = faults
        times = interleaved({k: (f, (params, x, labels)) for k, f in made.items()}, 7, 0.2)
        row |= {name: t.median for name, t in times.items()}
        rows.append(row)
    print(json.dumps(rows))


def _jax_loss() -> Any:
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)

    def loss(params: Any, x: Any, labels: Any) -> Any:
        for layer in params[:-1]:
            x = jnp.tanh(x @ layer["W"] + layer["b"])
        logits = x @ params[-1]["W"] + params[-1]["b"]
        shifted = logits - jax.scipy.special.logsumexp(logits, axis=1, keepdims=True)
        return -jnp.mean(jnp.take_along_axis(shifted, labels[:, None], axis=1))

    def make() -> Any:
        compiled = jax.jit(jax.value_and_grad(loss))
        return lambda *args: jax.block_until_ready(compiled(*args))

    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 512 and 4096 only")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    batches = BATCHES[:2] if options.quick else BATCHES
    if options.child:
        child(batches)
        return
    here = os.path.dirname(os.path.abspath(__file__))
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'malloc':>10s} {'batch':>6s} {'tracegrad':>10s} {'faults':>7s} {'JAX':>10s} JAX/tg")
    for tuned in ("0", "1"):
        env = dict(os.environ, TRACEGRAD_TUNE_MALLOC=tuned)
        command = [sys.executable, os.path.join(here, "heap.py"), "--child"]
        command += ["--quick"] * options.quick
        output = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
        for row in json.loads(output.stdout.strip().splitlines()[-1]):
            mode = "tracegrad" if tuned == "1" else "glibc"
            jax_time = row.get("JAX")
            versus = f"{jax_time / row['tracegrad']:.2f}x" if jax_time else "-"
            print(
                f"{mode:>10s} {row['batch']:6d} {row['tracegrad'] * 1e3:8.2f}ms "
                f"{row['tracegrad faults']:7.0f} "
                + (f"{jax_time * 1e3:8.2f}ms " if jax_time else f"{'-':>10s} ")
                + versus
            )


if __name__ == "__main__":
    main()
