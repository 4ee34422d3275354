"""Gather the images to explore from one or more sources: audit run folders, plain folders or
image manifests. Each image gets a *model*, so several sources over the same captions compare.

Three kinds of source, recognised in this order:

* **an audit run** (a folder with ``manifest.json`` and ``answers.parquet``): one item per distinct
  ``image_path``; its caption, caption id and seed come from ``answers.parquet``, and every bias
  label of the image (``label``, ``unknown`` included) becomes a *group* ``{bias_id: label}``. The
  model is the generator's identity (``manifest.json`` → ``components.generator``): its model id
  and short revision (``stabilityai/sd-turbo@abc1234``), or the backend name for the ``fake`` and
  ``folder`` backends.
* **an image manifest** (a ``.csv``/``.tsv``/``.jsonl`` file with ``prompt``, ``seed`` and
  ``path``, read by :func:`fairframe.backends.folder_generator.read_manifest`), given directly or
  found as ``manifest.csv`` / ``manifest.tsv`` / ``manifest.jsonl`` at the top of a folder: the
  caption is ``prompt``; extra columns (other than ``prompt``, ``seed``, ``path``, ``model``)
  become groups; the model is the ``model`` column, else the manifest's folder name.
* **a plain folder**, searched recursively for ``.png``, ``.jpg``, ``.jpeg``, ``.webp``, ``.bmp``
  files: the caption is the parent folder's name (files at the top use the folder's own name); a
  file name that is an integer (``7.png``) is its seed; the model is the folder's name.

When two sources yield the same model label, each such label gets the source's folder name in
brackets (``fake (run-a)``, ``fake (run-b)``; more of the path when the folder names are equal too).
The same source given twice is an error.

When there are more than ``max_images`` items, every (caption, source) pair takes turns (captions in
first-seen order, then sources in the order given, each in seed order) until ``max_images`` are
chosen, so every caption of every source keeps an equal share.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fairframe.errors import InputDataError
from fairframe.images import IMAGE_SUFFIXES

__all__ = ["IMAGE_SUFFIXES", "Collection", "ImageItem", "Sources", "collect", "collect_sources",
           "generator_label"]

#: File suffixes read as images in a plain folder.
_MANIFEST_NAMES = ("manifest.csv", "manifest.tsv", "manifest.jsonl")
_MANIFEST_FIELDS = ("prompt", "seed", "path", "model")


@dataclass(frozen=True)
class ImageItem:
    """One image to explore.

    Attributes
    ----------
    path:
        Where the image file is.
    rel:
        The path shown on the page (relative to the source folder where possible).
    caption:
        The caption (or, for a plain folder, the parent folder's name).
    caption_id:
        A stable id of the caption (the run's ``caption_id``, or the caption itself).
    seed:
        The generation seed, when known.
    groups:
        Labels of the image by bias id (``{"gender": "woman", "age": "unknown"}``); empty for a
        plain folder.
    model:
        The model label (see the module docstring), unique across the sources explored.
    source:
        Index of the source the image came from (in the order given).
    """

    path: Path
    rel: str
    caption: str
    caption_id: str
    seed: int | None = None
    groups: Mapping[str, str] = field(default_factory=dict)
    model: str | None = None
    source: int = 0


@dataclass(frozen=True)
class Collection:
    """The items found in a source, and how they were found.

    Attributes
    ----------
    kind:
        ``"audit-run"``, ``"manifest"`` or ``"folder"``.
    root:
        The source folder (the manifest's folder for a manifest).
    items:
        The chosen items (at most ``max_images``), in caption order, then seed order.
    total:
        How many images the source holds before ``max_images``.
    biases:
        Group names (bias ids or manifest columns) → their labels in first-seen order.
    name:
        The run's name, or the folder's name.
    path:
        The source as given.
    models:
        The model labels of the chosen items, in first-seen order.
    generator:
        The generator's identity (``manifest.json`` → ``components.generator``) of an audit run.
    """

    kind: str
    root: Path
    items: list[ImageItem]
    total: int
    biases: dict[str, list[str]]
    name: str
    path: Path = Path()
    models: list[str] = field(default_factory=list)
    generator: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Sources:
    """The images of one or more sources, model labels made unique.

    Attributes
    ----------
    collections:
        One :class:`Collection` per source, in the order given.
    items:
        Every chosen item: captions in first-seen order, then sources in order, then seeds.
    total:
        Images found before ``max_images``, over all sources.
    biases:
        Group names → labels over all chosen items.
    models:
        Every model label, sources in order.
    """

    collections: list[Collection]
    items: list[ImageItem]
    total: int
    biases: dict[str, list[str]]
    models: list[str]


def _seed_of(text: str) -> int | None:
    return int(text) if re.fullmatch(r"-?\d{1,18}", text) else None


def _sort_key(item: ImageItem) -> tuple[int, int, str]:
    return (0 if item.seed is not None else 1, item.seed or 0, item.rel)


def _limit(items: list[ImageItem], max_images: int) -> list[ImageItem]:
    """Queues per (caption, source), captions in first-seen order, then sources, each queue in seed
    order; when over the limit the queues take turns, so each keeps an equal share."""
    order = {c: n for n, c in enumerate(dict.fromkeys(it.caption_id for it in items))}
    by_key: dict[tuple[int, int], list[ImageItem]] = defaultdict(list)
    for it in items:
        by_key[(order[it.caption_id], it.source)].append(it)
    queues = [sorted(by_key[key], key=_sort_key) for key in sorted(by_key)]
    if len(items) <= max_images:
        return [it for q in queues for it in q]
    chosen: set[int] = set()
    depth = 0
    while len(chosen) < max_images:
        for q in queues:
            if depth < len(q) and len(chosen) < max_images:
                chosen.add(id(q[depth]))
        depth += 1
    return [it for q in queues for it in q if id(it) in chosen]


def _biases(items: Sequence[ImageItem]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for it in items:
        for bias, label in it.groups.items():
            labels = out.setdefault(bias, [])
            if label not in labels:
                labels.append(label)
    for labels in out.values():  # "unknown" last, as in the report
        if "unknown" in labels:
            labels.remove("unknown")
            labels.append("unknown")
    return out


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


# -- audit runs ---------------------------------------------------------------------------------
def generator_label(generator: Mapping[str, Any] | None) -> str | None:
    """``model@revision`` (a commit hash cut to 7 characters) of a generator identity, or its
    backend name for the ``fake`` and ``folder`` backends; ``None`` when there is neither."""
    if not isinstance(generator, Mapping):
        return None
    backend, model = generator.get("backend"), generator.get("model")
    if backend in ("fake", "folder") or not model:
        return str(backend) if backend else None
    rev = generator.get("revision")
    if not rev:
        return str(model)
    rev = str(rev)
    return f"{model}@{rev[:7] if re.fullmatch(r'[0-9a-fA-F]{8,64}', rev) else rev}"


def _read_run(root: Path) -> tuple[list[ImageItem], str, dict[str, Any] | None]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    fix = f"rerun `fairframe audit run CONFIG --out {root}` to rewrite it"
    path = root / "answers.parquet"
    cols = ["caption_id", "caption", "bias_id", "seed", "image_path", "label"]
    try:
        names = pq.read_schema(path).names
        missing = [c for c in cols if c not in names]
        if missing:
            raise InputDataError(f"{path} lacks the column(s) {', '.join(missing)}; {fix}")
        rows: list[dict[str, Any]] = pq.read_table(path, columns=cols).to_pylist()
    except InputDataError:
        raise
    except (OSError, pa.ArrowException) as exc:
        raise InputDataError(f"{path} is not a readable Parquet file ({exc}); {fix}") from exc
    try:
        manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputDataError(f"{root / 'manifest.json'} is not readable JSON ({exc}); {fix}"
                             ) from exc
    gen = (manifest.get("components") or {}).get("generator") or {} \
        if isinstance(manifest, dict) else {}
    gen = gen if isinstance(gen, dict) else {}
    model = generator_label(gen) or root.resolve().name
    name = str(manifest.get("name") or root.name) if isinstance(manifest, dict) else root.name
    merged: dict[str, dict[str, Any]] = {}
    for r in rows:
        if not r["image_path"]:
            continue
        entry = merged.setdefault(r["image_path"], {**r, "groups": {}})
        if r["bias_id"] is not None and r["label"] is not None:
            entry["groups"][str(r["bias_id"])] = str(r["label"])
    items = [
        ImageItem(path=root / rel, rel=rel, caption=str(r["caption"]),
                  caption_id=str(r["caption_id"]),
                  seed=None if r["seed"] is None else int(r["seed"]),
                  groups=dict(sorted(r["groups"].items())),
                  model=model)
        for rel, r in merged.items()
    ]
    return items, name, gen or None


# -- manifests and folders ----------------------------------------------------------------------
def _read_manifest(path: Path) -> list[ImageItem]:
    from fairframe.backends.folder_generator import read_manifest

    base = path.resolve().parent
    default_model = base.name
    items = []
    for row in read_manifest(path):
        p = Path(row["path"])
        p = p if p.is_absolute() else base / p
        groups = {k: str(v) for k, v in row.items()
                  if k not in _MANIFEST_FIELDS and k and v not in (None, "")}
        items.append(ImageItem(path=p, rel=_rel(p, base), caption=row["prompt"],
                               caption_id=row["prompt"], seed=int(row["seed"]), groups=groups,
                               model=str(row.get("model") or default_model)))
    return items


def _scan(root: Path) -> list[ImageItem]:
    items = []
    model = root.resolve().name
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() not in IMAGE_SUFFIXES or not p.is_file():
            continue
        if any(part.startswith(".") for part in p.relative_to(root).parts):
            continue
        caption = p.parent.name or root.resolve().name
        items.append(ImageItem(path=p, rel=_rel(p, root), caption=caption,
                               caption_id=_rel(p.parent, root) if p.parent != root else caption,
                               seed=_seed_of(p.stem), model=model))
    return items


def _open(src: Path) -> Collection:
    """Every image of one source (no limit yet)."""
    if not src.exists():
        raise InputDataError(
            f"{src} does not exist; give an audit run folder, a folder of images or an image "
            "manifest (.csv, .tsv, .jsonl)"
        )
    gen: dict[str, Any] | None = None
    if src.is_file():
        if src.suffix.lower() not in (".csv", ".tsv", ".jsonl"):
            raise InputDataError(
                f"{src} is a file but not an image manifest; give a .csv, .tsv or .jsonl file "
                "with prompt, seed and path, or a folder"
            )
        kind, root, items, name = "manifest", src.resolve().parent, _read_manifest(src), src.stem
    elif (src / "manifest.json").is_file() and (src / "answers.parquet").is_file():
        kind, root = "audit-run", src
        items, name, gen = _read_run(src)
    elif found := next((src / n for n in _MANIFEST_NAMES if (src / n).is_file()), None):
        kind, root, items, name = "manifest", src, _read_manifest(found), src.resolve().name
    else:
        kind, root, items, name = "folder", src, _scan(src), src.resolve().name
    if not items:
        what = {"audit-run": "answers.parquet lists no images",
                "manifest": "the manifest lists no images",
                "folder": f"no {', '.join(IMAGE_SUFFIXES)} files were found (recursively)"}[kind]
        raise InputDataError(f"nothing to explore in {src}: {what}; point at a folder of images")
    return Collection(kind=kind, root=root, items=items, total=len(items), biases={}, name=name,
                      path=src, generator=gen)


def _tags(paths: Sequence[Path]) -> list[str]:
    """The shortest path endings (folder name first) that tell ``paths`` apart."""
    parts = [p.resolve().parts for p in paths]
    for k in range(1, max(len(p) for p in parts) + 1):
        tags = ["/".join(p[-k:]) for p in parts]
        if len(set(tags)) == len(tags):
            return tags
    return [str(p) for p in paths]  # pragma: no cover - distinct resolved paths differ somewhere


def _as_list(sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    if isinstance(sources, (str, os.PathLike)):
        return [Path(sources)]
    return [Path(s) for s in sources]


def collect_sources(sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *,
                    max_images: int = 2000) -> Sources:
    """Find the images of every source and label them with unique models (see the module
    docstring).

    Raises
    ------
    InputDataError
        No source, the same source twice, or a source that does not exist, holds no images, or
        whose ``answers.parquet`` or manifest is unreadable.
    """
    paths = _as_list(sources)
    if not paths:
        raise InputDataError("no source given; give one or more audit run folders, folders of "
                             "images or image manifests")
    seen: dict[Path, Path] = {}
    for p in paths:
        key = p.resolve()
        if key in seen:
            same = "" if str(seen[key]) == str(p) else f" (as {seen[key]})"
            raise InputDataError(f"the source {p} is given twice{same}; give each source once")
        seen[key] = p
    opened = [_open(p) for p in paths]
    base = [list(dict.fromkeys(str(it.model) for it in c.items)) for c in opened]
    owners: dict[str, set[int]] = defaultdict(set)
    for i, labels in enumerate(base):
        for label in labels:
            owners[label].add(i)
    tags = _tags(paths) if len(paths) > 1 else [""]
    every: list[ImageItem] = []
    for i, c in enumerate(opened):
        rename = {label: f"{label} ({tags[i]})" for label in base[i] if len(owners[label]) > 1}
        every.extend(replace(it, source=i, model=rename.get(str(it.model), str(it.model)))
                     for it in c.items)
    chosen = _limit(every, max_images)
    collections = []
    for i, c in enumerate(opened):
        mine = [it for it in chosen if it.source == i]
        collections.append(replace(c, items=mine, biases=_biases(mine),
                                   models=list(dict.fromkeys(str(it.model) for it in mine))))
    models = list(dict.fromkeys(m for c in collections for m in c.models))
    return Sources(collections=collections, items=chosen, total=len(every),
                   biases=_biases(chosen), models=models)


def collect(source: str | os.PathLike[str], *, max_images: int = 2000) -> Collection:
    """Find the images of one ``source`` (see the module docstring).

    Raises
    ------
    InputDataError
        ``source`` does not exist, or holds no images; a run's ``answers.parquet`` or a
        manifest is unreadable.
    """
    return collect_sources([source], max_images=max_images).collections[0]
