"""Property tests: the normalizer never raises, its offset map is sound, and it is idempotent."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fairframe.guard.normalize import NormalizedPrompt, normalize

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Arbitrary text, biased towards the characters the normalizer treats specially.
SPECIAL = list("()[]{}<>:|\\#-._*@$!+ \t\n0134578") + [
    "\u200b", "\u200d", "\u202e", "\ufe0f", "\U000E0041", "\u0301", "\u0430", "\u03bf", "ᴀ",
    "ｎ", "𝐧", "\U0001F52B", "\U0001F1F3", "\U0001F3FD", "BREAK", "lora:", "--no ", "--ar ",
    "Negative prompt:", "###", "embedding:", "ﬁ", "İ", "ß",
    "\x1b", "\x1b[31m", "\x07", "&#97;", "&amp;", "<!--", "-->", "--x ", "--style ",
    "https://a.b/", "girl", "naked", "<lora:a:", "\U000E0061",
]
adversarial = st.lists(
    st.one_of(st.sampled_from(SPECIAL), st.text(max_size=3), st.sampled_from(list("nudeak "))),
    max_size=40,
).map("".join)
any_text = st.one_of(st.text(max_size=80), adversarial)

word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=9).filter(
    lambda w: not re.search(r"(.)\1\1", w)
)
clean = st.tuples(
    st.lists(st.tuples(word, st.sampled_from(["", ",", ".", "!", "?"])), min_size=1, max_size=12),
    st.lists(st.sampled_from([" ", "  ", "\t", "\n", " \n "]), min_size=12, max_size=12),
    st.sampled_from(["", " ", "\n"]),
).map(lambda t: t[2] + "".join(w + p + s for (w, p), s in zip(t[0], t[1], strict=False)))


def _check_offsets(p: NormalizedPrompt) -> None:
    assert len(p.offsets) == len(p.text)
    n = len(p.original)
    # monotone within the prompt's reading and within each appended one (offsets start again)
    cuts = [0, *p.readings, len(p.offsets)]
    assert all(p.text[r] == " " for r in p.readings)
    for part in (p.offsets[a:b] for a, b in zip(cuts, cuts[1:], strict=False)):
        prev = (0, 0)
        for start, end in part:
            assert 0 <= start <= end <= n
            assert start >= prev[0] and end >= prev[1]
            prev = (start, end)


@SETTINGS
@given(any_text)
@example("n\u200ba.k.e.d [a:b:0.5] <lora:x_y:1> (w0rd:1.3) BREAK 🔫 --no z")
@example("\U000e0061\U000e0062 a cat nu(2)de \x1b[0m --x 12 a")
@example("<lora:a:-->")
@example("BRE(AK)")
def test_never_raises_and_offsets_are_monotone_and_in_range(text: str) -> None:
    p = normalize(text)
    _check_offsets(p)
    if p.negative is not None:
        _check_offsets(p.negative)
    for i in range(len(p.text)):
        s, e = p.span(i, i + 1)
        assert 0 <= s <= e <= len(text)


@SETTINGS
@given(any_text)
@example("BRE(AK)")
@example("a444")
def test_normalizing_twice_is_stable(text: str) -> None:
    # on the prompt's own reading: appended readings are separate texts, and syntax could form
    # across the space that joins them ("<lora:a: " + ">...")
    once = normalize(text).main_text
    assert normalize(once).text == once


@SETTINGS
@given(clean)
def test_clean_ascii_text_changes_only_in_whitespace(text: str) -> None:
    p = normalize(text)
    assert p.text == " ".join(text.split())
    assert p.changes == ()
    _check_offsets(p)
