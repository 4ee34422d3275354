"""Guarded generation: prompt path, generator, image path, regeneration and provenance in one call.

:class:`GuardedGenerator` is what ``POST /v1/generate`` and ``fairframe guard generate`` run:

1. the prompt guard checks the prompt; ``block`` ends the request (nothing is generated), a
   rewrite replaces the prompt and the forced negatives join the negative prompt;
2. the generator makes the image with the request's seed;
3. the image guard checks it; a flagged image is generated again, same seed, with escalating
   mitigation (:class:`~fairframe.guard.image.regenerate.Regenerator`: stronger negative prompt,
   rewritten prompt, Safe Latent Diffusion presets) until it passes or the budget runs out, then
   the request is refused;
4. a served image gets the keyed invisible watermark (payload: the first bytes of the request
   id's SHA-256, so a found mark leads back to the decision log; an image under the watermark's
   minimum side, 128 px, is served unmarked and ``provenance.watermark.skipped`` says why; every
   mark is read back once, and ``provenance.watermark.verified`` says whether it could be) and,
   when signing credentials are configured, a C2PA manifest recording the model, the policy
   version and the decision.

The returned :class:`GenerationOutcome` carries one merged :class:`~fairframe.guard.decision.
Decision`: the prompt's findings and the final image's findings, every generation attempt in
``attempts``, and what was embedded in ``provenance``.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from fairframe.errors import InputDataError
from fairframe.guard.decision import Action, Decision, most_severe
from fairframe.images import to_png_bytes
from fairframe.types import GenerationRequest

if TYPE_CHECKING:
    from PIL import Image

    from fairframe.guard.pipeline import PromptGuard

__all__ = ["GenerationOutcome", "GuardedGenerator", "ProvenanceSettings", "merge_decisions"]


@dataclass(frozen=True)
class ProvenanceSettings:
    """What a served image carries.

    Attributes
    ----------
    watermark:
        A :class:`~fairframe.provenance.watermark.KeyedWatermark` (or anything with
        ``embed(image, payload)``), or ``None`` for no invisible mark.
    credentials:
        :class:`~fairframe.provenance.c2pa.SigningCredentials` for a C2PA manifest, or ``None``.
    model_name:
        The model recorded in the manifest.
    """

    watermark: Any = None
    credentials: Any = None
    model_name: str = "unknown"


@dataclass(frozen=True)
class GenerationOutcome:
    """The result of one guarded generation.

    Attributes
    ----------
    request_id:
        A random id for this request; the watermark payload is derived from it.
    decision:
        The merged decision (see :func:`merge_decisions`).
    image:
        The served image as encoded bytes (PNG, with the C2PA manifest when signing is on), or
        ``None`` when the request was refused.
    mime_type:
        The type of ``image``.
    """

    request_id: str
    decision: Decision
    image: bytes | None = None
    mime_type: str = "image/png"
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def refused(self) -> bool:
        """``True`` when no image is served."""
        return self.image is None


def merge_decisions(prompt: Decision, image: Decision, *, served: bool) -> Decision:
    """One decision for a whole generation: the prompt check's and the image path's.

    * ``categories``: the larger of the two scores per category;
    * ``findings``: the prompt's, then the final image's;
    * ``action``: ``block`` when nothing was served; otherwise the most severe of the prompt's
      action and the image's, raised to ``regenerate`` when more than one attempt was needed
      (so a served-after-rewrite request reads ``rewrite``, a clean one ``allow``);
    * ``latency_ms``: the prompt stages under their names, the image path's under ``image.``;
    * ``prompt_in``/``prompt_out``/``negative_prompt_out``/``rewrites``: the prompt's;
    * ``attempts``, ``provenance``: the image path's.
    """
    cats = {k: max(prompt.categories.get(k, 0.0), image.categories.get(k, 0.0))
            for k in {*prompt.categories, *image.categories}}
    if not served:
        action = Action.BLOCK
    else:
        action = most_severe((prompt.action, image.action))
        generated = [a for a in image.attempts if a.get("outcome") != "skipped"]
        if len(generated) > 1:
            action = most_severe((action, Action.REGENERATE))
    latency = dict(prompt.latency_ms)
    latency.update({f"image.{k}": v for k, v in image.latency_ms.items()})
    return Decision(
        action=action,
        categories=cats,
        findings=(*prompt.findings, *image.findings),
        prompt_in=prompt.prompt_in,
        prompt_out=prompt.prompt_out,
        latency_ms=latency,
        policy_version=prompt.policy_version,
        negative_prompt_out=prompt.negative_prompt_out,
        rewrites=prompt.rewrites,
        errors=(*prompt.errors, *image.errors),
        attempts=image.attempts,
        provenance=image.provenance,
    )


def watermark_payload(request_id: str, size: int) -> bytes:
    """The watermark payload of a request: the first ``size`` bytes of SHA-256(request id)."""
    return hashlib.sha256(request_id.encode("utf-8")).digest()[:size]


class GuardedGenerator:
    """Prompt guard + generator + image guard + regeneration + provenance.

    Parameters
    ----------
    prompt_guard:
        A :class:`~fairframe.guard.pipeline.PromptGuard`.
    image_guard:
        An :class:`~fairframe.guard.image.pipeline.ImageGuard` (anything with
        ``check(image, prompt=...) -> Decision``).
    generator:
        Any Fairframe generator (``generate(requests) -> list[GeneratedImage]``).
    budget:
        Generation attempts per request, the first one included.
    ladder:
        Escalation strategies (``None``: the regenerator's default ladder).
    provenance:
        What served images carry (``None``: nothing).
    defaults:
        Generation arguments used when a request leaves them out (``width``, ``height``,
        ``num_inference_steps``, ``guidance_scale``).
    """

    def __init__(
        self,
        *,
        prompt_guard: PromptGuard,
        image_guard: Any,
        generator: Any,
        budget: int = 4,
        ladder: tuple[str, ...] | None = None,
        provenance: ProvenanceSettings | None = None,
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        from fairframe.guard.image.regenerate import Regenerator

        self.prompt_guard = prompt_guard
        self.image_guard = image_guard
        self.generator = generator
        self.provenance = provenance or ProvenanceSettings()
        self.defaults = dict(defaults or {})
        options: dict[str, Any] = {"budget": budget, "policy": prompt_guard.policy}
        if ladder is not None:
            options["ladder"] = tuple(ladder)
        self.regenerator = Regenerator(generator=generator, check=self._check_image, **options)

    def _check_image(self, image: Image.Image, prompt: str) -> Decision:
        decision: Decision = self.image_guard.check(image, prompt=prompt)
        return decision

    def generate(
        self,
        prompt: str,
        *,
        negative_prompt: str | None = None,
        seed: int | None = None,
        width: int | None = None,
        height: int | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
    ) -> GenerationOutcome:
        """Run the whole guarded generation for one prompt (see the module docstring).

        Raises
        ------
        GuardUnavailableError
            A required prompt or image stage failed (fail closed: nothing is served).
        InputDataError
            The prompt is empty or too long.
        BackendError
            The generator failed.
        """
        request_id = uuid.uuid4().hex
        if seed is None:
            seed = int.from_bytes(hashlib.sha256(request_id.encode()).digest()[:4], "big")
        prompt_decision = self.prompt_guard.check(prompt, negative_prompt=negative_prompt)
        if prompt_decision.blocked:
            return GenerationOutcome(request_id=request_id, decision=prompt_decision)
        if prompt_decision.prompt_out is not None and not prompt_decision.prompt_out.strip():
            # all negative prompt ("### a naked girl"): nothing to generate, and the original
            # must never reach the model as the prompt
            return GenerationOutcome(request_id=request_id, decision=prompt_decision)
        d = self.defaults
        request = GenerationRequest(
            prompt=prompt if prompt_decision.prompt_out is None else prompt_decision.prompt_out,
            seed=seed,
            negative_prompt=(negative_prompt if prompt_decision.negative_prompt_out is None
                             else prompt_decision.negative_prompt_out),
            width=width if width is not None else d.get("width"),
            height=height if height is not None else d.get("height"),
            num_inference_steps=(num_inference_steps if num_inference_steps is not None
                                 else d.get("num_inference_steps")),
            guidance_scale=guidance_scale if guidance_scale is not None
            else d.get("guidance_scale"),
        )
        result = self.regenerator.generate(request)
        if result.image is None:
            merged = merge_decisions(prompt_decision, result.decision, served=False)
            return GenerationOutcome(request_id=request_id, decision=merged)
        t0 = time.perf_counter()
        data, embedded = self._mark(result.image, request_id, prompt_decision, result.decision)
        image_decision = replace(result.decision, provenance=embedded, latency_ms={
            **result.decision.latency_ms, "provenance": (time.perf_counter() - t0) * 1e3})
        merged = merge_decisions(prompt_decision, image_decision, served=True)
        return GenerationOutcome(request_id=request_id, decision=merged, image=data)

    def _mark(self, image: Image.Image, request_id: str, prompt_decision: Decision,
              image_decision: Decision) -> tuple[bytes, dict[str, Any]]:
        """Embed the watermark, encode PNG and sign; returns the bytes and what was embedded."""
        embedded: dict[str, Any] = {"request_id": request_id}
        wm = self.provenance.watermark
        if wm is not None:
            from fairframe.provenance.watermark import PAYLOAD_BYTES

            payload = watermark_payload(request_id, PAYLOAD_BYTES)
            try:
                image = wm.embed(image, payload)
            except InputDataError as exc:  # e.g. an image too small to carry the mark
                embedded["watermark"] = {"skipped": str(exc)}
            else:
                # read it back: small, flat or very busy images may not hold a verifiable mark
                check = wm.verify(image)
                embedded["watermark"] = {
                    "payload": payload.hex(), "method": "fairframe-keyed",
                    "verified": bool(check.detected and check.payload == payload),
                }
        data = to_png_bytes(image)
        creds = self.provenance.credentials
        if creds is not None:
            from fairframe.provenance.c2pa import sign_image

            summary = {
                "action": most_severe((prompt_decision.action, image_decision.action)).value,
                "categories": {k: round(v, 4) for k, v in image_decision.categories.items()
                               if v >= 0.01},
                "attempts": sum(1 for a in image_decision.attempts
                                if a.get("outcome") != "skipped"),
                "request_id": request_id,
            }
            data = sign_image(data, credentials=creds, model=self.provenance.model_name,
                              policy_version=prompt_decision.policy_version, decision=summary,
                              mime_type="image/png")
            embedded["c2pa"] = {"signed": True, "model": self.provenance.model_name}
        return data, embedded
