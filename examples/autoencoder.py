"""An autoencoder on the 8x8 digits: 64 -> 32 -> 2 -> 32 -> 64.

The network is trained to reproduce its input through a 2-unit bottleneck, so the two
code units must describe the images on a 2-D manifold: dimensionality reduction without
labels.  The codes are then used as keys for search ("semantic hashing"): the images whose
codes are nearest to a query's code tend to show the same digit.

Prints the reconstruction error (against predicting the mean image and against a linear
2-D projection, PCA) and the label agreement of nearest neighbours by code.  Saves
examples/out/autoencoder_codes.png, autoencoder_reconstructions.png, autoencoder_search.png.

    python examples/autoencoder.py [--quick]
"""

from __future__ import annotations

from typing import Any

import numpy as np
from _common import digits, progress, pyplot, run, save

import tracegrad as tg
from tracegrad import nn, optim
from tracegrad.data import batches


def encode(params: dict[str, nn.Params], x: np.ndarray) -> Any:
    """The 2-D code of each row of ``x`` (linear last layer)."""
    return nn.mlp(params["encoder"], x, nn.tanh)


def decode(params: dict[str, nn.Params], code: np.ndarray) -> Any:
    """Images in [0, 1] from codes."""
    return nn.sigmoid(nn.mlp(params["decoder"], code, nn.tanh))


def loss(params: dict[str, nn.Params], x: np.ndarray) -> Any:
    """Mean squared reconstruction error per pixel."""
    return nn.mse(decode(params, encode(params, x)), x)


def pca_error(x_train: np.ndarray, x: np.ndarray, k: int = 2) -> float:
    """Reconstruction error of the best linear k-D projection fitted on x_train."""
    mean = x_train.mean(axis=0)
    _, _, vt = np.linalg.svd(x_train - mean, full_matrices=False)
    basis = vt[:k]
    return float(np.mean(((x - mean) @ basis.T @ basis + mean - x) ** 2))


def nearest_label_agreement(codes: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of points whose nearest other point (by code) has the same label."""
    d = np.sum((codes[:, None, :] - codes[None, :, :]) ** 2, axis=-1)
    np.fill_diagonal(d, np.inf)
    return float(np.mean(labels[np.argmin(d, axis=1)] == labels))


def main(quick: bool = False) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    data = digits(rng)
    x, x_val = data["x_train"], data["x_val"]
    params = {
        "encoder": nn.init_mlp(rng, [64, 32, 2]),
        "decoder": nn.init_mlp(rng, [2, 32, 64]),
    }
    epochs = 30 if quick else 200
    opt = optim.adam(optim.cosine_decay(1e-2, epochs * (len(x) // 32), final=1e-3))
    state = opt.init(params)
    loss_and_grad = tg.value_and_grad(loss)
    bar = progress(range(epochs), desc="autoencoder")
    for _ in bar:
        for idx in batches(rng, len(x), 32, drop_last=True):
            value, grads = loss_and_grad(params, x[idx])
            updates, state = opt.update(grads, state, params)
            params = optim.apply_updates(params, updates)

    val_error = float(loss(params, x_val))
    mean_error = float(np.mean((x_val - x.mean(axis=0)) ** 2))
    linear_error = pca_error(x, x_val)
    codes = np.asarray(encode(params, x_val))
    agreement = nearest_label_agreement(codes, data["y_val"])
    print(f"trained {epochs} epochs on {len(x)} images (Adam, cosine learning rate)")
    print("validation reconstruction error (mean squared, per pixel in [0, 1]):")
    print(f"  predict the mean image  {mean_error:.4f}")
    print(f"  PCA, 2 components       {linear_error:.4f}")
    print(f"  autoencoder, 2-D code   {val_error:.4f}")
    print(
        f"nearest neighbour by 2-D code has the same digit for {agreement:.1%} of validation "
        f"images (chance: ~10%)"
    )

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    points = ax.scatter(codes[:, 0], codes[:, 1], c=data["y_val"], cmap="tab10", s=12)
    fig.colorbar(points, ax=ax, label="digit")
    ax.set(title="2-D codes of validation digits (labels not used in training)")
    print("saved", save(fig, "autoencoder_codes.png"))

    shown = x_val[:10]
    recon = np.asarray(decode(params, encode(params, shown)))
    fig, axes = plt.subplots(2, 10, figsize=(10, 2.3))
    for j in range(10):
        for i, img in enumerate((shown[j], recon[j])):
            axes[i, j].imshow(img.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
            axes[i, j].axis("off")
    fig.suptitle("top: validation images, bottom: reconstructions from 2 numbers")
    print("saved", save(fig, "autoencoder_reconstructions.png"))

    train_codes = np.asarray(encode(params, x))
    fig, axes = plt.subplots(5, 6, figsize=(6, 5.2))
    for row in range(5):
        q = codes[row]
        nearest = np.argsort(np.sum((train_codes - q) ** 2, axis=1))[:5]
        for col, img in enumerate([x_val[row], *x[nearest]]):
            axes[row, col].imshow(img.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
            axes[row, col].axis("off")
    fig.suptitle("search by code: query (left) and its 5 nearest training images")
    print("saved", save(fig, "autoencoder_search.png"))
    return {
        "val_error": val_error,
        "mean_error": mean_error,
        "pca_error": linear_error,
        "nn_agreement": agreement,
    }


if __name__ == "__main__":
    run(main)
