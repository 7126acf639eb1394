"""Generated code asks Numba for no slow generic path (issue 10, "no compile cliffs").

Numba compiles some forms through generic overloads that cost seconds in a new process:
``out[...] = x.reshape(..)`` went through its fancy-indexing setitem (7.0 of the 7.3 s a
logistic regression took), ``ndarray.reshape`` is a subroutine per rank pair, and
``np.linalg`` functions copy through that setitem and type SciPy's LAPACK bindings. The
text of every catalogue program (benchmarks/catalogue.py) is checked without compiling; the
programs whose code those fixes changed are compiled once each and compared with the
interpreter.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.backend import lu
from tracegrad.tree import tree_leaves

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from catalogue import CATALOGUE, by_name  # noqa: E402

# What generated code must not contain, outside comments. A subscript holding ``...`` or a
# ``:`` on the left of an assignment is a whole-array or slice setitem (Numba's
# fancy_setslice); ``.reshape(`` is ndarray.reshape; ``np.<name>`` other than a dtype, a
# constant or LinAlgError is a NumPy function compiled as an overload per call form.
_DTYPE = r"(?:float|int|uint)(?:8|16|32|64)\b|bool_\b"
FORBIDDEN = {
    "whole-array setitem": re.compile(r"\[\s*\.\.\.\s*\]\s*(?:[-+*/]|//)?=(?!=)"),
    "slice setitem": re.compile(r"\[[^\]\n]*:[^\]\n]*\]\s*(?:[-+*/]|//)?=(?!=)"),
    "ndarray.reshape": re.compile(r"\.reshape\("),
    "NumPy call": re.compile(rf"\bnp\.(?!{_DTYPE}|nan\b|inf\b|linalg\.LinAlgError\b)\w+"),
}


def kernel_code(source: str) -> str:
    """The generated functions of a file without their comments (the IR listing above the
    first decorator names the primitives, e.g. ``reshape``)."""
    code = source[source.index("@numba.njit") :]
    return "\n".join(re.sub(r"#.*", "", line) for line in code.splitlines())


@pytest.mark.parametrize("name", [p.name for p in CATALOGUE])
def test_catalogue_has_no_slow_generic_forms(name):
    program = by_name(name)
    code = kernel_code(tg.show_source(tg.value_and_grad(program.loss(np)))(*program.args()))
    found = {what: pattern.findall(code) for what, pattern in FORBIDDEN.items()}
    assert not any(found.values()), found


def test_patterns_catch_the_old_forms():
    """The regexes match what the generator used to write (so the test above can fail)."""
    old = [
        "    grad_w[...] = ah.reshape((20,))",
        "    a[0:3, :] = b",
        "    f = np.asfortranarray(np.linalg.solve(c, np.ascontiguousarray(e)))",
    ]
    for line in old:
        assert any(p.search(line) for p in FORBIDDEN.values()), line
    fine = "    x = _empty((5, 5), np.float64)\n    y = np.float32(x[i0, i1])\n    z = -np.inf"
    assert not any(p.search(fine) for p in FORBIDDEN.values())


def _interpreted(monkeypatch, f, args):
    with monkeypatch.context() as mp:
        mp.setenv("TRACEGRAD_BACKEND", "interpret")
        return f(*args)


def _assert_same(got, want):
    for g, w in zip(tree_leaves(got), tree_leaves(want), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "name",
    # reshape into an output buffer (a copy), reshape views, and solve/slogdet/inv as loops
    ["logistic regression", "conv1d (einsum)", "Gaussian log-likelihood"],
)
def test_changed_programs_match_the_interpreter(name, monkeypatch):
    program = by_name(name)
    args = program.args()
    compiled = tg.value_and_grad(program.loss(np))(*args)
    _assert_same(compiled, _interpreted(monkeypatch, tg.value_and_grad(program.loss(np)), args))


def _linalg_loss(a, b):
    # a.T: the loops read a transposed (Fortran-order) view; det < 0 exercises the sign.
    x = np.linalg.solve(a.T, b)
    sign, logdet = np.linalg.slogdet(a)
    return np.sum(x**2) + np.linalg.det(a) + sign * logdet + np.sum(np.linalg.inv(a) * b[:, :1])


def test_small_linalg_loops_match_numpy(monkeypatch):
    rng = np.random.default_rng(1)
    a = rng.normal(size=(6, 6))
    a[[0, 1]] = a[[1, 0]]  # pivoting in the first column
    if np.linalg.det(a) > 0:
        a[0] = -a[0]
    b = rng.normal(size=(6, 3))
    f = tg.value_and_grad(_linalg_loss, argnums=(0, 1))
    source = tg.show_source(f)(a, b)
    assert "np.linalg.solve" not in source and lu.use_loops(6)
    _assert_same(f(a, b), _interpreted(monkeypatch, f, (a, b)))
    a2 = rng.normal(size=(6, 6))  # the same kernel, other values
    _assert_same(f(a2, b), _interpreted(monkeypatch, f, (a2, b)))


def test_slogdet_of_a_singular_matrix():
    a = np.ones((3, 3))
    sign, logdet = tg.jit(lambda a: np.linalg.slogdet(a))(a)
    assert sign == 0.0 and logdet == -np.inf


def test_solve_of_a_singular_matrix_raises():
    with pytest.raises(np.linalg.LinAlgError):
        tg.jit(lambda a, b: np.linalg.solve(a, b))(np.zeros((3, 3)), np.ones((3, 2)))
