"""Bias proposals: schema, tolerant parsing with repair, and the retrying LLM proposer."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from pydantic import ValidationError

from fairframe.audit.proposals import (
    PROMPT_VERSION,
    PROPOSAL_SCHEMA,
    PROPOSAL_SCHEMA_VERSION,
    BiasProposal,
    LLMProposer,
    parse_proposals,
)
from fairframe.backends.fake import FakeLLM
from fairframe.types import ChatMessage

GENDER = (
    '{"name": "gender", "refer_to": "person", "classes": ["man", "woman"], '
    '"question": "What is the gender of the person?", "present_in_prompt": false}'
)
VALID = '{"bias": [ITEM]}'.replace("ITEM", GENDER)


def _with(template: str, item: str = GENDER) -> str:
    """``template`` with ``ITEM`` replaced by ``item``."""
    return template.replace("ITEM", item)


class RecordingLLM(FakeLLM):
    """FakeLLM that also keeps every request's messages."""

    def __init__(self, *, responses: Sequence[str] | None = None) -> None:
        super().__init__(responses=responses)
        self.requests: list[list[ChatMessage]] = []

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        seed: int = 0,
    ) -> str:
        self.requests.append(list(messages))
        return super().chat(messages, temperature=temperature, max_tokens=max_tokens, seed=seed)


# --- the model ------------------------------------------------------------------------------------


def test_proposal_strips_and_builds_a_slug_id() -> None:
    p = BiasProposal(
        name=" Skin Tone ", refer_to="Person", classes=(" light", "dark "), question=" Tone? "
    )
    assert p.name == "Skin Tone" and p.classes == ("light", "dark") and p.question == "Tone?"
    assert p.bias_id == "person/skin-tone"
    assert p.present_in_prompt is False


