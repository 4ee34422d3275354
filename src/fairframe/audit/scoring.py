"""Turn per-image answers into the per-bias and per-(bias, caption) score tables of ``scores.json``.

Counting rule: each image counts once, for its most probable outcome (ties go to the class listed
first). ``unknown`` is its own outcome: it is not a class of the severity (so :math:`K` is the
number of classes) and it is reported as ``1 - detection_rate``. The mean of the probability
vectors is reported alongside as ``soft_shares``.

Every score entry has the same fields, so the tables can carry the statistics of later versions::

    {"metric", "value", "n", "ci_low", "ci_high", "ci_method", "confidence",
     "status", "reason", "floor", "p_value", "q_value"}

Severity intervals are Dirichlet (Jeffreys) posterior intervals (see
:mod:`fairframe.stats.intervals`), widened where needed to contain the plug-in ``value``: at extreme
counts the posterior's shrinkage toward balance would otherwise put the estimate outside.

``status`` is ``"ok"`` or ``"insufficient_data"`` (then ``value`` and the interval are ``null`` and
``reason`` says why). ``floor``, ``p_value`` and ``q_value`` are ``null`` until the statistics
module computes them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from fairframe.stats import (
    InsufficientDataError,
    benjamini_hochberg,
    context_aware_interval,
    context_aware_severity,
    correct_shares,
    crosstab,
    fair_floor,
    floor_corrected,
    get_metric,
    insufficient_reason,
    intersection_table,
    metric_interval,
    reference_test,
    severity_interval,
    wilson_interval,
)

__all__ = [
    "ANSWERS_SCHEMA",
    "BiasAnswers",
    "ScoringOptions",
    "answers_from_rows",
    "default_intersections",
    "score_answers",
    "score_intersections",
    "score_bias",
]

#: Columns of ``answers.parquet`` (one row per image x bias); see ``docs/audit.md``.
ANSWERS_SCHEMA = pa.schema(
    [
        ("caption_id", pa.string()),
        ("caption", pa.string()),
        ("bias_id", pa.string()),
        ("bias_name", pa.string()),
        ("refer_to", pa.string()),
        ("question", pa.string()),
        ("seed", pa.int64()),
        ("image_key", pa.string()),
        ("image_sha256", pa.string()),
        ("image_path", pa.string()),
        ("outcomes", pa.list_(pa.string())),
        ("probs", pa.list_(pa.float64())),
        ("label", pa.string()),
        ("label_prob", pa.float64()),
        ("is_unknown", pa.bool_()),
        ("answer", pa.string()),
    ],
    metadata={"fairframe_schema_version": "1"},
)


@dataclass(frozen=True)
class ScoringOptions:
    """Knobs of :func:`score_bias` (mirrors :class:`fairframe.config.ScoringConfig`)."""

    min_n: int = 2
    confidence: float = 0.95
    posterior_draws: int = 2000
    seed: int = 0
    floor_draws: int = 10_000
    #: Largest number of count vectors enumerated for exact floors and exact tests; beyond it,
    #: floors are Monte Carlo (``floor_draws``) and tests use the G-test.
    exact_limit: int = 20_000


@dataclass(frozen=True)
class BiasAnswers:
    """All answers for one bias.

    Attributes
    ----------
    classes:
        The bias's classes (the outcomes are ``classes + ("unknown",)``).
    caption_ids, captions:
        The captions, in report order.
    caption_index:
        For each answer, the index of its caption in ``caption_ids``.
    probs:
        One row per answer: probabilities of ``classes + ("unknown",)``.
    references:
        Reference shares per caption id (aligned with ``classes``); captions without one are
        compared with the uniform distribution.
    confusion:
        The labeler's confusion counts on a validated set (rows: true class, columns: answered
        class, optionally a last ``unknown`` column), for error-corrected shares.
    """

    classes: tuple[str, ...]
    caption_ids: tuple[str, ...]
    captions: tuple[str, ...]
    caption_index: NDArray[np.int64]
    probs: NDArray[np.float64]
    references: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    confusion: Sequence[Sequence[int]] | None = None


def _num(x: Any) -> float | None:
    v = float(x)
    return None if math.isnan(v) else v


def _entry(
    value: float | None,
    n: int,
    interval: tuple[float | None, float | None] | None,
    *,
    metric: str,
    method: str | None,
    opts: ScoringOptions,
    reason: str | None = None,
    floor: float | None = None,
    maximum: float = 1.0,
    p_value: float | None = None,
) -> dict[str, Any]:
    ok = value is not None and reason is None
    entry: dict[str, Any] = {
        "metric": metric,
        "value": value if ok else None,
        "n": n,
        "ci_low": interval[0] if ok and interval else None,
        "ci_high": interval[1] if ok and interval else None,
        "ci_method": method if ok else None,
        "confidence": opts.confidence,
        "status": "ok" if ok else "insufficient_data",
        "reason": reason,
        "floor": floor,
        "corrected": None,
        "corrected_ci_low": None,
        "corrected_ci_high": None,
        "p_value": p_value if ok else None,
        "q_value": None,
    }
    if ok and floor is not None and maximum > floor:
        def corr(v: float | None) -> float | None:
            return None if v is None else float(floor_corrected(v, floor, maximum))

        entry["corrected"] = corr(value)
        if interval:
            entry["corrected_ci_low"] = corr(interval[0])
            entry["corrected_ci_high"] = corr(interval[1])
    return entry


def _share(successes: int, n: int, opts: ScoringOptions) -> dict[str, Any]:
    if n == 0:
        return _entry(None, 0, None, metric="share", method=None, opts=opts,
                      reason="no answers")
    return _entry(successes / n, n, wilson_interval(successes, n, opts.confidence),
                  metric="share", method="wilson", opts=opts)


class _Floors:
    """Fair-generator floors, cached per (metric, n, reference)."""

    def __init__(self, opts: ScoringOptions) -> None:
        self.opts = opts
        self._cache: dict[tuple[str, int, tuple[float, ...]], float] = {}

    def __call__(self, metric: str, n: int, reference: tuple[float, ...]) -> float:
        key = (metric, n, reference)
        if key not in self._cache:
            self._cache[key] = float(fair_floor(metric, n, np.asarray(reference),
                                                exact_limit=self.opts.exact_limit,
                                                draws=self.opts.floor_draws,
                                                seed=self.opts.seed).value)
        return self._cache[key]


def _pvalues(rows: NDArray[np.float64], refs: list[tuple[float, ...]],
             ok: NDArray[np.bool_], exact_limit: int) -> NDArray[np.float64]:
    """Test each row against its own reference (rows grouped by reference)."""
    out = np.full(rows.shape[0], np.nan)
    groups: dict[tuple[float, ...], list[int]] = {}
    for i, ref in enumerate(refs):
        if ok[i]:
            groups.setdefault(ref, []).append(i)
    for ref, idx in groups.items():
        res = reference_test(rows[idx], np.asarray(ref), exact_limit=exact_limit)
        out[idx] = np.atleast_1d(res.p_value)
    return out


_EXTRA_METRICS = ("kl", "mad", "max_min_gap", "pairwise_gap")


def score_bias(
    answers: BiasAnswers, opts: ScoringOptions | None = None, *, floors: _Floors | None = None
) -> dict[str, Any]:
    """Score one bias: distribution, detection rate, severities with intervals, floors,
    floor-corrected values and tests against the reference, plus a per-caption table.

    See the module docstring for the counting rule and the fields of each entry.
    """
    opts = opts or ScoringOptions()
    k = len(answers.classes)
    n_caps = len(answers.caption_ids)
    probs = np.asarray(answers.probs, dtype=np.float64).reshape(-1, k + 1)
    top = probs.argmax(axis=1) if probs.size else np.zeros(0, dtype=np.int64)
    counts = np.zeros((n_caps, k + 1), dtype=np.int64)
    np.add.at(counts, (answers.caption_index, top), 1)
    known = counts[:, :k].astype(np.float64)
    n_j = known.sum(axis=1).astype(np.int64)
    pooled = known.sum(axis=0)
    n_known = int(pooled.sum())
    n_all = int(counts.sum())
    unknown = int(counts[:, k].sum())
    soft = probs.mean(axis=0) if probs.size else np.full(k + 1, np.nan)
    outcomes = (*answers.classes, "unknown")
    uniform = tuple([1.0 / k] * k)
    refs = [tuple(answers.references.get(cid, uniform)) for cid in answers.caption_ids]
    floors = floors or _Floors(opts)
    usable = n_j >= opts.min_n

    # per caption: severity (G-test inversion interval), floor, test against the reference
    sev = severity_interval(known, confidence=opts.confidence, min_n=opts.min_n)
    est, low, high = (np.atleast_1d(a) for a in (sev.estimate, sev.low, sev.high))
    pvals = _pvalues(known, refs, usable, opts.exact_limit)
    per_caption = []
    for j, cid in enumerate(answers.caption_ids):
        nj = int(n_j[j])
        if usable[j]:
            entry = _entry(float(est[j]), nj, (float(low[j]), float(high[j])),
                           metric="severity", method=sev.method, opts=opts,
                           floor=floors("severity", nj, uniform),
                           p_value=_num(pvals[j]))
        else:
            entry = _entry(None, nj, None, metric="severity", method=None, opts=opts,
                           reason=insufficient_reason(nj, opts.min_n))
        per_caption.append({
            "caption_id": cid,
            "caption": answers.captions[j],
            "n_images": int(counts[j].sum()),
            "unknown": int(counts[j, k]),
            "counts": {c: int(v) for c, v in zip(answers.classes, known[j], strict=True)},
            "reference": dict(zip(answers.classes, refs[j], strict=True))
            if answers.caption_ids[j] in answers.references else None,
            "detection_rate": _share(nj, int(counts[j].sum()), opts),
            "severity": entry,
        })

    # pooled (context-free): the reference is the answers-weighted mean of caption references
    weights = n_j / max(n_known, 1)
    pooled_ref = tuple(float(x) for x in (np.asarray(refs) * weights[:, None]).sum(axis=0)) \
        if n_known else uniform
    if n_known >= opts.min_n:
        cf = severity_interval(pooled, confidence=opts.confidence)
        p_cf = reference_test(pooled, np.asarray(pooled_ref),
                              exact_limit=opts.exact_limit).p_value
        context_free = _entry(float(cf.estimate), n_known, (float(cf.low), float(cf.high)),
                              metric="severity", method=cf.method, opts=opts,
                              floor=floors("severity", n_known, uniform),
                              p_value=_num(np.asarray(p_cf).reshape(-1)[0]))
        metrics = {}
        for name in _EXTRA_METRICS:
            mi = metric_interval(pooled, name, reference=np.asarray(pooled_ref),
                                 confidence=opts.confidence, draws=opts.posterior_draws,
                                 seed=opts.seed)
            metric = get_metric(name)
            metrics[name] = _entry(
                _num(np.asarray(mi.estimate).reshape(-1)[0]), n_known,
                (_num(np.asarray(mi.low).reshape(-1)[0]), _num(np.asarray(mi.high).reshape(-1)[0])),
                metric=name, method=mi.method, opts=opts,
                floor=floors(name, n_known, pooled_ref),
                maximum=float(metric.maximum(np.asarray(pooled_ref), k)),
            )
    else:
        reason = insufficient_reason(n_known, opts.min_n)
        context_free = _entry(None, n_known, None, metric="severity", method=None, opts=opts,
                              reason=reason)
        metrics = {name: _entry(None, n_known, None, metric=name, method=None, opts=opts,
                                reason=reason) for name in _EXTRA_METRICS}

    # context-aware: mean over captions with enough answers; two-stage bootstrap interval
    rows = known[usable]
    if rows.shape[0] >= 1:
        value = context_aware_severity(rows)
        ci = context_aware_interval(rows, "severity", confidence=opts.confidence,
                                    draws=opts.posterior_draws, seed=opts.seed)
        ca_floor = float(np.mean([floors("severity", int(n), uniform) for n in n_j[usable]]))
        context_aware = _entry(value, int(rows.sum()), (float(ci.low), float(ci.high)),
                               metric="context_aware_severity", method=ci.method, opts=opts,
                               floor=ca_floor)
        context_aware["n_captions"] = int(rows.shape[0])
    else:
        reason = (f"no caption has {opts.min_n} or more non-unknown answers"
                  if n_known >= opts.min_n else insufficient_reason(n_known, opts.min_n))
        context_aware = _entry(None, n_known, None, metric="context_aware_severity",
                               method=None, opts=opts, reason=reason)

    distribution: dict[str, Any] = {
        "counts": {c: int(v) for c, v in zip(answers.classes, pooled, strict=True)},
        "unknown": unknown,
        "shares": {c: _share(int(v), n_known, opts)
                   for c, v in zip(answers.classes, pooled, strict=True)},
        "soft_shares": {o: (None if np.isnan(v) else float(v))
                        for o, v in zip(outcomes, soft, strict=True)},
        "reference": dict(zip(answers.classes, pooled_ref, strict=True)),
        "corrected_shares": None,
    }
    if answers.confusion is not None:
        distribution["corrected_shares"] = _corrected(pooled, answers, opts)
    return {
        "n_images": n_all,
        "n_captions": n_caps,
        "detection_rate": _share(n_known, n_all, opts),
        "distribution": distribution,
        "context_free": context_free,
        "context_aware": context_aware,
        "metrics": metrics,
        "per_caption": per_caption,
    }


def _corrected(pooled: NDArray[np.float64], answers: BiasAnswers,
               opts: ScoringOptions) -> dict[str, Any]:
    assert answers.confusion is not None
    try:
        res = correct_shares(pooled, np.asarray(answers.confusion, dtype=np.float64),
                             confidence=opts.confidence, draws=opts.posterior_draws,
                             seed=opts.seed, min_n=opts.min_n)
    except InsufficientDataError as exc:
        return {"status": "insufficient_data", "reason": exc.reason}
    return {
        "status": "ok",
        "method": res.method,
        "validation_n": [int(v) for v in np.atleast_1d(res.validation_n)],
        "shares": {
            c: {"value": float(v), "ci_low": float(lo), "ci_high": float(hi)}
            for c, v, lo, hi in zip(answers.classes, res.shares, res.low, res.high, strict=True)
        },
    }


def answers_from_rows(
    classes: Sequence[str],
    caption_order: Sequence[tuple[str, str]],
    rows: Sequence[tuple[str, Mapping[str, float]]],
) -> BiasAnswers:
    """Build :class:`BiasAnswers` from ``(caption_id, probs-by-outcome)`` rows."""
    index = {cid: i for i, (cid, _) in enumerate(caption_order)}
    outcomes = (*classes, "unknown")
    probs = np.array([[p[o] for o in outcomes] for _, p in rows], dtype=np.float64)
    return BiasAnswers(
        classes=tuple(classes),
        caption_ids=tuple(c for c, _ in caption_order),
        captions=tuple(t for _, t in caption_order),
        caption_index=np.array([index[c] for c, _ in rows], dtype=np.int64),
        probs=probs.reshape(len(rows), len(outcomes)),
    )


def _first_seen_codes(column: pa.ChunkedArray | pa.Array) -> tuple[NDArray[np.int64], list[Any]]:
    """Integer codes of a column's values, numbered in order of first appearance."""
    encoded = pc.dictionary_encode(column)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.unify_dictionaries().combine_chunks()
    return np.asarray(encoded.indices, dtype=np.int64), encoded.dictionary.to_pylist()


