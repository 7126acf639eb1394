"""Compiled code (the Numba backend) against the reference interpreter.

Every compile costs 0.3-4 s, so programs are shared: one program per dtype exercises every
primitive of the registry at once (each case adds outputs and a term of the loss), and
Hypothesis varies the values fed to already compiled programs far more than the shapes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from seed_models import autoencoder_loss, exp_chain, perceptron_loss, rosenbrock

import tracegrad as tg
from tracegrad.backend.compiler import compile_program
from tracegrad.backend.stats import compile_stats
from tracegrad.core import complex_primitives as C
from tracegrad.core import linalg as L
from tracegrad.core import primitives as P
from tracegrad.core import special as S
from tracegrad.core.adjoint import joint_program
from tracegrad.core.interpret import eval_program
from tracegrad.core.ir import Aval
from tracegrad.core.passes import lower
from tracegrad.core.tracing import trace_flat
from tracegrad.frontend.tracer import box

DTYPES = [np.float64, np.float32]
TOL = {
    np.dtype(np.float64): dict(rtol=1e-10, atol=1e-12),
    np.dtype(np.float32): dict(rtol=2e-5, atol=1e-6),
}


def assert_close(got, want, dtype, what=""):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, what
    assert got.dtype == want.dtype, what
    if got.dtype.kind in "fc":
        tol = dict(TOL[np.dtype(dtype)])
        finite = want[np.isfinite(want)]
        if finite.size:
            # Entries that cancel (a sum of large terms with a small result) carry the
            # rounding error of the large terms: absolute tolerance scales with the array.
            tol["atol"] = max(tol["atol"], tol["rtol"] * float(np.max(np.abs(finite))))
        np.testing.assert_allclose(got, want, err_msg=what, **tol)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


# =============================================================================================
# One case per primitive.  Inputs: x (3, 4) in [0.5, 2]; y (3, 4) in [-2, 2]; r (4,) in
# [-2, 2]; s () in [-2, 2]; idx int64 (5,) in [-4, 3].  A case returns the arrays to check.


def _c(value, like):
    return np.asarray(value, dtype=like.dtype)


def _pick(cond, x, y):
    return P.select(cond, x, y)


CASES = {
    "neg": lambda x, y, r, s, idx: [P.neg(y)],
    "exp": lambda x, y, r, s, idx: [P.exp(y)],
    "log": lambda x, y, r, s, idx: [P.log(x)],
    "log1p": lambda x, y, r, s, idx: [P.log1p(x)],
    "expm1": lambda x, y, r, s, idx: [P.expm1(y)],
    "sin": lambda x, y, r, s, idx: [P.sin(y)],
    "cos": lambda x, y, r, s, idx: [P.cos(y)],
    "tan": lambda x, y, r, s, idx: [P.tan(P.mul(x, _c(0.5, x)))],
    "tanh": lambda x, y, r, s, idx: [P.tanh(y)],
    "sqrt": lambda x, y, r, s, idx: [P.sqrt(x)],
    "abs": lambda x, y, r, s, idx: [P.abs_(y)],
    "sign": lambda x, y, r, s, idx: [P.mul(P.sign(y), x)],
    "logistic": lambda x, y, r, s, idx: [P.logistic(y)],
    "arctan": lambda x, y, r, s, idx: [P.arctan(y)],
    "floor": lambda x, y, r, s, idx: [P.mul(P.REGISTRY["floor"](y), x)],
    "ceil": lambda x, y, r, s, idx: [P.mul(P.REGISTRY["ceil"](y), x)],
    "trunc": lambda x, y, r, s, idx: [P.mul(P.REGISTRY["trunc"](y), x)],
    "integer_pow": lambda x, y, r, s, idx: [P.integer_pow(y, n=3), P.integer_pow(x, n=-2)],
    "add": lambda x, y, r, s, idx: [P.add(y, r)],  # broadcasting (3, 4) + (4,)
    "sub": lambda x, y, r, s, idx: [P.sub(s, y)],  # a 0-d operand
    "mul": lambda x, y, r, s, idx: [P.mul(x, y), P.mul(s, s)],
    "div": lambda x, y, r, s, idx: [P.div(y, x)],
    "pow": lambda x, y, r, s, idx: [P.pow_(x, y)],
    "max": lambda x, y, r, s, idx: [P.maximum(y, r)],
    "min": lambda x, y, r, s, idx: [P.minimum(x, y)],
    "atan2": lambda x, y, r, s, idx: [P.atan2(y, x)],
    "lt": lambda x, y, r, s, idx: [_pick(P.lt(y, r), x, y), P.lt(y, r)],
    "le": lambda x, y, r, s, idx: [_pick(P.le(y, s), x, y)],
    "gt": lambda x, y, r, s, idx: [_pick(P.gt(y, _c(0, y)), y, x)],
    "ge": lambda x, y, r, s, idx: [_pick(P.ge(x, _c(1, x)), x, y)],
    "eq": lambda x, y, r, s, idx: [_pick(P.eq(y, y), x, y)],
    "ne": lambda x, y, r, s, idx: [_pick(P.ne(y, r), y, x)],
    "and": lambda x, y, r, s, idx: [
        _pick(P.logical_and(P.lt(y, _c(0, y)), P.gt(x, _c(1, x))), x, y)
    ],
    "or": lambda x, y, r, s, idx: [_pick(P.logical_or(P.lt(y, r), P.gt(x, _c(1, x))), x, y)],
    "not": lambda x, y, r, s, idx: [_pick(P.logical_not(P.lt(y, r)), x, y)],
    "isnan": lambda x, y, r, s, idx: [_pick(P.isnan(P.log(y)), x, y)],
    "select": lambda x, y, r, s, idx: [P.select(P.gt(y, r), y, _c(0.5, y))],
    "convert": lambda x, y, r, s, idx: [
        P.convert(P.convert(y, dtype=_other(y.dtype)), dtype=y.dtype),
        P.mul(P.convert(P.lt(y, r), dtype=y.dtype), x),
        P.convert(P.mul(y, _c(3, y)), dtype=np.dtype(np.int64)),
    ],
    "reduce_sum": lambda x, y, r, s, idx: [
        P.reduce_sum(P.mul(x, y), axes=(0,)),
        P.reduce_sum(y, axes=(1,)),
        P.reduce_sum(y, axes=(0, 1)),
    ],
    "reduce_max": lambda x, y, r, s, idx: [P.reduce_max(y, axes=(1,)), P.reduce_max(x, axes=(0,))],
    "reduce_min": lambda x, y, r, s, idx: [P.reduce_min(y, axes=(0, 1))],
    "broadcast_to": lambda x, y, r, s, idx: [
        P.mul(P.broadcast_to(r, shape=(3, 4)), y),
        P.broadcast_to(s, shape=(2, 3)),
    ],
    "reshape": lambda x, y, r, s, idx: [
        P.reshape(P.sin(y), shape=(2, 6)),
        P.mul(P.reshape(P.reduce_sum(y, axes=(1,)), shape=(3, 1)), x),
        P.reshape(P.reduce_sum(y, axes=(0, 1)), shape=(1, 1)),
    ],
    "transpose": lambda x, y, r, s, idx: [
        P.mul(P.transpose(y, perm=(1, 0)), P.transpose(x, perm=(1, 0))),
        P.transpose(P.exp(y), perm=(1, 0)),
    ],
    "slice": lambda x, y, r, s, idx: [
        P.slice_(P.exp(y), start=(1, 0), step=(1, 2), shape=(2, 2)),
        P.mul(P.slice_(y, start=(0, 3), step=(2, -1), shape=(2, 3)), _c(2, y)),
    ],
    "unslice": lambda x, y, r, s, idx: [
        P.unslice(P.sin(r), start=(1,), step=(2,), shape=(9,)),
    ],
    "concatenate": lambda x, y, r, s, idx: [
        P.concatenate(x, y, axis=1),
        P.concatenate(P.reshape(r, shape=(1, 4)), y, axis=0),
    ],
    "take": lambda x, y, r, s, idx: [P.take(y, idx, axis=1), P.take(r, idx, axis=0)],
    "scatter_add": lambda x, y, r, s, idx: [
        P.scatter_add(P.take(y, idx, axis=1), idx, axis=1, size=4),
    ],
    "scatter": lambda x, y, r, s, idx: [P.scatter(y, idx, P.take(P.neg(y), idx, axis=1), axis=1)],
    "matmul": lambda x, y, r, s, idx: [
        P.matmul(y, P.transpose(x, perm=(1, 0))),
        P.matmul(P.transpose(y, perm=(1, 0)), x),
    ],
    "reduce_prod": lambda x, y, r, s, idx: [
        P.reduce_prod(x, axes=(1,)),
        P.reduce_prod(P.mul(y, _c(0.5, y)), axes=(0, 1)),
    ],
    "cumsum": lambda x, y, r, s, idx: [
        P.cumsum(y, axis=1, reverse=False),
        P.cumsum(P.transpose(x, perm=(1, 0)), axis=0, reverse=True),
    ],
    "linear_scan": lambda x, y, r, s, idx: [
        P.linear_scan(x, y, axis=1, reverse=False),
        P.linear_scan(P.mul(y, _c(0.5, y)), x, axis=0, reverse=True),
    ],
    "argmax": lambda x, y, r, s, idx: [P.argmax(y, axis=1), P.argmax(r, axis=0)],
    "argmin": lambda x, y, r, s, idx: [P.argmin(y, axis=0), P.take(r, P.argmin(x, axis=1), axis=0)],
    "argsort": lambda x, y, r, s, idx: [P.argsort(y), np.sort(P.transpose(y, perm=(1, 0)))],
    # -- linear algebra (core/linalg.py): 2-D matrices, stacks, decompositions ---------------
    "solve": lambda x, y, r, s, idx: [
        L.solve(_general(x, y), P.transpose(y, perm=(1, 0))),  # an F-order right-hand side
        L.solve(_spd(x), P.reshape(r, shape=(4, 1))),
        L.solve(_pair(x, y), P.reshape(P.concatenate(y, x, axis=0), shape=(2, 4, 3))),
    ],
    "inv": lambda x, y, r, s, idx: [
        L.inv(_general(x, y)),
        L.inv(P.transpose(_spd(x), perm=(1, 0))),
        L.inv(_pair(x, y)),
    ],
    "det": lambda x, y, r, s, idx: [L.det(_general(x, y)), L.det(_pair(x, y))],
    "adjugate": lambda x, y, r, s, idx: [
        L.adjugate(_general(x, y)),
        L.adjugate(_pair(x, y)),
        # rank 3 of 4: one singular value is exactly 0, the other three well apart from it
        # (a product of raw inputs can have rank 2, where float32 rounding is all there is)
        L.adjugate(L.mm(P.transpose(_spread(x, 3), perm=(1, 0)), _spread(y, 3))),
    ],
    "slogdet": lambda x, y, r, s, idx: [
        L.slogdet(P.neg(_general(x, y)), part="sign"),
        L.slogdet(_general(x, y), part="logabsdet"),
        L.slogdet(_pair(x, y), part="logabsdet"),
    ],
    "cholesky": lambda x, y, r, s, idx: [
        L.cholesky(_spd(x)),
        L.cholesky(P.reshape(P.concatenate(_spd(x), _spd(y), axis=0), shape=(2, 4, 4))),
    ],
    # Eigenvectors and singular vectors are unique up to sign: the cases return squares.
    "eigh": lambda x, y, r, s, idx: [
        *_signless(L.eigh(_spread(_general(x, y)), vectors=True)),
        L.eigh(_spread(_spd(x)), vectors=False),
    ],
    "svd": lambda x, y, r, s, idx: [
        *_signless(L.svd(_spread(y, 3), vectors=True)),
        *_signless(L.svd(P.transpose(_spread(y, 3), perm=(1, 0)), vectors=True)),
        L.svd(_spread(x, 3), vectors=False),
    ],
    "qr": lambda x, y, r, s, idx: [
        *_signless(L.qr(_spread(y, 3))),
        *_signless(L.qr(P.transpose(_spread(x, 3), perm=(1, 0)))),
    ],
    # -- special functions: negative arguments -x/4 - 0.3 stay off the poles (float32 too)
    "lgamma": lambda x, y, r, s, idx: [S.lgamma(x), S.lgamma(_off_poles(x))],
    "gamma": lambda x, y, r, s, idx: [S.gamma(x), S.gamma(_off_poles(x))],
    "polygamma": lambda x, y, r, s, idx: [
        S.polygamma(x, n=0),
        S.polygamma(_off_poles(x), n=0),
        S.polygamma(_off_poles(x), n=1),
    ],
    "erf": lambda x, y, r, s, idx: [S.erf(y)],
    "erfc": lambda x, y, r, s, idx: [S.erfc(y)],
    # -4 y: deep enough in the lower tail; float32 rounds -x^2/2 - out in the derivative
    "log_ndtr": lambda x, y, r, s, idx: [S.log_ndtr(y), S.log_ndtr(P.mul(y, _c(-4.0, y)))],
    "ndtri": lambda x, y, r, s, idx: [S.ndtri(P.logistic(y))],
    "erfinv": lambda x, y, r, s, idx: [S.erfinv(P.tanh(y))],
    "bessel_i": lambda x, y, r, s, idx: [
        S.bessel_i(y, n=0, scaled=False),
        S.bessel_i(P.mul(y, _c(20.0, y)), n=1, scaled=True),
    ],
    # --- incomplete gamma: a and x in [0.5, 2] and [0.1, 4.1]; a large near x (the
    # fraction's slow regime); dP/da directly, its a held fixed (no derivative of it in a)
    "gammainc": lambda x, y, r, s, idx: [
        S.gammainc(x, P.add(P.mul(y, y), _c(0.1, y)), upper=False),
        S.gammainc(P.mul(x, _c(20.0, x)), P.mul(P.add(x, _c(0.1, x)), _c(20.0, x)), upper=True),
    ],
    "gammainc_da": lambda x, y, r, s, idx: [
        S.gammainc_da(P.stop_gradient(x), P.exp(y)),
        S.gammainc_da(P.stop_gradient(P.mul(x, _c(30.0, x))), P.mul(P.exp(y), _c(25.0, y))),
    ],
    # --- incomplete beta ---
    # a, b > 0 and x in (0, 1), three shapes broadcast; float32: SciPy's own loop (the
    # interpreter's) loses ~4e-6, the kernel computes in float64
    "betainc": lambda x, y, r, s, idx: [
        S.betainc(x, P.exp(r), P.logistic(y), complement=False),
        S.betainc(P.mul(x, _c(20.0, x)), P.exp(s), P.logistic(r), complement=True),
    ],
    # a and b behind stop_gradient: the derivatives in x only (in a, b they are an error)
    "betainc_grad": lambda x, y, r, s, idx: [
        S.betainc_grad(P.stop_gradient(x), P.stop_gradient(P.exp(r)), P.logistic(y), argnum=0),
        S.betainc_grad(P.stop_gradient(P.exp(s)), P.stop_gradient(x), P.logistic(y), argnum=1),
    ],
    # -- complex numbers: x + iy in the program's complex dtype, through most complex ops
    "real": lambda x, y, r, s, idx: [
        C.real(P.mul(P.exp(_complex(y, x)), P.sqrt(_complex(x, y)))),
        C.real(P.reduce_sum(P.pow_(_complex(x, r), _complex(s, s)), axes=(1,))),
    ],
    "imag": lambda x, y, r, s, idx: [
        C.imag(P.div(P.log(_complex(x, y)), P.sin(_complex(y, x)))),
        C.imag(P.matmul(_complex(x, y), P.transpose(P.cos(_complex(y, x)), perm=(1, 0)))),
    ],
    "conj": lambda x, y, r, s, idx: [
        C.real(P.mul(C.conj(_complex(y, r)), P.integer_pow(P.tanh(_complex(r, y)), n=2))),
        C.imag(P.cumsum(C.conj(P.neg(_complex(x, y))), axis=1, reverse=False)),
    ],
    "complex_abs": lambda x, y, r, s, idx: [
        C.complex_abs(
            P.sub(P.tan(P.mul(_complex(y, s), _c(0.3j, _complex(s, s)))), _complex(x, y))
        ),
        C.complex_abs(P.take(P.select(P.gt(y, r), _complex(r, y), _complex(y, y)), idx, axis=1)),
    ],
    "fft": lambda x, y, r, s, idx: [C.real(C.fft(_complex(x, y)))],
    "ifft": lambda x, y, r, s, idx: [C.imag(C.ifft(_complex(y, r)))],
    "rfft": lambda x, y, r, s, idx: [
        C.imag(C.rfft(y)),
        C.real(C.rfft(P.transpose(x, perm=(1, 0)))),  # an F-order operand
    ],
    "irfft": lambda x, y, r, s, idx: [
        C.irfft(C.rfft(y), n=4),
        C.irfft(P.slice_(_complex(x, y), start=(0, 0), step=(1, 1), shape=(3, 3)), n=5),
    ],
    # complex values from their parts, broadcast (the inverse functions of complex arguments)
    "make_complex": lambda x, y, r, s, idx: [
        C.imag(P.mul(C.make_complex(y, r), C.make_complex(x, s))),
        C.real(P.log(C.make_complex(x, y))),
    ],
}


def _off_poles(x):
    """-x/4 - 0.3, in [-0.8, -0.425] for x in [0.5, 2]: at least 0.2 from a pole of gamma
    (near one the functions are so ill-conditioned that rounding decides the digits)."""
    return P.sub(P.mul(x, _c(-0.25, x)), _c(0.3, x))


def _complex(re, im):
    """re + i im in the complex dtype of their float dtype (broadcast)."""
    dtype = np.dtype(np.complex64 if re.dtype == np.float32 else np.complex128)
    i = np.asarray(1j, dtype)
    return P.add(P.convert(re, dtype=dtype), P.mul(P.convert(im, dtype=dtype), i))


def _spd(x):
    """x^T x + 2 I: a symmetric positive definite 4x4 matrix."""
    return P.add(P.matmul(P.transpose(x, perm=(1, 0)), x), _c(2 * np.eye(4), x))


def _pair(x, y):
    """A stack (2, 4, 4) of two non-singular matrices."""
    return P.reshape(P.concatenate(_spd(x), _general(x, y), axis=0), shape=(2, 4, 4))


def _spread(a, rows=4):
    """0.02 a + diag(1, 4, 7, ...) (``a`` has ``rows`` rows): eigenvalues and singular values
    at least 2 apart, so that their gradients are well conditioned."""
    spread = np.eye(rows, a.shape[-1]) * (3 * np.arange(rows) + 1)[:, None]
    return P.add(P.mul(a, _c(0.02, a)), _c(spread, a))


def _signless(packed):
    """Eigenvectors and singular vectors are unique up to sign: compare squares."""
    return [P.mul(packed, packed)]


def _general(x, y):
    """A non-symmetric matrix whose symmetric part is positive definite: never singular."""
    c = P.mul(P.matmul(P.transpose(y, perm=(1, 0)), x), _c(0.2, x))
    return P.add(_spd(x), P.sub(c, P.transpose(c, perm=(1, 0))))


# Differentiation markers never reach code generation: passes.lower removes them.
LOWERED = {name for name, p in P.REGISTRY.items() if p.kind == "gradient_marker"}
# Loops and branches compile as pieces around native loops: tests/test_control_flow.py.
LOWERED |= {name for name, p in P.REGISTRY.items() if p.kind == "control"}


def _other(dtype):
    return np.dtype(np.float32 if np.dtype(dtype) == np.float64 else np.float64)


def test_every_primitive_has_a_compiled_case():
    missing = set(P.REGISTRY) - set(CASES) - LOWERED
    assert not missing, f"add a case to tests/test_compiled.py::CASES for {sorted(missing)}"


def _avals(dtype):
    return [
        Aval((3, 4), dtype),
        Aval((3, 4), dtype),
        Aval((4,), dtype),
        Aval((), dtype),
        Aval((5,), np.int64),
    ]


def _all_cases(*args):
    """Every case's outputs, plus a scalar loss that depends on all float outputs."""
    x = args[0]
    outs, loss = [], P.reduce_sum(P.mul(x, _c(0, x)), axes=(0, 1))
    for k, name in enumerate(sorted(CASES)):
        for out in CASES[name](*args):
            outs.append(out)
            if out.dtype == x.dtype:
                weight = np.cos(np.arange(math.prod(out.shape), dtype=x.dtype) + k)
                weighted = P.mul(out, weight.reshape(out.shape))
                loss = P.add(loss, P.reduce_sum(weighted, axes=tuple(range(len(out.shape)))))
    return [loss, *outs]


