"""The contract every image stage passes: the ImageStage protocol, one result per image in order,
scores in [0, 1], findings from the stage (with boxes inside the image where the stage gives
boxes), the same answer alone as in a batch, and thread safety."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fairframe.guard.image import HFImageClassifier, ImageStage, NudeNetStage, VLMJudge
from fairframe.guard.policy import Category
from fairframe.guard.stage import StageResult
from fairframe.measure import nudenet_faces
from fairframe.testing.openai_server import OpenAICompatibleServer
from tests.guard.image._helpers import noise

IMAGES = [noise(0, (48, 40)), noise(1, (100, 60)), Image.new("RGB", (64, 64), (200, 30, 30)),
          noise(2, (33, 70))]
PROMPTS: list[str | None] = ["a cat", None, "a red wall", "noise"]


def mean_colour_judge(body: dict[str, Any]) -> str:
    """A VLM stand-in whose answer depends on the image: violence = mean red / 255."""
    import base64
    import io

    parts = body["messages"][1]["content"]
    url = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
    img = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")
    red = float(np.asarray(img, dtype=float)[..., 0].mean()) / 255.0
    return json.dumps({"categories": {"violence": round(red, 4), "nudity": 0.6}})


def boxes_from_pixels(image: Image.Image) -> list[dict[str, Any]]:
    """A deterministic NudeNet stand-in: one exposed detection whose score and box depend on the
    image (so the mapping, the boxes and the order can be checked on any image)."""
    arr = np.asarray(image, dtype=float)
    w, h = image.size
    score = 0.2 + 0.8 * float(arr[..., 0].mean()) / 255.0
    return [{"class": "FEMALE_BREAST_EXPOSED", "score": score, "box": [w // 4, h // 4, w, h]},
            {"class": "FACE_MALE", "score": 0.9, "box": [0, 0, 4, 4]}]


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAICompatibleServer]:
    with OpenAICompatibleServer(chat=mean_colour_judge) as srv:
        yield srv


def _nudenet_scripted(monkeypatch: pytest.MonkeyPatch, server: Any) -> ImageStage:
    monkeypatch.setattr(nudenet_faces, "nudenet_detections", boxes_from_pixels)
    return NudeNetStage()


def _nudenet_real(monkeypatch: pytest.MonkeyPatch, server: Any) -> ImageStage:
    pytest.importorskip("nudenet")
    return NudeNetStage()


def _hf(monkeypatch: pytest.MonkeyPatch, server: Any) -> ImageStage:
    pytest.importorskip("transformers")
    return HFImageClassifier(model="tiny://image-classifier", device="cpu", batch_size=3)


def _vlm(monkeypatch: pytest.MonkeyPatch, server: OpenAICompatibleServer) -> ImageStage:
    return VLMJudge(base_url=server.base_url, model="vlm", max_retries=0, timeout_s=10.0,
                    categories=["violence", "nudity"], concurrency=2)


STAGES: dict[str, tuple[Callable[..., ImageStage], bool]] = {
    # name: (factory, gives boxes)
    "nudenet-scripted": (_nudenet_scripted, True),
    "nudenet-real": (_nudenet_real, True),
    "hf-tiny": (_hf, False),
    "vlm-loopback": (_vlm, False),
}


@pytest.fixture(params=sorted(STAGES))
def case(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
         server: OpenAICompatibleServer) -> tuple[ImageStage, bool]:
    factory, boxes = STAGES[request.param]
    return factory(monkeypatch, server), boxes


def _key(result: StageResult) -> tuple[Any, ...]:
    return (tuple(sorted((k, round(v, 5)) for k, v in result.scores.items())),
            tuple(sorted((f.category, round(f.score, 5), f.evidence.box) for f in result.findings)))


@pytest.mark.models
def test_stage_contract(case: tuple[ImageStage, bool]) -> None:
    stage, gives_boxes = case
    assert isinstance(stage, ImageStage)
    assert isinstance(stage.name, str) and stage.name
    results = stage.check_images(IMAGES, PROMPTS)
    assert len(results) == len(IMAGES)
    known = {c.value for c in Category}
    for img, result in zip(IMAGES, results, strict=True):
        assert isinstance(result, StageResult)
        assert set(result.scores) <= known
        assert all(0.0 <= v <= 1.0 and math.isfinite(v) for v in result.scores.values())
        for f in result.findings:
            assert f.stage == stage.name and f.category in result.scores
            assert f.score <= result.scores[f.category] + 1e-9
            assert f.evidence.span is None
            if f.evidence.box is not None:
                assert gives_boxes
                x, y, w, h = f.evidence.box
                assert x + w <= img.size[0] and y + h <= img.size[1]
        if gives_boxes:
            assert all(f.evidence.box is not None for f in result.findings)
    # order: each image alone gives what it got in the batch
    alone = [stage.check_images([img], [p])[0] for img, p in zip(IMAGES, PROMPTS, strict=True)]
    assert [_key(r) for r in alone] == [_key(r) for r in results]
    assert stage.check_images([], []) == []


@pytest.mark.models
def test_stage_is_thread_safe(case: tuple[ImageStage, bool]) -> None:
    stage, _ = case
    expected = [_key(r) for r in stage.check_images(IMAGES, PROMPTS)]
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda _: stage.check_images(IMAGES, PROMPTS), range(4)))
    for run in runs:
        assert [_key(r) for r in run] == expected


def test_scripted_nudenet_boxes_are_clipped_and_scored(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scripted detector's boxes run past the image; the stage clips them (checked above in
    the contract); here the scores are hand-computed for the solid red image."""
    monkeypatch.setattr(nudenet_faces, "nudenet_detections", boxes_from_pixels)
    (r,) = NudeNetStage().check_images([IMAGES[2]], [None])
    raw = 0.2 + 0.8 * 200 / 255  # 0.8275: anchor (0.5, 0.7) gives 0.7 + 0.3 * 0.3275 / 0.5
    assert r.scores["nudity"] == pytest.approx(0.7 + 0.3 * (raw - 0.5) / 0.5)
    (f,) = r.findings
    assert f.evidence.box == (16, 16, 48, 48)
