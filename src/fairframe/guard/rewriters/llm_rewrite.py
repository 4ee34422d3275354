"""LLM rewriter: ask a chat model to turn a risky text-to-image prompt into a benign one.

:class:`LLMRewriter` sends the prompt, and the categories the guard flagged, to an
OpenAI-compatible ``POST /chat/completions`` endpoint (OpenAI, vLLM, Ollama, llama.cpp, LM Studio)
through :class:`~fairframe.backends._openai_http.OpenAIClient`, at temperature 0, and expects one
JSON object::

    {"prompt": "a marble statue of a woman in a museum", "negative_prompt": "nudity, nsfw"}

The answer is **validated**: valid JSON object; ``prompt`` a non-empty string no longer than
``max_growth`` times the input (or ``min_budget`` characters, whichever is more);
``negative_prompt`` a string or null of at most 500 characters; and ``check(prompt)`` (for example
:func:`guard_check`, which re-runs the guard lexicon, or :func:`blocklist_check`) returns no
objection. An invalid answer gets **one repair request** that quotes the problem; a second invalid
answer raises :class:`~fairframe.errors.BackendError`. An unreachable or failing endpoint raises
:class:`~fairframe.errors.EndpointError` (a ``BackendError``) after the client's retries.

The edits of the result are a word-level diff of input and output (:mod:`difflib`), so spans
point at the words the model changed.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal

from fairframe.backends._openai_http import OpenAIBackend
from fairframe.config import enum_member
from fairframe.errors import BackendError, ConfigError
from fairframe.guard.decision import Action
from fairframe.guard.rewriters.base import Edit, RewriteContext, RewriteResult

if TYPE_CHECKING:
    from fairframe.guard.decision import Decision
    from fairframe.guard.lexicon import Lexicon
    from fairframe.guard.policy import Policy
    from fairframe.types import JSONValue

__all__ = [
    "DEFAULT_SYSTEM_PROMPT",
    "LLMRewriter",
    "PromptCheck",
    "blocklist_check",
    "guard_check",
]

#: ``check(rewritten_prompt) -> objection or None``: a reason the rewrite is unacceptable.
PromptCheck = Callable[[str], "str | None"]

#: The instructions sent as the system message.
DEFAULT_SYSTEM_PROMPT: Final = """\
You rewrite prompts for a text-to-image model so that the image they produce is safe for a \
general audience.
Keep everything harmless that the user asked for: the subject, setting, style, composition, \
lighting and mood. Replace or remove only what is unsafe: sexual content and nudity, graphic \
violence and gore, self-harm, hate symbols, illegal activity, real people's names and personal \
data. Never sexualise anyone, never depict minors in a risky way, and do not add new risky \
content. If nothing benign is left, describe a neutral scene in the same style.
Answer with only a JSON object, no other text:
{"prompt": "<the rewritten prompt>", \
"negative_prompt": "<comma-separated things to avoid, or an empty string>"}
The rewritten prompt is one line, in the language of the original, about as long as the original."""

_PATH = "chat/completions"
_MAX_NEGATIVE_CHARS = 500
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL | re.IGNORECASE)
_TOKENS = re.compile(r"\s+|\S+\s*")


def blocklist_check(terms: Iterable[str]) -> PromptCheck:
    """A check that objects when the rewrite contains any of ``terms`` (whole words).

    The rewrite is normalized first (:func:`~fairframe.guard.normalize.normalize`: leetspeak,
    spacing, homoglyphs), and case is ignored; a plural ``s``/``es`` also matches.
    """
    words = sorted({" ".join(re.findall(r"[^\W_]+", t.lower())) for t in terms} - {""},
                   key=len, reverse=True)
    if not words:
        return lambda text: None
    pattern = re.compile(
        r"(?<![^\W_])(?:" + "|".join(r"[\W_]+".join(map(re.escape, w.split())) for w in words)
        + r")(?:s|es)?(?![^\W_])"
    )

    def check(text: str) -> str | None:
        from fairframe.guard.normalize import normalize

        found = pattern.search(normalize(text).text.lower())
        return None if found is None else f"it contains the blocked term {found.group()!r}"

    return check


def guard_check(
    lexicon: Lexicon | None = None,
    policy: Policy | None = None,
    *,
    max_action: Action = Action.FLAG,
) -> PromptCheck:
    """A check that re-runs the guard lexicon and objects above ``max_action``.

    Parameters
    ----------
    lexicon:
        Default: :func:`~fairframe.guard.lexicon.default_lexicon`.
    policy:
        Default: :func:`~fairframe.guard.policy.default_policy`.
    max_action:
        The most severe action a rewrite may still get (``flag``: anything that would be
        rewritten, regenerated or blocked is refused).
    """

    def check(text: str) -> str | None:
        from fairframe.guard.lexicon import default_lexicon

        decision = (lexicon or default_lexicon()).check(text, policy)
        if decision.action <= max_action:
            return None
        labels = ", ".join(sorted({f.evidence.label for f in decision.findings})) or "?"
        return f"the guard still answers {decision.action.value} ({labels})"

    return check


def _action(value: Action | str) -> Action:
    return enum_member(Action, value, "action")


def _parse(reply: str) -> dict[str, Any] | str:
    """The JSON object of a reply, or a one-line reason it is not one."""
    text = reply.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        if start < 0 or end <= start:
            return "the answer is not a JSON object"
        try:
            data = json.loads(text[start : end + 1])
        except json.JSONDecodeError:
            return "the answer is not valid JSON"
    if not isinstance(data, dict):
        return "the answer is JSON but not an object"
    return data


def _diff_edits(before: str, after: str, rewriter: str) -> list[Edit]:
    a = [m.group() for m in _TOKENS.finditer(before)]
    b = [m.group() for m in _TOKENS.finditer(after)]
    starts = [0]
    for tok in a:
        starts.append(starts[-1] + len(tok))
    edits: list[Edit] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        span = (starts[i1], starts[i2])
        edits.append(
            Edit(span, before[span[0] : span[1]], "".join(b[j1:j2]), "llm rewrite", rewriter)
        )
    return edits


class LLMRewriter(OpenAIBackend):
    """Rewrite risky prompts with a chat model (rewriter ``"llm_rewrite"``).

    Parameters
    ----------
    base_url:
        The API root, usually ending in ``/v1``.
    model:
        The chat model id the server serves.
    api_key:
        The key; when ``None`` it is read from ``$api_key_env`` per request. Never recorded.
    api_key_env:
        Environment variable holding the key.
    system_prompt:
        The instructions (default :data:`DEFAULT_SYSTEM_PROMPT`); they must ask for the JSON
        object described in the module docstring.
    check:
        Objects to a rewrite (see :func:`guard_check`, :func:`blocklist_check`), ``"guard"``
        (``guard_check()`` with the shipped lexicon and default policy), or ``None``.
    max_growth:
        A rewrite may be at most ``max(max_growth * len(prompt), min_budget)`` characters.
    min_budget:
        See ``max_growth`` (short prompts may grow into a full sentence).
    when:
        Rewrite only when the decision's action is one of these (actions or their names;
        ``None``: always). Default:
        ``rewrite`` and ``regenerate``; other prompts come back unchanged without a request.
    json_mode:
        Send ``response_format={"type": "json_object"}``.
    max_tokens:
        Upper bound on the answer's length in tokens.
    timeout_s, max_retries, backoff_s, headers:
        Passed to :class:`~fairframe.backends._openai_http.OpenAIClient`.

    Raises
    ------
    ConfigError
        An invalid URL, an empty model, ``max_growth <= 0``, ``min_budget < 1``, an unknown
        action in ``when`` or an unknown ``check`` name.
    """

    name = "llm_rewrite"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        check: PromptCheck | Literal["guard"] | None = None,
        max_growth: float = 3.0,
        min_budget: int = 200,
        when: Collection[Action | str] | None = (Action.REWRITE, Action.REGENERATE),
        json_mode: bool = True,
        max_tokens: int = 512,
        timeout_s: float = 30.0,
        max_retries: int = 2,
        backoff_s: float = 0.5,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if not max_growth > 0:
            raise ConfigError(f"max_growth must be > 0, got {max_growth}")
        if min_budget < 1:
            raise ConfigError(f"min_budget must be >= 1, got {min_budget}")
        if max_tokens < 1:
            raise ConfigError(f"max_tokens must be >= 1, got {max_tokens}")
        self._init_backend(model, "chat model")
        self.system_prompt = system_prompt
        if check == "guard":
            check = guard_check()
        elif isinstance(check, str):
            raise ConfigError(f"check must be a callable, 'guard' or None, got {check!r}")
        self.check: PromptCheck | None = check
        self.max_growth = float(max_growth)
        self.min_budget = int(min_budget)
        self.when = None if when is None else frozenset(_action(a) for a in when)
        self.json_mode = bool(json_mode)
        self.max_tokens = int(max_tokens)
        self._connect(base_url, api_key, api_key_env, timeout_s, max_retries, backoff_s, headers)

    def identity(self) -> dict[str, JSONValue]:
        """What pins this rewriter's behaviour (never the key)."""
        return {
            "rewriter": self.name,
            "base_url": self._client.public_base_url,
            "model": self.model,
            "system_prompt_sha256": hashlib.sha256(self.system_prompt.encode()).hexdigest(),
            "temperature": 0.0,
            "max_growth": self.max_growth,
            "min_budget": self.min_budget,
            "json_mode": self.json_mode,
        }

    # ----------------------------------------------------------------------- requests

    def _user_message(self, prompt: str, decision: Decision) -> str:
        found = [f for f in decision.findings if f.score > 0]  # 0.0: counted for nothing
        flagged = sorted(
            {f.category for f in found} | {c for c, s in decision.categories.items() if s > 0}
        )
        evidence = sorted({f.evidence.text for f in found if f.evidence.text})
        payload = {"prompt": prompt, "flagged_categories": flagged, "flagged_text": evidence}
        return "Rewrite this text-to-image prompt:\n" + json.dumps(payload, ensure_ascii=False)

    def _ask(self, messages: list[dict[str, str]], seed: int) -> str:
        from fairframe.backends._openai_http import chat_content

        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": 0.0,
            "max_tokens": self.max_tokens,
            "seed": seed,
        }
        if self.json_mode:
            body["response_format"] = {"type": "json_object"}
        data = self._client.post_json(_PATH, body)
        return chat_content(data, self._client.public_base_url + "/" + _PATH, refusal_ok=True)

    def _validate(self, prompt: str, reply: str) -> tuple[str, str | None] | str:
        data = _parse(reply)
        if isinstance(data, str):
            return data
        new = data.get("prompt")
        if not isinstance(new, str) or not new.strip():
            return "'prompt' is missing or empty"
        new = " ".join(new.split())
        budget = max(int(self.max_growth * len(prompt)), self.min_budget)
        if len(new) > budget:
            return f"'prompt' is {len(new)} characters; at most {budget} are allowed"
        negative = data.get("negative_prompt")
        if negative is not None and not isinstance(negative, str):
            return "'negative_prompt' must be a string or null"
        if negative is not None and len(negative) > _MAX_NEGATIVE_CHARS:
            return f"'negative_prompt' is longer than {_MAX_NEGATIVE_CHARS} characters"
        if self.check is not None:
            objection = self.check(new)
            if objection:
                return f"the rewritten prompt is not acceptable: {objection}"
        return new, (negative.strip() or None) if negative is not None else None

    def rewrite(
        self, prompt: str, decision: Decision, *, context: RewriteContext | None = None
    ) -> RewriteResult:
        """Ask the model for a benign rewrite; validate, repair once, or raise.

        Raises
        ------
        fairframe.errors.EndpointError
            The endpoint is unreachable or fails (after the client's retries).
        fairframe.errors.BackendError
            Two answers in a row were not a valid rewrite.
        """
        if not prompt.strip() or (self.when is not None and decision.action not in self.when):
            return RewriteResult(prompt=prompt)
        seed = getattr(context, "seed", None)
        seed = 0 if seed is None else int(seed)
        messages = [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": self._user_message(prompt, decision)},
        ]
        reply = self._ask(messages, seed)
        outcome = self._validate(prompt, reply)
        if isinstance(outcome, str):
            messages += [
                {"role": "assistant", "content": reply},
                {
                    "role": "user",
                    "content": (
                        f"That answer cannot be used: {outcome}. Answer again with only the JSON "
                        'object {"prompt": "...", "negative_prompt": "..."}, following the rules.'
                    ),
                },
            ]
            reply = self._ask(messages, seed)
            outcome = self._validate(prompt, reply)
            if isinstance(outcome, str):
                raise BackendError(
                    f"llm_rewrite: {self._client.public_base_url} (model {self.model!r}) gave no "
                    f"usable rewrite in 2 attempts; last problem: {outcome}. Check the model and "
                    "system prompt, or raise max_growth"
                )
        new, negative = outcome
        edits = _diff_edits(prompt, new, self.name)
        if negative:
            edits.append(Edit(None, "", negative, "llm rewrite", self.name, "negative_prompt"))
        return RewriteResult(prompt=new, negative_prompt=negative, edits=tuple(edits))