@pytest.fixture(scope="session", params=DTYPES, ids=["f64", "f32"])
def registry_program(request):
    """(dtype, joint program, compiled runner): every case, values and gradients."""
    dtype = np.dtype(request.param)
    forward, captured = trace_flat(_all_cases, _avals(dtype), box)
    assert not captured
    joint = lower(joint_program(forward, wrt=(0, 1, 2, 3)))
    return dtype, joint, compile_program(joint)


def _inputs(dtype, data):
    floats = st.floats(-2, 2, allow_nan=False, width=32)
    positive = st.floats(0.5, 2, width=32)
    x = np.array(data.draw(st.lists(positive, min_size=12, max_size=12)), dtype).reshape(3, 4)
    y = np.array(data.draw(st.lists(floats, min_size=12, max_size=12)), dtype).reshape(3, 4)
    r = np.array(data.draw(st.lists(floats, min_size=4, max_size=4)), dtype)
    s = dtype.type(data.draw(floats))
    idx = np.array(data.draw(st.lists(st.integers(-4, 3), min_size=5, max_size=5)), np.int64)
    return [x, y, r, s, idx]


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_primitive_value_and_gradient(registry_program, data):
    dtype, joint, run = registry_program
    args = _inputs(dtype, data)
    want = eval_program(joint, args)
    got = run(args)
    assert len(got) == len(want)
    # The loss adds ~100 terms of size ~10 that cancel: float32 rounding of the terms (NumPy
    # sums pairwise in float32, compiled code in float64) shows at ~1e-6 absolute.
    scale = sum(float(np.sum(np.abs(np.asarray(w, np.float64)))) for w in want[1:])
    np.testing.assert_allclose(got[0], want[0], rtol=0, atol=scale * np.finfo(dtype).eps * 4)
    for k, (g, w) in enumerate(zip(got[1:], want[1:], strict=True)):
        assert_close(g, w, dtype, f"output {k + 1}")


