"""Shared types of the prompt rewriters: edits, results, the protocol, and chaining.

A *rewriter* turns a prompt the guard has checked into the prompt (and extra negative prompt) that
is sent to the generator. Any object with a ``name`` and a matching ``rewrite`` method is one
(:class:`Rewriter`); the built-ins are :class:`~fairframe.guard.rewriters.Anonymizer`,
:class:`~fairframe.guard.rewriters.DiversityAugmenter`,
:class:`~fairframe.guard.rewriters.ForcedNegatives` and
:class:`~fairframe.guard.rewriters.LLMRewriter`.

Contract
--------
* ``rewrite`` never raises on odd input (empty prompt, non-ASCII text, emoji); a prompt it has
  nothing to do with comes back unchanged with no edits.
* A rewriter that needs a backend (an LLM) raises :class:`~fairframe.errors.BackendError` (or its
  subclass :class:`~fairframe.errors.EndpointError`) when the backend fails; the caller decides
  whether to fail open or closed.
* Every change is an :class:`Edit`. Prompt edits carry a half-open ``span`` into the rewriter's
  **input** prompt, do not overlap, and applying them to the input gives the output prompt.
  Negative-prompt additions are edits with ``target="negative_prompt"`` and ``span=None``.

Chaining
--------
:func:`apply_rewriters` runs rewriters in order; each sees the previous output and the same
:class:`~fairframe.guard.decision.Decision` (the scores of the **original** prompt). The spans of
the combined result point into the **original** prompt:

* a span of a later rewriter is mapped back through the earlier edits when the text it covers was
  copied unchanged from the original (then ``original[start:end] == edit.before`` holds exactly);
* an insertion (``start == end``) maps to the original position right after the copied character
  before it (or right before the copied character after it);
* otherwise, when the edited text was itself written by an earlier rewriter, or the rewriter's
  edits do not reproduce its output, the span is ``None``.

Negative prompts of all rewriters are concatenated and de-duplicated
(:func:`merge_negative_prompts`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from fairframe.guard.decision import Decision

__all__ = [
    "Edit",
    "EditTarget",
    "RewriteContext",
    "RewriteResult",
    "Rewriter",
    "apply_rewriters",
    "merge_negative_prompts",
]

#: What an edit changes: the positive prompt, or the negative prompt (terms added).
EditTarget = Literal["prompt", "negative_prompt"]

Span = tuple[int, int]


@dataclass(frozen=True)
class Edit:
    """One change a rewriter made.

    Attributes
    ----------
    span:
        Half-open ``(start, end)`` character range of the **input** prompt that was replaced
        (``start == end`` for an insertion), or ``None`` when the edit has no place in the prompt
        (a negative-prompt addition) or cannot be mapped back to the original prompt after
        chaining (see :func:`apply_rewriters`).
    before:
        The replaced text (``""`` for an insertion or a negative-prompt addition).
    after:
        The new text (``""`` for a deletion); for a negative-prompt edit, the terms added.
    reason:
        Why, in a few words: the PII kind (``"email"``), the attributes inserted
        (``"gender=woman, skin_tone=dark"``), the category whose negatives were added.
    rewriter:
        :attr:`Rewriter.name` of the rewriter that made it.
    target:
        ``"prompt"`` or ``"negative_prompt"``.
    """

    span: Span | None
    before: str
    after: str
    reason: str
    rewriter: str
    target: EditTarget = "prompt"

    def __post_init__(self) -> None:
        if self.span is not None:
            start, end = self.span
            if not 0 <= start <= end:
                raise ValueError(f"edit span must satisfy 0 <= start <= end, got {self.span}")
            object.__setattr__(self, "span", (int(start), int(end)))
        if self.target not in ("prompt", "negative_prompt"):
            raise ValueError(
                f"edit target must be 'prompt' or 'negative_prompt', got {self.target!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``{span: [start, end] | null, before, after, reason, rewriter,
        target}``."""
        return {
            "span": None if self.span is None else [self.span[0], self.span[1]],
            "before": self.before,
            "after": self.after,
            "reason": self.reason,
            "rewriter": self.rewriter,
            "target": self.target,
        }


@dataclass(frozen=True)
class RewriteContext:
    """Request facts a rewriter may use; every field is optional.

    Attributes
    ----------
    api_key_id:
        Id of the API key the request came with (never the key itself).
    request_id:
        The request's id, for logs.
    seed:
        The generation seed; the LLM rewriter sends it as its request seed.
    """

    api_key_id: str | None = None
    request_id: str | None = None
    seed: int | None = None


@dataclass(frozen=True)
class RewriteResult:
    """What a rewriter (or a chain of them) produced.

    Attributes
    ----------
    prompt:
        The output prompt.
    negative_prompt:
        Extra negative-prompt terms to **add** to the request's own negative prompt
        (comma-separated), or ``None``.
    edits:
        Every change, in order (see :class:`Edit`).
    """

    prompt: str
    negative_prompt: str | None = None
    edits: tuple[Edit, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "edits", tuple(self.edits))
        if self.negative_prompt is not None and not self.negative_prompt.strip():
            object.__setattr__(self, "negative_prompt", None)

    @property
    def changed(self) -> bool:
        """``True`` when any edit was made (to the prompt or the negative prompt)."""
        return bool(self.edits) or self.negative_prompt is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``{prompt, negative_prompt, changed, edits: [...]}``."""
        return {
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "changed": self.changed,
            "edits": [e.to_dict() for e in self.edits],
        }


@runtime_checkable
class Rewriter(Protocol):
    """A prompt rewriter; implementations need not inherit anything.

    Attributes
    ----------
    name:
        Stable id used in :attr:`Edit.rewriter` (``"anonymize"``, ``"diversity"``,
        ``"negatives"``, ``"llm_rewrite"``).
    """

    name: str

    def rewrite(
        self, prompt: str, decision: Decision, *, context: RewriteContext | None = None
    ) -> RewriteResult:
        """Rewrite ``prompt`` given the guard's ``decision`` about it (see the module contract)."""
        ...


