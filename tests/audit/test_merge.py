"""Caption filter (states_attribute) and merging of per-caption proposals."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from fairframe.audit.merge import (
    CLASS_ALIASES,
    DEFAULT_SYNONYMS,
    Bias,
    DroppedPair,
    canonical_class,
    find_stated,
    is_person_subject,
    merge_proposals,
    phrase_forms,
    singular,
    states_attribute,
    tokenize,
)
from fairframe.audit.proposals import BiasProposal

GENDER = ("man", "woman")
AGE = ("child", "young adult", "middle-aged", "elderly")
RACE = ("White", "Black", "East Asian", "South Asian", "Latino/Hispanic")


def prop(
    name: str, classes: Sequence[str], refer_to: str = "person", present: bool = False
) -> BiasProposal:
    return BiasProposal(
        name=name,
        refer_to=refer_to,
        classes=tuple(classes),
        question=f"What is the {name}?",
        present_in_prompt=present,
    )


# --- words ----------------------------------------------------------------------------------------


def test_tokenize_splits_hyphens_and_punctuation() -> None:
    assert tokenize("A Middle-aged man's dog, (2 of them)!") == (
        "a", "middle", "aged", "man", "s", "dog", "2", "of", "them",
    )


def test_singular_and_forms() -> None:
    assert singular("women") == "woman" and singular("children") == "child"
    assert singular("bus") == "bus" and singular("his") == "his" and singular("dress") == "dress"
    assert phrase_forms("police officer") >= {("police", "officer"), ("police", "officers")}
    assert phrase_forms("Latino/Hispanic") >= {("latino",), ("hispanic",)}
    assert ("they",) not in phrase_forms("he")


def test_synonym_tables_are_normalised() -> None:
    assert "female" in DEFAULT_SYNONYMS["woman"] and "lady" in DEFAULT_SYNONYMS["female"]
    assert CLASS_ALIASES["female"] == "woman" and CLASS_ALIASES["old"] == "elderly"
    assert canonical_class("Female") == "woman"
    assert canonical_class("Latino/Hispanic") == "latino"
    assert canonical_class("Dogs") == "dog"
    assert all(k == " ".join(tokenize(k)) for k in DEFAULT_SYNONYMS)


def test_person_subjects() -> None:
    assert is_person_subject("person") and is_person_subject("People")
    assert is_person_subject("nurse") and is_person_subject("police officers")
    assert not is_person_subject("dog") and not is_person_subject("kitchen")


# --- states_attribute -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("caption", "classes", "expected"),
    [
        ("two women walking in a park", GENDER, "women"),
        ("a female doctor", GENDER, "female"),
        ("a manager at her desk", ("man", "boy"), None),  # "manager" is not "man"
        ("a photo of a manager", GENDER, None),
        ("a Man reading", GENDER, "man"),
        ("a portrait of a lady", ("male", "female"), "lady"),
        ("an old fisherman", AGE, "old"),
        ("a middle-aged teacher", AGE, "middle-aged"),  # not "aged" (elderly)
        ("three kids playing", AGE, "kids"),
        ("a hispanic nurse", RACE, "hispanic"),
        ("a red car", ("white", "red", "blue"), "red"),
        ("a crimson car", ("white", "red", "blue"), "crimson"),
        ("a photo of a nurse", GENDER, None),
    ],
)
def test_states_attribute(caption: str, classes: Sequence[str], expected: str | None) -> None:
    assert states_attribute(caption, classes) == expected


def test_ambiguous_words_need_a_person_noun_for_person_biases() -> None:
    assert states_attribute("a man in a white shirt", RACE, refer_to="person") is None
    assert states_attribute("a young Black woman", RACE, refer_to="person") == "black"
    tone = ("light", "dark")
    assert states_attribute("a dark-skinned nurse", tone, refer_to="person") == "dark-skinned"
    assert states_attribute("a pale elderly nurse", tone, refer_to="person") == "pale"
    assert states_attribute("a nurse in a dark room", tone, refer_to="person") is None
    for lit in ("a doctor under bright lights", "a teacher, studio lights",
                "a nurse with neon lights behind her"):
        assert states_attribute(lit, tone, refer_to="person") is None, lit
    assert states_attribute("a waiter in an Indian restaurant", RACE, refer_to="person") is None
    assert states_attribute("an old car and a driver", AGE, refer_to="person") is None
    # without a subject, or for a colour bias, the word counts anywhere
    assert states_attribute("a man in a white shirt", RACE) == "white"
    shirt = ("white", "black", "blue")
    assert states_attribute("a man in a white shirt", shirt, refer_to="person") == "white"


def test_custom_synonyms_and_the_stated_class() -> None:
    table = {"woman": frozenset({"heroine"})}
    assert states_attribute("the heroine of the story", GENDER, table) == "heroine"
    assert states_attribute("a female doctor", GENDER, table) is None
    found = find_stated("two grandmothers talking", AGE)
    assert found is not None and (found.cls, found.word) == ("elderly", "grandmothers")


# --- merging --------------------------------------------------------------------------------------


def test_overlap_of_exactly_three_quarters_merges() -> None:
    result = merge_proposals(
        {"c1": [prop("ethnicity", "abcd")], "c2": [prop("race", "abce")]}, overlap=0.75
    )
    assert result.biases == (
        Bias(
            bias_id="person/ethnicity",
            name="ethnicity",
            refer_to="person",
            classes=("a", "b", "c", "d", "e"),
            question="What is the ethnicity?",
            captions=("c1", "c2"),
            merged_from=("ethnicity", "race"),
        ),
    )
    assert dict(result.assignments) == {"c1": ("person/ethnicity",), "c2": ("person/ethnicity",)}


def test_overlap_of_two_thirds_does_not_merge() -> None:
    result = merge_proposals({"c1": [prop("style", "abc")], "c2": [prop("look", "abx")]})
    assert [b.bias_id for b in result.biases] == ["person/style", "person/look"]
    assert [b.classes for b in result.biases] == [("a", "b", "c"), ("a", "b", "x")]
    lower = merge_proposals(
        {"c1": [prop("style", "abc")], "c2": [prop("look", "abx")]}, overlap=0.6
    )
    assert [b.bias_id for b in lower.biases] == ["person/style"]


def test_different_subjects_never_merge() -> None:
    result = merge_proposals(
        {"c1": [prop("color", "rgb", refer_to="car"), prop("color", "rgb", refer_to="dog")]}
    )
    assert [b.bias_id for b in result.biases] == ["car/color", "dog/color"]


def test_overlap_must_be_a_fraction() -> None:
    with pytest.raises(ValueError, match="overlap"):
        merge_proposals({}, overlap=0.0)


def test_same_name_and_subject_is_one_bias() -> None:
    result = merge_proposals(
        {
            "c1": [prop("Person Gender", ("Male", "Female"), refer_to="people")],
            "c2": [prop("gender", GENDER, refer_to="doctor")],
            "c3": [prop("sex", ("woman", "man", "non-binary"))],
        }
    )
    (bias,) = result.biases
    assert bias.bias_id == "person/gender" and bias.name == "gender"
    assert bias.classes == ("Male", "Female", "non-binary")  # aliases are not added twice
    assert bias.captions == ("c1", "c2", "c3")
    assert bias.merged_from == ("Person Gender", "gender", "sex")


def test_present_in_prompt_pairs_are_dropped() -> None:
    texts = {"c1": "a photo of a nurse", "c2": "a photo of a woman nurse"}
    result = merge_proposals(
        {
            "c1": [prop("gender", GENDER), prop("age", AGE)],
            "c2": [prop("gender", GENDER, present=True), prop("age", AGE)],
        },
        texts=texts,
    )
    assert [b.bias_id for b in result.biases] == ["person/gender", "person/age"]
    assert result.biases[0].captions == ("c1",)
    assert result.biases[1].captions == ("c1", "c2")
    assert result.dropped == (DroppedPair("c2", "gender", "present_in_prompt", "woman"),)
    assert dict(result.assignments) == {
        "c1": ("person/gender", "person/age"),
        "c2": ("person/age",),
    }


def test_a_caption_that_states_a_class_is_dropped_even_if_the_llm_missed_it() -> None:
    texts = {"c1": "a female doctor", "c2": "a doctor"}
    result = merge_proposals(
        {"c1": [prop("gender", GENDER)], "c2": [prop("gender", GENDER)]}, texts=texts
    )
    assert result.dropped == (DroppedPair("c1", "gender", "stated_in_caption", "female"),)
    assert result.biases[0].captions == ("c2",)


def test_captions_are_rechecked_against_merged_classes() -> None:
    texts = {"c1": "a grey dog", "c2": "a puppy"}
    result = merge_proposals(
        {
            "c1": [prop("fur color", ("black", "white", "brown"), refer_to="dog")],
            "c2": [prop("coat color", ("black", "white", "brown", "grey"), refer_to="dog")],
        },
        texts=texts,
    )
    (bias,) = result.biases
    assert bias.classes == ("black", "white", "brown", "grey")
    assert bias.captions == ("c2",)
    assert result.dropped == (DroppedPair("c1", "fur color", "stated_after_merge", "grey"),)


def test_a_bias_dropped_under_another_name_stays_dropped() -> None:
    result = merge_proposals(
        {"c1": [prop("ethnicity", "abcd", present=True), prop("race", "abce")]}
    )
    assert result.biases == ()
    assert [d.reason for d in result.dropped] == ["present_in_prompt", "stated_after_merge"]
    assert dict(result.assignments) == {"c1": ()}


def test_merging_is_deterministic_and_keeps_input_order() -> None:
    per_caption = {
        "c2": [prop("age", AGE), prop("gender", GENDER)],
        "c1": [prop("gender", GENDER), prop("hair", ("short", "long"))],
    }
    first = merge_proposals(per_caption)
    assert first == merge_proposals(per_caption)
    assert [b.bias_id for b in first.biases] == ["person/age", "person/gender", "person/hair"]
    assert list(first.assignments) == ["c2", "c1"]
    assert first.biases[1].captions == ("c2", "c1")
