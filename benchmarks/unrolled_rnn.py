"""Compile time of an RNN written as a Python loop, against the number of unrolled steps.

Each length runs in a fresh process with a private, empty cache directory: the time is the
first call of ``tg.grad`` (trace, generate, compile), then the generated source's size and
its njit functions are counted.

    python benchmarks/unrolled_rnn.py [--steps 10 20 30 50 100] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import json, time
import numpy as np
import tracegrad as tg

T = {steps}
def loss(Wx, Wh, b, x):
    h = np.zeros(16)
    for t in range(T):
        h = np.tanh(x[t] @ Wx + h @ Wh + b)
    return np.sum(h ** 2)

rng = np.random.default_rng(0)
args = (rng.normal(size=(8, 16)) * 0.3, rng.normal(size=(16, 16)) * 0.3, np.zeros(16),
        rng.normal(size=(T, 8)))
g = tg.grad(loss, argnums=(0, 1, 2))
start = time.perf_counter()
g(*args)
seconds = time.perf_counter() - start
source = tg.show_source(g)(*args)
print(json.dumps({{"seconds": seconds, "lines": source.count("\\n"),
                   "njit": source.count("@numba.njit"), "compiles": tg.compile_stats().compiles}}))
"""


def measure(steps: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="tracegrad-rnn-") as cache_dir:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRACEGRAD_")}
        env.update(TRACEGRAD_CACHE_DIR=cache_dir, TRACEGRAD_COMPILE="sync", PYTHONPATH=str(ROOT))
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT.format(steps=steps)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 20, 30, 50, 100])
    parser.add_argument("--repeats", type=int, default=1)
    options = parser.parse_args()
    for steps in options.steps:
        runs = [measure(steps) for _ in range(options.repeats)]
        times = [r["seconds"] for r in runs]
        r = runs[-1]
        print(
            f"T={steps:4d}  compile {min(times):6.2f}-{max(times):6.2f} s  "
            f"{r['lines']:6d} lines  {r['njit']:4d} njit functions  {r['compiles']} compiled",
            flush=True,
        )


if __name__ == "__main__":
    main()
