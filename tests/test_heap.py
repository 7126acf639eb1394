"""glibc's malloc thresholds (backend/heap.py): kernels reuse the memory of their temporaries
instead of faulting it in again on every call."""

from __future__ import annotations

import resource

import numpy as np
import pytest

import tracegrad as tg
from tracegrad import config
from tracegrad.backend import heap


@pytest.fixture
def undecided(monkeypatch):
    """The heap as if no program had been compiled yet, with a recording ``mallopt``."""
    calls = []

    def mallopt(parameter, value):
        calls.append((parameter, value))
        return 1

    monkeypatch.setattr(heap, "_applied", None)
    monkeypatch.setattr(heap, "_mallopt", lambda: mallopt)
    for name in (*heap._USER_SETTINGS, "GLIBC_TUNABLES"):
        monkeypatch.delenv(name, raising=False)
    return calls


def test_thresholds_are_fixed_once(undecided):
    assert heap.keep_freed_memory() is True
    assert heap.keep_freed_memory() is True
    assert sorted(undecided) == [
        (heap.M_MMAP_THRESHOLD, 32 << 20),
        (heap.M_TRIM_THRESHOLD, heap.TRIM_THRESHOLD),
    ]


@pytest.mark.parametrize(
    "name, value",
    [("MALLOC_TRIM_THRESHOLD_", "1000000"), ("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1")],
)
def test_the_users_malloc_settings_stand(undecided, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    assert heap.keep_freed_memory() is False
    assert undecided == []


def test_a_refused_setting_is_reported(undecided, monkeypatch):
    monkeypatch.setattr(heap, "_mallopt", lambda: lambda parameter, value: 0)
    assert heap.keep_freed_memory() is False


def test_the_setting_turns_it_off(monkeypatch):
    assert config.read().tune_malloc is True
    monkeypatch.setenv("TRACEGRAD_TUNE_MALLOC", "0")
    assert config.read().tune_malloc is False


def squares_of_a_layer(x, w):
    return np.sum(np.tanh(x @ w) ** 2)


@pytest.mark.skipif(heap._mallopt() is None, reason="glibc's malloc only")
def test_kernels_reuse_the_memory_of_their_temporaries():
    """Temporaries of 2 MB each: with glibc's own thresholds, every call faulted about 1,000
    pages in again (the kernel hands them back when it returns); with tracegrad's, none."""
    assert heap.keep_freed_memory() is True
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(1024, 256)), rng.normal(size=(256, 256)) / 16
    vg = tg.value_and_grad(squares_of_a_layer, argnums=(0, 1), compile="sync")
    for _ in range(3):
        vg(x, w)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    calls = 20
    for _ in range(calls):
        vg(x, w)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults / calls < 50
