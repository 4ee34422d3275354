"""The open-set bias audit, end to end: propose → generate → label → score → write.

:func:`plan_audit` computes what a run will do (and what the cache already holds) without
generating anything; :func:`run_audit` carries the plan out. Every generated image and every label
is written to the cache as soon as its batch finishes, so an interrupted run loses at most one batch
and the next run resumes from the cache. Outputs (``docs/audit.md`` documents each field):

* ``OUT/manifest.json``: config, versions, component identities, seeds, timings, counts;
* ``OUT/answers.parquet``: one row per image x bias with the label distribution;
* ``OUT/scores.json``: per bias and per (bias, caption) distributions and severities;
* ``OUT/images/CAPTION_ID/SEED.png``: the images (hard links into the cache where possible).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fairframe._io import atomic_write, atomic_write_with
from fairframe._progress import NullProgress, Progress
from fairframe._version import __version__
from fairframe.audit.captions import Caption, load_captions
from fairframe.audit.merge import Bias, MergeResult, merge_proposals
from fairframe.audit.proposals import LLMProposer, ProposalOutcome
from fairframe.audit.references import resolve_confusions, resolve_references
from fairframe.audit.scoring import (
    ANSWERS_SCHEMA,
    ScoringOptions,
    default_intersections,
    score_answers,
    score_intersections,
)
from fairframe.audit.taxonomy import TaxonomyProposer
from fairframe.backends import GENERATORS, LABELERS, LLMS, build_component
from fairframe.config import AuditConfig, default_cache_dir
from fairframe.errors import BackendError, ConfigError, InputDataError
from fairframe.protocols import LLM, Generator, Labeler
from fairframe.store import CachedImage, CachedLLM, Store, make_key
from fairframe.types import GenerationRequest, JSONValue, LabelQuestion, LabelResult

__all__ = ["AuditPlan", "AuditResult", "ImageJob", "plan_audit", "run_audit"]

RESULTS_SCHEMA_VERSION = 1

#: Distributions whose versions the manifest records (when installed; none is imported).
_LIBRARIES = (
    "numpy", "pillow", "pydantic", "pyarrow", "torch", "diffusers", "transformers",
    "accelerate", "safetensors", "tokenizers", "httpx",
)


@dataclass(frozen=True)
class ImageJob:
    """One image to have: the caption, its seed, the request and the cache key."""

    caption: Caption
    seed: int
    request: GenerationRequest
    key: str


@dataclass
class AuditPlan:
    """What a run will do. Built by :func:`plan_audit`.

    Attributes
    ----------
    captions:
        The captions, in order.
    outcomes:
        The proposal outcome of each caption (``None`` where the LLM reply is not cached and the
        plan was made without calling it).
    merge:
        Merged biases and which captions they apply to (``None`` when proposals are pending).
    image_jobs:
        Every image the audit needs (empty while proposals are pending).
    images_cached:
        How many of them the cache already holds.
    labels_total, labels_cached:
        Label jobs (image x bias), and how many are cached (labels of images not yet generated
        count as not cached).
    """

    config: AuditConfig
    captions: list[Caption]
    outcomes: list[ProposalOutcome | None]
    merge: MergeResult | None
    image_jobs: list[ImageJob]
    images_cached: int
    labels_total: int
    labels_cached: int
    identities: dict[str, Any] = field(default_factory=dict)
    references: dict[tuple[str, str], tuple[float, ...]] = field(default_factory=dict)
    confusions: dict[str, list[list[int]]] = field(default_factory=dict)

    @property
    def pending_proposals(self) -> int:
        """Captions whose LLM proposal is not cached yet."""
        return sum(o is None for o in self.outcomes)

    def summary(self) -> dict[str, Any]:
        """A JSON-able summary (what ``--dry-run`` prints)."""
        biases = self.merge.biases if self.merge else ()
        return {
            "captions": len(self.captions),
            "proposals_pending": self.pending_proposals,
            "biases": [
                {"bias_id": b.bias_id, "classes": list(b.classes), "captions": len(b.captions)}
                for b in biases
            ],
            "images_per_caption": self.config.generation.images_per_caption,
            "images_needed": len(self.image_jobs),
            "images_cached": self.images_cached,
            "images_to_generate": len(self.image_jobs) - self.images_cached,
            "labels_needed": self.labels_total,
            "labels_cached": self.labels_cached,
            "labels_to_compute": self.labels_total - self.labels_cached,
        }


@dataclass(frozen=True)
class AuditResult:
    """What :func:`run_audit` wrote."""

    out_dir: Path
    manifest: dict[str, Any]
    scores: dict[str, Any]

    @property
    def counts(self) -> dict[str, int]:
        """``images_generated``, ``images_cached``, ``labels_computed``, ``labels_cached``, ..."""
        counts: dict[str, int] = self.manifest["counts"]
        return counts


# -- building blocks --------------------------------------------------------------------------
@dataclass
class _Components:
    generator: Generator
    labeler: Labeler
    llm: CachedLLM | None
    store: Store


def _build(config: AuditConfig, cache_dir: Path, *, read_cache: bool) -> _Components:
    store = Store(cache_dir)
    gen = build_component(GENERATORS, config.generator.backend, config.generator.options,
                          where="[generator]")
    lab = build_component(LABELERS, config.labeler.backend, config.labeler.options,
                          where="[labeler]")
    llm: CachedLLM | None = None
    if config.proposer.kind == "llm":
        assert config.proposer.llm is not None  # guaranteed by ProposerConfig validation
        raw: LLM = build_component(LLMS, config.proposer.llm.backend, config.proposer.llm.options,
                                   where="[proposer.llm]")
        llm = CachedLLM(raw, store, read=read_cache)
    return _Components(gen, lab, llm, store)


def _propose(
    config: AuditConfig, captions: Sequence[Caption], llm: CachedLLM | None, *,
    call_llm: bool, progress: Progress,
) -> list[ProposalOutcome | None]:
    if config.proposer.kind == "taxonomy":
        tax = TaxonomyProposer()
        return [tax.propose(c.text) for c in captions]
    assert llm is not None
    proposer = LLMProposer(llm, max_attempts=config.proposer.max_attempts)
    outcomes: list[ProposalOutcome | None] = []
    with progress.stage("propose biases", len(captions)) as bar:
        for c in captions:
            if not call_llm and not llm.is_cached(proposer.messages_for(c.text)):
                outcomes.append(None)
            else:
                outcomes.append(proposer.propose(c.text))
            bar.advance()
    return outcomes


def _merge(
    config: AuditConfig, captions: Sequence[Caption], outcomes: Sequence[ProposalOutcome | None]
) -> MergeResult | None:
    if any(o is None for o in outcomes):
        return None
    per_caption = {c.id: list(o.proposals) for c, o in zip(captions, outcomes, strict=True) if o}
    return merge_proposals(per_caption, overlap=config.proposer.merge_overlap,
                           texts={c.id: c.text for c in captions})


def _image_jobs(
    config: AuditConfig, captions: Sequence[Caption], merge: MergeResult | None,
    generator_identity: Mapping[str, JSONValue], *, start: int = 0, count: int | None = None,
) -> list[ImageJob]:
    """Image ``start .. start+count-1`` of every caption that has a bias (seed = seed + i)."""
    if merge is None:
        return []  # proposals pending: which captions need images is not known yet
    g = config.generation
    count = g.images_per_caption if count is None else count
    jobs = []
    for cap in captions:
        if not merge.assignments.get(cap.id):
            continue  # no bias applies: nothing to generate
        for i in range(start, start + count):
            req = GenerationRequest(
                prompt=cap.text, seed=g.seed + i, negative_prompt=g.negative_prompt,
                height=g.height, width=g.width, guidance_scale=g.guidance_scale,
                num_inference_steps=g.num_inference_steps,
            )
            key = make_key("image", {"generator": dict(generator_identity), **req.params()})
            jobs.append(ImageJob(cap, req.seed, req, key))
    return jobs


def _label_key(labeler_identity: Mapping[str, JSONValue], bias: Bias, sha: str) -> str:
    return make_key(
        "label",
        {
            "labeler": dict(labeler_identity),
            "question": bias.question,
            "choices": list(bias.classes),
            "refer_to": bias.refer_to,
            "image_sha256": sha,
        },
    )


def _question(bias: Bias) -> LabelQuestion:
    return LabelQuestion(bias.question, tuple(bias.classes), bias.refer_to)


def _label_pairs(
    merge: MergeResult, jobs: Sequence[ImageJob]
) -> list[tuple[Bias, ImageJob]]:
    by_caption: dict[str, list[ImageJob]] = {}
    for job in jobs:
        by_caption.setdefault(job.caption.id, []).append(job)
    pairs: list[tuple[Bias, ImageJob]] = []
    for bias in merge.biases:
        for cid in bias.captions:
            pairs.extend((bias, job) for job in by_caption.get(cid, ()))
    return pairs


def _chunks(seq: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(seq), max(1, size)):
        yield seq[start : start + size]


# -- planning ---------------------------------------------------------------------------------
def plan_audit(
    config: AuditConfig, *, cache_dir: Path | None = None, call_llm: bool = False,
    progress: Progress | None = None,
) -> AuditPlan:
    """Work out captions, biases and jobs, and count cache hits, without generating anything.

    LLM proposals are taken from the cache; with ``call_llm=True`` missing ones are requested
    (and cached), otherwise they are reported as pending.
    """
    cache = Path(cache_dir or config.cache_dir or default_cache_dir())
    parts = _build(config, cache, read_cache=True)
    try:
        return _plan(config, parts, call_llm=call_llm, progress=progress or NullProgress())
    finally:
        parts.store.close()


def _plan(config: AuditConfig, parts: _Components, *, call_llm: bool,
          progress: Progress) -> AuditPlan:
    c = config.captions
    captions = load_captions(c.source, column=c.column, limit=c.limit)
    outcomes = _propose(config, captions, parts.llm, call_llm=call_llm, progress=progress)
    merge = _merge(config, captions, outcomes)
    references: dict[tuple[str, str], tuple[float, ...]] = {}
    confusions: dict[str, list[list[int]]] = {}
    if merge is not None:  # checked before any image is generated
        references = resolve_references(config.scoring.references, merge, captions)
        confusions = resolve_confusions(config.scoring.confusion, merge)
        _check_intersections(config, merge)
    gen_id = dict(parts.generator.identity())
    lab_id = dict(parts.labeler.identity())
    jobs = _image_jobs(config, captions, merge, gen_id)
    cached = parts.store.image_entries(j.key for j in jobs)
    labels_total = labels_cached = 0
    if merge is not None:
        pairs = _label_pairs(merge, jobs)
        labels_total = len(pairs)
        keys = [_label_key(lab_id, b, cached[j.key].sha256) for b, j in pairs if j.key in cached]
        labels_cached = len(parts.store.get_labels(keys))
    identities = {
        "generator": gen_id,
        "labeler": lab_id,
        "llm": dict(parts.llm.identity()) if parts.llm else None,
    }
    return AuditPlan(config, captions, outcomes, merge, jobs, len(cached), labels_total,
                     labels_cached, identities, references, confusions)


def _intersection_pairs(config: AuditConfig, merge: MergeResult) -> list[tuple[str, str]]:
    ids = [b.bias_id for b in merge.biases]
    if config.scoring.intersections is None:
        return default_intersections(ids)
    return [tuple(p) for p in config.scoring.intersections]  # type: ignore[misc]


def _check_intersections(config: AuditConfig, merge: MergeResult) -> None:
    ids = {b.bias_id for b in merge.biases}
    for a, b in _intersection_pairs(config, merge):
        for bias_id in (a, b):
            if bias_id not in ids:
                raise ConfigError(
                    f"[scoring] intersections: bias {bias_id!r} is not in this run; its biases "
                    f"are: {', '.join(sorted(ids)) or '(none)'}"
                )


# -- running ----------------------------------------------------------------------------------
@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = round(timings.get(name, 0.0) + time.perf_counter() - start, 4)


def _generate(
    parts: _Components, jobs: Sequence[ImageJob], *, read_cache: bool, progress: Progress,
) -> tuple[dict[str, CachedImage], int, int]:
    entries = parts.store.image_entries(j.key for j in jobs) if read_cache else {}
    missing = [j for j in jobs if j.key not in entries]
    # one job per key (two captions with the same text share images)
    unique: dict[str, ImageJob] = {}
    for j in missing:
        unique.setdefault(j.key, j)
    todo = list(unique.values())
    size = max(1, int(getattr(parts.generator, "max_batch_size", 1)))
    with progress.stage("generate images", len(todo)) as bar:
        for chunk in _chunks(todo, size):
            try:
                images = parts.generator.generate([j.request for j in chunk])
            except (BackendError, InputDataError, ConfigError):
                raise
            except Exception as exc:  # a backend bug must not look like ours, nor lose work
                raise BackendError(
                    f"generator failed on {chunk[0].request.prompt!r} (seed "
                    f"{chunk[0].seed}): {type(exc).__name__}: {exc}"
                ) from exc
            if len(images) != len(chunk):
                raise BackendError(
                    f"generator returned {len(images)} images for {len(chunk)} requests"
                )
            parts.store.put_images(
                [(j.key, g.image, dict(g.metadata)) for j, g in zip(chunk, images, strict=True)]
            )
            bar.advance(len(chunk))
    entries = parts.store.image_entries(j.key for j in jobs)
    cached_count = len(jobs) - len(missing)
    return entries, len(todo), cached_count


def _label(
    parts: _Components, merge: MergeResult, jobs: Sequence[ImageJob],
    images: Mapping[str, CachedImage], *, read_cache: bool, progress: Progress,
) -> tuple[dict[tuple[str, str], LabelResult], int, int]:
    lab_id = dict(parts.labeler.identity())
    pairs = _label_pairs(merge, jobs)
    keyed = [(b, j, _label_key(lab_id, b, images[j.key].sha256)) for b, j in pairs]
    found = parts.store.get_labels(k for _, _, k in keyed) if read_cache else {}
    todo: dict[str, tuple[Bias, ImageJob]] = {}
    for b, j, k in keyed:
        if k not in found:
            todo.setdefault(k, (b, j))
    size = max(1, int(getattr(parts.labeler, "max_batch_size", 1)))
    by_bias: dict[str, list[tuple[str, ImageJob]]] = {}
    bias_of: dict[str, Bias] = {}
    for k, (b, j) in todo.items():
        by_bias.setdefault(b.bias_id, []).append((k, j))
        bias_of[b.bias_id] = b
    with progress.stage("label images", len(todo)) as bar:
        for bias_id, items in by_bias.items():
            question = _question(bias_of[bias_id])
            for chunk in _chunks(items, size):
                imgs = [parts.store.load_image(images[j.key]) for _, j in chunk]
                try:
                    results = parts.labeler.label(imgs, question)
                except (BackendError, InputDataError, ConfigError):
                    raise
                except Exception as exc:
                    raise BackendError(
                        f"labeler failed on bias {bias_id!r}: {type(exc).__name__}: {exc}"
                    ) from exc
                if len(results) != len(chunk):
                    raise BackendError(
                        f"labeler returned {len(results)} answers for {len(chunk)} images"
                    )
                for r in results:
                    if set(r.probs) != set(question.outcomes):
                        raise BackendError(
                            f"labeler answered outcomes {sorted(r.probs)} for choices "
                            f"{list(question.outcomes)}"
                        )
                parts.store.put_labels([(k, r) for (k, _), r in zip(chunk, results, strict=True)])
                found.update({k: r for (k, _), r in zip(chunk, results, strict=True)})
                bar.advance(len(chunk))
    out = {(b.bias_id, j.key): found[k] for b, j, k in keyed}
    return out, len(todo), len(keyed) - len(todo)


@dataclass
class _Rounds:
    """What the generate + label stages produced (over one or several rounds)."""

    images: dict[str, CachedImage]
    labels: dict[tuple[str, str], LabelResult]
    images_generated: int = 0
    images_cached: int = 0
    labels_computed: int = 0
    labels_cached: int = 0
    report: dict[str, Any] = field(default_factory=dict)

    def add(self, jobs: Sequence[ImageJob], parts: _Components, merge: MergeResult, *,
            resume: bool, progress: Progress, timings: dict[str, float]) -> None:
        with _timed(timings, "generate"):
            images, generated, cached = _generate(parts, jobs, read_cache=resume,
                                                  progress=progress)
        with _timed(timings, "label"):
            labels, computed, lab_cached = _label(parts, merge, jobs, images,
                                                  read_cache=resume, progress=progress)
        self.images.update(images)
        self.labels.update(labels)
        self.images_generated += generated
        self.images_cached += cached
        self.labels_computed += computed
        self.labels_cached += lab_cached


def _fixed_round(parts: _Components, plan: AuditPlan, merge: MergeResult, *, resume: bool,
                 progress: Progress, timings: dict[str, float]) -> _Rounds:
    rounds = _Rounds({}, {})
    rounds.add(plan.image_jobs, parts, merge, resume=resume, progress=progress, timings=timings)
    rounds.report = {"mode": "fixed",
                     "images_per_caption": plan.config.generation.images_per_caption,
                     "images_used": len(plan.image_jobs)}
    return rounds


def _adaptive_rounds(config: AuditConfig, parts: _Components, plan: AuditPlan,
                     merge: MergeResult, *, resume: bool, progress: Progress,
                     timings: dict[str, float]) -> _Rounds:
    """Generate in rounds; stop each caption once every bias it carries is decided.

    The stopping rule (:func:`fairframe.stats.sequential.sequential_decision`) looks at the
    hard-label counts of each (caption, bias) after every round. Decisions are a pure function of
    cached labels, so a rerun replays the same rounds from the cache.
    """
    from fairframe.stats.sequential import sequential_decision

    s = config.sampling
    gen_id = dict(parts.generator.identity())
    captions = [c for c in plan.captions if merge.assignments.get(c.id)]
    biases = {b.bias_id: b for b in merge.biases}
    max_looks = -(-s.max_images_per_caption // s.round_size)
    rounds = _Rounds({}, {})
    jobs_by_caption: dict[str, list[ImageJob]] = {c.id: [] for c in captions}
    decisions: dict[tuple[str, str], str] = {}
    active = list(captions)
    look = 0
    while active:
        look += 1
        start = (look - 1) * s.round_size
        count = min(s.round_size, s.max_images_per_caption - start)
        jobs = _image_jobs(config, active, merge, gen_id, start=start, count=count)
        rounds.add(jobs, parts, merge, resume=resume, progress=progress, timings=timings)
        for job in jobs:
            jobs_by_caption[job.caption.id].append(job)
        still = []
        for cap in active:
            undecided = False
            for bias_id in merge.assignments[cap.id]:
                if (cap.id, bias_id) in decisions:
                    continue
                classes = biases[bias_id].classes
                counts = np.zeros(len(classes) + 1, dtype=np.int64)
                for job in jobs_by_caption[cap.id]:
                    res = rounds.labels[(bias_id, job.key)]
                    counts[[*classes, "unknown"].index(res.top)] += 1
                verdict = sequential_decision(
                    counts[:-1], images=int(counts.sum()), budget=s.max_images_per_caption,
                    look=look, max_looks=max_looks, alpha=s.alpha, beta=s.beta,
                    margin=s.margin, target_halfwidth=s.target_halfwidth,
                    reference=plan.references.get((cap.id, bias_id)),
                )
                if verdict.stop:
                    decisions[(cap.id, bias_id)] = verdict.reason
                elif start + count >= s.max_images_per_caption:
                    decisions[(cap.id, bias_id)] = "budget"
                else:
                    undecided = True
            if undecided:
                still.append(cap)
        active = still
    used = [j for c in captions for j in jobs_by_caption[c.id]]
    plan.image_jobs = used
    reasons: dict[str, int] = {}
    for reason in decisions.values():
        reasons[reason] = reasons.get(reason, 0) + 1
    fixed = len(captions) * s.max_images_per_caption
    rounds.report = {
        "mode": "adaptive",
        "round_size": s.round_size,
        "max_images_per_caption": s.max_images_per_caption,
        "target_halfwidth": s.target_halfwidth,
        "alpha": s.alpha,
        "rounds": look,
        "images_used": len(used),
        "fixed_plan_images": fixed,
        "saved_share": round(1.0 - len(used) / fixed, 4) if fixed else 0.0,
        "stop_reasons": reasons,
        "images_per_caption": {c.id: len(jobs_by_caption[c.id]) for c in captions},
    }
    return rounds


def _library_versions() -> dict[str, str]:
    found = {}
    for name in _LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80] or "_"


def _export_images(out: Path, store: Store, jobs: Sequence[ImageJob],
                   images: Mapping[str, CachedImage]) -> dict[str, str]:
    """Link (or copy) each image to ``OUT/images/<caption id>/<seed>.png``.

    An existing file is kept only when it holds the same image (a resumed run); one left by
    another run in the same folder is replaced, and when ``OUT`` holds an earlier run
    (``manifest.json``), its exports (``<caption>/<seed>.png``) that belong to no image of this
    run are removed, so the folder never mixes two runs' images. Other files are never touched.
    """
    paths: dict[str, str] = {}
    earlier_run = (out / "manifest.json").is_file()  # only then can images/ hold our exports
    for job in jobs:
        rel = Path("images") / _safe(job.caption.id) / f"{job.seed}.png"
        dst = out / rel
        paths[job.key] = rel.as_posix()
        entry = images[job.key]
        store.read_blob(entry.sha256, key=job.key)  # never export a corrupt image
        src = store.blob_path(entry.sha256)
        if dst.exists():
            if _same_file(src, dst, entry.sha256):
                continue
            dst.unlink()
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
    if earlier_run:
        _prune_images(out / "images", {out / p for p in paths.values()})
    return paths


def _same_file(src: Path, dst: Path, sha256: str) -> bool:
    try:
        if os.path.samefile(src, dst):
            return True
    except OSError:
        return False
    return hashlib.sha256(dst.read_bytes()).hexdigest() == sha256


def _prune_images(folder: Path, keep: set[Path]) -> None:
    """Remove the exports of an earlier run (``<caption>/<seed>.png``, and folders they leave
    empty) under a run folder's ``images`` folder; any other file is left alone. Paths are
    compared case-insensitively, so a case-insensitive file system never loses a fresh export."""
    if not folder.is_dir():
        return
    kept = {str(k).lower() for k in keep}
    for png in folder.glob("*/*.png"):
        if png.stem.isdigit() and str(png).lower() not in kept:
            png.unlink()
    for sub in folder.iterdir():
        if sub.is_dir() and not any(sub.iterdir()):
            sub.rmdir()


def _write_answers(path: Path, table: pa.Table) -> None:
    atomic_write_with(path, lambda tmp: pq.write_table(table, tmp))


def run_audit(
    config: AuditConfig,
    out_dir: str | Path,
    *,
    cache_dir: str | Path | None = None,
    resume: bool = True,
    progress: Progress | None = None,
) -> AuditResult:
    """Run the whole audit and write ``manifest.json``, ``answers.parquet`` and ``scores.json``.

    Parameters
    ----------
    config:
        The validated audit configuration (see :func:`fairframe.config.load_config`).
    out_dir:
        Folder for the outputs; created if missing. Rerunning into the same folder overwrites the
        outputs with the new (identical, when nothing changed) results.
    cache_dir:
        Overrides ``config.cache_dir``.
    resume:
        Use cached images, labels and LLM replies (default). ``False`` recomputes everything and
        keeps the existing cache entries.
    progress:
        Receives per-stage progress (the CLI draws bars); default: silent.
    """
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    progress = progress or NullProgress()
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create output folder {out} ({exc.strerror})") from exc
    cache = Path(cache_dir or config.cache_dir or default_cache_dir())
    parts = _build(config, cache, read_cache=resume)
    try:
        with _timed(timings, "propose"):
            plan = _plan(config, parts, call_llm=True, progress=progress)
        merge = plan.merge
        assert merge is not None  # call_llm=True resolves every proposal
        if config.sampling.mode == "adaptive":
            rounds = _adaptive_rounds(config, parts, plan, merge, resume=resume,
                                      progress=progress, timings=timings)
        else:
            rounds = _fixed_round(parts, plan, merge, resume=resume, progress=progress,
                                  timings=timings)
        images, labels = rounds.images, rounds.labels
        generated, img_cached = rounds.images_generated, rounds.images_cached
        computed, lab_cached = rounds.labels_computed, rounds.labels_cached
        with _timed(timings, "export"):
            paths = (
                _export_images(out, parts.store, plan.image_jobs, images)
                if config.export_images else {}
            )
        with _timed(timings, "score"):
            table, scores = _tables(config, plan, merge, images, labels, paths)
        with _timed(timings, "write"):
            _write_answers(out / "answers.parquet", table)
            new_scores = json.dumps(scores, indent=2, allow_nan=False).encode()
            old_scores = out / "scores.json"
            if old_scores.exists() and old_scores.read_bytes() != new_scores:
                # a report of other scores would contradict them: `audit report` writes anew
                for stale in ("report.html", "report.json", "bias_statement.md"):
                    (out / stale).unlink(missing_ok=True)
            atomic_write(out / "scores.json", new_scores)
        timings["total"] = round(time.perf_counter() - t0, 4)
        llm = parts.llm
        counts = {
            "captions": len(plan.captions),
            "captions_without_bias": sum(
                1 for c in plan.captions if not merge.assignments.get(c.id)
            ),
            "biases": len(merge.biases),
            "proposal_failures": sum(1 for o in plan.outcomes if o and o.failure),
            "images_needed": len(plan.image_jobs),
            "images_generated": generated,
            "images_cached": img_cached,
            "labels_computed": computed,
            "labels_cached": lab_cached,
            "llm_calls": llm.misses if llm else 0,
            "llm_cached": llm.hits if llm else 0,
            "answers": table.num_rows,
        }
        manifest = {
            "schema_version": RESULTS_SCHEMA_VERSION,
            "fairframe_version": __version__,
            "name": config.name,
            "started": started.isoformat(),
            "finished": datetime.now(UTC).isoformat(),
            "config": config.model_dump(mode="json"),
            "cache_dir": str(cache.resolve()),
            "resume": resume,
            "components": plan.identities,
            "seeds": {
                "rule": "image i of every caption uses seed + i",
                "base": config.generation.seed,
                "per_image": [config.generation.seed + i
                              for i in range(config.generation.images_per_caption)],
            },
            "environment": {
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                "libraries": _library_versions(),
            },
            "timings_s": timings,
            "counts": counts,
            "sampling": rounds.report,
            "outputs": {
                "answers": "answers.parquet",
                "scores": "scores.json",
                "images": "images/" if config.export_images else None,
            },
        }
        atomic_write(out / "manifest.json", json.dumps(manifest, indent=2).encode())
        return AuditResult(out, manifest, scores)
    finally:
        parts.store.close()


def _tables(
    config: AuditConfig, plan: AuditPlan, merge: MergeResult,
    images: Mapping[str, CachedImage], labels: Mapping[tuple[str, str], LabelResult],
    paths: Mapping[str, str],
) -> tuple[pa.Table, dict[str, Any]]:
    s = config.scoring
    opts = ScoringOptions(min_n=s.min_n, confidence=s.confidence,
                          posterior_draws=s.posterior_draws, seed=config.generation.seed)
    jobs_by_caption: dict[str, list[ImageJob]] = {}
    for job in plan.image_jobs:
        jobs_by_caption.setdefault(job.caption.id, []).append(job)
    text_of = {c.id: c.text for c in plan.captions}
    cols: dict[str, list[Any]] = {name: [] for name in ANSWERS_SCHEMA.names}
    for bias in merge.biases:
        outcomes = [*bias.classes, "unknown"]
        for cid in bias.captions:
            for job in jobs_by_caption.get(cid, ()):
                res = labels[(bias.bias_id, job.key)]
                top = res.top
                for name, value in (
                    ("caption_id", cid), ("caption", text_of[cid]), ("bias_id", bias.bias_id),
                    ("bias_name", bias.name), ("refer_to", bias.refer_to),
                    ("question", bias.question), ("seed", job.seed), ("image_key", job.key),
                    ("image_sha256", images[job.key].sha256),
                    ("image_path", paths.get(job.key)), ("outcomes", outcomes),
                    ("probs", [float(res.probs[o]) for o in outcomes]), ("label", top),
                    ("label_prob", float(res.probs[top])), ("is_unknown", top == "unknown"),
                    ("answer", res.answer),
                ):
                    cols[name].append(value)
    table = pa.Table.from_pydict(cols, schema=ANSWERS_SCHEMA)
    info = {b.bias_id: {"bias_id": b.bias_id, "name": b.name, "refer_to": b.refer_to,
                        "question": b.question, "classes": list(b.classes),
                        "merged_from": list(b.merged_from)} for b in merge.biases}
    bias_scores = score_answers(table, opts, bias_info=info, references=plan.references,
                                confusions=plan.confusions)
    intersections = score_intersections(
        table, _intersection_pairs(config, merge), {b.bias_id: b.classes for b in merge.biases},
        opts,
    )
    failures = [
        {"caption_id": c.id, "caption": c.text, "attempts": o.attempts, "reason": o.failure,
         "errors": list(o.errors), "raw_replies": list(o.raw)}
        for c, o in zip(plan.captions, plan.outcomes, strict=True) if o and o.failure
    ]
    dropped = [
        {"caption_id": d.caption_id, "bias": d.bias, "reason": d.reason, "matched": d.matched}
        for d in merge.dropped
    ]
    scores = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "name": config.name,
        "counting": "each image counts once, for its most probable outcome",
        "biases": bias_scores,
        "intersections": intersections,
        "multiple_testing": "Benjamini-Hochberg q-values over all (bias, caption) tests of the "
        "run, and separately over the pooled tests of all biases",
        "proposal_failures": failures,
        "dropped_pairs": dropped,
        "captions_without_bias": [
            {"caption_id": c.id, "caption": c.text}
            for c in plan.captions if not merge.assignments.get(c.id)
        ],
    }
    return table, scores
