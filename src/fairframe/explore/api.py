"""``explore(sources, out_dir)``: analyse the images of one or more sources (one *model* each, or
more for a manifest with a ``model`` column) and write one browsable page.

Steps, all offline: collect the images (:mod:`fairframe.explore._collect`); per image, in one pass,
its thumbnail, its Hasler–Süsstrunk colourfulness (on a copy whose longer side is at most 256
pixels), its embedding (:mod:`fairframe.explore.embed`) and its largest aligned face
(:mod:`fairframe.explore.average_faces`); then k-means clusters
(:mod:`fairframe.explore.cluster`) and cosine nearest neighbours
(:mod:`fairframe.explore.neighbors`) of the embeddings. Writes ``OUT/explore.html`` (the page),
``OUT/explore.json`` (the data behind it) and ``OUT/faces/*.png`` (the average faces).
"""

from __future__ import annotations

import base64
import io
import json
import os
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from fairframe._progress import NullProgress, Progress
from fairframe.errors import ConfigError, FairframeError, InputDataError
from fairframe.explore._collect import ImageItem, Sources, collect_sources
from fairframe.explore.average_faces import ALL, FaceAverager, aligned_largest_face
from fairframe.explore.cluster import ClusterResult, choose_k, composition, kmeans
from fairframe.explore.embed import ImageEmbedder, get_embedder
from fairframe.explore.neighbors import nearest_neighbors
from fairframe.types import JSONValue

__all__ = ["EXPLORE_SCHEMA_VERSION", "ExploreResult", "explore"]

#: Version of ``explore.json`` (2: several sources, a model per image).
EXPLORE_SCHEMA_VERSION = 2
_BATCH = 32
_ANALYSIS_SIDE = 256
_EXAMPLES_PER_CLUSTER = 8


@dataclass(frozen=True)
class ExploreResult:
    """What :func:`explore` wrote and counted.

    Attributes
    ----------
    out_dir:
        The output folder.
    html:
        ``OUT/explore.html``, the self-contained page.
    json:
        ``OUT/explore.json``, the data behind it.
    faces_dir:
        ``OUT/faces``, one PNG per average face.
    counts:
        ``images`` (explored), ``images_found`` (before ``max_images``), ``skipped``
        (unreadable), ``sources``, ``models``, ``captions``, ``clusters``, ``faces`` (images
        with a face; 0 when no detector ran), ``average_faces`` (cells with an image).
    embedder:
        The name of the embedder used.
    notes:
        What could not be done and why (no face detector, skipped images, ...).
    """

    out_dir: Path
    html: Path
    json: Path
    faces_dir: Path
    counts: Mapping[str, int]
    embedder: str
    notes: tuple[str, ...] = field(default_factory=tuple)


def _face_tools(name: str | None) -> tuple[Any, Mapping[str, JSONValue] | None, str | None]:
    """(detector, its identity, why none) — degrades to no detector with a reason."""
    if name is None:
        return None, None, "face detection was turned off"
    try:
        from fairframe.measure.faces import get_face_detector

        detector = get_face_detector(name)
        ident = dict(detector.identity())
    except ImportError as exc:  # MissingDependencyError included
        return None, None, f"no face detector available ({exc})"
    except FairframeError as exc:
        return None, None, f"no face detector available ({exc})"
    return detector, ident, None


def _colorfulness_fn() -> tuple[Callable[[Image.Image], float] | None, str | None]:
    try:
        from fairframe.measure.colorfulness import colorfulness
    except ImportError as exc:
        return None, f"colourfulness is not available ({exc})"
    return colorfulness, None


