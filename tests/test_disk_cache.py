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

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, sys
import numpy as np
import tracegrad as tg

def f(w, x):
    return np.sum(np.tanh(x @ w) ** 2) + np.sum(np.sin(w) * np.exp(-w * w))

rng = np.random.default_rng(0)
w = rng.normal(size=(8, 12))  # loops of 64+ iterations: vecmath's kernels, inlined
x = rng.normal(size=(6, 8))
value, grad = tg.value_and_grad(f)(w, x)
s = tg.compile_stats()
print(json.dumps({"value": float(value), "grad": grad.tolist(), "compiles": s.compiles,
                  "disk_hits": s.disk_hits, "programs": s.programs}))
"""


def run(cache_dir: Path | str, script: str = SCRIPT, **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TRACEGRAD_")}
    environ.update(
        {
            "TRACEGRAD_CACHE_DIR": str(cache_dir),
            "PYTHONPATH": str(ROOT),
            "TRACEGRAD_COMPILE": "sync",
        },
        **env,
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=environ, capture_output=True, text=True, timeout=300
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


# After loading the warm kernels (Numba's compiler not initialised, see
# numba_patches.light_cache_loads): calls that miss the kernel's signature, a new program compiled
# in the same process, and the user's own Numba code (np.dot needs SciPy) all still work.
WARM_TAIL = r"""
from tracegrad.backend import blas
light = "scipy.linalg" not in sys.modules
# Loading cached kernels needs none of Numba's array lowerings (numba_patches: the
# ensure_blas patch is applied only at a cache miss).
lowerings = sorted(m for m in ("numba.np.linalg", "numba.np.arrayobj") if m in sys.modules)
fortran = tg.value_and_grad(f)(np.asfortranarray(w), x[::1, :])  # copied to C order
as_f32 = tg.value_and_grad(f)(w.astype(np.float32), x.astype(np.float32))  # a new program

import numba

@numba.njit
def user(a, b):
    return np.dot(a, b).sum() + np.correlate(a[0], b[:, 0])[0]

print(json.dumps({**first, "light": light, "lowerings": lowerings,
                  "numpy_blas": blas.uses_numpy_blas(),
                  "fortran": [float(fortran[0]), fortran[1].tolist()],
                  "f32": [float(as_f32[0]), as_f32[1].tolist()],
                  "user": float(user(x, w)), "user_want": float(np.dot(x, w).sum()
                  + np.correlate(x[0], w[:, 0])[0]), "end": tg.compile_stats().compiles}))
"""
AFTER_WARM_LOAD = SCRIPT.replace("print(json.dumps(", "first = json.loads(json.dumps(", 1)
AFTER_WARM_LOAD += WARM_TAIL


def test_warm_load_then_more_work(warm, tmp_path):
    cache_dir, first = warm
    copy = tmp_path / "cache"  # the float32 program goes into a copy
    shutil.copytree(cache_dir, copy)
    done = run(copy, script=AFTER_WARM_LOAD)
    assert done["compiles"] == 0 and done["disk_hits"] >= 1
    assert done["value"] == first["value"] and done["grad"] == first["grad"]
    if done["numpy_blas"]:
        assert done["light"], "a warm start imported scipy.linalg"
        assert done["lowerings"] == [], "a warm start imported Numba's array lowerings"
    assert done["fortran"] == [first["value"], first["grad"]]
    np.testing.assert_allclose(done["f32"][0], first["value"], rtol=1e-5)
    np.testing.assert_allclose(done["f32"][1], first["grad"], rtol=1e-4, atol=1e-6)
    assert done["end"] >= 1  # the float32 program was compiled, after the light loads
    np.testing.assert_allclose(done["user"], done["user_want"], rtol=1e-12)


def test_cold_compile_then_more_work(warm, tmp_path):
    """Compiling in a new process skips scipy.linalg too (numba_patches, when compiling)."""
    _, first = warm
    done = run(tmp_path / "cold", script=AFTER_WARM_LOAD)
    assert done["compiles"] >= 1 and done["disk_hits"] == 0
    assert done["value"] == first["value"] and done["grad"] == first["grad"]
    if done["numpy_blas"]:
        assert done["light"], "a cold compile imported scipy.linalg"
    np.testing.assert_allclose(done["user"], done["user_want"], rtol=1e-12)


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
    environ.update(
        {"TRACEGRAD_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT), "TRACEGRAD_COMPILE": "sync"}
    )
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


def test_programs_differing_only_in_names_share_one_file_and_kernel(warm, tmp_path):
    """The file holds the user's names, but its name (and Numba's compiled code) does not
    depend on them: a renamed copy of ``f`` loads the warm kernel instead of compiling."""
    cache_dir, first = warm
    renamed = SCRIPT.replace("def f(w, x):", "def f(weights, inputs):").replace(
        "return np.sum(np.tanh(x @ w) ** 2) + np.sum(np.sin(w) * np.exp(-w * w))",
        "return (np.sum(np.tanh(inputs @ weights) ** 2)\n"
        "            + np.sum(np.sin(weights) * np.exp(-weights * weights)))",
    )
    assert renamed != SCRIPT
    before = generated_files(cache_dir)
    second = run(cache_dir, renamed)
    assert second["compiles"] == 0 and second["disk_hits"] >= 1
    assert second["value"] == first["value"] and second["grad"] == first["grad"]
    assert generated_files(cache_dir) == before
    texts = [p.read_text() for p in before]
    assert any("def program(w, x, grad_w)" in t for t in texts), texts[0][:2000]
