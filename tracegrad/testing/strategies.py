"""Hypothesis strategies for property-based gradient tests (needs ``hypothesis``).

Finite differences are only a good reference where ``f`` is smooth and well scaled, so the
strategies draw finite values of moderate size, no subnormals, and can keep values a margin
away from the kinks of ``f`` (``avoid=[0.0]`` for ``abs``/``relu``/``maximum(x, 0)``).

```python
from hypothesis import given
from tracegrad.testing import check_grads, strategies as tgs


@given(tgs.arguments((3,), None, avoid=[0.0]))  # None: a random shape
def test_my_loss(args):
    check_grads(my_loss, args)


test_my_model = tgs.check_gradient_property(my_model, [(4, 3), (3,)], order=2)
```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from . import check_grads

__all__ = [
    "arguments",
    "arrays",
    "broadcastable_shapes",
    "check_gradient_property",
    "float_dtypes",
    "mlp_params",
    "shapes",
]

Shape = tuple[int, ...]


def float_dtypes() -> st.SearchStrategy[np.dtype]:
    """float32 or float64."""
    return st.sampled_from([np.dtype(np.float64), np.dtype(np.float32)])


def shapes(
    min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4
) -> st.SearchStrategy[Shape]:
    """Array shapes; small by default, since finite differences cost 2 calls per element."""
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


def broadcastable_shapes(
    min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4
) -> st.SearchStrategy[tuple[Shape, Shape]]:
    """Pairs of shapes that broadcast together (size-1 axes and missing leading axes)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=2, min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    ).map(lambda result: tuple(result.input_shapes))


def _push_away(values: np.ndarray, avoid: Sequence[float], margin: float) -> np.ndarray:
    """Move entries closer than ``margin`` to a kink to ``kink +- margin`` (same side)."""
    out = np.array(values, dtype=np.float64)
    for kink in avoid:
        near = np.abs(out - kink) < margin
        out[near] = kink + np.where(out[near] >= kink, margin, -margin)
    return out


def _clear_of(values: np.ndarray, avoid: Sequence[float], margin: float) -> bool:
    # The cast to the drawn dtype can round a pushed value back inside the margin slightly.
    v = np.asarray(values, dtype=np.float64)
    return all(not np.any(np.abs(v - k) < 0.999 * margin) for k in avoid)


def arrays(
    shape: Shape | st.SearchStrategy[Shape] | None = None,
    dtype: Any = np.float64,
    min_value: float = -2.0,
    max_value: float = 2.0,
    avoid: Sequence[float] = (),
    margin: float = 0.1,
) -> st.SearchStrategy[np.ndarray]:
    """Well-conditioned float arrays: finite, in ``[min_value, max_value]``, no subnormals.

    ``shape`` is a tuple, a strategy of tuples, or None for a random small shape; ``dtype``
    is a dtype or a strategy of dtypes (``float_dtypes()``). Values within ``margin`` of a
    point of ``avoid`` are moved to ``point +- margin``, so ``f`` is smooth around every
    drawn input when ``avoid`` lists its kinks.
    """
    if margin <= 0 and avoid:
        raise ValueError("arrays: margin must be positive when avoid is given")
    shape_st = shapes() if shape is None else shape
    shape_st = shape_st if isinstance(shape_st, st.SearchStrategy) else st.just(tuple(shape_st))
    dtype_st = dtype if isinstance(dtype, st.SearchStrategy) else st.just(np.dtype(dtype))
    avoid = tuple(float(k) for k in avoid)

    @st.composite
    def draw_array(draw: Callable) -> np.ndarray:
        dt = np.dtype(draw(dtype_st))
        if dt.kind != "f":
            raise ValueError(f"arrays: dtype must be a float dtype, got {dt}")
        elements = st.floats(
            min_value,
            max_value,
            allow_nan=False,
            allow_infinity=False,
            allow_subnormal=False,
            width=8 * min(dt.itemsize, 8),
        )
        values = draw(hnp.arrays(np.float64, draw(shape_st), elements=elements))
        if avoid:
            values = _push_away(values, avoid, margin)
        return np.asarray(values, dtype=dt)

    strategy = draw_array()
    if avoid:
        strategy = strategy.filter(lambda a: _clear_of(a, avoid, margin))
    return strategy


