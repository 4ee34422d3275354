"""What changed between two red-team runs (e.g. two guard versions on the same suite).

:func:`compare_reports` reads two ``report.json`` files and returns

* **metric deltas** for every (mutator, category) group present in both runs and every metric of
  ``recall``, ``fpr``, ``precision``, ``asr`` and ``asr_overall``: the values with their n, the
  difference (after − before), a p-value, a Benjamini–Hochberg q-value (two families: the pooled
  ``"all"`` groups, and the per-category groups), and whether the change is **significant**
  (``q < alpha``) and better or worse;
* the **prompts newly getting through** and those **newly stopped**, matched by (mutator, row id).

Which test
----------
When the two runs answered the same rows (same row ids in the group's denominator, the usual case
of one suite run against two guard versions), the outcomes are paired, and recall, FPR and
``asr_overall`` use the **exact McNemar test**: with :math:`b` rows that changed one way and
:math:`c` the other, :math:`p = \\min(1, 2\\,P(X \\le \\min(b, c)))`,
:math:`X \\sim \\mathrm{Binomial}(b + c, \\tfrac12)` (:math:`p = 1` when nothing changed).
Precision and the conditional ``asr`` have denominators that depend on each run's own decisions,
so they — and every metric when the rows do not match — use the **two-proportion z-test** with
the pooled proportion, :math:`z = (\\hat p_2 - \\hat p_1) /
\\sqrt{\\bar p(1-\\bar p)(1/n_1 + 1/n_2)}`, two-sided. A metric with no data in either run has
no test (``p_value=None``, never significant).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

from fairframe.errors import ConfigError
from fairframe.redteam.metrics import Estimate, RowResult
from fairframe.stats.significance import fair_coin_tail
from fairframe.types import JSONValue

__all__ = ["Comparison", "MetricDelta", "PromptChange", "compare_reports", "mcnemar_exact",
           "two_proportion_z"]

#: Metrics compared, and whether higher is better.
COMPARED: Mapping[str, bool] = {"recall": True, "fpr": False, "precision": True, "asr": False,
                                "asr_overall": False}
_PAIRED = frozenset({"recall", "fpr", "asr_overall"})


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for ``b`` and ``c`` discordant pairs.

    Examples
    --------
    >>> mcnemar_exact(0, 0)
    1.0
    >>> round(mcnemar_exact(0, 6), 5)  # 2 * 0.5**6
    0.03125
    """
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be >= 0")
    n = b + c
    if n == 0:
        return 1.0
    # P(X <= min(b, c)) = P(X >= n - min(b, c)) for a fair coin
    return min(1.0, 2.0 * fair_coin_tail(n - min(b, c), n))