def test_inputs_of_any_layout_are_accepted_and_never_mutated(registry_program):
    dtype, joint, run = registry_program
    rng = np.random.default_rng(0)
    base = np.asfortranarray(rng.uniform(0.5, 2, size=(3, 4)).astype(dtype))  # F order
    y = rng.uniform(-2, 2, size=(3, 8)).astype(dtype)[:, ::2]  # strided
    r = rng.uniform(-2, 2, size=4).astype(dtype)
    r.setflags(write=False)  # read-only
    idx = np.array([0, 1, -1, 3, 2])
    args = [base, y, r, float(rng.uniform()), idx]
    copies = [np.array(a, copy=True) for a in args]
    got = run(args)
    typed = [np.asarray(a, v.aval.dtype) for a, v in zip(args, joint.inputs, strict=True)]
    want = eval_program(joint, typed)
    for g, w in zip(got, want, strict=True):
        assert_close(g, w, dtype)
    for a, c in zip(args, copies, strict=True):
        np.testing.assert_array_equal(a, c)
    # Outputs never alias each other or the inputs.
    arrays = [g for g in got if isinstance(g, np.ndarray)]
    for i, a in enumerate(arrays):
        for b in arrays[i + 1 :] + [base, y, r]:
            assert not np.shares_memory(a, b)