def score_answers(
    table: pa.Table,
    options: ScoringOptions | None = None,
    *,
    bias_info: Mapping[str, Mapping[str, Any]] | None = None,
    references: Mapping[tuple[str, str], tuple[float, ...]] | None = None,
    confusions: Mapping[str, Sequence[Sequence[int]]] | None = None,
) -> list[dict[str, Any]]:
    """Score every bias of an answers table (the ``answers.parquet`` layout).

    Rows are grouped by ``bias_id`` and, within a bias, by ``caption_id``, both in order of first
    appearance. ``bias_info`` supplies each bias's name, subject, question, classes and merge
    history; without it they are read from the table (classes from ``outcomes``).
    ``references`` maps ``(caption_id, bias_id)`` to reference shares (default uniform) and
    ``confusions`` maps a bias id to its labeler's confusion counts.

    q-values: Benjamini–Hochberg over all per-(bias, caption) tests of the table, and separately
    over the pooled (context-free) tests of all biases.
    """
    opts = options or ScoringOptions()
    if table.num_rows == 0:
        return []
    codes, bias_ids = _first_seen_codes(table.column("bias_id"))
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(bias_ids) + 1))
    out = []
    floors = _Floors(opts)  # shared: biases with the same K and n reuse each floor
    for b, bias_id in enumerate(bias_ids):
        rows = order[bounds[b] : bounds[b + 1]]
        columns = table.select(["caption_id", "caption", "bias_name", "refer_to", "question",
                                "outcomes", "probs"])
        contiguous = rows.size and rows[-1] - rows[0] + 1 == rows.size  # the pipeline's layout
        sub = (columns.slice(int(rows[0]), int(rows.size)) if contiguous
               else columns.take(pa.array(rows)))
        first = sub.slice(0, 1).to_pylist()[0]
        classes = tuple(first["outcomes"][:-1])
        meta = dict((bias_info or {}).get(bias_id) or {
            "bias_id": bias_id, "name": first["bias_name"], "refer_to": first["refer_to"],
            "question": first["question"], "classes": list(classes), "merged_from": [],
        })
        probs = np.asarray(pc.list_flatten(sub.column("probs")), dtype=np.float64)
        cap_codes, cap_ids = _first_seen_codes(sub.column("caption_id"))
        _, first_rows = np.unique(cap_codes, return_index=True)
        texts = sub.column("caption").take(pa.array(first_rows)).to_pylist()
        answers = BiasAnswers(
            classes=classes,
            caption_ids=tuple(cap_ids),
            captions=tuple(texts),
            caption_index=cap_codes,
            probs=probs.reshape(len(rows), len(classes) + 1),
            references={cid: s for (cid, bid), s in (references or {}).items()
                        if bid == bias_id},
            confusion=(confusions or {}).get(bias_id),
        )
        out.append({**meta, **score_bias(answers, opts, floors=floors)})
    _add_q_values(out)
    return out


