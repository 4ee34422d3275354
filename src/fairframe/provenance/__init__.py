"""Provenance of generated and incoming images: C2PA content credentials and watermarks.

* :mod:`fairframe.provenance.watermark`: the keyed invisible watermark embedded in every served
  image (:class:`KeyedWatermark`: ``embed`` a 32-bit payload, ``verify`` it back with a
  confidence after JPEG, resizing, cropping and colour changes); keys from :func:`generate_key`.
* :mod:`fairframe.provenance.attacks`: the image attacks its robustness is measured under.
* :mod:`fairframe.provenance.c2pa`: sign generated images with a C2PA manifest recording the
  model, the guard policy version and the decision (:func:`sign_image`), and verify the
  credentials of incoming images (:func:`verify_credentials`: valid, untrusted, tampered, absent).
* :mod:`fairframe.provenance.sdxl`: detect the public SDXL / Stability invisible watermark
  (:func:`detect_sdxl_watermark`), without the invisible-watermark package.
* :mod:`fairframe.provenance.inspect`: the combined check of an incoming image (img2img,
  inpainting): fairframe's keyed watermark, the SDXL watermark and C2PA credentials
  (:func:`inspect_provenance`), whose JSON goes into ``Decision.provenance``.

Nothing here imports c2pa, cv2 or torch at import time.
"""

from __future__ import annotations

from fairframe.provenance.c2pa import (
    ASSERTION_LABEL,
    C2PAReport,
    SigningCredentials,
    sign_image,
    verify_credentials,
)
from fairframe.provenance.inspect import ProvenanceReport, WatermarkVerifier, inspect_provenance
from fairframe.provenance.sdxl import (
    SDXL_WATERMARK_BITS,
    SDXLWatermarkReport,
    detect_sdxl_watermark,
    embed_sdxl_watermark,
)
from fairframe.provenance.watermark import (
    PAYLOAD_BYTES,
    KeyedWatermark,
    WatermarkReport,
    generate_key,
    load_key,
    save_key,
)

__all__ = [
    "ASSERTION_LABEL",
    "PAYLOAD_BYTES",
    "C2PAReport",
    "KeyedWatermark",
    "ProvenanceReport",
    "SDXLWatermarkReport",
    "SDXL_WATERMARK_BITS",
    "SigningCredentials",
    "WatermarkReport",
    "WatermarkVerifier",
    "detect_sdxl_watermark",
    "embed_sdxl_watermark",
    "generate_key",
    "inspect_provenance",
    "load_key",
    "save_key",
    "sign_image",
    "verify_credentials",
]
