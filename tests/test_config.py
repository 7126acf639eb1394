"""tracegrad.config: the environment read in one place, and read again for each program."""

import numpy as np

import tracegrad as tg
from tracegrad import config


def test_defaults(monkeypatch):
    for name in ("BACKEND", "CACHE_DIR", "DISABLE_DISK_CACHE", "VECTOR_MATH", "COMPILE"):
        monkeypatch.delenv(f"TRACEGRAD_{name}", raising=False)
    settings = config.read()
    assert settings.backend == "numba" and settings.disk_cache and settings.vector_math
    assert settings.compile == "background"
    assert settings.cache_dir.endswith("tracegrad")


def test_values(monkeypatch, tmp_path):
    monkeypatch.setenv("TRACEGRAD_BACKEND", "interpret")
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TRACEGRAD_DISABLE_DISK_CACHE", " 1 ")
    monkeypatch.setenv("TRACEGRAD_VECTOR_MATH", "0")
    monkeypatch.setenv("TRACEGRAD_COMPILE", " Never ")
    monkeypatch.setenv("TRACEGRAD_THREADS", "3")
    assert config.read() == config.Settings(
        "interpret", str(tmp_path), False, False, "never", threads=3, blas_threads=3
    )
    monkeypatch.setenv("TRACEGRAD_DISABLE_DISK_CACHE", "0")
    assert config.read().disk_cache


def test_vector_math_is_read_when_a_program_is_generated(monkeypatch):
    x = np.linspace(0.1, 1.0, 100)
    monkeypatch.setenv("TRACEGRAD_VECTOR_MATH", "0")
    assert "_vm_" not in tg.show_source(np.exp)(x)
    monkeypatch.setenv("TRACEGRAD_VECTOR_MATH", "1")
    assert "_vm_exp_f64" in tg.show_source(np.exp)(x)