def test_unknown_class_is_dropped_not_rejected() -> None:
    p = BiasProposal(name="g", refer_to="p", classes=("man", "Unknown", "woman"), question="q")
    assert p.classes == ("man", "woman")


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        (("man",), "at least 2 classes"),
        (("man", "unknown"), "at least 2 classes"),
        (("Man", "man", "woman"), "distinct"),
        (("man", "  "), "at least 2 classes"),
    ],
)
def test_bad_classes_are_rejected(classes: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        BiasProposal(name="g", refer_to="p", classes=classes, question="q")


def test_proposal_is_frozen_and_strict_about_keys() -> None:
    p = BiasProposal(name="g", refer_to="p", classes=("a", "b"), question="q")
    with pytest.raises(ValidationError):
        p.name = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        BiasProposal.from_json({**p.to_json(), "reason": "x"})


def test_to_json_round_trips() -> None:
    p = BiasProposal(
        name="g", refer_to="p", classes=("a", "b"), question="q", present_in_prompt=True
    )
    data = p.to_json()
    assert data == {
        "name": "g",
        "refer_to": "p",
        "classes": ["a", "b"],
        "question": "q",
        "present_in_prompt": True,
    }
    assert BiasProposal.from_json(json.loads(json.dumps(data))) == p


def test_schema_is_versioned_and_describes_the_reply() -> None:
    assert PROPOSAL_SCHEMA_VERSION == 1
    assert PROPOSAL_SCHEMA["$id"] == "urn:fairframe:bias-proposals:1"
    assert PROPOSAL_SCHEMA["x-fairframe-schema-version"] == 1
    assert PROPOSAL_SCHEMA["required"] == ["bias"]
    item = PROPOSAL_SCHEMA["$defs"]["BiasProposal"]
    assert item["required"] == ["name", "refer_to", "classes", "question"]
    assert item["properties"]["classes"]["minItems"] == 2
    assert item["additionalProperties"] is False
    json.dumps(PROPOSAL_SCHEMA)  # JSON-able


# --- parsing and repair ---------------------------------------------------------------------------


def test_strict_json_needs_no_repair() -> None:
    parsed = parse_proposals(VALID)
    assert [p.bias_id for p in parsed.proposals] == ["person/gender"]
    assert parsed.errors == () and parsed.repaired is False and parsed.notes == ()
    assert parse_proposals("\ufeff" + VALID).repaired is False


@pytest.mark.parametrize(
    ("reply", "note"),
    [
        pytest.param(_with("Sure!\n```json\nITEM\n```\nHope it helps.", VALID), None, id="fenced"),
        pytest.param(_with("Here it is: ITEM Anything else?", VALID), None, id="prose-around"),
        pytest.param(
            _with('{"bias": [ITEM,],}', GENDER.replace("false}", "false,}")),
            "removed trailing commas",
            id="trailing-commas",
        ),
        pytest.param(
            "{'bias': [{'name': 'gender', 'refer_to': 'person', 'classes': ['man', 'woman'], "
            "'question': 'What is the person\\'s gender?', 'present_in_prompt': false}]}",
            "replaced single quotes with double quotes",
            id="single-quotes",
        ),
        pytest.param(
            VALID.replace("false", "False"),
            "replaced Python literals True/False/None",
            id="python-literals",
        ),
        pytest.param(
            VALID.replace('"', "\u201c", 1).replace('"', "\u201d", 1),
            "replaced smart quotes",
            id="smart-quotes",
        ),
        pytest.param(
            _with('{\n  // the biases\n  "bias": [ /* first */ ITEM  # done\n  ]\n}'),
            "removed comments",
            id="comments",
        ),
        pytest.param(
            _with("[ITEM]"), "read a bare list of biases (no outer object)", id="bare-list"
        ),
        pytest.param(
            _with('{"bias_detection": [ITEM]}'),
            "read biases from key 'bias_detection' instead of 'bias'",
            id="bias_detection-key",
        ),
        pytest.param(
            _with('{"biases": [ITEM]}'),
            "read biases from key 'biases' instead of 'bias'",
            id="biases-key",
        ),
        pytest.param(
            GENDER.replace('["man", "woman"]', '"man, woman"'),
            "read a single bias object without the outer 'bias' list",
            id="single-object",
        ),
        pytest.param(
            '{"bias": [{"name": "gender" "refer_to": "person", "classes": ["man" "woman"], '
            '"question": "What is the gender of the person?"}]}',
            "inserted missing commas",
            id="missing-commas",
        ),
        pytest.param(
            '{bias: [{name: "gender", refer_to: "person", classes: ["man", "woman"], '
            'question: "What is the gender of the person?"}]}',
            "quoted bare keys",
            id="bare-keys",
        ),
    ],
)
def test_common_llm_faults_are_repaired(reply: str, note: str | None) -> None:
    parsed = parse_proposals(reply)
    assert parsed.errors == ()
    assert len(parsed.proposals) == 1
    p = parsed.proposals[0]
    assert (p.name, p.refer_to, p.classes) == ("gender", "person", ("man", "woman"))
    if note is None:
        assert parsed.repaired is False
    else:
        assert parsed.repaired is True
        assert note in parsed.notes


def test_classes_as_a_comma_string_are_split() -> None:
    reply = '{"bias": [{"name": "age", "refer_to": "person", "classes": "young, middle-aged; old",'
    reply += ' "question": "How old?"}]}'
    parsed = parse_proposals(reply)
    assert parsed.proposals[0].classes == ("young", "middle-aged", "old")
    assert parsed.repaired is True
    assert "bias 1 ('age'): split classes given as one string" in parsed.notes


def test_loose_item_keys_and_null_flag_are_read() -> None:
    reply = (
        '{"bias": [{"Name": "age", "refers_to": "person", "class": ["young", "old"], '
        '"vqa_question": "How old?", "present_in_prompt": null, "reason": "why"}]}'
    )
    parsed = parse_proposals(reply)
    assert parsed.errors == ()
    p = parsed.proposals[0]
    assert (p.name, p.refer_to, p.question) == ("age", "person", "How old?")
    assert p.classes == ("young", "old")
    assert p.present_in_prompt is False
    assert "bias 1 ('age'): ignored unknown key 'reason'" in parsed.notes
    assert parsed.repaired is True


def test_stray_quotes_inside_a_string_are_escaped() -> None:
    reply = (
        '{"bias": [{"name": "style", "refer_to": "kitchen", "classes": ["modern", "rustic"], '
        '"question": "What is the "style" of the kitchen?"}]}'
    )
    parsed = parse_proposals(reply)
    assert parsed.proposals[0].question == 'What is the "style" of the kitchen?'


def test_unknown_class_is_dropped_with_a_note() -> None:
    parsed = parse_proposals(VALID.replace('"woman"]', '"woman", "unknown"]'))
    assert parsed.proposals[0].classes == ("man", "woman")
    assert parsed.errors == ()
    assert parsed.notes == ("bias 'gender': dropped class 'unknown'; it is always implied",)


def test_invalid_items_are_reported_and_valid_ones_kept() -> None:
    reply = json.dumps(
        {
            "bias": [
                json.loads(GENDER),
                {"name": "age", "refer_to": "person", "classes": ["old"], "question": "How old?"},
                {"name": "hair", "refer_to": "person", "classes": ["a", "A"]},
                "junk",
            ]
        }
    )
    parsed = parse_proposals(reply)
    assert [p.name for p in parsed.proposals] == ["gender"]
    assert parsed.errors == (
        "bias 2 ('age'): classes: needs at least 2 classes besides 'unknown', got ['old']; "
        "list the values a labeler should choose between",
        "bias 3 ('hair'): classes: classes must be distinct (ignoring case); repeated: ['A']",
        "bias 3 ('hair'): question: Field required",
        "bias 4: expected an object, got str 'junk'",
    )


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (
            "I cannot help with that.",
            'the reply contains no JSON; expected an object like {"bias": [...]}',
        ),
        (
            '{"bias": [{"name": "gender", "refer_to": ',
            "the reply is not valid JSON even after repair (Expecting value at line 1 column 41)",
        ),
        ('{"answer": 42}', "expected the key 'bias' holding a list of biases, got keys ['answer']"),
        ('{"bias": "gender"}', "'bias' must be a list of biases, got str"),
    ],
)
def test_unusable_replies_give_one_error(reply: str, error: str) -> None:
    parsed = parse_proposals(reply)
    assert parsed.proposals == ()
    assert parsed.errors == (error,)


