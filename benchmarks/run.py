#!/usr/bin/env python
"""tracegrad benchmarks against hand-written NumPy and Numba, and JAX / PyTorch / autograd.

    python benchmarks/run.py [--quick] [--only NAME[,NAME]] [--json out.json] [--skip jax,...]

Everything is measured in this one process. For each workload every competitor is timed with
timeit-style autorange, then in several round-robin rounds, and the median round is
reported (``timing.py``). Before timing, every competitor's value and gradient are checked
against the hand-written NumPy baseline; a competitor that disagrees is reported and not
timed. The first-call (trace + compile) time of the MLP gradient is measured in fresh
subprocesses: with an empty cache directory (cold), then again with that warm directory.

BLAS is pinned to one thread (as are XLA and Torch), and the process to one core, so that
the comparison is of the code, not of the thread pools. This is a benchmark, not a test:
nothing here fails on a slow figure.
"""

import os

# Pin every BLAS to one thread before anything loads one (NumPy, SciPy, Numba, JAX, Torch).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
# And the process to one core: JAX 0.10 runs larger programs on a second thread whatever
# these variables and XLA's flags say (15 ms of processor time in 8 ms for an MLP).
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
# Timed rows measure compiled code, compiled before the first answer (and so do their
# subprocesses): the background policy would time the interpreter instead.
os.environ.setdefault("TRACEGRAD_COMPILE", "sync")

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (str(HERE), str(ROOT)):  # this checkout's tracegrad, then the helper modules
    if _path not in sys.path:
        sys.path.insert(0, _path)

import numpy as np  # noqa: E402

try:  # belt and braces: also limit any BLAS already loaded
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

import frameworks  # noqa: E402
import workloads as W  # noqa: E402
from timing import format_seconds, interleaved  # noqa: E402

# The workload whose first call is measured in fresh processes (a performance target).
FIRST_CALL_WORKLOAD = "mlp_b64_f32"


@dataclass(frozen=True)
class Mode:
    rounds: int  # round-robin rounds per workload
    target_s: float  # autorange: calls per measurement take at least this long
    cold_runs: int  # fresh processes with an empty cache directory
    warm_runs: int  # fresh processes reusing the first cold run's cache directory


MODES = {
    "quick": Mode(rounds=3, target_s=0.02, cold_runs=1, warm_runs=1),
    "full": Mode(rounds=7, target_s=0.1, cold_runs=2, warm_runs=3),
}

# The performance targets (the table at the end of docs/performance.md).
TARGET_OVERHEAD_S = 2e-6  # compiled value_and_grad of the tiny function, per call
TARGET_BASELINE_RATIO = 1.3  # tracegrad / best hand-written baseline
TARGET_FORWARD_RATIO = 3.0  # value_and_grad / forward
TARGET_COLD_S = 1.5  # first MLP gradient in a new process, empty cache
TARGET_WARM_S = 0.15  # the same with a warm disk cache


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# =============================================================================================
# Environment description


def backend_state() -> str:
    """Which backend tracegrad's executables use in this process, and why."""
    requested = os.environ.get("TRACEGRAD_BACKEND", "numba")
    if requested != "numba":
        return f"{requested} (forced by TRACEGRAD_BACKEND)"
    try:
        import tracegrad.backend.compiler  # noqa: F401
    except ImportError as e:
        return f"interpret (NumPy interpreter fallback: Numba backend unavailable: {e})"
    return "numba"


def machine() -> dict[str, Any]:
    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def versions(peers: dict[str, str]) -> dict[str, str]:
    import numba

    import tracegrad

    ours = {"tracegrad": tracegrad.__version__, "numpy": np.__version__}
    return ours | {"numba": numba.__version__} | peers


# =============================================================================================
# One workload: check every competitor, then time them together


def _check(name: str, got: Any, want: Any, rtol: float, errors: dict[str, str]) -> bool:
    problem = W.check_value_and_grad(got, want, rtol)
    if problem:
        errors[name] = f"disagrees with the hand-written NumPy gradient: {problem}"
        log(f"  ! {name}: {errors[name]}")
    return problem is None


def _check_value(name: str, got: Any, want: Any, rtol: float, errors: dict[str, str]) -> bool:
    err = W.max_rel_error(got, want)
    if err > rtol:
        errors[name] = f"forward value disagrees with NumPy: rel. error {err:.2e} (rtol {rtol})"
        log(f"  ! {name}: {errors[name]}")
    return err <= rtol


