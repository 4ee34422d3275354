"""OpenAIVisionLabeler: answer mapping rules, log-probabilities, and the loopback server."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fairframe.backends import LABELERS
from fairframe.backends.openai_vision_labeler import (
    DEFAULT_PROMPT_TEMPLATE,
    OpenAIVisionLabeler,
    logprob_distribution,
    match_answer,
    normalise_answer,
)
from fairframe.errors import ConfigError, EndpointError
from fairframe.testing.openai_server import OpenAICompatibleServer, chat_response
from fairframe.types import UNKNOWN, LabelQuestion
from tests.contract.suites import LabelerContract

FAST: dict[str, Any] = {"backoff_s": 0.01, "timeout_s": 5.0}
GENDER = LabelQuestion("What is the gender of the person?", ("man", "woman"), "person")
OUTCOMES = GENDER.outcomes  # ("man", "woman", "unknown")


def image_answer(body: dict[str, Any]) -> str:
    """A deterministic 'VLM': answers from a hash of the image it was sent."""
    parts = body["messages"][0]["content"]
    url = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
    h = hashlib.sha256(url.encode()).digest()[0]
    return ["Woman.", "a man", "I can't tell", "old"][h % 4]


@pytest.fixture
def server() -> Iterator[OpenAICompatibleServer]:
    with OpenAICompatibleServer(chat=image_answer) as srv:
        yield srv


def make(server: OpenAICompatibleServer, **options: Any) -> OpenAIVisionLabeler:
    options = {"base_url": server.base_url, "model": "tiny-vlm", **FAST, **options}
    return OpenAIVisionLabeler(**options)


def image(seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), "RGB")


def lp(token: str, p: float) -> dict[str, Any]:
    return {"token": token, "logprob": math.log(p), "bytes": list(token.encode())}


def token(tok: str, p: float, top: list[dict[str, Any]]) -> dict[str, Any]:
    return {**lp(tok, p), "top_logprobs": top}


class TestOpenAIVisionLabelerContract(LabelerContract):
    @pytest.fixture(autouse=True)
    def _server(self, server: OpenAICompatibleServer) -> None:
        self.server = server

    def make_labeler(self) -> OpenAIVisionLabeler:
        return make(self.server, batch_size=2)


def test_is_registered() -> None:
    assert LABELERS.get("openai-vision") is OpenAIVisionLabeler


# -- text mapping --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("woman", "woman"),  # exact
        ("  Woman. ", "woman"),  # exact after normalising
        ("A man!", "man"),  # articles and punctuation dropped
        ("Unknown", UNKNOWN),  # the model abstained
        ("The person is a woman", "woman"),  # whole-word containment of one outcome
        ("womanly", "woman"),  # no containment; fuzzy 0.83 >= 0.8
        ("womn", "woman"),  # fuzzy 0.89
        ("mna", UNKNOWN),  # fuzzy 0.67 < 0.8: abstain, never force the nearest class
        ("female", UNKNOWN),  # nothing close: abstain
        ("a man or a woman", UNKNOWN),  # two outcomes contained
        ("not a man, a woman", UNKNOWN),  # two outcomes contained
        ("", UNKNOWN),
        ("...", UNKNOWN),
    ],
)
def test_match_answer(answer: str, expected: str) -> None:
    assert match_answer(answer, OUTCOMES, 0.8) == expected


def test_match_answer_threshold_is_respected() -> None:
    assert match_answer("womanly", OUTCOMES, 0.9) == UNKNOWN
    assert match_answer("mna", OUTCOMES, 0.6) == "man"


def test_match_answer_multiword_and_nested_outcomes() -> None:
    outcomes = ("young", "young adult", "middle-aged", UNKNOWN)
    assert match_answer("Middle aged.", outcomes) == "middle-aged"
    assert match_answer("they look like a young adult", outcomes) == "young adult"
    assert match_answer("young", outcomes) == "young"
    assert normalise_answer("The Middle-Aged, man") == "middle aged man"


# -- log-probability mapping --------------------------------------------------------------------
def test_logprob_distribution_matches_hand_computation() -> None:
    content = [
        token("Wo", 0.5, [lp("Wo", 0.5), lp(" man", 0.2), lp("The", 0.1), lp("wom", 0.05),
                          lp("Unknown", 0.03), lp("m", 0.02)]),
        token("man", 0.99, [lp("man", 0.99)]),
    ]
    probs = logprob_distribution(content, OUTCOMES)
    total = 0.5 + 0.2 + 0.1 + 0.05 + 0.03 + 0.02  # 0.9: the listed mass is renormalised
    expected = {
        "man": (0.2 + 0.02) / total,  # " man" equals "man"; "m" is a prefix of "man" only
        "woman": (0.5 + 0.05) / total,  # "wo" and "wom" are prefixes of "woman" only
        UNKNOWN: (0.1 + 0.03) / total,  # "the" matches nothing; "unknown" is unknown
    }
    assert probs is not None
    assert probs.keys() == expected.keys()
    for k, v in expected.items():
        assert probs[k] == pytest.approx(v, abs=1e-12)


def test_logprob_ambiguous_prefix_goes_to_unknown() -> None:
    outcomes = ("man", "middle-aged", UNKNOWN)
    content = [token("man", 0.7, [lp("man", 0.7), lp("m", 0.2), lp("middle", 0.1)])]
    probs = logprob_distribution(content, outcomes)
    assert probs == pytest.approx({"man": 0.7, "middle-aged": 0.1, UNKNOWN: 0.2})


def test_logprob_skips_leading_blank_tokens_and_markers() -> None:
    content = [
        token(" ", 0.9, [lp(" ", 0.9)]),
        token('"', 0.9, [lp('"', 0.9)]),
        token("\u2581Man", 0.8, [lp("\u2581Man", 0.8), lp("\u0120woman", 0.2)]),
    ]
    assert logprob_distribution(content, OUTCOMES) == pytest.approx(
        {"man": 0.8, "woman": 0.2, UNKNOWN: 0.0}
    )


def test_logprob_defers_to_text_when_the_first_token_is_not_an_option() -> None:
    content = [token("The", 0.9, [lp("The", 0.9), lp("Man", 0.1)])]
    assert logprob_distribution(content, OUTCOMES) is None
    assert logprob_distribution(None, OUTCOMES) is None
    assert logprob_distribution([], OUTCOMES) is None


def test_logprob_without_top_alternatives_uses_the_token() -> None:
    content = [{"token": "woman", "logprob": -0.1, "top_logprobs": []}]
    assert logprob_distribution(content, OUTCOMES) == {"man": 0.0, "woman": 1.0, UNKNOWN: 0.0}


# -- against the server ----------------------------------------------------------------------------
def test_request_shape(server: OpenAICompatibleServer) -> None:
    img = image(3)
    with make(server, max_tokens=7) as lab:
        lab.label([img], GENDER)
    body = server.requests[0].body
    assert body["model"] == "tiny-vlm"
    assert (body["temperature"], body["seed"], body["max_tokens"]) == (0.0, 0, 7)
    assert (body["logprobs"], body["top_logprobs"]) == (True, 20)
    (message,) = body["messages"]
    image_part, text_part = message["content"]
    url = image_part["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert sent.format == "PNG"
    assert np.array_equal(np.asarray(sent.convert("RGB")), np.asarray(img))
    assert text_part["text"] == DEFAULT_PROMPT_TEMPLATE.format(
        question=GENDER.question, choices="man, woman"
    )
    assert "unknown" in text_part["text"]


def test_logprobs_answer_gives_a_distribution(server: OpenAICompatibleServer) -> None:
    logprobs = {"content": [token("Woman", 0.6, [lp("Woman", 0.6), lp("Man", 0.3),
                                                   lp("I", 0.1)])]}
    server.chat_handler = lambda body: chat_response("Woman", logprobs=logprobs)
    with make(server) as lab:
        (result,) = lab.label([image()], GENDER)
    assert result.answer == "Woman"
    assert dict(result.probs) == pytest.approx({"man": 0.3, "woman": 0.6, UNKNOWN: 0.1})
    assert result.top == "woman"


def test_text_answer_is_mapped_with_all_mass_on_one_outcome(
    server: OpenAICompatibleServer,
) -> None:
    answers = iter(["It is a woman.", "a man and a woman", "wman"])
    server.chat_handler = lambda body: next(answers)
    with make(server, batch_size=1) as lab:
        results = lab.label([image(0), image(1), image(2)], GENDER)
    assert [r.top for r in results] == ["woman", UNKNOWN, "woman"]
    assert [r.answer for r in results] == ["It is a woman.", "a man and a woman", "wman"]
    assert all(max(r.probs.values()) == 1.0 for r in results)


def test_omitted_logprobs_are_remembered(server: OpenAICompatibleServer) -> None:
    with make(server, batch_size=1) as lab:
        lab.label([image(0), image(1)], GENDER)
    asked = ["logprobs" in r.body for r in server.requests]
    assert asked == [True, False]


def test_rejected_logprobs_fall_back_silently_and_are_remembered(
    server: OpenAICompatibleServer,
) -> None:
    server.fail_next(1, status=400, body={"error": {"message": "logprobs is not supported"}})
    with make(server, batch_size=1) as lab:
        results = lab.label([image(0), image(1)], GENDER)
    assert len(results) == 2
    seen = [(r.status, "logprobs" in r.body) for r in server.requests]
    assert seen == [(400, True), (200, False), (200, False)]


def test_a_400_unrelated_to_logprobs_still_raises(server: OpenAICompatibleServer) -> None:
    server.fail_next(2, status=400, body={"error": {"message": "model not found"}})
    with make(server) as lab:
        with pytest.raises(EndpointError, match="400 .*model not found"):
            lab.label([image()], GENDER)
        assert [("logprobs" in r.body) for r in server.requests] == [True, False]
        lab.label([image()], GENDER)  # the flag was not flipped by the failure
    assert "logprobs" in server.requests[2].body


def test_use_logprobs_false_never_asks(server: OpenAICompatibleServer) -> None:
    server.fail_next(1, status=400)
    with make(server, use_logprobs=False) as lab, pytest.raises(EndpointError, match="400"):
        lab.label([image()], GENDER)
    assert len(server.requests) == 1
    assert "logprobs" not in server.requests[0].body


def test_refusal_maps_to_unknown_and_keeps_the_text(server: OpenAICompatibleServer) -> None:
    refusal = chat_response(None)
    refusal["choices"][0]["message"]["refusal"] = "I can't help with that."
    server.chat_handler = lambda body: refusal
    with make(server) as lab:
        (result,) = lab.label([image()], GENDER)
    assert result.top == UNKNOWN and result.probs[UNKNOWN] == 1.0
    assert result.answer == "I can't help with that."


def test_malformed_answers_are_endpoint_errors(server: OpenAICompatibleServer) -> None:
    server.fail_next(1, status=200, body="{not json")
    with make(server) as lab:
        with pytest.raises(EndpointError, match="not JSON"):
            lab.label([image()], GENDER)
        server.chat_handler = lambda body: {"choices": []}
        with pytest.raises(EndpointError, match="without choices\\[0\\].message"):
            lab.label([image()], GENDER)


def test_identity_is_complete_and_has_no_key(server: OpenAICompatibleServer) -> None:
    lab = make(server, api_key="sk-secret", abstain_threshold=0.9)
    ident = dict(lab.identity())
    assert ident["backend"] == "openai-vision"
    assert ident["base_url"] == server.base_url
    assert ident["model"] == "tiny-vlm"
    assert ident["prompt_template"] == DEFAULT_PROMPT_TEMPLATE
    assert (ident["abstain_threshold"], ident["use_logprobs"]) == (0.9, True)
    assert "sk-secret" not in json.dumps(ident)
    lab.label([image()], GENDER)
    assert server.requests[0].headers["authorization"] == "Bearer sk-secret"
    lab.close()


def test_custom_template_and_validation(server: OpenAICompatibleServer) -> None:
    template = 'Q: {question} Options: {choices}. JSON like {"a": 1} is fine.'
    with make(server, prompt_template=template) as lab:
        assert lab.prompt(GENDER) == (
            'Q: What is the gender of the person? Options: man, woman. JSON like {"a": 1} is fine.'
        )
    with pytest.raises(ConfigError, match="\\{choices\\}"):
        make(server, prompt_template="{question}")
    with pytest.raises(ConfigError, match="abstain_threshold"):
        make(server, abstain_threshold=0.0)
