from __future__ import annotations

import numpy as np
import pytest

from fairframe.measure.colour import (
    delta_e_2000,
    ita,
    lab_to_srgb,
    lab_to_xyz,
    linear_to_srgb,
    srgb_to_lab,
    srgb_to_linear,
    xyz_to_lab,
)

# Sharma, Wu & Dalal (2005), Table 1 "CIEDE2000 test data" — pairs typed in by hand:
# (L1, a1, b1, L2, a2, b2, ΔE00)
SHARMA = [
    (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),   # pair 1
    (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),   # pair 2
    (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),  # pair 4
    (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),      # pair 7
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),     # pair 9 (hue wrap)
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),     # pair 11 (hue wrap)
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461),     # pair 15
    (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),   # pair 17
    (50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030),   # pair 19
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644), # pair 25
    (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373), # pair 29
    (90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381),   # pair 32
    (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),      # pair 34
]


@pytest.mark.parametrize("row", SHARMA)
def test_ciede2000_matches_sharma(row: tuple[float, ...]) -> None:
    lab1, lab2, expected = row[:3], row[3:6], row[6]
    assert delta_e_2000(lab1, lab2) == pytest.approx(expected, abs=1e-4)
    assert delta_e_2000(lab2, lab1) == pytest.approx(expected, abs=1e-4)  # symmetric


def test_ciede2000_vectorised_and_zero() -> None:
    rows = np.array(SHARMA)
    out = delta_e_2000(rows[:, :3], rows[:, 3:6])
    np.testing.assert_allclose(out, rows[:, 6], atol=1e-4)
    assert delta_e_2000((50.0, 10.0, 10.0), (50.0, 10.0, 10.0)) == 0.0


def test_known_srgb_to_lab() -> None:
    np.testing.assert_allclose(srgb_to_lab(np.array([255, 255, 255], np.uint8)), [100, 0, 0],
                               atol=1e-3)
    np.testing.assert_allclose(srgb_to_lab(np.array([0, 0, 0], np.uint8)), [0, 0, 0], atol=1e-9)
    # sRGB red, the textbook value (D65): L* 53.24, a* 80.09, b* 67.20
    np.testing.assert_allclose(srgb_to_lab(np.array([255, 0, 0], np.uint8)),
                               [53.24, 80.09, 67.20], atol=0.02)
    # uint8 and [0, 1] floats mean the same
    np.testing.assert_allclose(srgb_to_lab(np.array([128, 64, 32], np.uint8)),
                               srgb_to_lab(np.array([128, 64, 32]) / 255.0))


def test_round_trips() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.random((200, 3))
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(rgb)), rgb, atol=1e-12)
    lab = srgb_to_lab(rgb)
    np.testing.assert_allclose(xyz_to_lab(lab_to_xyz(lab)), lab, atol=1e-9)
    np.testing.assert_allclose(lab_to_srgb(lab), rgb, atol=1e-9)


def test_channel_axis_checked() -> None:
    with pytest.raises(ValueError, match="3 channels"):
        srgb_to_lab(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="uint8"):
        srgb_to_lab(np.zeros(3, dtype=np.int32))


def test_ita_formula_and_atan2() -> None:
    assert ita((50.0, 0.0, 10.0)) == pytest.approx(0.0)
    assert ita((60.0, 0.0, 10.0)) == pytest.approx(45.0)
    assert ita((40.0, 0.0, 10.0)) == pytest.approx(-45.0)
    assert ita((70.0, 0.0, 0.0)) == pytest.approx(90.0)  # b* = 0: finite, unlike arctan(x / b)
    np.testing.assert_allclose(ita(np.array([[60.0, 0, 10], [40.0, 0, 10]])), [45.0, -45.0])
