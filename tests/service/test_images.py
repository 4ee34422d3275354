"""The image endpoints of the guard service: image check, transformation check, generate."""

from __future__ import annotations

import base64
import hashlib
import io
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402

from fairframe.guard import default_lexicon  # noqa: E402
from fairframe.guard.config import GuardConfig  # noqa: E402
from fairframe.guard.decision import Evidence, Finding  # noqa: E402
from fairframe.guard.enforcement import EnforcementSettings, Enforcer  # noqa: E402
from fairframe.guard.image.pipeline import ImageGuard  # noqa: E402
from fairframe.guard.pipeline import PromptGuard  # noqa: E402
from fairframe.guard.stage import StageResult  # noqa: E402
from fairframe.service import create_app  # noqa: E402


class RedIsNudity:
    """A stage that scores ``nudity`` by how red the image is (mean R - mean B, scaled)."""

    name = "red"

    def check_images(self, images: Sequence[Image.Image], prompts: Sequence[str | None]
                     ) -> list[StageResult]:
        out = []
        for img in images:
            a = np.asarray(img, dtype=np.float64)
            score = float(np.clip((a[..., 0].mean() - a[..., 2].mean()) / 200.0, 0.0, 1.0))
            findings = (Finding("red", "nudity", score,
                                Evidence(None, "red pixels", "red", box=(0, 0, 4, 4))),)
            out.append(StageResult({"nudity": score}, findings if score > 0.5 else ()))
        return out


def png(colour: tuple[int, int, int], size: int = 64) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buf, format="PNG")
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def enforcer(tmp_path: Path) -> Iterator[Enforcer]:
    settings = EnforcementSettings.model_validate({"default_rate_per_s": 100.0,
                                                   "default_burst": 100})
    enf = Enforcer.open(f"sqlite:///{tmp_path / 'guard.db'}", settings)
    yield enf
    enf.close()


@pytest.fixture
def token(enforcer: Enforcer) -> str:
    return str(enforcer.create_key("alice").token)


def make_client(enforcer: Enforcer, *, generator: Any = None, **service: Any) -> TestClient:
    cfg = GuardConfig.model_validate({"service": {"max_body_bytes": 4096,
                                                  "max_image_body_bytes": 200_000, **service}})
    guard = PromptGuard([default_lexicon()], max_prompt_chars=500)
    image_guard = ImageGuard(stages=[RedIsNudity()])
    return TestClient(create_app(cfg, guard=guard, enforcer=enforcer, image_guard=image_guard,
                                 generator=generator), raise_server_exceptions=False)


