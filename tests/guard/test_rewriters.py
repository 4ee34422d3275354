"""Prompt rewriters: anonymizer, diversity augmenter, forced negatives, LLM rewriter, chaining."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairframe.errors import BackendError, ConfigError, EndpointError
from fairframe.guard.decision import Action, Decision, Evidence, Finding
from fairframe.guard.lexicon import default_lexicon
from fairframe.guard.policy import parse_policy
from fairframe.guard.rewriters import (
    MINOR_NEGATIVES,
    Anonymizer,
    BalanceState,
    DiversityAugmenter,
    Edit,
    ForcedNegatives,
    InMemoryBalanceState,
    LLMRewriter,
    PIIKind,
    RewriteContext,
    Rewriter,
    RewriteResult,
    apply_rewriters,
    balanced_choice,
    blocklist_check,
    detect,
    guard_check,
    merge_negative_prompts,
)
from fairframe.testing.openai_server import OpenAICompatibleServer

ALLOW = Decision(Action.ALLOW)


def applied(prompt: str, edits: Sequence[Edit]) -> str:
    """Apply prompt edits (spans into ``prompt``) and return the result."""
    out, pos = [], 0
    for e in sorted((e for e in edits if e.target == "prompt"), key=lambda e: e.span or (0, 0)):
        assert e.span is not None
        assert prompt[e.span[0] : e.span[1]] == e.before
        out += [prompt[pos : e.span[0]], e.after]
        pos = e.span[1]
    return "".join(out) + prompt[pos:]


# =========================================================================== base types


def test_edit_validates_span_and_target() -> None:
    with pytest.raises(ValueError, match="0 <= start <= end"):
        Edit((3, 1), "", "", "x", "r")
    with pytest.raises(ValueError, match="target"):
        Edit(None, "", "", "x", "r", target="image")  # type: ignore[arg-type]
    e = Edit((1, 3), "ab", "c", "email", "anonymize")
    assert e.to_dict() == {"span": [1, 3], "before": "ab", "after": "c", "reason": "email",
                           "rewriter": "anonymize", "target": "prompt"}


def test_rewrite_result_changed_and_dict() -> None:
    assert not RewriteResult("a cat").changed
    assert RewriteResult("a cat", negative_prompt="  ").negative_prompt is None
    r = RewriteResult("a cat", negative_prompt="gore")
    assert r.changed
    assert r.to_dict() == {"prompt": "a cat", "negative_prompt": "gore", "changed": True,
                           "edits": []}


def test_merge_negative_prompts_dedups_and_keeps_brackets() -> None:
    assert merge_negative_prompts(None, "") is None
    assert merge_negative_prompts("nude,  blood", "Blood, gore\nnude") == "nude, blood, gore"
    assert merge_negative_prompts("(ugly, bad:1.2), blurry", "blurry") == "(ugly, bad:1.2), blurry"


# =========================================================================== contract


def _llm_reply(request: Mapping[str, Any]) -> str:
    return json.dumps({"prompt": "a calm landscape", "negative_prompt": ""})


@pytest.fixture
def llm_server() -> Iterator[OpenAICompatibleServer]:
    with OpenAICompatibleServer(chat=_llm_reply) as server:
        yield server


def _all_rewriters(server: OpenAICompatibleServer) -> list[Rewriter]:
    return [
        Anonymizer(),
        DiversityAugmenter(),
        ForcedNegatives(),
        LLMRewriter(base_url=server.base_url, model="m", when=None, max_retries=0),
    ]


@pytest.mark.parametrize(
    "prompt",
    ["", "   ", "日本語のプロンプト 🎨 ü", "a doctor", "my wife Anna, a nude woman, 555-123-4567",
     "\u200bn.a.k.e.d"],
)
def test_every_rewriter_honours_the_contract(llm_server: OpenAICompatibleServer, prompt: str
                                             ) -> None:
    decision = default_lexicon().check(prompt)
    for rewriter in _all_rewriters(llm_server):
        assert isinstance(rewriter, Rewriter)
        result = rewriter.rewrite(prompt, decision, context=RewriteContext(seed=1))
        assert isinstance(result, RewriteResult)
        assert applied(prompt, result.edits) == result.prompt, rewriter.name
        assert all(e.rewriter == rewriter.name for e in result.edits)
        if not prompt.strip():
            assert not result.changed


# =========================================================================== anonymize

ANONYMIZE = [
    # (prompt, expected output, kinds in order)
    ("a photo of my wife Anna", "a photo of a woman", ["name"]),
    ("My husband Tom at the beach", "A man at the beach", ["name"]),
    ("my neighbour John Smith mowing the lawn", "a person mowing the lawn", ["name"]),
    ("my ex-girlfriend Sarah crying", "a woman crying", ["name"]),
    ("a photo of my wife Anna's car", "a photo of a woman's car", ["name"]),
    ("our boss Dr. Lee at a meeting", "a person at a meeting", ["name"]),
    ("my son Max at school", "a son at school", ["name"]),
    ("a photo of Jane Doe from accounting", "a photo of a person from accounting", ["name"]),
    ("a woman named Anna, smiling", "a woman, smiling", ["name"]),
    ("a man called Ove", "a man", ["name"]),
    ("Mr. Smith walking a dog", "A man walking a dog", ["name"]),
    ("a portrait of Mrs Jones and Dr. Alice Brown", "a portrait of a woman and a person",
     ["name", "name"]),
    ("email me at jane.doe@example.com", "email me at an email address", ["email"]),
    ("a sign with my email: jane.doe@example.com", "a sign with an email address", ["email"]),
    ("call +44 20 7946 0958 at 5 pm", "call a phone number at 5 pm", ["phone"]),
    ("a billboard with (555) 123-4567 on it", "a billboard with a phone number on it", ["phone"]),
    ("text 555-123-4567 now", "text a phone number now", ["phone"]),
    ("the house at 42 Elm Street, Springfield", "the house at a street address", ["address"]),
    ("a credit card number 4111 1111 1111 1111 on a table", "a card number on a table",
     ["card"]),
    ("a card 4111111111111111", "a card number", ["card"]),
    ("SSN 123-45-6789 on a form", "An ID number on a form", ["ssn"]),
    ("a form with 123-45-6789", "a form with an ID number", ["ssn"]),
    ("my passport number X1234567", "an ID number", ["id_number"]),
    ("a car with license plate AB12345", "a car with an ID number", ["id_number"]),
    ("an IBAN DE89 3704 0044 0532 0130 00", "an IBAN an ID number", ["id_number"]),
    ("a server at 192.168.0.1.", "a server at an IP address.", ["ip"]),
    ("ipv6 2001:db8::8a2e:370:7334 label", "ipv6 an IP address label", ["ip"]),
    ("art by instagram.com/jane.doe", "art by a social media profile", ["url"]),
    ("see https://example.com/~jdoe/pic.png", "see a social media profile", ["url"]),
    ("posted by @jane_doe", "posted by a person", ["handle"]),
]


@pytest.mark.parametrize(("prompt", "expected", "kinds"), ANONYMIZE)
def test_anonymize_each_kind(prompt: str, expected: str, kinds: list[str]) -> None:
    result = Anonymizer().rewrite(prompt, ALLOW)
    assert result.prompt == expected
    assert [e.reason for e in result.edits] == kinds
    for e in result.edits:
        assert e.span is not None and prompt[e.span[0] : e.span[1]] == e.before
    assert result.negative_prompt is None


def test_anonymize_spans_are_exact() -> None:
    prompt = "Call my wife Anna at +1 555 123 4567 or anna@example.org"
    matches = detect(prompt)
    assert [(m.kind, m.span, m.text, m.replacement) for m in matches] == [
        (PIIKind.NAME, (5, 17), "my wife Anna", "a woman"),
        (PIIKind.PHONE, (21, 36), "+1 555 123 4567", "a phone number"),
        (PIIKind.EMAIL, (40, 56), "anna@example.org", "an email address"),
    ]
    assert Anonymizer().rewrite(prompt, ALLOW).prompt == (
        "Call a woman at a phone number or an email address"
    )


@pytest.mark.parametrize(
    "prompt",
    [
        "a cat on a sofa, 4k, 1920x1080, seed 12345",
        "a poster dated 2023-10-03 at 12:30:45 --ar 16:9",
        "Barack Obama giving a speech",  # a public figure not introduced as private
        "Taylor Swift on stage",
        "Mr. Bean in a car",
        "Dr. Who and the TARDIS",
        "Miss Piggy on a stage",
        "My Neighbor Totoro style forest",
        "221B Baker Street at night",
        "10 Downing Street in the rain",
        "2 Women Walking Down The Street",
        "a dog named Max",
        "a band called Queen",
        "my wife in a garden",
        "Sarah from accounting",  # one capitalised word at a sentence start is not taken
        "a pizza from work",
        "n@ked, emails, @ night, 5 dogs, version 2",
        "日本の女性",
    ],
)
def test_anonymize_leaves_benign_and_public_text(prompt: str) -> None:
    assert detect(prompt) == []
    assert Anonymizer().rewrite(prompt, ALLOW) == RewriteResult(prompt)


def test_detect_options() -> None:
    prompt = "my friend Bob Stone emails bob@x.io"
    assert [m.kind for m in detect(prompt, kinds=["email"])] == [PIIKind.EMAIL]
    assert detect(prompt, keep_names=["Bob Stone"])[0].kind is PIIKind.EMAIL
    listed = detect("with Kim Park and Lee in a park", extra_names=["kim park"])
    assert [(m.text, m.replacement) for m in listed] == [("Kim Park", "a person")]
    custom = detect("write jane@x.io", replacements={"email": "an address"})
    assert custom[0].replacement == "an address"
    anonymizer = Anonymizer(kinds=[PIIKind.PHONE], replacements={PIIKind.PHONE: "a number"})
    assert anonymizer.rewrite("jane@x.io 555-123-4567", ALLOW).prompt == "jane@x.io a number"


# =========================================================================== diversity

# Targets with a unique first choice, so single outputs read without knowing the tie order:
# the first person is a dark-skinned woman.
TARGETS = {"gender": {"woman": 0.6, "man": 0.4}, "skin_tone": {"dark": 0.5, "light": 0.3,
                                                               "medium": 0.2}}


def aug(**kwargs: Any) -> DiversityAugmenter:
    kwargs.setdefault("targets", TARGETS)
    return DiversityAugmenter(**kwargs)


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("a doctor", "a dark-skinned female doctor"),
        ("a doctor in a hospital", "a dark-skinned female doctor in a hospital"),
        ("an engineer", "a dark-skinned female engineer"),  # a/an follows the new word
        ("An engineer at work", "A dark-skinned female engineer at work"),
        ("a manager", "a dark-skinned female manager"),  # "manager" does not state "man"
        ("a portrait of a CEO", "a portrait of a dark-skinned female CEO"),
        ("Doctor in a lab", "Dark-skinned female doctor in a lab"),
        ("a person walking", "a dark-skinned woman walking"),
        ("an individual", "a dark-skinned woman"),
        ("a police officer", "a dark-skinned female police officer"),
        ("a woman", "a dark-skinned woman"),  # gender stated: only skin tone
        ("an old man", "an old dark-skinned man"),
        ("a female doctor", "a female dark-skinned doctor"),
        ("a doctor with dark skin", "a female doctor with dark skin"),
        ("a Black nurse", "a Black female nurse"),  # ethnicity states the skin attribute
        ("a nurse in a black dress", "a dark-skinned female nurse in a black dress"),
        ("she is a doctor", "she is a dark-skinned doctor"),
        ("a doctor and a nurse", "a dark-skinned female doctor and a nurse"),
        ("two nurses talking", "two nurses, one dark-skinned female and one light-skinned male, "
                               "talking"),
        ("two nurses", "two nurses, one dark-skinned female and one light-skinned male"),
        ("3 doctors.", "3 doctors, one dark-skinned female, one light-skinned male and one "
                       "medium-skinned female."),
        ("two women", "two women, one dark-skinned and one light-skinned"),
        ("nurses in a hospital", "nurses of different skin tones and genders in a hospital"),
        ("ten doctors", "ten doctors of different skin tones and genders"),
    ],
)
def test_diversity_phrasing(prompt: str, expected: str) -> None:
    result = aug().rewrite(prompt, ALLOW)
    assert result.prompt == expected
    assert applied(prompt, result.edits) == expected
    # idempotent: the output states everything it added
    assert not aug().rewrite(result.prompt, ALLOW).changed


@pytest.mark.parametrize(
    "prompt",
    [
        "a cat on a sofa",
        "a dark-skinned female doctor",
        "a Black woman",
        "a doctor's office",
        "Spider-Man on a roof",
        "Iron Man flying",
        "a man-eating shark",
        "a crowd at a concert",
        "a couple dancing",
        "a diverse group of doctors",
        "nurses of various ethnicities",
        "",
    ],
)
def test_diversity_leaves_unchanged(prompt: str) -> None:
    result = aug().rewrite(prompt, ALLOW)
    assert result == RewriteResult(prompt)


def test_diversity_options() -> None:
    # age (off by default) and the article before it
    three = aug(attributes=("age", "skin_tone", "gender"),
                targets={**TARGETS, "age": {"elderly": 0.5, "young adult": 0.3,
                                            "middle-aged": 0.2}})
    assert three.rewrite("a doctor", ALLOW).prompt == "an elderly dark-skinned female doctor"
    assert three.rewrite("a young doctor", ALLOW).prompt == "a young light-skinned male doctor"
    # "skip": a prompt that states any demographic attribute is left whole
    assert not aug(when_stated="skip").rewrite("a female doctor", ALLOW).changed
    assert aug(when_stated="skip").rewrite("a doctor", ALLOW).changed
    # every noun phrase
    both = aug(all_nouns=True).rewrite("a doctor and a nurse", ALLOW).prompt
    assert both == "a dark-skinned female doctor and a light-skinned male nurse"
    # ethnicity instead of skin tone
    eth = DiversityAugmenter(attributes=("ethnicity",),
                             targets={"ethnicity": {"south asian": 1.0}})
    assert eth.rewrite("an engineer", ALLOW).prompt == "a South Asian engineer"
    assert eth.rewrite("an engineer with light skin", ALLOW).prompt == (
        "an engineer with light skin"
    )


def test_diversity_skips_blocked_and_sensitive_decisions() -> None:
    a = aug()
    assert not a.rewrite("a doctor", Decision(Action.BLOCK)).changed
    for category in ("nudity", "sexual", "public_figures", "copyright"):
        assert not a.rewrite("a doctor", Decision(Action.FLAG, {category: 0.5})).changed
    assert a.state.counts("gender") == {}
    assert a.rewrite("a doctor", Decision(Action.FLAG, {"violence": 0.5})).changed


def test_diversity_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown diversity attribute 'hair'"):
        DiversityAugmenter(attributes=("hair",))
    with pytest.raises(ConfigError, match="unknown values \\['nonbinary'\\]"):
        DiversityAugmenter(targets={"gender": {"nonbinary": 1.0}})
    with pytest.raises(ConfigError, match="not all be 0"):
        DiversityAugmenter(targets={"gender": {"woman": 0, "man": 0}})
    with pytest.raises(ConfigError, match=">= 0"):
        DiversityAugmenter(targets={"gender": {"woman": -1, "man": 2}})
    with pytest.raises(ConfigError, match="not among"):
        DiversityAugmenter(targets={"age": {"elderly": 1}})
    with pytest.raises(ConfigError, match="rule"):
        DiversityAugmenter(rule="random")  # type: ignore[arg-type]


def _check_bound(target: Mapping[str, Fraction], counts: Mapping[str, int]) -> float:
    n = sum(counts.values())
    return max(abs(counts.get(v, 0) - p * n) for v, p in target.items())


@pytest.mark.parametrize(
    "weights",
    [
        {"woman": 0.5, "man": 0.5},
        {"woman": 0.6, "man": 0.4},
        {"a": 0.9, "b": 0.1},
        {"light": 1, "medium": 1, "dark": 1},
        {"x": 0.7, "y": 0.2, "z": 0.1},
        {"x": 5, "y": 3, "z": 1},
    ],
)
@pytest.mark.parametrize("rule", ["deficit", "quota"])
def test_balance_bound_after_every_request(weights: dict[str, float], rule: str) -> None:
    total = Fraction(sum(Fraction(w).limit_denominator() for w in weights.values()))
    target = {v: Fraction(w).limit_denominator() / total for v, w in weights.items()}
    counts: dict[str, int] = {}
    for _ in range(1000):
        v = balanced_choice(target, counts, list(target), rule=rule)  # type: ignore[arg-type]
        counts[v] = counts.get(v, 0) + 1
        assert _check_bound(target, counts) < 1
    for v, p in target.items():  # after N = 1000: within 1 of p * N
        assert abs(counts[v] - p * 1000) < 1


def test_balance_deficit_limit_and_quota_rule_with_five_values() -> None:
    weights = [1, 8, 8, 20, 20]
    target = {f"v{i}": Fraction(w, sum(weights)) for i, w in enumerate(weights)}
    worst = {"deficit": 0.0, "quota": 0.0}
    for rule in worst:
        counts: dict[str, int] = {}
        for _ in range(300):
            v = balanced_choice(target, counts, list(target), rule=rule)  # type: ignore[arg-type]
            counts[v] = counts.get(v, 0) + 1
            worst[rule] = max(worst[rule], float(_check_bound(target, counts)))
    assert worst["deficit"] > 1  # documented: the deficit rule is bounded for <= 3 values
    assert worst["quota"] < 1


def test_balance_ties_follow_the_seeded_order() -> None:
    half = {"woman": Fraction(1, 2), "man": Fraction(1, 2)}
    assert balanced_choice(half, {}, ["man", "woman"]) == "man"
    assert balanced_choice(half, {}, ["woman", "man"]) == "woman"
    firsts = {DiversityAugmenter(seed=s).rewrite("a doctor", ALLOW).prompt for s in range(8)}
    assert len(firsts) > 1  # the seed changes the tie order
    again = DiversityAugmenter(seed=3).rewrite("a doctor", ALLOW).prompt
    assert again == DiversityAugmenter(seed=3).rewrite("a doctor", ALLOW).prompt


def test_balance_over_1000_served_requests() -> None:
    a = DiversityAugmenter(targets={"gender": {"woman": 0.6, "man": 0.4}})
    for _ in range(1000):
        assert a.rewrite("a doctor", ALLOW).changed
        assert _check_bound(a.target("gender"), a.state.counts("gender")) < 1
        assert _check_bound(a.target("skin_tone"), a.state.counts("skin_tone")) < 1
    assert a.state.counts("gender") == {"woman": 600, "man": 400}
    assert sorted(a.state.counts("skin_tone").values()) == [333, 333, 334]


def test_balance_counts_each_listed_person_and_not_stated_values() -> None:
    a = aug()
    a.rewrite("two nurses", ALLOW)
    a.rewrite("a female doctor", ALLOW)  # gender stated: only skin tone counted
    a.rewrite("nurses", ALLOW)  # uncounted plural: nothing counted
    assert sum(a.state.counts("gender").values()) == 2
    assert sum(a.state.counts("skin_tone").values()) == 3


def test_balance_state_is_thread_safe() -> None:
    state = InMemoryBalanceState()
    assert isinstance(state, BalanceState)
    target = {"a": Fraction(1, 2), "b": Fraction(1, 3), "c": Fraction(1, 6)}
    worst: list[float] = []

    def slow_choose(counts: Mapping[str, int]) -> str:
        snapshot = dict(counts)
        time.sleep(0.0005)  # widen the read-modify-write window
        worst.append(float(_check_bound(target, snapshot)) if snapshot else 0.0)
        return balanced_choice(target, snapshot, list(target))

    def work() -> None:
        for _ in range(40):
            state.assign("x", slow_choose)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = state.counts("x")
    assert sum(counts.values()) == 240
    assert counts == {"a": 120, "b": 80, "c": 40}
    assert max(worst) < 1
    state.reset()
    assert state.counts("x") == {}


def test_augmenter_shared_across_threads() -> None:
    a = DiversityAugmenter(targets={"gender": {"woman": 0.6, "man": 0.4}})
    outputs: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(125):
            out = a.rewrite("a nurse", ALLOW).prompt
            with lock:
                outputs.append(out)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outputs) == 1000
    assert a.state.counts("gender") == {"woman": 600, "man": 400}
    assert sum(" female " in o for o in outputs) == 600


def test_custom_balance_state_is_used() -> None:
    calls: list[str] = []

    class Recording:
        def __init__(self) -> None:
            self.inner = InMemoryBalanceState()

        def counts(self, attribute: str) -> Mapping[str, int]:
            return self.inner.counts(attribute)

        def assign(self, attribute: str, choose: Callable[[Mapping[str, int]], str]) -> str:
            calls.append(attribute)
            return self.inner.assign(attribute, choose)

    a = aug(state=Recording())
    a.rewrite("a doctor", ALLOW)
    assert calls == ["skin_tone", "gender"]


# =========================================================================== negatives

NUDITY = "nudity, nude, naked, nsfw, exposed breasts, nipples, genitals"
VIOLENCE = "blood, gore, wound, corpse, dismemberment, violence"


def test_negatives_per_triggered_category() -> None:
    neg = ForcedNegatives()
    r = neg.rewrite("a bloody corpse", Decision(Action.REWRITE, {"violence": 0.99}))
    assert r.prompt == "a bloody corpse"
    assert r.negative_prompt == VIOLENCE
    assert [(e.reason, e.span, e.target) for e in r.edits] == [
        ("violence (score 0.99 >= 0.7)", None, "negative_prompt")
    ]
    r = neg.rewrite("a nude woman", Decision(Action.REWRITE, {"nudity": 1.0}))
    assert r.negative_prompt == f"{NUDITY}, {MINOR_NEGATIVES}"  # sexual context: AI Horde terms
    # a flagged category adds its terms too (min_action defaults to flag)
    r = neg.rewrite("a puddle of vomit", Decision(Action.FLAG, {"shocking": 0.9}))
    assert r.negative_prompt == "vomit, feces, urine, pus, rotting flesh, maggots, filth"


def test_negatives_dedup_across_categories() -> None:
    r = ForcedNegatives().rewrite(
        "x", Decision(Action.BLOCK, {"sexual": 0.9, "nudity": 0.9, "violence": 0.8})
    )
    assert r.negative_prompt == (
        "nsfw, sexual, explicit, porn, nudity, nude, naked, genitals, exposed breasts, nipples, "
        f"{VIOLENCE}, {MINOR_NEGATIVES}"
    )
    assert [e.after for e in r.edits][1] == "exposed breasts, nipples"  # only the new terms
    assert merge_negative_prompts(r.negative_prompt) == r.negative_prompt


@pytest.mark.parametrize(
    "decision",
    [
        ALLOW,
        Decision(Action.ALLOW, {"violence": 0.6, "illegal": 0.5}),  # below the thresholds
        Decision(Action.FLAG, {"privacy": 1.0, "public_figures": 1.0}),  # no terms for these
    ],
)
def test_negatives_none_when_nothing_triggers(decision: Decision) -> None:
    r = ForcedNegatives().rewrite("a child playing in a park", decision)
    assert r == RewriteResult("a child playing in a park")


def test_negatives_minor_marker_in_sexual_context() -> None:
    lenient = parse_policy({"version": "t", "categories": {"nudity": {"threshold": 0.9}}})
    neg = ForcedNegatives(policy=lenient)
    weak = Decision(Action.ALLOW, {"nudity": 0.5})
    assert neg.rewrite("a teenager at the beach", weak).negative_prompt == MINOR_NEGATIVES
    assert neg.rewrite("a 15 yo at the beach", weak).negative_prompt == MINOR_NEGATIVES
    assert neg.rewrite("a woman at the beach", weak).negative_prompt is None
    ev = Finding("lexicon", "sexual_minors", 0.5, Evidence((2, 8), "marker", "minor marker"))
    flagged = Decision(Action.ALLOW, {"nudity": 0.5}, findings=(ev,))
    assert neg.rewrite("a person", flagged).negative_prompt == MINOR_NEGATIVES
    off = ForcedNegatives(minor_terms="")
    assert off.rewrite("x", Decision(Action.REWRITE, {"nudity": 1.0})).negative_prompt == NUDITY


def test_negatives_configuration() -> None:
    quiet = parse_policy({"version": "t", "categories": {"violence": {"action": "allow"}}})
    assert ForcedNegatives(policy=quiet).rewrite(
        "x", Decision(Action.ALLOW, {"violence": 1.0})
    ).negative_prompt is None
    custom = ForcedNegatives(terms={"violence": ["blood", "Gore"], "nudity": ""},
                             always="watermark, blood")
    r = custom.rewrite("x", Decision(Action.REWRITE, {"violence": 1.0, "nudity": 1.0}))
    assert r.negative_prompt == f"blood, Gore, {MINOR_NEGATIVES}, watermark"
    assert [e.reason for e in r.edits][-1] == "always"
    with pytest.raises(ConfigError, match="unknown category 'gore'"):
        ForcedNegatives(terms={"gore": "x"})
    with pytest.raises(ConfigError, match="min_action"):
        ForcedNegatives(min_action="sometimes")
    strict = ForcedNegatives(min_action="block")
    assert not strict.rewrite("x", Decision(Action.REWRITE, {"violence": 1.0})).changed
    # scores of categories the policy does not know are ignored, not raised
    assert ForcedNegatives().rewrite("x", Decision(Action.FLAG, {"custom": 1.0})).changed is False


# =========================================================================== LLM rewrite

GOOD = {"prompt": "a marble statue of a woman in a museum", "negative_prompt": "nudity, nsfw"}
RISKY = default_lexicon().check("a nude woman in a museum")


def scripted(*replies: str) -> Callable[[Mapping[str, Any]], str]:
    it = iter(replies)
    return lambda request: next(it)


def test_llm_good_json() -> None:
    with OpenAICompatibleServer(chat=scripted("```json\n" + json.dumps(GOOD) + "\n```")) as srv:
        with LLMRewriter(base_url=srv.base_url, model="m") as rw:
            r = rw.rewrite("a nude woman in a museum", RISKY, context=RewriteContext(seed=7))
        body = srv.requests[0].body
    assert r.prompt == GOOD["prompt"]
    assert r.negative_prompt == "nudity, nsfw"
    assert applied("a nude woman in a museum", r.edits) == r.prompt
    assert [(e.span, e.before, e.after) for e in r.edits if e.target == "prompt"] == [
        ((2, 7), "nude ", "marble statue of a "),
    ]
    assert body["temperature"] == 0.0 and body["seed"] == 7
    assert body["response_format"] == {"type": "json_object"}
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert '"nudity"' in body["messages"][1]["content"]


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("Sure! Here you go.", "not a JSON object"),
        ("[1, 2]", "not an object"),
        (json.dumps({"prompt": ""}), "'prompt' is missing or empty"),
        (json.dumps({"prompt": "x" * 400}), "at most 200 are allowed"),
        (json.dumps({"prompt": "ok", "negative_prompt": 3}), "string or null"),
        (json.dumps({"prompt": "a nude statue"}), "guard still answers rewrite"),
    ],
)
def test_llm_repairs_once(bad: str, problem: str) -> None:
    with OpenAICompatibleServer(chat=scripted(bad, json.dumps(GOOD))) as srv:
        rw = LLMRewriter(base_url=srv.base_url, model="m", check=guard_check())
        r = rw.rewrite("a nude woman in a museum", RISKY)
        messages = srv.requests[1].body["messages"]
    assert r.prompt == GOOD["prompt"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert problem in messages[-1]["content"]


def test_llm_gives_up_after_the_repair() -> None:
    bad = json.dumps({"prompt": "a n.u.d.e woman"})
    with OpenAICompatibleServer(chat=scripted(bad, bad)) as srv:
        rw = LLMRewriter(base_url=srv.base_url, model="m", check=blocklist_check(["nude"]))
        with pytest.raises(BackendError, match="no usable rewrite in 2 attempts.*'nude'") as info:
            rw.rewrite("a nude woman in a museum", RISKY)
        assert len(srv.requests) == 2
    assert not isinstance(info.value, EndpointError)


def test_llm_unreachable_is_an_endpoint_error() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    rw = LLMRewriter(base_url=f"http://127.0.0.1:{port}/v1", model="m", max_retries=0)
    with pytest.raises(EndpointError, match="cannot reach"):
        rw.rewrite("a nude woman in a museum", RISKY)
    rw.close()


def test_llm_server_error_is_an_endpoint_error() -> None:
    with OpenAICompatibleServer() as srv:
        srv.fail_next(1, status=500)
        rw = LLMRewriter(base_url=srv.base_url, model="m", max_retries=0)
        with pytest.raises(EndpointError, match="500"):
            rw.rewrite("a nude woman in a museum", RISKY)


def test_llm_skips_without_a_request() -> None:
    with OpenAICompatibleServer(chat=scripted()) as srv:
        rw = LLMRewriter(base_url=srv.base_url, model="m")
        assert rw.rewrite("a cat", ALLOW) == RewriteResult("a cat")
        assert rw.rewrite("", RISKY) == RewriteResult("")
        assert srv.requests == []


def test_llm_identity_and_config() -> None:
    rw = LLMRewriter(base_url="http://user:secret@127.0.0.1:9/v1", model="m", api_key="sk-x")
    identity = rw.identity()
    assert identity["base_url"] == "http://127.0.0.1:9/v1"
    assert "sk-x" not in json.dumps(identity) and "secret" not in json.dumps(identity)
    with pytest.raises(ConfigError):
        LLMRewriter(base_url="http://127.0.0.1:9/v1", model="")
    with pytest.raises(ConfigError):
        LLMRewriter(base_url="ftp://x", model="m")
    with pytest.raises(ConfigError):
        LLMRewriter(base_url="http://127.0.0.1:9/v1", model="m", max_growth=0)
    with pytest.raises(ConfigError, match="unknown action 'sometimes'"):
        LLMRewriter(base_url="http://127.0.0.1:9/v1", model="m", when=["sometimes"])
    with pytest.raises(ConfigError, match="check"):
        LLMRewriter(base_url="http://127.0.0.1:9/v1", model="m", check="lexicon")  # type: ignore[arg-type]
    # config-file spellings: action names and check="guard"
    rw = LLMRewriter(base_url="http://127.0.0.1:9/v1", model="m", when=["rewrite"], check="guard")
    assert rw.when == {Action.REWRITE}
    assert rw.check is not None and rw.check("a nude statue") is not None


def test_checks() -> None:
    check = blocklist_check(["nude", "blood bath"])
    assert check("a calm lake") is None
    assert check("N-U-D-E figures") is not None
    assert check("a blood-bath") is not None
    assert blocklist_check([])("anything") is None
    assert guard_check()("a calm lake") is None
    assert guard_check(max_action=Action.BLOCK)("a nude statue") is None


# =========================================================================== chaining


def test_chain_maps_spans_to_the_original() -> None:
    prompt = "An engineer talks to my wife Anna"
    result = apply_rewriters(prompt, ALLOW, [Anonymizer(), aug()])
    assert result.prompt == "A dark-skinned engineer talks to a woman"
    assert [(e.rewriter, e.span, e.before, e.after) for e in result.edits] == [
        ("anonymize", (21, 33), "my wife Anna", "a woman"),
        ("diversity", (0, 3), "An ", "A dark-skinned "),
    ]
    for e in result.edits:
        assert e.span is not None and prompt[e.span[0] : e.span[1]] == e.before
    assert applied(prompt, result.edits) == result.prompt


def test_chain_insertion_and_unmappable_spans() -> None:
    prompt = "a doctor with my neighbour John Smith"
    result = apply_rewriters(prompt, ALLOW, [Anonymizer(), aug()])
    assert result.prompt == "a dark-skinned female doctor with a person"
    assert result.edits[1].span == (2, 2)
    # the augmenter edits text the anonymizer wrote: no place in the original
    result = apply_rewriters("my wife Anna smiling", ALLOW, [Anonymizer(), aug()])
    assert result.prompt == "a dark-skinned woman smiling"
    assert [e.span for e in result.edits] == [(0, 12), None]


def test_chain_negatives_concatenated_and_deduplicated() -> None:
    reply = json.dumps({"prompt": "a marble statue in a museum", "negative_prompt": "NSFW, blur"})
    with OpenAICompatibleServer(chat=scripted(reply)) as srv:
        chain = [ForcedNegatives(), LLMRewriter(base_url=srv.base_url, model="m")]
        result = apply_rewriters("a nude woman in a museum", RISKY, chain)
    assert result.prompt == "a marble statue in a museum"
    assert result.negative_prompt == f"{NUDITY}, {MINOR_NEGATIVES}, blur"
    assert all(e.span is None for e in result.edits if e.target == "negative_prompt")


class _Sloppy:
    """A third-party rewriter whose edits do not reproduce its output."""

    name = "sloppy"

    def rewrite(self, prompt: str, decision: Decision, *,
                context: RewriteContext | None = None) -> RewriteResult:
        return RewriteResult(prompt.upper(), edits=(Edit((0, 1), prompt[:1], "X", "?", "sloppy"),))


def test_chain_after_inconsistent_edits_spans_are_none() -> None:
    result = apply_rewriters("a doctor", ALLOW, [_Sloppy(), aug()])
    assert result.prompt.startswith("A ")
    assert result.edits[0].span == (0, 1)  # the sloppy rewriter's own span is still mapped
    assert [e.span for e in result.edits[1:]] == [None]


FRAGMENTS = ["a doctor", "my wife Anna", "jane@x.io", "in a park", "two nurses", "Mr. Smith",
             "an engineer", "555-123-4567", ", ", " and ", "日本", "🎨"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=6))
def test_chain_spans_property(parts: list[str]) -> None:
    prompt = " ".join(parts)
    result = apply_rewriters(prompt, ALLOW, [Anonymizer(), aug(all_nouns=True), ForcedNegatives()])
    for e in result.edits:
        if e.span is not None:
            assert prompt[e.span[0] : e.span[1]] == e.before
    if all(e.span is not None for e in result.edits):
        assert applied(prompt, result.edits) == result.prompt


@pytest.mark.parametrize(
    "prompt",
    [" " * 4000 + "Mr. Smith", "Jane Doe from work " * 200, "42 Elm Street " * 250,
     "a doctor " * 440, "a." * 2000 + "@", "1-" * 2000, "my wife " * 500, "ab:" * 1333],
)
def test_long_prompts_stay_fast(prompt: str) -> None:
    a = DiversityAugmenter(all_nouns=True)
    a.warm_up()  # build the noun index outside the timing
    start = time.perf_counter()
    Anonymizer().rewrite(prompt, ALLOW)
    a.rewrite(prompt, ALLOW)
    assert time.perf_counter() - start < 1.0
