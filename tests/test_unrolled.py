"""Loops unrolled by tracing: repeated steps share one compiled function.

The source tests need no compile (``show_source``); one test compiles a 20-step RNN and
checks it against the reference interpreter.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import tracegrad as tg


def rnn_loss(steps: int):
    def loss(Wx, Wh, b, x):
        h = np.zeros(Wh.shape[0])
        for t in range(steps):
            h = np.tanh(x[t] @ Wx + h @ Wh + b)
        return np.sum(h**2)

    return loss


def rnn_args(steps: int, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(8, 16)) * 0.3,
        rng.normal(size=(16, 16)) * 0.3,
        rng.normal(size=16) * 0.1,
        rng.normal(size=(steps, 8)),
    )


def source(steps: int) -> str:
    gradient = tg.grad(rnn_loss(steps), argnums=(0, 1, 2))
    return tg.show_source(gradient)(*rnn_args(steps))


def defined_functions(text: str) -> list[str]:
    return re.findall(r"^def (\w+)\(", text, flags=re.M)


def test_steps_share_functions_whatever_the_length():
    short, long = source(20), source(40)
    # As many functions to compile at 20 steps as at 40: only the calls are more.
    assert len(defined_functions(short)) == len(defined_functions(long))
    steps = [name for name in defined_functions(long) if name.startswith("_step")]
    assert steps, "no shared step function"
    calls = {name: len(re.findall(rf"= {name}\(", long)) for name in steps}
    assert sum(calls.values()) >= 10, calls


def test_small_programs_have_no_step_functions():
    assert "_step" not in source(3)


@pytest.mark.parametrize("steps", [20])
def test_unrolled_rnn_compiled_matches_interpreter(steps, monkeypatch):
    loss, args = rnn_loss(steps), rnn_args(steps, seed=1)
    gradient = tg.grad(loss, argnums=(0, 1, 2))
    assert "_step" in tg.show_source(gradient)(*args)
    monkeypatch.setenv("TRACEGRAD_BACKEND", "numba")
    compiled = tg.grad(loss, argnums=(0, 1, 2))(*args)
    monkeypatch.setenv("TRACEGRAD_BACKEND", "interpret")
    interpreted = tg.grad(loss, argnums=(0, 1, 2))(*args)
    for got, want in zip(compiled, interpreted, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