def run_workload(w: W.Workload, peers: dict[str, str], mode: Mode) -> dict[str, Any]:
    import tracegrad as tg

    args = w.make_args(False)
    want = w.numpy_vg(*args)
    want_value = w.numpy_fwd(*args)
    errors: dict[str, str] = {}
    first_call: dict[str, float] = {}
    competitors: dict[str, tuple] = {}

    def attempt(name: str, build, forward: bool = False) -> None:
        """Build a competitor, run it once (timed: its first call), check it, enlist it."""
        try:
            t0 = time.perf_counter()
            fn, fn_args = build()
            out = fn(*fn_args)
            first_call[name] = time.perf_counter() - t0
        except Exception as e:  # noqa: BLE001  (report and go on with the others)
            errors[name] = f"{type(e).__name__}: {e}"
            log(f"  ! {name} failed: {errors[name]}")
            return
        if forward:
            ok = _check_value(name, out, want_value, w.rtol, errors)
        else:
            ok = _check(name, frameworks.to_numpy(out), want, w.rtol, errors)
        if ok:
            competitors[name] = w.timed_call(fn, fn_args, forward=forward)

    loss = w.loss(np)
    attempt("tracegrad", lambda: (tg.value_and_grad(loss), args))
    attempt("tracegrad_fwd", lambda: (tg.jit(loss), args), forward=True)
    attempt("numpy", lambda: (w.numpy_vg, args))
    attempt("numpy_fwd", lambda: (w.numpy_fwd, args), forward=True)
    if w.numba:

        def numba_kernel():
            from numba_kernels import KERNELS

            return KERNELS[w.numba], args

        attempt("numba", numba_kernel)
    for peer in peers:

        def build_peer(peer=peer):
            fn, convert = frameworks.VALUE_AND_GRAD[peer](w)
            return fn, convert(args)

        attempt(peer, build_peer)

    log(f"  timing {', '.join(competitors)}")
    timings = interleaved(competitors, mode.rounds, mode.target_s)
    medians = {name: t.median for name, t in timings.items()}
    return {
        "name": w.name,
        "note": w.note,
        "median_s": medians,
        "timings": {name: t.as_dict() for name, t in timings.items()},
        "first_call_s": first_call,
        "errors": errors,
        "ratios": ratios(medians),
    }


def ratios(m: dict[str, float]) -> dict[str, float]:
    def ratio(a: str, b: str) -> float | None:
        return m[a] / m[b] if a in m and b in m else None

    baselines = [m[b] for b in ("numpy", "numba") if b in m]
    out = {
        "tracegrad/numpy": ratio("tracegrad", "numpy"),
        "tracegrad/numba": ratio("tracegrad", "numba"),
        "tracegrad/best_baseline": (m["tracegrad"] / min(baselines))
        if "tracegrad" in m and baselines
        else None,
        "tracegrad/jax": ratio("tracegrad", "jax"),
        "tracegrad/torch": ratio("tracegrad", "torch"),
        "vg/fwd": ratio("tracegrad", "tracegrad_fwd"),
        "numpy vg/fwd": ratio("numpy", "numpy_fwd"),
    }
    return {k: v for k, v in out.items() if v is not None}


# =============================================================================================
# First call in a fresh process

_FIRST_CALL_SCRIPT = """
import json, sys, time
sys.path[:0] = {paths!r}
import numpy as np
import workloads
w = workloads.BY_NAME[{workload!r}]
args = w.make_args(False)
t0 = time.perf_counter()
{setup}
t1 = time.perf_counter()
{call}
t2 = time.perf_counter()
result = {{"import_s": t1 - t0, "first_call_s": t2 - t1}}
{stats}
print("RESULT " + json.dumps(result))
"""

# tracegrad's compile statistics, when this version has them: proof that a warm run compiled
# nothing and loaded from the disk cache.
_TRACEGRAD_STATS = """
stats = getattr(tg, "compile_stats", None)
if stats is None and "tracegrad.backend.stats" in sys.modules:
    stats = getattr(sys.modules["tracegrad.backend.stats"], "compile_stats", None)
if stats is not None:
    s = stats()
    result.update(compiles=s.compiles, disk_hits=s.disk_hits)
result["scipy_linalg_imported"] = "scipy.linalg" in sys.modules  # 0.15-0.35 s when True
"""