@pytest.fixture
def client(enforcer: Enforcer) -> Iterator[TestClient]:
    with make_client(enforcer) as c:
        yield c


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_image_check_decides_with_the_policy_and_logs_the_image_hash(
        client: TestClient, token: str, enforcer: Enforcer) -> None:
    red = png((250, 10, 10))
    r = client.post("/v1/images/check", json={"image": b64(red)}, headers=auth(token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["categories"]["nudity"] == pytest.approx(1.0)
    assert body["action"] != "allow"
    assert body["findings"][0]["evidence"]["box"] == [0, 0, 4, 4]
    assert {"decode", "red", "provenance"} <= set(body["latency_ms"])
    # provenance of an unsigned, unmarked PNG: no SDXL mark, no C2PA manifest
    prov = body["provenance"]
    assert prov["sdxl_watermark"]["detected"] is False
    assert prov["c2pa"]["state"] in ("absent", "error")
    entry = enforcer.log_entry(body["decision_id"])
    assert entry is not None
    assert entry.image_sha256 == hashlib.sha256(red).hexdigest()

    blue = client.post("/v1/images/check",
                       json={"image": "data:image/png;base64," + b64(png((10, 10, 250))),
                             "provenance": False}, headers=auth(token))
    assert blue.status_code == 200, blue.text
    assert blue.json()["action"] == "allow"
    assert blue.json()["provenance"] == {}


@pytest.mark.parametrize(("payload", "status", "needle"), [
    ({"image": "not base64!"}, 422, "image"),
    # GNU base64 wraps lines at 76 characters: the message says how to send one line
    ({"image": "\n".join(textwrap.wrap(b64(png((1, 2, 3))), 76))}, 422, "base64 -w0"),
    ({"image": b64(b"hello, this is text and not an image")}, 422, "not an image"),
    ({"image": b64(png((1, 2, 3))[:40])}, 422, "truncated"),
    ({"image": b64(png((1, 2, 3))), "extra": 1}, 422, "extra"),
])
def test_bad_images_are_clear_422s_and_the_service_keeps_serving(
        client: TestClient, token: str, payload: dict[str, Any], status: int,
        needle: str) -> None:
    r = client.post("/v1/images/check", json=payload, headers=auth(token))
    assert r.status_code == status, r.text
    assert needle in r.json()["error"]["message"].lower()
    ok = client.post("/v1/images/check", json={"image": b64(png((0, 0, 0)))},
                     headers=auth(token))
    assert ok.status_code == 200


def test_image_bodies_have_their_own_limit(client: TestClient, token: str) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, format="PNG")  # ~270 kB: over the 200 kB image limit
    r = client.post("/v1/images/check", json={"image": b64(buf.getvalue())}, headers=auth(token))
    assert r.status_code == 413
    assert "200000" in r.json()["error"]["message"]
    # the prompt endpoints keep the small limit
    r = client.post("/v1/prompts/check", json={"prompt": "x" * 5000}, headers=auth(token))
    assert r.status_code == 413


def test_image_endpoints_need_a_key(client: TestClient) -> None:
    r = client.post("/v1/images/check", json={"image": b64(png((0, 0, 0)))})
    assert r.status_code == 401


def test_generate_without_a_generator_is_503_not_configured(client: TestClient,
                                                             token: str) -> None:
    r = client.post("/v1/generate", json={"prompt": "a lighthouse"}, headers=auth(token))
    assert r.status_code == 503
    assert r.json()["error"]["type"] == "not_configured"
    assert "[generate]" in r.json()["error"]["message"]


def test_generate_validates_its_arguments(client: TestClient, token: str) -> None:
    for bad in ({"prompt": ""}, {"prompt": "x", "width": 100}, {"prompt": "x", "seed": -1},
                {"prompt": "x", "steps": 3}, {"prompt": "x", "guidance_scale": "7"}):
        r = client.post("/v1/generate", json=bad, headers=auth(token))
        assert r.status_code == 422, (bad, r.text)


def test_openapi_lists_the_image_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/images/check", "/v1/images/check-transformation", "/v1/generate"} <= set(paths)


def test_generate_serves_a_png_and_logs_the_merged_decision(enforcer: Enforcer,
                                                            token: str) -> None:
    from fairframe.backends.fake import FakeGenerator
    from fairframe.guard.generate import GuardedGenerator

    gen = GuardedGenerator(prompt_guard=PromptGuard([default_lexicon()]),
                           image_guard=ImageGuard(stages=[RedIsNudity()]),
                           generator=FakeGenerator(size=64), budget=2)
    with make_client(enforcer, generator=gen) as client:
        r = client.post("/v1/generate", json={"prompt": "a lighthouse", "seed": 4},
                        headers=auth(token))
        assert r.status_code == 200, r.text
        body = r.json()
        image = base64.b64decode(body["image"])
        assert image.startswith(b"\x89PNG")
        assert body["image_sha256"] == hashlib.sha256(image).hexdigest()
        assert body["decision"]["attempts"][0]["seed"] == 4
        entry = enforcer.log_entry(body["decision_id"])
        assert entry is not None and entry.image_sha256 == body["image_sha256"]
        r = client.post("/v1/generate", json={"prompt": "a hardcore porn scene"},
                        headers=auth(token))
        assert r.status_code == 200
        assert r.json()["image"] is None
        assert r.json()["decision"]["action"] == "block"


def test_check_transformation_combines_the_output_check_and_the_change(
        client: TestClient, token: str) -> None:
    skimage_data = pytest.importorskip("skimage.data")
    pytest.importorskip("cv2")
    pytest.importorskip("nudenet")
    buf = io.BytesIO()
    Image.fromarray(skimage_data.astronaut()).resize((256, 256)).save(buf, format="JPEG")
    photo = buf.getvalue()
    r = client.post("/v1/images/check-transformation",
                    json={"input_image": b64(photo), "output_image": b64(photo),
                          "prompt": "make it brighter"}, headers=auth(token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["action"] == "allow"
    assert body["categories"].get("appearance_change", 0.0) < 0.5
    assert {"decode", "transform", "provenance"} <= set(body["latency_ms"])
    assert body["provenance"]["input"]["sdxl_watermark"]["detected"] is False
    r = client.post("/v1/images/check-transformation",
                    json={"input_image": b64(photo), "output_image": "###",
                          "prompt": "x"}, headers=auth(token))
    assert r.status_code == 422
