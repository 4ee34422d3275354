"""Bring your own images: a "generator" that reads them from a folder through a manifest.

The manifest is a CSV (or TSV) with a header, or a JSONL file, with at least the fields ``prompt``,
``seed`` and ``path`` (relative to the manifest's folder, or absolute)::

    prompt,seed,path
    a photo of a doctor,0,doctor/0.png
    a photo of a doctor,1,doctor/1.png

With ``match = "seed"`` (default) a request for (prompt, seed) returns exactly that row. With
``match = "order"`` a request's seed is used as an index: seed ``k`` takes the prompt's ``k``-th
image in ascending seed order (so with the audit's default ``seed = 0``, images 0..N-1), which
lets images made with any seeds be audited; the image's real seed is recorded in its metadata.
"""

from __future__ import annotations

import csv
import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from fairframe.errors import ConfigError, InputDataError
from fairframe.images import load_image
from fairframe.types import GeneratedImage, GenerationRequest, JSONValue, refuse_safety

__all__ = ["FolderGenerator", "read_manifest"]

_REQUIRED = ("prompt", "seed", "path")


def read_manifest(path: Path) -> list[dict[str, str]]:
    """Read a CSV/TSV/JSONL manifest into rows with ``prompt``, ``seed`` and ``path``.

    Raises
    ------
    InputDataError
        The file is missing, empty, lacks a required field, or a seed is not an integer.
    """
    if not path.is_file():
        raise InputDataError(f"image manifest {path} does not exist; check the 'manifest' option")
    suffix = path.suffix.lower()
    rows: list[dict[str, str]] = []
    try:
        if suffix == ".jsonl":
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputDataError(
                        f"image manifest {path} line {n} is not valid JSON ({exc.msg})"
                    ) from exc
                if not isinstance(obj, dict):
                    raise InputDataError(f"image manifest {path} line {n} must be a JSON object")
                rows.append({k: str(v) for k, v in obj.items()})
        elif suffix in (".csv", ".tsv"):
            with path.open(newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh, delimiter="\t" if suffix == ".tsv" else ",")
                rows = [dict(r) for r in reader]
        else:
            raise InputDataError(f"image manifest {path} must be .csv, .tsv or .jsonl")
    except UnicodeDecodeError as exc:
        raise InputDataError(f"image manifest {path} is not UTF-8 text") from exc
    if not rows:
        raise InputDataError(f"image manifest {path} has no rows; add prompt,seed,path rows")
    missing = [f for f in _REQUIRED if f not in rows[0]]
    if missing:
        raise InputDataError(
            f"image manifest {path} lacks the field(s) {', '.join(missing)}; "
            f"it needs {', '.join(_REQUIRED)} (found {', '.join(rows[0])})"
        )
    for n, row in enumerate(rows, 2 if suffix != ".jsonl" else 1):
        try:
            int(row["seed"])
        except (TypeError, ValueError) as exc:
            raise InputDataError(
                f"image manifest {path} row {n}: seed {row['seed']!r} is not an integer"
            ) from exc
    return rows


class FolderGenerator:
    """Serves existing images listed in a manifest.

    Parameters
    ----------
    manifest:
        Path to the CSV/TSV/JSONL manifest (``prompt``, ``seed``, ``path``).
    match:
        ``"seed"``: a request must name a seed listed for its prompt. ``"order"``: a request
        with seed ``k`` takes the prompt's ``k``-th image by ascending seed.
    """

    max_batch_size = 32

    def __init__(self, *, manifest: str | Path, match: Literal["seed", "order"] = "seed") -> None:
        if match not in ("seed", "order"):
            raise ConfigError(f"match must be 'seed' or 'order', got {match!r}")
        self.manifest = Path(manifest)
        self.match = match
        self._index: dict[str, list[tuple[int, Path]]] | None = None
        self._fingerprint: str | None = None
        self._lock = threading.Lock()

    def _load(self) -> dict[str, list[tuple[int, Path]]]:
        with self._lock:
            if self._index is None:
                rows = read_manifest(self.manifest)
                base = self.manifest.resolve().parent
                index: dict[str, list[tuple[int, Path]]] = {}
                h = hashlib.sha256(self.manifest.read_bytes())
                for row in rows:
                    p = Path(row["path"])
                    p = p if p.is_absolute() else base / p
                    index.setdefault(row["prompt"], []).append((int(row["seed"]), p))
                    try:
                        st = p.stat()
                        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
                    except OSError:
                        h.update(f"{p}\0missing\0".encode())
                for entries in index.values():
                    entries.sort()
                self._index = index
                self._fingerprint = h.hexdigest()
            return self._index

    def identity(self) -> Mapping[str, JSONValue]:
        self._load()
        return {
            "backend": "folder",
            "manifest": str(self.manifest.resolve()),
            "content_sha256": self._fingerprint,
            "match": self.match,
        }

    def prompts(self) -> list[str]:
        """The prompts the manifest lists, in first-seen order."""
        return list(self._load())

    def _find(self, req: GenerationRequest, rank: int) -> tuple[int, Path]:
        entries = self._load().get(req.prompt)
        if not entries:
            raise InputDataError(
                f"image manifest {self.manifest} has no images for prompt {req.prompt!r}; "
                "use the manifest's prompts as captions"
            )
        if self.match == "seed":
            for seed, path in entries:
                if seed == req.seed:
                    return seed, path
            seeds = [s for s, _ in entries]
            raise InputDataError(
                f"image manifest {self.manifest} has no seed {req.seed} for prompt "
                f"{req.prompt!r} (it has {seeds[:10]}); set match = \"order\" or the audit seeds"
            )
        if rank >= len(entries):
            raise InputDataError(
                f"image manifest {self.manifest} has {len(entries)} image(s) for prompt "
                f"{req.prompt!r}, fewer than requested; lower images_per_caption"
            )
        return entries[rank]

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GeneratedImage]:
        refuse_safety(requests, "folder")
        out = []
        for req in requests:
            rank = req.seed if self.match == "order" else 0
            seed, path = self._find(req, rank)
            image = load_image(path)
            if (req.width and image.width != req.width) or (
                req.height and image.height != req.height
            ):
                raise InputDataError(
                    f"image {path} is {image.width}x{image.height} but the audit asks for "
                    f"{req.width}x{req.height}; remove width/height from [generation] or "
                    "resize the images"
                )
            out.append(GeneratedImage(req, image, {"source": str(path), "source_seed": seed}))
        return out
