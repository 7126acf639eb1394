"""One test per user error: the exception type, the key words of its message, and the place.

Every message must name the user's file and line (this file, at the marked line), say
what went wrong, and what to do instead.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.errors import (
    ArgnumsError,
    DTypeError,
    NonScalarOutputError,
    ShapeError,
    TracegradError,
    TracerBoolError,
    TracerConversionError,
    TracerLeakError,
    UnsupportedNumpyFunction,
)

pytestmark = pytest.mark.usefixtures("interpret_backend")  # errors come from tracing

X = np.array([0.5, -1.0, 2.0])
THIS_FILE = os.path.basename(__file__)


def line_of(marker: str) -> str:
    """``test_errors.py:N`` for the line of this file that carries the comment ``# <marker>``."""
    with open(__file__) as f:
        for n, line in enumerate(f, start=1):
            if line.rstrip().endswith(f"# <{marker}>"):
                return f"{THIS_FILE}:{n}"
    raise LookupError(marker)


def raises(exc_type: type[Exception], fn, *args, words=(), marker=None) -> str:
    """Call ``fn(*args)``; check the exception type, words of the message, and location."""
    with pytest.raises(exc_type) as info:
        fn(*args)
    message = str(info.value)
    assert isinstance(info.value, TracegradError)
    for word in words:
        assert word.lower() in message.lower(), f"{word!r} not in message:\n{message}"
    assert THIS_FILE in message, f"the message does not name the user's file:\n{message}"
    if marker is not None:
        assert line_of(marker) in message, f"expected {line_of(marker)} in:\n{message}"
    return message


# =============================================================================================
# A traced value deciding Python control flow, or turned into a Python number


def test_if_on_traced_value():
    def f(x):
        if np.sum(x) > 0:  # <if>
            return np.sum(x)
        return -np.sum(x)

    raises(TracerBoolError, tg.grad(f), X, words=["bool", "if", "np.where"], marker="if")


def test_while_on_traced_value():
    def f(x):
        s = np.sum(x)
        while s < 10:  # <while>
            s = s * 2
        return s

    raises(TracerBoolError, tg.grad(f), X, words=["while", "np.where"], marker="while")


def test_bool_of_traced_value():
    def f(x):
        return np.sum(x) * bool(x[0] > 0)  # <bool>

    raises(TracerBoolError, tg.grad(f), X, words=["bool()"], marker="bool")


def test_and_or_on_traced_values():
    def f(x):
        return (x[0] > 0 and x[1] > 0) * np.sum(x)  # <and>

    raises(TracerBoolError, tg.jit(f), X, words=["and"], marker="and")


def test_float_of_traced_value():
    def f(x):
        return float(np.sum(x))  # <float>

    raises(TracerConversionError, tg.grad(f), X, words=["float()", "NumPy"], marker="float")


def test_int_of_traced_value():
    def f(x):
        return np.sum(x) * int(x[0])  # <int>

    raises(TracerConversionError, tg.grad(f), X, words=["int()"], marker="int")


def test_math_function_on_traced_value():
    def f(x):
        return math.sin(np.sum(x))  # <math>

    raises(TracerConversionError, tg.grad(f), X, words=["math", "np.sin"], marker="math")


def test_item_of_traced_value():
    def f(x):
        return np.sum(x) * x[0].item()  # <item>

    raises(TracerConversionError, tg.grad(f), X, words=[".item()"], marker="item")


# =============================================================================================
# A traced value turned into a NumPy array


def test_asarray_bound_before_tracing_names_the_fix():
    from numpy import asarray  # bound to NumPy's own: not replaced while tracing

    def f(x):
        return np.sum(asarray(x) ** 2)  # <asarray>

    raises(TracerConversionError, tg.grad(f), X, words=["np.asarray", "f64[3]"], marker="asarray")


def test_writing_tracer_into_numpy_array():
    def f(x):
        out = np.zeros((2, 3))
        out[1] = x  # <write>
        return np.sum(out)

    raises(TracerConversionError, tg.grad(f), X, words=["assignment", "np.stack"], marker="write")


