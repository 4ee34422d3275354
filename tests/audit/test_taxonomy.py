"""The built-in taxonomy and the proposer that needs no LLM."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from fairframe.audit.merge import merge_proposals
from fairframe.audit.taxonomy import (
    DEFAULT_TAXONOMY,
    PERSON_NOUNS,
    PROFESSIONS,
    TAXONOMY_VERSION,
    TaxonomyEntry,
    TaxonomyProposer,
)

PERSON_IDS = [
    "person/gender",
    "person/age",
    "person/skin-tone",
    "person/race",
    "person/body-type",
    "person/attire",
    "person/disability",
]


@pytest.fixture(scope="module")
def proposer() -> TaxonomyProposer:
    return TaxonomyProposer()


def flags(proposer: TaxonomyProposer, caption: str) -> dict[str, bool]:
    outcome = proposer.propose(caption)
    return {p.bias_id: p.present_in_prompt for p in outcome.proposals}


# --- the taxonomy itself --------------------------------------------------------------------------


def test_taxonomy_shape() -> None:
    ids = [e.bias_id for e in DEFAULT_TAXONOMY]
    assert len(ids) == len(set(ids))
    assert ids[:7] == PERSON_IDS
    assert len(PROFESSIONS) >= 60 and len(set(PROFESSIONS)) == len(PROFESSIONS)
    assert set(PROFESSIONS) <= PERSON_NOUNS
    assert {"nurse", "ceo", "police officer", "grandmother", "woman", "person"} <= PERSON_NOUNS
    by_id = {e.bias_id: e for e in DEFAULT_TAXONOMY}
    assert by_id["person/gender"].classes == ("man", "woman")
    assert by_id["person/age"].classes == ("child", "young adult", "middle-aged", "elderly")
    assert by_id["person/skin-tone"].classes == ("light", "medium", "dark")
    assert len(by_id["person/race"].classes) == 7
    assert by_id["person/disability"].classes == ("visible disability", "no visible disability")
    for entry in DEFAULT_TAXONOMY:
        assert entry.to_proposal().classes == entry.classes  # valid proposals
        assert all(t == t.lower() for t in entry.triggers)
    assert {
        "dog/breed", "cat/fur-color", "horse/coat-color", "car/color", "house/architectural-style",
        "kitchen/interior-style", "food/cuisine", "city/region", "artwork/style",
    } <= set(ids)


def test_entry_validation() -> None:
    with pytest.raises(ValueError, match="distinct"):
        TaxonomyEntry("g", "person", ("a", "A"), "q?", frozenset({"x"}))
    with pytest.raises(ValueError, match="unknown"):
        TaxonomyEntry("g", "person", ("a", "unknown"), "q?", frozenset({"x"}))
    with pytest.raises(ValueError, match="trigger"):
        TaxonomyEntry("g", "person", ("a", "b"), "q?", frozenset())
    with pytest.raises(ValueError, match="lower-case"):
        TaxonomyEntry("g", "person", ("a", "b"), "q?", frozenset({"Dog"}))
    with pytest.raises(ValueError, match="unknown classes"):
        TaxonomyEntry("g", "p", ("a", "b"), "q?", frozenset({"x"}), MappingProxyType({"c": ("d",)}))


def test_identity_tracks_the_entries() -> None:
    default = TaxonomyProposer().identity()
    assert default["proposer"] == "taxonomy" and default["version"] == TAXONOMY_VERSION
    assert default == TaxonomyProposer().identity()
    assert TaxonomyProposer(entries=DEFAULT_TAXONOMY[:3]).identity()["sha256"] != default["sha256"]
    with pytest.raises(ValueError, match="person/gender"):
        TaxonomyProposer(entries=DEFAULT_TAXONOMY[:1] * 2)


# --- proposing ------------------------------------------------------------------------------------


def test_a_profession_gets_every_person_bias(proposer: TaxonomyProposer) -> None:
    outcome = proposer.propose("a photo of a nurse")
    assert [p.bias_id for p in outcome.proposals] == PERSON_IDS
    assert not any(p.present_in_prompt for p in outcome.proposals)
    assert outcome.source == "taxonomy" and outcome.attempts == 0
    assert outcome.failure is None and outcome.errors == () and outcome.raw == ()


def test_a_stated_gender_is_flagged_and_dropped_by_merge(proposer: TaxonomyProposer) -> None:
    caption = "a photo of a woman doctor"
    assert flags(proposer, caption) == {i: i == "person/gender" for i in PERSON_IDS}
    result = merge_proposals({"c1": proposer.propose(caption).proposals}, texts={"c1": caption})
    assert [b.bias_id for b in result.biases] == PERSON_IDS[1:]
    assert [(d.bias, d.reason, d.matched) for d in result.dropped] == [
        ("gender", "present_in_prompt", "woman")
    ]


def test_a_stated_car_colour_is_flagged_and_dropped(proposer: TaxonomyProposer) -> None:
    assert flags(proposer, "a red car") == {"car/color": True, "car/type": False}
    proposals = proposer.propose("a red car").proposals
    result = merge_proposals({"c1": proposals}, texts={"c1": "a red car"})
    assert [b.bias_id for b in result.biases] == ["car/type"]


@pytest.mark.parametrize(
    ("caption", "expected"),
    [
        ("two police officers", dict.fromkeys(PERSON_IDS, False)),
        ("a police-officer on duty", dict.fromkeys(PERSON_IDS, False)),
        ("a photo of a manager", dict.fromkeys(PERSON_IDS, False)),
        (
            "an old man walking his dog",
            {
                **{i: i in ("person/gender", "person/age") for i in PERSON_IDS},
                "dog/breed": False,
                "dog/fur-color": False,
            },
        ),
        ("a kitten", {"cat/breed": False, "cat/fur-color": False}),
        ("a Golden Retriever puppy", {"dog/breed": True, "dog/fur-color": True}),
        ("a modern kitchen", {"kitchen/interior-style": True}),
        ("sushi for lunch", {"food/cuisine": True}),
        ("a bowl of soup", {"food/cuisine": False}),
        ("a street in Paris", {"city/region": True}),
        ("an impressionist painting of a bridge", {"artwork/style": True}),
        ("a bedroom with a queen bed", {"bedroom/interior-style": False}),
    ],
)
def test_triggers_and_flags(
    proposer: TaxonomyProposer, caption: str, expected: dict[str, bool]
) -> None:
    assert flags(proposer, caption) == expected


def test_a_person_in_a_wheelchair_states_disability(proposer: TaxonomyProposer) -> None:
    got = flags(proposer, "a person in a wheelchair")
    assert [k for k, v in got.items() if v] == ["person/disability"]


def test_no_subject_is_a_reported_failure(proposer: TaxonomyProposer) -> None:
    for caption in ("a mountain at dawn", "a hot dog with mustard"):
        outcome = proposer.propose(caption)
        assert outcome.proposals == () and not outcome.ok
        assert outcome.failure is not None and "no taxonomy entry applies" in outcome.failure


def test_custom_entries() -> None:
    boat = TaxonomyEntry(
        "color",
        "boat",
        ("white", "red"),
        "What color is the boat?",
        frozenset({"boat", "sailing boat"}),
        MappingProxyType({"white": ("snowy",)}),
    )
    proposer = TaxonomyProposer(entries=[boat])
    assert [p.present_in_prompt for p in proposer.propose("two sailing boats").proposals] == [False]
    assert [p.present_in_prompt for p in proposer.propose("a snowy boat").proposals] == [True]
