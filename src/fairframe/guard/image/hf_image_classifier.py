"""Hugging Face image-classifier stage: any image classifier, its labels mapped to categories.

:class:`HFImageClassifier` runs a 🤗 transformers image-classification model (a hub id, a local
``save_pretrained`` folder, or ``tiny://image-classifier``; ``AutoImageProcessor`` +
``AutoModelForImageClassification``) on RGB images and turns its class probabilities into
policy-category scores. Examples of public models: ``Falconsai/nsfw_image_detection`` (labels
``normal``, ``nsfw``), ``AdamCodd/vit-base-nsfw-detector`` (``sfw``, ``nsfw``).

**Probabilities.** A model whose ``config.problem_type`` is ``"multi_label_classification"`` gets a
sigmoid per label; any other model a softmax over all its labels (``multi_label=`` overrides).

**Labels to categories.** ``labels`` maps the model's label names to category ids, or to ``None``
(or the string ``"none"``, for TOML files, which have no null) for a label that means "nothing"
(e.g. ``{"nsfw": "sexual", "normal": None}``). Names match as in
:func:`~fairframe.guard.hf_classifier.normalize_label` (case-insensitive, runs of spaces, ``-``,
``/`` and ``_`` alike). A key that is not a label of the model is an error on the first call (it
lists the model's labels); model labels the mapping leaves out are ignored (a ``safe`` class still
takes its share of a softmax). Without ``labels``, every model label must already be a category id
(``nudity``, ``violence``, ...) or one of the neutral names :data:`NEUTRAL_LABELS`; any other label
is a :class:`~fairframe.errors.ConfigError` naming it and the fix. When several labels map to one
category, its score is the **maximum** of their probabilities. Categories no label maps to are
absent from the result ("no opinion" to fusion).

**Evidence.** A category scoring at least ``finding_threshold`` gets one whole-image finding (no
box) whose label is the model label behind the score.

torch and transformers are imported on first use; without them the first call raises
:class:`~fairframe.errors.MissingDependencyError` naming ``fairframe[hf]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

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
from fairframe.guard.hf_classifier import best_per_category, model_labels, normalize_label
from fairframe.guard.policy import Category
from fairframe.guard.stage import StageResult
from fairframe.images import to_rgb
from fairframe.types import JSONValue

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["NEUTRAL_LABELS", "STAGE", "HFImageClassifier"]

#: Default stage name used in findings, latencies and fusion weights.
STAGE = "hf_image_classifier"

#: Label names read as "nothing to report" when ``labels`` is not given.
NEUTRAL_LABELS: frozenset[str] = frozenset(
    {"safe", "sfw", "normal", "neutral", "benign", "none", "other", "ok", "clean"}
)

_PURPOSE = "the Hugging Face image-classifier guard stage"
_WHO = "HF image classifier"


@dataclass(frozen=True)
class _Loaded:
    model: Any
    processor: Any
    device: str
    dtype: Any
    multi_label: bool
    labels: tuple[str, ...]  # the model's label names, in id order
    mapped: tuple[tuple[int, str, str], ...]  # (label index, label name, category)


class HFImageClassifier(HFModelOptions):
    """Image stage running a Hugging Face image-classification model (module docstring).

    Parameters
    ----------
    model:
        A hub id (``"org/name"``), a local ``save_pretrained`` folder, or
        ``"tiny://image-classifier"`` (a tiny random model for tests).
    labels:
        Model label name -> category id, or ``None`` to ignore that label. ``None`` (the default)
        requires the model's labels to be category ids or :data:`NEUTRAL_LABELS`.
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
        Most images per forward pass.
    local_files_only:
        Never contact the hub (the files must be cached or the model a local folder).
    multi_label:
        ``True`` for a sigmoid per label, ``False`` for a softmax; ``None`` reads
        ``config.problem_type``.
    finding_threshold:
        A category scoring at least this gets a finding.

    Raises
    ------
    ConfigError
        An option is invalid, or ``labels`` maps to an unknown category (the message lists the
        allowed ones). Label problems that need the model are reported on the first call.
    """

    #: Largest number of images a call should receive at once.
    max_batch_size: int

    def __init__(
        self,
        *,
        model: str,
        labels: Mapping[str, str | None] | None = None,
        name: str = STAGE,
        revision: str | None = None,
        device: str = "auto",
        dtype: str = "float32",
        batch_size: int = 16,
        local_files_only: bool = False,
        multi_label: bool | None = None,
        finding_threshold: float = 0.5,
    ) -> None:
        check_common_options(model, dtype, batch_size, who=_WHO)
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{_WHO}: name must be a non-empty string")
        if multi_label is not None and not isinstance(multi_label, bool):
            raise ConfigError(f"{_WHO}: multi_label must be true, false or null")
        if not isinstance(local_files_only, bool):
            raise ConfigError(f"{_WHO}: local_files_only must be true or false")
        if not (isinstance(finding_threshold, int | float) and 0.0 <= finding_threshold <= 1.0):
            raise ConfigError(
                f"{_WHO}: finding_threshold must be in [0, 1], got {finding_threshold!r}"
            )
        mapping: dict[str, str | None] | None = None
        if labels is not None:
            if not isinstance(labels, Mapping) or not labels:
                raise ConfigError(
                    f"{_WHO}: labels must be a non-empty mapping of label -> category (or null)"
                )
            mapping = {}
            for label, category in labels.items():
                ignore = category is None or str(category).strip().lower() == "none"
                mapping[normalize_label(label)] = None if ignore else enum_member(
                    Category, str(category), "guard category", where=f"{_WHO}: labels[{label!r}]"
                ).value
        super().__init__(
            model=model, revision=revision, device=device, dtype=dtype, batch_size=batch_size
        )
        self.name = name
        self.labels: Mapping[str, str | None] | None = (
            None if mapping is None else MappingProxyType(mapping)
        )
        self.local_files_only = local_files_only
        self.multi_label = multi_label
        self.finding_threshold = float(finding_threshold)
        self._loaded: LazyModel[_Loaded] = LazyModel(self._load)

    # -- identity -----------------------------------------------------------------------------
    def identity(self) -> Mapping[str, JSONValue]:
        """Backend, model, revision, dtype, label mapping and probability mode."""
        labels: JSONValue = None if self.labels is None else dict(self.labels)
        return {
            **self.base_identity("hf-image-classifier"),
            "labels": labels,
            "multi_label": self.multi_label,
        }

    # -- loading ------------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Load the model now (the first check would otherwise pay for it)."""
        self._loaded.get()

    def _load(self) -> _Loaded:
        require("torch", _PURPOSE)
        transformers = require("transformers", _PURPOSE)
        device, torch_dtype, source = self._load_target()
        kwargs: dict[str, Any] = {"local_files_only": True} if self.local_files_only else {}
        if self.revision:
            kwargs["revision"] = self.revision
        proc_kwargs = dict(kwargs)
        if int(str(transformers.__version__).split(".")[0]) >= 5:
            proc_kwargs["backend"] = "pil"  # inputs are PIL images; needs no torchvision
        with loading_model(self.model):
            processor = transformers.AutoImageProcessor.from_pretrained(source, **proc_kwargs)
            model = transformers.AutoModelForImageClassification.from_pretrained(
                source, **kwargs, **{dtype_kwarg(transformers): torch_dtype}
            )
        model = place_model(model, device, f"image classifier {self.model!r}")
        config = model.config
        labels, multi = model_labels(config, self.multi_label)
        return _Loaded(
            model=model,
            processor=processor,
            device=device,
            dtype=torch_dtype,
            multi_label=multi,
            labels=labels,
            mapped=self._map_labels(labels),
        )

    def _map_labels(self, labels: Sequence[str]) -> tuple[tuple[int, str, str], ...]:
        shown = ", ".join(repr(label) for label in labels)
        norm = [normalize_label(label) for label in labels]
        known = {c.value for c in Category}
        if self.labels is None:
            unknown = [lab for lab, n in zip(labels, norm, strict=True)
                       if n not in known and n not in NEUTRAL_LABELS]
            if unknown:
                raise ConfigError(
                    f"{_WHO} {self.model!r}: labels {unknown} are not policy categories; pass "
                    "labels={'<model label>': '<category>' or null, ...} (model labels: "
                    f"{shown}; categories: {', '.join(sorted(known))})"
                )
            table: Mapping[str, str | None] = {n: (n if n in known else None) for n in norm}
        else:
            missing = [key for key in self.labels if key not in set(norm)]
            if missing:
                raise ConfigError(
                    f"{_WHO} {self.model!r}: labels {missing} are not labels of the model; its "
                    f"labels are {shown}"
                )
            table = self.labels
        mapped = tuple(
            (i, label, cat)
            for i, (label, n) in enumerate(zip(labels, norm, strict=True))
            if (cat := table.get(n)) is not None
        )
        if not mapped:
            raise ConfigError(
                f"{_WHO} {self.model!r}: none of its labels ({shown}) maps to a policy category; "
                "pass labels={'<model label>': '<category>', ...}"
            )
        return mapped

    # -- scoring ------------------------------------------------------------------------------
    def label_probabilities(self, images: Sequence[Image.Image]) -> list[dict[str, float]]:
        """The model's probability of every one of its labels, per image (sigmoid or softmax)."""
        loaded = self._loaded.get()
        rows = self._predict(loaded, list(images))
        return [dict(zip(loaded.labels, row, strict=True)) for row in rows]

    def _predict(self, loaded: _Loaded, images: list[Image.Image]) -> list[list[float]]:
        if not images:
            return []
        torch = require("torch", _PURPOSE)
        out: list[list[float]] = []
        with model_failures("image classifier", self.model), torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                batch = [to_rgb(img) for img in images[start:start + self.batch_size]]
                enc = loaded.processor(images=batch, return_tensors="pt")
                pixels = enc["pixel_values"].to(device=loaded.device, dtype=loaded.dtype)
                logits = loaded.model(pixel_values=pixels).logits.float()
                probs = torch.sigmoid(logits) if loaded.multi_label else logits.softmax(dim=-1)
                out.extend(probs.cpu().tolist())
        return [[min(1.0, max(0.0, float(p))) for p in row] for row in out]

    def check_images(
        self, images: Sequence[Image.Image], prompts: Sequence[str | None]
    ) -> list[StageResult]:
        """Classify every image; one :class:`StageResult` per image, in order (``prompts`` is not
        used).

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
        if not images:
            return []
        loaded = self._loaded.get()
        rows = self._predict(loaded, list(images))
        return [self._result(row, loaded) for row in rows]

    def _result(self, row: list[float], loaded: _Loaded) -> StageResult:
        best = best_per_category(row, loaded.mapped)
        findings = tuple(
            Finding(self.name, category, p, Evidence(None, f"{label} p={p:.3f}", label))
            for category, (p, label) in best.items()
            if p >= self.finding_threshold
        )
        return StageResult(scores={c: p for c, (p, _) in best.items()}, findings=findings)