def test_traced_integer_indexing_a_numpy_array_names_take_along_axis():
    table = np.arange(5.0)

    def f(x, i):
        return x * table[i]  # <index>

    raises(
        TracerConversionError,
        tg.grad(f),
        1.0,
        np.array(2),
        words=["index into a NumPy array", "np.take_along_axis"],
        marker="index",
    )


def test_writing_traced_scalar_into_numpy_array():
    def f(x):
        out = np.zeros(3)
        out[0] = x[0]  # <write-scalar>
        return np.sum(out)

    raises(TracerConversionError, tg.grad(f), X, words=["assignment"], marker="write-scalar")


# =============================================================================================
# grad's contract: scalar float output, float inputs, valid argnums


def test_grad_of_non_scalar_output():
    f = tg.grad(lambda x: x * 2)
    message = raises(NonScalarOutputError, f, X, words=["scalar", "(3,)", "np.sum", "vjp"])
    assert "<lambda>" in message


def test_grad_of_tuple_output():
    def two_losses(x):
        return np.sum(x), np.mean(x)

    raises(NonScalarOutputError, tg.grad(two_losses), X, words=["two_losses", "has_aux"])


def test_grad_of_integer_output():
    raises(DTypeError, tg.grad(lambda x: np.sum(x > 0)), X, words=["float", "int64"])


def test_grad_wrt_integer_array():
    def f(x):
        return np.sum(x * 1.0)

    raises(DTypeError, tg.grad(f), np.arange(3), words=["int64", "float", "astype"])


def test_grad_wrt_boolean_array():
    raises(DTypeError, tg.grad(lambda x: np.sum(x * 1.0)), np.ones(3, bool), words=["bool"])


def test_grad_wrt_python_int():
    raises(DTypeError, tg.grad(lambda x: x * 1.0), 3, words=["int", "float"])


def test_grad_wrt_integer_leaf_names_its_path():
    params = {"w": X, "steps": np.arange(2)}
    message = raises(DTypeError, tg.grad(lambda p: np.sum(p["w"])), params, words=["int64"])
    assert "['steps']" in message


def test_argnums_out_of_range():
    f = tg.grad(lambda x, y: np.sum(x * y), argnums=2)
    raises(ArgnumsError, f, X, X, words=["argnums=2", "2 positional", "0..1"])


def test_argnums_tuple_out_of_range():
    f = tg.value_and_grad(lambda x, y: np.sum(x * y), argnums=(0, 5))
    raises(ArgnumsError, f, X, X, words=["(0, 5)"])


def test_complex_input():
    raises(DTypeError, tg.grad(lambda x: np.sum(x)), np.ones(3, complex), words=["complex"])


# =============================================================================================
# Shapes


def test_matmul_shape_mismatch_shows_both_shapes():
    def f(a, b):
        return np.sum(a @ b)  # <matmul>

    a, b = np.ones((2, 3)), np.ones((4, 5))
    raises(ShapeError, tg.grad(f), a, b, words=["(2, 3)", "(4, 5)", "matmul"], marker="matmul")


def test_matmul_vector_mismatch():
    def f(a, b):
        return np.sum(np.dot(a, b))  # <dot>

    raises(ShapeError, tg.grad(f), np.ones((2, 3)), np.ones(4), words=["(2, 3)", "(4,)"])


def test_broadcast_mismatch_shows_both_shapes():
    def f(a, b):
        return np.sum(a + b)  # <broadcast>

    a, b = np.ones((2, 3)), np.ones(4)
    raises(ShapeError, tg.grad(f), a, b, words=["(2, 3)", "(4,)", "broadcast"], marker="broadcast")


def test_broadcast_mismatch_with_constant():
    w = np.ones((5,))

    def f(a):
        return np.sum(a * w)  # <broadcast-const>

    raises(ShapeError, tg.grad(f), np.ones((2, 3)), words=["(2, 3)", "(5,)"])


