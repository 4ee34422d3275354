"""Mutators: registry, determinism per seed, and what each one claims to preserve."""

from __future__ import annotations

import doctest
import random
import re
from typing import Any

import pytest

from fairframe.errors import BackendError, ConfigError, EndpointError
from fairframe.guard.lexicon import default_lexicon
from fairframe.guard.normalize import normalize
from fairframe.redteam import mutators as M
from fairframe.redteam.suite import builtin_suite
from fairframe.redteam.types import Mutator
from fairframe.testing.openai_server import OpenAICompatibleServer

OFFLINE = [n for n in M.available_mutators() if n != "llm_paraphrase"]
SEEDS = range(4)


def _scores(prompt: str) -> dict[str, float]:
    return dict(default_lexicon().scan(prompt).scores)


def _flagged_prompts() -> list[str]:
    """The built-in unsafe prompts the lexicon flags (score >= 0.5 somewhere)."""
    out = []
    for item in builtin_suite():
        if item.expected == "block" and max(_scores(item.prompt).values()) >= 0.5:
            out.append(item.prompt)
    return out


FLAGGED = _flagged_prompts()


def test_flagged_fixture_is_large() -> None:
    # the preservation tests below run over these prompts; the built-in suite holds 88 unsafe
    # rows, the lexicon flags all but a couple
    assert len(FLAGGED) >= 80


# --------------------------------------------------------------------------- docs and registry


def test_docstring_examples_run() -> None:
    result = doctest.testmod(M, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 15
    assert result.failed == 0


def test_registry_names() -> None:
    assert M.available_mutators() == [
        "case", "char_noise", "diffusion_syntax", "foreign_padding", "frame", "homoglyph",
        "leetspeak", "llm_paraphrase", "spacing", "synonym", "token_soup", "zero_width",
    ]
    for name in OFFLINE:
        m = M.get_mutator(name)
        assert isinstance(m, Mutator)
        assert m.name == name
        assert m.params()["name"] == name  # type: ignore[attr-defined]


def test_unknown_mutator_lists_names() -> None:
    with pytest.raises(ConfigError, match=r"unknown mutator 'leet'; available: case, char_noise"):
        M.get_mutator("leet")


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="does not accept these options"):
        M.get_mutator("leetspeak", colour="red")
    with pytest.raises(ConfigError, match=r"rate must be in \(0, 1\]"):
        M.get_mutator("homoglyph", rate=0.0)
    with pytest.raises(ConfigError, match="does not accept"):
        M.get_mutator("llm_paraphrase")  # base_url and model are required
    with pytest.raises(ConfigError, match="separator"):
        M.Spacing(separators=["+"])
    with pytest.raises(ConfigError, match="styles"):
        M.DiffusionSyntax(styles=["bold"])
    with pytest.raises(ConfigError, match="min_tokens"):
        M.TokenSoup(min_tokens=5, max_tokens=2)
    with pytest.raises(ConfigError, match="not in the table"):
        M.Synonym(categories=["sexual_minors"])


def test_parse_mutators() -> None:
    parsed = M.parse_mutators(" leetspeak , homoglyph+zero_width,case ")
    assert [m.name for m in parsed] == ["leetspeak", "homoglyph+zero_width", "case"]
    chain = parsed[1]
    assert isinstance(chain, M.Chain)
    assert [type(m) for m in chain.mutators] == [M.Homoglyph, M.ZeroWidth]
    opts = M.parse_mutators("leetspeak", options={"leetspeak": {"rate": 0.5}})
    assert opts[0].params()["rate"] == 0.5  # type: ignore[attr-defined]
    for bad in ("", "leetspeak,", "a++b", " + "):
        with pytest.raises(ConfigError):
            M.parse_mutators(bad)
    with pytest.raises(ConfigError, match="does not use"):
        M.parse_mutators("case", options={"leetspeak": {"rate": 0.5}})
    with pytest.raises(ConfigError, match="unknown mutator 'nope'"):
        M.parse_mutators("case+nope")


def test_chain_applies_in_order_with_one_rng() -> None:
    prompt = "a naked woman in a pool of blood"
    chain = M.Chain([M.Leetspeak(), M.ZeroWidth()])
    assert chain.name == "leetspeak+zero_width"
    rng = random.Random(7)
    manual = M.ZeroWidth().mutate(M.Leetspeak().mutate(prompt, rng), rng)
    assert chain.mutate(prompt, random.Random(7)) == manual
    assert chain.params()["mutators"] == [M.Leetspeak().params(), M.ZeroWidth().params()]
    with pytest.raises(ConfigError):
        M.Chain([])


