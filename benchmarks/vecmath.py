#!/usr/bin/env python
"""tracegrad.backend.vecmath against math.* in a Numba loop and against NumPy's SIMD ufuncs.

    python benchmarks/vecmath.py [--quick] [--skip-compile]

All in this one process except the compile-time scenarios, which each run in fresh
subprocesses. Four parts:

1. ns per element at N = 1e3, 1e5, 1e6: a loop over ``math.exp``/``math.sin``/..., the same
   loop over our kernel, NumPy's ufunc with ``out=``; and a fused tanh forward+backward loop.
   Loops are compiled like generated code (``error_model='numpy'``, NaN-safe fastmath).
2. Whether the loop is vectorised: the widest LLVM vector type and the zmm count in the asm.
3. Max ulp error on dense sweeps, against ``np.longdouble`` (80-bit on x86).
4. Compile time of one loop, first and second loop of a fresh process: math.*, our kernel
   imported (kernel not in Numba's disk cache, or cached), our kernel as source text in the
   module (``vecmath.source``).
5. Compile time and speed of one loop with k = 1, 10, 50 chained tanh call sites (in this
   process, kernels already compiled): every call site is inlined, so LLVM's work grows.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
# Timed rows measure compiled code, compiled before the first answer (and so do their
# subprocesses): the background policy would time the interpreter instead.
os.environ.setdefault("TRACEGRAD_COMPILE", "sync")

import argparse  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for _path in (HERE, ROOT):  # this checkout's tracegrad, then the helper modules
    if _path not in sys.path:
        sys.path.insert(0, _path)

import numba  # noqa: E402
import numpy as np  # noqa: E402
from timing import interleaved  # noqa: E402

from tracegrad.backend import vecmath  # noqa: E402

LOOP = {"error_model": "numpy", "fastmath": {"reassoc", "contract", "arcp", "nsz"}}
# name: (math function, NumPy ufunc, range of the speed test's inputs)
FUNCTIONS = {
    "exp": (math.exp, np.exp, (-10.0, 10.0)),
    "tanh": (math.tanh, np.tanh, (-5.0, 5.0)),
    "log": (math.log, np.log, (0.01, 100.0)),
    "log1p": (math.log1p, np.log1p, (-0.9, 10.0)),
    "expm1": (math.expm1, np.expm1, (-5.0, 5.0)),
    "sin": (math.sin, np.sin, (-10.0, 10.0)),
    "cos": (math.cos, np.cos, (-10.0, 10.0)),
}
COMPILE_FUNCTIONS = ("exp", "tanh")  # the compile-time part: these two only
SWEEPS = {  # the accuracy part's ranges
    ("exp", "float64"): (-746.0, 710.0),
    ("exp", "float32"): (-104.0, 89.0),
    ("tanh", "float64"): (-20.0, 20.0),
    ("tanh", "float32"): (-10.0, 10.0),
    ("log", "float64"): (0.0, 4.0),
    ("log", "float32"): (0.0, 4.0),
    ("log1p", "float64"): (-1.0, 3.0),
    ("log1p", "float32"): (-1.0, 3.0),
    ("expm1", "float64"): (-40.0, 710.0),
    ("expm1", "float32"): (-18.0, 89.0),
    ("sin", "float64"): (-1e4, 1e4),
    ("sin", "float32"): (-1e4, 1e4),
    ("cos", "float64"): (-1e4, 1e4),
    ("cos", "float32"): (-1e4, 1e4),
}


def loop_over(f):
    @numba.njit(**LOOP)
    def loop(x, out):
        for i in range(x.shape[0]):
            out[i] = f(x[i])

    return loop


def fused_tanh(t):
    """y = tanh(x), gx = (1 - y^2) gy: an MLP activation's forward and backward."""

    @numba.njit(**LOOP)
    def loop(x, gy, y, gx):
        for i in range(x.shape[0]):
            yi = t(x[i])
            y[i] = yi
            gx[i] = (1 - yi * yi) * gy[i]

    return loop


def kernel(fn: str, dtype: str):
    return getattr(vecmath, f"{fn}_{'f64' if dtype == 'float64' else 'f32'}")


# ---------------------------------------------------------------------------------------------
# 1 and 2: speed and vectorisation


def timed(competitors: dict, rounds: int) -> dict[str, float]:
    """Seconds per call of each competitor, called once first (compiling it) so that the
    compile does not make timeit's autorange settle on a single call per measurement."""
    for f, args in competitors.values():
        f(*args)
    return {k: v.median for k, v in interleaved(competitors, rounds, 0.02).items()}