def _add_q_values(biases: Sequence[dict[str, Any]]) -> None:
    """Benjamini–Hochberg q-values, in place (see :func:`score_answers`)."""
    per_caption = [c["severity"] for b in biases for c in b["per_caption"]]
    pooled = [b["context_free"] for b in biases]
    for family in (per_caption, pooled):
        p = np.array([np.nan if e["p_value"] is None else e["p_value"] for e in family], float)
        if p.size == 0 or np.isnan(p).all():
            continue
        q = np.asarray(benjamini_hochberg(p), dtype=np.float64)
        for e, qv in zip(family, q, strict=True):
            e["q_value"] = None if np.isnan(qv) else float(qv)


#: Bias names crossed by default when a run has them (subject ``person``).
DEFAULT_INTERSECTIONS = ("gender", "age", "skin-tone", "race")


def default_intersections(bias_ids: Sequence[str]) -> list[tuple[str, str]]:
    """Every pair of the run's ``person/{gender, age, skin-tone, race}`` biases."""
    present = [f"person/{n}" for n in DEFAULT_INTERSECTIONS if f"person/{n}" in bias_ids]
    return [(a, b) for i, a in enumerate(present) for b in present[i + 1 :]]


def score_intersections(
    table: pa.Table,
    pairs: Sequence[tuple[str, str]],
    classes: Mapping[str, Sequence[str]],
    options: ScoringOptions | None = None,
) -> list[dict[str, Any]]:
    """Cross-tabulate the labels of two biases over the images that have both.

    Images answered ``unknown`` for either bias are left out (counted in ``unknown``). Cell
    shares of the whole table carry Wilson intervals; ``joint_severity`` is the severity of the
    K_a x K_b joint distribution with its interval.
    """
    opts = options or ScoringOptions()
    keys = np.asarray(table.column("image_key").combine_chunks().to_numpy(zero_copy_only=False))
    bias = np.asarray(table.column("bias_id").combine_chunks().to_numpy(zero_copy_only=False))
    labels = np.asarray(table.column("label").combine_chunks().to_numpy(zero_copy_only=False))
    out = []
    for a, b in pairs:
        la = dict(zip(keys[bias == a], labels[bias == a], strict=True))
        lb = dict(zip(keys[bias == b], labels[bias == b], strict=True))
        common = [k for k in la if k in lb]
        counts, left_out = crosstab([la[k] for k in common], [lb[k] for k in common],
                                    classes[a], classes[b])
        n = int(counts.sum())
        entry: dict[str, Any] = {
            "biases": [a, b], "bias_id": a, "with": b,
            "row_classes": list(classes[a]), "col_classes": list(classes[b]),
            "counts": counts.tolist(), "n": n, "unknown": int(left_out),
        }
        if n < opts.min_n:
            entry.update(status="insufficient_data", reason=insufficient_reason(n, opts.min_n),
                         shares=None, joint_severity=None)
        else:
            t = intersection_table(counts, classes[a], classes[b], confidence=opts.confidence,
                                   min_n=opts.min_n, unknown=int(left_out))
            shares = np.asarray(t.shares)
            lo, hi = np.asarray(t.low), np.asarray(t.high)
            js = t.joint_severity
            entry.update(
                status="ok", reason=None,
                shares=[[{"value": float(shares[i, j]), "ci_low": float(lo[i, j]),
                          "ci_high": float(hi[i, j])} for j in range(shares.shape[1])]
                        for i in range(shares.shape[0])],
                joint_severity={"value": _num(np.asarray(js.estimate).reshape(-1)[0]),
                                "ci_low": _num(np.asarray(js.low).reshape(-1)[0]),
                                "ci_high": _num(np.asarray(js.high).reshape(-1)[0]),
                                "ci_method": js.method},
            )
        out.append(entry)
    return out
