"""Small dense linear algebra without np.linalg: solve, inv, slogdet and det through LU.

Numba's ``np.linalg`` functions are generic overloads: in a new process ``solve``,
``slogdet`` and ``inv`` cost seconds of compile each (they copy into Fortran order through
Numba's fancy setitem, and type SciPy's LAPACK bindings); the Gaussian log-likelihood of the
first-call catalogue spent 7.5 s of CPU compiling. For the small matrices of typical programs
the generated code copies the matrix into a C array and calls ``numba_support.lu_factor`` and
``lu_solve`` (LAPACK's unblocked getf2/getrs algorithm as plain loops, compiled once per
dtype and cached like vecmath's kernels). From ``MAX_LOOP_SIZE`` up it calls LAPACK through
``np.linalg``, whose blocked algorithms win there.

Each function writes lines with a :class:`~tracegrad.backend.writer.Writer` ``w``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .text import empty_text

if TYPE_CHECKING:
    from .writer import Operand, Writer

# Loops for n <= 32: about 11k flops for the factorisation, some microseconds.
MAX_LOOP_SIZE = 32


def use_loops(n: int) -> bool:
    return 1 <= n <= MAX_LOOP_SIZE


@dataclass
class Factors:
    """The names of an LU factorisation: ``lu`` (L below the diagonal, U on and above),
    the row swapped with each row ``perm``, the swaps' parity ``sign`` (1.0 or -1.0), and
    the size as a loop bound."""

    lu: str
    perm: str
    sign: str
    n: str


def factor(w: Writer, a: Operand, singular_raises: bool) -> Factors:
    """Factor ``a`` (any layout) in a fresh C array; a zero pivot raises LinAlgError as
    NumPy does if ``singular_raises`` (solve, inv), else is left for the caller (slogdet)."""
    n = a.aval.shape[0]
    # Loop bounds are ``_ext<n>``: with constant bounds LLVM unrolls and specialises every
    # loop (see text.extent_lines).
    f = Factors(w.fresh("lu"), w.fresh("perm"), w.fresh("sign"), w.extent(n))
    w.line(f"{f.lu} = {empty_text((n, n), a.aval.dtype)}")
    with w.loops((n, n)) as index:
        w.line(f"{f.lu}[{', '.join(index)}] = {w.index(a, index)}")
    w.line(f"{f.perm} = {empty_text((n,), 'int64')}")
    w.support.add("lu_factor")
    w.line(f"{f.sign} = _lu_factor({f.lu}, {f.perm}, {singular_raises})")
    return f


def solve_into(w: Writer, f: Factors, out: Operand) -> None:
    """``out`` (a C matrix holding the right-hand side) becomes A^-1 out."""
    w.support.add("lu_solve")
    w.line(f"_lu_solve({f.lu}, {f.perm}, {out})")


def solve(w: Writer, out: Operand, a: Operand, b: Operand) -> None:
    """``out = solve(a, b)`` for a square ``a`` of at most MAX_LOOP_SIZE rows."""
    f = factor(w, a, singular_raises=True)
    w.alloc(out)
    with w.loops(out.aval.shape) as index:
        w.line(f"{w.index(out, index)} = {w.index(b, index)}")
    solve_into(w, f, out)


def inv(w: Writer, out: Operand, a: Operand) -> None:
    """``out = inv(a)``: solve against the identity."""
    f = factor(w, a, singular_raises=True)
    w.alloc(out, fill=w.cast("0", out.aval))
    k = w.fresh("k")
    with w.loop(k, f.n):
        w.line(f"{out}[{k}, {k}] = {w.cast('1', out.aval)}")
    solve_into(w, f, out)


def determinant(w: Writer, out: Operand, a: Operand, part: str) -> None:
    """``out`` = det(a) (``part`` "det"), or the "sign" or "logabsdet" of slogdet(a): from
    the diagonal of U and the parity of the row swaps; a zero pivot gives 0 and -inf."""
    f = factor(w, a, singular_raises=False)
    k, d, value = w.fresh("k"), w.fresh("d"), w.fresh("value")
    w.line(f"{value} = {'1.0' if part == 'det' else '0.0'}")
    with w.loop(k, f.n):
        w.line(f"{d} = {f.lu}[{k}, {k}]")
        if part == "det":
            w.line(f"{value} = {value} * {d}")
        else:
            _log_abs_step(w, f.sign, value, d)
    result = {"det": f"{f.sign} * {value}", "sign": f.sign, "logabsdet": value}[part]
    w.line(f"{out} = {w.cast(result, out.aval)}")


def _log_abs_step(w: Writer, sign: str, value: str, d: str) -> None:
    w.line(f"if {d} < 0.0:")
    with w.indented():
        w.line(f"{sign} = -{sign}")
    w.line(f"elif {d} == 0.0:")  # NumPy: sign 0, log|det| -inf
    with w.indented():
        w.line(f"{sign} = 0.0")
    w.line(f"{value} = {value} + math.log(abs({d}))")
