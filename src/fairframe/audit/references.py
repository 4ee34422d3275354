"""Resolve the config's reference distributions and confusion matrices against a run's biases.

Biases are discovered during the run, so these checks run right after the proposals are merged and
before any image is generated: a reference naming an unknown bias, caption or class is an error
that lists what exists, and no GPU time is spent first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from fairframe.audit.captions import Caption
from fairframe.audit.merge import MergeResult
from fairframe.config import ConfusionConfig, ReferenceConfig
from fairframe.errors import ConfigError

__all__ = ["resolve_confusions", "resolve_references"]

#: ``(caption_id, bias_id)`` → shares aligned with the bias's classes.
References = dict[tuple[str, str], tuple[float, ...]]


def _bias_or_error(merge: MergeResult, bias_id: str, where: str) -> tuple[str, ...]:
    for b in merge.biases:
        if b.bias_id == bias_id:
            return tuple(b.classes)
    names = ", ".join(b.bias_id for b in merge.biases) or "(none)"
    raise ConfigError(f"{where}: bias {bias_id!r} is not in this run; its biases are: {names}")


def resolve_references(
    refs: Sequence[ReferenceConfig], merge: MergeResult, captions: Sequence[Caption]
) -> References:
    """Map each (caption, bias) that has a configured reference to its class shares.

    A reference with a ``caption`` applies to that caption only (matched by id, then by exact
    text) and wins over one without. Shares must name every class of the bias, be non-negative and
    sum to 1 (within 1e-6).
    """
    by_text = {c.text: c.id for c in captions}
    ids = {c.id for c in captions}
    out: References = {}
    specific: References = {}
    for i, ref in enumerate(refs):
        where = f"[[scoring.references]] #{i + 1}"
        classes = _bias_or_error(merge, ref.bias, where)
        missing = [c for c in classes if c not in ref.shares]
        extra = [c for c in ref.shares if c not in classes]
        if missing or extra:
            raise ConfigError(
                f"{where}: shares must name exactly the classes of {ref.bias!r} "
                f"({', '.join(classes)}); missing {missing or 'none'}, unknown {extra or 'none'}"
            )
        shares = tuple(float(ref.shares[c]) for c in classes)
        if any(s < 0 or not math.isfinite(s) for s in shares) or abs(sum(shares) - 1) > 1e-6:
            raise ConfigError(f"{where}: shares must be >= 0 and sum to 1, got {sum(shares):g}")
        bias = next(b for b in merge.biases if b.bias_id == ref.bias)
        if ref.caption is None:
            for cid in bias.captions:
                out[(cid, ref.bias)] = shares
            continue
        found = ref.caption if ref.caption in ids else by_text.get(ref.caption)
        if found is None:
            raise ConfigError(
                f"{where}: caption {ref.caption!r} is neither a caption id nor a caption text "
                "of this run"
            )
        if found not in bias.captions:
            raise ConfigError(f"{where}: bias {ref.bias!r} does not apply to caption {found!r}")
        specific[(found, ref.bias)] = shares
    out.update(specific)
    return out


def resolve_confusions(
    confs: Sequence[ConfusionConfig], merge: MergeResult
) -> dict[str, list[list[int]]]:
    """Confusion counts per bias id, rows and columns reordered to the bias's classes
    (plus an ``unknown`` column when given)."""
    out: dict[str, list[list[int]]] = {}
    for i, conf in enumerate(confs):
        where = f"[[scoring.confusion]] #{i + 1}"
        classes = _bias_or_error(merge, conf.bias, where)
        if sorted(conf.classes) != sorted(classes):
            raise ConfigError(
                f"{where}: classes must be the classes of {conf.bias!r}: {', '.join(classes)}"
            )
        k = len(classes)
        rows = conf.counts
        if len(rows) != k or any(len(r) not in (k, k + 1) for r in rows):
            raise ConfigError(
                f"{where}: counts must be {k} rows of {k} (or {k + 1}, with unknown) columns"
            )
        if any(v < 0 for r in rows for v in r):
            raise ConfigError(f"{where}: counts must be non-negative")
        order = [conf.classes.index(c) for c in classes]
        reordered = []
        for i_true in order:
            row = rows[i_true]
            new = [row[j] for j in order] + ([row[k]] if len(row) == k + 1 else [])
            reordered.append(new)
        out[conf.bias] = reordered
    return out


def references_for_bias(references: Mapping[tuple[str, str], tuple[float, ...]],
                        bias_id: str) -> dict[str, tuple[float, ...]]:
    """Caption id → shares for one bias."""
    return {cid: s for (cid, b), s in references.items() if b == bias_id}
