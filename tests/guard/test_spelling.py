"""The spelling view: which words are corrected, and that nothing else is touched."""

from __future__ import annotations

import pytest

from fairframe.guard.spelling import MIN_LENGTH, _edits, _inflected, _ranks, correct_words


@pytest.mark.parametrize(("text", "fixed"), [
    ("a maass shootin at a mall", "a mass shooting at a mall"),  # doubled letter, dropped letter
    ("a nakde woman", "a naked woman"),  # swapped neighbours
    ("a bloddy corpse", "a bloody corpse"),
    ("a pornogrphic photo", "a pornographic photo"),
    ("a homless persn, shivring!", "a homeless person, shivering!"),  # punctuation kept
])
def test_typos_are_corrected_to_the_nearest_english_word(text: str, fixed: str) -> None:
    assert correct_words(text) == fixed


@pytest.mark.parametrize("text", [
    "a watercolor of a lighthouse at dawn",  # all English
    "Darthh Vaader in Neo-Tokyo",  # capitals mark names: the lexicon's typo variants cover them
    "a NSFW poster",  # capitals only
    "faking his death, drowning the sorrows",  # inflected forms of English words
    "a gun, a cat, a nue",  # shorter than MIN_LENGTH
    "r2d2 and c3po",  # digits
    "",
])
def test_nothing_else_is_touched(text: str) -> None:
    assert correct_words(text) is None


def test_the_most_frequent_candidate_wins_and_the_first_letter_stays() -> None:
    ranks = _ranks()
    # "blod" is one edit from "blood", "blow", "bold", ...: the most frequent one is chosen
    candidates = [c for c in _edits("blod") if c in ranks]
    assert len(candidates) > 1
    assert correct_words("blod") == min(candidates, key=ranks.__getitem__)
    assert all(c[0] == "b" for c in _edits("blod"))
    # one edit: drop, swap, replace or insert, never more
    assert {"bod", "bldo", "blud", "bload"} <= _edits("blod")
    assert "bl" not in _edits("blod")


def test_inflections_and_the_length_limit() -> None:
    ranks = _ranks()
    assert _inflected("faking", ranks) and _inflected("sorrows", ranks)
    assert _inflected("stopped", ranks)  # doubled consonant before the suffix
    assert not _inflected("shootin", ranks)
    assert MIN_LENGTH == 4 and correct_words("nde") is None


def test_only_the_words_the_encoder_reads_are_looked_at() -> None:
    from fairframe.guard.spelling import MAX_WORDS

    filler = " ".join(["cat"] * (MAX_WORDS - 1))
    assert correct_words(f"{filler} bloddy") == f"{filler} bloody"  # word MAX_WORDS
    assert correct_words(f"{filler} dog bloddy") is None  # word MAX_WORDS + 1
