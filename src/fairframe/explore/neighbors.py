"""Cosine nearest neighbours of every image, by exact search (images number thousands, not
millions: one ``n × n`` similarity matrix)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fairframe.errors import ConfigError

__all__ = ["Neighbors", "nearest_neighbors"]


@dataclass(frozen=True)
class Neighbors:
    """The ``k`` most similar images of each image.

    Attributes
    ----------
    indices:
        ``(n, k)`` row indices, most similar first; an image is never its own neighbour.
        Ties go to the lower index.
    similarities:
        ``(n, k)`` cosine similarities in [−1, 1], aligned with ``indices``.
    """

    indices: npt.NDArray[np.int64]
    similarities: npt.NDArray[np.float64]


def nearest_neighbors(embeddings: npt.ArrayLike, k: int = 8) -> Neighbors:
    """The ``k`` nearest neighbours of each row by cosine similarity (rows are normalised here,
    so any non-zero vectors work; a zero row is similar to nothing, with similarity 0).

    ``k`` is reduced to ``n - 1`` when there are fewer images.

    Raises
    ------
    ConfigError
        ``embeddings`` is not 2-D or ``k < 1``.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise ConfigError(f"embeddings must be 2-D, got shape {x.shape}")
    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    n = x.shape[0]
    k = min(k, max(n - 1, 0))
    if k == 0:
        return Neighbors(np.zeros((n, 0), dtype=np.int64), np.zeros((n, 0)))
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    unit = x / np.where(norm > 0, norm, 1.0)
    sim: npt.NDArray[Any] = np.clip(unit @ unit.T, -1.0, 1.0)
    np.fill_diagonal(sim, -np.inf)
    # stable sort on -similarity: equal similarities keep index order
    order = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    return Neighbors(order.astype(np.int64), np.take_along_axis(sim, order, axis=1))
