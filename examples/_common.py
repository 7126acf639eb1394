"""Shared plumbing for the examples: quick mode, output folder, plots, progress bars, data."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

OUT = Path(__file__).resolve().parent / "out"


def quick_requested(argv: list[str] | None = None) -> bool:
    """True if ``--quick`` was passed or TRACEGRAD_QUICK=1 is set."""
    argv = sys.argv[1:] if argv is None else argv
    return "--quick" in argv or os.environ.get("TRACEGRAD_QUICK", "") not in ("", "0")


def run(main: Callable[..., Any]) -> None:
    """Call ``main(quick=...)`` from the command line."""
    start = time.perf_counter()
    main(quick=quick_requested())
    print(f"done in {time.perf_counter() - start:.1f} s")


def pyplot() -> Any:
    """matplotlib.pyplot with the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, name: str) -> Path:
    """Save ``fig`` as examples/out/<name> and close it."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    fig.savefig(path, dpi=90, bbox_inches="tight")
    pyplot().close(fig)
    return path


def progress(iterable: Iterable[Any], **kwargs: Any) -> Iterator[Any]:
    """A tqdm progress bar (shown on terminals only)."""
    from tqdm.auto import tqdm

    kwargs.setdefault("disable", None)  # None: only when stderr is a terminal
    kwargs.setdefault("leave", False)
    return iter(tqdm(iterable, **kwargs))


def digits(rng: np.random.Generator, dtype: Any = np.float64) -> dict[str, np.ndarray]:
    """scikit-learn's 8x8 digits (shipped with it, no download), scaled to [0, 1] and split
    60/20/20 into train/val/test."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.data / 16.0).astype(dtype)
    y = data.target.astype(np.int64)
    order = rng.permutation(len(x))
    n_train, n_val = int(0.6 * len(x)), int(0.2 * len(x))
    parts = np.split(order, [n_train, n_train + n_val])
    out = {}
    for name, idx in zip(("train", "val", "test"), parts, strict=True):
        out[f"x_{name}"], out[f"y_{name}"] = x[idx], y[idx]
    return out
