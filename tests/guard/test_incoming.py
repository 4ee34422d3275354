"""Incoming images: the image guard and the provenance checks share one decoding."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import pytest
from PIL import Image

import fairframe.guard.incoming as incoming
import fairframe.provenance.inspect as inspect_mod
from fairframe.errors import InputDataError
from fairframe.guard.image.pipeline import ImageGuard
from fairframe.guard.stage import StageResult


class Bright:
    name = "bright"

    def check_images(self, images: Sequence[Image.Image], prompts: Sequence[str | None]
                     ) -> list[StageResult]:
        return [StageResult({"violence": 0.0}) for _ in images]


def png(size: int = 64) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (20, 120, 200)).save(buf, format="PNG")
    return buf.getvalue()


def test_check_image_decodes_the_bytes_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = incoming.load_image

    def counting(data: Any, source: Any = None) -> Image.Image:
        calls.append(str(source))
        return real(data, source)

    monkeypatch.setattr(incoming, "load_image", counting)
    monkeypatch.setattr(inspect_mod, "load_image", counting)
    d = incoming.check_image(png(), image_guard=ImageGuard(stages=[Bright()]))
    assert len(calls) == 1
    assert {"decode", "bright", "provenance"} <= set(d.latency_ms)
    assert d.provenance["sdxl_watermark"]["detected"] is False


def test_check_image_without_provenance_and_bad_bytes() -> None:
    guard = ImageGuard(stages=[Bright()])
    d = incoming.check_image(png(), image_guard=guard, provenance=False)
    assert dict(d.provenance) == {} and "provenance" not in d.latency_ms
    with pytest.raises(InputDataError, match="truncated or not an image"):
        incoming.check_image(b"not an image at all", image_guard=guard)
