"""Fit the polynomial coefficients used by ``tracegrad/vecmath.py``.

Run ``python tools/fit_vecmath.py`` (needs mpmath) and paste the printed tables into
``vecmath.py``. Every fit is a weighted minimax (Remez exchange) computed in 60-digit
arithmetic; the weight turns the polynomial's error into the relative error of the final
function, so the printed ``rel`` is the approximation error alone (before rounding in the
kernel's own float arithmetic).

The coefficients are then rounded to the kernel's dtype; the printed error is measured after
that rounding (it stays far below the dtype's epsilon, so refitting after rounding is not
needed).
"""

from __future__ import annotations

import sys

import mpmath as mp
import numpy as np

mp.mp.dps = 60


def _solve_reference(f, w, basis, xs):
    """Coefficients c and level E with sum c_k basis_k(x_i) + (-1)^i E / w(x_i) = f(x_i)."""
    n = len(basis)
    a = mp.matrix(n + 1, n + 1)
    b = mp.matrix(n + 1, 1)
    for i, x in enumerate(xs):
        for k, phi in enumerate(basis):
            a[i, k] = phi(x)
        a[i, n] = (-1) ** i / w(x)
        b[i] = f(x)
    sol = mp.lu_solve(a, b)
    return [sol[k] for k in range(n)], sol[n]


def _extrema(err, lo, hi, count, grid=1501):
    """The ``count`` alternating extrema of ``err`` on [lo, hi] (dense grid plus refinement)."""
    # An odd grid keeps x = 0 (where the weights vanish) off the grid of symmetric intervals.
    xs = [lo + (hi - lo) * mp.mpf(i) / grid for i in range(grid + 1)]
    es = [err(x) for x in xs]
    # Split the grid into runs of one sign; keep the largest |err| of each run.
    runs = []
    start = 0
    for i in range(1, len(xs) + 1):
        if i == len(xs) or (es[i] > 0) != (es[start] > 0):
            j = max(range(start, i), key=lambda k: abs(es[k]))
            runs.append(j)
            start = i
    # Refine each extremum by golden-section search on the neighbouring grid cells.
    refined = []
    for j in runs:
        a = xs[max(j - 1, 0)]
        b = xs[min(j + 1, len(xs) - 1)]
        sign = 1 if es[j] > 0 else -1
        for _ in range(40):
            m1 = a + (b - a) * mp.mpf("0.381966")
            m2 = a + (b - a) * mp.mpf("0.618034")
            if sign * err(m1) > sign * err(m2):
                b = m2
            else:
                a = m1
        x = (a + b) / 2
        refined.append(x if sign * err(x) > sign * es[j] else xs[j])
    # Too many runs: drop the smallest ends until the count fits, keeping alternation.
    while len(refined) > count:
        if abs(err(refined[0])) < abs(err(refined[-1])):
            refined.pop(0)
        else:
            refined.pop()
    return refined


def remez(f, w, basis, lo, hi, iters=30):
    """Minimise max |w(x) (f(x) - sum c_k basis_k(x))| over [lo, hi]."""
    n = len(basis)
    xs = [
        (lo + hi) / 2 - (hi - lo) / 2 * mp.cos(mp.pi * i / (n)) for i in range(n + 1)
    ]  # Chebyshev extrema as the first reference
    nudge = (hi - lo) / 1000
    # A (near-)zero weight makes the system singular: move such points a little.
    xs = [x + nudge if abs(w(x)) < mp.mpf("1e-20") else x for x in xs]
    best = None
    for _ in range(iters):
        c, level = _solve_reference(f, w, basis, xs)

        def err(x, c=c):
            return w(x) * (f(x) - sum(ck * phi(x) for ck, phi in zip(c, basis, strict=True)))

        new = _extrema(err, lo, hi, n + 1)
        worst = max(abs(err(x)) for x in new)
        best = (c, worst)
        if len(new) == n + 1:
            if abs(worst - abs(level)) < abs(level) * mp.mpf("1e-6"):
                break
            xs = new
        else:
            break
    return best


def max_error(f, w, basis, c, lo, hi, grid=6001):
    return max(
        abs(w(x) * (f(x) - sum(ck * phi(x) for ck, phi in zip(c, basis, strict=True))))
        for x in (lo + (hi - lo) * mp.mpf(i) / grid for i in range(grid + 1))
    )


def fit_rounded(f, w, degrees, lo, hi, dtype):
    """Remez fit of sum c_k x^k (k in ``degrees``) rounded to ``dtype``, and its error."""
    basis = [lambda x, d=d: x**d for d in degrees]
    c, _ = remez(f, w, basis, lo, hi)
    rounded = [dtype(float(ck)) for ck in c]
    return rounded, max_error(f, w, basis, [mp.mpf(float(ck)) for ck in rounded], lo, hi)


# ---------------------------------------------------------------------------------------
# The fits


def exp_tail(dtype, degree):
    """exp(r) = 1 + r + r^2 q(r) on |r| <= ln2/2 (a little more for the rounded reduction)."""
    h = mp.log(2) / 2 * mp.mpf("1.0005")

    def f(r):
        return (mp.exp(r) - 1 - r) / r**2 if r != 0 else mp.mpf(1) / 2

    def w(r):
        return r**2 / mp.exp(r)

    return fit_rounded(f, w, list(range(degree + 1)), -h, h, dtype)


