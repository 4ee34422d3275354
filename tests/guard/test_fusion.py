from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from fairframe.errors import ConfigError
from fairframe.guard.calibration import expected_calibration_error, sigmoid
from fairframe.guard.fusion import Fusion, PlattMap, fit_calibration
from fairframe.guard.policy import Category


def test_noisy_or_by_hand() -> None:
    f = Fusion()
    scores = f.fuse({"lexicon": {"nudity": 0.5}, "embedding": {"nudity": 0.6, "violence": 0.1}})
    assert scores["nudity"] == pytest.approx(1 - 0.5 * 0.4)
    assert scores["violence"] == pytest.approx(0.1)
    assert set(scores) == {c.value for c in Category}
    assert scores["hate"] == 0.0


def test_absent_is_no_opinion_and_zero_does_not_veto() -> None:
    f = Fusion()
    assert f.fuse({"lexicon": {"nudity": 0.0}, "embedding": {"nudity": 0.8}})["nudity"] == (
        pytest.approx(0.8)
    )
    assert f.fuse({"embedding": {"nudity": 0.8}})["nudity"] == pytest.approx(0.8)


def test_weights_scale_each_stage() -> None:
    f = Fusion(weights={"llm_judge": 0.5})
    assert f.fuse({"llm_judge": {"hate": 0.8}})["hate"] == pytest.approx(0.4)


def test_token_soup_amplifies_weak_evidence() -> None:
    f = Fusion(gamma=2.0, soup_min=0.5)
    plain = f.fuse({"embedding": {"nudity": 0.4}})["nudity"]
    soup = f.fuse({"embedding": {"nudity": 0.4}, "gibberish": {"adversarial": 0.9}})
    assert plain == pytest.approx(0.4)
    assert soup["nudity"] == pytest.approx(1 - 0.6 ** 2.8)  # the docstring's worked example
    assert soup["adversarial"] == pytest.approx(0.9)
    below = f.fuse({"embedding": {"nudity": 0.4}, "gibberish": {"adversarial": 0.3}})
    assert below["nudity"] == pytest.approx(0.4)


def test_monotone_in_every_stage_probability() -> None:
    rng = np.random.default_rng(0)
    f = Fusion(weights={"a": 0.7}, calibration={"*": PlattMap(1.5, -0.5)})
    for _ in range(200):
        p = rng.random(3)
        base = f.fuse({"a": {"hate": p[0]}, "b": {"hate": p[1]},
                       "gibberish": {"adversarial": p[2]}})
        bumped = f.fuse({"a": {"hate": min(1, p[0] + 0.1)}, "b": {"hate": p[1]},
                         "gibberish": {"adversarial": p[2]}})
        assert bumped["hate"] >= base["hate"] - 1e-12


def test_platt_map_by_hand() -> None:
    m = PlattMap(2.0, 1.0)
    q = 0.3
    assert m(q) == pytest.approx(1 / (1 + math.exp(-(2 * math.log(0.3 / 0.7) + 1))))
    assert m(0.0) == 0.0
    assert PlattMap()(0.37) == 0.37
    with pytest.raises(ConfigError):
        PlattMap(-1.0, 0.0)


def test_fit_calibration_recovers_a_simulated_map() -> None:
    rng = np.random.default_rng(1)
    q = rng.uniform(0.01, 0.99, 20000)
    z = np.log(q / (1 - q))
    true_p = sigmoid(0.5 * z - 1.0)  # the raw score is over-confident and biased
    y = (rng.random(q.size) < true_p).astype(int)
    m = fit_calibration(q, y)
    assert m.a == pytest.approx(0.5, abs=0.05)
    assert m.b == pytest.approx(-1.0, abs=0.08)
    calibrated = np.array([m(v) for v in q])
    assert expected_calibration_error(calibrated, y) < 0.02
    assert expected_calibration_error(q, y) > 0.1


