"""Checks of images that arrive from outside: a finished image, or an img2img/inpainting edit.

These are the library functions behind ``POST /v1/images/check``,
``POST /v1/images/check-transformation`` and ``fairframe guard check-image``:

* :func:`check_image` runs the image guard on encoded image bytes and, unless switched off,
  inspects their provenance (our keyed watermark, the public SDXL watermark, C2PA credentials);
  the provenance report goes into ``decision.provenance``.
* :func:`check_transformation` checks an edit: the image guard on the output, the transformation
  check on the input/output pair (exposure the input did not have, unrequested skin-tone or body
  changes), and the provenance of the *input* (was it one of ours, an SDXL image, signed?). The
  scores of both checks are combined per category (the larger wins) and the policy decides again.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from fairframe.guard.decision import Decision, decide_action
from fairframe.images import load_image

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["check_image", "check_transformation", "inspect_incoming"]


def inspect_incoming(
    data: bytes, *, watermark: Any = None, trust_anchors_pem: bytes | None = None,
    image: Image.Image | None = None,
) -> tuple[dict[str, Any], float]:
    """The provenance report of encoded image bytes (JSON-able) and the time it took in ms;
    ``image`` is ``data`` already decoded (then it is not decoded again)."""
    from fairframe.provenance.inspect import inspect_provenance

    t0 = time.perf_counter()
    report = inspect_provenance(data, watermark=watermark, trust_anchors_pem=trust_anchors_pem,
                                image=image)
    return dict(report.to_json()), (time.perf_counter() - t0) * 1e3


def check_image(
    data: bytes,
    *,
    image_guard: Any,
    prompt: str | None = None,
    provenance: bool = True,
    watermark: Any = None,
    trust_anchors_pem: bytes | None = None,
    source: str = "<bytes>",
) -> Decision:
    """Check one encoded image (PNG, JPEG, WebP, ...) against the policy.

    Parameters
    ----------
    data:
        The encoded image.
    image_guard:
        An :class:`~fairframe.guard.image.pipeline.ImageGuard`.
    prompt:
        The prompt the image was made from, when known (some stages use it).
    provenance:
        Also inspect watermarks and C2PA credentials (``decision.provenance``).
    watermark:
        The keyed watermark to look for (``None``: only the SDXL mark and C2PA).
    trust_anchors_pem:
        PEM roots trusted for C2PA signers.

    Raises
    ------
    InputDataError
        The bytes are not a decodable image, or it is too small or too large.
    GuardUnavailableError
        A required image stage failed.
    """
    t0 = time.perf_counter()
    image = load_image(data, source)
    decode_ms = (time.perf_counter() - t0) * 1e3
    decision: Decision = image_guard.check(image, prompt=prompt)
    latency = {**decision.latency_ms, "decode": decode_ms}
    if not provenance:
        return replace(decision, latency_ms=latency)
    report, ms = inspect_incoming(data, watermark=watermark, trust_anchors_pem=trust_anchors_pem,
                                  image=image)
    return replace(decision, provenance=report, latency_ms={**latency, "provenance": ms})


def check_transformation(
    input_data: bytes,
    output_data: bytes,
    *,
    prompt: str,
    image_guard: Any,
    transform_check: Any,
    provenance: bool = True,
    watermark: Any = None,
    trust_anchors_pem: bytes | None = None,
) -> Decision:
    """Check an img2img/inpainting edit: the output image, the change, the input's provenance.

    The decision's categories are, per category, the larger of the image guard's score on the
    output and the transformation check's score; its action is what the policy says for those
    scores; its findings are the output's and the transformation's; ``provenance`` describes the
    **input** image (``{"input": report}``).

    Raises
    ------
    InputDataError
        Either image cannot be decoded.
    GuardUnavailableError
        A required image stage failed.
    """
    t0 = time.perf_counter()
    before = load_image(input_data, "input image")
    after = load_image(output_data, "output image")
    decode_ms = (time.perf_counter() - t0) * 1e3
    out_decision: Decision = image_guard.check(after, prompt=prompt)
    t1 = time.perf_counter()
    change = transform_check.check(before, after, prompt=prompt)
    transform_ms = (time.perf_counter() - t1) * 1e3
    policy = image_guard.policy
    cats = dict(out_decision.categories)
    for cat, score in change.scores.items():
        cats[cat] = max(cats.get(cat, 0.0), float(score))
    latency = {**out_decision.latency_ms, "decode": decode_ms, "transform": transform_ms}
    prov: dict[str, Any] = {}
    if provenance:
        report, ms = inspect_incoming(input_data, watermark=watermark,
                                      trust_anchors_pem=trust_anchors_pem, image=before)
        prov = {"input": report}
        latency["provenance"] = ms
    return replace(
        out_decision,
        action=decide_action(cats, policy),
        categories=cats,
        findings=(*out_decision.findings, *change.findings),
        prompt_in=prompt,
        latency_ms=latency,
        provenance=prov,
    )
