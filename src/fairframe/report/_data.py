"""The content of a report: ``scores.json`` and ``manifest.json`` read defensively, biases ranked.

Everything the HTML page and the bias statement show comes from the dict built here, which is also
written as ``report.json``. Fields that later releases add to ``scores.json`` (``floor``,
``p_value``, ``q_value``, ``corrected`` with ``corrected_ci_low/high``, per-bias ``reference``,
``test`` and ``intersections``, top-level ``intersections``) are read when present and are ``null``
otherwise; a malformed optional field is left out with a note in ``warnings``, never a crash.

Ranking: by the context-free floor-corrected severity (``corrected``) where the entry has one,
else by the context-free severity (``value``); higher first, ties broken by the lower interval
bound, then by ``bias_id``. Biases without a context-free score (``insufficient_data``) come last
and have no rank.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from fairframe._version import __version__
from fairframe.report._load import RunFolder, read_run
from fairframe.stats import wilson_interval

__all__ = ["REPORT_SCHEMA_VERSION", "SMALL_N_PER_CAPTION", "build_report_data", "data_from_run"]

REPORT_SCHEMA_VERSION = 1

#: Fewer images per caption than this and per-caption severities cannot support claims
#: (``docs/audit.md``: use 50-200 for per-caption claims).
SMALL_N_PER_CAPTION = 50

_ENTRY_NUMBERS = ("value", "ci_low", "ci_high", "confidence", "floor", "p_value", "q_value",
                  "corrected", "corrected_ci_low", "corrected_ci_high")


# -- defensive readers --------------------------------------------------------------------------
def _num(x: Any) -> float | None:
    """A finite float, or ``None`` (bools, strings, NaN and infinities are not numbers here)."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    f = float(x)
    return f if math.isfinite(f) else None


def _int(x: Any) -> int | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, int):
        return x
    if isinstance(x, float) and math.isfinite(x) and x.is_integer():
        return int(x)
    return None


def _str(x: Any) -> str | None:
    return x if isinstance(x, str) else None


def _text(x: Any, default: str = "") -> str:
    """Any scalar as text (ids and captions should be strings; numbers are tolerated)."""
    if isinstance(x, str):
        return x
    if x is None:
        return default
    return str(x)


def _dict(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def _list(x: Any) -> list[Any]:
    return x if isinstance(x, list) else []


def _strs(x: Any) -> list[str]:
    return [_text(v) for v in _list(x) if v is not None]


def entry(raw: Any) -> dict[str, Any]:
    """Normalise one score ENTRY: every known field present, numbers finite or ``None``.

    ``status`` is ``"ok"`` only when the entry says so *and* has a value; otherwise the value,
    its intervals (plain and corrected) and p/q-values are ``None`` and ``reason`` says why.
    """
    d = _dict(raw)
    out: dict[str, Any] = {"metric": _str(d.get("metric"))}
    for key in _ENTRY_NUMBERS:
        out[key] = _num(d.get(key))
    out["n"] = _int(d.get("n"))
    out["ci_method"] = _str(d.get("ci_method"))
    status = _str(d.get("status"))
    ok = status in (None, "ok") and out["value"] is not None
    out["status"] = "ok" if ok else "insufficient_data"
    reason = _str(d.get("reason"))
    if not ok and not reason:
        reason = "no value" if raw else "not computed"
    out["reason"] = reason
    if not ok:
        out.update(value=None, ci_low=None, ci_high=None, corrected=None,
                   corrected_ci_low=None, corrected_ci_high=None, p_value=None, q_value=None)
    n_caps = _int(d.get("n_captions"))
    if n_caps is not None:
        out["n_captions"] = n_caps
    return out


# -- pieces ---------------------------------------------------------------------------------
def _config_hash(config: Any) -> str | None:
    if not isinstance(config, dict):
        return None
    try:
        from fairframe.store.keys import canonical_json

        text = canonical_json(config)
    except (TypeError, ValueError):
        text = json.dumps(config, sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _anchor(bias_id: str, used: set[str]) -> str:
    base = "bias-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", bias_id).strip("-").lower() or "x")
    name, k = base, 2
    while name in used:
        name, k = f"{base}-{k}", k + 1
    used.add(name)
    return name


