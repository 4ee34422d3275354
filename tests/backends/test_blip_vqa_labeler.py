from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from PIL import Image

from fairframe.backends.blip_vqa_labeler import BlipVQALabeler
from fairframe.backends.vlm_labeler import VLMLabeler
from fairframe.errors import ModelLoadError
from fairframe.types import LabelQuestion
from tests.backends._helpers import (
    AGE,
    GENDER,
    TEST_VISION_CONFIG,
    answer_ids,
    assert_cached_pass_matches_full_rows,
    assert_matches_hand_computed,
    image,
    llama_text_config,
)
from tests.contract.suites import LabelerContract

pytestmark = pytest.mark.models


@cache
def shared_labeler() -> BlipVQALabeler:
    return BlipVQALabeler(model="tiny://blip-vqa", device="cpu")


class TestBlipVQALabelerContract(LabelerContract):
    def make_labeler(self) -> BlipVQALabeler:
        return shared_labeler()


def hand_logliks(img: Image.Image, question: LabelQuestion) -> dict[str, tuple[float, int]]:
    """Decode each answer token by token (no batching, no padding) and add up log-probs."""
    import torch
    from transformers import AutoProcessor, BlipForQuestionAnswering

    from fairframe.testing.tiny import tiny_model_path

    path = tiny_model_path("blip-vqa")
    model = BlipForQuestionAnswering.from_pretrained(path).eval()
    processor = AutoProcessor.from_pretrained(path)
    tok = processor.tokenizer
    enc = processor(images=[img], text=[question.question], return_tensors="pt")
    out: dict[str, tuple[float, int]] = {}
    with torch.no_grad():
        image_embeds = model.vision_model(pixel_values=enc["pixel_values"])[0]
        question_embeds = model.text_encoder(
            input_ids=enc["input_ids"],
            attention_mask=enc["attention_mask"],
            encoder_hidden_states=image_embeds,
        )[0]
        for outcome in question.outcomes:
            # BLIP answers start at the decoder's BOS and end with [SEP]
            tokens = [tok.cls_token_id, *tok(outcome, add_special_tokens=False)["input_ids"]]
            tokens.append(tok.sep_token_id)
            total = 0.0
            for j in range(1, len(tokens)):
                logits = model.text_decoder(
                    input_ids=torch.tensor([tokens[:j]]),
                    encoder_hidden_states=question_embeds,
                ).logits[0, -1]
                total += float(torch.log_softmax(logits, dim=-1)[tokens[j]])
            out[outcome] = (total, len(tokens) - 1)
    return out


def test_scores_equal_hand_computed_likelihoods() -> None:
    img = image(3)
    hand = hand_logliks(img, AGE)
    assert hand["middle-aged"][1] == 4  # middle - aged [SEP]: a multi-token answer
    got = shared_labeler().label([img], AGE)[0].probs
    normalised = BlipVQALabeler(model="tiny://blip-vqa", device="cpu", length_normalize=True)
    got_mean = normalised.label([img], AGE)[0].probs
    assert_matches_hand_computed(hand, got, got_mean, AGE)


def test_probabilities_change_with_the_choices() -> None:
    lab = shared_labeler()
    img = image(1)
    a = lab.label([img], GENDER)[0].probs
    c = lab.label([img], LabelQuestion(GENDER.question, ("man", "person"), "person"))[0].probs
    assert set(c) == {"man", "person", "unknown"}
    assert a["man"] != pytest.approx(c["man"], abs=1e-6)


def test_question_template_is_applied() -> None:
    lab = BlipVQALabeler(model="tiny://blip-vqa", prompt_template="{question} ({choices})")
    assert lab.question_text(GENDER) == "What is the gender of the person? (man, woman, unknown)"
    assert lab.identity()["template"] == "{question} ({choices})"
    assert shared_labeler().question_text(GENDER) == GENDER.question


def test_loads_once_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    calls: list[str] = []
    original = transformers.BlipForQuestionAnswering.from_pretrained

    def counting(*args: object, **kwargs: object) -> object:
        calls.append("load")
        return original(*args, **kwargs)

    monkeypatch.setattr(transformers.BlipForQuestionAnswering, "from_pretrained", counting)
    lab = BlipVQALabeler(model="tiny://blip-vqa", device="cpu")
    assert lab.identity()["backend"] == "blip-vqa"
    assert calls == [] and not lab._lazy.loaded
    lab.label([image()], GENDER)
    lab.label([image(1), image(2)], AGE)
    assert calls == ["load"]


def test_missing_folder_is_a_one_line_model_load_error(tmp_path: Path) -> None:
    lab = BlipVQALabeler(model=str(tmp_path / "no-such-model"), device="cpu")
    with pytest.raises(ModelLoadError) as info:
        lab.label([image()], GENDER)
    assert "\n" not in str(info.value)
    assert "no-such-model" in str(info.value)


def test_a_non_blip_model_is_refused() -> None:
    with pytest.raises(ModelLoadError, match="not BLIP VQA") as info:
        BlipVQALabeler(model="tiny://causal-lm", device="cpu").label([image()], GENDER)
    assert "\n" not in str(info.value)


def build_tiny_blip2(path: Path) -> None:
    import torch
    import transformers as tf

    from fairframe.testing._tiny_wordlevel import IMAGE_TOKEN, build_wordlevel_tokenizer

    tok = build_wordlevel_tokenizer(extra_special_tokens=[IMAGE_TOKEN])
    config = tf.Blip2Config(
        vision_config=TEST_VISION_CONFIG,
        qformer_config={"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 4,
                        "intermediate_size": 37, "encoder_hidden_size": 32, "vocab_size": len(tok)},
        text_config=llama_text_config(tf, tok).to_dict(),
        num_query_tokens=4,
        image_token_index=tok.convert_tokens_to_ids(IMAGE_TOKEN),
    )  # fmt: skip
    torch.manual_seed(0)
    tf.Blip2ForConditionalGeneration(config).save_pretrained(path)
    image_processor = tf.BlipImageProcessorPil(size={"height": 32, "width": 32})
    processor = tf.Blip2Processor(
        image_processor=image_processor, tokenizer=tok, num_query_tokens=4
    )
    processor.chat_template = None
    processor.save_pretrained(path)
    (path / "chat_template.jinja").unlink(missing_ok=True)


def test_blip2_checkpoints_are_scored_as_question_answer_prompts(tmp_path: Path) -> None:
    folder = tmp_path / "tiny-blip2"
    build_tiny_blip2(folder)
    lab = BlipVQALabeler(model=str(folder), device="cpu")
    imgs = [image(0), image(1)]
    got = lab.label(imgs, GENDER)
    inner = lab._lazy.get()
    assert isinstance(inner, VLMLabeler)
    processor = inner._lazy.get().processor
    assert inner._prompt(processor, GENDER) == "Question: What is the gender of the person? Answer:"
    same = VLMLabeler(model=str(folder), device="cpu", prompt_template="{question}").label(
        imgs, GENDER
    )
    for a, b in zip(got, same, strict=True):
        assert dict(a.probs) == pytest.approx(dict(b.probs), abs=1e-6)
    assert lab.identity()["backend"] == "blip-vqa"

    # the KV-cache pass and the one-row-per-answer pass agree (a multi-token answer included)
    assert len(answer_ids(inner, AGE)[1]) == 3
    assert_cached_pass_matches_full_rows(inner, imgs[:1])