def test_an_empty_list_is_valid_but_empty() -> None:
    parsed = parse_proposals('{"bias": []}')
    assert parsed.proposals == () and parsed.errors == ()


# --- the proposer ---------------------------------------------------------------------------------


def test_messages_have_system_exemplars_and_caption() -> None:
    messages = LLMProposer(FakeLLM()).messages_for("  a photo of a nurse ")
    assert [m.role for m in messages] == ["system"] + ["user", "assistant"] * 3 + ["user"]
    assert '"x-fairframe-schema-version":1' in messages[0].content
    assert messages[-1].content.startswith('Caption: "a photo of a nurse"')
    replies = [parse_proposals(m.content) for m in messages if m.role == "assistant"]
    for parsed in replies:  # our exemplars are strict, valid JSON
        assert parsed.errors == () and parsed.repaired is False and parsed.proposals
    flags = [[p.present_in_prompt for p in parsed.proposals] for parsed in replies]
    assert flags[0] == [False] * 4 and flags[1][0] is True
    assert {p.refer_to for p in replies[2].proposals} == {"dog"}


def test_valid_first_reply_takes_one_call() -> None:
    llm = FakeLLM()
    outcome = LLMProposer(llm).propose("a photo of a nurse")
    assert outcome.ok and outcome.failure is None
    assert [p.bias_id for p in outcome.proposals] == ["person/gender", "person/age"]
    assert outcome.attempts == 1 and llm.calls == 1
    assert outcome.source == "llm" and outcome.errors == ()
    assert outcome.caption == "a photo of a nurse" and len(outcome.raw) == 1


