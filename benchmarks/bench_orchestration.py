"""Audit orchestration overhead per image-question, with instant fake backends.

The peer is the bare work the pipeline cannot avoid: the same fake generator and labeler called in
a plain loop over the same jobs. Overhead = (pipeline time - bare time) / image-questions.
Target: under 1 ms per image-question, so the toolkit never starves a GPU.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import write_result  # noqa: E402
from fairframe.audit.pipeline import plan_audit, run_audit  # noqa: E402
from fairframe.backends.fake import FakeGenerator, FakeLabeler  # noqa: E402
from fairframe.config import parse_config  # noqa: E402
from fairframe.types import LabelQuestion  # noqa: E402

CAPTIONS = 20
IMAGES = 50


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cfg = parse_config({
            "captions": {"source": "builtin:professions", "limit": CAPTIONS},
            "generator": {"backend": "fake", "size": 32},
            "labeler": {"backend": "fake"},
            "generation": {"images_per_caption": IMAGES},
            "export_images": False,
        })
        plan = plan_audit(cfg, cache_dir=root / "plan-cache")
        assert plan.merge is not None
        pairs = plan.labels_total

        # peer: bare backend calls over the same jobs
        gen, lab = FakeGenerator(size=32), FakeLabeler()
        t0 = time.perf_counter()
        images = {}
        reqs = [j.request for j in plan.image_jobs]
        for start in range(0, len(reqs), 64):
            for g in gen.generate(reqs[start:start + 64]):
                images[(g.request.prompt, g.request.seed)] = g.image
        for bias in plan.merge.biases:
            q = LabelQuestion(bias.question, tuple(bias.classes), bias.refer_to)
            imgs = [images[(j.request.prompt, j.request.seed)] for j in plan.image_jobs
                    if j.caption.id in bias.captions]
            for start in range(0, len(imgs), 256):
                lab.label(imgs[start:start + 256], q)
        bare_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        cold = run_audit(cfg, root / "cold", cache_dir=root / "cache")
        cold_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        warm = run_audit(cfg, root / "warm", cache_dir=root / "cache")
        warm_s = time.perf_counter() - t0
        assert warm.counts["labels_computed"] == 0

    overhead_ms = (cold_s - bare_s) / pairs * 1e3
    write_result("orchestration", {
        "captions": CAPTIONS,
        "images": len(plan.image_jobs),
        "image_questions": pairs,
        "bare_backends_s": round(bare_s, 3),
        "pipeline_cold_s": round(cold_s, 3),
        "pipeline_cached_s": round(warm_s, 3),
        "overhead_ms_per_image_question": round(overhead_ms, 4),
        "cached_ms_per_image_question": round(warm_s / pairs * 1e3, 4),
        "ratio_cold_to_bare": round(cold_s / bare_s, 2),
        "stage_timings_cold_s": cold.manifest["timings_s"],
        "target_ms": 1.0,
        "meets_target": overhead_ms < 1.0,
    })


if __name__ == "__main__":
    main()
