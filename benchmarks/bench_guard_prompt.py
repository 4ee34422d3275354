"""Prompt check latency: normalizer + lexicon, per prompt, on 2,000 generated prompts.

Peer: a plain ``re`` search of the same term list (one alternation with ``\\b``) on the raw
lower-cased prompt, i.e. a naive keyword filter with no normalization, no allow-list and no
spans. The ratio shows what normalization, spans and the allow-list cost on top.
Target: p50 <= 1 ms per prompt for normalizer + lexicon.

The prompts are generated here from our own word lists (no dataset rows): plain captions,
captions with diffusion syntax, and captions with obfuscated terms.
"""

from __future__ import annotations

import random
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import write_result  # noqa: E402
from fairframe.guard.lexicon import Lexicon, default_lexicon  # noqa: E402
from fairframe.guard.normalize import normalize  # noqa: E402

N = 2000
SUBJECTS = ["a red fox", "an old lighthouse", "a knight in armor", "a woman reading",
            "a city street at night", "two cats on a sofa", "a mountain lake", "a robot chef",
            "a child flying a kite", "a bowl of ramen", "a portrait of a sailor"]
STYLES = ["oil painting", "watercolor", "35mm photo", "studio lighting", "octane render",
          "highly detailed", "trending on artstation", "cinematic", "soft focus", "8k"]
RISKY = ["nude", "gore", "porn", "suicide", "swastika", "meth lab", "deepfake", "blood"]


def obfuscate(word: str, rng: random.Random) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        return ".".join(word)
    if kind == 1:
        return word.replace("o", "0").replace("e", "3")
    if kind == 2:
        return "\u200b".join(word)
    if kind == 3:
        return word.replace("a", "\u0430").replace("e", "\u0435").replace("o", "\u043e")
    return word[0] + word[1] * 4 + word[2:]


def make_prompts(seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    prompts = []
    for i in range(N):
        parts = [rng.choice(SUBJECTS)] + rng.sample(STYLES, rng.randint(1, 4))
        if i % 4 == 1:
            parts[0] = f"({parts[0]}:1.2)"
            parts.append("[sunset:night:0.5] BREAK <lora:detail_tweaker:0.6>")
        if i % 5 == 2:
            parts.insert(1, obfuscate(rng.choice(RISKY), rng))
        elif i % 5 == 3:
            parts.insert(1, rng.choice(RISKY))
        prompt = ", ".join(parts)
        if i % 7 == 0:
            prompt += " --ar 3:2 --no blurry, text"
        prompts.append(prompt)
    return prompts


def percentiles(ms: list[float]) -> dict[str, float]:
    q = statistics.quantiles(ms, n=100)
    return {"p50_ms": round(statistics.median(ms), 4), "p95_ms": round(q[94], 4),
            "mean_ms": round(statistics.fmean(ms), 4)}


def main() -> None:
    prompts = make_prompts()
    lexicon = default_lexicon()
    terms = sorted({t.text for ts in lexicon.terms.values() for t in ts}, key=len, reverse=True)
    peer = re.compile(r"\b(?:" + "|".join(re.escape(t) for t in terms) + r")\b")

    for p in prompts[:50]:  # warm caches
        lexicon.scan(normalize(p))
        peer.search(p.lower())

    guard_ms, peer_ms = [], []
    guard_hits = peer_hits = 0
    for p in prompts:
        t0 = time.perf_counter()
        result = lexicon.scan(normalize(p))
        t1 = time.perf_counter()
        hit = peer.search(p.lower())
        t2 = time.perf_counter()
        guard_ms.append((t1 - t0) * 1e3)
        peer_ms.append((t2 - t1) * 1e3)
        guard_hits += bool(result.findings)
        peer_hits += hit is not None

    regex_lexicon = Lexicon.default(backend="regex")
    regex_ms = []
    for p in prompts:
        t0 = time.perf_counter()
        regex_lexicon.scan(normalize(p))
        regex_ms.append((time.perf_counter() - t0) * 1e3)

    guard, naive = percentiles(guard_ms), percentiles(peer_ms)
    write_result("guard_prompt", {
        "prompts": len(prompts),
        "backend": lexicon.backend,
        "terms": len(terms),
        "guard_normalize_lexicon": guard,
        "guard_with_regex_backend": percentiles(regex_ms),
        "peer_plain_re_search": naive,
        "p50_ratio_guard_over_peer": round(guard["p50_ms"] / max(naive["p50_ms"], 1e-9), 1),
        "prompts_flagged": {"guard": guard_hits, "peer": peer_hits},
        "target_p50_ms": 1.0,
        "meets_target": guard["p50_ms"] <= 1.0,
    })


if __name__ == "__main__":
    main()