def test_garbage_then_valid_retries_with_the_error() -> None:
    llm = RecordingLLM(responses=["not json at all", VALID])
    outcome = LLMProposer(llm).propose("a photo of a nurse")
    assert outcome.attempts == 2 and llm.calls == 2
    assert outcome.failure is None
    assert [p.name for p in outcome.proposals] == ["gender"]
    assert outcome.raw == ("not json at all", VALID)
    error = 'the reply contains no JSON; expected an object like {"bias": [...]}'
    assert outcome.errors == (f"attempt 1: {error}",)
    first, second = llm.requests
    assert len(second) == len(first) + 2
    assert second[-2] == ChatMessage("assistant", "not json at all")
    assert second[-1].role == "user" and f"- {error}" in second[-1].content
    assert "corrected JSON only" in second[-1].content


def test_partly_invalid_reply_is_retried_and_corrected() -> None:
    partial = json.dumps(
        {"bias": [json.loads(GENDER), {"name": "age", "refer_to": "person", "classes": ["old"]}]}
    )
    fixed = json.dumps(
        {
            "bias": [
                json.loads(GENDER),
                {
                    "name": "age",
                    "refer_to": "person",
                    "classes": ["young", "old"],
                    "question": "How old is the person?",
                },
            ]
        }
    )
    llm = RecordingLLM(responses=[partial, fixed])
    outcome = LLMProposer(llm).propose("a nurse")
    assert outcome.attempts == 2
    assert [p.name for p in outcome.proposals] == ["gender", "age"]
    assert "bias 2 ('age'): question: Field required" in llm.requests[1][-1].content


def test_partial_replies_keep_their_valid_items_after_max_attempts() -> None:
    partial = json.dumps({"bias": [json.loads(GENDER), {"name": "age"}]})
    llm = FakeLLM(responses=[partial])
    outcome = LLMProposer(llm, max_attempts=2).propose("a nurse")
    assert outcome.attempts == 2 and outcome.failure is None
    assert [p.name for p in outcome.proposals] == ["gender"]
    assert sum(e.startswith("attempt 2: ") for e in outcome.errors) == 3


def test_all_garbage_fails_after_max_attempts() -> None:
    llm = FakeLLM(responses=["nope", "{broken"])
    outcome = LLMProposer(llm, max_attempts=3).propose("a photo of a nurse")
    assert llm.calls == 3 and outcome.attempts == 3
    assert outcome.proposals == () and not outcome.ok
    assert outcome.failure is not None
    assert outcome.failure.startswith("no valid bias proposal after 3 attempt(s); last problems: ")
    assert outcome.raw == ("nope", "{broken", "nope")
    assert [e.split(":")[0] for e in outcome.errors] == ["attempt 1", "attempt 2", "attempt 3"]


def test_an_empty_list_is_retried_then_reported() -> None:
    llm = FakeLLM(responses=['{"bias": []}'])
    outcome = LLMProposer(llm, max_attempts=2).propose("a mountain")
    assert outcome.attempts == 2
    assert outcome.failure == (
        "no valid bias proposal after 2 attempt(s); last problems: "
        "the reply lists no biases; propose at least one"
    )


def test_proposer_settings_are_checked_and_in_the_identity() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        LLMProposer(FakeLLM(), max_attempts=0)
    ident = LLMProposer(FakeLLM(responses=["x"]), seed=3).identity()
    assert ident["prompt_version"] == PROMPT_VERSION
    assert ident["schema_version"] == PROPOSAL_SCHEMA_VERSION
    assert ident["llm"] == {"backend": "fake", "responses": ["x"]}
    assert ident["seed"] == 3 and ident["max_attempts"] == 3
