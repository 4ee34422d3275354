"""Face detection + skin tone speed, a detector comparison, and skin-tone calibration error.

1. **Detector comparison** (the documented basis of the default detector): on
   ``skimage.data.astronaut()``, did each detector find the face, the IoU of its box with a hand
   box, whether it gives eye landmarks; and how many "faces" it reports on bundled images with no
   human face (cat, coffee, rocket) — false positives.
2. **Speed**: images per second for detection + skin tone, per detector, on 2 threads, over
   astronaut, camera, chelsea, coffee and rocket (peer: detection alone).
3. **Calibration**: each Monk swatch as a 64x64 patch, measured with ``whole_image=True``, under
   exposure x0.8 / x1.2 (in linear light), white balance warm / cool (linear R x1.1, B x0.9 and
   the reverse), and JPEG q=75; error = |measured tone − true tone| in Monk steps, and ΔITA.

Run: ``python benchmarks/bench_measure.py``.
"""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from _common import write_result  # noqa: E402
from fairframe.measure.colour import linear_to_srgb, srgb_to_linear  # noqa: E402
from fairframe.measure.faces import FACE_DETECTORS, get_face_detector  # noqa: E402
from fairframe.measure.skin_tone import MONK_SWATCHES, SkinToneEstimator  # noqa: E402

#: Hand box on astronaut (x, y, w, h): hairline to chin, across the skin of the face.
ASTRONAUT_FACE = (178.0, 78.0, 94.0, 100.0)
REPEATS = 20


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def bundled() -> dict[str, Image.Image]:
    from skimage import data

    out = {}
    for name in ("astronaut", "camera", "chelsea", "coffee", "rocket"):
        out[name] = Image.fromarray(getattr(data, name)()).convert("RGB")
    return out


def detectors() -> dict[str, Any]:
    out = {}
    for name in FACE_DETECTORS.names():
        try:
            det = get_face_detector(name)
            det.detect(Image.new("RGB", (64, 64)))  # loads the model
            out[name] = det
        except ImportError as exc:  # MissingDependencyError or a mediapipe without solutions
            print(f"skipping {name}: {exc}")
    return out


def compare(dets: dict[str, Any], images: dict[str, Image.Image]) -> dict[str, Any]:
    rows = {}
    for name, det in dets.items():
        faces = det.detect(images["astronaut"])
        best = max((iou(f.box, ASTRONAUT_FACE) for f in faces), default=0.0)
        skin = SkinToneEstimator(detector=det).estimate(images["astronaut"])
        rows[name] = {
            "astronaut_found": bool(faces),
            "astronaut_n_faces": len(faces),
            "astronaut_iou_vs_hand_box": round(best, 3),
            "astronaut_box": [round(v, 1) for v in faces[0].box] if faces else None,
            "eye_landmarks": bool(faces and faces[0].landmarks),
            "astronaut_ita": None if skin.ita is None else round(skin.ita, 2),
            "astronaut_monk": skin.monk,
            "faces_on_images_without_a_human_face": {
                k: len(det.detect(images[k])) for k in ("chelsea", "coffee", "rocket")
            },
            "camera_n_faces": len(det.detect(images["camera"])),
            "identity": dict(det.identity()),
        }
    return rows


def speed(dets: dict[str, Any], images: dict[str, Image.Image]) -> dict[str, Any]:
    try:
        import cv2

        cv2.setNumThreads(2)
    except ImportError:
        pass
    out = {}
    imgs = list(images.values())
    for name, det in dets.items():
        est = SkinToneEstimator(detector=det)
        t0 = time.perf_counter()
        for _ in range(REPEATS):
            for img in imgs:
                det.detect(img)
        detect_s = (time.perf_counter() - t0) / (REPEATS * len(imgs))
        t0 = time.perf_counter()
        for _ in range(REPEATS):
            for img in imgs:
                est.estimate(img)
        full_s = (time.perf_counter() - t0) / (REPEATS * len(imgs))
        out[name] = {
            "images_per_s_detect_plus_skin_tone": round(1.0 / full_s, 1),
            "images_per_s_detect_only": round(1.0 / detect_s, 1),
            "ms_per_image_detect_plus_skin_tone": round(full_s * 1000, 2),
            "image_sizes": sorted({f"{i.width}x{i.height}" for i in imgs}),
        }
    return out


def conditions() -> dict[str, Any]:
    def linear(scale: tuple[float, float, float]) -> Any:
        def apply(rgb: np.ndarray) -> np.ndarray:
            lin = srgb_to_linear(rgb) * np.array(scale)
            return np.round(linear_to_srgb(lin) * 255).astype(np.uint8)
        return apply

    def jpeg(rgb: np.ndarray) -> np.ndarray:
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="JPEG", quality=75)
        return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))

    return {
        "identity": lambda rgb: rgb,
        "exposure_x0.8": linear((0.8, 0.8, 0.8)),
        "exposure_x1.2": linear((1.2, 1.2, 1.2)),
        "white_balance_warm": linear((1.1, 1.0, 0.9)),
        "white_balance_cool": linear((0.9, 1.0, 1.1)),
        "jpeg_q75": jpeg,
    }


def calibration() -> dict[str, Any]:
    est = SkinToneEstimator()
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {}
    for cname, cond in conditions().items():
        errors, d_ita, tones = [], [], []
        for s in MONK_SWATCHES:
            base = np.full((64, 64, 3), s.rgb, dtype=np.float64)
            noisy = np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)
            r = est.estimate(cond(noisy), whole_image=True)
            assert r.monk is not None and r.ita is not None
            tones.append(r.monk)
            errors.append(abs(r.monk - s.tone))
            d_ita.append(r.ita - s.ita)
        out[cname] = {
            "measured_tones": tones,
            "mean_abs_error_monk_steps": round(float(np.mean(errors)), 2),
            "max_abs_error_monk_steps": int(max(errors)),
            "exact_share": round(float(np.mean([e == 0 for e in errors])), 2),
            "mean_abs_delta_ita_deg": round(float(np.mean(np.abs(d_ita))), 2),
        }
    return out


def main() -> None:
    images = bundled()
    dets = detectors()
    write_result("measure", {
        "detector_comparison": compare(dets, images),
        "speed_2_threads": speed(dets, images),
        "skin_tone_calibration_whole_image": calibration(),
        "notes": "calibration patches carry Gaussian noise sigma=3 (8-bit) before the condition",
    })


if __name__ == "__main__":
    main()