# What any warm start through Numba pays at least: importing it, and initialising its runtime
# (NRT), which every kernel links against. The warm tracegrad run minus this is ours.
_NUMBA_FLOOR = (
    "import numba",
    "from numba.core.registry import cpu_target\n"
    "from numba.core.runtime import rtsys\n"
    "rtsys.initialize(cpu_target.target_context)",
    "",
)

_FIRST_CALL = {
    "tracegrad": (
        "import tracegrad as tg",
        "out = tg.value_and_grad(w.loss(np))(*args)",
        _TRACEGRAD_STATS,
    ),
    "jax": (
        "import jax, jax.numpy as jnp\njax.config.update('jax_enable_x64', True)",
        "out = jax.block_until_ready(jax.jit(jax.value_and_grad(w.loss(jnp)))(*args))",
        "",
    ),
    "numba_floor": _NUMBA_FLOOR,
}


def first_call_in_new_process(who: str, cache_dir: Path) -> dict[str, float]:
    setup, call, stats = _FIRST_CALL[who]
    script = _FIRST_CALL_SCRIPT.format(
        paths=[str(ROOT), str(HERE)],
        workload=FIRST_CALL_WORKLOAD,
        setup=setup,
        call=call,
        stats=stats,
    )
    env = dict(os.environ)
    env["TRACEGRAD_CACHE_DIR"] = str(cache_dir)
    env["NUMBA_CACHE_DIR"] = str(cache_dir / "numba")
    env.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600
    )
    total = time.perf_counter() - t0
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{who} first-call subprocess failed:\n{proc.stderr[-2000:]}")
    result = json.loads(lines[-1][len("RESULT ") :])
    result["process_s"] = total
    return result


