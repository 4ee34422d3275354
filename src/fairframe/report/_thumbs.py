"""Small JPEG thumbnails as ``data:`` URIs, so the report is one file that needs nothing else."""

from __future__ import annotations

import base64
import io
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

__all__ = ["Thumbnail", "encode_thumbnails", "make_thumbnail"]


@dataclass(frozen=True)
class Thumbnail:
    """One embedded image, or why it could not be embedded.

    Attributes
    ----------
    data_uri:
        ``data:image/jpeg;base64,...``, or ``None`` when the image is missing or unreadable.
    width, height:
        Pixel size of the thumbnail (0 when there is none).
    problem:
        Why there is no thumbnail (``"image file missing"``, ``"not an image"``, ...).
    """

    data_uri: str | None
    width: int = 0
    height: int = 0
    problem: str | None = None


def make_thumbnail(path: Path, size: int, *, quality: int = 82) -> Thumbnail:
    """Shrink the image at ``path`` to fit ``size`` x ``size`` (never enlarged) as a JPEG."""
    if not path.is_file():
        return Thumbnail(None, problem="image file missing")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.draft("RGB", (size, size))
                rgb = img.convert("RGB")
        rgb.thumbnail((size, size), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        rgb.save(buf, format="JPEG", quality=quality, optimize=True)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        return Thumbnail(None, problem=f"unreadable image ({type(exc).__name__})")
    uri = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    return Thumbnail(uri, rgb.width, rgb.height)


def encode_thumbnails(run_dir: Path, rel_paths: Iterable[str], size: int
                      ) -> dict[str, Thumbnail]:
    """One :class:`Thumbnail` per distinct relative path (each image is encoded once)."""
    return {rel: make_thumbnail(run_dir / rel, size) for rel in dict.fromkeys(rel_paths)}
