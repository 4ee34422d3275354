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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from fairframe.stats import (
    context_aware_severity,
    dirichlet_severity_interval,
    severity,
    wilson_interval,
)

__all__ = ["BiasAnswers", "ScoringOptions", "score_bias"]


@dataclass(frozen=True)
class ScoringOptions:
    """Knobs of :func:`score_bias` (mirrors :class:`fairframe.config.ScoringConfig`)."""

    min_n: int = 2
    confidence: float = 0.95
    posterior_draws: int = 2000
    seed: int = 0


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
    """

    classes: tuple[str, ...]
    caption_ids: tuple[str, ...]
    captions: tuple[str, ...]
    caption_index: NDArray[np.int64]
    probs: NDArray[np.float64]


def _entry(
    value: float | None,
    n: int,
    interval: tuple[float, float] | None,
    *,
    metric: str,
    method: str | None,
    opts: ScoringOptions,
    reason: str | None = None,
) -> dict[str, Any]:
    ok = value is not None and reason is None
    return {
        "metric": metric,
        "value": value if ok else None,
        "n": n,
        "ci_low": interval[0] if ok and interval else None,
        "ci_high": interval[1] if ok and interval else None,
        "ci_method": method if ok else None,
        "confidence": opts.confidence,
        "status": "ok" if ok else "insufficient_data",
        "reason": reason,
        "floor": None,
        "p_value": None,
        "q_value": None,
    }


def _share(successes: int, n: int, opts: ScoringOptions) -> dict[str, Any]:
    if n == 0:
        return _entry(None, 0, None, metric="share", method=None, opts=opts,
                      reason="no answers")
    return _entry(successes / n, n, wilson_interval(successes, n, opts.confidence),
                  metric="share", method="wilson", opts=opts)


def _severity_entry(
    rows: NDArray[np.float64], opts: ScoringOptions, *, label: str
) -> dict[str, Any]:
    """Severity of one or more count rows (several rows: context-aware)."""
    n = int(rows.sum())
    if rows.shape[0] == 0 or n < opts.min_n:
        return _entry(None, n, None, metric=label, method=None, opts=opts,
                      reason=f"{n} non-unknown answer(s); at least {opts.min_n} needed")
    value = (
        float(severity(rows[0])) if rows.shape[0] == 1 and label == "severity"
        else context_aware_severity(rows)
    )
    lo, hi = dirichlet_severity_interval(
        rows, confidence=opts.confidence, draws=opts.posterior_draws, seed=opts.seed
    )
    # the Jeffreys posterior shrinks toward balance; at extreme counts its interval can exclude
    # the plug-in estimate. Widening to include it only raises coverage.
    interval = (min(lo, value), max(hi, value))
    return _entry(value, n, interval, metric=label, method="dirichlet-jeffreys-posterior",
                  opts=opts)


def score_bias(answers: BiasAnswers, opts: ScoringOptions | None = None) -> dict[str, Any]:
    """Score one bias: distribution, detection rate, context-free and context-aware severity,
    and a per-caption table. See the module docstring for the counting rule and entry fields."""
    opts = opts or ScoringOptions()
    k = len(answers.classes)
    n_caps = len(answers.caption_ids)
    probs = np.asarray(answers.probs, dtype=np.float64).reshape(-1, k + 1)
    top = probs.argmax(axis=1) if probs.size else np.zeros(0, dtype=np.int64)
    counts = np.zeros((n_caps, k + 1), dtype=np.int64)
    np.add.at(counts, (answers.caption_index, top), 1)
    known = counts[:, :k]
    pooled = known.sum(axis=0)
    n_known = int(pooled.sum())
    n_all = int(counts.sum())
    unknown = int(counts[:, k].sum())
    soft = probs.mean(axis=0) if probs.size else np.full(k + 1, np.nan)
    outcomes = (*answers.classes, "unknown")

    per_caption = []
    usable = []
    for j, cid in enumerate(answers.caption_ids):
        row = known[j]
        nj = int(row.sum())
        if nj >= opts.min_n:
            usable.append(j)
        per_caption.append(
            {
                "caption_id": cid,
                "caption": answers.captions[j],
                "n_images": int(counts[j].sum()),
                "unknown": int(counts[j, k]),
                "counts": {c: int(v) for c, v in zip(answers.classes, row, strict=True)},
                "detection_rate": _share(nj, int(counts[j].sum()), opts),
                "severity": _severity_entry(row[None, :].astype(np.float64), opts,
                                            label="severity"),
            }
        )

    ca_rows = known[usable].astype(np.float64)
    context_aware = _severity_entry(ca_rows, opts, label="context_aware_severity")
    if context_aware["status"] == "ok":
        context_aware["n_captions"] = len(usable)
    elif n_known >= opts.min_n:
        context_aware["reason"] = (
            f"no caption has {opts.min_n} or more non-unknown answers"
        )
    return {
        "n_images": n_all,
        "n_captions": n_caps,
        "detection_rate": _share(n_known, n_all, opts),
        "distribution": {
            "counts": {c: int(v) for c, v in zip(answers.classes, pooled, strict=True)},
            "unknown": unknown,
            "shares": {c: _share(int(v), n_known, opts)
                       for c, v in zip(answers.classes, pooled, strict=True)},
            "soft_shares": {o: (None if np.isnan(v) else float(v))
                            for o, v in zip(outcomes, soft, strict=True)},
        },
        "context_free": _severity_entry(pooled[None, :].astype(np.float64), opts,
                                        label="severity"),
        "context_aware": context_aware,
        "per_caption": per_caption,
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
