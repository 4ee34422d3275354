"""Image guard: latency of ``ImageGuard.check`` from encoded bytes vs raw NudeNet.

Images: the colour pictures of ``skimage.data`` (astronaut, coffee, chelsea, rocket, hubble deep
field, immunohistochemistry) plus ``camera`` (grey), each resized to 512x512 and encoded as JPEG
(quality 90) and as PNG. For every image and format, repeated ``REPS`` times and interleaved so
machine load hits all contenders alike:

* ``guard_from_bytes``: ``ImageGuard().check(encoded_bytes)``: decoding, conversion to RGB
  (:func:`fairframe.images.open_image`), NudeNet, mapping, fusion and the decision;
* ``raw_nudenet_array`` (the peer): ``nudenet.NudeDetector().detect(bgr_array)`` on the already
  decoded BGR array, i.e. NudeNet alone;
* ``raw_nudenet_bytes``: ``NudeDetector().detect(encoded_bytes)`` (NudeNet's own ``cv2.imdecode``).

Reported per format: p50/p95 in ms, the overhead of the guard over raw NudeNet (p50 difference)
and the ratio of p50s, and the guard's own ``decode`` latency entry. Target: guard <= 150 ms per
512x512 image on 2 cores, decoding included.
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from _common import write_result  # noqa: E402
from fairframe.guard.image import ImageGuard  # noqa: E402
from fairframe.images import open_image  # noqa: E402

REPS = int(os.environ.get("FAIRFRAME_BENCH_REPS", "10"))
SIDE = 512
TARGET_MS = 150.0
NAMES = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field",
         "immunohistochemistry", "camera")


def percentiles(ms: list[float]) -> dict[str, float]:
    q = statistics.quantiles(ms, n=100)
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 3), "p95_ms": round(q[94], 3),
            "mean_ms": round(statistics.fmean(ms), 3)}


def images() -> dict[str, Image.Image]:
    from skimage import data

    out = {}
    for name in NAMES:
        arr = getattr(data, name)()
        img = open_image(arr)  # grey camera -> RGB; all 8-bit RGB
        out[name] = img.resize((SIDE, SIDE), Image.Resampling.LANCZOS)
    return out


def encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG":
        img.save(buf, format="JPEG", quality=90)
    else:
        img.save(buf, format="PNG")
    return buf.getvalue()


def main() -> None:
    import nudenet

    guard = ImageGuard()
    guard.warm_up()
    raw = nudenet.NudeDetector()
    pics = images()
    encoded = {(n, f): encode(img, f) for n, img in pics.items() for f in ("JPEG", "PNG")}
    bgr = {key: np.ascontiguousarray(np.asarray(open_image(b))[:, :, ::-1])
           for key, b in encoded.items()}
    for key in encoded:  # warm every path once
        raw.detect(bgr[key])
        raw.detect(encoded[key])
        guard.check(encoded[key])

    timings: dict[str, dict[str, list[float]]] = {
        f: {"guard_from_bytes": [], "raw_nudenet_array": [], "raw_nudenet_bytes": [],
            "guard_decode_entry": [], "guard_nudenet_entry": []}
        for f in ("JPEG", "PNG")
    }
    actions: dict[str, str] = {}
    for _ in range(REPS):
        for (name, fmt), data in encoded.items():
            t = timings[fmt]
            t0 = time.perf_counter()
            decision = guard.check(data)
            t["guard_from_bytes"].append((time.perf_counter() - t0) * 1e3)
            t["guard_decode_entry"].append(decision.latency_ms["decode"])
            t["guard_nudenet_entry"].append(decision.latency_ms["nudenet"])
            actions[f"{name}.{fmt.lower()}"] = decision.action.value
            t0 = time.perf_counter()
            raw.detect(bgr[(name, fmt)])
            t["raw_nudenet_array"].append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            raw.detect(data)
            t["raw_nudenet_bytes"].append((time.perf_counter() - t0) * 1e3)

    per_format: dict[str, Any] = {}
    for fmt, t in timings.items():
        stats = {k: percentiles(v) for k, v in t.items()}
        g, peer = stats["guard_from_bytes"]["p50_ms"], stats["raw_nudenet_array"]["p50_ms"]
        per_format[fmt.lower()] = {
            **stats,
            "overhead_p50_ms_vs_raw_array": round(g - peer, 3),
            "ratio_p50_guard_to_raw_array": round(g / peer, 3),
            "ratio_p50_guard_to_raw_bytes": round(g / stats["raw_nudenet_bytes"]["p50_ms"], 3),
            "meets_target_p95": stats["guard_from_bytes"]["p95_ms"] <= TARGET_MS,
        }
    write_result("guard_image", {
        "images": list(NAMES),
        "side": SIDE,
        "reps": REPS,
        "target_ms": TARGET_MS,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "onnxruntime_threads": "default (all cores)",
        "per_format": per_format,
        "actions": actions,
    })


if __name__ == "__main__":
    main()
