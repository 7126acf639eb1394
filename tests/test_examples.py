"""Each example runs in quick mode and delivers what it claims.

Quick mode trains for fewer steps, so some bounds are looser than the full runs'; the
full-mode claims are checked by ``TRACEGRAD_SLOW=1 pytest tests/test_examples.py``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")
pytest.importorskip("tqdm")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
slow = pytest.mark.skipif(
    os.environ.get("TRACEGRAD_SLOW", "") in ("", "0"), reason="full-mode example; TRACEGRAD_SLOW=1"
)


@pytest.fixture
def load(tmp_path, monkeypatch):
    """Import examples/<name>.py as a module, with its plots going to a temporary folder."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    import _common

    monkeypatch.setattr(_common, "OUT", tmp_path)

    def loader(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    yield loader
    sys.modules.pop("_common", None)


def _pngs(path: Path) -> set[str]:
    return {p.name for p in path.glob("*.png") if p.stat().st_size > 1000}


def test_perceptron(load, tmp_path) -> None:
    r = load("perceptron").main(quick=True)
    sep, xor = "linearly separable", "XOR"
    assert r[sep, "rosenblatt epochs"] is not None  # the perceptron rule converges
    assert r[sep, "Rosenblatt perceptron"] == 1.0
    assert r[sep, "logistic unit (tg.grad)"] >= 0.99
    assert r[xor, "rosenblatt epochs"] is None  # ... and cannot on XOR
    assert r[xor, "Rosenblatt perceptron"] <= 0.8 and r[xor, "logistic unit (tg.grad)"] <= 0.8
    assert r[xor, "one hidden layer (tg.grad)"] >= 0.97
    assert _pngs(tmp_path) == {"perceptron.png"}


def test_banana_momentum_beats_gradient_descent(load, tmp_path) -> None:
    r = load("gradient_descent_banana").main(quick=True)
    its = r["iterations"]
    assert its["momentum m=0.9"] is not None
    assert its["momentum m=0.5 then 0.9"] is not None
    gd = its["gradient descent"] or r["max_iter"] + 1  # None: not converged within max_iter
    assert its["momentum m=0.9"] < gd
    assert np.linalg.norm(r["paths"]["momentum m=0.9"][-1] - 1.0) < 1e-3
    assert _pngs(tmp_path) == {"banana.png"}


def test_mlp_digits(load, tmp_path) -> None:
    r = load("mlp_digits").main(quick=True)
    assert r["val_acc"] >= 0.95  # also reached in quick mode (20 epochs)
    assert r["test_acc"] >= 0.93
    for run in r["runs"].values():
        h = run["history"]
        assert h["val"][run["best_epoch"]] == min(h["val"])  # early stopping kept the best
        assert h["train"][-1] < h["train"][0]
    assert _pngs(tmp_path) == {"digits_validation_curve.png", "digits_hidden_sweep.png"}


@slow
def test_mlp_digits_full(load) -> None:
    r = load("mlp_digits").main(quick=False)
    assert r["val_acc"] >= 0.97 and r["test_acc"] >= 0.95


def test_autoencoder(load, tmp_path) -> None:
    r = load("autoencoder").main(quick=True)
    assert r["val_error"] < 0.05  # full mode: ~0.039
    assert r["val_error"] < r["pca_error"] < r["mean_error"]  # beats a linear 2-D code
    assert r["nn_agreement"] > 0.5  # search by code finds the same digit (chance 0.1)
    assert len(_pngs(tmp_path)) == 3


def test_universal_approximation(load, tmp_path) -> None:
    r = load("universal_approximation").main(quick=True)
    errors = [r["errors"][f"1-{w}-1"] for w in r["widths"]]
    assert errors == sorted(errors, reverse=True)  # wider fits better
    assert errors[-1] < 0.02 and errors[0] > 0.1
    assert _pngs(tmp_path) == {"universal_approximation.png"}


def test_autodiff_by_hand(load, tmp_path) -> None:
    r = load("autodiff_by_hand").main(quick=True)
    assert r["grad"] == pytest.approx(r["by_formula"], rel=1e-12)
    assert r["backprop_error"] < 1e-12
    table = np.array(r["rows"])  # n, forward eqns, adjoint eqns, symbolic nodes
    adjoint, symbolic = table[:, 2], table[:, 3]
    # The adjoint grows linearly (constant increments); the symbolic derivative faster.
    assert len(set(np.diff(adjoint))) == 1
    assert np.all(np.diff(np.diff(symbolic)) > 0)
    assert symbolic[-1] > 3 * adjoint[-1]
    assert _pngs(tmp_path) == {"autodiff_sizes.png"}


def test_sparse_architecture(load, tmp_path) -> None:
    r = load("sparse_architecture").main(quick=True)
    assert r["off_mask_abs_max"] == 0.0  # masked connections never learn
    assert r["sparse_weights"] < r["dense_weights"] / 3
    assert r["sparse_acc"] >= 0.9 and r["dense_acc"] >= 0.9


def test_rnn_scan(load, tmp_path) -> None:
    result = load("rnn_scan").main(quick=True)
    assert result["after"] < 0.2 * result["before"]
    assert "rnn_scan.png" in _pngs(tmp_path)


def test_train_on_dask(load) -> None:
    pytest.importorskip("dask.array")
    pytest.importorskip("distributed")
    r = load("train_on_dask").main(quick=True)  # 20,000 rows, 4 steps, a 2-process cluster
    # The cluster's first loss is the one-process loss at the same parameters.
    assert r["first_value"] == pytest.approx(r["one_process_value"], rel=1e-10)
    assert r["losses"][-1] < 0.5 * r["losses"][0]
    assert r["speedup"] > 0 and r["overhead_seconds"] > 0


def test_demo(load) -> None:
    r = load("demo").main(quick=True)
    assert r["grad_gap"] < 1e-5  # float32 gradients agree with hand-written backprop
    assert r["val_acc"] >= 0.85  # 4 epochs in quick mode; the full demo reaches ~0.97
    assert abs(r["val_acc"] - r["hand_val_acc"]) <= 0.02
    assert r["steps_per_second"] > 0 and r["speedup"] > 0
    assert len(r["checked"]) == 6


@slow
def test_demo_full(load) -> None:
    r = load("demo").main(quick=False)
    assert r["val_acc"] >= 0.95


def test_quick_flag(load, monkeypatch) -> None:
    import _common

    monkeypatch.delenv("TRACEGRAD_QUICK", raising=False)
    assert _common.quick_requested(["--quick"]) and not _common.quick_requested([])
    monkeypatch.setenv("TRACEGRAD_QUICK", "1")
    assert _common.quick_requested([])


def test_per_example_clipping(load, tmp_path) -> None:
    r = load("per_example_clipping").main(quick=True)
    assert r["max_difference"] < 1e-10  # vmap(grad) equals the loop over grad
    assert r["SGD"] >= 0.85 and r["DP-SGD"] >= 0.75  # clipped, noisy steps still learn
    assert _pngs(tmp_path) == {"per_example_clipping.png"}


def test_newton_rosenbrock(load, tmp_path) -> None:
    r = load("newton_rosenbrock").main(quick=True)
    assert r["newton_error"] < 1e-8 and r["newton_steps"] <= 40
    assert r["gd_error"] > 1e-3  # the valley that Newton's curvature scaling crosses
    assert r["newton_50d_error"] < 1e-8
    assert _pngs(tmp_path) == {"newton_rosenbrock.png"}
