r"""Colourfulness of an image (Hasler and Süsstrunk 2003).

On 8-bit sRGB values (RGB order, no linearisation, as in the paper), with opponent channels
:math:`rg = R - G` and :math:`yb = \tfrac12 (R + G) - B` over all pixels:

.. math::
    M = \sqrt{\sigma_{rg}^2 + \sigma_{yb}^2} + 0.3 \sqrt{\mu_{rg}^2 + \mu_{yb}^2}

Range ``[0, ~180]`` (0 for any grey image); higher is more colourful. The paper's perceptual
anchors (:data:`COLORFULNESS_LEVELS`): not colourful 0, slightly 15, moderately 33, averagely 45,
quite 59, highly 82, extremely 109. Its correlation with observers' ratings was 95.3 %.

References
----------
.. [1] D. Hasler, S. Süsstrunk, "Measuring colourfulness in natural images", Proc. SPIE 5007,
   Human Vision and Electronic Imaging VIII, 2003.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fairframe.measure.skin_tone import prepare_rgb

if TYPE_CHECKING:
    from typing import Literal

    from PIL import Image

__all__ = ["COLORFULNESS_LEVELS", "colorfulness", "colorfulness_level"]

#: Hasler–Süsstrunk anchors: (lower bound of M, level name), ascending.
COLORFULNESS_LEVELS: tuple[tuple[float, str], ...] = (
    (0.0, "not colorful"),
    (15.0, "slightly colorful"),
    (33.0, "moderately colorful"),
    (45.0, "averagely colorful"),
    (59.0, "quite colorful"),
    (82.0, "highly colorful"),
    (109.0, "extremely colorful"),
)


def colorfulness(
    image: Image.Image | npt.NDArray[Any], *, channel_order: Literal["RGB", "BGR"] = "RGB"
) -> float:
    """Hasler–Süsstrunk colourfulness :math:`M` of an image (see the module docstring).

    Parameters
    ----------
    image:
        PIL image or ``H×W×3`` array (RGB unless ``channel_order="BGR"``).
    channel_order:
        Channel order of an array input.

    Returns
    -------
    float
        :math:`M \\ge 0`; 0 for greys.

    Examples
    --------
    >>> import numpy as np
    >>> colorfulness(np.full((8, 8, 3), 128, dtype=np.uint8))
    0.0
    """
    rgb = prepare_rgb(image, channel_order).astype(np.float64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    sigma = float(np.hypot(rg.std(), yb.std()))
    mu = float(np.hypot(rg.mean(), yb.mean()))
    return sigma + 0.3 * mu


def colorfulness_level(m: float) -> str:
    """The Hasler–Süsstrunk level name whose band holds ``m`` (e.g. ``"quite colorful"``)."""
    name = COLORFULNESS_LEVELS[0][1]
    for lower, level in COLORFULNESS_LEVELS:
        if m >= lower:
            name = level
    return name