def test_scalar_outputs_are_numpy_scalars_of_the_program_dtype(registry_program):
    dtype, joint, run = registry_program
    idx = np.array([0, 1, 2, 3, -4])  # in range for the axis of size 4 the cases index
    args = [np.ones((3, 4), dtype), np.ones((3, 4), dtype), np.ones(4, dtype), 0.5, idx]
    out = run(args)
    assert isinstance(out[0], np.generic) and out[0].dtype == dtype


# =============================================================================================
# Shapes and broadcasting (few shapes: every new shape is a compile)


SHAPE_PAIRS = [((5,), (5,)), ((4, 1), (1, 3)), ((2, 3), (3,)), ((), (2, 2)), ((1, 1), (1,))]


def _broadcast_model(a, b):
    t = np.tanh(a * b + 0.5) - np.exp(-(b**2)) / (1.0 + a * a)
    return np.sum(t * t) + np.max(a + b)


@settings(max_examples=len(SHAPE_PAIRS), deadline=None)
@given(pair=st.sampled_from(SHAPE_PAIRS), seed=st.integers(0, 2**16))
def test_broadcasting_shapes(pair, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=pair[0])
    b = rng.normal(size=pair[1])
    got = _COMPILED_BROADCAST(a, b)
    want = _reference(_broadcast_model, (0, 1))(a, b)
    _compare_value_and_grad(got, want, np.float64)