def _safe_rel_path(p: Any) -> str | None:
    """A relative POSIX path inside the run folder, or ``None`` (absolute or ``..`` paths)."""
    if not isinstance(p, str) or not p:
        return None
    path = PurePosixPath(p.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", p):
        return None
    return path.as_posix()


def _rank_key(b: Mapping[str, Any]) -> tuple[float, float, str]:
    cf = b["context_free"]
    low = cf["corrected_ci_low"] if b["rank_by"] == "corrected" else cf["ci_low"]
    return (-b["rank_value"], -(low if low is not None else -math.inf), b["bias_id"])


def _reference(raw: Any, classes: Sequence[str], warnings: list[str], bias_id: str
               ) -> dict[str, float] | None:
    if raw is None:
        return None
    ref = {str(k): _num(v) for k, v in _dict(raw).items()}
    clean = {k: v for k, v in ref.items() if v is not None}
    if not clean:
        warnings.append(f"{bias_id}: 'reference' is not a class -> share mapping; left out")
        return None
    return {c: clean[c] for c in classes if c in clean} | {
        k: v for k, v in clean.items() if k not in classes
    }


def _test(raw: Any) -> dict[str, Any] | None:
    d = _dict(raw)
    if not d:
        return None
    return {"method": _str(d.get("method")), "statistic": _num(d.get("statistic")),
            "p_value": _num(d.get("p_value")), "q_value": _num(d.get("q_value"))}


def _matrix(raw: Any, rows: int, cols: int) -> list[list[Any]] | None:
    m = _list(raw)
    if len(m) != rows or any(not isinstance(r, list) or len(r) != cols for r in m):
        return None
    return m


def _intersection(raw: Any, row_bias: str | None, confidence: float,
                  warnings: list[str]) -> dict[str, Any] | None:
    d = _dict(raw)
    pair = _strs(d.get("biases"))
    row = row_bias or _str(d.get("bias_id")) or _str(d.get("row_bias")) or (
        pair[0] if pair else None)
    col = _str(d.get("with")) or _str(d.get("col_bias")) or (pair[1] if len(pair) > 1 else None)
    rc, cc = _strs(d.get("row_classes")), _strs(d.get("col_classes"))
    where = f"intersection {row or '?'} x {col or '?'}"
    if not row or not col or not rc or not cc:
        warnings.append(f"{where}: needs both bias ids and row/column classes; left out")
        return None
    counts_raw = _matrix(d.get("counts"), len(rc), len(cc))
    counts = ([[_int(v) for v in r] for r in counts_raw] if counts_raw is not None else None)
    if counts is not None and any(v is None or v < 0 for r in counts for v in r):
        counts = None
    n = _int(d.get("n"))
    if n is None and counts is not None:
        n = sum(v or 0 for r in counts for v in r)
    shares_raw = _matrix(d.get("shares"), len(rc), len(cc))
    shares: list[list[dict[str, float | None]]] | None = None
    if shares_raw is not None:
        shares = [[
            {"value": _num(c.get("value")), "ci_low": _num(c.get("ci_low")),
             "ci_high": _num(c.get("ci_high"))} if isinstance(c, dict)
            else {"value": _num(c), "ci_low": None, "ci_high": None}
            for c in r] for r in shares_raw]
    elif counts is not None and n:
        shares = []
        for r in counts:
            line: list[dict[str, float | None]] = []
            for v in r:
                k = min(v or 0, n)
                lo, hi = wilson_interval(k, n, confidence)
                line.append({"value": k / n, "ci_low": lo, "ci_high": hi})
            shares.append(line)
    if shares is None:
        warnings.append(f"{where}: neither usable 'counts' nor 'shares'; left out")
        return None
    return {"row_bias": row, "col_bias": col, "row_classes": rc, "col_classes": cc,
            "counts": counts, "shares": shares, "n": n}


def _select_images(rows: Sequence[Mapping[str, Any]], outcomes: Sequence[str],
                   caption_order: Sequence[str], limit: int) -> dict[str, Any]:
    """Per outcome: how many images carry that label, and up to ``limit`` of them, taken in turn
    from each caption (most confident first within a caption) so every caption is seen."""
    out: dict[str, Any] = {}
    order = {c: i for i, c in enumerate(caption_order)}
    for outcome in outcomes:
        mine = [r for r in rows if r.get("label") == outcome]
        by_cap: dict[str, list[Mapping[str, Any]]] = {}
        for r in mine:
            by_cap.setdefault(_text(r.get("caption_id")), []).append(r)
        queues = [
            sorted(v, key=lambda r: (-(_num(r.get("label_prob")) or 0.0),
                                     _int(r.get("seed")) or 0))
            for _, v in sorted(by_cap.items(), key=lambda kv: (order.get(kv[0], 1 << 30), kv[0]))
        ]
        shown: list[dict[str, Any]] = []
        depth = 0
        while len(shown) < limit and any(depth < len(q) for q in queues):
            for q in queues:
                if depth < len(q) and len(shown) < limit:
                    r = q[depth]
                    shown.append({
                        "caption_id": _text(r.get("caption_id")),
                        "caption": _text(r.get("caption")),
                        "seed": _int(r.get("seed")),
                        "image_path": _safe_rel_path(r.get("image_path")),
                        "label_prob": _num(r.get("label_prob")),
                    })
            depth += 1
        out[outcome] = {"total": len(mine), "shown": shown}
    return out


def _per_caption(raw: Any, classes: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for item in _list(raw):
        d = _dict(item)
        counts = {c: _int(_dict(d.get("counts")).get(c)) or 0 for c in classes}
        n_images = _int(d.get("n_images"))
        unknown = _int(d.get("unknown")) or 0
        rows.append({
            "caption_id": _text(d.get("caption_id")),
            "caption": _text(d.get("caption")),
            "n_images": n_images if n_images is not None else sum(counts.values()) + unknown,
            "unknown": unknown,
            "counts": counts,
            "detection_rate": entry(d.get("detection_rate")),
            "severity": entry(d.get("severity")),
        })
    return rows


def _bias(raw: Any, index: int, used: set[str], confidence: float, warnings: list[str],
          answers: Mapping[str, list[dict[str, Any]]] | None, limit: int) -> dict[str, Any]:
    d = _dict(raw)
    bias_id = _text(d.get("bias_id")) or f"bias-{index + 1}"
    classes = _strs(d.get("classes"))
    dist = _dict(d.get("distribution"))
    counts = {c: _int(_dict(dist.get("counts")).get(c)) or 0 for c in classes}
    shares = {c: entry(_dict(dist.get("shares")).get(c)) for c in classes}
    unknown = _int(dist.get("unknown")) or 0
    ok_shares = {c: e["value"] for c, e in shares.items() if e["value"] is not None}
    top_class = max(ok_shares, key=lambda c: (ok_shares[c], -classes.index(c))) if ok_shares \
        else None
    cf = entry(d.get("context_free"))
    rank_by: str | None = None
    rank_value: float | None = None
    if cf["status"] == "ok":
        rank_by = "corrected" if cf["corrected"] is not None else "value"
        rank_value = cf[rank_by]
    per_caption = _per_caption(d.get("per_caption"), classes)
    n_images = _int(d.get("n_images"))
    inters = []
    for item in _list(d.get("intersections")):
        got = _intersection(item, bias_id, confidence, warnings)
        if got:
            inters.append(got)
    images: dict[str, Any] | None = None
    if answers is not None:
        images = _select_images(answers.get(bias_id, []), [*classes, "unknown"],
                                [p["caption_id"] for p in per_caption], limit)
    return {
        "rank": None,
        "bias_id": bias_id,
        "anchor": _anchor(bias_id, used),
        "name": _text(d.get("name"), bias_id),
        "refer_to": _text(d.get("refer_to")),
        "question": _text(d.get("question")),
        "classes": classes,
        "merged_from": _strs(d.get("merged_from")),
        "n_images": n_images if n_images is not None else sum(counts.values()) + unknown,
        "n_captions": _int(d.get("n_captions")) or len(per_caption),
        "status": cf["status"],
        "reason": cf["reason"],
        "rank_by": rank_by,
        "rank_value": rank_value,
        "context_free": cf,
        "context_aware": entry(d.get("context_aware")),
        "detection_rate": entry(d.get("detection_rate")),
        "distribution": {
            "counts": counts,
            "unknown": unknown,
            "shares": shares,
            "top_class": top_class,
            "soft_shares": {str(k): _num(v) for k, v in _dict(dist.get("soft_shares")).items()},
        },
        "per_caption": per_caption,
        "reference": _reference(d.get("reference"), classes, warnings, bias_id),
        "test": _test(d.get("test")),
        "intersections": inters,
        "images": images,
    }


def _component(raw: Any) -> dict[str, Any] | None:
    d = _dict(raw)
    if not d:
        return None
    return {str(k): v for k, v in d.items()}


def _manifest_summary(m: Mapping[str, Any]) -> dict[str, Any]:
    seeds = _dict(m.get("seeds"))
    per_image = [s for s in (_int(v) for v in _list(seeds.get("per_image"))) if s is not None]
    env = _dict(m.get("environment"))
    return {
        "schema_version": _int(m.get("schema_version")),
        "fairframe_version": _str(m.get("fairframe_version")),
        "name": _str(m.get("name")),
        "started": _str(m.get("started")),
        "finished": _str(m.get("finished")),
        "components": {k: _component(v) for k, v in _dict(m.get("components")).items()},
        "seeds": {"rule": _str(seeds.get("rule")), "base": _int(seeds.get("base")),
                  "first": per_image[0] if per_image else None,
                  "last": per_image[-1] if per_image else None, "count": len(per_image)},
        "environment": {
            "python": _str(env.get("python")), "platform": _str(env.get("platform")),
            "libraries": {str(k): _text(v) for k, v in _dict(env.get("libraries")).items()},
        },
        "timings_s": {str(k): v for k, v in _dict(m.get("timings_s")).items()
                      if _num(v) is not None},
        "counts": {str(k): v for k, v in _dict(m.get("counts")).items() if _int(v) is not None},
        "outputs": _dict(m.get("outputs")),
        "cache_dir": _str(m.get("cache_dir")),
        "resume": m.get("resume") if isinstance(m.get("resume"), bool) else None,
        "config": _dict(m.get("config")),
    }


def _trim(text: Any, limit: int = 600) -> str:
    s = _text(text)
    return s if len(s) <= limit else s[:limit] + f"… ({len(s) - limit} more characters)"


def _not_scored(scores: Mapping[str, Any]) -> dict[str, Any]:
    failures = [
        {"caption_id": _text(f.get("caption_id")), "caption": _text(f.get("caption")),
         "attempts": _int(f.get("attempts")), "reason": _text(f.get("reason")),
         "errors": [_trim(e, 300) for e in _list(f.get("errors"))][:10],
         "raw_replies": [_trim(r) for r in _list(f.get("raw_replies"))][:5]}
        for f in map(_dict, _list(scores.get("proposal_failures")))
    ]
    dropped = [
        {"caption_id": _text(p.get("caption_id")), "bias": _text(p.get("bias")),
         "reason": _text(p.get("reason")), "matched": _text(p.get("matched"))}
        for p in map(_dict, _list(scores.get("dropped_pairs")))
    ]
    without = [
        {"caption_id": _text(c.get("caption_id")), "caption": _text(c.get("caption"))}
        for c in map(_dict, _list(scores.get("captions_without_bias")))
    ]
    return {"proposal_failures": failures, "dropped_pairs": dropped,
            "captions_without_bias": without}


def _audit_summary(manifest: Mapping[str, Any], biases: Sequence[Mapping[str, Any]]
                   ) -> dict[str, Any]:
    cfg = _dict(manifest.get("config"))
    caps, gen = _dict(cfg.get("captions")), _dict(cfg.get("generation"))
    sampling, scoring = _dict(cfg.get("sampling")), _dict(cfg.get("scoring"))
    proposer = _dict(cfg.get("proposer"))
    comps = _dict(manifest.get("components"))
    counts = _dict(manifest.get("counts"))
    per_caption_n = [p["n_images"] for b in biases for p in b["per_caption"]]
    ipc = _int(gen.get("images_per_caption"))
    smallest = min(per_caption_n) if per_caption_n else ipc
    return {
        "captions": _int(counts.get("captions")),
        "captions_source": _str(caps.get("source")),
        "captions_limit": _int(caps.get("limit")),
        "images_per_caption": ipc,
        "images_per_caption_range": [min(per_caption_n), max(per_caption_n)]
        if per_caption_n else None,
        "sampling_mode": _str(sampling.get("mode")) or "fixed",
        "seed_base": _int(gen.get("seed")),
        "images": _int(counts.get("images_needed")),
        "answers": _int(counts.get("answers")),
        "min_n": _int(scoring.get("min_n")),
        "confidence": _num(scoring.get("confidence")) or 0.95,
        "posterior_draws": _int(scoring.get("posterior_draws")),
        "proposer": _str(proposer.get("kind")) or "taxonomy",
        "generator": _component(comps.get("generator")),
        "labeler": _component(comps.get("labeler")),
        "llm": _component(comps.get("llm")),
        "small_n_per_caption": smallest is not None and smallest < SMALL_N_PER_CAPTION,
        "test_components": _uses_test_components(comps),
    }


def _uses_test_components(comps: Mapping[str, Any]) -> bool:
    """Fake backends or ``tiny://`` random models: the numbers are not findings."""
    for c in comps.values():
        d = _dict(c)
        if d.get("backend") == "fake" or str(d.get("model", "")).startswith("tiny://"):
            return True
    return False


def _finite(x: Any) -> Any:
    """A copy of ``x`` with non-finite floats as ``None`` (strict JSON has no NaN)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


# -- entry points ---------------------------------------------------------------------------
def data_from_run(run: RunFolder, *, max_thumbnails_per_class: int = 8) -> dict[str, Any]:
    """:func:`build_report_data` on an already-read :class:`RunFolder`."""
    scores, manifest = run.scores, run.manifest
    warnings: list[str] = []
    cfg_scoring = _dict(_dict(manifest.get("config")).get("scoring"))
    confidence = _num(cfg_scoring.get("confidence")) or 0.95
    answers: dict[str, list[dict[str, Any]]] | None = None
    if run.answers is None:
        warnings.append("answers.parquet not found: no image thumbnails")
    else:
        answers = {}
        for row in run.answers:
            answers.setdefault(_text(row.get("bias_id")), []).append(row)
    raw_biases = _list(scores.get("biases"))
    if "biases" not in scores:
        warnings.append("scores.json has no 'biases' list: nothing was scored")
    used: set[str] = set()
    biases = [_bias(b, i, used, confidence, warnings, answers, max(0, max_thumbnails_per_class))
              for i, b in enumerate(raw_biases)]
    ranked = sorted((b for b in biases if b["rank_value"] is not None), key=_rank_key)
    rest = sorted((b for b in biases if b["rank_value"] is None), key=lambda b: b["bias_id"])
    for i, b in enumerate(ranked, start=1):
        b["rank"] = i
    ordered = ranked + rest

    intersections: list[dict[str, Any]] = []
    seen: set[frozenset[str]] = set()
    candidates = [x for b in ordered for x in b["intersections"]]
    for item in _list(scores.get("intersections")):
        got = _intersection(item, None, confidence, warnings)
        if got:
            candidates.append(got)
    for x in candidates:
        key = frozenset((x["row_bias"], x["col_bias"]))
        if key not in seen:
            seen.add(key)
            intersections.append(x)
    for b in ordered:  # each bias keeps the ids of its intersections; the tables live once
        b["intersections"] = [
            x["col_bias"] if x["row_bias"] == b["bias_id"] else x["row_bias"]
            for x in intersections if b["bias_id"] in (x["row_bias"], x["col_bias"])
        ]
    ms = _manifest_summary(manifest)
    any_corrected = any(b["rank_by"] == "corrected" for b in ordered)
    all_corrected = all(b["rank_by"] in ("corrected", None) for b in ordered)
    if any_corrected and not all_corrected:
        warnings.append("some biases have a floor-corrected severity and some do not; those "
                        "without are ranked by their uncorrected severity")
    data: dict[str, Any] = _finite({
        "schema_version": REPORT_SCHEMA_VERSION,
        "generated_by": {"fairframe_version": __version__},
        "run": {
            "name": _text(manifest.get("name") or scores.get("name"), "audit"),
            "fairframe_version": ms["fairframe_version"],
            "started": ms["started"],
            "finished": ms["finished"],
            "config_hash": _config_hash(manifest.get("config")),
            "command": "fairframe audit run CONFIG --out RUN_DIR",
            "counting": _str(scores.get("counting")),
        },
        "audit": _audit_summary(manifest, ordered),
        "ranking": {
            "by": "context_free.corrected" if all_corrected and any_corrected else (
                "context_free.corrected, else context_free.value" if any_corrected
                else "context_free.value"),
            "order": "descending; insufficient data last",
        },
        "biases": ordered,
        "intersections": intersections,
        "not_scored": _not_scored(scores),
        "manifest": ms,
        "warnings": warnings,
    })
    return data


def build_report_data(run_dir: str | Path, *, max_thumbnails_per_class: int = 8
                      ) -> dict[str, Any]:
    """The content of ``report.json`` for a run folder (JSON-serialisable).

    Parameters
    ----------
    run_dir:
        A folder written by ``fairframe audit run CONFIG --out RUN_DIR``.
    max_thumbnails_per_class:
        How many images per (bias, class) to list for the thumbnail grids.

    Returns
    -------
    dict
        ``schema_version``, ``generated_by``, ``run`` (name, versions, times, ``config_hash``),
        ``audit`` (what was audited), ``ranking``, ``biases`` (ranked; each with its entries,
        distribution, per-caption table, reference, test, intersection partners and selected
        images), ``intersections``, ``not_scored``, ``manifest`` (summary) and ``warnings``.

    Raises
    ------
    fairframe.errors.InputDataError
        ``manifest.json`` or ``scores.json`` is missing or unreadable, or ``answers.parquet`` is
        corrupt.
    """
    return data_from_run(read_run(run_dir), max_thumbnails_per_class=max_thumbnails_per_class)