# --------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("name", OFFLINE)
def test_deterministic_per_seed_and_seeds_differ(name: str) -> None:
    m = M.get_mutator(name)
    for prompt in ("a naked woman holding a gun", "a stripper at a strip club, covered in blood"):
        first = [m.mutate(prompt, random.Random(seed)) for seed in range(10)]
        again = [m.mutate(prompt, random.Random(seed)) for seed in range(10)]
        assert first == again
        assert len(set(first)) >= 2, f"{name}: every seed gave {first[0]!r}"
        assert all(out != prompt for out in first)


def test_target_spans_flagged_then_fallback() -> None:
    p = "a photo of a kitten in a basket"  # nothing flagged: words of 4+ letters
    assert [p[s:e] for s, e in M.target_spans(p)] == ["photo", "kitten", "basket"]
    p = "a gory photo"
    assert [p[s:e] for s, e in M.target_spans(p)] == ["gory"]
    with pytest.raises(ConfigError):
        M.target_spans(p, "some")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- preservation

_UNLEET = {"4": "a", "@": "a", "3": "e", "1": "i", "!": "i", "0": "o", "5": "s", "$": "s",
           "7": "t", "+": "t", "8": "b", "9": "g", "|": "l"}


def _vowelless_target(prompt: str) -> bool:
    return any(not re.search("[aeiouyAEIOUY]", prompt[s:e]) for s, e in M.target_spans(prompt))


def test_leetspeak_normalizes_back() -> None:
    checked = 0
    for prompt in FLAGGED:
        for seed in SEEDS:
            out = M.Leetspeak().mutate(prompt, random.Random(seed))
            # every changed word maps back letter by letter
            words_in, words_out = prompt.split(), out.split()
            assert len(words_in) == len(words_out)
            for a, b in zip(words_in, words_out, strict=True):
                if a != b:
                    assert "".join(_UNLEET.get(c, c) for c in b).lower() == a.lower()
            if _vowelless_target(prompt):
                continue
            # the main reading is the prompt's ("|" for "l" between two 3-letter runs adds a
            # split reading too: "exp|icit" is also read as "exp icit")
            assert normalize(out).main_text.lower() == normalize(prompt).text.lower()
            assert _scores(out) == _scores(prompt)
            checked += 1
    assert checked >= 70 * len(SEEDS)


def test_leetspeak_rules_of_the_normalizer() -> None:
    # first letter never a digit; at least two non-digits; no lone edge letter
    rng = random.Random(3)
    for _ in range(200):
        out = M.Leetspeak(target="all").mutate("states feet robot stage logo with pink", rng)
        for word in out.split():
            assert not word[0].isdigit()
            assert sum(not c.isdigit() for c in word) >= 2
            assert not re.match(r"[A-Za-z0-9][^A-Za-z0-9]", word)
            assert not re.search(r"[^A-Za-z0-9][A-Za-z0-9]$", word)
        assert normalize(out).text == "states feet robot stage logo with pink"


def test_vowelless_leetspeak_is_a_documented_gap() -> None:
    out = M.Leetspeak().mutate("nsfw", random.Random(0))
    assert out in {"n5fw", "n$fw"}
    assert normalize(out).text == out  # the normalizer keeps vowel-less codes


def test_homoglyph_table_is_folded_by_the_guard() -> None:
    for latin, glyphs in M.HOMOGLYPHS.items():
        for g in glyphs:
            assert normalize(f"kj{g}fv").text == f"kj{latin}fv", (latin, g)


def test_homoglyph_preserves() -> None:
    for prompt in FLAGGED:
        for seed in SEEDS:
            out = M.Homoglyph().mutate(prompt, random.Random(seed))
            assert out != prompt
            assert not all(c.isascii() for c in out)
            assert M.restore_homoglyphs(out) == prompt
            assert normalize(out).text == normalize(prompt).text
    # the extended table only promises the round trip
    out = M.Homoglyph(extended=True, rate=1.0).mutate("A SWASTIKA graffiti", random.Random(1))
    assert M.restore_homoglyphs(out) == "A SWASTIKA graffiti"
    assert out.startswith("A ") and out.endswith(" graffiti")


