"""ImageGuard: decisions, fusion, fail-closed, optional errors, latency, and bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fairframe.errors import BackendError, ConfigError, InputDataError
from fairframe.guard.decision import Action, Decision
from fairframe.guard.image import ImageGuard, NudeNetStage, VLMJudge
from fairframe.guard.pipeline import GuardUnavailableError
from fairframe.guard.policy import Category, parse_policy
from fairframe.images import to_png_bytes
from fairframe.measure import nudenet_faces
from fairframe.testing.openai_server import OpenAICompatibleServer
from tests.guard.image._helpers import ScriptedStage, encode, noise, png_header_only

GREY = Image.new("RGB", (32, 32), (128, 128, 128))


def test_noisy_or_weights_and_decision() -> None:
    a = ScriptedStage("a", {"nudity": 0.5})
    b = ScriptedStage("b", {"nudity": 0.5, "violence": 0.2})
    d = ImageGuard(stages=[a, b]).check(GREY)
    assert d.categories["nudity"] == pytest.approx(0.75)  # 1 - 0.5 * 0.5
    assert d.categories["violence"] == pytest.approx(0.2)
    assert set(d.categories) == {c.value for c in Category}  # unscored: 0.0
    assert d.categories["hate"] == 0.0
    assert d.action is Action.REWRITE  # nudity >= 0.7 in the default policy
    assert d.policy_version == "fairframe-default/2" and d.prompt_in is None
    assert [f.stage for f in d.findings] == ["a", "b", "b"]
    # weights: per stage, and per stage:category
    off = ImageGuard(stages=[a, b], weights={"b": 0.0}).check(GREY)
    assert off.categories["nudity"] == pytest.approx(0.5) and off.action is Action.ALLOW
    part = ImageGuard(stages=[a, b], weights={"b:nudity": 0.4}).check(GREY)
    assert part.categories["nudity"] == pytest.approx(0.6)  # 1 - 0.5 * (1 - 0.4 * 0.5)
    assert part.categories["violence"] == pytest.approx(0.2)
    with pytest.raises(ConfigError, match="weight"):
        ImageGuard(stages=[a], weights={"a": 1.5})


def test_minors_gate_and_policy() -> None:
    minors = ScriptedStage("judge", {"sexual_minors": 0.9, "sexual": 0.1})
    d = ImageGuard(stages=[minors]).check(GREY)
    assert d.categories["sexual_minors"] == pytest.approx(0.1)  # capped by sexual/nudity
    assert d.action is Action.ALLOW
    both = ScriptedStage("judge", {"sexual_minors": 0.9, "sexual": 0.8})
    assert ImageGuard(stages=[both]).check(GREY).action is Action.BLOCK
    strict = parse_policy({"version": "strict/1", "categories": {"violence": {
        "threshold": 0.1, "action": "flag"}}})
    d = ImageGuard(policy=strict, stages=[ScriptedStage("s", {"violence": 0.2})]).check(GREY)
    assert d.action is Action.FLAG and d.policy_version == "strict/1"


def test_prompts_images_and_latency_reach_stages() -> None:
    stage = ScriptedStage("s", {"nudity": 0.1})
    guard = ImageGuard(stages=[stage])
    d = guard.check(encode(noise(3), "PNG"), prompt="a red fox")
    assert d.prompt_in == "a red fox"
    ((images, prompts),) = stage.calls
    assert prompts == ["a red fox"] and images[0].mode == "RGB"
    assert np.array_equal(np.asarray(images[0]), np.asarray(noise(3)))  # PNG is lossless
    assert list(d.latency_ms) == ["decode", "s", "fusion"]
    assert all(v >= 0 for v in d.latency_ms.values())
    batch = guard.check_batch([GREY, noise(1)], ["one", None])
    assert [x.prompt_in for x in batch] == ["one", None]
    assert stage.calls[-1][1] == ["one", None] and len(stage.calls) == 2  # one call per batch
    assert guard.check_batch([]) == []
    with pytest.raises(InputDataError, match="one entry per image"):
        guard.check_batch([GREY], ["a", "b"])
    with pytest.raises(InputDataError, match="a prompt must be a string"):
        guard.check(GREY, prompt=3)  # type: ignore[arg-type]
    json.loads(d.to_json())  # serializable
    assert Decision.from_json(d.to_json()) == d


def test_bgr_guard_reverses_arrays() -> None:
    stage = ScriptedStage("s", {})
    bgr = np.zeros((16, 16, 3), dtype=np.uint8)
    bgr[..., 0] = 255
    ImageGuard(stages=[stage], channel_order="bgr").check(bgr)
    assert stage.calls[-1][0][0].getpixel((0, 0)) == (0, 0, 255)
    with pytest.raises(InputDataError, match="channel_order"):
        ImageGuard(stages=[stage], channel_order="hsv")  # type: ignore[arg-type]


def test_required_stage_failure_fails_closed() -> None:
    ok = ScriptedStage("ok", {"nudity": 0.2})
    bad = ScriptedStage("bad", {}, fail=BackendError("model exploded\ndetails"))
    with pytest.raises(GuardUnavailableError, match="required image guard stage bad: BackendError: "
                       "model exploded; refusing to decide"):
        ImageGuard(stages=[ok, bad]).check(GREY)
    third_party = ScriptedStage("tp", {}, fail=ZeroDivisionError("oops"))
    with pytest.raises(GuardUnavailableError, match="tp: ZeroDivisionError: oops"):
        ImageGuard(stages=[third_party]).check(GREY)


def test_optional_stage_failure_is_recorded() -> None:
    ok = ScriptedStage("ok", {"nudity": 0.8})
    bad = ScriptedStage("bad", {"violence": 1.0}, fail=BackendError("endpoint down"))
    d = ImageGuard(stages=[ok, bad], required=["ok"]).check(GREY)
    assert d.errors == ("bad: BackendError: endpoint down",)
    assert d.categories["nudity"] == pytest.approx(0.8) and d.categories["violence"] == 0.0
    assert "bad" not in d.latency_ms and d.action is Action.REWRITE


def test_broken_stage_and_constructor_errors() -> None:
    broken = ScriptedStage("broken", {}, extra=1)
    with pytest.raises(GuardUnavailableError, match="returned 2 results for 1 images"):
        ImageGuard(stages=[broken], required=[]).check(GREY)
    a = ScriptedStage("a", {})
    with pytest.raises(InputDataError, match="unique"):
        ImageGuard(stages=[a, ScriptedStage("a", {})])
    with pytest.raises(InputDataError, match="at least one stage"):
        ImageGuard(stages=[])
    with pytest.raises(InputDataError, match=r"required stages \['nudenet'\] are not configured"):
        ImageGuard(stages=[a], required=["nudenet"])


def test_identity_names_every_stage() -> None:
    ident = ImageGuard(stages=[NudeNetStage(), ScriptedStage("s", {})], required=["nudenet"],
                       weights={"s": 0.5}).identity()
    assert ident["policy_version"] == "fairframe-default/2"
    assert ident["required"] == ["nudenet"] and ident["weights"] == {"s": 0.5}
    stages = ident["stages"]
    assert isinstance(stages, dict)
    assert stages["s"] == {"class": "ScriptedStage"}
    assert stages["nudenet"]["backend"] == "nudenet"  # type: ignore[index,call-overload]
    json.dumps(ident)


def test_vlm_judge_down_optional_and_required() -> None:
    with OpenAICompatibleServer(chat=lambda body: '{"categories": {"violence": 0.9}}') as srv:
        judge = VLMJudge(base_url=srv.base_url, model="vlm", max_retries=0, backoff_s=0.0,
                         timeout_s=5.0)
        nn = ScriptedStage("nn", {"nudity": 0.1})
        guard = ImageGuard(stages=[nn, judge], required=["nn"])
        assert guard.check(GREY).action is Action.REWRITE  # violence 0.9
        srv.fail_next(1, status=500)
        d = guard.check(GREY)
        assert d.action is Action.ALLOW and len(d.errors) == 1
        assert d.errors[0].startswith("vlm_judge: EndpointStatusError: ")
        srv.fail_next(1, status=500)
        with pytest.raises(GuardUnavailableError, match="vlm_judge"):
            ImageGuard(stages=[nn, judge]).check(GREY)


# --------------------------------------------------------------------------- NudeNet default


def fake_nudenet(monkeypatch: pytest.MonkeyPatch, dets: list[dict[str, Any]]) -> None:
    monkeypatch.setattr(nudenet_faces, "nudenet_detections", lambda image: list(dets))


@pytest.mark.parametrize(
    ("dets", "action", "nudity", "sexual"),
    [
        ([], Action.ALLOW, 0.0, 0.0),
        ([{"class": "FEMALE_BREAST_EXPOSED", "score": 0.45, "box": [1, 2, 3, 4]}],
         Action.ALLOW, 0.63, 0.0),
        ([{"class": "FEMALE_BREAST_EXPOSED", "score": 0.6, "box": [1, 2, 3, 4]}],
         Action.REWRITE, 0.76, 0.0),
        ([{"class": "FEMALE_GENITALIA_EXPOSED", "score": 0.55, "box": [1, 2, 3, 4]}],
         Action.BLOCK, 0.73, 0.73),
    ],
)
def test_default_guard_is_nudenet(monkeypatch: pytest.MonkeyPatch, dets: list[dict[str, Any]],
                                  action: Action, nudity: float, sexual: float) -> None:
    fake_nudenet(monkeypatch, dets)
    guard = ImageGuard()
    assert guard.stage_names == ("nudenet",)
    d = guard.check(to_png_bytes(GREY))
    assert d.action is action
    assert d.categories["nudity"] == pytest.approx(nudity)
    assert d.categories["sexual"] == pytest.approx(sexual)
    assert all(f.evidence.box == (1, 2, 3, 4) for f in d.findings)
    if dets:
        assert d.to_dict()["findings"][0]["evidence"]["box"] == [1, 2, 3, 4]


def test_default_anchor_follows_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_nudenet(monkeypatch, [{"class": "BUTTOCKS_EXPOSED", "score": 0.5, "box": [0, 0, 5, 5]}])
    lax = parse_policy({"version": "p/1", "categories": {"nudity": {"threshold": 0.9}}})
    d = ImageGuard(policy=lax).check(GREY)
    assert d.categories["nudity"] == pytest.approx(0.9) and d.action is Action.REWRITE
    anchored = ImageGuard(policy=lax, stages=[NudeNetStage()]).check(GREY)
    assert anchored.categories["nudity"] == pytest.approx(0.7) and anchored.action is Action.ALLOW


def test_real_nudenet_astronaut_is_allowed() -> None:
    pytest.importorskip("nudenet")
    data = pytest.importorskip("skimage.data")
    guard = ImageGuard()
    guard.warm_up()
    d = guard.check(encode(Image.fromarray(data.astronaut()), "JPEG", quality=90),
                    prompt="an astronaut")
    assert d.action is Action.ALLOW and d.findings == ()
    assert d.categories["nudity"] == 0.0 and d.categories["sexual"] == 0.0
    assert set(d.latency_ms) == {"decode", "nudenet", "fusion"}


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (to_png_bytes(noise(0))[:200], "truncated or not an image"),
        (b"a photo of a cat, not an image", "truncated or not an image"),
        (png_header_only(20000, 20000), "too large to decode safely|over the limit"),
        (png_header_only(8500, 8500), "over the limit of 67108864"),
    ],
)
def test_bad_input_is_a_clear_error_before_any_stage(data: bytes, match: str) -> None:
    stage = ScriptedStage("s", {})
    with pytest.raises(InputDataError, match=match):
        ImageGuard(stages=[stage]).check(data)
    assert stage.calls == []


def test_bad_path_and_type(tmp_path: Path) -> None:
    guard = ImageGuard(stages=[ScriptedStage("s", {})])
    with pytest.raises(InputDataError, match="does not exist"):
        guard.check(tmp_path / "missing.png")
    with pytest.raises(InputDataError, match="image 1 is a int"):
        guard.check_batch([GREY, 7])


def _cmyk() -> bytes:
    return encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95)


def _png16() -> bytes:
    return encode(Image.fromarray(np.full((16, 16), 32896, dtype=np.uint16)), "PNG")


def _rgba() -> bytes:
    return encode(Image.new("RGBA", (16, 16), (255, 0, 0, 0)), "PNG")


def _palette() -> bytes:
    pal = Image.new("P", (16, 16), 1)
    pal.putpalette([0, 0, 0, 30, 60, 90] + [0, 0, 0] * 254)
    return encode(pal, "PNG")


def _gif() -> bytes:
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 0, 255))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:])


@pytest.mark.parametrize(
    ("make", "check"),
    [
        (_cmyk, lambda p: p[0] >= 250 and p[1] <= 5 and p[2] <= 5),  # red
        (_png16, lambda p: p == (128, 128, 128)),  # 16 -> 8 bits
        (_rgba, lambda p: p == (255, 255, 255)),  # transparent on white
        (_palette, lambda p: p == (30, 60, 90)),  # palette colour
        (_gif, lambda p: p[0] > 200 and p[2] < 50),  # first frame
    ],
)
def test_odd_modes_are_converted_as_documented(make: Any, check: Any) -> None:
    stage = ScriptedStage("s", {})
    ImageGuard(stages=[stage]).check(make())
    (img,) = stage.calls[0][0]
    assert img.mode == "RGB" and img.size == (16, 16)
    assert check(img.getpixel((8, 8)))