# --------------------------------------------------------------------------- negative prompts


def _split_terms(text: str) -> list[str]:
    """Split at commas and newlines outside brackets (``(a, b:1.2)`` stays one term)."""
    terms: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        if ch in "([{<":
            depth += 1
        elif ch in ")]}>" and depth:
            depth -= 1
        if depth == 0 and ch in ",\n":
            terms.append("".join(current))
            current = []
        else:
            current.append(ch)
    terms.append("".join(current))
    return [" ".join(t.split()) for t in terms if t.strip()]


def merge_negative_prompts(*parts: str | None) -> str | None:
    """Concatenate negative prompts, dropping repeated terms; ``None`` when nothing is left.

    Terms are split at commas and newlines (outside brackets), whitespace is collapsed, and a term
    equal to an earlier one ignoring case is dropped; the first spelling is kept.

    Examples
    --------
    >>> merge_negative_prompts("nude, blood", None, "Blood, gore")
    'nude, blood, gore'
    """
    seen: set[str] = set()
    out: list[str] = []
    for part in parts:
        if not part:
            continue
        for term in _split_terms(part):
            key = term.casefold()
            if key not in seen:
                seen.add(key)
                out.append(term)
    return ", ".join(out) if out else None


# --------------------------------------------------------------------------- chaining


def _consistent(text: str, out: str, edits: Sequence[Edit]) -> list[Edit] | None:
    """The prompt edits sorted by span when applying them to ``text`` gives ``out``, else None."""
    prompt_edits = [e for e in edits if e.target == "prompt"]
    if any(e.span is None for e in prompt_edits):
        return None
    ordered = sorted(prompt_edits, key=lambda e: e.span or (0, 0))
    pieces: list[str] = []
    pos = 0
    for e in ordered:
        assert e.span is not None  # filtered above
        start, end = e.span
        if start < pos or end > len(text) or text[start:end] != e.before:
            return None
        pieces.append(text[pos:start])
        pieces.append(e.after)
        pos = end
    pieces.append(text[pos:])
    return ordered if "".join(pieces) == out else None


def _map_span(span: Span, origin: Sequence[int | None], n_original: int) -> Span | None:
    start, end = span
    if end > len(origin):
        return None
    if start == end:
        if start > 0 and origin[start - 1] is not None:
            left = origin[start - 1]
            assert left is not None
            return (left + 1, left + 1)
        if start < len(origin) and origin[start] is not None:
            right = origin[start]
            assert right is not None
            return (right, right)
        if not origin and n_original == 0:
            return (0, 0)
        return None
    first = origin[start]
    if first is None:
        return None
    for k in range(start, end):
        if origin[k] != first + (k - start):
            return None
    return (first, first + (end - start))


def apply_rewriters(
    prompt: str,
    decision: Decision,
    rewriters: Iterable[Rewriter],
    context: RewriteContext | None = None,
) -> RewriteResult:
    """Run ``rewriters`` in order, each on the previous output; spans point into ``prompt``.

    Parameters
    ----------
    prompt:
        The original prompt.
    decision:
        The guard's decision about ``prompt``; every rewriter sees this same decision.
    rewriters:
        The rewriters, in the order they run.
    context:
        Passed to every rewriter.

    Returns
    -------
    RewriteResult
        The last output prompt, the de-duplicated concatenation of the negative prompts, and
        every edit with its span mapped back to ``prompt`` where possible, else ``None`` (see the
        module docstring for the exact rule).

    Raises
    ------
    fairframe.errors.BackendError
        Whatever a rewriter raises (an LLM endpoint failing) is not caught here.
    """
    current = prompt
    origin: list[int | None] = list(range(len(prompt)))
    edits: list[Edit] = []
    negatives: list[str | None] = []
    for rewriter in rewriters:
        result = rewriter.rewrite(current, decision, context=context)
        for e in result.edits:
            if e.target == "prompt" and e.span is not None:
                mapped = _map_span(e.span, origin, len(prompt))
                edits.append(Edit(mapped, e.before, e.after, e.reason, e.rewriter, e.target))
            else:
                edits.append(e)
        negatives.append(result.negative_prompt)
        if result.prompt != current or any(e.target == "prompt" for e in result.edits):
            ordered = _consistent(current, result.prompt, result.edits)
            if ordered is None:
                origin = [None] * len(result.prompt)
            else:
                new_origin: list[int | None] = []
                pos = 0
                for e in ordered:
                    assert e.span is not None
                    new_origin.extend(origin[pos : e.span[0]])
                    new_origin.extend([None] * len(e.after))
                    pos = e.span[1]
                new_origin.extend(origin[pos:])
                origin = new_origin
        current = result.prompt
    return RewriteResult(
        prompt=current, negative_prompt=merge_negative_prompts(*negatives), edits=tuple(edits)
    )


def sentence_start(text: str, pos: int, stops: str = ".!?") -> bool:
    """Whether only whitespace separates ``pos`` from the start of ``text``, a newline, or one of
    the ``stops`` characters (so a replacement there should be capitalised)."""
    i = pos - 1
    while i >= 0 and text[i].isspace():
        if text[i] == "\n":
            return True
        i -= 1
    return i < 0 or text[i] in stops