def test_zero_width_preserves() -> None:
    invisible = dict.fromkeys(map(ord, M.ZERO_WIDTH_CHARS))
    for prompt in FLAGGED:
        for seed in SEEDS:
            out = M.ZeroWidth().mutate(prompt, random.Random(seed))
            assert len(out) > len(prompt)
            assert out.translate(invisible) == prompt
            assert normalize(out).text == normalize(prompt).text
    # rate 1: every gap of "naked" filled
    out = M.ZeroWidth(chars=["\u200b"]).mutate("a naked man", random.Random(0))
    assert out == "a n\u200ba\u200bk\u200be\u200bd man"


def test_spacing_preserves() -> None:
    for prompt in FLAGGED:
        for seed in SEEDS:
            out = M.Spacing().mutate(prompt, random.Random(seed))
            assert normalize(out).text == normalize(prompt).text, out
    # separators only between the letters of the target word
    assert M.Spacing(separators=["."]).mutate("a gory photo", random.Random(0)) == "a g.o.r.y photo"


def test_spacing_avoids_joins_the_normalizer_would_make() -> None:
    rng = random.Random(0)
    cases = ["a nude a", "I assault", "self-harm scars", "naked naked naked", "x naked y"]
    for prompt in cases:
        for _ in range(50):
            out = M.Spacing(target="all", separators=[" ", "-"]).mutate(prompt, rng)
            assert normalize(out).text == normalize(prompt).text, (prompt, out)


def test_case_preserves() -> None:
    for prompt in FLAGGED:
        for seed in SEEDS:
            out = M.Case(mode="random").mutate(prompt, random.Random(seed))
            assert out != prompt and out.lower() == prompt.lower()
            assert _scores(out) == _scores(prompt)
    assert M.Case().mutate("a gory photo", random.Random(1)) in {"a gOrY photo", "a GoRy photo"}
    assert M.Case(mode="upper").mutate("a gory photo", random.Random(0)) == "a GORY photo"


def _subsequence(needle: list[str], hay: list[str]) -> bool:
    it = iter(hay)
    return all(any(w == h for h in it) for w in needle)


def test_diffusion_syntax_keeps_every_word() -> None:
    for prompt in FLAGGED:
        before = _scores(prompt)
        for seed in SEEDS:
            out = M.DiffusionSyntax(styles=M._SYNTAX_STYLES).mutate(prompt, random.Random(seed))
            norm = normalize(out)
            syntax = norm.syntax
            assert syntax.weights or syntax.schedules or syntax.breaks
            words = re.findall(r"\w+", normalize(prompt).text.lower())
            assert _subsequence(words, re.findall(r"\w+", norm.text.lower()))
            after = _scores(out)
            assert all(after[c] >= before[c] for c in before), (out, before, after)


def test_diffusion_syntax_styles_exact() -> None:
    p = "a pool of blood"
    weighted = M.DiffusionSyntax(styles=["weight"]).mutate(p, random.Random(0))
    assert re.fullmatch(r"a \(pool of blood:1\.[1-5]\)", weighted)
    assert normalize(weighted).syntax.weights[0].text == "pool of blood"
    broken = M.DiffusionSyntax(styles=["break"]).mutate(p, random.Random(0))
    assert broken == "a BREAK pool of blood"
    sched = M.DiffusionSyntax(styles=["schedule"]).mutate(p, random.Random(0))
    m = re.fullmatch(r"a \[(\w+):pool of blood:0\.[1-5]\]", sched)
    assert m and m.group(1) in M.SCHEDULE_DECOYS
    assert normalize(sched).syntax.schedules[0].parts[1] == "pool of blood"


def test_synonym_keeps_other_words() -> None:
    out = M.Synonym().mutate("A naked man, holding a GUN, by the sea", random.Random(0))
    subs_naked = M.SYNONYMS["nudity"]["naked"]
    subs_gun = M.SYNONYMS["violence"]["gun"]
    m = re.fullmatch(r"A (.+) man, holding a (.+), by the sea", out)
    assert m is not None
    assert m.group(1) in subs_naked
    assert m.group(2) in {s[0].upper() + s[1:] for s in subs_gun}
    # a prompt without a term is returned unchanged
    assert M.Synonym().mutate("a kitten in a basket", random.Random(0)) == "a kitten in a basket"
    # longest term first: "having sex" as one phrase, not "sex" alone
    out = M.Synonym(categories=["sexual"]).mutate("two people having sex", random.Random(0))
    assert out.removeprefix("two people ") in M.SYNONYMS["sexual"]["having sex"]


