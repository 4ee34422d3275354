"""``fairframe measure``: skin tone, faces and colourfulness of an image or a folder of images.

A folder prints one JSON line per file, sorted by path; a file that is not a readable image gives
an ``{"path", "error"}`` line and the rest continue; the exit code is then 2.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from fairframe.cli._common import handle_errors, print_json
from fairframe.errors import BackendError, InputDataError
from fairframe.images import IMAGE_SUFFIXES, load_image

__all__ = ["measure_app"]

measure_app = typer.Typer(
    name="measure",
    help="Measure images: skin tone (ITA, Monk scale), faces, colourfulness.",
    no_args_is_help=True,
)

_PATH = typer.Argument(..., help="An image file, or a folder of images (one JSON line each).")
_JSON = typer.Option(False, "--json", help="Print JSON instead of a summary line.")
_DETECTOR = typer.Option("opencv-cascade", "--detector",
                         help="Face detector: opencv-cascade, nudenet, mediapipe (if installed).")

Measure = Callable[[Any], dict[str, Any]]


def _run(path: Path, measure: Measure, as_json: bool, summary: Callable[[dict[str, Any]], str]
         ) -> None:
    if path.is_dir():
        # recursively, like `explore`: an audit run's images/ folder has one subfolder per caption
        files = sorted(p for p in path.rglob("*") if p.is_file()
                       and p.suffix.lower() in IMAGE_SUFFIXES
                       and not any(part.startswith(".") for part in p.relative_to(path).parts))
        if not files:
            raise InputDataError(
                f"folder {path} has no {', '.join(IMAGE_SUFFIXES)} files (searched recursively); "
                "pass an image or a folder of images")
        failed = False
        for file in files:
            try:
                row = {"path": str(file), **measure(load_image(file))}
            except (InputDataError, BackendError) as exc:
                row = {"path": str(file), "error": str(exc)}
                failed = True
            typer.echo(json.dumps(row, default=str))
        if failed:
            raise typer.Exit(2)
        return
    result = {"path": str(path), **measure(load_image(path))}
    if as_json:
        print_json(result)
    else:
        typer.echo(f"{path}: {summary(result)}")


def _skin_summary(r: dict[str, Any]) -> str:
    if r["status"] != "ok":
        return str(r["status"]).replace("_", " ")
    lab = ", ".join(f"{v:.1f}" for v in r["lab"])
    return (f"{r['monk_name']}  ITA {r['ita']:.1f}°  L*a*b* ({lab})  ΔE00 {r['delta_e']:.2f}  "
            f"({r['n_pixels']} skin pixels)")


@measure_app.command("skin-tone")
@handle_errors
def skin_tone_command(
    path: Path = _PATH,
    whole_image: bool = typer.Option(
        False, "--whole-image", help="Treat the whole image as skin (calibration patches)."
    ),
    detector: str = _DETECTOR,
    as_json: bool = _JSON,
) -> None:
    """Skin tone of the largest face: ITA in degrees and the Monk tone (MST1-MST10)."""
    from fairframe.measure.skin_tone import SkinToneEstimator

    est = SkinToneEstimator(detector=None if whole_image else detector)
    _run(path, lambda img: est.estimate(img, whole_image=whole_image).to_json(), as_json,
         _skin_summary)


@measure_app.command("faces")
@handle_errors
def faces_command(path: Path = _PATH, detector: str = _DETECTOR, as_json: bool = _JSON) -> None:
    """Faces found by a detector: count, boxes, scores and eye landmarks."""
    from fairframe.measure.faces import get_face_detector

    det = get_face_detector(detector)

    def measure(img: Any) -> dict[str, Any]:
        faces = det.detect(img)
        return {"detector": detector, "n_faces": len(faces), "faces": [f.to_json() for f in faces]}

    def summary(r: dict[str, Any]) -> str:
        boxes = "; ".join(
            "box " + ",".join(f"{v:.0f}" for v in f["box"]) + f" score {f['score']:.2f}"
            + (" +eyes" if f["landmarks"] else "") for f in r["faces"]
        )
        return f"{r['n_faces']} face(s)" + (f": {boxes}" if boxes else "")

    _run(path, measure, as_json, summary)


@measure_app.command("colorfulness")
@handle_errors
def colorfulness_command(path: Path = _PATH, as_json: bool = _JSON) -> None:
    """Hasler-Süsstrunk colourfulness M and its level name."""
    from fairframe.measure.colorfulness import colorfulness, colorfulness_level

    def measure(img: Any) -> dict[str, Any]:
        m = colorfulness(img)
        return {"colorfulness": round(m, 3), "level": colorfulness_level(m)}

    _run(path, measure, as_json, lambda r: f"{r['colorfulness']:.2f} ({r['level']})")
