r"""k-means clustering of embeddings, pure numpy, seeded; and per-caption cluster composition.

:func:`kmeans` runs Lloyd's algorithm from k-means++ seeds (Arthur & Vassilvitskii, 2007) ``n_init``
times and keeps the run with the lowest inertia (sum of squared distances to the assigned centre).
Everything random comes from ``numpy.random.default_rng(seed)``, so a result is reproducible.

The summary is the **mean silhouette** (Rousseeuw, 1987) on Euclidean distances: for image *i* with
mean distance :math:`a_i` to its own cluster and :math:`b_i` to the nearest other cluster,
:math:`s_i = (b_i - a_i) / \max(a_i, b_i)` (0 for a cluster of one). Range [−1, 1]; higher means
tighter, better separated clusters; around 0 means the data has no cluster structure at this k.

When ``k`` is not given, :func:`choose_k` tries k = 2 … min(12, n − 1) and keeps the highest mean
silhouette. Clusters depend on the embedder and on k (as in Stable Bias, which used k = 12, 24, 48):
they describe what looks alike, not who is depicted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fairframe.errors import ConfigError

__all__ = ["ClusterResult", "choose_k", "composition", "kmeans", "silhouette"]

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class ClusterResult:
    """A k-means clustering.

    Attributes
    ----------
    k:
        Number of clusters.
    labels:
        Cluster of each row, ``0 .. k-1``, numbered by decreasing size (ties: first member).
    centers:
        ``(k, dim)`` cluster means.
    inertia:
        Sum of squared distances of the rows to their centre.
    silhouette:
        Mean silhouette (``None`` when k < 2 or k ≥ n).
    n_iter:
        Lloyd iterations of the kept run.
    seed:
        The seed used.
    """

    k: int
    labels: npt.NDArray[np.int64]
    centers: npt.NDArray[np.float64]
    inertia: float
    silhouette: float | None
    n_iter: int
    seed: int

    @property
    def sizes(self) -> list[int]:
        """Members per cluster."""
        return [int(c) for c in np.bincount(self.labels, minlength=self.k)]


def _sq_dists(x: Array, c: Array) -> Array:
    d = (x * x).sum(1)[:, None] - 2.0 * x @ c.T + (c * c).sum(1)[None, :]
    return np.asarray(np.maximum(d, 0.0))


def _plus_plus(x: Array, k: int, rng: np.random.Generator) -> Array:
    n = x.shape[0]
    centers = [x[int(rng.integers(n))]]
    d2 = _sq_dists(x, np.asarray(centers))[:, 0]
    for _ in range(1, k):
        total = d2.sum()
        i = int(rng.integers(n)) if total <= 0 else int(rng.choice(n, p=d2 / total))
        centers.append(x[i])
        d2 = np.minimum(d2, _sq_dists(x, x[i:i + 1])[:, 0])
    return np.asarray(centers)


def _lloyd(x: Array, centers: Array, max_iter: int, tol: float) -> tuple[Array, Array, float, int]:
    labels = np.zeros(x.shape[0], dtype=np.int64)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        d = _sq_dists(x, centers)
        labels = d.argmin(1)
        new = centers.copy()
        for j in range(centers.shape[0]):
            members = x[labels == j]
            if len(members):
                new[j] = members.mean(0)
            else:  # an empty cluster takes the point farthest from its centre
                far = int(d[np.arange(len(x)), labels].argmax())
                new[j] = x[far]
        shift = float(((new - centers) ** 2).sum())
        centers = new
        if shift <= tol:
            break
    d = _sq_dists(x, centers)
    labels = d.argmin(1)
    return labels, centers, float(d[np.arange(len(x)), labels].sum()), it


def silhouette(x: npt.ArrayLike, labels: npt.ArrayLike) -> float | None:
    """Mean silhouette of ``labels`` on rows of ``x`` (Euclidean); ``None`` with < 2 clusters or
    as many clusters as rows."""
    xa = np.asarray(x, dtype=np.float64)
    lab = np.asarray(labels)
    ids = np.unique(lab)
    n = len(lab)
    if len(ids) < 2 or len(ids) >= n:
        return None
    dist = np.sqrt(_sq_dists(xa, xa))
    s = np.zeros(n)
    means = np.stack([dist[:, lab == c].mean(1) for c in ids], axis=1)  # (n, k)
    sizes = np.array([(lab == c).sum() for c in ids])
    own = np.searchsorted(ids, lab)
    for i in range(n):
        m = sizes[own[i]]
        if m <= 1:
            continue
        a = means[i, own[i]] * m / (m - 1)  # exclude the zero self-distance
        b = np.min(np.delete(means[i], own[i]))
        s[i] = (b - a) / max(a, b) if max(a, b) > 0 else 0.0
    return float(s.mean())


def kmeans(x: npt.ArrayLike, k: int, *, seed: int = 0, n_init: int = 4, max_iter: int = 100,
           tol: float = 1e-8) -> ClusterResult:
    """Cluster the rows of ``x`` into ``k`` groups (k-means++ then Lloyd, best of ``n_init``).

    Raises
    ------
    ConfigError
        ``k`` is not between 1 and the number of rows, or ``x`` is not 2-D.
    """
    xa = np.asarray(x, dtype=np.float64)
    if xa.ndim != 2 or xa.shape[0] == 0:
        raise ConfigError(f"k-means needs a non-empty 2-D array, got shape {xa.shape}")
    if not 1 <= k <= xa.shape[0]:
        raise ConfigError(f"k must be between 1 and the number of images ({xa.shape[0]}), got {k}")
    rng = np.random.default_rng(seed)
    best: tuple[Array, Array, float, int] | None = None
    for _ in range(max(1, n_init)):
        run = _lloyd(xa, _plus_plus(xa, k, rng), max_iter, tol)
        if best is None or run[2] < best[2] - 1e-12:
            best = run
    assert best is not None
    labels, centers, inertia, it = best
    # renumber by decreasing size, ties by first member, so numbering is stable
    order = sorted(range(k), key=lambda j: (-int((labels == j).sum()),
                                            int(np.argmax(labels == j)) if (labels == j).any()
                                            else len(labels)))
    remap = np.empty(k, dtype=np.int64)
    remap[order] = np.arange(k)
    labels = remap[labels]
    centers = centers[order]
    return ClusterResult(k=k, labels=labels.astype(np.int64), centers=centers, inertia=inertia,
                         silhouette=silhouette(xa, labels) if 2 <= k < len(xa) else None,
                         n_iter=it, seed=seed)


def choose_k(x: npt.ArrayLike, *, seed: int = 0, k_max: int = 12) -> ClusterResult:
    """Run :func:`kmeans` for k = 2 … min(k_max, n − 1) and keep the highest mean silhouette
    (ties: the smaller k). With fewer than 3 rows, one cluster."""
    xa = np.asarray(x, dtype=np.float64)
    n = xa.shape[0]
    if n < 3:
        return kmeans(xa, 1, seed=seed)
    best: ClusterResult | None = None
    for k in range(2, min(k_max, n - 1) + 1):
        res = kmeans(xa, k, seed=seed)
        score = res.silhouette if res.silhouette is not None else -2.0
        if best is None or score > (best.silhouette or -2.0) + 1e-9:
            best = res
    assert best is not None
    return best


def composition(labels: npt.ArrayLike, captions: Sequence[str], k: int
                ) -> dict[str, list[int]]:
    """Cluster-assignment histogram per caption: ``{caption: [count in cluster 0, ...]}`` in
    first-seen caption order (Stable Bias's per-profession cluster tables)."""
    lab = np.asarray(labels)
    if len(lab) != len(captions):
        raise ConfigError(f"{len(lab)} labels but {len(captions)} captions")
    out: dict[str, list[int]] = {}
    for c, j in zip(captions, lab.tolist(), strict=True):
        out.setdefault(c, [0] * k)[int(j)] += 1
    return out