def run_first_call(peers: dict[str, str], mode: Mode) -> dict[str, Any]:
    out: dict[str, Any] = {"workload": FIRST_CALL_WORKLOAD}
    root = Path(tempfile.mkdtemp(prefix="tracegrad-bench-"))
    try:
        cold, warm = [], []
        for i in range(mode.cold_runs):
            log(f"  tracegrad, empty cache (run {i + 1}/{mode.cold_runs})")
            cold.append(first_call_in_new_process("tracegrad", root / f"cache{i}"))
        for i in range(mode.warm_runs):
            log(f"  tracegrad, warm cache (run {i + 1}/{mode.warm_runs})")
            warm.append(first_call_in_new_process("tracegrad", root / "cache0"))
        out["tracegrad_cold"] = _summarise(cold)
        out["tracegrad_warm"] = _summarise(warm)
        log("  Numba alone: import and runtime initialisation (the warm-start floor)")
        floor = [first_call_in_new_process("numba_floor", root / "floor") for _ in warm]
        out["numba_floor"] = _summarise(floor)
        if "jax" in peers:
            log("  jax (no persistent cache: every new process compiles)")
            out["jax_cold"] = _summarise([first_call_in_new_process("jax", root / "jax")])
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        out["error"] = str(e)
        log(f"  ! {e}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


def _summarise(runs: list[dict[str, float]]) -> dict[str, Any]:
    keys = runs[0].keys()
    return {k: statistics.median(r[k] for r in runs) for k in keys} | {"runs": runs}


def _compiles(summary: dict[str, Any]) -> str:
    """ "compiles / disk-cache hits" of each run, e.g. "3/0, 3/0" or "0/3"."""
    runs = summary["runs"]
    if "compiles" not in runs[0]:
        return "-"
    return ", ".join(f"{r['compiles']}/{r['disk_hits']}" for r in runs)


# =============================================================================================
# Targets and the printed report


def evaluate_targets(results: list[dict], first: dict[str, Any] | None) -> list[dict]:
    """Each performance target: the measured figure, the limit, and whether it is met."""
    out = []

    def add(target: str, value: float | None, limit: float, unit: str = "x") -> None:
        if value is not None:
            out.append(
                {
                    "target": target,
                    "value": value,
                    "limit": limit,
                    "unit": unit,
                    "met": value <= limit,
                }
            )

    by_name = {r["name"]: r for r in results}
    if "poly" in by_name and "tracegrad" in by_name["poly"]["median_s"]:
        poly = by_name["poly"]["median_s"]["tracegrad"]
        add("per-call time, tiny function", poly, TARGET_OVERHEAD_S, "s")
    for r in results:
        ra = r["ratios"]
        add(
            f"{r['name']}: tracegrad / best hand-written",
            ra.get("tracegrad/best_baseline"),
            TARGET_BASELINE_RATIO,
        )
        add(f"{r['name']}: tracegrad / JAX", ra.get("tracegrad/jax"), 1.0)
        add(f"{r['name']}: value_and_grad / forward", ra.get("vg/fwd"), TARGET_FORWARD_RATIO)
    if first and "tracegrad_cold" in first:
        add(
            "MLP first call, new process, empty cache",
            first["tracegrad_cold"]["first_call_s"],
            TARGET_COLD_S,
            "s",
        )
        add(
            "MLP first call, new process, warm cache",
            first["tracegrad_warm"]["first_call_s"],
            TARGET_WARM_S,
            "s",
        )
    return out


COLUMNS = [  # (header, key into medians or ratios, kind)
    ("tracegrad", "tracegrad", "t"),
    ("tg fwd", "tracegrad_fwd", "t"),
    ("NumPy", "numpy", "t"),
    ("NumPy fwd", "numpy_fwd", "t"),
    ("Numba", "numba", "t"),
    ("JAX", "jax", "t"),
    ("Torch", "torch", "t"),
    ("autograd", "autograd", "t"),
    ("tg/NumPy", "tracegrad/numpy", "r"),
    ("tg/Numba", "tracegrad/numba", "r"),
    ("tg/best", "tracegrad/best_baseline", "r"),
    ("tg/JAX", "tracegrad/jax", "r"),
    ("vg/fwd", "vg/fwd", "r"),
]


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def results_table(results: list[dict]) -> str:
    present = [
        c for c in COLUMNS if any(c[1] in r["median_s"] or c[1] in r["ratios"] for r in results)
    ]
    rows = []
    for r in results:
        cells = [r["name"]]
        for _, key, kind in present:
            if kind == "t":
                cell = format_seconds(r["median_s"].get(key))
                if key in r["errors"]:
                    cell = "FAILED"
            else:
                v = r["ratios"].get(key)
                cell = "-" if v is None else f"{v:.2f}"
            cells.append(cell)
        rows.append(cells)
    return markdown_table(["workload"] + [c[0] for c in present], rows)


def first_call_table(first: dict[str, Any]) -> str:
    rows = []
    for key, label in (
        ("tracegrad_cold", "tracegrad, empty cache"),
        ("tracegrad_warm", "tracegrad, warm cache"),
        ("numba_floor", "Numba alone: import, runtime init"),
        ("jax_cold", "JAX (compiles every process)"),
    ):
        if key in first:
            s = first[key]
            rows.append(
                [
                    label,
                    format_seconds(s["import_s"]),
                    format_seconds(s["first_call_s"]),
                    format_seconds(s["process_s"]),
                    str(len(s["runs"])),
                    _compiles(s),
                ]
            )
    headers = ["new process", "import", "first gradient", "whole process", "runs", "compiles/hits"]
    return markdown_table(headers, rows)


def targets_table(targets: list[dict]) -> str:
    """Single targets as rows; the per-workload ones summarised as "k of n met, worst ..."."""

    def shown(value: float, seconds: bool) -> str:
        return format_seconds(value) if seconds else f"{value:.2f}"

    rows, groups = [], {}
    for t in targets:
        if ": " in t["target"]:  # "<workload>: <what>"
            workload, what = t["target"].split(": ", 1)
            groups.setdefault(what, []).append((workload, t))
            continue
        seconds = t["unit"] == "s"
        verdict = "met" if t["met"] else f"missed, {t['value'] / t['limit']:.2f}x over"
        rows.append([t["target"], shown(t["value"], seconds), shown(t["limit"], seconds), verdict])
    for what, items in groups.items():
        met = sum(t["met"] for _, t in items)
        worst_name, worst = max(items, key=lambda item: item[1]["value"] / item[1]["limit"])
        verdict = "met" if met == len(items) else f"missed on {len(items) - met}"
        rows.append(
            [
                f"{what}, every workload",
                f"{met} of {len(items)} met; worst {worst_name} {worst['value']:.2f}",
                f"{worst['limit']:.2f}",
                verdict,
            ]
        )
    return markdown_table(["target", "measured", "limit", "verdict"], rows)


def report(doc: dict[str, Any]) -> str:
    out = [
        f"tracegrad benchmarks, {doc['date']}, mode {doc['mode']}",
        f"machine: {doc['machine']['cpu']}, {doc['machine']['cores']} cores, "
        f"{doc['machine']['system']}, Python {doc['machine']['python']}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in doc["versions"].items()),
        f"tracegrad backend: {doc['backend']}",
        "BLAS/OpenMP/XLA/Torch threads: 1. Median time per call over interleaved rounds.",
    ]
    if doc["workloads"]:
        out += ["", results_table(doc["workloads"])]
    for r in doc["workloads"]:
        for name, err in r["errors"].items():
            out.append(f"  {r['name']}: {name}: {err}")
    tg_first = {
        r["name"]: r["first_call_s"]["tracegrad"]
        for r in doc["workloads"]
        if "tracegrad" in r["first_call_s"]
    }
    if tg_first:
        out += [
            "",
            "tracegrad first call in this process (trace + build, value_and_grad): "
            + ", ".join(f"{k} {format_seconds(v)}" for k, v in tg_first.items()),
        ]
    if doc.get("first_call"):
        first = doc["first_call"]
        out += ["", f"First {first['workload']} gradient in a fresh process (after import):"]
        out.append(first_call_table(first) if "tracegrad_cold" in first else first["error"])
    if doc["targets"]:
        out += ["", "Targets:", targets_table(doc["targets"])]
        if not doc["backend"].startswith("numba"):
            out.append(
                "Note: tracegrad ran on its NumPy interpreter, not compiled code; the "
                "first-call figures compile nothing and say nothing about the compile targets."
            )
    return "\n".join(out)


# =============================================================================================
# Main


def select(only: str | None) -> tuple[list[W.Workload], bool]:
    """The workloads named by ``--only`` (exact names or prefixes), and whether to run the
    fresh-process first-call measurement (named ``first_call``)."""
    if not only:
        return list(W.WORKLOADS), True
    names = [n.strip() for n in only.split(",") if n.strip()]
    chosen = [w for w in W.WORKLOADS if any(w.name == n or w.name.startswith(n) for n in names)]
    unknown = [
        n for n in names if n != "first_call" and not any(w.name.startswith(n) for w in W.WORKLOADS)
    ]
    if unknown:
        valid = ", ".join([w.name for w in W.WORKLOADS] + ["first_call"])
        raise SystemExit(f"unknown workload(s) {unknown}; choose from: {valid}")
    return chosen, "first_call" in names


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, shorter (~2 min)")
    parser.add_argument(
        "--only", help="comma-separated workload names or prefixes (and/or 'first_call')"
    )
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument(
        "--skip", default="", help="comma-separated peers not to import: jax,torch,autograd"
    )
    opts = parser.parse_args(argv)
    mode_name = "quick" if opts.quick else "full"
    mode = MODES[mode_name]
    chosen, with_first_call = select(opts.only)

    # A private cache for this run, so that the in-process first calls are cold and the
    # run leaves nothing behind. TRACEGRAD_CACHE_DIR set by the caller is respected.
    own_cache = None
    if "TRACEGRAD_CACHE_DIR" not in os.environ:
        own_cache = tempfile.mkdtemp(prefix="tracegrad-bench-cache-")
        os.environ["TRACEGRAD_CACHE_DIR"] = own_cache

    started = time.perf_counter()
    peers = frameworks.available({s.strip() for s in opts.skip.split(",") if s.strip()})
    limits = threadpool_limits(1) if threadpool_limits else None
    doc: dict[str, Any] = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "mode": mode_name,
        "machine": machine(),
        "versions": versions(peers),
        "backend": backend_state(),
        "workloads": [],
        "first_call": None,
    }
    log(f"backend: {doc['backend']}; peers: {', '.join(peers) or 'none'}")
    try:
        for w in chosen:
            log(f"{w.name}: {w.note}")
            doc["workloads"].append(run_workload(w, peers, mode))
        if with_first_call:
            log("first call in fresh processes")
            doc["first_call"] = run_first_call(peers, mode)
    finally:
        if own_cache:
            shutil.rmtree(own_cache, ignore_errors=True)
        if limits is not None:
            limits.unregister()
    doc["targets"] = evaluate_targets(doc["workloads"], doc["first_call"])
    doc["elapsed_s"] = time.perf_counter() - started
    print(report(doc))
    print(f"\n(total {doc['elapsed_s']:.0f} s)")
    if opts.json:
        Path(opts.json).write_text(json.dumps(doc, indent=1, default=str) + "\n")
        log(f"wrote {opts.json}")
    return doc


if __name__ == "__main__":
    main()
