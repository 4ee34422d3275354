"""Hugging Face text-classifier stage: any sequence classifier, its labels mapped to categories.

:class:`HFTextClassifier` runs a 🤗 transformers text-classification model (a hub id or a local
``save_pretrained`` folder; ``AutoTokenizer`` + ``AutoModelForSequenceClassification``) on the
normalized positive prompt (:attr:`~fairframe.guard.normalize.NormalizedPrompt.main_text`; never
the negative prompt) and turns its class probabilities into policy-category scores.

**Probabilities.** A model whose ``config.problem_type`` is ``"multi_label_classification"`` gets a
sigmoid per label; any other model a softmax over all its labels (``multi_label=`` overrides).

**Labels to categories.** ``labels`` maps the model's label names to category ids, e.g.
``{"nsfw": "sexual", "toxic": "hate"}``. A label name matches case-insensitively, with runs of
spaces, ``-``, ``/`` and ``_`` treated alike (``"Sexual/Minors"`` matches ``"sexual_minors"``).
Labels the mapping leaves out are ignored (a ``"safe"`` class still takes its share of a softmax).
When several labels map to one category, the category's score is the **maximum** of their
probabilities. Categories no label maps to are absent from the result ("no opinion" to fusion).
Without ``labels``, :data:`DEFAULT_LABELS` is used: common label names of public moderation models
(``nsfw``, ``porn``, ``nudity``, ``violence``, ``gore``, ``self-harm``, ``hate``, ``toxic``,
``identity_attack``, ``harassment``, ``sexual/minors``, ``illicit``, ...).

These are the model's probabilities, as calibrated as the model is; fusion may recalibrate them.

torch and transformers are imported on first use; without them the first call raises
:class:`~fairframe.errors.MissingDependencyError` naming ``fairframe[hf]``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from fairframe._deps import require
from fairframe.backends._hf import (
    HFModelOptions,
    LazyModel,
    check_common_options,
    dtype_kwarg,
    loading_model,
    model_failures,
    place_model,
)
from fairframe.config import enum_member
from fairframe.errors import ConfigError
from fairframe.guard.decision import Evidence, Finding
from fairframe.guard.normalize import NormalizedPrompt
from fairframe.guard.policy import Category
from fairframe.guard.stage import StageResult
from fairframe.types import JSONValue

__all__ = [
    "DEFAULT_LABELS",
    "STAGE",
    "HFTextClassifier",
    "best_per_category",
    "model_labels",
    "normalize_label",
]

#: Default stage name used in findings and latencies.
STAGE = "hf_classifier"

_PURPOSE = "the Hugging Face text-classifier guard stage"
_SEP = re.compile(r"[\s\-/_]+")


def normalize_label(name: str) -> str:
    """The form label names are compared in: lower case, runs of spaces ``- / _`` as one ``_``.

    >>> normalize_label("Sexual/Minors")
    'sexual_minors'
    """
    return _SEP.sub("_", str(name).strip().lower()).strip("_")


def _table(groups: Mapping[str, str]) -> Mapping[str, str]:
    out: dict[str, str] = {}
    for category, names in groups.items():
        for name in names.split():
            out[normalize_label(name)] = category
    return MappingProxyType(out)


#: The heuristic mapping used when ``labels`` is not given (normalized label name -> category).
DEFAULT_LABELS: Mapping[str, str] = _table({
    "sexual": "nsfw porn pornography sexual sexual_explicit sexually_explicit explicit sex "
              "obscene hentai erotic sexy",
    "nudity": "nudity nude naked",
    "sexual_minors": "sexual_minors sexual/minors csam child_sexual_exploitation "
                     "child_exploitation",
    "violence": "violence violent violence/graphic graphic_violence gore threat threatening "
                "violent_crimes weapons",
    "shocking": "shocking disgusting",
    "self_harm": "self_harm self-harm selfharm suicide self-harm/intent self-harm/instructions",
    "hate": "hate hateful hate_speech hate/threatening identity_attack identity_hate harassment "
            "harassment/threatening insult toxic toxicity severe_toxic severe_toxicity offensive "
            "abusive discrimination",
    "illegal": "illegal illicit illicit/violent illegal_activity drugs crime criminal_planning "
               "non_violent_crimes",
    "privacy": "privacy pii",
    "deception": "deception misinformation disinformation elections",
    "copyright": "copyright intellectual_property",
    "adversarial": "gibberish word_salad jailbreak injection prompt_injection",
})


def _check_category(category: object, where: str) -> str:
    return enum_member(Category, str(category), "guard category", where=where).value


def model_labels(config: Any, multi_label: bool | None) -> tuple[tuple[str, ...], bool]:
    """A classifier config's label names in id order, and whether its outputs are independent
    sigmoids (``multi_label``, else the config's ``problem_type``)."""
    id2label = {int(k): str(v) for k, v in (config.id2label or {}).items()}
    labels = tuple(id2label.get(i, f"LABEL_{i}") for i in range(int(config.num_labels)))
    multi = (multi_label if multi_label is not None
             else config.problem_type == "multi_label_classification")
    return labels, bool(multi)


def best_per_category(row: Sequence[float], mapped: Sequence[tuple[int, str, str]]
                      ) -> dict[str, tuple[float, str]]:
    """Per category, the highest probability among the labels mapped to it, and that label
    (``mapped`` holds ``(label index, label name, category)``)."""
    best: dict[str, tuple[float, str]] = {}
    for index, label, category in mapped:
        p = row[index]
        if category not in best or p > best[category][0]:
            best[category] = (p, label)
    return best


@dataclass(frozen=True)
class _Loaded:
    model: Any
    tokenizer: Any
    device: str
    max_length: int
    multi_label: bool
    labels: tuple[str, ...]  # the model's label names, in id order
    mapped: tuple[tuple[int, str, str], ...]  # (label index, label name, category)


class HFTextClassifier(HFModelOptions):
    """Prompt stage running a Hugging Face text-classification model (see the module docstring).

    Parameters
    ----------
    model:
        A hub id (``"org/name"``), a local ``save_pretrained`` folder, or
        ``"tiny://text-classifier"`` (a tiny random model for tests).
    labels:
        Model label name -> category id; ``None`` uses :data:`DEFAULT_LABELS`.
    name:
        Stage id in findings, latencies and fusion weights; give each instance its own when
        several run side by side.
    revision:
        Hub revision (branch, tag or commit); pin a commit for reproducible results.
    device:
        ``"auto"`` (CUDA, then Apple MPS, then CPU) or a torch device such as ``"cuda:1"``.
    dtype:
        ``"float32"``, ``"bfloat16"`` or ``"float16"`` (refused on CPU).
    batch_size:
        Most prompts per forward pass.
    max_length:
        Longest input in tokens (longer prompts are truncated); also capped by the tokenizer's
        ``model_max_length`` and the model's ``max_position_embeddings``.
    multi_label:
        ``True`` for a sigmoid per label, ``False`` for a softmax; ``None`` reads
        ``config.problem_type``.
    finding_threshold:
        A category scoring at least this gets a finding (evidence: the positive prompt and the
        label that gave the score).
    languages:
        Codes of the languages the model reads (``["en"]`` for an English model); on a prompt
        the lexicon finds to be in another language, the fusion caps its evidence at
        ``language_cap`` (:mod:`~fairframe.guard.language`). ``None`` (the default): any.

    Raises
    ------
    ConfigError
        An option is invalid, or ``labels`` maps to an unknown category (the message lists the
        allowed ones). A mapping that names labels the model lacks, or a model none of whose
        labels map to a category, is reported on the first call.

    Examples
    --------
    >>> from fairframe.guard.normalize import normalize
    >>> clf = HFTextClassifier(model="michellejieli/NSFW_text_classifier",
    ...                        labels={"NSFW": "sexual"})  # doctest: +SKIP
    >>> clf.scan_batch([normalize("a cat on a sofa")])[0].scores  # doctest: +SKIP
    {'sexual': 0.01}
    """

    #: Largest number of prompts a call should receive at once.
    max_batch_size: int

    def __init__(
        self,
        *,
        model: str,
        labels: Mapping[str, str] | None = None,
        name: str = STAGE,
        revision: str | None = None,
        device: str = "auto",
        dtype: str = "float32",
        batch_size: int = 16,
        max_length: int = 256,
        multi_label: bool | None = None,
        finding_threshold: float = 0.5,
        languages: Sequence[str] | None = None,
    ) -> None:
        who = "HF text classifier"
        check_common_options(model, dtype, batch_size, who=who)
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{who}: name must be a non-empty string")
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
            raise ConfigError(f"{who}: max_length must be an integer >= 2, got {max_length!r}")
        if multi_label is not None and not isinstance(multi_label, bool):
            raise ConfigError(f"{who}: multi_label must be true, false or null")
        if not (isinstance(finding_threshold, int | float) and 0.0 <= finding_threshold <= 1.0):
            raise ConfigError(
                f"{who}: finding_threshold must be in [0, 1], got {finding_threshold!r}"
            )
        if languages is not None and (
                isinstance(languages, str) or not all(isinstance(x, str) and x for x in languages)):
            raise ConfigError(f"{who}: languages must be a list of language codes such as "
                              f"[\"en\"], or null for a model that reads any language")
        #: Language codes the model reads (``None``: any); the fusion caps its evidence on
        #: prompts in other languages (:mod:`~fairframe.guard.language`).
        self.languages: frozenset[str] | None = (
            None if languages is None else frozenset(x.lower() for x in languages))
        mapping: dict[str, str] | None = None
        if labels is not None:
            if not isinstance(labels, Mapping) or not labels:
                raise ConfigError(f"{who}: labels must be a non-empty mapping of label -> category")
            mapping = {}
            for label, category in labels.items():
                mapping[normalize_label(label)] = _check_category(
                    category, f"{who}: labels[{label!r}]"
                )
        super().__init__(
            model=model, revision=revision, device=device, dtype=dtype, batch_size=batch_size
        )
        self.name = name
        self.labels: Mapping[str, str] | None = (
            None if mapping is None else MappingProxyType(mapping)
        )
        self.max_length = max_length
        self.multi_label = multi_label
        self.finding_threshold = float(finding_threshold)
        self._loaded: LazyModel[_Loaded] = LazyModel(self._load)

    # -- identity ---------------------------------------------------------------------------
    def identity(self) -> Mapping[str, JSONValue]:
        """Backend, model, revision, dtype, label mapping, max length, probability mode and
        the languages it reads."""
        labels: JSONValue = None if self.labels is None else dict(self.labels)
        return {
            **self.base_identity("hf-text-classifier"),
            "labels": labels,
            "max_length": self.max_length,
            "multi_label": self.multi_label,
            "languages": None if self.languages is None else sorted(self.languages),
        }

    # -- loading ----------------------------------------------------------------------------
    def _load(self) -> _Loaded:
        require("torch", _PURPOSE)
        transformers = require("transformers", _PURPOSE)
        device, torch_dtype, source = self._load_target()
        kwargs: dict[str, Any] = {"revision": self.revision} if self.revision else {}
        with loading_model(self.model):
            tokenizer = transformers.AutoTokenizer.from_pretrained(source, **kwargs)
            model = transformers.AutoModelForSequenceClassification.from_pretrained(
                source, **kwargs, **{dtype_kwarg(transformers): torch_dtype}
            )
        model = place_model(model, device, f"text classifier {self.model!r}")
        config = model.config
        labels, multi = model_labels(config, self.multi_label)
        return _Loaded(
            model=model,
            tokenizer=tokenizer,
            device=device,
            max_length=self._effective_max_length(tokenizer, config),
            multi_label=multi,
            labels=labels,
            mapped=self._map_labels(labels),
        )

    def _effective_max_length(self, tokenizer: Any, config: Any) -> int:
        limit = self.max_length
        tok_max = getattr(tokenizer, "model_max_length", None)
        if isinstance(tok_max, int) and 0 < tok_max < 1_000_000:
            limit = min(limit, tok_max)
        pos_max = getattr(config, "max_position_embeddings", None)
        if isinstance(pos_max, int) and pos_max > 0:
            limit = min(limit, pos_max)
        return limit

    def _map_labels(self, labels: Sequence[str]) -> tuple[tuple[int, str, str], ...]:
        table = DEFAULT_LABELS if self.labels is None else self.labels
        shown = ", ".join(repr(label) for label in labels)
        if self.labels is not None:
            have = {normalize_label(label) for label in labels}
            missing = [key for key in self.labels if key not in have]
            if missing:
                raise ConfigError(
                    f"HF text classifier {self.model!r}: labels {missing} are not labels of the "
                    f"model; its labels are {shown}"
                )
        mapped = tuple(
            (i, label, table[normalize_label(label)])
            for i, label in enumerate(labels)
            if normalize_label(label) in table
        )
        if not mapped:
            raise ConfigError(
                f"HF text classifier {self.model!r}: none of its labels ({shown}) maps to a policy "
                "category; pass labels={'<model label>': '<category>', ...}"
            )
        return mapped

    # -- scoring ------------------------------------------------------------------------------
    def label_probabilities(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """The model's probability of every one of its labels, per text (sigmoid or softmax)."""
        loaded = self._loaded.get()
        rows = self._predict(loaded, list(texts))
        return [dict(zip(loaded.labels, row, strict=True)) for row in rows]

    def _predict(self, loaded: _Loaded, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        torch = require("torch", _PURPOSE)
        out: list[list[float]] = []
        with model_failures("text classifier", self.model), torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                enc = loaded.tokenizer(
                    texts[start:start + self.batch_size],
                    padding=True,
                    truncation=True,
                    max_length=loaded.max_length,
                    return_tensors="pt",
                )
                enc = {k: v.to(loaded.device) for k, v in enc.items()}
                logits = loaded.model(**enc).logits.float()
                probs = torch.sigmoid(logits) if loaded.multi_label else logits.softmax(dim=-1)
                out.extend(probs.cpu().tolist())
        return [[min(1.0, max(0.0, float(p))) for p in row] for row in out]

    def scan_batch(self, prompts: Sequence[NormalizedPrompt]) -> list[StageResult]:
        """Score every prompt's positive text; one :class:`StageResult` per prompt, in order.

        A prompt whose normalized text is blank gets an empty result (no opinion).

        Raises
        ------
        MissingDependencyError
            torch or transformers is not installed.
        ModelLoadError
            The model cannot be loaded (the message names it and the fix).
        ConfigError
            The label mapping does not fit the model.
        BackendError
            The model failed on the input.
        """
        todo = [i for i, p in enumerate(prompts) if p.main_text.strip()]
        results = [StageResult() for _ in prompts]
        if not todo:
            return results
        loaded = self._loaded.get()
        rows = self._predict(loaded, [prompts[i].main_text for i in todo])
        for i, row in zip(todo, rows, strict=True):
            results[i] = self._result(prompts[i], row, loaded)
        return results

    def _result(self, prompt: NormalizedPrompt, row: list[float], loaded: _Loaded
                ) -> StageResult:
        best = best_per_category(row, loaded.mapped)
        findings: list[Finding] = []
        span: tuple[int, int] | None = None
        for category, (p, label) in best.items():
            if p < self.finding_threshold:
                continue
            if span is None:
                stripped = prompt.main_text.strip()
                start = prompt.main_text.find(stripped)
                span = prompt.span(start, start + len(stripped))
            findings.append(Finding(
                stage=self.name,
                category=category,
                score=p,
                evidence=Evidence(span=span, text=prompt.original[span[0]:span[1]], label=label),
            ))
        return StageResult(
            scores={category: p for category, (p, _) in best.items()}, findings=tuple(findings)
        )
