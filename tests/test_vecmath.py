"""Accuracy and special values of tracegrad.backend.vecmath's kernels, called from a fused loop.

Each kernel is compiled once, inside the kind of loop the code generator emits (NaN-safe
fastmath flags, NumPy error model), and checked against NumPy in extended precision.
"""

from __future__ import annotations

import math
import re

import numba
import numpy as np
import pytest

from tracegrad.backend import vecmath

_LOOP_OPTIONS = {"error_model": "numpy", "fastmath": {"reassoc", "contract", "arcp", "nsz"}}

# name: (NumPy function, sweep range, max ulp error allowed)
KERNELS = {
    "exp_f64": (np.exp, (-746.0, 710.0), 1.0),
    "exp_f32": (np.exp, (-104.0, 89.0), 2.0),
    "tanh_f64": (np.tanh, (-20.0, 20.0), 1.0),
    "tanh_f32": (np.tanh, (-10.0, 10.0), 2.0),
    "log_f64": (np.log, (0.0, 4.0), 1.0),
    "log_f32": (np.log, (0.0, 4.0), 2.0),
    "log1p_f64": (np.log1p, (-1.0, 3.0), 1.0),
    "log1p_f32": (np.log1p, (-1.0, 3.0), 2.0),
    "expm1_f64": (np.expm1, (-40.0, 710.0), 1.0),
    "expm1_f32": (np.expm1, (-18.0, 89.0), 2.0),
    "sin_f64": (np.sin, (-1e4, 1e4), 1.0),
    "sin_f32": (np.sin, (-1e4, 1e4), 2.0),
    "cos_f64": (np.cos, (-1e4, 1e4), 1.0),
    "cos_f32": (np.cos, (-1e4, 1e4), 2.0),
}

_EXTENDED = np.finfo(np.longdouble).nmant >= 63  # x87 80-bit: a reference for float64


def _dtype(name: str) -> type:
    return np.float64 if name.endswith("64") else np.float32


def _loop(kernel):
    @numba.njit(**_LOOP_OPTIONS)
    def loop(x, out):
        for i in range(x.shape[0]):
            out[i] = kernel(x[i])

    return loop


_LOOPS: dict[str, object] = {}


def apply(name: str, x: np.ndarray) -> np.ndarray:
    """The kernel ``name`` over ``x`` in a compiled loop (one compile per kernel)."""
    if name not in _LOOPS:
        _LOOPS[name] = _loop(getattr(vecmath, name))
    out = np.empty_like(x)
    _LOOPS[name](x, out)
    return out