def test_concatenate_mismatch():
    def f(a, b):
        return np.sum(np.concatenate([a, b], axis=1))

    raises(ShapeError, tg.grad(f), np.ones((2, 3)), np.ones((3, 3)), words=["(2, 3)", "(3, 3)"])


def test_reshape_mismatch():
    raises(
        ShapeError, tg.grad(lambda x: np.sum(x.reshape(4, 2))), np.ones((2, 3)), words=["(4, 2)"]
    )


# =============================================================================================
# NumPy functions without a rule


def test_unsupported_numpy_function_is_named():
    def f(x):
        return np.sum(np.roots(x))  # <roots>

    raises(
        UnsupportedNumpyFunction,
        tg.grad(f),
        X,
        words=["np.roots", "numpy-support", "argument"],
        marker="roots",
    )


def test_unsupported_ufunc_method_is_named():
    def f(x):
        return np.sum(np.add.accumulate(x))

    raises(UnsupportedNumpyFunction, tg.grad(f), X, words=["np.add.accumulate"])


def test_unsupported_error_is_a_not_implemented_error():
    with pytest.raises(NotImplementedError):
        tg.jit(lambda x: np.roots(x))(X)


# =============================================================================================
# Leaked tracers


def test_leaked_tracer():
    leaked = []

    def f(x):
        leaked.append(x)
        return np.sum(x)

    tg.grad(f)(X)

    def use_leaked():
        return leaked[0] + 1.0  # <leak>

    raises(TracerLeakError, use_leaked, words=["escaped", "return"], marker="leak")


# =============================================================================================
# Transforming something that is not a function, argnums of the wrong type, masked arrays


def test_transforming_a_non_function():
    from tracegrad.errors import NotCallableError

    raises(NotCallableError, tg.grad, 3.0, words=["function", "tg.grad(loss)"])


def test_argnums_of_the_wrong_type():
    raises(ArgnumsError, tg.grad(lambda x: x * x, argnums=0.0), 1.0, words=["argnums", "0.0"])


def test_masked_arrays_are_refused():
    masked = np.ma.masked_array([1.0, 2.0], mask=[False, True])
    raises(DTypeError, tg.grad(lambda x: np.sum(x * x)), masked, words=["masked", "filled"])


def test_ndarray_subclasses_share_one_program():
    class Tagged(np.ndarray):
        pass

    g = tg.grad(lambda x: np.sum(x * x))
    m = np.array([[1.0, 2.0]]).view(Tagged)
    np.testing.assert_array_equal(np.asarray(g(m)), [[2.0, 4.0]])
    np.testing.assert_array_equal(np.asarray(g(m)), [[2.0, 4.0]])
    assert len(g.cache) == 1


# =============================================================================================
# In-place operators keep the target's shape and dtype, as NumPy does


def test_in_place_update_that_would_grow_the_target():
    def f(x, v):
        y = x.copy()
        y[0] += v  # <grow>
        return np.sum(y)

    raises(ShapeError, tg.grad(f), np.ones((3, 2)), np.ones((2, 2)), words=["does not fit"])


def test_in_place_update_across_kinds():
    def f(x, i):
        i += x  # <kinds>
        return i

    raises(DTypeError, tg.jit(f), np.ones(3), np.arange(3), words=["astype"], marker="kinds")


def test_in_place_update_casts_within_a_kind():
    def f(x):
        y = x.astype(np.float32)
        y += x  # float64 stored back into float32, as NumPy does
        return y

    out = tg.jit(f)(np.ones(3))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, 2.0)


def test_errors_inside_third_party_code_name_the_users_line():
    import scipy.linalg

    def f(x):
        return np.sum(scipy.linalg.expm(x))  # <scipy>

    error = pytest.raises(TracegradError, tg.grad(f), np.eye(2)).value
    assert line_of("scipy") in str(error), str(error)
