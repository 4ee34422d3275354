"""Exploration of generated images, after Hugging Face's Stable Bias tools: image grids, average
faces, clusters, nearest neighbours and colourfulness, over an audit run or any folder of images.

>>> from fairframe.explore import explore                     # doctest: +SKIP
>>> result = explore("runs/tiny", "runs/tiny/explore")        # doctest: +SKIP
>>> result.html, result.counts["clusters"]                    # doctest: +SKIP

``explore.html`` is one self-contained page (no network; a Content-Security-Policy forbids any
request). The building blocks are public too: :func:`get_embedder` (CLIP, or the offline
``colour-hog`` fallback), :func:`kmeans`, :func:`nearest_neighbors`, :class:`FaceAverager`.
"""

from fairframe.explore.api import EXPLORE_SCHEMA_VERSION, ExploreResult, explore
from fairframe.explore.average_faces import AverageFace, FaceAverager, aligned_largest_face
from fairframe.explore.cluster import ClusterResult, choose_k, composition, kmeans, silhouette
from fairframe.explore.embed import (
    DEFAULT_CLIP_MODEL,
    CLIPImageEmbedder,
    ColourHogEmbedder,
    ImageEmbedder,
    get_embedder,
)
from fairframe.explore.neighbors import Neighbors, nearest_neighbors

__all__ = [
    "DEFAULT_CLIP_MODEL",
    "EXPLORE_SCHEMA_VERSION",
    "AverageFace",
    "CLIPImageEmbedder",
    "ClusterResult",
    "ColourHogEmbedder",
    "ExploreResult",
    "FaceAverager",
    "ImageEmbedder",
    "Neighbors",
    "aligned_largest_face",
    "choose_k",
    "composition",
    "explore",
    "get_embedder",
    "kmeans",
    "nearest_neighbors",
    "silhouette",
]
