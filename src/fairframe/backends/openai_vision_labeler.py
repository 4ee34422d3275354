"""A labeler that asks a vision chat model (OpenAI-compatible API) a multiple-choice question.

The answer becomes a distribution over the choices and :data:`~fairframe.types.UNKNOWN` by one of
two documented rules: from token log-probabilities when the server returns them
(:func:`logprob_distribution`), else from the answer text (:func:`match_answer`). Both abstain to
``unknown`` rather than force the nearest class.
"""

from __future__ import annotations

import difflib
import math
import re
import threading
import unicodedata
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from fairframe.backends._openai_http import EndpointStatusError, OpenAIBackend, chat_content
from fairframe.errors import ConfigError
from fairframe.images import png_data_url
from fairframe.types import UNKNOWN, JSONValue, LabelQuestion, LabelResult

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "DEFAULT_PROMPT_TEMPLATE",
    "OpenAIVisionLabeler",
    "logprob_distribution",
    "match_answer",
    "normalise_answer",
]

#: The question prompt; ``{question}`` and ``{choices}`` (comma-separated) are filled in.
DEFAULT_PROMPT_TEMPLATE = (
    "{question}\n"
    "Answer with exactly one of: {choices}. "
    f"If you cannot tell, answer {UNKNOWN}. "
    "Reply with that single answer and nothing else."
)

#: Bump when the answer-mapping rules change, so cached labels are not reused across versions.
MAPPING_VERSION = 1

_PATH = "chat/completions"
_SEED = 0
_TOP_LOGPROBS = 20
_ARTICLES = frozenset({"a", "an", "the"})
_NON_WORD = re.compile(r"[\W_]+")
#: Byte-level BPE / SentencePiece word markers some servers leave in token texts.
_TOKEN_MARKERS = str.maketrans({"\u0120": " ", "\u2581": " ", "\u010a": " "})


# -- answer text → outcome -------------------------------------------------------------------------
def normalise_answer(text: str) -> str:
    """Lower-case, turn punctuation (hyphens included) into spaces, drop articles, squeeze spaces.

    >>> normalise_answer("  A Middle-aged MAN. ")
    'middle aged man'
    """
    text = unicodedata.normalize("NFKC", text).lower()
    words = _NON_WORD.sub(" ", text).split()
    return " ".join(w for w in words if w not in _ARTICLES)


def _spans(words: Sequence[str], target: Sequence[str]) -> list[tuple[int, int]]:
    n = len(target)
    return [(i, i + n) for i in range(len(words) - n + 1) if list(words[i : i + n]) == list(target)]


def match_answer(
    answer: str, outcomes: Sequence[str], abstain_threshold: float = 0.8
) -> str:
    """Map a free-text answer to one of ``outcomes`` (which should include ``"unknown"``).

    Both the answer and the outcomes are normalised with :func:`normalise_answer`, then:

    1. **exact**: the answer equals exactly one outcome;
    2. **containment**: exactly one outcome occurs in the answer as whole words (an occurrence that
       lies inside a longer outcome's occurrence does not count, so "young adult" is not also
       "young"); two or more distinct outcomes → ``"unknown"``;
    3. **fuzzy**: the outcome with the highest :class:`difflib.SequenceMatcher` ratio to the whole
       answer, only if that ratio is ``>= abstain_threshold`` and no other outcome ties it;
    4. otherwise ``"unknown"`` (abstain). The nearest class is never forced.

    Examples
    --------
    >>> outcomes = ("man", "woman", "unknown")
    >>> match_answer("Woman.", outcomes), match_answer("It is a woman", outcomes)
    ('woman', 'woman')
    >>> match_answer("womn", outcomes), match_answer("a person", outcomes)
    ('woman', 'unknown')
    >>> match_answer("not a man but a woman", outcomes)
    'unknown'
    """
    fallback = UNKNOWN if UNKNOWN in outcomes else outcomes[-1]
    norm = normalise_answer(answer)
    names = {o: normalise_answer(o) for o in outcomes}
    names = {o: n for o, n in names.items() if n}
    if not norm or not names:
        return fallback
    exact = [o for o, n in names.items() if n == norm]
    if exact:
        return exact[0] if len(exact) == 1 else fallback
    words = norm.split()
    spans = {o: _spans(words, n.split()) for o, n in names.items()}
    covered = {
        o
        for o, found in spans.items()
        if found
        and not all(
            any(
                p != o and a <= s and e <= b and (b - a) > (e - s)
                for p, other in spans.items()
                for a, b in other
            )
            for s, e in found
        )
    }
    if covered:
        return covered.pop() if len(covered) == 1 else fallback
    scored = sorted(
        ((difflib.SequenceMatcher(None, norm, n).ratio(), o) for o, n in names.items()),
        key=lambda t: -t[0],
    )
    best_ratio, best = scored[0]
    if best_ratio < abstain_threshold:
        return fallback
    if len(scored) > 1 and math.isclose(scored[1][0], best_ratio):
        return fallback
    return best


