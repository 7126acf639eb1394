"""The on-disk cache of compiled code, exercised in fresh processes.

Each test runs a small script in a subprocess with its own TRACEGRAD_CACHE_DIR and reads back
the compile statistics and results it prints.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, sys
import numpy as np
import tracegrad as tg

def f(w, x):
    return np.sum(np.tanh(x @ w) ** 2) + np.sum(np.sin(w) * np.exp(-w * w))

rng = np.random.default_rng(0)
w = rng.normal(size=(4, 3))
x = rng.normal(size=(5, 4))
value, grad = tg.value_and_grad(f)(w, x)
s = tg.compile_stats()
print(json.dumps({"value": float(value), "grad": grad.tolist(), "compiles": s.compiles,
                  "disk_hits": s.disk_hits, "programs": s.programs}))
"""


def run(cache_dir: Path | str, **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TRACEGRAD_")}
    environ.update({"TRACEGRAD_CACHE_DIR": str(cache_dir), "PYTHONPATH": str(ROOT)}, **env)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=environ, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "stderr": done.stderr}


def generated_files(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.glob("tg_*.py"))


@pytest.fixture(scope="module")
def warm(tmp_path_factory) -> tuple[Path, dict]:
    """A cache directory filled by one process, and that process's result."""
    cache_dir = tmp_path_factory.mktemp("warm")
    first = run(cache_dir)
    assert first["compiles"] >= 1 and first["disk_hits"] == 0
    return cache_dir, first


def test_warm_cache_compiles_nothing(warm):
    cache_dir, first = warm
    second = run(cache_dir)
    assert second["compiles"] == 0
    assert second["disk_hits"] >= 1
    assert second["value"] == first["value"] and second["grad"] == first["grad"]


def test_corrupted_source_file_is_rewritten(warm, tmp_path):
    cache_dir, first = warm
    copy = tmp_path / "cache"
    shutil.copytree(cache_dir, copy)
    (path,) = generated_files(copy)
    text = path.read_text()
    path.write_text(text[: len(text) // 2])  # truncated
    again = run(copy)
    assert again["value"] == first["value"] and again["grad"] == first["grad"]
    assert path.read_text() == text


def test_corrupted_numba_cache_is_recovered(warm, tmp_path):
    cache_dir, first = warm
    copy = tmp_path / "cache"
    shutil.copytree(cache_dir, copy)
    numba_files = sorted((copy / "__pycache__").glob("tg_*.nb*"))
    assert numba_files, "Numba wrote no cache files"
    for p in numba_files:
        p.write_bytes(p.read_bytes()[:40])  # truncated pickles
    again = run(copy)
    assert again["value"] == first["value"] and again["grad"] == first["grad"]
    assert again["compiles"] >= 1
    third = run(copy)  # and the rewritten cache is good again
    assert third["compiles"] == 0 and third["value"] == first["value"]


def test_two_processes_racing_on_one_entry(tmp_path):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TRACEGRAD_")}
    environ.update({"TRACEGRAD_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)})
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT],
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert results[0]["value"] == results[1]["value"]
    assert results[0]["grad"] == results[1]["grad"]
    assert len(generated_files(tmp_path)) == 1
    after = run(tmp_path)
    assert after["compiles"] == 0 and after["value"] == results[0]["value"]


def test_disabled_disk_cache_writes_nothing(tmp_path, warm):
    _, first = warm
    result = run(tmp_path, TRACEGRAD_DISABLE_DISK_CACHE="1")
    assert result["value"] == first["value"]
    assert result["compiles"] >= 1 and result["disk_hits"] == 0
    assert not list(tmp_path.iterdir())


def test_unwritable_cache_dir_falls_back_with_a_warning(tmp_path, warm):
    _, first = warm
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run(blocker / "cache")
    assert result["value"] == first["value"]
    assert "cannot write to the cache directory" in result["stderr"]
