"""Combined provenance check of incoming images: keyed watermark, SDXL watermark, C2PA."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fairframe.errors import InputDataError, MissingDependencyError
from fairframe.guard.decision import Action, Decision
from fairframe.provenance import c2pa as c2pa_mod
from fairframe.provenance.inspect import ProvenanceReport, WatermarkVerifier, inspect_provenance
from fairframe.provenance.sdxl import embed_sdxl_watermark


@dataclass(frozen=True)
class FakeResult:
    detected: bool
    payload: bytes | None
    confidence: float

    def to_json(self) -> dict[str, Any]:
        return {
            "detected": self.detected,
            "payload": None if self.payload is None else self.payload.hex(),
            "confidence": self.confidence,
        }


class FakeVerifier:
    """'Detects' our mark when the top-left pixel is pure red; records what it was given."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, tuple[int, int]]] = []

    def verify(self, image: Image.Image) -> FakeResult:
        self.seen.append((image.mode, image.size))
        hit = image.getpixel((0, 0)) == (255, 0, 0)
        return FakeResult(hit, b"\x01\x02" if hit else None, 0.99 if hit else 0.01)


def photo(seed: int = 0, h: int = 288, w: int = 320) -> Image.Image:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack([120 + 60 * np.sin(xx / 37), 110 + 50 * np.cos(yy / 29), 100 + 0 * xx], -1)
    noise = np.kron(rng.normal(0, 25, (h // 2, w // 2, 3)), np.ones((2, 2, 1)))
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def test_fake_verifier_satisfies_protocol() -> None:
    assert isinstance(FakeVerifier(), WatermarkVerifier)


def test_plain_image_without_verifier() -> None:
    report = inspect_provenance(png(photo()))
    assert report.fairframe_watermark is None
    assert not report.sdxl_watermark.detected
    assert report.c2pa.state in ("absent", "error")  # error only without c2pa installed
    assert not report.generated
    data = report.to_json()
    assert data["fairframe_watermark"] is None
    assert data["generated"] is False
    assert data["summary"][0].startswith("sdxl watermark: not detected (")
    json.dumps(data)


def test_sdxl_marked_and_our_mark() -> None:
    image = embed_sdxl_watermark(photo(1))
    image.putpixel((0, 0), (255, 0, 0))  # the fake verifier's "mark"
    verifier = FakeVerifier()
    report = inspect_provenance(png(image), watermark=verifier)
    assert verifier.seen == [("RGB", (320, 288))]  # decoded once, RGB, handed over
    assert report.fairframe_watermark is not None and report.fairframe_watermark.detected
    assert report.sdxl_watermark.detected
    assert report.generated
    data = report.to_json()
    assert data["fairframe_watermark"] == {"detected": True, "payload": "0102", "confidence": 0.99}
    assert data["sdxl_watermark"]["detected"] is True
    assert data["summary"][0] == "fairframe watermark: detected, payload 0102 (confidence 0.990)"
    assert data["summary"][1].startswith("sdxl watermark: detected (")


def test_an_image_too_small_for_the_mark_is_reported_not_checked() -> None:
    from fairframe.provenance.watermark import KeyedWatermark

    strip = photo(2, h=40, w=600)  # a valid image, under the mark's 48 px minimum side
    report = inspect_provenance(png(strip), watermark=KeyedWatermark(key=b"k" * 32))
    assert report.fairframe_watermark is None and report.errors == ()
    assert report.summary[0].startswith("fairframe watermark: not checked (image is 600x40")


def test_c2pa_signed_input_and_decision_embedding() -> None:
    pytest.importorskip("c2pa")
    from fairframe.testing.certs import make_test_chain

    chain = make_test_chain()
    creds = c2pa_mod.SigningCredentials(
        cert_chain_pem=chain.chain_pem, private_key_pem=chain.key_pem
    )
    signed = c2pa_mod.sign_image(
        png(photo(2)),
        credentials=creds,
        model="tiny-sd",
        policy_version="p1",
        decision={"action": "allow", "categories": {}, "attempts": 1},
    )
    untrusted = inspect_provenance(signed)
    assert untrusted.c2pa.state == "untrusted"
    assert untrusted.generated  # an intact manifest declaring trainedAlgorithmicMedia
    valid = inspect_provenance(signed, trust_anchors_pem=chain.root_pem)
    assert valid.c2pa.state == "valid"
    line = valid.summary[-1]
    assert line.startswith("c2pa: valid (generator fairframe/") and "model tiny-sd" in line
    data = valid.to_json()
    assert "manifest" not in data["c2pa"]
    assert valid.to_json(include_manifest=True)["c2pa"]["manifest"]["assertions"]
    assert data["c2pa"]["fairframe"]["decision"] == {
        "action": "allow",
        "categories": {},
        "attempts": 1,
    }
    # it is what goes into Decision.provenance, and survives the decision's JSON round trip
    decision = Decision(action=Action.ALLOW, provenance=data)
    assert Decision.from_dict(json.loads(decision.to_json())).provenance["c2pa"]["state"] == "valid"


def test_missing_c2pa_reports_error_and_keeps_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> Any:
        raise MissingDependencyError("c2pa", "provenance", "C2PA content credentials")

    monkeypatch.setattr(c2pa_mod, "_c2pa", missing)
    report = inspect_provenance(png(embed_sdxl_watermark(photo(3))), watermark=FakeVerifier())
    assert isinstance(report, ProvenanceReport)
    assert report.c2pa.state == "error"
    assert "fairframe[provenance]" in report.c2pa.detail
    assert report.errors and "fairframe[provenance]" in report.errors[0]
    assert report.sdxl_watermark.detected
    assert report.fairframe_watermark is not None and not report.fairframe_watermark.detected
    assert report.summary[-1].startswith("c2pa: error (c2pa is not installed")


def test_small_and_bad_inputs() -> None:
    small = inspect_provenance(png(photo(0, 64, 64)))
    assert small.sdxl_watermark.reason is not None
    assert small.summary[0].startswith("sdxl watermark: not checked")
    with pytest.raises(InputDataError):
        inspect_provenance(b"definitely not an image")


def test_a_sync_pattern_without_a_payload_is_reported_as_such() -> None:
    @dataclass(frozen=True)
    class SyncOnly(FakeResult):
        sync_p_value: float = 1e-9

    class Verifier:
        def verify(self, image: Image.Image) -> FakeResult:
            return SyncOnly(False, None, 0.999)

    report = inspect_provenance(png(photo()), watermark=Verifier())
    assert report.summary[0] == ("fairframe watermark: this key's sync pattern is present "
                                 "(p=1e-09) but the payload is unreadable")
    weak = SyncOnly(False, None, 0.5, sync_p_value=0.01)

    class Weak:
        def verify(self, image: Image.Image) -> FakeResult:
            return weak

    report = inspect_provenance(png(photo()), watermark=Weak())
    assert report.summary[0] == "fairframe watermark: not detected (p=0.5)"
    near = SyncOnly(False, None, 1.0 - 3.2e-5, sync_p_value=1.6e-5)  # the CRC failed

    class Near:
        def verify(self, image: Image.Image) -> FakeResult:
            return near

    report = inspect_provenance(png(photo()), watermark=Near())
    assert report.summary[0].startswith("fairframe watermark: not detected (p=3.2e-05; some ")