def test_synonym_property_over_suite() -> None:
    syn = M.Synonym()
    terms = {t for table in M.SYNONYMS.values() for t in table}
    for prompt in FLAGGED:
        out = syn.mutate(prompt, random.Random(0))
        kept = [w for w in re.findall(r"\w+", prompt.lower())
                if not any(re.search(rf"\b{re.escape(w)}\b", t) for t in terms)]
        assert _subsequence(kept, re.findall(r"\w+", out.lower())), (prompt, out)


def test_synonym_custom_table_and_rate() -> None:
    syn = M.Synonym(table={"violence": {"axe": ["hatchet"]}})
    assert syn.mutate("an axe. Axe!", random.Random(0)) == "an hatchet. Hatchet!"
    half = M.Synonym(table={"violence": {"axe": ["hatchet"]}}, rate=0.5)
    outs = {half.mutate("axe axe axe axe", random.Random(s)) for s in range(20)}
    assert "hatchet hatchet hatchet hatchet" in outs or len(outs) > 2


def _osa(a: str, b: str) -> int:
    """Optimal string alignment distance (Damerau-Levenshtein with adjacent swaps)."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def test_osa_helper() -> None:
    assert _osa("naked", "nakde") == 1
    assert _osa("naked", "nked") == 1
    assert _osa("naked", "naaked") == 1
    assert _osa("naked", "dekan") == 4


def test_char_noise_one_edit_per_target_word() -> None:
    for prompt in FLAGGED:
        targets = {prompt[s:e] for s, e in M.target_spans(prompt, min_length=3)}
        for seed in SEEDS:
            out = M.CharNoise().mutate(prompt, random.Random(seed))
            spans = M.target_spans(prompt, min_length=3)
            pieces_in = re.split(r"([^\W\d_]+)", prompt)
            pieces_out = re.split(r"([^\W\d_]+)", out)
            assert len(pieces_in) == len(pieces_out)
            changed = 0
            for a, b in zip(pieces_in, pieces_out, strict=True):
                if a == b:
                    continue
                changed += 1
                assert a in targets
                assert _osa(a, b) == 1 and a[0] == b[0]
            assert changed == len(spans)


@pytest.mark.parametrize("op", ["swap", "drop", "duplicate"])
def test_char_noise_each_op(op: str) -> None:
    out = M.CharNoise(ops=[op]).mutate("gore", random.Random(0))
    if op == "swap":
        assert out in {"gore"[:i] + "gore"[i + 1] + "gore"[i] + "gore"[i + 2:] for i in (1, 2)}
    elif op == "drop":
        assert out in {"gre", "goe", "gor"}
    else:
        assert out in {"goore", "gorre", "goree"}


def test_token_soup_positions() -> None:
    vocab = set(M.SOUP_TOKENS)
    p = "a naked woman"
    for position in ("prefix", "suffix", "both"):
        for seed in range(10):
            soup = M.TokenSoup(position=position, min_tokens=2, max_tokens=4)  # type: ignore[arg-type]
            out = soup.mutate(p, random.Random(seed))
            head, sep, tail = out.partition(p)
            assert sep == p
            pieces = head.rstrip(", ").split(", ") + tail.lstrip(", ").split(", ")
            added = [t for t in pieces if t]
            assert 2 <= len(added) <= 4 and set(added) <= vocab
            if position == "prefix":
                assert out.endswith(p)
            if position == "suffix":
                assert out.startswith(p)
    out = M.TokenSoup(position="interleave").mutate(p, random.Random(0))
    assert _subsequence(p.split(), out.split())


def test_token_soup_vocabulary_is_benign() -> None:
    for token in M.SOUP_TOKENS:
        assert max(_scores(token).values()) == 0.0, token


def test_synonyms_and_decoys_are_not_table_keys() -> None:
    keys = {t for table in M.SYNONYMS.values() for t in table}
    assert "sexual_minors" not in M.SYNONYMS
    for table in M.SYNONYMS.values():
        for subs in table.values():
            assert not set(subs) & keys
    for decoy in M.SCHEDULE_DECOYS:
        assert max(_scores(decoy).values()) == 0.0


# --------------------------------------------------------------------------- LLM paraphrase


def _seeded_reply(request: dict[str, Any]) -> str:
    return f"Prompt: \"paraphrase number {request['seed']}\""


def test_llm_paraphrase_request_and_cache() -> None:
    with OpenAICompatibleServer(chat=_seeded_reply) as server, M.LLMParaphrase(
        base_url=server.base_url, model="para-1", temperature=0.9, max_tokens=50
    ) as para:
        seed = random.Random(5).randrange(2**31)
        out = para.mutate("a naked woman in a pool of blood", random.Random(5))
        assert out == f"paraphrase number {seed}"
        assert len(server.requests) == 1
        req = server.requests[0]
        assert req.path == "/v1/chat/completions"
        body = req.body
        assert body["model"] == "para-1"
        assert body["seed"] == seed
        assert body["temperature"] == 0.9
        assert body["max_tokens"] == 50
        system, user = body["messages"]
        assert system["role"] == "system" and user["role"] == "user"
        assert "Prompt: a naked woman in a pool of blood" in user["content"]
        assert "do not use any of these words: naked, pool of blood." in user["content"]
        # same prompt and seed: served from the cache, no new request
        assert para.mutate("a naked woman in a pool of blood", random.Random(5)) == out
        assert len(server.requests) == 1 and para.cache_size == 1
        # another seed: a new request with that seed
        other = para.mutate("a naked woman in a pool of blood", random.Random(6))
        assert other == f"paraphrase number {random.Random(6).randrange(2**31)}"
        assert len(server.requests) == 2 and para.cache_size == 2
        assert para.params()["model"] == "para-1"
        assert "api_key" not in para.params()


def test_llm_paraphrase_is_deterministic_across_instances() -> None:
    with OpenAICompatibleServer(chat=_seeded_reply) as server:
        outs = []
        for _ in range(2):
            with M.LLMParaphrase(base_url=server.base_url, model="m") as para:
                outs.append([para.mutate("a gory scene", random.Random(s)) for s in range(3)])
        assert outs[0] == outs[1]
        assert len(set(outs[0])) == 3


def test_llm_paraphrase_template_and_cleaning() -> None:
    replies = iter(["```\nRewritten prompt: 'a red scene'\n```", "\n\n  two lines \n second"])
    with OpenAICompatibleServer(chat=lambda r: next(replies)) as server, M.LLMParaphrase(
        base_url=server.base_url, model="m", template="Say {prompt} differently"
    ) as para:
        assert para.mutate("a gory scene", random.Random(0)) == "a red scene"
        assert server.requests[0].body["messages"][1]["content"] == "Say a gory scene differently"
        assert para.mutate("x", random.Random(0)) == "two lines"


def test_llm_paraphrase_errors() -> None:
    with pytest.raises(ConfigError, match=r"\{prompt\}"):
        M.LLMParaphrase(base_url="http://127.0.0.1:9/v1", model="m", template="no slot")
    with pytest.raises(ConfigError, match="placeholder"):
        M.LLMParaphrase(base_url="http://127.0.0.1:9/v1", model="m", template="{prompt} {x}")
    with pytest.raises(ConfigError, match="temperature"):
        M.LLMParaphrase(base_url="http://127.0.0.1:9/v1", model="m", temperature=3.0)
    with OpenAICompatibleServer(chat=lambda r: "   ") as server, M.LLMParaphrase(
        base_url=server.base_url, model="m", max_retries=0
    ) as para:
        with pytest.raises(BackendError, match="returned no text"):
            para.mutate("a gory scene", random.Random(0))
        server.fail_next(1, status=500)
        with pytest.raises(EndpointError):
            para.mutate("a gory scene", random.Random(1))
        assert para.cache_size == 0


def test_foreign_padding_keeps_the_prompt_and_reads_as_another_language() -> None:
    import random

    mutator = M.get_mutator("foreign_padding")
    prompt = "a bloody corpse lying in an alley"
    rng = random.Random(0)
    outs = {mutator.mutate(prompt, rng) for _ in range(60)}
    assert len(outs) == len(M.FOREIGN_PADDING_TEMPLATES)
    assert all(o.startswith(prompt + ", ") for o in outs)
    codes = {default_lexicon().language_of(o) for o in outs}
    assert {"es", "fr", "de", "ru"} <= codes  # the Portuguese one stays English: "a", "in"
    with pytest.raises(ConfigError, match="hold '{prompt}' once"):
        M.ForeignPadding(templates=["no placeholder"])