def _jpeg_uri(image: Image.Image, quality: int = 88) -> str:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _summary(values: Sequence[float]) -> dict[str, JSONValue]:
    if not values:
        return {"n": 0, "mean": None, "median": None, "min": None, "max": None}
    return {"n": len(values), "mean": round(statistics.fmean(values), 3),
            "median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3)}


def _examples(emb: np.ndarray[Any, Any], res: ClusterResult, n: int) -> list[list[int]]:
    out = []
    for j in range(res.k):
        members = np.flatnonzero(res.labels == j)
        d = ((emb[members] - res.centers[j]) ** 2).sum(1)
        out.append([int(i) for i in members[np.argsort(d, kind="stable")[:n]]])
    return out


def _by_model_composition(labels: np.ndarray[Any, Any], items: Sequence[ImageItem], k: int,
                          models: Sequence[str]) -> dict[str, Any]:
    """Cluster membership per model overall and per (model, caption)."""
    overall: dict[str, list[int]] = {}
    per: dict[str, dict[str, list[int]]] = {}
    for m in models:
        idx = [i for i, it in enumerate(items) if it.model == m]
        overall[m] = [int(x) for x in np.bincount(labels[idx].astype(np.int64), minlength=k)] \
            if idx else [0] * k
        per[m] = composition(labels[idx], [items[i].caption_id for i in idx], k) if idx else {}
    return {"composition_by_model": per, "model_sizes": overall}


def explore(sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
            out_dir: str | Path, *,
            embedder: str | ImageEmbedder = "auto", k: int | None = None,
            max_images: int = 2000, seed: int = 0, neighbors: int = 8,
            face_detector: str | None = "opencv-cascade", thumbnail_size: int = 96,
            face_size: int = 112, progress: Progress | None = None) -> ExploreResult:
    """Explore audit run folders, folders of images or image manifests; write a page.

    Parameters
    ----------
    sources:
        One source or a sequence of them, each a folder written by ``fairframe audit run``, any
        folder of images (searched recursively; the caption is the parent folder's name), or a
        CSV/TSV/JSONL manifest with ``prompt``, ``seed`` and ``path``. Each image gets a model:
        the run's generator (``model@revision``, or the backend name for ``fake``/``folder``),
        else the folder's name; equal labels of different sources get the folder name added.
    out_dir:
        Where ``explore.html``, ``explore.json`` and ``faces/`` are written (created).
    embedder:
        ``"auto"``, ``"colour-hog"`` (offline fallback), ``"clip"``, ``"clip:MODEL"``,
        ``"tiny://clip"`` or an :class:`~fairframe.explore.embed.ImageEmbedder`.
    k:
        Number of clusters; ``None`` picks k in 2..12 by the mean silhouette.
    max_images:
        Most images explored (every (source, caption) pair gets an equal share).
    seed:
        Seed of k-means.
    neighbors:
        Nearest neighbours kept per image.
    face_detector:
        A name from :data:`fairframe.measure.faces.FACE_DETECTORS`, or ``None`` for none.
    thumbnail_size:
        Longest side of the embedded thumbnails in pixels.
    face_size:
        Side of the aligned faces and their averages.
    progress:
        Where to report progress, one step per image read (the CLI passes its progress bars);
        ``None`` reports nothing.

    Returns
    -------
    ExploreResult

    Raises
    ------
    InputDataError
        No source, the same source twice, a source is missing or holds no images, or none of the
        images can be read.
    ConfigError
        A parameter is out of range or the embedder is unknown.
    """
    if max_images < 1:
        raise ConfigError(f"max_images must be >= 1, got {max_images}")
    if k is not None and k < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    if neighbors < 1:
        raise ConfigError(f"neighbors must be >= 1, got {neighbors}")
    if not 16 <= thumbnail_size <= 1024:
        raise ConfigError(f"thumbnail_size must be between 16 and 1024, got {thumbnail_size}")
    if not 32 <= face_size <= 512:
        raise ConfigError(f"face_size must be between 32 and 512, got {face_size}")
    emb_model = get_embedder(embedder)
    srcs = collect_sources(sources, max_images=max_images)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "faces").mkdir(exist_ok=True)
    except OSError as exc:
        raise InputDataError(f"cannot create the output folder {out}: {exc.strerror}") from exc

    detector, det_ident, no_faces = _face_tools(face_detector)
    cf_fn, no_cf = _colorfulness_fn()
    data = _analyse(srcs, emb_model, detector, cf_fn, thumbnail_size, face_size,
                    progress or NullProgress())
    items: list[ImageItem] = data["items"]
    paths = ", ".join(str(c.path) for c in srcs.collections)
    if not items:
        first = data["skipped"][0]
        raise InputDataError(
            f"none of the {len(data['skipped'])} image(s) in {paths} could be read, e.g. "
            f"{first['path']}: {first['reason']}"
        )
    emb = data["embeddings"]
    n = len(items)
    res = kmeans(emb, min(k, n), seed=seed) if k is not None else choose_k(emb, seed=seed)
    nn = nearest_neighbors(emb, neighbors)
    captions: dict[str, str] = {}
    for it in items:
        captions.setdefault(it.caption_id, it.caption)
    models = [m for m in srcs.models if any(it.model == m for it in items)]
    cf: list[float | None] = data["colorfulness"]

    notes: list[str] = []
    if no_faces:
        notes.append(no_faces)
    if no_cf:
        notes.append(no_cf)
    if data["skipped"]:
        s = data["skipped"]
        notes.append(f"{len(s)} image(s) could not be read and were skipped, e.g. "
                     f"{s[0]['path']}: {s[0]['reason']}")
    if srcs.total > len(srcs.items):
        shared = "captions" if len(srcs.collections) == 1 else "sources and captions"
        notes.append(f"{srcs.total} images found; {len(srcs.items)} explored (max_images), "
                     f"shared equally between {shared}")
    if k is not None and k > n:
        notes.append(f"k = {k} is more than the {n} images; k = {n} used")

    averager: FaceAverager = data["averager"]
    face_cells = []
    face_uris: dict[str, str] = {}
    if detector is not None:
        j = 0
        for cell in averager.cells():
            if cell.model == ALL and len(models) == 1:
                continue  # the same as the one model's cells
            entry: dict[str, JSONValue] = {
                "caption_id": cell.caption_id, "model": cell.model, "bias": cell.bias,
                "group": cell.group, "n_images": cell.n_images, "n_faces": cell.n_faces,
                "file": None, "reason": cell.reason}
            if cell.image is not None:
                name = f"faces/{j:04d}.png"
                j += 1
                cell.image.save(out / name)
                entry["file"] = name
                face_uris[name] = _jpeg_uri(cell.image)
            face_cells.append(entry)

    def cf_of(cap: str, model: str | None = None) -> list[float]:
        return [v for it, v in zip(items, cf, strict=True)
                if it.caption_id == cap and (model is None or it.model == model)
                and v is not None]

    colls = srcs.collections
    kinds = {c.kind for c in colls}
    report: dict[str, Any] = {
        "schema_version": EXPLORE_SCHEMA_VERSION,
        "source": {"kind": kinds.pop() if len(kinds) == 1 else "mixed", "path": paths,
                   "name": " vs ".join(c.name for c in colls),
                   "images_found": srcs.total, "images": n},
        "sources": [{"kind": c.kind, "path": str(c.path), "name": c.name, "models": c.models,
                     "generator": dict(c.generator) if c.generator else None,
                     "images_found": c.total,
                     "images": sum(it.source == i for it in items)}
                    for i, c in enumerate(colls)],
        "embedder": {"name": emb_model.name, "identity": dict(emb_model.identity()),
                     "dim": int(emb.shape[1])},
        "captions": [{"caption_id": c, "caption": text, "n": sum(it.caption_id == c
                                                                  for it in items),
                      "colorfulness": _summary(cf_of(c)),
                      "by_model": {m: {"n": sum(it.caption_id == c and it.model == m
                                                for it in items),
                                       "colorfulness": _summary(cf_of(c, m))}
                                   for m in models}}
                     for c, text in captions.items()],
        "biases": srcs.biases,
        "models": models,
        "items": [
            {"i": i, "path": it.rel, "source": it.source, "model": it.model,
             "caption_id": it.caption_id, "seed": it.seed, "groups": dict(it.groups),
             "colorfulness": None if cf[i] is None else round(float(cf[i] or 0.0), 3),
             "cluster": int(res.labels[i]), "face": data["faces"][i],
             "neighbors": [int(x) for x in nn.indices[i]],
             "similarities": [round(float(s), 4) for s in nn.similarities[i]]}
            for i, it in enumerate(items)
        ],
        "clusters": {
            "k": res.k, "chosen_by": "given" if k is not None else "silhouette (k = 2..12)",
            "seed": seed, "silhouette": None if res.silhouette is None
            else round(res.silhouette, 4), "inertia": round(res.inertia, 4),
            "sizes": res.sizes, "examples": _examples(emb, res, _EXAMPLES_PER_CLUSTER),
            "composition": composition(res.labels, [it.caption_id for it in items], res.k),
            **_by_model_composition(res.labels, items, res.k, models),
        },
        "faces": {"available": detector is not None, "reason": no_faces,
                  "detector": det_ident, "size": face_size, "space": "linear",
                  **averager.counts(), "cells": face_cells},
        "colorfulness": {"available": cf_fn is not None, "reason": no_cf,
                         "metric": "Hasler–Süsstrunk M, 8-bit sRGB, longer side <= 256 px"},
        "skipped": data["skipped"],
        "notes": notes,
    }
    from fairframe._io import atomic_write
    from fairframe.explore.page import render_page

    html = render_page(report, data["thumbs"], face_uris, thumbnail_size=thumbnail_size)
    files = (out / "explore.html", out / "explore.json")
    atomic_write(files[1], json.dumps(report, indent=1, allow_nan=False, ensure_ascii=False))
    atomic_write(files[0], html)
    counts = {
        "images": n, "images_found": srcs.total, "skipped": len(data["skipped"]),
        "sources": len(colls), "models": len(models),
        "captions": len(captions), "clusters": res.k,
        "faces": int(averager.counts()["faces"]) if detector is not None else 0,
        "average_faces": sum(1 for c in face_cells if c["file"]),
    }
    return ExploreResult(out_dir=out, html=files[0], json=files[1], faces_dir=out / "faces",
                         counts=counts, embedder=emb_model.name, notes=tuple(notes))


