"""The image path: decode -> classify (several stages) -> fuse -> decide.

:class:`ImageGuard` checks generated (or uploaded) images against the same policy as the prompt
path::

    from fairframe.guard.image import ImageGuard

    guard = ImageGuard()                        # NudeNet, default policy
    d = guard.check("out.png", prompt="a beach at sunset")
    d.action, d.categories["nudity"], [f.evidence.box for f in d.findings]

**Input.** Anything :func:`fairframe.images.open_image` accepts: a file path, encoded bytes, a
``PIL.Image`` or a numpy array (RGB order; pass ``channel_order="bgr"`` for OpenCV arrays).
Decoding and conversion to 8-bit RGB happen there, once (modes, alpha, 16-bit, animation and the
pixel limit are documented in :mod:`fairframe.images`); the time it takes is the ``"decode"``
latency entry. A bad input raises :class:`~fairframe.errors.InputDataError` before any stage runs.

**Stages.** Every stage implements :class:`~fairframe.guard.image.stage.ImageStage` and scores a
batch of RGB images. Stages run in the order given; each stage's latency entry is its batch time
divided by the number of images.

**Combining.** Stage scores are combined per category by the prompt path's
:class:`~fairframe.guard.fusion.Fusion` (reused, not copied): a weighted noisy-OR
``q_c = 1 - prod_s (1 - w_s,c * p_s,c)`` over the stages that score ``c`` (absent = no opinion;
``weights`` keys are ``"stage"`` or ``"stage:category"``, default 1.0), the ``sexual_minors``
evidence capped at ``max(q_sexual, q_nudity)`` (the minors gate: a stage that finds "a child" alone
never blocks), and no calibration. Token-soup amplification never applies (no image stage scores
``adversarial``). Every policy category appears in ``Decision.categories`` (0.0 when unscored).
The policy then decides (:func:`~fairframe.guard.decision.decide_action`).

**Failing closed.** A stage named in ``required`` (default: every stage) that raises makes the
check raise :class:`~fairframe.guard.pipeline.GuardUnavailableError`; an optional stage that
raises is skipped and listed in ``Decision.errors``. A stage returning the wrong number of results
is broken and always fails closed.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from fairframe.errors import InputDataError
from fairframe.guard.decision import Decision, Finding, decide_action
from fairframe.guard.fusion import Fusion
from fairframe.guard.image.nudenet_stage import NudeNetStage
from fairframe.guard.image.stage import ImageStage
from fairframe.guard.pipeline import GuardUnavailableError
from fairframe.guard.policy import Category, Policy, default_policy
from fairframe.guard.stage import StageResult
from fairframe.images import ImageSource, open_image
from fairframe.types import JSONValue

__all__ = ["ImageGuard"]


class ImageGuard:
    """The image path of the guard (see the module docstring).

    Parameters
    ----------
    policy:
        The policy that decides; default :func:`~fairframe.guard.policy.default_policy`.
    stages:
        Image stages in run order, with unique ``name`` attributes. Default: one
        :class:`~fairframe.guard.image.nudenet_stage.NudeNetStage` whose ``score_anchor`` maps a
        detection at 0.5 to the policy's ``nudity`` threshold.
    required:
        Names of stages whose failure fails the check closed. Default: every stage.
    weights:
        Fusion reliability weight in ``[0, 1]`` per ``"stage"`` or ``"stage:category"``
        (default 1.0 for all).
    channel_order:
        Channel order of numpy-array inputs: ``"rgb"`` (default) or ``"bgr"`` (OpenCV).

    Raises
    ------
    InputDataError
        No stage, duplicate stage names, or ``required`` names a stage that is not configured.
    ConfigError
        A weight is outside ``[0, 1]``.
    """

    def __init__(
        self,
        *,
        policy: Policy | None = None,
        stages: Sequence[ImageStage] | None = None,
        required: Collection[str] | None = None,
        weights: Mapping[str, float] | None = None,
        channel_order: Literal["rgb", "bgr"] = "rgb",
    ) -> None:
        self.policy = policy if policy is not None else default_policy()
        if stages is None:
            nudity = self.policy.rule(Category.NUDITY).threshold
            anchor = min(max(nudity, 0.01), 0.99)
            stages = [NudeNetStage(score_anchor=(0.5, anchor))]
        names = [s.name for s in stages]
        if not stages:
            raise InputDataError("an image guard needs at least one stage (e.g. NudeNetStage())")
        if len(set(names)) != len(names):
            raise InputDataError(f"image guard stage names must be unique, got {names}")
        self.stages = tuple(stages)
        self.required = frozenset(names if required is None else required)
        unknown = sorted(self.required - set(names))
        if unknown:
            raise InputDataError(f"required stages {unknown} are not configured; stages: {names}")
        if channel_order not in ("rgb", "bgr"):
            raise InputDataError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
        self.channel_order: Literal["rgb", "bgr"] = channel_order
        self.fusion = Fusion(weights=dict(weights or {}))

    @property
    def stage_names(self) -> tuple[str, ...]:
        """The configured stage names, in run order."""
        return tuple(s.name for s in self.stages)

    def warm_up(self) -> None:
        """Load every stage's model now by checking a plain grey 64x64 image (the first real
        check would otherwise pay for the loading)."""
        from PIL import Image

        self.check(Image.new("RGB", (64, 64), (128, 128, 128)))

    # ------------------------------------------------------------------ checking

    def identity(self) -> dict[str, JSONValue]:
        """Policy version, required stages, fusion weights and each stage's identity (its
        ``identity()`` when it has one, else its class name): what to record next to results."""
        stages: dict[str, JSONValue] = {}
        for stage in self.stages:
            ident = getattr(stage, "identity", None)
            stages[stage.name] = (
                dict(ident()) if callable(ident) else {"class": type(stage).__qualname__}
            )
        return {
            "policy_version": self.policy.version,
            "stages": stages,
            "required": sorted(self.required),
            "weights": dict(self.fusion.weights),
        }

    def check(self, image: ImageSource, *, prompt: str | None = None) -> Decision:
        """Check one image (anything :func:`~fairframe.images.open_image` accepts).

        Parameters
        ----------
        image:
            A file path, encoded bytes, a ``PIL.Image`` or a numpy array.
        prompt:
            The prompt the image was generated from, when known (recorded as ``prompt_in`` and
            passed to stages that use it, such as the VLM judge).

        Raises
        ------
        InputDataError
            The image cannot be used (truncated, not an image, over the pixel limit, ...).
        GuardUnavailableError
            A required stage failed (fail closed).
        """
        return self.check_batch([image], [prompt])[0]

    def check_batch(
        self, images: Sequence[ImageSource], prompts: Sequence[str | None] | None = None
    ) -> list[Decision]:
        """Check many images at once (stages see the whole batch). Same errors as
        :meth:`check`, raised for the first bad image."""
        items = list(images)
        texts: list[str | None] = (
            list(prompts) if prompts is not None else [None] * len(items)
        )
        if len(texts) != len(items):
            raise InputDataError("prompts must have one entry per image")
        for p in texts:
            if p is not None and not isinstance(p, str):
                raise InputDataError(f"a prompt must be a string or None, got {type(p).__name__}")
        if not items:
            return []
        decoded = []
        decode_ms = []
        for i, item in enumerate(items):
            t = time.perf_counter()
            named = len(items) > 1 and not isinstance(item, str | Path)
            name = f"image {i}" if named else None
            decoded.append(open_image(item, source_name=name, channel_order=self.channel_order))
            decode_ms.append((time.perf_counter() - t) * 1e3)
        per_stage, latency, errors = self._run_stages(decoded, texts)
        out = []
        for i in range(len(items)):
            t = time.perf_counter()
            stage_scores = {name: res[i].scores for name, res in per_stage.items()}
            fused = self.fusion.fuse(stage_scores)
            findings: tuple[Finding, ...] = tuple(
                f for res in per_stage.values() for f in res[i].findings
            )
            action = decide_action(fused, self.policy)
            lat = {"decode": decode_ms[i], **latency, "fusion": (time.perf_counter() - t) * 1e3}
            out.append(Decision(
                action=action,
                categories=fused,
                findings=findings,
                prompt_in=texts[i],
                latency_ms=lat,
                policy_version=self.policy.version,
                errors=tuple(errors),
            ))
        return out

    def _run_stages(
        self, images: list[Any], prompts: list[str | None]
    ) -> tuple[dict[str, list[StageResult]], dict[str, float], list[str]]:
        per_stage: dict[str, list[StageResult]] = {}
        latency: dict[str, float] = {}
        errors: list[str] = []
        n = len(images)
        for stage in self.stages:
            t = time.perf_counter()
            try:
                results = list(stage.check_images(images, prompts))
            except Exception as exc:  # a Fairframe error or a third-party stage's own failure
                self._stage_failed(stage.name, exc, errors)
                continue
            if len(results) != n:
                raise GuardUnavailableError(
                    f"image guard stage {stage.name!r} returned {len(results)} results for "
                    f"{n} images; the stage is broken"
                )
            per_stage[stage.name] = results
            latency[stage.name] = (time.perf_counter() - t) * 1e3 / n
        return per_stage, latency, errors

    def _stage_failed(self, name: str, exc: Exception, errors: list[str]) -> None:
        line = f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if name in self.required:
            raise GuardUnavailableError(
                f"required image guard stage {line}; refusing to decide (fail closed). Fix the "
                "stage or mark it optional in the guard config"
            ) from exc
        errors.append(line)
