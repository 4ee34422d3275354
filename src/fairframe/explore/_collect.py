"""Gather the images to explore: from an audit run folder, a plain folder, or an image manifest.

Three kinds of source, recognised in this order:

* **an audit run** (a folder with ``manifest.json`` and ``answers.parquet``): one item per distinct
  ``image_path``; its caption, caption id and seed come from ``answers.parquet``, and every bias
  label of the image (``label``, ``unknown`` included) becomes a *group* ``{bias_id: label}``. The
  generator's model id (``manifest.json`` → ``components.generator.model``) is the item's model.
* **an image manifest** (a ``.csv``/``.tsv``/``.jsonl`` file with ``prompt``, ``seed`` and
  ``path``, read by :func:`fairframe.backends.folder_generator.read_manifest`), given directly or
  found as ``manifest.csv`` / ``manifest.tsv`` / ``manifest.jsonl`` at the top of a folder: the
  caption is ``prompt``; extra columns (other than ``prompt``, ``seed``, ``path``, ``model``)
  become groups; a ``model`` column becomes the model.
* **a plain folder**, searched recursively for ``.png``, ``.jpg``, ``.jpeg``, ``.webp``, ``.bmp``
  files: the caption is the parent folder's name (files at the top use the folder's own name); a
  file name that is an integer (``7.png``) is its seed.

When there are more than ``max_images`` items, captions take turns (in caption order, each in
seed order) until ``max_images`` are chosen, so every caption keeps an equal share.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fairframe.errors import InputDataError

__all__ = ["IMAGE_SUFFIXES", "Collection", "ImageItem", "collect"]

#: File suffixes read as images in a plain folder.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
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
        The generator's model id, when known.
    """

    path: Path
    rel: str
    caption: str
    caption_id: str
    seed: int | None = None
    groups: Mapping[str, str] = field(default_factory=dict)
    model: str | None = None


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
    """

    kind: str
    root: Path
    items: list[ImageItem]
    total: int
    biases: dict[str, list[str]]
    name: str


def _seed_of(text: str) -> int | None:
    return int(text) if re.fullmatch(r"-?\d{1,18}", text) else None


def _sort_key(item: ImageItem) -> tuple[int, int, str]:
    return (0 if item.seed is not None else 1, item.seed or 0, item.rel)


def _limit(items: list[ImageItem], max_images: int) -> list[ImageItem]:
    """Captions in first-seen order, each in seed order; round-robin when over the limit."""
    by_caption: dict[str, list[ImageItem]] = defaultdict(list)
    for it in items:
        by_caption[it.caption_id].append(it)
    queues = [sorted(group, key=_sort_key) for group in by_caption.values()]
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
def _read_run(root: Path) -> tuple[list[ImageItem], str]:
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
    model = gen.get("model") if isinstance(gen, dict) else None
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
                  model=str(model) if model else None)
        for rel, r in merged.items()
    ]
    return items, name


# -- manifests and folders ----------------------------------------------------------------------
def _read_manifest(path: Path) -> list[ImageItem]:
    from fairframe.backends.folder_generator import read_manifest

    base = path.resolve().parent
    items = []
    for row in read_manifest(path):
        p = Path(row["path"])
        p = p if p.is_absolute() else base / p
        groups = {k: str(v) for k, v in row.items()
                  if k not in _MANIFEST_FIELDS and k and v not in (None, "")}
        items.append(ImageItem(path=p, rel=_rel(p, base), caption=row["prompt"],
                               caption_id=row["prompt"], seed=int(row["seed"]), groups=groups,
                               model=row.get("model") or None))
    return items


def _scan(root: Path) -> list[ImageItem]:
    items = []
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() not in IMAGE_SUFFIXES or not p.is_file():
            continue
        if any(part.startswith(".") for part in p.relative_to(root).parts):
            continue
        caption = p.parent.name or root.resolve().name
        items.append(ImageItem(path=p, rel=_rel(p, root), caption=caption,
                               caption_id=_rel(p.parent, root) if p.parent != root else caption,
                               seed=_seed_of(p.stem)))
    return items


def collect(source: str | Path, *, max_images: int = 2000) -> Collection:
    """Find the images of ``source`` (see the module docstring).

    Raises
    ------
    InputDataError
        ``source`` does not exist, or holds no images; a run's ``answers.parquet`` or a
        manifest is unreadable.
    """
    src = Path(source)
    if not src.exists():
        raise InputDataError(
            f"{src} does not exist; give an audit run folder, a folder of images or an image "
            "manifest (.csv, .tsv, .jsonl)"
        )
    if src.is_file():
        if src.suffix.lower() not in (".csv", ".tsv", ".jsonl"):
            raise InputDataError(
                f"{src} is a file but not an image manifest; give a .csv, .tsv or .jsonl file "
                "with prompt, seed and path, or a folder"
            )
        kind, root, items, name = "manifest", src.resolve().parent, _read_manifest(src), src.stem
    elif (src / "manifest.json").is_file() and (src / "answers.parquet").is_file():
        kind, root = "audit-run", src
        items, name = _read_run(src)
    elif found := next((src / n for n in _MANIFEST_NAMES if (src / n).is_file()), None):
        kind, root, items, name = "manifest", src, _read_manifest(found), src.resolve().name
    else:
        kind, root, items, name = "folder", src, _scan(src), src.resolve().name
    if not items:
        what = {"audit-run": "answers.parquet lists no images",
                "manifest": "the manifest lists no images",
                "folder": f"no {', '.join(IMAGE_SUFFIXES)} files were found (recursively)"}[kind]
        raise InputDataError(f"nothing to explore in {src}: {what}; point at a folder of images")
    chosen = _limit(items, max_images)
    return Collection(kind=kind, root=root, items=chosen, total=len(items),
                      biases=_biases(chosen), name=name)
