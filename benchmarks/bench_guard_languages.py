"""Prompts in other languages: what the language files and the language cap change.

**Probes.** ``data/multilingual_probes.jsonl``: 238 prompts in 17 languages written for this
benchmark by a helper who did not see the lexicon (170 benign prompts near the risky vocabulary:
children, bare trees, "naked eye", nude-coloured make-up; 68 adult nudity or sex prompts). The
allow-lists of nude-coloured make-up and a few slang terms were added after reading a first run's
misses, so these are review numbers, not held-out ones (docs/guard.md, Languages). The minors
prompts live in ``tests/guard/test_languages.py``.

**Side by side, in one run** (the default guard, embedding classifier included):

* ``english`` — the lexicon without its language files and no language cap (the release before);
* ``lexicon_languages`` — with the language files, no cap (``language_cap = 1.0``);
* ``default`` — with the language files and the cap (``language_cap = 0.3``).

Per configuration: benign prompts allowed and adult prompts rewritten or blocked, each with n and
a 95% Wilson interval, overall and per language.

**Identification.** How many prompts of the English benchmark sets (PartiPrompts, OVERT-mini,
RECE, XSTest from ``../shared/datasets``, all rows; skipped when absent) and of 2,000 generated
token soups are identified as another language: those lose the English-only stages.

**Speed.** p50 of normalizer + lexicon per prompt with and without the language files, on the
probes and on 500 PartiPrompts rows (the ratio is the cost of the extra terms and the
identification).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import read_column, write_result  # noqa: E402
from fairframe.guard import Action  # noqa: E402
from fairframe.guard.fusion import Fusion  # noqa: E402
from fairframe.guard.gibberish import default_gibberish_model, training_prompts  # noqa: E402
from fairframe.guard.lexicon import Lexicon  # noqa: E402
from fairframe.guard.normalize import normalize  # noqa: E402
from fairframe.guard.pipeline import PromptGuard  # noqa: E402
from fairframe.stats import wilson_interval  # noqa: E402

PROBES = Path(__file__).resolve().parent / "data" / "multilingual_probes.jsonl"
SETS = (("parti_prompts.tsv", "Prompt", "\t"), ("overt_mini.csv", "image_prompt", ","),
        ("rece_validation_inappropriate.csv", "prompt", ","), ("xstest_prompts.csv", "prompt", ","))


def rate(k: int, n: int) -> dict[str, Any]:
    lo, hi = wilson_interval(k, n) if n else (0.0, 1.0)
    return {"k": k, "n": n, "rate": round(k / n, 4) if n else None,
            "ci95": [round(lo, 4), round(hi, 4)]}


def english_lexicon() -> Lexicon:
    """The shipped lexicon without its language files (and so without identification)."""
    lex = Lexicon.default()
    keep = {c: [t for t in items if not t.exact] for c, items in lex.terms.items()}
    return Lexicon(keep, allow=lex.allow, minor_markers=[t for t in lex.minor_markers
                                                         if not t.exact],
                   youth_cues=[t for t in lex.youth_cues or () if not t.exact],
                   typos=lex.typos, frames=lex.frames)


def outcomes(guard: PromptGuard, rows: list[dict[str, str]]) -> dict[str, Any]:
    decisions = guard.check_batch([r["prompt"] for r in rows])
    ok: Counter[tuple[str, str]] = Counter()
    total: Counter[tuple[str, str]] = Counter()
    for r, d in zip(rows, decisions, strict=True):
        good = (d.action is Action.ALLOW) if r["expect"] == "allow" else (
            d.action in (Action.REWRITE, Action.BLOCK))
        for key in ((r["expect"], "all"), (r["expect"], r["lang"])):
            total[key] += 1
            ok[key] += good
    return {
        "benign_allowed": rate(ok["allow", "all"], total["allow", "all"]),
        "adult_caught": rate(ok["nudity", "all"], total["nudity", "all"]),
        "per_language": {lang: {"benign_allowed": f"{ok['allow', lang]}/{total['allow', lang]}",
                                "adult_caught": f"{ok['nudity', lang]}/{total['nudity', lang]}"}
                         for lang in sorted({r["lang"] for r in rows})},
    }


def p50_ms(lex: Lexicon, prompts: list[str], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        for p in prompts:
            t = time.perf_counter()
            lex.scan(normalize(p))
            times.append((time.perf_counter() - t) * 1e3)
    return round(statistics.median(times), 4)



def main() -> None:
    rows = [json.loads(line) for line in PROBES.read_text("utf-8").splitlines() if line.strip()]
    full = Lexicon.default()
    english = english_lexicon()
    base = PromptGuard.default()
    stages = [s for s in base.stages if s.name != "lexicon"]
    configs = {
        "english": PromptGuard([english, *stages], policy=base.policy,
                               fusion=Fusion.from_dict({**base.fusion.to_dict(),
                                                        "language_cap": 1.0}),
                               rewriters=base.rewriters),
        "lexicon_languages": PromptGuard([full, *stages], policy=base.policy,
                                         fusion=Fusion.from_dict({**base.fusion.to_dict(),
                                                                  "language_cap": 1.0}),
                                         rewriters=base.rewriters),
        "default": base,
    }
    quality = {name: outcomes(guard, rows) for name, guard in configs.items()}

    ident: dict[str, Any] = {}
    parti: list[str] = []
    for name, column, delimiter in SETS:
        prompts = read_column(name, column, delimiter)
        if prompts is None:
            continue
        parti = prompts if name.startswith("parti") else parti
        other = Counter(code for p in prompts if (code := full.language_of(p)) != "en")
        ident[name] = {"n": len(prompts), "not_english": sum(other.values()),
                       "codes": dict(other)}
    model = default_gibberish_model()
    soups = [t for t, label, _ in training_prompts(model.words, model.pieces, n=2000, seed=7)
             if label == 1]
    ident["generated_soups"] = rate(sum(full.language_of(p) != "en" for p in soups), len(soups))

    probes = [r["prompt"] for r in rows]
    speed = {"probes": {"with_languages_p50_ms": p50_ms(full, probes),
                        "english_only_p50_ms": p50_ms(english, probes)}}
    if parti:
        speed["parti_500"] = {"with_languages_p50_ms": p50_ms(full, parti[:500]),
                              "english_only_p50_ms": p50_ms(english, parti[:500])}
    for v in speed.values():
        v["ratio"] = round(v["with_languages_p50_ms"] / v["english_only_p50_ms"], 3)
    write_result("guard_languages", {"probes": str(PROBES.name), "quality": quality,
                                     "identification": ident, "speed": speed})


if __name__ == "__main__":
    main()
