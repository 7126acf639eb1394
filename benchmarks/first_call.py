#!/usr/bin/env python
"""Time to the first gradient for the catalogue of small programs (benchmarks/catalogue.py).

    python benchmarks/first_call.py [--only NAME[,NAME]] [--json out.json] [--no-warm]

Each program runs in a fresh process. The clock starts after ``import tracegrad`` and stops
when the first ``value_and_grad`` result is back; the process's CPU time over the same span
is reported too (steadier than wall time on a shared machine). *Cold* runs get an empty
TRACEGRAD_CACHE_DIR and NUMBA_CACHE_DIR; *warm* runs reuse both; *new program* runs reuse
NUMBA_CACHE_DIR with a new TRACEGRAD_CACHE_DIR (the kernel compiles, the helper kernels it
calls, cached by Numba, do not: what a new program or shape costs on a used machine). JAX's
``jit(value_and_grad)`` is timed the same way where JAX is importable. Compiles are forced to
be synchronous (TRACEGRAD_COMPILE=sync), so these figures are the compile; the *first
answer* column is the same first call under the default policy (background: the interpreter
answers, nothing is compiled yet), with an empty cache. This is a benchmark, not a test:
nothing fails on a slow figure.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# The child: import the catalogue (NumPy only), then tracegrad, then time the first call.
# Program size (IR equations, generated lines) is measured after the clock stops.
_TRACEGRAD_CHILD = """
import json, sys, time
sys.path.insert(0, {here!r})
import numpy as np
from catalogue import by_name
program = by_name({name!r})
args = program.args()
import tracegrad as tg
t0, c0 = time.perf_counter(), time.process_time()
value, grad = tg.value_and_grad(program.loss(np))(*args)
elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
f = tg.value_and_grad(program.loss(np))
eqns = len(tg.make_ir(f)(*args).eqns)
lines = tg.show_source(f)(*args).count("\\n")
numba = "numba" in sys.modules
print(json.dumps({{"s": elapsed, "cpu": cpu, "eqns": eqns, "lines": lines, "value": float(value),
                  "numba_imported": numba}}))
"""

_JAX_CHILD = """
import json, sys, time
sys.path.insert(0, {here!r})
import numpy as np
from catalogue import by_name
program = by_name({name!r})
args = program.args()
import jax, jax.numpy as jnp
jax.config.update("jax_enable_x64", True)
t0 = time.perf_counter()
value, grad = jax.jit(jax.value_and_grad(program.loss(jnp)))(*args)
jax.block_until_ready(grad)
print(json.dumps({{"s": time.perf_counter() - t0}}))
"""


def _child(
    code: str, cache_dir: Path, tracegrad_dir: str = "tracegrad", policy: str = "sync"
) -> dict:
    env = dict(os.environ)
    env.update(
        TRACEGRAD_CACHE_DIR=str(cache_dir / tracegrad_dir),
        NUMBA_CACHE_DIR=str(cache_dir / "numba"),
        # sync times the compile; background (the default policy) the interpreted answer
        TRACEGRAD_COMPILE=policy,
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT
    )
    if proc.returncode != 0:
        raise RuntimeError(f"first-call subprocess failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(name: str, warm: bool = True, jax: bool = False) -> dict:
    """One program: cold and warm tracegrad first calls, and JAX's if asked."""
    with tempfile.TemporaryDirectory(prefix="tg-first-call-") as tmp:
        cache = Path(tmp)
        child = _TRACEGRAD_CHILD.format(here=str(HERE), name=name)
        tiered = _child(child, cache, "tiered", policy="background")
        cold = _child(child, cache)
        row = {"program": name, "eqns": cold["eqns"], "lines": cold["lines"], "cold_s": cold["s"]}
        row["first_answer_s"], row["numba_imported"] = tiered["s"], tiered["numba_imported"]
        row["cold_cpu_s"] = cold["cpu"]
        if warm:
            again = _child(_TRACEGRAD_CHILD.format(here=str(HERE), name=name), cache)
            row["warm_s"], row["warm_cpu_s"] = again["s"], again["cpu"]
            # A new program on a machine that has run tracegrad before: the kernel is not
            # cached, the kernels it calls (vecmath, numba_support) are.
            new = _child(_TRACEGRAD_CHILD.format(here=str(HERE), name=name), cache, "again")
            row["new_s"], row["new_cpu_s"] = new["s"], new["cpu"]
        if jax:
            row["jax_s"] = _child(_JAX_CHILD.format(here=str(HERE), name=name), cache)["s"]
    return row


def _table(rows: list[dict]) -> str:
    has_jax = any("jax_s" in r for r in rows)
    head = "| program | IR equations | generated lines | first answer, default policy |"
    head += " cold s (CPU s) | warm s (CPU s) | new program s (CPU s) |"
    rule = "|---|---|---|---|---|---|---|"
    if has_jax:
        head, rule = head + " JAX s |", rule + "---|"
    out = [head, rule]
    for r in rows:
        cells = [r["program"], str(r["eqns"]), str(r["lines"])]
        numba = " (Numba imported)" if r["numba_imported"] else ""
        cells.append(f"{r['first_answer_s'] * 1000:.0f} ms{numba}")
        cells.append(f"{r['cold_s']:.2f} ({r['cold_cpu_s']:.2f})")
        for k in ("warm", "new"):
            cells.append(f"{r[k + '_s']:.2f} ({r[k + '_cpu_s']:.2f})" if k + "_s" in r else "-")
        if has_jax:
            cells.append(f"{r['jax_s']:.2f}" if "jax_s" in r else "-")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated program names")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--no-warm", action="store_true", help="skip the warm runs")
    opts = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from catalogue import CATALOGUE

    names = [p.name for p in CATALOGUE]
    if opts.only:
        names = [n.strip() for n in opts.only.split(",")]
    jax = importlib.util.find_spec("jax") is not None
    if not jax:
        print("JAX is not importable: its column is skipped", file=sys.stderr)
    rows = []
    for name in names:
        rows.append(measure(name, warm=not opts.no_warm, jax=jax))
        print(f"{name}: cold {rows[-1]['cold_s']:.2f} s", file=sys.stderr, flush=True)
    print(_table(rows))
    if opts.json:
        Path(opts.json).write_text(json.dumps(rows, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
