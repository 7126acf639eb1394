"""Mini-batches and early stopping for plain training loops.

```python
stopper = EarlyStopping(patience=10)
for epoch in range(max_epochs):
    for idx in batches(rng, len(x_train), 64):
        loss, grads = loss_and_grad(params, x_train[idx], y_train[idx])
        updates, state = opt.update(grads, state, params)
        params = apply_updates(params, updates)
    if stopper.update(val_loss(params), params):
        break
params = stopper.best_params
```

"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from .tree import tree_map

__all__ = ["EarlyStopping", "batches", "num_batches"]


def batches(
    rng: np.random.Generator | None,
    n: int,
    batch_size: int,
    shuffle: bool = True,
    drop_last: bool = False,
) -> Iterator[np.ndarray]:
    """Yield index arrays that split ``range(n)`` into mini-batches (shuffled by ``rng``).

    With ``drop_last=True`` a final short batch is skipped, so every batch has one shape
    and a compiled step never needs a second version; after shuffling, each epoch drops
    different examples.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if shuffle:
        if rng is None:
            raise ValueError("batches(shuffle=True) needs a np.random.Generator")
        order = rng.permutation(n)
    else:
        order = np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    """How many batches ``batches(rng, n, batch_size, drop_last=drop_last)`` yields."""
    return n // batch_size if drop_last else math.ceil(n / batch_size)


class EarlyStopping:
    """Track a validation loss; keep the best parameters; say when to stop.

    ``update(loss, params)`` returns True once the loss has not improved by more than
    ``min_delta`` for ``patience`` consecutive calls.  ``best_params`` (a copy),
    ``best_loss`` and ``best_epoch`` describe the best call so far.
    """

    def __init__(self, patience: int = 10, min_delta: float = 0.0) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.best_loss = math.inf
        self.best_params: Any = None
        self.best_epoch = -1
        self.epoch = -1
        self.bad_epochs = 0

    def update(self, loss: float, params: Any) -> bool:
        """Record one validation loss; return True if training should stop."""
        self.epoch += 1
        loss = float(loss)
        if loss < self.best_loss - self.min_delta:
            self.best_loss = loss
            self.best_params = tree_map(np.copy, params)
            self.best_epoch = self.epoch
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience

    @property
    def should_stop(self) -> bool:
        """True once ``patience`` calls in a row brought no improvement."""
        return self.bad_epochs >= self.patience
