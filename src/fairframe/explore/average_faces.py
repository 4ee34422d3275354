r"""Average faces per (caption, model, group), after Stable Bias's Average Diffusion Faces.

For each image the **largest** face found by the detector (default ``opencv-cascade``, see
:mod:`fairframe.measure.faces`) is aligned by :func:`fairframe.measure.faces.align_face`: a
similarity transform puts the two eyes at the canonical ArcFace positions of a 112 × 112 crop
(scaled to ``size``), or, when the detector gives no eyes, a square crop centred on the face box.

The aligned crops of a cell are averaged **in linear light**: each pixel is decoded from sRGB to
linear RGB, the arithmetic mean is taken, and the mean is encoded back to sRGB. (Averaging the
gamma-encoded values instead gives a darker, muddier face; linear light is what mixing the light of
the faces would look like.) A cell is keyed by caption (or every caption, ``"*"``), by model (or
every model, ``"*"``) and by a group: all images (``("*", "*")``) or one label of one bias
(``("gender", "woman")``). Every cell reports
how many images it had and how many faces were averaged; a cell with no face has no image and says
why.

Averages of generated faces are a way to *look* at what a model produces for a caption; they are
not people, and a blurred average hides the spread — read them with their ``n``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from fairframe.measure.colour import linear_to_srgb, srgb_to_linear

if TYPE_CHECKING:
    from fairframe.measure._face import Face, FaceDetector

__all__ = ["ALL", "AverageFace", "FaceAverager", "aligned_largest_face"]

#: The key standing for "every caption" or "every image".
ALL = "*"


@dataclass(frozen=True)
class AverageFace:
    """One cell of the average-face table.

    Attributes
    ----------
    caption_id:
        The caption, or :data:`ALL`.
    bias, group:
        The bias id and its label, or :data:`ALL` for all images.
    n_images:
        Images in the cell.
    n_faces:
        Faces averaged (images where a face was found).
    image:
        The average, ``size × size`` RGB, or ``None`` when no face was found.
    reason:
        Why there is no image (``None`` when there is one).
    model:
        The model, or :data:`ALL` for every model.
    """

    caption_id: str
    bias: str
    group: str
    n_images: int
    n_faces: int
    image: Image.Image | None
    reason: str | None = None
    model: str = ALL


def aligned_largest_face(image: Image.Image, detector: FaceDetector, size: int = 112
                         ) -> tuple[Image.Image, Face] | None:
    """The largest face of ``image`` aligned to ``size × size``, or ``None`` when none is found."""
    from fairframe.measure.faces import align_face

    faces = detector.detect(image)
    if not faces:
        return None
    face = max(faces, key=lambda f: f.area)
    return align_face(image, face, size=size), face


class FaceAverager:
    """Accumulates aligned faces into cells and produces :class:`AverageFace` values.

    Parameters
    ----------
    size:
        Side of the aligned crops and of the averages.
    """

    def __init__(self, size: int = 112) -> None:
        self.size = size
        self._sums: dict[tuple[str, str, str, str], npt.NDArray[np.float64]] = {}
        self._faces: dict[tuple[str, str, str, str], int] = {}
        self._images: dict[tuple[str, str, str, str], int] = {}

    @staticmethod
    def keys(caption_id: str, groups: Mapping[str, str], model: str = ALL
             ) -> list[tuple[str, str, str, str]]:
        """The cells ``(caption, model, bias, group)`` an image of ``caption_id`` by ``model``
        with ``groups`` belongs to."""
        out = []
        for cap in (caption_id, ALL):
            for mod in dict.fromkeys((model, ALL)):
                out.append((cap, mod, ALL, ALL))
                out.extend((cap, mod, bias, label) for bias, label in groups.items())
        return out

    def add(self, caption_id: str, groups: Mapping[str, str], face: Image.Image | None,
            model: str = ALL) -> None:
        """Count one image of ``model``; add its aligned ``face`` (``None``: no face found) to
        its cells."""
        lin = None
        if face is not None:
            arr = np.asarray(face.convert("RGB").resize((self.size, self.size)), dtype=np.uint8)
            lin = srgb_to_linear(arr)
        for key in self.keys(caption_id, groups, model):
            self._images[key] = self._images.get(key, 0) + 1
            if lin is not None:
                self._faces[key] = self._faces.get(key, 0) + 1
                if key in self._sums:
                    self._sums[key] += lin
                else:
                    self._sums[key] = lin.copy()

    def cell(self, caption_id: str, bias: str = ALL, group: str = ALL, *, model: str = ALL
             ) -> AverageFace:
        """The average of one cell (an empty cell says why it has no image)."""
        key = (caption_id, model, bias, group)
        n_img = self._images.get(key, 0)
        n_face = self._faces.get(key, 0)
        if n_face == 0:
            reason = ("no images in this group" if n_img == 0
                      else f"no face found in {'the' if n_img == 1 else 'any of the'} "
                           f"{n_img} image{'s' if n_img != 1 else ''}")
            return AverageFace(caption_id, bias, group, n_img, 0, None, reason, model)
        mean = self._sums[key] / n_face
        srgb = np.round(linear_to_srgb(mean) * 255.0).astype(np.uint8)
        return AverageFace(caption_id, bias, group, n_img, n_face, Image.fromarray(srgb, "RGB"),
                           None, model)

    def cells(self) -> Iterable[AverageFace]:
        """Every cell with at least one image, in insertion order."""
        for cap, mod, bias, group in self._images:
            yield self.cell(cap, bias, group, model=mod)

    def counts(self) -> dict[str, Any]:
        """Images and faces over all captions and models."""
        key = (ALL, ALL, ALL, ALL)
        return {"images": self._images.get(key, 0), "faces": self._faces.get(key, 0)}