# =============================================================================================
# Seed models, float64 and float32


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def relu(z):
    return np.maximum(z, 0.0)


def mlp_loss(p, X, Y):
    h1 = sigmoid(X @ p["W1"] + p["b1"])
    h2 = np.tanh(h1 @ p["W2"] + p["b2"])
    out = relu(h2 @ p["W3"] + p["b3"])
    return np.mean((out - Y) ** 2)


def _model_args(name, rng, dtype):
    def n(*shape):
        return rng.normal(size=shape).astype(dtype)

    if name == "perceptron":
        return (n(3), dtype.type(rng.normal()), n(20, 3), np.sign(n(20)).astype(dtype))
    if name == "mlp":
        p = {"W1": n(6, 8), "b1": n(8), "W2": n(8, 5), "b2": n(5), "W3": n(5, 3), "b3": n(3)}
        return (p, n(10, 6), n(10, 3))
    if name == "autoencoder":
        p = {"enc": n(12, 4) * 0.3, "b_enc": n(4), "dec": n(4, 12) * 0.3, "b_dec": n(12)}
        return (p, n(7, 12))
    if name == "rosenbrock":
        return (n(6),)
    return (dtype.type(-3.0 + 0.1 * rng.uniform()),)


MODELS = {
    "perceptron": (perceptron_loss, (0, 1)),
    "mlp": (mlp_loss, 0),
    "autoencoder": (autoencoder_loss, 0),
    "rosenbrock": (rosenbrock, 0),
    "exp_chain": (exp_chain, 0),
}