def reference(name: str, x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return KERNELS[name][0](x.astype(np.longdouble))


def ulp_error(y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|y - ref| in units in the last place of ref rounded to y's dtype; inf where y is
    infinite or NaN and ref is not the same."""
    with np.errstate(over="ignore", invalid="ignore"):
        refd = ref.astype(y.dtype)
        mag = np.abs(refd)
        below = np.abs(ref) < mag  # rounded up: at a power of two the lower spacing applies
        spacing = np.where(below, np.spacing(np.nextafter(mag, 0)), np.spacing(mag))
        err = np.abs(y.astype(np.longdouble) - ref) / spacing.astype(np.longdouble)
    special = ~np.isfinite(refd) | ~np.isfinite(y)
    same = (y == refd) | (np.isnan(y) & np.isnan(refd))
    return np.where(special, np.where(same, 0.0, np.inf), err).astype(np.float64)


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return ((a == b) & (np.signbit(a) == np.signbit(b))) | (np.isnan(a) & np.isnan(b))


def _skip_without_reference(name: str) -> None:
    if _dtype(name) == np.float64 and not _EXTENDED:
        pytest.skip("no extended-precision long double for a float64 reference")


@pytest.mark.parametrize("name", list(KERNELS))
def test_accuracy_on_a_sweep(name):
    _skip_without_reference(name)
    _, (lo, hi), bound = KERNELS[name]
    rng = np.random.default_rng(0)
    n = 100_000
    tiny = np.geomspace(1e-30, 2.0, n // 4)
    x = np.concatenate(
        [np.linspace(lo, hi, n), rng.uniform(lo, hi, n), tiny, -tiny, rng.normal(0, 2, n)]
    ).astype(_dtype(name))
    err = ulp_error(apply(name, x), reference(name, x))
    worst = int(np.argmax(err))
    assert err[worst] <= bound, f"{name}({x[worst]!r}): {err[worst]:.3f} ulp"


# Inputs whose results must be exactly NumPy's (sign of zero included), per function.
_EXACT = {
    "exp": [1000.0, -1000.0, 1e30, -1e30],
    "tanh": [25.0, -25.0, 1e30, -1e30, 1e-9, -1e-9],
    "log": [-1.0, -1e-30, -math.inf, 1.0],
    "log1p": [-1.0, -2.0, -1e30, 1e-30, -1e-30, 1e-9, -1e-9],
    "expm1": [1000.0, -1000.0, 1e30, -1e30, 1e-30, -1e-30, 1e-9, -1e-9],
    "sin": [1e-30, -1e-30, 1e-9, -1e-9, 1e-5, -1e-5],
    "cos": [1e-30, -1e-30, 1e-9, -1e-9],
}
# Near multiples of pi/2 (the reduction cancels), at the ends of the polynomials' interval, at
# 2^55 (where the reduction's table rows start), huge. 6381956970095103 * 2^797 is the float64
# closest to a multiple of pi/2 (its distance is 4.7e-19).
_TRIG_EDGES = [
    *(k * math.pi / 2 for k in (1, 2, 3, 4, 5, 100, 1001)),
    *(k * math.pi / 4 for k in (1, 3, 5)),
    0.7853981,
    0.7853982,
    2.0**55,
    2.0**55 - 4.0,
    2.0**56,
    2.0**128,
    1e22,
    1e38,
    1e200,
    3.4e38,
    1.7e308,
    math.ldexp(6381956970095103, 797),
    33554431.0,
    16777215.0,
]
# Finite inputs at the ends of each range: within the kernel's ulp bound.
_EDGES = {
    "exp_f64": [709.78, 709.7, -708.5, -720.0, -740.0, -745.0, 1.0, -1.0, 1e-5, -1e-5],
    "exp_f32": [88.72, 88.7, -87.5, -90.0, -100.0, -103.2, 1.0, -1.0, 1e-5, -1e-5],
    "tanh": [19.0, 18.0, 9.0, 0.625, 0.62, 0.3, 0.29, 1e-4, 1e-5],
    "log": [1e-300, 1e-40, 1e-310, 1e300, 1e38, 0.7071, 0.7072, 1.4142, 1.4143, 1e-5],
    "log1p": [1e300, 1e38, -0.999999, -0.5, 0.4142, 0.4143, -0.2929, 1e-5, -1e-5, 1e-17],
    "expm1_f64": [709.78, 709.7, 40.0, 37.5, 37.0, -37.0, -38.0, 1e-5, -1e-5, 0.3466],
    "expm1_f32": [88.72, 88.7, 18.0, 17.5, 17.0, -17.0, -18.0, 1e-5, -1e-5, 0.3466],
    "sin": _TRIG_EDGES,
    "cos": _TRIG_EDGES,
}


@pytest.mark.parametrize("name", list(KERNELS))
def test_special_values(name):
    dtype = _dtype(name)
    info = np.finfo(dtype)
    fn = name.split("_")[0]
    x = [0.0, -0.0, math.inf, -math.inf, math.nan, -math.nan, info.max, -info.max]
    if fn != "log":  # log of tiny values is in the edges below
        x += [info.tiny, -info.tiny, info.smallest_subnormal, -info.smallest_subnormal]
    x = np.array(x + _EXACT[fn], dtype)
    with np.errstate(all="ignore"):
        expected = KERNELS[name][0](x)
    got = apply(name, x)
    assert _same(got, expected).all(), [
        (v, g, e) for v, g, e in zip(x, got, expected, strict=True) if not _same(g, e)
    ]


@pytest.mark.parametrize("name", list(KERNELS))
def test_extremes_within_the_bound(name):
    _skip_without_reference(name)
    fn = name.split("_")[0]
    x = np.array(_EDGES.get(name, _EDGES.get(fn)))
    x = x[np.abs(x) <= np.finfo(_dtype(name)).max].astype(_dtype(name))
    if fn in ("tanh", "expm1", "exp", "sin", "cos"):
        x = np.concatenate([x, -x])
    if fn == "log":
        x = np.concatenate([x, [np.finfo(x.dtype).tiny, np.finfo(x.dtype).smallest_subnormal]])
    x = x.astype(_dtype(name))
    err = ulp_error(apply(name, x), reference(name, x))
    assert (err <= KERNELS[name][2]).all(), list(zip(x, err, strict=True))


@pytest.mark.parametrize("name", list(KERNELS))
def test_the_loop_is_vectorised(name):
    apply(name, np.ones(4, _dtype(name)))
    loop = _LOOPS[name]
    ir_text = loop.inspect_llvm(loop.signatures[0])
    element = "double" if name.endswith("64") else "float"
    assert re.search(rf"<\d+ x {element}>", ir_text), "no vector instructions in the loop"
    assert not re.search(r"call [^\n]*@(exp|tanh|log|log1p|expm1|sin|cos)f?\(", ir_text), (
        "libm call"
    )


@pytest.mark.parametrize("name", ["sin_f64", "sin_f32", "cos_f64", "cos_f32"])
def test_trig_accuracy_over_the_whole_range(name):
    """sin and cos reduce any finite argument exactly: log-uniform up to the dtype's max."""
    _skip_without_reference(name)
    dtype = _dtype(name)
    rng = np.random.default_rng(1)
    top = np.log10(np.finfo(dtype).max)
    x = 10.0 ** rng.uniform(-3, top, 100_000)
    x = np.concatenate([x, -x, rng.uniform(-1e9, 1e9, 50_000)]).astype(dtype)
    err = ulp_error(apply(name, x), reference(name, x))
    worst = int(np.argmax(err))
    assert err[worst] <= KERNELS[name][2], f"{name}({x[worst]!r}): {err[worst]:.3f} ulp"


def test_source_text_defines_the_kernels():
    text = vecmath.source(["tanh_f32", "log_f64"])
    namespace: dict = {}
    exec("import math\nimport numba\nimport numpy as np\n" + text, namespace)
    assert "_vm_tanh_f32" in namespace and "_vm_log_f64" in namespace
    assert "_vm_exp_f64" not in namespace
    for x in (0.7, 1e-310, 3.0):
        assert namespace["_vm_log_f64"](x) == vecmath.log_f64(x)
    # sin and cos bring their reduction helper; float32 constants include inf and nan.
    text = vecmath.source(["cos_f64", "log_f32"])
    namespace = {}
    exec("import math\nimport numba\nimport numpy as np\n" + text, namespace)
    assert "_vm_reduce_pio2" in namespace
    for x in (0.7, 1e5, 1e300, -3.0):
        assert namespace["_vm_cos_f64"](x) == vecmath.cos_f64(x)
    assert math.isnan(namespace["_vm_log_f32"](np.float32(-1.0)))
