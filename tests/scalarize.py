"""Turn an array-valued function into a scalar loss that sees every output element."""

from collections.abc import Callable
from typing import Any

import numpy as np


def weights(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Fixed, distinct weights, so that a permuted or misplaced element changes the loss."""
    n = int(np.prod(shape))
    return (np.cos(np.arange(n) * 1.3 + 0.4) + 1.5).reshape(shape).astype(dtype)


def scalarized(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``sum(w * fn(*args))`` with fixed distinct weights ``w``."""

    def loss(*args: Any) -> Any:
        out = fn(*args)
        return np.sum(out * weights(np.shape(out), out.dtype))

    loss.__qualname__ = f"sum(w * {getattr(fn, '__qualname__', fn)})"
    return loss