def _reference(f, argnums):
    """value_and_grad of ``f`` run by the reference interpreter."""

    def run(*args):
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("TRACEGRAD_BACKEND", "interpret")
            return tg.value_and_grad(f, argnums=argnums)(*args)

    return run


def _compare_value_and_grad(got, want, dtype):
    (v1, g1), (v2, g2) = got, want
    assert_close(v1, v2, dtype, "value")
    leaves1, tree1 = tg.tree.tree_flatten(g1)
    leaves2, tree2 = tg.tree.tree_flatten(g2)
    assert tree1 == tree2
    for a, b in zip(leaves1, leaves2, strict=True):
        assert_close(a, b, dtype, "gradient")


_COMPILED = {name: tg.value_and_grad(f, argnums=a) for name, (f, a) in MODELS.items()}
_COMPILED_BROADCAST = tg.value_and_grad(_broadcast_model, argnums=(0, 1))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("name", sorted(MODELS))
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_seed_models(name, dtype, seed):
    dtype = np.dtype(dtype)
    args = _model_args(name, np.random.default_rng(seed), dtype)
    got = _COMPILED[name](*args)
    want = _reference(*MODELS[name])(*args)
    _compare_value_and_grad(got, want, dtype)


def test_exp_chain_at_minus_three():
    value, grad = _COMPILED["exp_chain"](np.float64(-3.0))
    e1 = math.exp(-3.0)
    e2 = math.exp(e1)
    e3 = math.exp(e2)
    e4 = math.exp(e3)
    e5 = math.exp(e4)
    assert value == pytest.approx(e5, rel=1e-12)
    assert grad == pytest.approx(e5 * e4 * e3 * e2 * e1, rel=1e-12)