def speed(sizes: list[int], rounds: int) -> None:
    print("ns per element (median of interleaved rounds); math = loop over math.*\n")
    print(f"{'function':<22}{'N':>9}{'math':>9}{'vecmath':>9}{'numpy':>9}  vecmath/numpy")
    for fn, (mfun, ufunc, (lo, hi)) in FUNCTIONS.items():
        for dtype in ("float32", "float64"):
            ours, theirs = loop_over(kernel(fn, dtype)), loop_over(mfun)
            for n in sizes:
                x = np.random.default_rng(0).uniform(lo, hi, n).astype(dtype)
                out = np.empty_like(x)
                t = timed(
                    {
                        "math": (theirs, (x, out)),
                        "ours": (ours, (x, out)),
                        "numpy": (lambda x, out, u=ufunc: u(x, out=out), (x, out)),
                    },
                    rounds,
                )
                ns = {k: v / n * 1e9 for k, v in t.items()}
                print(
                    f"{fn + ' ' + dtype:<22}{n:>9.0e}{ns['math']:>9.2f}{ns['ours']:>9.3f}"
                    f"{ns['numpy']:>9.3f}  {ns['ours'] / ns['numpy']:.2f}"
                )
    print("\nfused tanh forward + backward (y = tanh x, gx = (1 - y^2) gy), ns per element")
    print(f"{'dtype':<22}{'N':>9}{'math':>9}{'vecmath':>9}{'numpy':>9}  vecmath/numpy")
    for dtype in ("float32", "float64"):
        ours, theirs = fused_tanh(kernel("tanh", dtype)), fused_tanh(math.tanh)

        def numpy_version(x, gy, y, gx):
            np.tanh(x, out=y)
            np.multiply(y, y, out=gx)
            np.subtract(1, gx, out=gx)
            np.multiply(gx, gy, out=gx)

        for n in sizes:
            rng = np.random.default_rng(0)
            x = rng.normal(0, 2, n).astype(dtype)
            args = (x, rng.normal(0, 1, n).astype(dtype), np.empty_like(x), np.empty_like(x))
            t = timed(
                {"math": (theirs, args), "ours": (ours, args), "numpy": (numpy_version, args)},
                rounds,
            )
            ns = {k: v / n * 1e9 for k, v in t.items()}
            print(
                f"{dtype:<22}{n:>9.0e}{ns['math']:>9.2f}{ns['ours']:>9.3f}{ns['numpy']:>9.3f}"
                f"  {ns['ours'] / ns['numpy']:.2f}"
            )


def vectorisation() -> None:
    print("\nvectorisation of the loop over each kernel")
    for fn in FUNCTIONS:
        for dtype in ("float32", "float64"):
            loop = loop_over(kernel(fn, dtype))
            x = np.ones(8, dtype)
            loop(x, np.empty_like(x))
            sig = loop.signatures[0]
            widths = re.findall(r"<(\d+) x (?:double|float)>", loop.inspect_llvm(sig))
            asm = loop.inspect_asm(sig)
            calls = sorted(
                set(re.findall(r"call\w*\s+\*?([\w@.]*(?:exp|tanh|log|sin|cos)\w*)", asm))
            )
            print(
                f"  {fn} {dtype}: widest vector <{max(map(int, widths), default=1)} x ...>, "
                f"{asm.count('zmm')} zmm operands, libm calls: {calls or 'none'}"
            )


# ---------------------------------------------------------------------------------------------
# 3: accuracy


