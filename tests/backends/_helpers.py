"""Helpers shared by the backend tests (most by the vlm and blip-vqa labeler tests)."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fairframe.backends.vlm_labeler import VLMLabeler
from fairframe.types import LabelQuestion

GENDER = LabelQuestion("What is the gender of the person?", ("man", "woman"), "person")
AGE = LabelQuestion("How old is the person?", ("young", "middle-aged", "old"), "person")

#: A tiny vision tower for test-only checkpoints (BLIP-2, Idefics3).
TEST_VISION_CONFIG = {
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_hidden_layers": 1,
    "num_attention_heads": 4,
    "image_size": 32,
    "patch_size": 8,
}


def image(seed: int = 0) -> Image.Image:
    """A 48x40 RGB noise image, the same for the same seed."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8), "RGB")


def softmax(scores: Mapping[str, float]) -> dict[str, float]:
    top = max(scores.values())
    weights = {k: math.exp(v - top) for k, v in scores.items()}
    total = sum(weights.values())
    return {k: w / total for k, w in weights.items()}


def llama_text_config(tf: Any, tok: Any) -> Any:
    """A one-layer Llama text model over ``tok``, for test-only checkpoints."""
    return tf.LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=4, num_key_value_heads=2, bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )  # fmt: skip


def assert_matches_hand_computed(
    hand: Mapping[str, tuple[float, int]],
    got: Mapping[str, float],
    got_mean: Mapping[str, float],
    question: LabelQuestion,
) -> None:
    """``got`` (summed scores) and ``got_mean`` (length-normalised) are the softmax of ``hand``'s
    (log-likelihood, token count) pairs."""
    summed = softmax({k: ll for k, (ll, _) in hand.items()})
    mean = softmax({k: ll / n for k, (ll, n) in hand.items()})
    for outcome in question.outcomes:
        assert got[outcome] == pytest.approx(summed[outcome], abs=1e-5)
        assert got_mean[outcome] == pytest.approx(mean[outcome], abs=1e-5)


def answer_ids(lab: VLMLabeler, question: LabelQuestion) -> list[list[int]]:
    loaded = lab._lazy.get()
    prompt = lab._prompt(loaded.processor, question)
    return [lab._answer_ids(loaded.tokenizer, prompt, o) for o in question.outcomes]


def assert_cached_pass_matches_full_rows(lab: VLMLabeler, imgs: list[Image.Image]) -> None:
    """The KV-cache scoring path and the one-row-per-answer path give the same likelihoods."""
    loaded = lab._lazy.get()
    prompt = lab._prompt(loaded.processor, AGE)
    answers = answer_ids(lab, AGE)
    assert max(len(a) for a in answers) > 1
    for img in imgs:
        enc = [lab._encode(loaded, img, prompt)]
        cached = lab._forward_cached(loaded, enc, answers)[0]
        rows = lab._forward_rows(loaded, enc, answers)[0]
        assert cached == pytest.approx(rows, abs=1e-4)


def assert_needs_hf_extra_without(blocked: Sequence[str], setup: str, call: str) -> None:
    """In a fresh interpreter where the ``blocked`` modules cannot be imported, ``setup`` (imports,
    construction, identity) works and ``call`` raises a MissingDependencyError naming
    ``fairframe[hf]``."""
    code = (
        "import sys\n"
        + "".join(f"sys.modules[{name!r}] = None\n" for name in blocked)
        + setup
        + "from fairframe.errors import MissingDependencyError\n"
        "try:\n"
        f"    {call}\n"
        "except MissingDependencyError as exc:\n"
        "    assert 'fairframe[hf]' in str(exc), exc\n"
        "else:\n"
        "    raise SystemExit('no MissingDependencyError')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