# =============================================================================================
# It really is compiled


def test_code_is_compiled_and_njit_decorated():
    def f(x):
        return np.sum(np.sin(x) * np.exp(-x * x))

    before = compile_stats()
    x = np.linspace(-1, 1, 7)
    value, grad = tg.value_and_grad(f)(x)
    after = compile_stats()
    assert after.programs == before.programs + 1
    assert after.compiles + after.disk_hits > before.compiles + before.disk_hits
    source = tg.show_source(tg.value_and_grad(f))(x)
    assert "@numba.njit(" in source and "cache=True" in source
    assert "math.sin" in source and "math.cos" in source  # forward and backward together
    assert source.count("for i0 in range(_ext7)") == 1  # one fused loop for all of it
    # An identical program from another function object is not compiled again.
    again = tg.value_and_grad(lambda y: np.sum(np.sin(y) * np.exp(-y * y)))(x)
    assert compile_stats().programs == after.programs
    assert again[0] == value


def test_programs_differing_only_in_constant_values_share_one_kernel():
    """A loss closing over each new batch: one compile, each program its own constants."""
    rng = np.random.default_rng(7)
    w = rng.normal(size=(3, 2))

    def loss_for(batch, target):
        return lambda w: np.mean((np.tanh(batch @ w) - target) ** 2) + np.sum(w * target[0])

    batches = [(rng.normal(size=(5, 3)), rng.normal(size=(5, 2))) for _ in range(3)]
    before = compile_stats()
    results = [tg.value_and_grad(loss_for(x, y))(w) for x, y in batches]
    after = compile_stats()
    assert after.programs == before.programs + 1  # one program built, two memory hits
    assert after.memory_hits >= before.memory_hits + 2
    for (x, y), (value, grad) in zip(batches, results, strict=True):
        t = np.tanh(x @ w)
        assert value == pytest.approx(np.mean((t - y) ** 2) + np.sum(w * y[0]), rel=1e-12)
        want = x.T @ (2.0 / t.size * (t - y) * (1.0 - t * t)) + y[0]
        np.testing.assert_allclose(grad, want, rtol=1e-12)
    assert results[0][0] != results[1][0]
    # The generated source (and so the disk-cache file name) does not depend on the values.
    sources = {tg.show_source(tg.value_and_grad(loss_for(x, y)))(w) for x, y in batches}
    assert len(sources) == 1
    # Equal constants are one argument: a program whose two constants are equal has another
    # calling convention, so it must not reuse the kernel of one where they differ.
    x, y = batches[0]
    a = x[:, :2]
    same = tg.grad(lambda w: np.sum((a * w[0] - a) ** 2))(w)
    other = tg.grad(lambda w: np.sum((a * w[0] - y) ** 2))(w)
    np.testing.assert_allclose(same[0], (2 * a * (a * w[0] - a)).sum(0), rtol=1e-12)
    np.testing.assert_allclose(other[0], (2 * a * (a * w[0] - y)).sum(0), rtol=1e-12)


def test_literal_and_input_outputs_are_fresh_arrays():
    c = np.arange(3.0)
    f = tg.jit(lambda x: (x, c, x * 2.0, x))
    x = np.ones(3)
    a, b, d, e = f(x)
    assert not np.shares_memory(a, x) and not np.shares_memory(e, x)
    assert not np.shares_memory(a, e) and not np.shares_memory(b, c)
    np.testing.assert_array_equal(b, c)
    np.testing.assert_array_equal(d, 2 * x)


def test_scalar_output_read_through_views():
    f = tg.jit(lambda x: (np.sin(x)[1], np.cos(x).reshape(1, 3)[0, 2]))
    a, b = f(np.arange(3.0))
    assert a == pytest.approx(math.sin(1.0), rel=1e-14)
    assert b == pytest.approx(math.cos(2.0), rel=1e-14)


# =============================================================================================
# Repeated loop nests are compiled once


def _equal_layers(layers, x):
    h = x
    for w, b in layers:
        h = np.tanh(h @ w + b)
    return np.sum(h**2)


