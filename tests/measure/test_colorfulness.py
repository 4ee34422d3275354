from __future__ import annotations

import numpy as np
import pytest

from fairframe.measure.colorfulness import colorfulness, colorfulness_level


def test_grey_is_zero() -> None:
    for v in (0, 90, 255):
        assert colorfulness(np.full((10, 10, 3), v, dtype=np.uint8)) == 0.0


def test_hand_computed() -> None:
    # one pure-red half and one pure-blue half
    img = np.zeros((8, 8, 3), dtype=np.uint8)
    img[:4] = (255, 0, 0)
    img[4:] = (0, 0, 255)
    rg = np.array([255, 255, 0, 0], dtype=float)
    yb = np.array([127.5, 127.5, -255, -255])
    expected = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    assert colorfulness(img) == pytest.approx(expected)
    # channel order matters and is explicit
    assert colorfulness(img[:, :, ::-1].copy(), channel_order="BGR") == pytest.approx(expected)


def test_ordering_and_levels(astronaut: object) -> None:
    rng = np.random.default_rng(0)
    muted = (128 + rng.integers(-5, 6, (32, 32, 1)) * np.array([1, 1, 0.9])).astype(np.uint8)
    vivid = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert colorfulness(muted) < 15 < colorfulness(vivid)
    assert colorfulness_level(0.0) == "not colorful"
    assert colorfulness_level(50.0) == "averagely colorful"
    assert colorfulness_level(500.0) == "extremely colorful"
    assert 59 <= colorfulness(astronaut) < 82  # type: ignore[arg-type]
