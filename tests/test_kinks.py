"""Points where a function has no derivative: the value tracegrad gives there is a documented
convention (docs/sharp-bits.md, "Points without a derivative"), never a NaN the math did not
produce.  Each convention is checked here, interpreted and compiled."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad import nn

INF = np.inf

# (name, function of (x, y), point, expected gradient (dx, dy))
CONVENTIONS = [
    ("abs at 0", lambda x, y: np.abs(x) + 0 * y, (0.0, 1.0), (0.0, 0.0)),
    ("maximum tie", lambda x, y: np.maximum(x, y), (1.0, 1.0), (0.5, 0.5)),
    ("hypot at the origin", lambda x, y: np.hypot(x, y), (0.0, 0.0), (0.0, 0.0)),
    ("norm at 0", lambda x, y: np.linalg.norm(np.stack([x, y])), (0.0, 0.0), (0.0, 0.0)),
    ("logaddexp(-inf, -inf)", lambda x, y: np.logaddexp(x, y), (-INF, -INF), (0.5, 0.5)),
    ("logaddexp(inf, inf)", lambda x, y: np.logaddexp(x, y), (INF, INF), (0.5, 0.5)),
    ("logaddexp tie", lambda x, y: np.logaddexp(x, y), (2.0, 2.0), (0.5, 0.5)),
    ("relu at 0", lambda x, y: nn.relu(x) + 0 * y, (0.0, 1.0), (0.0, 0.0)),
]


@pytest.mark.parametrize("backend", ["interpret", "numba"])
def test_conventions_at_points_without_a_derivative(backend, monkeypatch):
    monkeypatch.setenv("TRACEGRAD_BACKEND", backend)

    def all_gradients(xs, ys):
        # One program for every convention: one compile.
        return [f(xs[k], ys[k]) for k, (_, f, _, _) in enumerate(CONVENTIONS)]

    xs = np.array([p[0] for _, _, p, _ in CONVENTIONS])
    ys = np.array([p[1] for _, _, p, _ in CONVENTIONS])
    vjp_fn = tg.vjp(lambda xs, ys: np.stack(all_gradients(xs, ys)), xs, ys)[1]
    gx, gy = vjp_fn(np.ones(len(CONVENTIONS)))
    for k, (name, _, _, (want_x, want_y)) in enumerate(CONVENTIONS):
        assert (gx[k], gy[k]) == (want_x, want_y), name


def test_hypot_and_norm_keep_their_values_and_gradients_elsewhere():
    g = tg.grad(np.hypot, argnums=(0, 1))(3.0, 4.0)
    np.testing.assert_allclose(g, (0.6, 0.8))
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(tg.jit(lambda x: np.linalg.norm(x, axis=1))(x), [5.0, 0.0])
    np.testing.assert_allclose(
        tg.grad(lambda x: np.sum(np.linalg.norm(x, axis=1)))(x), [[0.6, 0.8], [0.0, 0.0]]
    )