def _same_text_other_shapes(z, x, s):
    # Two loop nests of one text over (3, 5), reading ``v0[i0, i1] * v1``; x has 4 rows.
    return np.sum(np.tanh(x[:3] * np.sum(np.tanh(z * s) ** 2)) ** 2)


def test_loop_nests_of_one_text_over_other_shapes_are_not_shared():
    rng = np.random.default_rng(4)
    z, x, s = rng.normal(size=(3, 5)), rng.normal(size=(4, 5)), 0.3
    want = np.sum(np.tanh(x[:3] * np.sum(np.tanh(z * s) ** 2)) ** 2)
    assert tg.jit(_same_text_other_shapes)(z, x, s) == pytest.approx(want, rel=1e-12)


def test_repeated_loop_nests_share_one_helper_and_match_the_interpreter():
    rng = np.random.default_rng(3)
    layers = [(rng.normal(size=(5, 5)) / 2, rng.normal(size=5)) for _ in range(4)]
    x = rng.normal(size=(3, 5))
    f = tg.value_and_grad(_equal_layers, argnums=(0, 1))
    source = tg.show_source(f)(layers, x)
    helper = source[source.index("def _loop1(") :].split("\n\n\n")[0]
    assert "math.tanh" in helper and "@numba.njit" not in helper
    assert source.count("= _loop1(") >= 3  # one call per inner layer, one nest compiled
    _compare_value_and_grad(f(layers, x), _reference(_equal_layers, (0, 1))(layers, x), np.float64)


# =============================================================================================
# Vectorised math (tracegrad.backend.vecmath) in loops over arrays

_VECTOR_PRIMITIVES = sorted(p.name for p in P.REGISTRY.values() if p.vector is not None)


def _vector_math(x):
    a = np.abs(x)
    out = (np.exp(x), np.tanh(x), np.log(a), np.log1p(a - 1.0), np.expm1(x), P.logistic(x))
    return out + (np.sin(x), np.cos(x))


def test_vector_math_covers_every_primitive_with_a_vector_form():
    program = tg.make_ir(tg.jit(_vector_math))(np.zeros(300))
    used = {e.prim.name for e in program.eqns}
    assert set(_VECTOR_PRIMITIVES) <= used, set(_VECTOR_PRIMITIVES) - used


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_vector_math_matches_numpy_on_arrays_with_special_values(dtype):
    info = np.finfo(dtype)
    special = [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 88.8, -104.0, 709.9, -745.2]
    special += [float(info.tiny), float(info.tiny) / 8, float(info.max), -float(info.max)]
    sweep = np.linspace(-40, 40, 401)
    x = np.concatenate([sweep, np.geomspace(1e-30, 1e3, 200), special]).astype(dtype)
    source = tg.show_source(tg.jit(_vector_math))(x)
    assert "_vm_tanh_" in source and "math.tanh" not in source
    with np.errstate(all="ignore"):
        got = tg.jit(_vector_math)(x)
        a = np.abs(x)
        want = (np.exp(x), np.tanh(x), np.log(a), np.log1p(a - dtype(1)), np.expm1(x))
        want += (1 / (1 + np.exp(-x)), np.sin(x), np.cos(x))
    rtol = 1e-15 if dtype == np.float64 else 5e-7  # about 2 ulp
    names = ["exp", "tanh", "log", "log1p", "expm1", "logistic", "sin", "cos"]
    for name, g, w in zip(names, got, want, strict=True):
        assert g.dtype == dtype, name
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=name)
        np.testing.assert_array_equal(np.isinf(g), np.isinf(w), err_msg=name)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=0, err_msg=name)


def test_small_loops_and_scalars_keep_libm():
    source = tg.show_source(tg.jit(lambda x: np.tanh(x)))(np.zeros(8))
    assert "math.tanh" in source and "_vm_" not in source


def test_scalar_inputs_of_any_kind_take_the_fast_path():
    """0-d arrays, NumPy and Python scalars for a scalar input: no normalising second call."""
    program = lower(tg.make_ir(tg.jit(lambda x, s: x * s))(np.ones((3, 2)), 2.0))
    runner = compile_program(program)
    normalized = []
    slow = runner.__globals__["_normalize"]
    runner.__globals__["_normalize"] = lambda args: normalized.append(1) or slow(args)
    x = np.arange(6.0).reshape(3, 2)
    for s in (np.asarray(2.0), np.float64(2.0), 2.0, np.asarray(2.0, np.float32)):
        np.testing.assert_array_equal(runner([x, s])[0], x * 2.0)
    assert normalized == []
    runner([np.asfortranarray(x), 2.0])  # the slow path is still there for other layouts
    assert normalized == [1]