def arguments(
    *shapes: Shape | st.SearchStrategy[Shape] | None,
    dtype: Any = np.float64,
    min_value: float = -2.0,
    max_value: float = 2.0,
    avoid: Sequence[float] = (),
    margin: float = 0.1,
) -> st.SearchStrategy[tuple[np.ndarray, ...]]:
    """A tuple of arrays, one per shape (``None`` for a random shape), for ``f(*args)``.

    A ``dtype`` strategy is drawn once per tuple, so all arguments share one dtype.
    """
    dtype_st = dtype if isinstance(dtype, st.SearchStrategy) else st.just(np.dtype(dtype))

    @st.composite
    def draw_arguments(draw: Callable) -> tuple[np.ndarray, ...]:
        dt = draw(dtype_st)
        return tuple(
            draw(arrays(s, dt, min_value, max_value, avoid=avoid, margin=margin)) for s in shapes
        )

    return draw_arguments()


def mlp_params(
    layer_sizes: Sequence[int] | None = None,
    dtype: Any = np.float64,
    max_layers: int = 3,
    max_width: int = 5,
) -> st.SearchStrategy[list[dict[str, np.ndarray]]]:
    """Parameters of a dense network: ``[{"W": (n_in, n_out), "b": (n_out,)}, ...]``.

    ``layer_sizes`` such as ``[4, 8, 1]`` fixes the architecture, otherwise it is drawn
    (1 to ``max_layers`` layers, widths 1 to ``max_width``). Weights are scaled by
    ``1/sqrt(n_in)`` and biases lie in [-0.5, 0.5], so activations stay well scaled.
    """
    if layer_sizes is not None:
        sizes_st: st.SearchStrategy = st.just(list(layer_sizes))
    else:
        sizes_st = st.lists(st.integers(1, max_width), min_size=2, max_size=max_layers + 1)
    dtype_st = dtype if isinstance(dtype, st.SearchStrategy) else st.just(np.dtype(dtype))

    @st.composite
    def draw_params(draw: Callable) -> list[dict[str, np.ndarray]]:
        sizes, dt = draw(sizes_st), np.dtype(draw(dtype_st))
        layers = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
            w = draw(arrays((n_in, n_out), np.float64, -1.0, 1.0)) / np.sqrt(n_in)
            b = draw(arrays((n_out,), np.float64, -0.5, 0.5))
            layers.append({"W": w.astype(dt), "b": b.astype(dt)})
        return layers

    return draw_params()


def check_gradient_property(
    f: Callable[..., Any],
    shapes: Sequence[Shape | st.SearchStrategy[Shape] | None],
    *,
    dtype: Any = np.float64,
    min_value: float = -2.0,
    max_value: float = 2.0,
    avoid: Sequence[float] = (),
    margin: float = 0.1,
    order: int = 1,
    max_examples: int = 20,
    **check_kwargs: Any,
) -> Callable[..., None]:
    """A ready-made Hypothesis test: ``check_grads(f, args, order)`` on drawn arguments.

    Assign it to a ``test_*`` name at module level and pytest runs it::

        test_softplus = check_gradient_property(softplus, [(3, 2)], avoid=[0.0])

    ``check_kwargs`` (``rtol``, ``atol``, ``eps``, ``argnums``) go to ``check_grads``.
    """
    strategy = arguments(
        *shapes, dtype=dtype, min_value=min_value, max_value=max_value, avoid=avoid, margin=margin
    )

    def check(args: tuple[np.ndarray, ...]) -> None:
        check_grads(f, args, order=order, **check_kwargs)

    name = getattr(f, "__name__", "f")
    ident = "".join(c if c.isalnum() or c == "_" else "_" for c in name).strip("_") or "f"
    check.__name__ = check.__qualname__ = f"test_gradient_of_{ident}"
    check.__doc__ = f"check_grads({name}, order={order}) on drawn arguments of shapes {shapes}."
    return settings(max_examples=max_examples, deadline=None)(given(strategy)(check))