# -- log-probabilities → distribution -----------------------------------------------------------
def _token_text(token: Any) -> str:
    if not isinstance(token, str):
        return ""
    return normalise_answer(token.translate(_TOKEN_MARKERS))


def _token_outcome(text: str, names: Mapping[str, str]) -> str | None:
    """The one outcome whose normalised text equals, else starts with, ``text``; else ``None``."""
    if not text:
        return None
    exact = [o for o, n in names.items() if n == text]
    if exact:
        return exact[0] if len(exact) == 1 else None
    prefix = [o for o, n in names.items() if n.startswith(text)]
    return prefix[0] if len(prefix) == 1 else None


def logprob_distribution(
    content: Any, outcomes: Sequence[str]
) -> dict[str, float] | None:
    """Probabilities of ``outcomes`` from chat ``logprobs.content``, or ``None`` to use the text.

    Rule: take the first generated token whose text is not blank or punctuation (the first answer
    token). If that token does not map to exactly one outcome, return ``None`` (the model did not
    answer with an option; the caller parses the text instead). Otherwise each of its
    ``top_logprobs`` alternatives (the token itself if none are listed) is normalised (lower case,
    no whitespace, punctuation or tokenizer word markers) and matched to the outcome whose
    normalised text equals it, else to the only outcome it is a prefix of ("wo" → "woman"). The
    weights ``exp(logprob)`` are summed per outcome; alternatives matching no outcome, or several,
    count toward ``"unknown"``. The sums are renormalised over the listed alternatives.

    Examples
    --------
    >>> import math
    >>> tokens = [{"token": "Wo", "logprob": math.log(0.6), "top_logprobs": [
    ...     {"token": "Wo", "logprob": math.log(0.6)}, {"token": " man", "logprob": math.log(0.3)},
    ...     {"token": "The", "logprob": math.log(0.1)}]}]
    >>> probs = logprob_distribution(tokens, ("man", "woman", "unknown"))
    >>> {k: round(v, 6) for k, v in probs.items()}
    {'man': 0.3, 'woman': 0.6, 'unknown': 0.1}
    """
    if not isinstance(content, list):
        return None
    names = {o: n for o in outcomes if (n := normalise_answer(o))}
    unknown = UNKNOWN if UNKNOWN in outcomes else outcomes[-1]
    for entry in content:
        if not isinstance(entry, dict):
            return None
        text = _token_text(entry.get("token"))
        if not text:
            continue
        if _token_outcome(text, names) is None:
            return None
        alternatives = entry.get("top_logprobs")
        if not isinstance(alternatives, list) or not alternatives:
            alternatives = [entry]
        elif not any(
            isinstance(a, dict) and a.get("token") == entry.get("token") for a in alternatives
        ):
            alternatives = [*alternatives, entry]
        weights = dict.fromkeys(outcomes, 0.0)
        for alt in alternatives:
            if not isinstance(alt, dict):
                continue
            logprob = alt.get("logprob")
            if not isinstance(logprob, int | float) or math.isnan(logprob):
                continue
            outcome = _token_outcome(_token_text(alt.get("token")), names)
            key = outcome if outcome is not None else unknown
            weights[key] += math.exp(min(float(logprob), 0.0))
        total = sum(weights.values())
        if not (total > 0 and math.isfinite(total)):
            return None
        return {o: w / total for o, w in weights.items()}
    return None


