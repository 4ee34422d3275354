"""The provenance check of an incoming image (img2img, inpainting): watermarks and C2PA.

:func:`inspect_provenance` decodes the image bytes once (:func:`fairframe.images.load_image`) and
runs three independent checks:

* **fairframe's keyed watermark**, through any :class:`WatermarkVerifier` (e.g. ``KeyedWatermark``
  from :mod:`fairframe.provenance.watermark`); skipped (``None``) when no verifier is given;
* **the SDXL watermark** (:func:`~fairframe.provenance.sdxl.detect_sdxl_watermark`), public and
  keyless;
* **C2PA content credentials** on the *encoded* bytes
  (:func:`~fairframe.provenance.c2pa.verify_credentials`). Without c2pa-python this part reports
  ``state="error"`` with a message naming ``fairframe[provenance]``, and the other checks still run.

:meth:`ProvenanceReport.to_json` is the dict that goes into ``Decision.provenance``::

    {"generated": bool, "fairframe_watermark": {...} | None, "sdxl_watermark": {...},
     "c2pa": {...}, "errors": [...],
     "summary": ["sdxl watermark: not detected (22/48 bits, p=0.8)",
                 "c2pa: untrusted (generator fairframe/0.1.0; model tiny-sd)"]}

The C2PA manifest itself is left out of the JSON by default (it can be large); pass
``include_manifest=True`` to keep it. A watermark found in an incoming image says the image was
(probably) generated before: by us (keyed mark), by an SDXL pipeline, or by whoever signed the C2PA
manifest. What a policy does with that is the guard's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from PIL import Image

from fairframe.errors import InputDataError, MissingDependencyError
from fairframe.images import load_image
from fairframe.provenance.c2pa import C2PAReport, verify_credentials
from fairframe.provenance.sdxl import DEFAULT_ALPHA, SDXLWatermarkReport, detect_sdxl_watermark

__all__ = [
    "ProvenanceReport",
    "WatermarkResult",
    "WatermarkVerifier",
    "inspect_provenance",
]


@runtime_checkable
class WatermarkResult(Protocol):
    """What a :class:`WatermarkVerifier` answers."""

    @property
    def detected(self) -> bool:
        """Whether the mark is present."""

    @property
    def payload(self) -> bytes | None:
        """The decoded payload, when detected."""

    @property
    def confidence(self) -> float:
        """Confidence in ``[0, 1]`` that the mark is present."""

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""


@runtime_checkable
class WatermarkVerifier(Protocol):
    """Anything that checks an RGB image for a (keyed) watermark."""

    def verify(self, image: Image.Image) -> WatermarkResult:
        """Check ``image`` (8-bit RGB) for the mark."""


@dataclass(frozen=True)
class ProvenanceReport:
    """Everything :func:`inspect_provenance` found about one incoming image.

    Attributes
    ----------
    fairframe_watermark:
        The verifier's result, or ``None`` when no verifier was given.
    sdxl_watermark:
        The SDXL watermark check.
    c2pa:
        The C2PA credential check (``state="error"`` when c2pa-python is missing).
    summary:
        One short line per check, for logs and reviewers.
    errors:
        One line per check that could not run (e.g. c2pa missing, the verifier raised).
    """

    fairframe_watermark: WatermarkResult | None
    sdxl_watermark: SDXLWatermarkReport
    c2pa: C2PAReport
    summary: tuple[str, ...] = ()
    errors: tuple[str, ...] = field(default=())

    @property
    def generated(self) -> bool:
        """``True`` when any check says the image was machine-generated.

        Our keyed mark, the SDXL mark, or an intact C2PA manifest (``valid`` or ``untrusted``)
        whose ``c2pa.created`` action declares a trained-algorithmic source.
        """
        if self.fairframe_watermark is not None and self.fairframe_watermark.detected:
            return True
        if self.sdxl_watermark.detected:
            return True
        return self.c2pa.state in ("valid", "untrusted") and _declares_ai(self.c2pa)

    def to_json(self, *, include_manifest: bool = False) -> dict[str, Any]:
        """The dict for ``Decision.provenance`` (see the module docstring)."""
        c2pa = self.c2pa.to_json()
        if not include_manifest:
            c2pa.pop("manifest", None)
        return {
            "generated": self.generated,
            "fairframe_watermark": (
                None if self.fairframe_watermark is None else self.fairframe_watermark.to_json()
            ),
            "sdxl_watermark": self.sdxl_watermark.to_json(),
            "c2pa": c2pa,
            "summary": list(self.summary),
            "errors": list(self.errors),
        }


def _declares_ai(report: C2PAReport) -> bool:
    if report.manifest is None:
        return False
    for assertion in report.manifest.get("assertions") or []:
        if not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for action in (assertion.get("data") or {}).get("actions") or []:
            source = str(action.get("digitalSourceType", ""))
            if source.rsplit("/", 1)[-1] in (
                "trainedAlgorithmicMedia",
                "compositeWithTrainedAlgorithmicMedia",
            ):
                return True
    return False


def _c2pa_line(report: C2PAReport) -> str:
    line = f"c2pa: {report.state}"
    extra = []
    if report.generator:
        extra.append(f"generator {report.generator}")
    if report.fairframe is not None and report.fairframe.get("model"):
        extra.append(f"model {report.fairframe['model']}")
    if report.state == "tampered" and report.failures:
        extra.append(", ".join(f for f in report.failures if not f.startswith("signingCredential")))
    if report.state == "error":
        extra.append(report.detail)
    return line + (f" ({'; '.join(e for e in extra if e)})" if any(extra) else "")


#: A sync-pattern p-value at or below this, without a decodable payload, is reported as "the
#: key's sync pattern is present" in the summary (``detected`` stays false: that needs the CRC).
SYNC_ONLY_P = 1e-6


def inspect_provenance(
    data: bytes,
    *,
    watermark: WatermarkVerifier | None = None,
    trust_anchors_pem: bytes | None = None,
    sdxl_alpha: float = DEFAULT_ALPHA,
    image: Image.Image | None = None,
) -> ProvenanceReport:
    """Check an incoming encoded image for our watermark, the SDXL watermark and C2PA credentials.

    Parameters
    ----------
    data:
        The image file as received (JPEG, PNG, WebP, ...; C2PA needs the original bytes).
    watermark:
        Verifier of fairframe's keyed watermark; ``None`` skips that check.
    trust_anchors_pem:
        PEM certificates to trust for C2PA (see
        :func:`~fairframe.provenance.c2pa.verify_credentials`).
    sdxl_alpha:
        Significance level of the SDXL detector.
    image:
        ``data`` already decoded to RGB by :func:`fairframe.images.load_image` (callers that
        also run the image guard pass it, so the bytes are decoded once); ``None`` decodes here.

    Returns
    -------
    ProvenanceReport

    Raises
    ------
    InputDataError
        The bytes are not a decodable image (from :func:`fairframe.images.load_image`).
    """
    if image is None:
        image = load_image(data, source="<incoming image>")
    errors: list[str] = []
    summary: list[str] = []

    ours: WatermarkResult | None = None
    if watermark is not None:
        try:
            ours = watermark.verify(image)
        except InputDataError as exc:  # too small to hold the mark: nothing to verify, not bad
            summary.append(f"fairframe watermark: not checked ({exc})")
    if ours is not None:
        sync_p = getattr(ours, "sync_p_value", None)
        if ours.detected:
            payload = ours.payload.hex() if ours.payload is not None else "?"
            summary.append(f"fairframe watermark: detected, payload {payload} "
                           f"(confidence {ours.confidence:.3f})")
        elif isinstance(sync_p, float) and sync_p <= SYNC_ONLY_P:
            # the key's sync pattern is there, the payload did not decode (heavy damage, or an
            # image too small or busy to hold it): say so instead of a bare "not detected"
            summary.append(f"fairframe watermark: this key's sync pattern is present "
                           f"(p={sync_p:.2g}) but the payload is unreadable")
        else:
            # the p-value of "no mark" (1 - confidence), not a confidence in its absence
            p = float(getattr(ours, "p_value", 1.0 - ours.confidence))
            weak = ("; some evidence of a mark: damaged, or not enough image to read it"
                    if p < 0.01 else "")
            summary.append(f"fairframe watermark: not detected (p={p:.2g}{weak})")

    sdxl = detect_sdxl_watermark(image, alpha=sdxl_alpha)
    if sdxl.reason is not None:
        summary.append(f"sdxl watermark: not checked ({sdxl.reason})")
    else:
        state = "detected" if sdxl.detected else "not detected"
        summary.append(
            f"sdxl watermark: {state} ({sdxl.matching_bits}/{sdxl.n_bits} bits, "
            f"p={sdxl.p_value:.2g})"
        )

    try:
        c2pa = verify_credentials(data, trust_anchors_pem=trust_anchors_pem)
    except MissingDependencyError as exc:
        c2pa = C2PAReport(state="error", detail=str(exc))
        errors.append(f"c2pa: {exc}")
    summary.append(_c2pa_line(c2pa))
    return ProvenanceReport(
        fairframe_watermark=ours,
        sdxl_watermark=sdxl,
        c2pa=c2pa,
        summary=tuple(summary),
        errors=tuple(errors),
    )