def test_round_trip_and_bad_files(tmp_path: Path) -> None:
    f = Fusion(weights={"embedding": 0.9}, gamma=1.0, calibration={"nudity": PlattMap(1.2, 0.1)})
    path = tmp_path / "fusion.json"
    f.save(path)
    assert Fusion.load(path) == f
    path.write_text(json.dumps({"weights": {}, "bogus": 1}))
    with pytest.raises(ConfigError, match="bogus"):
        Fusion.load(path)
    path.write_text(json.dumps({"calibration": {"nudes": {"a": 1, "b": 0}}}))
    with pytest.raises(ConfigError, match="nudes"):
        Fusion.load(path)
    with pytest.raises(ConfigError, match="does not exist"):
        Fusion.load(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        Fusion(weights={"x": 1.5})


def test_category_weights_and_the_defaults() -> None:
    f = Fusion()
    scores = f.fuse({"embedding": {"copyright": 0.9, "violence": 0.9}})
    assert scores["copyright"] == 0.0  # the embedding does not judge names (DEFAULT_WEIGHTS)
    assert scores["violence"] == pytest.approx(0.9)
    assert f.fuse({"lexicon": {"copyright": 0.9}})["copyright"] == pytest.approx(0.9)
    # shocking: the embedding alone counts 0.85 times (0.8 -> 0.68, below the 0.7 threshold)
    assert f.fuse({"embedding": {"shocking": 0.8}})["shocking"] == pytest.approx(0.68)
    assert f.fuse({"lexicon": {"shocking": 0.8}})["shocking"] == pytest.approx(0.8)
    g = Fusion(weights={"judge": 0.5, "judge:hate": 1.0})
    out = g.fuse({"judge": {"hate": 0.8, "violence": 0.8}})
    assert out["hate"] == pytest.approx(0.8) and out["violence"] == pytest.approx(0.4)


def test_minors_gate_needs_sexual_evidence() -> None:
    f = Fusion()
    child = f.fuse({"embedding": {"sexual_minors": 0.9, "sexual": 0.05, "nudity": 0.1}})
    assert child["sexual_minors"] == pytest.approx(0.1)  # capped at max(sexual, nudity)
    explicit = f.fuse({"embedding": {"sexual_minors": 0.9, "sexual": 0.95}})
    assert explicit["sexual_minors"] == pytest.approx(0.9)
    lex = f.fuse({"lexicon": {"sexual_minors": 0.9}, "embedding": {"sexual_minors": 0.9}})
    assert lex["sexual_minors"] == pytest.approx(0.9)  # the lexicon already needs co-occurrence
    off = Fusion(minors_gate=False).fuse({"embedding": {"sexual_minors": 0.9}})
    assert off["sexual_minors"] == pytest.approx(0.9)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"gamma": float("nan")}, "gamma must be a finite number >= 0 .got nan"),
        ({"gamma": float("inf")}, "gamma must be a finite number"),
        ({"gamma": -1}, "gamma must be a finite number >= 0"),
        ({"weights": {"lexicon:nudez": 0.5}}, "'lexicon:nudez': a key is 'STAGE' or"),
        ({"weights": {":nudity": 0.5}}, "a key is 'STAGE' or 'STAGE:CATEGORY'"),
    ],
)
def test_bad_numbers_and_weight_keys_are_refused(data: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=f"fu.json: .*{match}"):
        Fusion.from_dict(data, source="fu.json")


def test_a_misspelt_stage_weight_is_refused_by_the_guard() -> None:
    from fairframe.guard import default_lexicon
    from fairframe.guard.pipeline import PromptGuard

    with pytest.raises(ConfigError, match="'embeding' names no stage; did you mean 'embedding'"):
        PromptGuard([default_lexicon()], fusion=Fusion(weights={"embeding": 0.0}))
    # a stage of the image path (or of another guard) is not a typo: it passes
    assert PromptGuard([default_lexicon()], fusion=Fusion(weights={"nudenet": 0.5}))