# -- the labeler ---------------------------------------------------------------------------------
class OpenAIVisionLabeler(OpenAIBackend):
    """Label images by asking a vision chat model (GPT-4o, vLLM/Ollama/llama.cpp VLMs...).

    Each image is sent as its own ``POST {base_url}/chat/completions``: one user message holding
    the image (a base64 PNG ``data:`` URL) and the prompt (``prompt_template`` with the question
    and the comma-separated choices, asking for exactly one choice or ``"unknown"``), with
    ``temperature=0``, ``seed=0`` and ``max_tokens``.

    Parameters
    ----------
    base_url:
        The API root, usually ending in ``/v1``.
    model:
        The vision model id the server knows.
    api_key:
        The API key; when ``None`` it is read from ``$api_key_env`` at request time. Never recorded.
    api_key_env:
        Environment variable holding the key.
    abstain_threshold:
        Smallest fuzzy similarity (0-1) for a free-text answer to count as a choice.
    use_logprobs:
        Request ``logprobs=True, top_logprobs=20`` and derive probabilities from them. If the server
        rejects the option (HTTP 400/422) or omits the log-probabilities, this instance stops asking
        and maps the text instead.
    prompt_template:
        The prompt, containing ``{question}`` and ``{choices}`` (replaced literally; other braces
        are kept as they are).
    max_tokens:
        Most tokens the model may answer with.
    timeout_s, max_retries, backoff_s:
        Per-attempt timeout and retry policy.
    batch_size:
        Largest batch :meth:`label` should receive; up to this many requests run concurrently.
    headers:
        Extra HTTP headers (never recorded).

    Notes
    -----
    Answer mapping (the same rules for every call; see :func:`logprob_distribution` and
    :func:`match_answer` for the details):

    * **log-probabilities**, when the answer has them and its first answer token maps to one
      outcome: the top alternatives of that token are matched to outcomes by case- and
      whitespace-insensitive prefix, summed, and renormalised; unmatched mass goes to ``unknown``;
    * otherwise **text**: normalise, then exact match, then whole-word containment of exactly one
      outcome, then fuzzy similarity ``>= abstain_threshold``; anything else is ``unknown``, with
      all its probability. The nearest class is never forced.

    The raw answer is kept in :attr:`~fairframe.types.LabelResult.answer`. A refusal
    (``content: null, refusal: "..."``) is mapped like any other text, usually to ``unknown``.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        abstain_threshold: float = 0.8,
        use_logprobs: bool = True,
        prompt_template: str = DEFAULT_PROMPT_TEMPLATE,
        max_tokens: int = 16,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        batch_size: int = 8,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if not 0.0 < abstain_threshold <= 1.0:
            raise ConfigError(f"abstain_threshold must be in (0, 1], got {abstain_threshold}")
        missing = [k for k in ("{question}", "{choices}") if k not in prompt_template]
        if missing:
            raise ConfigError(f"prompt_template must contain {' and '.join(missing)}")
        if max_tokens < 1:
            raise ConfigError(f"max_tokens must be >= 1, got {max_tokens}")
        self._init_backend(model, "vision model", batch_size)
        self.abstain_threshold = float(abstain_threshold)
        self.use_logprobs = bool(use_logprobs)
        self.prompt_template = prompt_template
        self.max_tokens = int(max_tokens)
        self._connect(base_url, api_key, api_key_env, timeout_s, max_retries, backoff_s, headers)
        self._logprobs_available = self.use_logprobs
        self._flag_lock = threading.Lock()

    def identity(self) -> Mapping[str, JSONValue]:
        """Backend, server, model, prompt and mapping options (never the key)."""
        return {
            **self.base_identity("openai-vision"),
            "prompt_template": self.prompt_template,
            "abstain_threshold": self.abstain_threshold,
            "use_logprobs": self.use_logprobs,
            "max_tokens": self.max_tokens,
            "mapping_version": MAPPING_VERSION,
        }

    def prompt(self, question: LabelQuestion) -> str:
        """The text sent with each image for ``question``."""
        return self.prompt_template.replace("{question}", question.question).replace(
            "{choices}", ", ".join(question.choices)
        )

    def payload(
        self, image: Image.Image, question: LabelQuestion, *, logprobs: bool
    ) -> dict[str, Any]:
        """The JSON body sent for one image."""
        url = png_data_url(image)
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": url}},
                        {"type": "text", "text": self.prompt(question)},
                    ],
                }
            ],
            "temperature": 0.0,
            "seed": _SEED,
            "max_tokens": self.max_tokens,
        }
        if logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = _TOP_LOGPROBS
        return body

    def label(self, images: Sequence[Image.Image], question: LabelQuestion) -> list[LabelResult]:
        """Answer ``question`` for each image, in order (one request per image).

        Raises
        ------
        fairframe.errors.EndpointError
            The server is unreachable, refuses, or answers without a message.
        """
        images = list(images)
        workers = min(self.max_batch_size, len(images))
        if workers <= 1:
            return [self._label_one(img, question) for img in images]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ff-openai-vision") as pool:
            return list(pool.map(lambda img: self._label_one(img, question), images))

    def _post(self, image: Image.Image, question: LabelQuestion) -> tuple[dict[str, Any], bool]:
        want = self._logprobs_available
        try:
            return self._client.post_json(_PATH, self.payload(image, question, logprobs=want)), want
        except EndpointStatusError as exc:
            if not want or exc.status_code not in (400, 422):
                raise
        data = self._client.post_json(_PATH, self.payload(image, question, logprobs=False))
        self._forget_logprobs()  # only once the plain request worked
        return data, False

    def _forget_logprobs(self) -> None:
        with self._flag_lock:
            self._logprobs_available = False

    def _label_one(self, image: Image.Image, question: LabelQuestion) -> LabelResult:
        url = self._shown_url(_PATH)
        data, asked = self._post(image, question)
        answer = chat_content(data, url, refusal_ok=True)
        outcomes = question.outcomes
        if asked:
            choice = data["choices"][0]
            logprobs = choice.get("logprobs") if isinstance(choice, dict) else None
            content = logprobs.get("content") if isinstance(logprobs, dict) else None
            if not content:
                if answer.strip():
                    self._forget_logprobs()  # the server ignores the option
            else:
                probs = logprob_distribution(content, outcomes)
                if probs is not None:
                    return LabelResult(probs, answer)
        pick = match_answer(answer, outcomes, self.abstain_threshold)
        return LabelResult.certain(outcomes, pick, answer)