def ulp_error(y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        refd = ref.astype(y.dtype)
        mag = np.abs(refd)
        below = np.abs(ref) < mag
        spacing = np.where(below, np.spacing(np.nextafter(mag, 0)), np.spacing(mag))
        err = np.abs(y.astype(np.longdouble) - ref) / spacing.astype(np.longdouble)
    special = ~np.isfinite(refd) | ~np.isfinite(y)
    same = (y == refd) | (np.isnan(y) & np.isnan(refd))
    return np.where(special, np.where(same, 0.0, np.inf), err).astype(np.float64)


def accuracy(n: int) -> None:
    print(f"\nmax ulp error against long double ({np.finfo(np.longdouble).nmant + 1}-bit)")
    print(f"on {4 * n:.1e} points: linspace and uniform over the range, +-geomspace(1e-30, 2)")
    print(f"{'function':<18}{'range':>18}{'vecmath':>10}{'numpy':>10}{'math':>10}")
    rng = np.random.default_rng(1)
    for (fn, dtype), (lo, hi) in SWEEPS.items():
        tiny = np.geomspace(1e-30, 2.0, n // 2)
        x = np.concatenate(
            [np.linspace(lo, hi, n), rng.uniform(lo, hi, n), tiny, -tiny, rng.normal(0, 2, n)]
        ).astype(dtype)
        mfun, ufunc, _ = FUNCTIONS[fn]
        with np.errstate(all="ignore"):
            ref = ufunc(x.astype(np.longdouble))
            row = []
            for f in (loop_over(kernel(fn, dtype)), lambda x, out, u=ufunc: u(x, out=out)):
                out = np.empty_like(x)
                f(x, out)
                row.append(ulp_error(out, ref).max())
            out = np.empty_like(x)
            loop_over(mfun)(x, out)
            row.append(ulp_error(out, ref).max())
        print(
            f"{fn + ' ' + dtype:<18}{f'[{lo:g}, {hi:g}]':>18}" + "".join(f"{e:>10.3f}" for e in row)
        )


# ---------------------------------------------------------------------------------------------
# 4: compile time

_CHILD = r"""
import importlib.util, os, sys, time
import numba
@numba.njit
def _warm(x):
    return x + 1.0
_warm(1.0)  # LLVM and target initialisation, paid by any first compile
from tracegrad.backend import vecmath  # imported by tracegrad's compiler anyway
scenario, dtype, fn = sys.argv[1:4]
directory = sys.argv[4]
sfx = "f64" if dtype == "float64" else "f32"
if scenario == "math":
    head, call = "", "math." + fn
elif scenario == "source":
    head, call = vecmath.source([fn + "_" + sfx]), "_vm_" + fn + "_" + sfx
else:
    head, call = f"from tracegrad.backend.vecmath import {fn}_{sfx}", fn + "_" + sfx
times = []
for k in range(2):
    src = (
        f"import math\nimport numba\nimport numpy as np\n{head}\n\n\n"
        f"@numba.njit('void({dtype}[::1], {dtype}[::1])', error_model='numpy',\n"
        "            fastmath={'reassoc', 'contract', 'arcp', 'nsz'})\n"
        f"def loop{k}(x, out):\n    for i in range(x.shape[0]):\n        out[i] = {call}(x[i])\n"
    )
    name = f"m{k}"
    path = os.path.join(directory, name + ".py")
    with open(path, "w") as f:
        f.write(src)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    t = time.perf_counter()
    spec.loader.exec_module(mod)  # the eager signature compiles here
    times.append(time.perf_counter() - t)
print(*times)
"""


def compile_time(repeats: int) -> None:
    print("\ncompile time of one loop in a fresh process (after a warm-up compile), median of")
    print(f"{repeats} processes: first loop / second loop in the same process, seconds")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    scenarios = {
        "math.*": ("math", "fresh"),
        "vecmath import, kernel compiled": ("import", "fresh"),
        "vecmath import, kernel cached": ("import", "shared"),
        "vecmath.source() in the module": ("source", "fresh"),
    }
    with tempfile.TemporaryDirectory() as shared_cache:
        for fn in COMPILE_FUNCTIONS:
            for dtype in ("float32", "float64"):
                print(f"  {fn} {dtype}")
                for label, (scenario, cache) in scenarios.items():
                    if cache == "shared":  # fill Numba's cache of the kernels once
                        _run_child(scenario, dtype, fn, env, shared_cache)
                    runs = [
                        _run_child(
                            scenario, dtype, fn, env, shared_cache if cache == "shared" else None
                        )
                        for _ in range(repeats)
                    ]
                    first = statistics.median(r[0] for r in runs)
                    second = statistics.median(r[1] for r in runs)
                    print(f"    {label:<34}{first:>7.3f} / {second:.3f}")


def _run_child(scenario, dtype, fn, env, numba_cache):
    with tempfile.TemporaryDirectory() as d:
        env = dict(env, NUMBA_CACHE_DIR=numba_cache if numba_cache else os.path.join(d, "nc"))
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, scenario, dtype, fn, d],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    return [float(v) for v in out.split()]


# ---------------------------------------------------------------------------------------------
# 5: many call sites in one loop


def call_sites(counts: list[int]) -> None:
    import time

    print("\none loop with k chained call sites v = f(0.5 v + 0.1): compile s, ns per element")
    for dtype in ("float64", "float32"):
        ours = kernel("tanh", dtype)
        ours(np.dtype(dtype).type(1.0))  # the kernel itself compiled (or loaded) beforehand
        for k in counts:
            row = []
            for call in (math.tanh, ours):
                src = "def f(x, out):\n    for i in range(x.shape[0]):\n        v = x[i]\n"
                src += "        v = F(v * H + T)\n" * k + "        out[i] = v\n"
                scalar = np.dtype(dtype).type  # float32 constants keep float32 code float32
                namespace = {"F": call, "H": scalar(0.5), "T": scalar(0.1)}
                exec(src, namespace)
                t = time.perf_counter()
                f = numba.njit(f"void({dtype}[::1], {dtype}[::1])", **LOOP)(namespace["f"])
                compile_s = time.perf_counter() - t
                x = np.random.default_rng(0).uniform(-1, 1, 100_000).astype(dtype)
                per_call = timed({"f": (f, (x, np.empty_like(x)))}, 3)["f"]
                row.append(f"{compile_s:6.3f} s {per_call / x.size * 1e9:7.1f} ns")
            print(f"  {dtype} k={k:<3} math.tanh {row[0]}   vecmath {row[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and points")
    parser.add_argument("--skip-compile", action="store_true", help="no compile-time part")
    args = parser.parse_args()
    import llvmlite.binding as llvm

    cpu = llvm.get_host_cpu_name()
    print(f"numba {numba.__version__}, numpy {np.__version__}, CPU {cpu}")
    print(f"SVML: {numba.config.USING_SVML}\n")
    speed([1000, 100_000, 1_000_000], 3 if args.quick else 7)
    vectorisation()
    accuracy(200_000 if args.quick else 2_000_000)
    if not args.skip_compile:
        compile_time(2 if args.quick else 5)
        call_sites([1, 10, 50])


if __name__ == "__main__":
    main()