def _analyse(coll: Sources, emb_model: ImageEmbedder, detector: Any,
             cf_fn: Callable[[Image.Image], float] | None, thumbnail_size: int,
             face_size: int, progress: Progress) -> dict[str, Any]:
    """One pass over the images: thumbnails, colourfulness, faces, embeddings (in batches)."""
    with progress.stage("explore", len(coll.items)) as bar:
        return _analyse_items(coll, emb_model, detector, cf_fn, thumbnail_size, face_size,
                              bar.advance)


def _analyse_items(coll: Sources, emb_model: ImageEmbedder, detector: Any,
                   cf_fn: Callable[[Image.Image], float] | None, thumbnail_size: int,
                   face_size: int, advance: Callable[[int], None]) -> dict[str, Any]:
    from fairframe.images import load_image
    from fairframe.report._thumbs import Thumbnail, make_thumbnail

    kept: list[ImageItem] = []
    skipped: list[dict[str, str]] = []
    thumbs: list[Thumbnail] = []
    cf: list[float | None] = []
    faces: list[dict[str, JSONValue] | None] = []
    chunks: list[np.ndarray[Any, Any]] = []
    batch: list[Image.Image] = []
    averager = FaceAverager(face_size)

    def flush() -> None:
        if batch:
            chunks.append(np.asarray(emb_model.embed(batch), dtype=np.float32))
            batch.clear()

    for it in coll.items:
        advance(1)
        try:
            img = load_image(it.path, source=it.rel)
        except InputDataError as exc:
            skipped.append({"path": it.rel, "reason": str(exc)})
            continue
        small = img.copy()
        small.thumbnail((_ANALYSIS_SIDE, _ANALYSIS_SIDE), Image.Resampling.BILINEAR)
        kept.append(it)
        thumbs.append(make_thumbnail(it.path, thumbnail_size))
        cf.append(float(cf_fn(small)) if cf_fn is not None else None)
        if detector is not None:
            found = aligned_largest_face(img, detector, face_size)
            averager.add(it.caption_id, it.groups, found[0] if found else None,
                         model=str(it.model))
            faces.append(found[1].to_json() if found else None)
        else:
            faces.append(None)
        batch.append(small)
        if len(batch) >= _BATCH:
            flush()
    flush()
    emb = np.concatenate(chunks) if chunks else np.zeros((0, 1), dtype=np.float32)
    return {"items": kept, "skipped": skipped, "thumbs": thumbs, "colorfulness": cf,
            "faces": faces, "embeddings": emb, "averager": averager}

