"""Warm start: a new process whose kernel is in the disk cache, timed from `import tracegrad`.

Each repeat is a fresh interpreter. The first run fills a private cache directory; the timed
runs then find every kernel there. Printed per program: the time of `import tracegrad`
(after NumPy) and of the first compiled result after the import, min-max over the repeats.

    python benchmarks/warm_start.py [--repeats 7] [--profile]
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

# The catalogue's programs (benchmarks/catalogue.py) timed here: a vector-weight model and an
# MLP given as a list of layers.
PROGRAMS = ("logistic regression", "MLP 16-64-64-10")

TEMPLATE = """
import time, json, sys
import numpy as np
sys.path.insert(0, {here!r})
from catalogue import by_name
program = by_name({name!r})
loss, args = program.loss(np), program.args()
t0 = time.perf_counter()
import tracegrad as tg
t1 = time.perf_counter()
out = tg.grad(loss)(*args)
t2 = time.perf_counter()
s = tg.compile_stats()
print(json.dumps({{"import": t1 - t0, "first": t2 - t1, "compiles": s.compiles,
                   "hits": s.disk_hits, "numba": "numba" in sys.modules}}))
"""


def run(script: str, cache_dir: str, *flags: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACEGRAD_")}
    env.update(TRACEGRAD_CACHE_DIR=cache_dir, TRACEGRAD_COMPILE="sync", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, *flags, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "stderr": done.stderr}


def span(values: list[float]) -> str:
    return f"{min(values) * 1e3:6.0f}-{max(values) * 1e3:4.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="print -X importtime's top 25")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tracegrad-warm-") as cache_dir:
        for name in PROGRAMS:
            script = TEMPLATE.format(here=str(Path(__file__).resolve().parent), name=name)
            cold = run(script, cache_dir)
            runs = [run(script, cache_dir) for _ in range(options.repeats)]
            assert all(r["compiles"] == 0 and r["hits"] >= 1 for r in runs), runs[-1]
            print(
                f"{name:20s} import {span([r['import'] for r in runs])}   first compiled "
                f"result {span([r['first'] for r in runs])}   (cold {cold['first']:.2f} s)"
            )
            if options.profile:
                stderr = run(script, cache_dir, "-X", "importtime")["stderr"]
                rows = [line.split("|") for line in stderr.splitlines() if "|" in line][1:]
                rows.sort(key=lambda r: -int(r[0].split(":")[1]))
                for row in rows[:25]:
                    print(f"    self {int(row[0].split(':')[1]) / 1e3:6.1f} ms  {row[2].rstrip()}")


if __name__ == "__main__":
    main()
