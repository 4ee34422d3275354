"""k-means, silhouette, composition and nearest neighbours on hand-made data."""

from __future__ import annotations

import numpy as np
import pytest

from fairframe.errors import ConfigError
from fairframe.explore import choose_k, composition, kmeans, nearest_neighbors, silhouette


def _blobs(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 5.0]])
    truth = np.repeat([0, 1, 2], [20, 15, 10])
    return centres[truth] + rng.normal(0, 0.5, size=(len(truth), 3)), truth


def test_kmeans_recovers_separable_clusters_and_numbers_them_by_size() -> None:
    x, truth = _blobs()
    res = kmeans(x, 3, seed=0)
    # the partition is exactly the truth; clusters are numbered by decreasing size
    assert np.array_equal(res.labels, truth)
    assert res.sizes == [20, 15, 10]
    assert res.silhouette is not None and res.silhouette > 0.8
    again = kmeans(x, 3, seed=0)
    assert np.array_equal(again.labels, res.labels) and again.inertia == res.inertia


def test_choose_k_finds_three_and_k1_is_allowed() -> None:
    x, _ = _blobs()
    assert choose_k(x, seed=1).k == 3
    one = kmeans(x, 1)
    assert one.silhouette is None and one.sizes == [45]
    assert np.allclose(one.centers[0], x.mean(0))


def test_silhouette_by_hand() -> None:
    # two points at 0 and 1 (cluster a), one at 5 (cluster b)
    x = np.array([[0.0], [1.0], [5.0]])
    s = silhouette(x, [0, 0, 1])
    # s0 = (5 - 1) / 5, s1 = (4 - 1) / 4, s2 = 0 (singleton)
    assert s == pytest.approx((0.8 + 0.75 + 0.0) / 3)
    assert silhouette(x, [0, 0, 0]) is None


def test_composition_counts_clusters_per_caption() -> None:
    assert composition([0, 1, 1, 0, 2], ["a", "a", "b", "b", "b"], 3) == {
        "a": [1, 1, 0], "b": [1, 1, 1]}


def test_kmeans_rejects_bad_k() -> None:
    with pytest.raises(ConfigError, match="between 1 and"):
        kmeans(np.zeros((3, 2)), 4)


def test_duplicate_is_its_own_nearest_neighbour() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 5))
    x = np.vstack([x, x[2]])  # row 6 duplicates row 2
    nn = nearest_neighbors(x, k=3)
    assert nn.indices[6, 0] == 2 and nn.indices[2, 0] == 6
    assert nn.similarities[6, 0] == pytest.approx(1.0)
    assert all(i not in row for i, row in enumerate(nn.indices))  # never itself
    assert np.all(np.diff(nn.similarities, axis=1) <= 1e-12)


def test_neighbours_by_hand_and_k_capped() -> None:
    x = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    nn = nearest_neighbors(x, k=5)
    assert nn.indices.shape == (3, 2)
    assert nn.indices[0].tolist() == [1, 2]
    assert nn.similarities[0].tolist() == pytest.approx([2 ** -0.5, 0.0])