def odd_tail(fn, cubic, dtype, degree, cut):
    """fn(x) = x + x^3 Q(x^2) for |x| <= cut, fitted in s = x^2 for the relative error of fn;
    ``cubic`` is fn's x^3 coefficient, the limit of Q at 0."""

    def f(s):
        if s == 0:
            return mp.mpf(cubic)
        x = mp.sqrt(s)
        return (fn(x) - x) / (s * x)

    def w(s):
        x = mp.sqrt(s)
        return s * x / fn(x) if s != 0 else mp.mpf(0)

    return fit_rounded(f, w, list(range(degree + 1)), mp.mpf(0), mp.mpf(cut) ** 2, dtype)


def tanh_small(dtype, degree, cut):
    """tanh(x) = x + x^3 Q(x^2) for |x| <= cut."""
    return odd_tail(mp.tanh, mp.mpf(-1) / 3, dtype, degree, cut)


def log_tail(dtype, degree):
    """log(1 + f) = f - s (f - R), s = f / (2 + f), R = 2 atanh(s) / s - 2 = z P(z), z = s^2,
    for 1 + f in [sqrt(1/2), sqrt(2)]. The error of R moves log by s dR, about log * dR / 2:
    P is fitted with the weight z / 2."""
    smax = (mp.sqrt(2) - 1) / (mp.sqrt(2) + 1) * mp.mpf("1.0005")

    def f(z):
        if z == 0:
            return mp.mpf(2) / 3
        s = mp.sqrt(z)
        return (2 * mp.atanh(s) / s - 2) / z

    def w(z):
        return z / 2

    return fit_rounded(f, w, list(range(degree + 1)), mp.mpf(0), smax**2, dtype)


def sin_tail(dtype, degree):
    """sin(r) = r + r^3 S(z), z = r^2, for |r| <= pi/4 (a little more for the rounded
    reduction); relative error of sin."""
    return odd_tail(mp.sin, mp.mpf(-1) / 6, dtype, degree, mp.pi / 4 * mp.mpf("1.0005"))


def cos_tail(dtype, degree):
    """cos(r) = 1 - z/2 + z^2 C(z), z = r^2, for |r| <= pi/4 (a little more); relative error
    of cos."""
    h = mp.pi / 4 * mp.mpf("1.0005")

    def f(z):
        if z == 0:
            return mp.mpf(1) / 24
        return (mp.cos(mp.sqrt(z)) - 1 + z / 2) / z**2

    def w(z):
        return z**2 / mp.cos(mp.sqrt(z))

    return fit_rounded(f, w, list(range(degree + 1)), mp.mpf(0), h**2, dtype)


def split_pio2() -> tuple[float, float]:
    """pi/2 = HI + LO, HI the float64 nearest to pi/2 (the reduction's final product)."""
    hi = float(mp.pi / 2)
    return hi, float(mp.pi / 2 - hi)


def check_two_over_pi_table() -> float:
    """Largest difference between vecmath's table of 2/pi chunks (built with integer
    arithmetic) and 2/pi in mpmath, in units of the last chunk's least significant bit."""
    from tracegrad.backend import vecmath

    with mp.workdps(450):
        m = 2 / mp.pi
        worst = mp.mpf(0)
        tab = vecmath._TWO_OVER_PI_TABLE.reshape(-1, 4)
        for i in (0, 1, 2, 17, 100, 500, tab.shape[0] - 1):
            frac = m * mp.mpf(2) ** i
            frac -= mp.floor(frac)
            total = sum(mp.mpf(float(t)) for t in tab[i])
            worst = max(worst, abs(frac - total) * mp.mpf(2) ** 212)
    return float(worst)


def split_ln2(bits: int) -> tuple[float, float]:
    """ln 2 = hi + lo with ``hi`` rounded to ``bits`` significant bits: n * hi is exact for
    |n| < 2**(p - bits) in a p-bit significand, which keeps the reduction x - n ln 2 exact."""
    ln2 = mp.log(2)
    scale = mp.mpf(2) ** (bits - 1 - mp.floor(mp.log(ln2, 2)))
    hi = mp.nint(ln2 * scale) / scale
    return float(hi), float(ln2 - hi)


def constants() -> None:
    print(f"LOG2E = {float(1 / mp.log(2))!r}  (float32: {float(np.float32(1 / mp.log(2)))!r})")
    for bits, dtype in ((42, np.float64), (16, np.float32)):
        hi, lo = split_ln2(bits)
        print(f"ln2 in {bits} bits: HI = {hi!r} ({hi.hex()}), LO = {float(dtype(lo))!r}")
    hi, lo = split_pio2()
    print(f"pi/2 = HI + LO: HI = {hi!r}, LO = {lo!r}")
    print(f"2/pi table against mpmath: {check_two_over_pi_table():.3g} units of 2^-212 (< 1)")


FITS = {
    "exp64": lambda: exp_tail(np.float64, 10),
    "exp32": lambda: exp_tail(np.float32, 4),
    "tanh64": lambda: tanh_small(np.float64, 7, 0.3),
    "tanh32": lambda: tanh_small(np.float32, 4, 0.625),
    "log64": lambda: log_tail(np.float64, 6),
    "log32": lambda: log_tail(np.float32, 2),
    # The float32 sin/cos evaluate in float64: their coefficients are float64.
    "sin64": lambda: sin_tail(np.float64, 5),
    "cos64": lambda: cos_tail(np.float64, 5),
    "sin32": lambda: sin_tail(np.float64, 3),
    "cos32": lambda: cos_tail(np.float64, 3),
}


def main(names: list[str]) -> None:
    if not names:
        constants()
    for name in names or list(FITS):
        coeffs, err = FITS[name]()
        print(f"# {name}: max relative approximation error {mp.nstr(err, 3)}")
        print(f"_{name.upper()} = (")
        for c in coeffs:
            print(f"    {float(c)!r},")
        print(")")


if __name__ == "__main__":
    main(sys.argv[1:])
