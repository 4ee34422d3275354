"""Colour science in float64: sRGB ↔ linear RGB ↔ CIE XYZ ↔ CIELAB (D65), ΔE2000 and ITA.

Every function works on arrays whose **last axis holds the three channels** (any leading shape),
in **RGB order** for RGB arrays. No 8-bit OpenCV Lab (``L·2.55``, ``a+128``) anywhere: values are
true CIELAB, L* in ``[0, 100]``.

Pipeline (IEC 61966-2-1 sRGB, CIE 15 colorimetry, reference white D65)::

    sRGB' in [0, 1] --decode--> linear RGB --M--> XYZ (Y of white = 1) --f--> L*a*b*

References
----------
.. [1] IEC 61966-2-1:1999, sRGB.
.. [2] G. Sharma, W. Wu, E. N. Dalal, "The CIEDE2000 color-difference formula: implementation
   notes, supplementary test data, and mathematical observations", Color Res. Appl. 30(1), 2005.
.. [3] A. Chardon, I. Cretois, C. Hourseau, "Skin colour typology and suntanning pathways",
   Int. J. Cosmet. Sci. 13, 1991 (individual typology angle).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "D65_WHITE",
    "LINEAR_RGB_TO_XYZ",
    "XYZ_TO_LINEAR_RGB",
    "delta_e_2000",
    "ita",
    "lab_to_srgb",
    "lab_to_xyz",
    "linear_to_srgb",
    "linear_to_xyz",
    "srgb_to_lab",
    "srgb_to_linear",
    "xyz_to_lab",
    "xyz_to_linear",
]

FloatArray = npt.NDArray[np.float64]

#: D65 reference white in XYZ with Y = 1 (CIE 15, 2° observer).
D65_WHITE: FloatArray = np.array([0.95047, 1.0, 1.08883])

#: Linear sRGB (D65) → XYZ, IEC 61966-2-1.
LINEAR_RGB_TO_XYZ: FloatArray = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
#: XYZ → linear sRGB, the inverse of :data:`LINEAR_RGB_TO_XYZ`.
XYZ_TO_LINEAR_RGB: FloatArray = np.linalg.inv(LINEAR_RGB_TO_XYZ).astype(np.float64)

_EPS = 216.0 / 24389.0  # (6/29)^3
_KAPPA = 24389.0 / 27.0


def _as_float(values: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(values)
    if arr.shape[-1:] != (3,):
        raise ValueError(f"expected the last axis to hold 3 channels, got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.integer):
        if arr.dtype != np.uint8:
            raise ValueError(f"integer colours must be uint8 (0..255), got {arr.dtype}")
        return arr.astype(np.float64) / 255.0
    return arr.astype(np.float64, copy=False)


def srgb_to_linear(rgb: npt.ArrayLike) -> FloatArray:
    r"""Decode gamma-encoded sRGB to linear light.

    .. math:: C = \begin{cases} C'/12.92 & C' \le 0.04045 \\
              \left(\frac{C' + 0.055}{1.055}\right)^{2.4} & \text{otherwise} \end{cases}

    Parameters
    ----------
    rgb:
        ``(..., 3)`` RGB; ``uint8`` is read as ``0..255``, floats as ``[0, 1]``.

    Returns
    -------
    numpy.ndarray
        Linear RGB, float64, same shape.
    """
    c = _as_float(rgb)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(linear: npt.ArrayLike) -> FloatArray:
    r"""Encode linear light as sRGB in ``[0, 1]`` (clipped); inverse of :func:`srgb_to_linear`.

    .. math:: C' = \begin{cases} 12.92\,C & C \le 0.0031308 \\
              1.055\,C^{1/2.4} - 0.055 & \text{otherwise} \end{cases}
    """
    c = np.clip(_as_float(linear), 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1.0 / 2.4) - 0.055)


def linear_to_xyz(linear: npt.ArrayLike) -> FloatArray:
    """Linear RGB → CIE XYZ (D65, white has Y = 1): ``XYZ = M · RGB``."""
    return _as_float(linear) @ LINEAR_RGB_TO_XYZ.T


def xyz_to_linear(xyz: npt.ArrayLike) -> FloatArray:
    """CIE XYZ → linear RGB (unclipped): ``RGB = M⁻¹ · XYZ``."""
    return _as_float(xyz) @ XYZ_TO_LINEAR_RGB.T


def xyz_to_lab(xyz: npt.ArrayLike, white: npt.ArrayLike = D65_WHITE) -> FloatArray:
    r"""CIE XYZ → CIELAB.

    .. math::
        L^* = 116 f(Y/Y_n) - 16,\quad a^* = 500 [f(X/X_n) - f(Y/Y_n)],\quad
        b^* = 200 [f(Y/Y_n) - f(Z/Z_n)],

    with :math:`f(t) = t^{1/3}` for :math:`t > (6/29)^3`, else :math:`(\kappa t + 16)/116`,
    :math:`\kappa = 24389/27`.
    """
    t = _as_float(xyz) / np.asarray(white, dtype=np.float64)
    f = np.where(t > _EPS, np.cbrt(t), (_KAPPA * t + 16.0) / 116.0)
    lab = np.empty_like(f)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


def lab_to_xyz(lab: npt.ArrayLike, white: npt.ArrayLike = D65_WHITE) -> FloatArray:
    """CIELAB → CIE XYZ; inverse of :func:`xyz_to_lab`."""
    lab_ = _as_float(lab)
    fy = (lab_[..., 0] + 16.0) / 116.0
    fx = fy + lab_[..., 1] / 500.0
    fz = fy - lab_[..., 2] / 200.0
    f = np.stack([fx, fy, fz], axis=-1)
    t = np.where(f**3 > _EPS, f**3, (116.0 * f - 16.0) / _KAPPA)
    return t * np.asarray(white, dtype=np.float64)


def srgb_to_lab(rgb: npt.ArrayLike) -> FloatArray:
    """sRGB (RGB order; ``uint8`` or floats in ``[0, 1]``) → CIELAB D65, float64."""
    return xyz_to_lab(linear_to_xyz(srgb_to_linear(rgb)))


def lab_to_srgb(lab: npt.ArrayLike) -> FloatArray:
    """CIELAB D65 → sRGB floats in ``[0, 1]`` (out-of-gamut values clipped)."""
    return linear_to_srgb(xyz_to_linear(lab_to_xyz(lab)))


def delta_e_2000(
    lab1: npt.ArrayLike,
    lab2: npt.ArrayLike,
    *,
    k_l: float = 1.0,
    k_c: float = 1.0,
    k_h: float = 1.0,
) -> Any:
    r"""CIEDE2000 colour difference, following Sharma, Wu and Dalal (2005) [2]_.

    .. math::
        \Delta E_{00} = \sqrt{\left(\frac{\Delta L'}{k_L S_L}\right)^2
        + \left(\frac{\Delta C'}{k_C S_C}\right)^2 + \left(\frac{\Delta H'}{k_H S_H}\right)^2
        + R_T \frac{\Delta C'}{k_C S_C}\frac{\Delta H'}{k_H S_H}}

    with :math:`a' = (1 + G) a^*`, :math:`G = 0.5\,(1 - \sqrt{\bar C^7/(\bar C^7 + 25^7)})`, and
    the weighting functions :math:`S_L, S_C, S_H, R_T` of the standard. Range ``[0, ∞)``; about
    1 is a just-noticeable difference. Symmetric in its arguments.

    Parameters
    ----------
    lab1, lab2:
        ``(..., 3)`` CIELAB arrays, broadcastable against each other.
    k_l, k_c, k_h:
        Parametric weights (1 for the reference conditions).

    Returns
    -------
    float or numpy.ndarray
        The difference, one value per pair (a Python float for single colours).
    """
    a = np.asarray(lab1, dtype=np.float64)
    b = np.asarray(lab2, dtype=np.float64)
    l1, a1, b1 = a[..., 0], a[..., 1], a[..., 2]
    l2, a2, b2 = b[..., 0], b[..., 1], b[..., 2]
    c1 = np.hypot(a1, b1)
    c2 = np.hypot(a2, b2)
    c_bar7 = ((c1 + c2) / 2.0) ** 7
    g = 0.5 * (1.0 - np.sqrt(c_bar7 / (c_bar7 + 25.0**7)))
    a1p = (1.0 + g) * a1
    a2p = (1.0 + g) * a2
    c1p = np.hypot(a1p, b1)
    c2p = np.hypot(a2p, b2)
    h1p = np.where((a1p == 0) & (b1 == 0), 0.0, np.degrees(np.arctan2(b1, a1p)) % 360.0)
    h2p = np.where((a2p == 0) & (b2 == 0), 0.0, np.degrees(np.arctan2(b2, a2p)) % 360.0)

    d_lp = l2 - l1
    d_cp = c2p - c1p
    cc = c1p * c2p
    dh = h2p - h1p
    dh = np.where(dh > 180.0, dh - 360.0, np.where(dh < -180.0, dh + 360.0, dh))
    dh = np.where(cc == 0, 0.0, dh)
    d_hp = 2.0 * np.sqrt(cc) * np.sin(np.radians(dh) / 2.0)

    l_bar = (l1 + l2) / 2.0
    c_bar_p = (c1p + c2p) / 2.0
    h_sum = h1p + h2p
    h_bar = np.where(
        cc == 0,
        h_sum,
        np.where(
            np.abs(h1p - h2p) <= 180.0,
            h_sum / 2.0,
            np.where(h_sum < 360.0, (h_sum + 360.0) / 2.0, (h_sum - 360.0) / 2.0),
        ),
    )
    t = (
        1.0
        - 0.17 * np.cos(np.radians(h_bar - 30.0))
        + 0.24 * np.cos(np.radians(2.0 * h_bar))
        + 0.32 * np.cos(np.radians(3.0 * h_bar + 6.0))
        - 0.20 * np.cos(np.radians(4.0 * h_bar - 63.0))
    )
    d_theta = 30.0 * np.exp(-(((h_bar - 275.0) / 25.0) ** 2))
    c_bar_p7 = c_bar_p**7
    r_c = 2.0 * np.sqrt(c_bar_p7 / (c_bar_p7 + 25.0**7))
    s_l = 1.0 + 0.015 * (l_bar - 50.0) ** 2 / np.sqrt(20.0 + (l_bar - 50.0) ** 2)
    s_c = 1.0 + 0.045 * c_bar_p
    s_h = 1.0 + 0.015 * c_bar_p * t
    r_t = -np.sin(np.radians(2.0 * d_theta)) * r_c
    tl = d_lp / (k_l * s_l)
    tc = d_cp / (k_c * s_c)
    th = d_hp / (k_h * s_h)
    out = np.sqrt(tl**2 + tc**2 + th**2 + r_t * tc * th)
    return float(out) if out.ndim == 0 else out


def ita(lab: npt.ArrayLike) -> Any:
    r"""Individual typology angle in degrees (Chardon et al. 1991 [3]_).

    .. math:: \mathrm{ITA} = \operatorname{atan2}(L^* - 50,\; b^*) \cdot 180/\pi

    ``atan2`` equals the classic :math:`\arctan((L^*-50)/b^*)` for :math:`b^* > 0` and stays finite
    as :math:`b^* \to 0`. Range ``(-180, 180]``; higher is lighter skin. Conventional bins: very
    light > 55°, light 41–55°, intermediate 28–41°, tan 10–28°, brown −30–10°, dark < −30°.

    Parameters
    ----------
    lab:
        ``(..., 3)`` CIELAB (only L* and b* are used).

    Returns
    -------
    float or numpy.ndarray
        The angle, a Python float for a single colour.
    """
    arr = np.asarray(lab, dtype=np.float64)
    out = np.degrees(np.arctan2(arr[..., 0] - 50.0, arr[..., 2]))
    return float(out) if np.ndim(out) == 0 else out