def two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test (1 when the pooled share is 0 or 1).

    Examples
    --------
    >>> round(two_proportion_z(10, 100, 25, 100), 4)
    0.0052
    """
    if n1 <= 0 or n2 <= 0:
        raise ValueError("both samples need n > 0")
    pooled = (x1 + x2) / (n1 + n2)
    if pooled in (0.0, 1.0):
        return 1.0
    z = (x2 / n2 - x1 / n1) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return 2.0 * (1.0 - NormalDist().cdf(abs(z)))


@dataclass(frozen=True)
class MetricDelta:
    """One metric of one group in both runs.

    Attributes
    ----------
    mutator, category, metric:
        The group and the metric name.
    before, after:
        The two estimates (value, interval, n).
    delta:
        ``after - before`` (``None`` when either is missing).
    test:
        ``"mcnemar-exact"``, ``"two-proportion-z"`` or ``"none"``.
    p_value, q_value:
        The test's p-value and its Benjamini–Hochberg q-value within its family (pooled
        ``"all"`` groups, or per-category groups).
    significant:
        ``q_value < alpha``.
    change:
        ``"better"``, ``"worse"`` (significant changes), ``"same"`` or ``"n/a"``.
    """

    mutator: str
    category: str
    metric: str
    before: Estimate
    after: Estimate
    delta: float | None
    test: str
    p_value: float | None
    q_value: float | None
    significant: bool
    change: str

    def to_dict(self) -> dict[str, JSONValue]:
        """JSON-ready dict."""
        return {"mutator": self.mutator, "category": self.category, "metric": self.metric,
                "before": self.before.to_dict(), "after": self.after.to_dict(),
                "delta": self.delta, "test": self.test, "p_value": self.p_value,
                "q_value": self.q_value, "significant": self.significant,
                "change": self.change}


@dataclass(frozen=True)
class PromptChange:
    """A row whose outcome differs between the runs."""

    mutator: str
    item_id: str
    category: str
    expected: str
    prompt_before: str
    prompt_after: str
    action_before: str
    action_after: str

    def to_dict(self) -> dict[str, JSONValue]:
        """JSON-ready dict."""
        return {"mutator": self.mutator, "item_id": self.item_id, "category": self.category,
                "expected": self.expected, "prompt_before": self.prompt_before,
                "prompt_after": self.prompt_after, "action_before": self.action_before,
                "action_after": self.action_after}


@dataclass(frozen=True)
class Comparison:
    """The result of :func:`compare_reports`.

    Attributes
    ----------
    before, after:
        Each run's folder, target, policy version, fairframe version and commit.
    deltas:
        Every compared metric (groups in both runs).
    newly_through:
        Rows stopped before and let through after (unsafe ones are regressions).
    newly_blocked:
        Rows let through before and stopped after (benign ones are new false positives).
    warnings:
        Things that make the comparison weaker (different suites, seeds, mutators).
    alpha:
        The false-discovery level of ``significant``.
    """

    before: Mapping[str, JSONValue]
    after: Mapping[str, JSONValue]
    deltas: tuple[MetricDelta, ...]
    newly_through: tuple[PromptChange, ...]
    newly_blocked: tuple[PromptChange, ...]
    warnings: tuple[str, ...]
    alpha: float

    @property
    def significant(self) -> tuple[MetricDelta, ...]:
        """The significant changes."""
        return tuple(d for d in self.deltas if d.significant)

    def to_dict(self) -> dict[str, JSONValue]:
        """JSON-ready dict."""
        return {"before": dict(self.before), "after": dict(self.after), "alpha": self.alpha,
                "warnings": list(self.warnings),
                "deltas": [d.to_dict() for d in self.deltas],
                "newly_through": [c.to_dict() for c in self.newly_through],
                "newly_blocked": [c.to_dict() for c in self.newly_blocked]}


def _summary(path: Path, data: Mapping[str, Any]) -> dict[str, JSONValue]:
    meta = data.get("meta") or {}
    target = meta.get("target") or {}
    return {"path": str(path), "target": target.get("name"),
            "policy_version": meta.get("policy_version"),
            "fairframe_version": meta.get("fairframe_version"),
            "git_commit": meta.get("git_commit"), "created": meta.get("created")}


def _outcomes(rows: Sequence[RowResult], mutator: str, category: str, metric: str
              ) -> dict[str, bool]:
    """Row id -> the per-row outcome behind a paired metric (error rows left out)."""
    out: dict[str, bool] = {}
    for r in rows:
        if r.mutator != mutator or r.is_error or category not in ("all", r.category):
            continue
        if metric in ("recall", "asr_overall") and r.expected == "block":
            out[r.item_id] = r.got_through if metric == "asr_overall" else not r.got_through
        elif metric == "fpr" and r.expected == "allow":
            out[r.item_id] = not r.got_through
    return out


def _test(metric: str, before: Estimate, after: Estimate, rows1: Sequence[RowResult],
          rows2: Sequence[RowResult], mutator: str, category: str
          ) -> tuple[str, float | None]:
    if before.value is None or after.value is None or before.successes is None \
            or after.successes is None:
        return "none", None
    if metric in _PAIRED:
        o1 = _outcomes(rows1, mutator, category, metric)
        o2 = _outcomes(rows2, mutator, category, metric)
        if o1 and set(o1) == set(o2):
            b = sum(1 for k in o1 if o1[k] and not o2[k])
            c = sum(1 for k in o1 if not o1[k] and o2[k])
            return "mcnemar-exact", mcnemar_exact(b, c)
    return "two-proportion-z", two_proportion_z(before.successes, before.n, after.successes,
                                                after.n)


def compare_reports(dir1: str | Path, dir2: str | Path, *, alpha: float = 0.05) -> Comparison:
    """Compare run ``dir1`` (before) with run ``dir2`` (after); see the module docstring.

    Raises
    ------
    InputDataError
        A folder has no readable ``report.json``.
    ConfigError
        ``alpha`` outside (0, 1).
    """
    from fairframe.redteam.run import load_report
    from fairframe.stats.significance import benjamini_hochberg

    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha}")
    p1, p2 = Path(dir1), Path(dir2)
    d1, d2 = load_report(p1), load_report(p2)
    rows1 = [RowResult.from_dict(r) for r in d1.get("rows", [])]
    rows2 = [RowResult.from_dict(r) for r in d2.get("rows", [])]
    warnings: list[str] = []
    m1, m2 = d1.get("meta") or {}, d2.get("meta") or {}
    ids1 = {(r.item_id, r.original) for r in rows1 if r.mutator == "none"}
    ids2 = {(r.item_id, r.original) for r in rows2 if r.mutator == "none"}
    if ids1 != ids2:
        warnings.append(f"the runs used different suites ({len(ids1 & ids2)} rows in common, "
                        f"{len(ids1 ^ ids2)} in one only): unpaired tests, prompt changes only "
                        "for common rows")
    if m1.get("seed") != m2.get("seed"):
        warnings.append(f"different seeds ({m1.get('seed')} vs {m2.get('seed')}): mutated "
                        "prompts differ between the runs")
    if m1.get("mutators") != m2.get("mutators"):
        warnings.append(f"different mutators ({m1.get('mutators')} vs {m2.get('mutators')}): "
                        "only the ones in both are compared")
    g1 = {(g["mutator"], g["category"]): g for g in d1.get("metrics", [])}
    g2 = {(g["mutator"], g["category"]): g for g in d2.get("metrics", [])}
    raw: list[tuple[str, str, str, Estimate, Estimate, str, float | None]] = []
    for key in [k for k in g1 if k in g2]:
        mutator, category = key
        for metric in COMPARED:
            if g1[key].get(metric) is None or g2[key].get(metric) is None:
                continue
            b, a = Estimate.from_dict(g1[key][metric]), Estimate.from_dict(g2[key][metric])
            test, p = _test(metric, b, a, rows1, rows2, mutator, category)
            raw.append((mutator, category, metric, b, a, test, p))
    # two false-discovery families: the pooled ("all") groups, and the per-category groups
    qs: list[float] = [math.nan] * len(raw)
    for pooled in (True, False):
        idx = [i for i, r in enumerate(raw) if (r[1] == "all") == pooled]
        if idx:
            pvals = [math.nan if (pv := raw[i][6]) is None else pv for i in idx]
            fam = benjamini_hochberg(pvals)
            for i, q in zip(idx, list(fam), strict=True):
                qs[i] = float(q)
    deltas = []
    for (mutator, category, metric, b, a, test, p), q in zip(raw, qs, strict=True):
        qv = None if p is None or math.isnan(q) else q
        delta = None if a.value is None or b.value is None else a.value - b.value
        sig = qv is not None and qv < alpha
        if delta is None:
            change = "n/a"
        elif not sig or delta == 0:
            change = "same"
        else:
            change = "better" if (delta > 0) == COMPARED[metric] else "worse"
        deltas.append(MetricDelta(mutator, category, metric, b, a, delta, test, p, qv, sig,
                                  change))
    by1 = {(r.mutator, r.item_id): r for r in rows1}
    through: list[PromptChange] = []
    blocked: list[PromptChange] = []
    for r2 in rows2:
        r1 = by1.get((r2.mutator, r2.item_id))
        if r1 is None or r1.is_error or r2.is_error or r1.original != r2.original \
                or r1.got_through == r2.got_through:
            continue
        pc = PromptChange(r2.mutator, r2.item_id, r2.category, r2.expected, r1.prompt,
                          r2.prompt, r1.action, r2.action)
        (through if r2.got_through else blocked).append(pc)
    order = {"block": 0, "allow": 1}

    def sort_key(c: PromptChange) -> tuple[int, str, str, str]:
        return (order.get(c.expected, 2), c.category, c.mutator, c.item_id)

    return Comparison(before=_summary(p1, d1), after=_summary(p2, d2), deltas=tuple(deltas),
                      newly_through=tuple(sorted(through, key=sort_key)),
                      newly_blocked=tuple(sorted(blocked, key=sort_key)), warnings=tuple(warnings),
                      alpha=alpha)
