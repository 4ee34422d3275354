from __future__ import annotations

import os
import threading
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fairframe.backends.vlm_labeler import VLMLabeler
from fairframe.errors import ConfigError, ModelLoadError
from fairframe.types import LabelQuestion
from tests.backends._helpers import (
    AGE,
    GENDER,
    TEST_VISION_CONFIG,
    assert_cached_pass_matches_full_rows,
    assert_matches_hand_computed,
    image,
    llama_text_config,
)
from tests.contract.suites import LabelerContract

pytestmark = pytest.mark.models


@cache
def shared_labeler() -> VLMLabeler:
    return VLMLabeler(model="tiny://llava", device="cpu")


class TestVLMLabelerContract(LabelerContract):
    def make_labeler(self) -> VLMLabeler:
        return shared_labeler()


def hand_logliks(img: Image.Image, question: LabelQuestion) -> dict[str, tuple[float, int]]:
    """Each outcome's summed log-probability and token count, one plain forward pass each."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from fairframe.testing.tiny import tiny_model_path

    path = tiny_model_path("llava")
    model = AutoModelForImageTextToText.from_pretrained(path).eval()
    processor = AutoProcessor.from_pretrained(path)
    instruction = f"{question.question} Answer with one of: {', '.join(question.outcomes)}."
    conversation = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": instruction}]}
    ]
    prompt = processor.apply_chat_template(conversation, add_generation_prompt=True)
    assert prompt.endswith("<|assistant|>")
    out: dict[str, tuple[float, int]] = {}
    for outcome in question.outcomes:
        n = len(processor.tokenizer(outcome, add_special_tokens=False)["input_ids"])
        enc = processor(
            text=[f"{prompt} {outcome}"],
            images=[img],
            return_tensors="pt",
            add_special_tokens=False,
        )
        ids = enc["input_ids"][0]
        with torch.no_grad():
            logprobs = torch.log_softmax(model(**enc).logits[0].float(), dim=-1)
        length = len(ids)
        total = sum(float(logprobs[length - n - 1 + j, ids[length - n + j]]) for j in range(n))
        out[outcome] = (total, n)
    return out


def test_scores_equal_hand_computed_likelihoods() -> None:
    img = image(3)
    hand = hand_logliks(img, AGE)
    assert hand["middle-aged"][1] == 3  # middle - aged: a multi-token choice
    got = shared_labeler().label([img], AGE)[0].probs
    normalised = VLMLabeler(model="tiny://llava", device="cpu", length_normalize=True)
    got_mean = normalised.label([img], AGE)[0].probs
    assert_matches_hand_computed(hand, got, got_mean, AGE)
    assert dict(got) != pytest.approx(dict(got_mean), abs=1e-3)


def test_cached_pass_matches_full_rows() -> None:
    assert_cached_pass_matches_full_rows(shared_labeler(), [image(0), image(5)])


def test_probabilities_change_with_the_choices() -> None:
    lab = shared_labeler()
    img = image(1)
    a = lab.label([img], GENDER)[0].probs
    b = lab.label([img], LabelQuestion(GENDER.question, ("woman", "man"), "person"))[0].probs
    c = lab.label([img], LabelQuestion(GENDER.question, ("man", "person"), "person"))[0].probs
    assert a["man"] != pytest.approx(b["man"], abs=1e-6)  # the prompt lists the choices in order
    assert a["man"] != pytest.approx(c["man"], abs=1e-6)
    assert set(c) == {"man", "person", "unknown"}


def test_batches_mix_images_and_keep_order() -> None:
    lab = VLMLabeler(model="tiny://llava", device="cpu", batch_size=2)
    imgs = [image(s) for s in range(3)]
    batched = lab.label(imgs, GENDER)
    for img, result in zip(imgs, batched, strict=True):
        alone = lab.label([img], GENDER)[0]
        for k in result.probs:
            assert result.probs[k] == pytest.approx(alone.probs[k], abs=1e-5)
    assert lab.label([], GENDER) == []


def test_loads_once_lazily_even_from_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    calls: list[str] = []
    original = transformers.AutoModelForImageTextToText.from_pretrained

    def counting(*args: object, **kwargs: object) -> object:
        calls.append("load")
        return original(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", counting)
    lab = VLMLabeler(model="tiny://llava", device="cpu")
    lab.identity()
    assert calls == [] and not lab._lazy.loaded
    threads = [threading.Thread(target=lab.label, args=([image()], GENDER)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lab.label([image()], AGE)
    assert calls == ["load"]


def test_missing_folder_is_a_one_line_model_load_error(tmp_path: Path) -> None:
    lab = VLMLabeler(model=str(tmp_path / "no-such-model"), device="cpu")
    with pytest.raises(ModelLoadError) as info:
        lab.label([image()], GENDER)
    message = str(info.value)
    assert "\n" not in message
    assert "no-such-model" in message


def test_identity_records_the_scoring_options() -> None:
    ident = VLMLabeler(
        model="tiny://llava", dtype="fp32", prompt_template="Q: {question} ({choices})"
    ).identity()
    assert ident["backend"] == "vlm"
    assert ident["dtype"] == "float32"
    assert ident["template"] == "Q: {question} ({choices})"
    assert ident["length_normalize"] is False
    assert str(ident["revision"]).startswith("local-sha256:")


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"dtype": "float8"}, "unknown dtype"),
        ({"batch_size": 0}, "batch_size"),
        ({"prompt_template": "Describe {thing}"}, "unknown field {thing}"),
        ({"prompt_template": "Describe the image"}, "no {question} field"),
        ({"prompt_template": "{question"}, "not a valid format string"),
    ],
)
def test_bad_options_are_config_errors(options: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("{", r"\{").replace("}", r"\}")):
        VLMLabeler(model="tiny://llava", **options)


def test_plain_prompt_without_a_chat_template() -> None:
    lab = shared_labeler()
    processor = lab._lazy.get().processor
    saved = processor.chat_template
    try:
        processor.chat_template = None
        prompt = lab._prompt(processor, GENDER)
    finally:
        processor.chat_template = saved
    assert prompt == (
        "<image>\nQuestion: What is the gender of the person? "
        "Answer with one of: man, woman, unknown. Answer:"
    )


def test_importing_the_hf_backends_does_not_import_torch() -> None:
    import subprocess
    import sys

    modules = [
        "fairframe.backends.vlm_labeler",
        "fairframe.backends.blip_vqa_labeler",
        "fairframe.backends.transformers_llm",
        "fairframe.testing._tiny_llava",
        "fairframe.testing._tiny_blip",
        "fairframe.testing._tiny_lm",
    ]
    code = (
        f"import sys; import {', '.join(modules)}; "
        "assert not {'torch', 'transformers', 'tokenizers'} & set(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ))


def build_tiny_idefics3(path: Path) -> None:
    """A tiny Idefics3 (the SmolVLM architecture): images split into a variable number of crops."""
    import torch
    import transformers as tf

    from fairframe.testing._tiny_wordlevel import CHAT_TEMPLATE, build_wordlevel_tokenizer

    grid = [f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6)]
    specials = ["<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>"]
    tok = build_wordlevel_tokenizer(extra_special_tokens=[*specials, *grid])
    config = tf.Idefics3Config(
        text_config=llama_text_config(tf, tok).to_dict(),
        vision_config=TEST_VISION_CONFIG,
        scale_factor=2,
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    tf.Idefics3ForConditionalGeneration(config).save_pretrained(path)
    image_processor = tf.Idefics3ImageProcessorPil(
        size={"longest_edge": 64}, max_image_size={"longest_edge": 32}, do_image_splitting=True
    )
    tf.Idefics3Processor(
        image_processor=image_processor, tokenizer=tok, image_seq_len=4, chat_template=CHAT_TEMPLATE
    ).save_pretrained(path)


def test_images_with_different_crop_counts_are_scored_one_by_one(tmp_path: Path) -> None:
    folder = tmp_path / "tiny-idefics3"
    build_tiny_idefics3(folder)
    lab = VLMLabeler(model=str(folder), device="cpu", batch_size=3)
    rng = np.random.default_rng(0)
    shapes = [(40, 48, 3), (20, 64, 3), (40, 48, 3)]  # 4+1 crops, 2+1 crops, 4+1 crops
    imgs = [Image.fromarray(rng.integers(0, 256, s, dtype=np.uint8), "RGB") for s in shapes]
    batched = lab.label(imgs, AGE)
    for img, result in zip(imgs, batched, strict=True):
        alone = lab.label([img], AGE)[0]
        assert dict(result.probs) == pytest.approx(dict(alone.probs), abs=1e-5)
    assert batched[0].probs != batched[2].probs
    assert_cached_pass_matches_full_rows(lab, imgs)
