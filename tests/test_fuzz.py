"""Random programs: compiled code == reference interpreter == NumPy forward == finite differences.

Hypothesis draws a program as a list of steps over a pool of values, starting from four
inputs (shapes (3, 4), (4,), (3, 1) and ()): unary functions on safe domains, binary ops
with broadcasting, reductions with axes and keepdims, reshapes, transposes, slices, fancy
indexing, concatenation, matmul and ``np.where``. The same spec runs as plain NumPy (the
forward reference and the finite differences) and traced by tracegrad.

Every distinct program costs a Numba compile (0.3-4 s), so compiling is bounded:
``test_random_programs_interpreter`` checks many programs without compiling, and
``test_random_programs_compiled`` compiles a few (``COMPILED_EXAMPLES``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracegrad as tg
from tracegrad.backend.compiler import compile_program
from tracegrad.core.interpret import eval_program
from tracegrad.testing import numerical_grad

SHAPES = [(3, 4), (4,), (3, 1), ()]
COMPILED_EXAMPLES = 10
CHECKED = {"interpreter": 0, "compiled": 0}  # programs checked in this session

# =============================================================================================
# The op table: name -> function over NumPy arrays (or Tracers).


UNARY = {
    "sin": np.sin,
    "cos": np.cos,
    "tanh": np.tanh,
    "arctan": np.arctan,
    "neg": np.negative,
    "half_square": lambda v: 0.5 * v * v,
    "cube": lambda v: np.tanh(v) ** 3,
    "exp_tanh": lambda v: np.exp(np.tanh(v)),
    "expm1_tanh": lambda v: np.expm1(np.tanh(v)),
    "log1p_square": lambda v: np.log1p(v * v),
    "log_shifted": lambda v: np.log(v * v + 0.5),
    "sqrt_shifted": lambda v: np.sqrt(v * v + 0.5),
    "logistic": lambda v: 1.0 / (1.0 + np.exp(-v)),
    "pow_shifted": lambda v: (v * v + 1.0) ** 1.5,
    "reciprocal": lambda v: 1.0 / (1.0 + v * v),
    "logaddexp0": lambda v: np.logaddexp(0.0, v),
}

BINARY = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": lambda a, b: a / (1.0 + b * b),
    "maximum": np.maximum,
    "minimum": np.minimum,
    "arctan2": lambda a, b: np.arctan2(a, b * b + 1.0),
    "power": lambda a, b: (a * a + 0.5) ** np.tanh(b),
    "where": lambda a, b: np.where(a > b, a, 0.5 * b),
}

REDUCE = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min}

STRUCTURAL = {
    "flatten": lambda v: v.reshape(-1),
    "column": lambda v: v.reshape(-1, 1),
    "transpose": lambda v: v.T,
    "every_other": lambda v: v[::2],
    "reversed_last": lambda v: v[..., ::-1],
    "drop_first": lambda v: v[1:],
    # 0-d Tracers are not subscriptable (docs/sharp-bits.md), so v[None] only for ndim >= 1.
    "new_axis": lambda v: v[None] if v.ndim else np.reshape(v, (1,)),
    "take_repeated": lambda v: v[np.array([0, v.shape[0] - 1, 0])],
    "concat_self": lambda v: np.concatenate([v, 2.0 * v], axis=0),
}


def apply(step, pool):
    kind, name, operands, params = step
    values = [pool[i] for i in operands]
    if kind == "unary":
        return UNARY[name](*values)
    if kind == "binary":
        return BINARY[name](*values)
    if kind == "reduce":
        return REDUCE[name](values[0], **params)
    if kind == "matmul":
        a, b = values
        return a @ (b.T if params["transpose"] else b)
    return STRUCTURAL[name](*values)


def run_spec(spec, *inputs):
    """The program ``spec`` as a plain function of the inputs: a scalar loss."""
    pool = list(inputs)
    for step in spec:
        pool.append(apply(step, pool))
    return np.sum(pool[-1]) + 0.5 * np.mean(pool[-2])


# =============================================================================================
# Drawing programs: shapes are tracked by running the steps on ones.


def _steps_for(pool, draw):
    """A valid step over ``pool`` (a list of arrays of the right shapes)."""
    n = len(pool)
    kinds = ["unary", "binary", "reduce", "structural", "matmul"]
    kind = draw(st.sampled_from(kinds))
    if kind == "unary":
        return ("unary", draw(st.sampled_from(sorted(UNARY))), (draw(st.integers(0, n - 1)),), {})
    if kind == "binary":
        pairs = [
            (i, j) for i in range(n) for j in range(n) if _broadcasts(pool[i].shape, pool[j].shape)
        ]
        return ("binary", draw(st.sampled_from(sorted(BINARY))), draw(st.sampled_from(pairs)), {})
    if kind == "reduce":
        i = draw(st.integers(0, n - 1))
        ndim = pool[i].ndim
        axis = draw(st.sampled_from([None, *range(-ndim, ndim)])) if ndim else None
        params = {"axis": axis, "keepdims": draw(st.booleans())}
        return ("reduce", draw(st.sampled_from(sorted(REDUCE))), (i,), params)
    if kind == "matmul":
        options = [
            (i, j, t)
            for i in range(n)
            for j in range(n)
            for t in (False, True)
            if _matmul_ok(pool[i].shape, pool[j].shape, t)
        ]
        if options:
            i, j, t = draw(st.sampled_from(options))
            return ("matmul", "matmul", (i, j), {"transpose": t})
    candidates = [
        (name, i)
        for i in range(n)
        for name in sorted(STRUCTURAL)
        if pool[i].ndim >= 1 and pool[i].shape[0] >= 2 or name in ("flatten", "column", "new_axis")
    ]
    name, i = draw(st.sampled_from(candidates))
    return ("structural", name, (i,), {})


def _broadcasts(a, b):
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


def _matmul_ok(a, b, transpose):
    if len(a) not in (1, 2) or len(b) not in (1, 2) or (transpose and len(b) != 2):
        return False
    b = b[::-1] if transpose else b
    return a[-1] == b[0] and np.prod(a) * np.prod(b) > 1


@st.composite
def programs(draw, max_steps=6):
    pool = [np.ones(s) for s in SHAPES]
    spec = []
    for _ in range(draw(st.integers(2, max_steps))):
        step = _steps_for(pool, draw)
        value = np.asarray(apply(step, pool))
        if value.size == 0 or value.size > 400:  # keep programs small
            continue
        spec.append(step)
        pool.append(value)
    if len(spec) < 2:
        spec.append(("unary", "sin", (len(pool) - 1,), {}))
    return spec


def _inputs(seed):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=s) for s in SHAPES]


def _function(spec):
    def f(x, y, z, s):
        return run_spec(spec, x, y, z, s)

    f.__qualname__ = f"program{spec}"
    return f


def _interpret(spec, args):
    """(lowered joint Program, its outputs by the reference interpreter)."""
    executable = tg.value_and_grad(_function(spec), argnums=(0, 1, 2, 3)).lower(*args)
    program = executable.lowered
    tg.core.ir.check(program)
    return program, eval_program(program, [np.asarray(a) for a in args])


def _check_against_numpy(spec, args, outs):
    f = _function(spec)
    want = f(*args)
    np.testing.assert_allclose(outs[0], want, rtol=1e-10, atol=1e-12, err_msg="forward value")
    grads = numerical_grad(f, args, argnums=(0, 1, 2, 3))
    for k, (g, n) in enumerate(zip(outs[1:], grads, strict=True)):
        scale = 1.0 + float(np.max(np.abs(n), initial=0.0))
        np.testing.assert_allclose(
            g, n, rtol=1e-5, atol=1e-6 * scale, err_msg=f"gradient of input {k}"
        )


# =============================================================================================
# The tests


FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@settings(FUZZ, max_examples=150)
@given(spec=programs(), seed=st.integers(0, 2**16))
def test_random_programs_interpreter(spec, seed):
    """Interpreter == NumPy forward; interpreter gradients == finite differences."""
    args = _inputs(seed)
    _, outs = _interpret(spec, args)
    _check_against_numpy(spec, args, outs)
    CHECKED["interpreter"] += 1


@settings(FUZZ, max_examples=COMPILED_EXAMPLES)
@given(spec=programs(max_steps=5), seeds=st.lists(st.integers(0, 2**16), min_size=2, max_size=2))
def test_random_programs_compiled(spec, seeds):
    """Compiled == interpreter (several inputs per compiled program) == finite differences."""
    program = None
    for seed in seeds:
        args = _inputs(seed)
        program, want = _interpret(spec, args)
        got = compile_program(program)(args)
        assert len(got) == len(want)
        for k, (g, w) in enumerate(zip(got, want, strict=True)):
            assert np.shape(g) == np.shape(w) and np.asarray(g).dtype == np.asarray(w).dtype
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-11, err_msg=f"output {k}")
        _check_against_numpy(spec, args, got)
    CHECKED["compiled"] += 1


def test_report_fuzzed_program_counts():
    """Runs last in this module: shows how many programs were checked (``pytest -s``)."""
    print(f"\nfuzzed programs checked: {CHECKED}")
    if CHECKED["interpreter"] == 0:
        pytest.skip("the fuzz tests did not run (deselected)")
    assert CHECKED["compiled"] <= COMPILED_EXAMPLES * 3  # bounded compiles, even when shrinking
