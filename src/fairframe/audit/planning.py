"""How many images per caption an audit needs: the numbers behind ``fairframe audit plan``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from fairframe.stats import (
    power_share,
    sample_size_gof,
    sample_size_half_width,
    sample_size_share,
)

__all__ = ["SampleSizePlan", "plan_sample_size"]


@dataclass(frozen=True)
class SampleSizePlan:
    """Images per caption needed for three kinds of claim, at level ``alpha`` and ``power``.

    Attributes
    ----------
    share_deviation:
        To detect that one class's share differs from ``p0`` by ``delta`` (two-sided exact
        binomial test).
    goodness_of_fit:
        To detect a K-class deviation of effect size ``w`` (Cohen's w) with the chi-square test.
    half_width:
        For a Wilson interval of half-width ``half_width`` around a share of 0.5 (the widest case).
    power_at_10:
        The power of the share test with the 10 images per caption research tools use.
    """

    classes: int
    delta: float
    p0: float
    w: float
    alpha: float
    power: float
    target_half_width: float
    share_deviation: int
    goodness_of_fit: int
    half_width: int
    power_at_10: float

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return asdict(self)


def plan_sample_size(
    *,
    classes: int = 2,
    delta: float = 0.1,
    p0: float | None = None,
    w: float = 0.3,
    alpha: float = 0.05,
    power: float = 0.8,
    half_width: float = 0.1,
) -> SampleSizePlan:
    """Images per caption for a share deviation, a K-class effect and an interval width.

    ``p0`` defaults to the uniform share ``1 / classes``. Formulas and their checks against
    simulation are in :mod:`fairframe.stats.power`.
    """
    if classes < 2:
        raise ValueError(f"classes must be at least 2, got {classes}")
    base = 1.0 / classes if p0 is None else p0
    return SampleSizePlan(
        classes=classes, delta=delta, p0=base, w=w, alpha=alpha, power=power,
        target_half_width=half_width,
        share_deviation=sample_size_share(delta, base, alpha, power, method="exact"),
        goodness_of_fit=sample_size_gof(w, classes, alpha, power),
        half_width=sample_size_half_width(half_width, 0.5),
        power_at_10=float(power_share(10, delta, base, alpha, method="exact")),
    )
