"""Shared pieces of the image-guard tests: images, encoders and scripted stages."""

from __future__ import annotations

import io
import struct
import threading
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from fairframe.guard.decision import Evidence, Finding
from fairframe.guard.stage import StageResult


def noise(seed: int, size: tuple[int, int] = (48, 40)) -> Image.Image:
    """A ``size`` (width, height) RGB noise image, the same for the same seed."""
    rng = np.random.default_rng(seed)
    w, h = size
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


def encode(img: Image.Image, fmt: str, **options: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose valid IHDR claims ``width x height`` with no pixel data (a bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


class ScriptedStage:
    """An image stage returning fixed scores, recording what it was given."""

    def __init__(self, name: str, scores: Mapping[str, float], *, fail: Exception | None = None,
                 box: tuple[int, int, int, int] | None = None, extra: int = 0) -> None:
        self.name = name
        self.scores = dict(scores)
        self.fail = fail
        self.box = box
        self.extra = extra  # results beyond one per image: a broken stage
        self.calls: list[tuple[list[Image.Image], list[str | None]]] = []
        self._lock = threading.Lock()

    def check_images(
        self, images: Sequence[Image.Image], prompts: Sequence[str | None]
    ) -> list[StageResult]:
        with self._lock:
            self.calls.append((list(images), list(prompts)))
        if self.fail is not None:
            raise self.fail
        findings = tuple(
            Finding(self.name, c, s, Evidence(None, "scripted", c, self.box))
            for c, s in self.scores.items() if s > 0
        )
        return [StageResult(self.scores, findings) for _ in range(len(images) + self.extra)]
